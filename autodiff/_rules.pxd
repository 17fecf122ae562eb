# The primitives of the compiled engine: value and local-derivative rules, in C.
#
# The same table as the reference engine's UNARY and BINARY (autodiff/reference.py), in
# the same order and with the same expressions, so that both engines round alike.  The
# second derivatives are in _second.pxd.  Shared
# by the graph engine (_engine.pyx) and the replay of recorded tapes.

from libc cimport math as libm
from libc.math cimport NAN

from autodiff._special cimport (_digamma, _trigamma, _ndtr, _normal_density, _log_ndtr,
                                _log_ndtr_derivative, TWO_OVER_SQRT_PI)


cdef inline double _sigmoid(double x) noexcept nogil:
    cdef double e
    if x >= 0.0:
        return 1.0 / (1.0 + libm.exp(-x))
    e = libm.exp(x)
    return e / (1.0 + e)


cdef inline double _step(double x) noexcept nogil:
    return 1.0 if x > 0.0 else (0.0 if x <= 0.0 else NAN)


cdef inline double _sign(double x) noexcept nogil:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x == 0.0 else NAN))


cdef inline double _pick(double a, double b, bint larger, double* da, double* db) noexcept nogil:
    if a == b:
        da[0] = 0.5; db[0] = 0.5
        return a
    if a != a or b != b:
        da[0] = NAN; db[0] = NAN
        return NAN
    if (a > b) == larger:
        da[0] = 1.0; db[0] = 0.0
        return a
    da[0] = 0.0; db[0] = 1.0
    return b


cdef inline double _power_const(double a, double c, double* da) noexcept nogil:
    """a ** c and d/da, the rule of x ** c for a number c (and the first half of POW's).

    c == 2 is a * a (libm's pow(a, 2.0) is the same double: checked on 5e7 random doubles
    with glibc, and by the tests against Python's x ** 2.0); the derivative of a ** 0 is 0
    everywhere, as in autograd and JAX, where c * pow(a, -1) would give nan at 0.
    """
    if c == 2.0:
        da[0] = 2.0 * a
        return a * a
    da[0] = 0.0 if c == 0.0 else c * libm.pow(a, c - 1.0)
    return libm.pow(a, c)


cdef inline double _logit(double x) noexcept nogil:
    # log(x / (1 - x)); near x = 1/2, where that loses bits, log1p(s) - log1p(-s) with
    # s = 2x - 1 (exact there), as SciPy does.
    cdef double s
    if 0.3 <= x <= 0.65:
        s = 2.0 * (x - 0.5)
        return libm.log1p(s) - libm.log1p(-s)
    return libm.log(x / (1.0 - x))


cdef extern from *:
    # log(2) and log(10), as the shortest decimals that round-trip to libm's log(2.0), log(10.0)
    const double LN2 "0.6931471805599453"
    const double LN10 "2.302585092994046"
    # NumPy's NPY_LOG2E (1 / log 2), pi / 180 and 180 / pi (npy_deg2rad, npy_rad2deg),
    # as the shortest round-trip decimals of those doubles
    const double LOG2E "1.4426950408889634"
    const double PI_180 "0.017453292519943295"
    const double _180_PI "57.29577951308232"


# --- Elementary ufuncs (issue 10): helpers of the rules below --------------------------

cdef inline double _pick_number(double a, double b, bint larger, double* da, double* db) noexcept nogil:
    """fmax (larger=True) or fmin: as _pick, but a nan operand is ignored (NumPy's fmax)."""
    if b != b:
        da[0] = 1.0 if a == a else NAN; db[0] = 0.0 if a == a else NAN
        return a
    if a != a:
        da[0] = 0.0; db[0] = 1.0
        return b
    return _pick(a, b, larger, da, db)


cdef inline double _divmod(double a, double b, double* mod) noexcept nogil:
    """NumPy's npy_divmod: the floor quotient (np.floor_divide), and Python's modulo (the
    sign of b, np.remainder) in mod.  Written as NumPy writes it, so the same doubles."""
    cdef double m = libm.fmod(a, b), div, floordiv
    if b == 0.0:
        mod[0] = m                  # nan
        return a / b
    div = (a - m) / b               # very nearly an integer multiple of b
    if m != 0.0:
        if (b < 0.0) != (m < 0.0):
            m += b
            div -= 1.0
    else:
        m = libm.copysign(0.0, b)
    if div != 0.0:                  # snap the quotient to the nearest integer
        floordiv = libm.floor(div)
        if div - floordiv > 0.5:
            floordiv += 1.0
    else:
        floordiv = libm.copysign(0.0, a / b)
    mod[0] = m
    return floordiv


cdef inline double _logaddexp(double a, double b, bint base2, double* da, double* db) noexcept nogil:
    """NumPy's npy_logaddexp (base2: npy_logaddexp2); the derivatives are the weights
    e^a / (e^a + e^b) and e^b / (e^a + e^b) (base 2 alike), 0.5 each on a tie."""
    cdef double t, e
    if a == b:                      # also infinities of one sign
        da[0] = 0.5; db[0] = 0.5
        return a + (1.0 if base2 else LN2)
    t = a - b
    if t > 0.0:
        e = libm.exp2(-t) if base2 else libm.exp(-t)
        da[0] = 1.0 / (1.0 + e); db[0] = e / (1.0 + e)
        return a + (LOG2E * libm.log1p(e) if base2 else libm.log1p(e))
    if t <= 0.0:
        e = libm.exp2(t) if base2 else libm.exp(t)
        da[0] = e / (1.0 + e); db[0] = 1.0 / (1.0 + e)
        return b + (LOG2E * libm.log1p(e) if base2 else libm.log1p(e))
    da[0] = NAN; db[0] = NAN
    return t                        # nan

# --------------------------------------------------------------------------------------
# The primitives: the same table as the reference engine's UNARY and BINARY, in order.
# x is the input's value, y the node's value, d the local derivative.
# --------------------------------------------------------------------------------------

include "_ops.pxi"         # the opcode enums, generated from the table (_primitives.py)


cdef inline double _unary_rule(int op, double x, double* d) noexcept nogil:
    cdef double y
    if op == NEG:
        y = -x;               d[0] = -1.0
    elif op == INV:
        y = 1.0 / x;          d[0] = -(y * y)
    elif op == SIN:
        y = libm.sin(x);           d[0] = libm.cos(x)
    elif op == COS:
        y = libm.cos(x);           d[0] = -libm.sin(x)
    elif op == TAN:
        y = libm.tan(x);           d[0] = 1.0 + y * y
    elif op == ARCSIN:
        y = libm.asin(x);          d[0] = 1.0 / libm.sqrt(1.0 - x * x)
    elif op == ARCCOS:
        y = libm.acos(x);          d[0] = -(1.0 / libm.sqrt(1.0 - x * x))
    elif op == ARCTAN:
        y = libm.atan(x);          d[0] = 1.0 / (1.0 + x * x)
    elif op == SINH:
        y = libm.sinh(x);          d[0] = libm.cosh(x)
    elif op == COSH:
        y = libm.cosh(x);          d[0] = libm.sinh(x)
    elif op == TANH:
        y = libm.tanh(x);          d[0] = 1.0 - y * y
    elif op == EXP:
        y = libm.exp(x);           d[0] = y
    elif op == EXPM1:
        y = libm.expm1(x);         d[0] = y + 1.0
    elif op == LOG:
        y = libm.log(x);           d[0] = 1.0 / x
    elif op == LOG1P:
        y = libm.log1p(x);         d[0] = 1.0 / (1.0 + x)
    elif op == LOG2:
        y = libm.log2(x);          d[0] = 1.0 / (x * LN2)
    elif op == LOG10:
        y = libm.log10(x);         d[0] = 1.0 / (x * LN10)
    elif op == SQRT:
        y = libm.sqrt(x);          d[0] = 0.5 / y
    elif op == SIGMOID:
        y = _sigmoid(x);      d[0] = y * (1.0 - y)
    elif op == RELU:
        y = 0.0 if x <= 0.0 else x
        d[0] = _step(x)
    elif op == ABS:
        y = libm.fabs(x);          d[0] = _sign(x)
    # Special functions (_special.pxd): erf, erfc, gammaln, digamma, expit, logit, ndtr,
    # log_ndtr.
    elif op == ERF:
        y = libm.erf(x);           d[0] = TWO_OVER_SQRT_PI * libm.exp(-x * x)
    elif op == ERFC:
        y = libm.erfc(x);          d[0] = -(TWO_OVER_SQRT_PI * libm.exp(-x * x))
    elif op == GAMMALN:
        y = libm.lgamma(x);        d[0] = _digamma(x)
    elif op == DIGAMMA:
        y = _digamma(x);      d[0] = _trigamma(x)
    elif op == EXPIT:
        y = 1.0 / (1.0 + libm.exp(-x))
        d[0] = y * (1.0 - y)
    elif op == LOGIT:
        y = _logit(x);        d[0] = 1.0 / (x * (1.0 - x))
    elif op == NDTR:
        y = _ndtr(x);         d[0] = _normal_density(x)
    elif op == LOG_NDTR:
        y = _log_ndtr(x);     d[0] = _log_ndtr_derivative(x)
    # Elementary ufuncs (issue 10).  Piecewise constant ones: derivative 0, at the jumps too.
    elif op == SIGN:
        y = _sign(x);              d[0] = 0.0
    elif op == FLOOR:
        y = libm.floor(x);         d[0] = 0.0
    elif op == CEIL:
        y = libm.ceil(x);          d[0] = 0.0
    elif op == TRUNC:
        y = libm.trunc(x);         d[0] = 0.0
    elif op == RINT:
        y = libm.rint(x);          d[0] = 0.0
    elif op == FABS:
        y = libm.fabs(x);          d[0] = _sign(x)
    elif op == SQUARE:
        y = x * x;                 d[0] = 2.0 * x
    elif op == CBRT:
        y = libm.cbrt(x);          d[0] = 1.0 / (3.0 * (y * y))
    elif op == EXP2:
        y = libm.exp2(x);          d[0] = y * LN2
    elif op == ARCSINH:
        y = libm.asinh(x);         d[0] = 1.0 / libm.sqrt(1.0 + x * x)
    elif op == ARCCOSH:
        y = libm.acosh(x);         d[0] = 1.0 / (libm.sqrt(x - 1.0) * libm.sqrt(x + 1.0))
    elif op == ARCTANH:
        y = libm.atanh(x)
        d[0] = 1.0 / ((1.0 - x) * (1.0 + x)) if y == y else NAN
    elif op == DEG2RAD:
        y = x * PI_180;            d[0] = PI_180
    elif op == RAD2DEG:
        y = x * _180_PI;           d[0] = _180_PI
    else:  # CONJUGATE: the identity on real numbers
        y = x;                     d[0] = 1.0
    return y


cdef inline double _binary_rule(int op, double a, double b, double* da, double* db) noexcept nogil:
    cdef double y, r
    if op == ADD:
        y = a + b;            da[0] = 1.0;  db[0] = 1.0
    elif op == MUL:
        y = a * b;            da[0] = b;    db[0] = a
    elif op == POW:
        y = _power_const(a, b, da)
        db[0] = 0.0 if a == 0.0 else y * libm.log(a)
    elif op == MAXIMUM:
        y = _pick(a, b, True, da, db)
    elif op == MINIMUM:
        y = _pick(a, b, False, da, db)
    elif op == ARCTAN2:
        r = a * a + b * b
        y = libm.atan2(a, b);      da[0] = b / r;  db[0] = -a / r
    elif op == SUB:
        y = a - b;            da[0] = 1.0;  db[0] = -1.0
    elif op == DIV:
        y = a / b;            da[0] = 1.0 / b;  db[0] = -(y / b)
    # Special functions: xlogy(a, b) = a log(b), xlog1py(a, b) = a log1p(b); 0 where a == 0
    # and b is not nan (as SciPy), and then d/db is 0 too (the function is 0 along a = 0).
    elif op == XLOGY:
        r = libm.log(b)
        if a == 0.0 and b == b:
            y = 0.0;          da[0] = r;    db[0] = 0.0
        else:
            y = a * r;        da[0] = r;    db[0] = a / b
    elif op == XLOG1PY:
        r = libm.log1p(b)
        if a == 0.0 and b == b:
            y = 0.0;          da[0] = r;    db[0] = 0.0
        else:
            y = a * r;        da[0] = r;    db[0] = a / (1.0 + b)
    # Elementary ufuncs (issue 10).
    elif op == HYPOT:
        y = libm.hypot(a, b)
        if y == 0.0:
            da[0] = 0.0; db[0] = 0.0
        else:
            da[0] = a / y; db[0] = b / y
    elif op == LOGADDEXP:
        y = _logaddexp(a, b, False, da, db)
    elif op == LOGADDEXP2:
        y = _logaddexp(a, b, True, da, db)
    elif op == FMAX:
        y = _pick_number(a, b, True, da, db)
    elif op == FMIN:
        y = _pick_number(a, b, False, da, db)
    elif op == COPYSIGN:
        if a != a or b != b:        # a nan's sign bit is unspecified: the engines cannot agree
            y = NAN;  da[0] = NAN;  db[0] = NAN
        else:
            y = libm.copysign(a, b)
            da[0] = libm.copysign(1.0, a) * libm.copysign(1.0, b);  db[0] = 0.0
    elif op == FMOD:
        y = libm.fmod(a, b)
        da[0] = 1.0;  db[0] = -libm.rint((a - y) / b)     # minus the truncated quotient
    elif op == REMAINDER:
        r = _divmod(a, b, &y)
        da[0] = 1.0;  db[0] = -r                          # minus the floor quotient
    elif op == FLOOR_DIVIDE:
        y = _divmod(a, b, &r);  da[0] = 0.0;  db[0] = 0.0
    else:  # HEAVISIDE: NumPy's npy_heaviside; d/da 0 (at the jump too), d/db 1 at a == 0
        if a != a:
            y = NAN
        elif a == 0.0:
            y = b
        else:
            y = 0.0 if a < 0.0 else 1.0
        da[0] = 0.0;  db[0] = 1.0 if a == 0.0 else 0.0
    return y
