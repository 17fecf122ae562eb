# The primitives of the compiled engine: value and local-derivative rules, in C.
#
# The same table as the reference engine's UNARY and BINARY (autodiff/reference.py), in
# the same order and with the same expressions, so that both engines round alike.  Shared
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
    else:  # LOG_NDTR
        y = _log_ndtr(x);     d[0] = _log_ndtr_derivative(x)
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
    else:  # XLOG1PY
        r = libm.log1p(b)
        if a == 0.0 and b == b:
            y = 0.0;          da[0] = r;    db[0] = 0.0
        else:
            y = a * r;        da[0] = r;    db[0] = a / (1.0 + b)
    return y
