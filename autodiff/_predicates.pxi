# Predicates (issue 10): isfinite, isnan, isinf, signbit of a node's value or of a number,
# a plain bool as NumPy's on a float64.  Not primitives (no node, no derivative), so not in
# the table; the reference engine has the same functions (reference.py, "Predicates").
# Included by _engine.pyx at module level after the module functions (_nodes.pxi) and
# after __all__ is made.

from libc.math cimport copysign as _c_copysign, INFINITY as _C_INF


cdef double _predicate_value(str name, object x) except? -1.0:
    if isinstance(x, Ops):
        return (<Ops>x).val
    if isinstance(x, float) or isinstance(x, numbers.Real) or isinstance(x, _npbool):
        return _real(x)                 # read as arithmetic reads numbers
    raise TypeError(f"{name}() takes a node or a real number, got {type(x).__name__}")


def _predicate_isfinite(x):
    """isfinite(x): True if the value of x (a node or a number) is neither inf nor nan."""
    if _sequence(x):                    # a bool array, as np.isfinite of float64
        return _ufunc.elementwise(_predicate_isfinite, (x,), Ops, bool)
    cdef double v = _predicate_value("isfinite", x)
    return v == v and v != _C_INF and v != -_C_INF


def _predicate_isnan(x):
    """isnan(x): True if the value of x (a node or a number) is nan."""
    if _sequence(x):                    # a bool array, as np.isnan of float64
        return _ufunc.elementwise(_predicate_isnan, (x,), Ops, bool)
    cdef double v = _predicate_value("isnan", x)
    return v != v


def _predicate_isinf(x):
    """isinf(x): True if the value of x (a node or a number) is inf or -inf."""
    if _sequence(x):                    # a bool array, as np.isinf of float64
        return _ufunc.elementwise(_predicate_isinf, (x,), Ops, bool)
    cdef double v = _predicate_value("isinf", x)
    return v == _C_INF or v == -_C_INF


def _predicate_signbit(x):
    """signbit(x): True if the sign bit of the value of x (a node or a number) is set (-0.0
    too).  A nan's sign bit is what made it, which IEEE leaves unspecified."""
    if _sequence(x):                    # a bool array, as np.signbit of float64
        return _ufunc.elementwise(_predicate_signbit, (x,), Ops, bool)
    cdef double v = _predicate_value("signbit", x)
    return _c_copysign(1.0, v) < 0.0


# Published under NumPy's names, which in this module are C's (libc.math's isfinite is
# cimported by _engine.pyx): the functions are defined as _predicate_<name> and bound here.
for _pred in (_predicate_isfinite, _predicate_isnan, _predicate_isinf, _predicate_signbit):
    _pred.__name__ = _pred.__qualname__ = _pred.__name__[len("_predicate_"):]
    globals()[_pred.__name__] = _pred
    __all__.append(_pred.__name__)
del _pred
