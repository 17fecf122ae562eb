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


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long tests, run with --runslow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
