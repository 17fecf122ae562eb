"""Second-order local derivatives for the reference engine (the twin of ``_second.pxd``).

- ``UNARY_SECOND[name](x, y, d)``: d2y/dx2 at x, given the value y and first derivative d
  that the first-order rule (``reference.UNARY_RULES``) gave at x.
- ``power_const_second(x, c, y, d)``: d2/dx2 of x ** c for a number c; bit for bit the
  ``daa`` of ``BINARY_SECOND["power"]``.
- ``BINARY_SECOND[name](a, b, y, da, db)``: ``(daa, dab, dbb)``, given the value and first
  partials that ``reference.BINARY_RULES`` gave at (a, b).

Keyed by the primitive's NumPy name (``autodiff/_primitives.py``).  Each rule is written
with the same IEEE operations in the same order as its C case in ``_second.pxd``, so that
the engines agree bit for bit; ``/`` goes through ``_div`` (C's results for a zero
divisor, where Python raises) and ``pow``/``log`` through C99's results.

Conventions (the table's ``notes`` say them per row):
- piecewise-constant functions (sign, floor, ..., floor_divide, fmod, remainder,
  copysign, heaviside) and piecewise-linear ones (relu, absolute, fabs, maximum,
  minimum, fmax, fmin): 0 everywhere, at the jumps and kinks too, and for nan operands
  (a partial that the table declares zero is 0.0 whatever the operands);
- hypot at (0, 0), a cone point where the first-order rule gives 0 and 0: 0, 0, 0;
- power at a zero base, where the first-order rule takes d/db as 0: d2/da db and d2/db2
  are 0 too; a ** 0, a ** 1: d2/da2 = 0 everywhere, a ** 2: 2 everywhere;
- xlogy, xlog1py where a == 0 (b not nan), where d/db is taken as 0: d2/db2 = 0;
- everywhere else (poles, domain edges, overflow): what IEEE arithmetic of the formula
  gives, e.g. log'' = -inf at 0, sqrt'' = -inf at 0, arctanh'' = +-inf at +-1,
  polygamma(2) (digamma'') -inf at +0, +inf at -0 and nan at -1, -2, ...

Accuracy: a rule reuses y and d where they are accurate (exp'' = y, log'' = -d^2); where
the first-order d cancels (tanh' = 1 - y^2, sigmoid' = y (1 - y), expm1' = y + 1 in the
tails, arcsin' from 1 - x^2 near +-1) the second derivative is computed from a form that
does not (tests/test_second_order.py checks those tails against mpmath).  digamma'' is
``_special.tetragamma``, log_ndtr'' is ``_special.log_ndtr_second`` (a series below -20).
"""
import math

from autodiff import _special

inf, nan = math.inf, math.nan

_LN2 = 0.6931471805599453               # == math.log(2.0), LN2 in _rules.pxd


_div = _special.div        # a / b with IEEE results for a zero divisor


def _log(x):
    """C's log: -inf at +-0, nan below 0."""
    try:
        return math.log(x)
    except ValueError:
        return -inf if x == 0.0 else nan


def _exp(x):
    """C's exp: inf on overflow, where Python raises."""
    try:
        return math.exp(x)
    except OverflowError:
        return inf


def _cosh(x):
    """C's cosh: inf on overflow, where Python raises."""
    try:
        return math.cosh(x)
    except OverflowError:
        return inf


def _sqrt(x):
    """C's sqrt: nan below 0, where Python raises."""
    try:
        return math.sqrt(x)
    except ValueError:
        return nan


def _odd_integer(b):
    return math.isfinite(b) and abs(math.fmod(b, 2.0)) == 1.0


def _pow(a, b):
    """C's pow(a, b) (C99 Annex F), as ``reference._pow``."""
    try:
        return math.pow(a, b)
    except ValueError:
        if a == 0.0:
            return math.copysign(inf, a) if _odd_integer(b) else inf
        return nan
    except OverflowError:
        return -inf if (a < 0.0 and _odd_integer(b)) else inf


def power_const_second(x, c, y, d):
    """c (c - 1) x ** (c - 2); 2 for c == 2 and 0 for c == 0 or 1, at every x."""
    if c == 2.0:
        return 2.0
    if c == 0.0 or c == 1.0:
        return 0.0
    return c * (c - 1.0) * _pow(x, c - 2.0)


def _zero(x, y, d):
    return 0.0


def _arcsin_second(x, y, d):
    # x / (1 - x^2)^(3/2), from (1 - x)(1 + x): accurate near +-1, where 1 - x * x (the
    # first-order rule's) is not
    t = (1.0 - x) * (1.0 + x)
    return _div(x, t * _sqrt(t))


def _arccos_second(x, y, d):
    t = (1.0 - x) * (1.0 + x)
    return _div(-x, t * _sqrt(t))


def _tanh_second(x, y, d):
    # -2 tanh(x) / cosh(x)^2: accurate in the tails, where d = 1 - y * y cancels
    c = _cosh(x)
    return -2.0 * y / (c * c)


def _sigmoid_second(x, y, d):
    # sigma'' = -tanh(x/2) / (4 cosh(x/2)^2): accurate in the tails (where d = y (1 - y)
    # cancels) and near 0 (where 1 - 2y does); sigmoid and expit alike
    h = 0.5 * x
    c = _cosh(h)
    return -0.25 * math.tanh(h) / (c * c)


#   function       d2y/dx2 (x, y = f(x), d = f'(x))
UNARY_SECOND = {
    "negative":    _zero,
    "reciprocal":  lambda x, y, d: -2.0 * d * y,                  # 2 / x^3
    "sin":         lambda x, y, d: -y,
    "cos":         lambda x, y, d: -y,
    "tan":         lambda x, y, d: 2.0 * y * d,
    "arcsin":      _arcsin_second,
    "arccos":      _arccos_second,
    "arctan":      lambda x, y, d: -2.0 * x * d * d,
    "sinh":        lambda x, y, d: y,
    "cosh":        lambda x, y, d: y,
    "tanh":        _tanh_second,
    "exp":         lambda x, y, d: y,
    "expm1":       lambda x, y, d: _exp(x),                       # not d = y + 1 (cancels)
    "log":         lambda x, y, d: -(d * d),
    "log1p":       lambda x, y, d: -(d * d),
    "log2":        lambda x, y, d: -_div(d, x),
    "log10":       lambda x, y, d: -_div(d, x),
    "sqrt":        lambda x, y, d: _div(-0.5 * d, x),
    "sigmoid":     _sigmoid_second,
    "relu":        _zero,
    "absolute":    _zero,
    "erf":         lambda x, y, d: -2.0 * x * d,
    "erfc":        lambda x, y, d: -2.0 * x * d,
    "gammaln":     lambda x, y, d: _special.trigamma(x),
    "digamma":     lambda x, y, d: _special.tetragamma(x),
    "expit":       _sigmoid_second,
    "logit":       lambda x, y, d: (2.0 * x - 1.0) * d * d,
    "ndtr":        lambda x, y, d: -x * d,
    "log_ndtr":    lambda x, y, d: _special.log_ndtr_second(x, d),
    "sign":        _zero,
    "floor":       _zero,
    "ceil":        _zero,
    "trunc":       _zero,
    "rint":        _zero,
    "fabs":        _zero,
    "square":      lambda x, y, d: 2.0,
    "cbrt":        lambda x, y, d: _div(-2.0 * d, 3.0 * x),        # -(2/9) x^(-5/3)
    "exp2":        lambda x, y, d: d * _LN2,
    "arcsinh":     lambda x, y, d: -x * d * d * d,
    "arccosh":     lambda x, y, d: -x * d * d * d,
    "arctanh":     lambda x, y, d: 2.0 * x * d * d,
    "deg2rad":     _zero,
    "rad2deg":     _zero,
    "conjugate":   _zero,
}


def _power_second(a, b, y, da, db):
    daa = power_const_second(a, b, y, da)
    if a == 0.0:                # d/db is taken as 0 at a zero base: so are its derivatives
        return daa, 0.0, 0.0
    r = _log(a)
    return daa, _pow(a, b - 1.0) * (1.0 + b * r), db * r


def _arctan2_second(a, b, y, da, db):
    # da = b / r, db = -a / r: d2/da2 = -2ab / r^2 = 2 da db, d2/db2 = -d2/da2, and
    # d2/da db = (a^2 - b^2) / r^2 as ((a - b) / r) ((a + b) / r) (no cancellation).
    r = a * a + b * b
    return 2.0 * da * db, _div(a - b, r) * _div(a + b, r), -2.0 * da * db


def _xlogy_second(a, b, y, da, db):
    return 0.0, _div(1.0, b), (0.0 if a == 0.0 and b == b else -_div(db, b))


def _xlog1py_second(a, b, y, da, db):
    c = 1.0 + b
    return 0.0, _div(1.0, c), (0.0 if a == 0.0 and b == b else -_div(db, c))


def _hypot_second(a, b, y, da, db):
    if y == 0.0:                # the cone point: 0, as the first-order rule there
        return 0.0, 0.0, 0.0
    return _div(db * db, y), _div(-(da * db), y), _div(da * da, y)


def _logaddexp_second(a, b, y, da, db):
    w = da * db
    return w, -w, w


def _logaddexp2_second(a, b, y, da, db):
    w = da * db * _LN2
    return w, -w, w


def _zeros(a, b, y, da, db):
    return 0.0, 0.0, 0.0


#   function     (a, b, y, da, db) -> (d2y/da2, d2y/da db, d2y/db2)
BINARY_SECOND = {
    "add":       _zeros,
    "multiply":  lambda a, b, y, da, db: (0.0, 1.0, 0.0),
    "power":     _power_second,
    "maximum":   _zeros,
    "minimum":   _zeros,
    "arctan2":   _arctan2_second,
    "subtract":  _zeros,
    "divide":    lambda a, b, y, da, db: (0.0, -(da * da), _div(-2.0 * db, b)),
    "xlogy":     _xlogy_second,
    "xlog1py":   _xlog1py_second,
    "hypot":     _hypot_second,
    "logaddexp": _logaddexp_second,
    "logaddexp2": _logaddexp2_second,
    "fmax":      _zeros,
    "fmin":      _zeros,
    "copysign":  _zeros,
    "fmod":      _zeros,
    "remainder": _zeros,
    "floor_divide": _zeros,
    "heaviside": _zeros,
}
