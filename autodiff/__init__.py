"""autodiff: exact gradients of scalar Python code by reverse-mode automatic differentiation.

``import autodiff`` loads the compiled engine (``autodiff.ENGINE == "compiled"``).  The
pure-Python reference engine, ``autodiff.reference``, has the same API; it is loaded
instead when ``AUTODIFF_PURE=1`` is set, or, with one warning that gives the cause, when
either compiled extension (``_engine`` or ``_replay``) cannot be imported.  It is then
loaded whole: never compiled nodes with the reference tape, or the other way round.
"""
import importlib as _importlib
import os as _os
import warnings as _warnings

from autodiff import _frontend
from autodiff._version import __version__


def _compiled_api():
    """The compiled engine's public names; ImportError (the real one) if either fails."""
    # import_module reports the failing module's own error ("No module named ...", an
    # undefined symbol, ...), where `from autodiff import _engine` would turn a missing
    # submodule into "cannot import name ... (most likely due to a circular import)".
    engine = _importlib.import_module("autodiff._engine")
    replay = _importlib.import_module("autodiff._replay")
    public = {name: getattr(engine, name) for name in engine.__all__}
    public["record"] = replay.record
    public["Tape"] = replay.Tape
    frontend = _frontend.Frontend(_frontend.Engine("compiled", public, engine._reached))
    public.update(_frontend.bind(frontend))
    return engine, public


def _reference_api():
    from autodiff import reference
    return reference, {name: getattr(reference, name) for name in reference.__all__}


if _os.environ.get("AUTODIFF_PURE") == "1":
    _engine, _public = _reference_api()
else:
    try:
        _engine, _public = _compiled_api()
    except ImportError as _error:
        _warnings.warn(f"autodiff: the compiled engine could not be imported "
                       f"({type(_error).__name__}: {_error}); using the pure-Python "
                       "reference engine", RuntimeWarning, stacklevel=2)
        _engine, _public = _reference_api()
        del _error

globals().update(_public)
__all__ = sorted(_public)
del _public
