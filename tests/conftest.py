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
