"""One suite for both engines: the ``ad`` fixture yields each engine's public API."""
import pytest

import autodiff
import autodiff.reference

ENGINES = ("compiled", "reference")


def engine_module(name):
    """The public API of the named engine; fails the test if the compiled one did not load."""
    if name == "reference":
        return autodiff.reference
    if autodiff.ENGINE != "compiled":
        pytest.fail("the compiled engine did not load (autodiff.ENGINE is "
                    f"{autodiff.ENGINE!r}): build and install it, and do not set AUTODIFF_PURE")
    return autodiff


@pytest.fixture(params=ENGINES)
def ad(request):
    """Each engine in turn: ``autodiff`` (compiled) and ``autodiff.reference``."""
    return engine_module(request.param)


@pytest.fixture
def compiled():
    return engine_module("compiled")


@pytest.fixture
def reference():
    return autodiff.reference


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (the 10^7-node chain, long fuzzing)")


def _benchmark_plugin_loaded(config):
    return config.pluginmanager.hasplugin("benchmark")     # the entry point's name


@pytest.hookimpl(tryfirst=True)     # before pytest-benchmark's own configure reads the option
def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long tests, run with --runslow")
    # The test command runs the benchmark files once, as tests: benchmarking is disabled
    # unless asked for (--benchmark-enable wins over this).  Set here, not as an addopts
    # entry, so that pytest still runs when pytest-benchmark is not installed.
    if _benchmark_plugin_loaded(config):
        config.option.benchmark_disable = True


def pytest_collection_modifyitems(config, items):
    runslow = config.getoption("--runslow")
    has_benchmark = _benchmark_plugin_loaded(config)
    slow = pytest.mark.skip(reason="slow: run with --runslow")
    no_plugin = pytest.mark.skip(reason="pytest-benchmark is not installed (or disabled)")
    for item in items:
        if "slow" in item.keywords and not runslow:
            item.add_marker(slow)
        if not has_benchmark and "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(no_plugin)
