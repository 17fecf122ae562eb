"""Second-order local derivatives for the reference engine (the twin of ``_second.pxd``).

INTERFACE SKELETON: only a few rows are written; every other primitive gives NaN.

- ``UNARY_SECOND[name](x, y, d)``: d2y/dx2 at x, given the value y and first derivative d
  that the first-order rule gave at x.
- ``power_const_second(x, c, y, d)``: d2/dx2 of x ** c for a number c; bit for bit the
  ``daa`` of ``BINARY_SECOND["power"]``.
- ``BINARY_SECOND[name](a, b, y, da, db)``: ``(daa, dab, dbb)``.
"""
import math

NAN = math.nan


def power_const_second(x, c, y, d):
    if c == 2.0:
        return 2.0
    if c == 0.0 or c == 1.0:
        return 0.0
    return c * (c - 1.0) * math.pow(x, c - 2.0)     # the skeleton ignores pow's edge cases


UNARY_SECOND = {
    "negative": lambda x, y, d: 0.0,
    "sin": lambda x, y, d: -y,
    "cos": lambda x, y, d: -y,
    "exp": lambda x, y, d: y,
    "log": lambda x, y, d: -(d * d),
}

BINARY_SECOND = {
    "add": lambda a, b, y, da, db: (0.0, 0.0, 0.0),
    "subtract": lambda a, b, y, da, db: (0.0, 0.0, 0.0),
    "multiply": lambda a, b, y, da, db: (0.0, 1.0, 0.0),
    "divide": lambda a, b, y, da, db: (0.0, -(da * da), -2.0 * db / b),
    "power": lambda a, b, y, da, db: (power_const_second(a, b, y, da), NAN, NAN),
}
