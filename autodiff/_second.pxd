# Second-order local derivatives, per opcode (the C twin of autodiff/_second.py).
#
# _unary_second(op, x, y, d): d2y/dx2 of UnaryOp op at x, given y and d, the value and
#     first derivative that _unary_rule returned at x (rows may reuse them: exp'' = y).
# _power_const_second(x, c, y, d): d2/dx2 of x ** c for a number c (the replay's POWC),
#     bit for bit the daa that _binary_second(POW, x, c, ...) gives.
# _binary_second(op, a, b, y, da, db, &daa, &dab, &dbb): the three second partials of
#     BinaryOp op at (a, b), given the value and first partials from _binary_rule.
#
# Each case is the same IEEE operations in the same order as its entry in _second.py (the
# specification; its docstring has the conventions at kinks, jumps and poles).  A partial
# that the table's `second` column declares zero is 0.0 whatever the operands; an opcode
# without a case here gives nan (never a silent zero).
from libc cimport math as libm
from autodiff._rules cimport *
from autodiff._special cimport _trigamma, _tetragamma, _log_ndtr_second


cdef inline double _unary_second(int op, double x, double y, double d) noexcept nogil:
    cdef double t, c, h
    if op == INV:
        return -2.0 * d * y
    elif op == SIN or op == COS:
        return -y
    elif op == TAN:
        return 2.0 * y * d
    elif op == ARCSIN:
        t = (1.0 - x) * (1.0 + x)
        return x / (t * libm.sqrt(t))
    elif op == ARCCOS:
        t = (1.0 - x) * (1.0 + x)
        return -x / (t * libm.sqrt(t))
    elif op == ARCTAN:
        return -2.0 * x * d * d
    elif op == SINH or op == COSH or op == EXP:
        return y
    elif op == TANH:
        c = libm.cosh(x)
        return -2.0 * y / (c * c)
    elif op == EXPM1:
        return libm.exp(x)
    elif op == LOG or op == LOG1P:
        return -(d * d)
    elif op == LOG2 or op == LOG10:
        return -(d / x)
    elif op == SQRT:
        return -0.5 * d / x
    elif op == SIGMOID or op == EXPIT:
        h = 0.5 * x
        c = libm.cosh(h)
        return -0.25 * libm.tanh(h) / (c * c)
    elif op == ERF or op == ERFC:
        return -2.0 * x * d
    elif op == GAMMALN:
        return _trigamma(x)
    elif op == DIGAMMA:
        return _tetragamma(x)
    elif op == LOGIT:
        return (2.0 * x - 1.0) * d * d
    elif op == NDTR:
        return -x * d
    elif op == LOG_NDTR:
        return _log_ndtr_second(x, d)
    elif op == SQUARE:
        return 2.0
    elif op == CBRT:
        return -2.0 * d / (3.0 * x)
    elif op == EXP2:
        return d * LN2
    elif op == ARCSINH or op == ARCCOSH:
        return -x * d * d * d
    elif op == ARCTANH:
        return 2.0 * x * d * d
    elif (op == NEG or op == RELU or op == ABS or op == SIGN or op == FLOOR or op == CEIL
          or op == TRUNC or op == RINT or op == FABS or op == DEG2RAD or op == RAD2DEG
          or op == CONJUGATE):
        return 0.0              # linear, piecewise linear or piecewise constant
    return libm.NAN             # an opcode without a case here: no silent zero


cdef inline double _power_const_second(double x, double c, double y, double d) noexcept nogil:
    if c == 2.0:
        return 2.0
    if c == 0.0 or c == 1.0:
        return 0.0
    return c * (c - 1.0) * libm.pow(x, c - 2.0)


cdef inline void _binary_second(int op, double a, double b, double y, double da, double db,
                                double* daa, double* dab, double* dbb) noexcept nogil:
    cdef double r, w
    daa[0] = 0.0; dab[0] = 0.0; dbb[0] = 0.0
    if op == MUL:
        dab[0] = 1.0
    elif op == POW:
        daa[0] = _power_const_second(a, b, y, da)
        if a != 0.0:            # at a zero base d/db is taken as 0: so are its derivatives
            r = libm.log(a)
            dab[0] = libm.pow(a, b - 1.0) * (1.0 + b * r)
            dbb[0] = db * r
    elif op == ARCTAN2:
        r = a * a + b * b
        daa[0] = 2.0 * da * db
        dab[0] = ((a - b) / r) * ((a + b) / r)
        dbb[0] = -2.0 * da * db
    elif op == DIV:
        dab[0] = -(da * da)
        dbb[0] = -2.0 * db / b
    elif op == XLOGY:
        dab[0] = 1.0 / b
        if not (a == 0.0 and b == b):
            dbb[0] = -(db / b)
    elif op == XLOG1PY:
        r = 1.0 + b
        dab[0] = 1.0 / r
        if not (a == 0.0 and b == b):
            dbb[0] = -(db / r)
    elif op == HYPOT:
        if y != 0.0:            # the cone point (0, 0): 0, as the first-order rule there
            daa[0] = db * db / y
            dab[0] = -(da * db) / y
            dbb[0] = da * da / y
    elif op == LOGADDEXP:
        w = da * db
        daa[0] = w; dab[0] = -w; dbb[0] = w
    elif op == LOGADDEXP2:
        w = da * db * LN2
        daa[0] = w; dab[0] = -w; dbb[0] = w
    elif (op == ADD or op == SUB or op == MAXIMUM or op == MINIMUM or op == FMAX or op == FMIN
          or op == COPYSIGN or op == FMOD or op == REMAINDER or op == FLOOR_DIVIDE
          or op == HEAVISIDE):
        pass                    # linear, piecewise linear or piecewise constant: 0, 0, 0
    else:                       # an opcode without a case here: no silent zero
        daa[0] = libm.NAN; dab[0] = libm.NAN; dbb[0] = libm.NAN
