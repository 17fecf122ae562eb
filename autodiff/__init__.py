"""autodiff: exact gradients of scalar Python code by reverse-mode automatic differentiation.

``import autodiff`` loads the compiled engine (``autodiff.ENGINE == "compiled"``).  The
pure-Python reference engine, ``autodiff.reference``, has the same API; it is loaded
instead when ``AUTODIFF_PURE=1`` is set, or, with a warning, when the compiled extension
cannot be imported.
"""
import os as _os
import warnings as _warnings

from autodiff import _frontend

if _os.environ.get("AUTODIFF_PURE") == "1":
    from autodiff import reference as _engine
    _public = {name: getattr(_engine, name) for name in _engine.__all__}
else:
    try:
        from autodiff import _engine
    except ImportError as _error:
        _warnings.warn(f"autodiff: the compiled engine could not be imported ({_error}); "
                       "using the pure-Python reference engine", RuntimeWarning, stacklevel=2)
        from autodiff import reference as _engine
        _public = {name: getattr(_engine, name) for name in _engine.__all__}
    else:
        _public = {name: getattr(_engine, name) for name in _engine.__all__}
        _public.update(_frontend.build(_public))
        from autodiff._replay import record as _record
        _public["record"] = _record

globals().update(_public)
__all__ = sorted(_public)
del _public
