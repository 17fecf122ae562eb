# Second-order local derivatives, per opcode (the C twin of autodiff/_second.py).
#
# INTERFACE SKELETON: only a few rows are written; every other op gives NaN, so nothing
# built on it can pass a derivative test until the full table lands.
#
# _unary_second(op, x, y, d): d2y/dx2 of UnaryOp op at x, given y and d, the value and
#     first derivative that _unary_rule returned at x (rows may reuse them: exp'' = y).
# _power_const_second(x, c, y, d): d2/dx2 of x ** c for a number c (the replay's POWC),
#     bit for bit the daa that _binary_second(POW, x, c, ...) gives.
# _binary_second(op, a, b, y, da, db, &daa, &dab, &dbb): the three second partials of
#     BinaryOp op at (a, b), given the value and first partials from _binary_rule.
from libc cimport math as libm
from autodiff._rules cimport *


cdef inline double _unary_second(int op, double x, double y, double d) noexcept nogil:
    if op == NEG:
        return 0.0
    elif op == SIN:
        return -y
    elif op == COS:
        return -y
    elif op == EXP:
        return y
    elif op == LOG:
        return -(d * d)
    return libm.NAN


cdef inline double _power_const_second(double x, double c, double y, double d) noexcept nogil:
    if c == 2.0:
        return 2.0
    if c == 0.0 or c == 1.0:
        return 0.0
    return c * (c - 1.0) * libm.pow(x, c - 2.0)


cdef inline void _binary_second(int op, double a, double b, double y, double da, double db,
                                double* daa, double* dab, double* dbb) noexcept nogil:
    if op == ADD or op == SUB:
        daa[0] = 0.0; dab[0] = 0.0; dbb[0] = 0.0
    elif op == MUL:
        daa[0] = 0.0; dab[0] = 1.0; dbb[0] = 0.0
    elif op == DIV:
        # y = a / b: da = 1/b, db = -y/b
        daa[0] = 0.0; dab[0] = -(da * da); dbb[0] = -2.0 * db / b
    elif op == POW:
        daa[0] = _power_const_second(a, b, y, da); dab[0] = libm.NAN; dbb[0] = libm.NAN
    else:
        daa[0] = libm.NAN; dab[0] = libm.NAN; dbb[0] = libm.NAN
