"""Test support only (not part of the API): the compiled engine's local-derivative rules,
by primitive name, so that tests compare them with the reference engine's rule by rule.

    unary(name, x) -> (y, d, d2)
    binary(name, a, b) -> (y, da, db, daa, dab, dbb)
    power_const(x, c) -> (y, d, d2)        # the replay's x ** c for a number c

y and the first derivatives are _rules.pxd's (_unary_rule, _binary_rule, _power_const),
the second derivatives _second.pxd's, given those.
"""
from autodiff._rules cimport *
from autodiff._second cimport _unary_second, _binary_second, _power_const_second
from autodiff import _primitives

# The opcodes are the rows' positions in their group (_ops.pxi is generated so).
_UNARY = {p.name: i for i, p in enumerate(_primitives.UNARY)}
_BINARY = {p.name: i for i, p in enumerate(_primitives.BINARY)}
assert (_UNARY["negative"], _UNARY["conjugate"], _BINARY["add"], _BINARY["heaviside"]) \
    == (NEG, CONJUGATE, ADD, HEAVISIDE), "the opcode enums are not in table order"


def unary(str name, double x):
    cdef int op = _UNARY[name]
    cdef double d = 0.0
    cdef double y = _unary_rule(op, x, &d)
    return y, d, _unary_second(op, x, y, d)


def binary(str name, double a, double b):
    cdef int op = _BINARY[name]
    cdef double da = 0.0, db = 0.0, daa = 0.0, dab = 0.0, dbb = 0.0
    cdef double y = _binary_rule(op, a, b, &da, &db)
    _binary_second(op, a, b, y, da, db, &daa, &dab, &dbb)
    return y, da, db, daa, dab, dbb


def power_const(double x, double c):
    cdef double d = 0.0
    cdef double y = _power_const(x, c, &d)
    return y, d, _power_const_second(x, c, y, d)
