"""Every primitive at the IEEE special values, on both engines, bit for bit.

The sweep iterates the reference engine's tables (``UNARY``, ``BINARY``, ``PRIMITIVES``), so
a primitive added there is swept too.  Each point is evaluated in every way the API offers:
the module function on ``Var``s, with a number operand on either side (a different code path
in the compiled engine: ``x + 3.0``, ``3.0 ** x``), the operator where there is one, the
node class on numbers, and the module function on plain numbers (a float out).  For every
point the value and every local derivative in ``.grad`` must be the same double in both
engines, sign of zero included; any nan equals any nan (``helpers.same_float``: IEEE leaves
the sign and payload of a nan unspecified).

No expected value comes from the engine under test.  The oracles are:
  * the other engine (values and local derivatives);
  * C's libm, reached through Python's ``math`` where it returns (it raises where C gives an
    inf or nan): the compiled engine calls the same libm, so these must match bit for bit;
  * NumPy's float64 ufuncs: bit for bit for the correctly rounded operations (+ - * /,
    sqrt, negation, absolute value, reciprocal) and atan2, and within a few ulps (same sign
    and class) for the other transcendentals and pow, where NumPy may use its own (SIMD)
    implementations or shortcuts: there C's libm, what the compiled engine calls, is the
    authority, checked exactly through ``math`` (and, for pow, the C99 sign table below);
  * the documented rules where NumPy differs on purpose (``maximum``/``minimum``: a tie gives
    the first operand and 1/2 to each side; ``relu``, ``sigmoid``: no NumPy function).
"""
import fractions
import math
import struct
import warnings

import numpy as np
import pytest

from autodiff import _primitives, reference
from helpers import same_float

inf, nan = math.inf, math.nan
MAX = 1.7976931348623157e308          # largest finite double
TRUE_MIN = 5e-324                     # smallest subnormal
MIN_NORMAL = 2.2250738585072014e-308  # smallest normal
MAX_SUBNORMAL = math.nextafter(MIN_NORMAL, 0.0)

# The points, each with its negative.  Near-integral exponents decide the odd/even and
# integer/non-integer cases of pow; 2**52 + 1 and 2**53 - 1 are the largest odd integers of
# their binades, 2**53 the first even-only one.
_MAGNITUDES = [
    0.0, TRUE_MIN, MAX_SUBNORMAL, MIN_NORMAL, 1e-300,
    math.nextafter(0.5, 0.0), 0.5,
    math.nextafter(1.0, 0.0), 1.0, math.nextafter(1.0, 2.0),
    2.0, math.nextafter(2.0, 3.0), math.nextafter(3.0, 2.0), 3.0,
    0.75, math.pi / 2, 20.0, 710.0,
    2.0 ** 52 + 1.0, 2.0 ** 53 - 1.0, 2.0 ** 53,
    1e300, MAX, inf,
]
VALUES = [s * m for m in _MAGNITUDES for s in (1.0, -1.0)] + [nan]
# For the unary functions also the edges of exp's and sinh's ranges, and tiny arguments.
_EDGES = [709.782712893384, math.nextafter(709.782712893384, inf), 710.4758600739439,
          745.1332191019411, math.nextafter(745.1332191019411, inf), 1e-8, 1e-17]
UNARY_VALUES = VALUES + [s * m for m in _EDGES for s in (1.0, -1.0)]

UNARY_NAMES = [p.name for p in _primitives.UNARY]     # the table of primitives
BINARY_NAMES = [p.name for p in _primitives.BINARY]
OPERATORS = {
    "add": lambda a, b: a + b, "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b, "divide": lambda a, b: a / b,
    "power": lambda a, b: a ** b,
}
UNARY_OPERATORS = {"negative": lambda x: -x, "absolute": abs}


def test_the_sweep_covers_every_primitive(compiled):
    assert list(reference.PRIMITIVES) == UNARY_NAMES + BINARY_NAMES
    assert list(compiled.PRIMITIVES) == list(reference.PRIMITIVES)


# ----------------------------------------------------------------------------------------
# Evaluation: everything a point yields, as a flat list of (label, float)
# ----------------------------------------------------------------------------------------


class _Results(list):
    """The floats a point yields, in order; with ``labelled``, also what each one is."""
    def __init__(self, labelled=False):
        super().__init__()
        self.labels = [] if labelled else None

    def add(self, label, value):
        self.append(value)
        if self.labels is not None:
            self.labels.append(label)

    def node(self, label, node, operands):
        """The node's value and local derivatives; its children must be the operands."""
        pairs = node.grad
        assert len(pairs) == len(operands) and all(
            c is o for (c, _), o in zip(pairs, operands)), f"{label}: children"
        self.add(label, node.value)
        for i, (_, local) in enumerate(pairs):
            self.add(f"{label} d/d{'ab'[i] if len(operands) == 2 else 'x'}", local)


def _unary_results(ad, out, name, x):
    f, cls = getattr(ad, name), ad.PRIMITIVES[name]
    v = ad.Var(x)
    out.node(f"{name}(Var)", f(v), [v])
    if name in UNARY_OPERATORS:
        out.node(f"{name} operator", UNARY_OPERATORS[name](v), [v])
    out.node(f"{cls.__name__}(number)", cls(x), [])
    number = f(x)
    assert type(number) is float, f"{name}({x!r}) gave {type(number).__name__}"
    out.add(f"{name}(number)", number)


def _binary_results(ad, out, name, a, b):
    f = getattr(ad, name)
    va, vb = ad.Var(a), ad.Var(b)
    out.node(f"{name}(Var, Var)", f(va, vb), [va, vb])
    out.node(f"{name}(Var, number)", f(va, b), [va])
    out.node(f"{name}(number, Var)", f(a, vb), [vb])
    op = OPERATORS.get(name)
    if op is not None:
        out.node(f"{name} operator (Var, Var)", op(va, vb), [va, vb])
        out.node(f"{name} operator (Var, number)", op(va, b), [va])
        out.node(f"{name} operator (number, Var)", op(a, vb), [vb])
    number = f(a, b)
    assert type(number) is float, f"{name}({a!r}, {b!r}) gave {type(number).__name__}"
    out.add(f"{name}(number, number)", number)


def _quietly(fn, *args):
    """fn(*args) with every warning an error: IEEE results come without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


def _compare(points, compiled, reference_, evaluate):
    """Evaluate every point on both engines; return the list of disagreements."""
    return _quietly(_compare_loudly, points, compiled, reference_, evaluate)


def _compare_loudly(points, compiled, reference_, evaluate):
    bad = []
    for point in points:
        evaluate(compiled, c := _Results(), *point)
        evaluate(reference_, r := _Results(), *point)
        if len(c) == len(r) and all(map(same_float, c, r)):
            continue
        evaluate(compiled, c := _Results(labelled=True), *point)
        evaluate(reference_, r := _Results(labelled=True), *point)
        assert c.labels == r.labels
        for label, cv, rv in zip(c.labels, c, r):
            if not same_float(cv, rv):
                bad.append(f"{label} at {point}: compiled {cv!r}, reference {rv!r}")
    return bad


@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_engines_agree(compiled, name):
    bad = _compare([(name, x) for x in UNARY_VALUES], compiled, reference, _unary_results)
    assert not bad, f"{len(bad)} disagreements:\n" + "\n".join(bad[:30])


@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_engines_agree(compiled, name):
    points = [(name, a, b) for a in VALUES for b in VALUES]
    bad = _compare(points, compiled, reference, _binary_results)
    assert not bad, f"{len(bad)} disagreements:\n" + "\n".join(bad[:30])


# ----------------------------------------------------------------------------------------
# Values against C (through math) and NumPy
# ----------------------------------------------------------------------------------------

# Correctly rounded in IEEE 754, so NumPy must give the very same double.
EXACT_NUMPY = {
    "negative": np.negative, "reciprocal": np.reciprocal, "sqrt": np.sqrt,
    "absolute": np.absolute, "add": np.add, "subtract": np.subtract,
    "multiply": np.multiply, "divide": np.divide,
    # NumPy's float64 arctan2 calls the C library's atan2.
    "arctan2": np.arctan2,
    # Elementary ufuncs (issue 10): exact operations (or C's exact fmod and NumPy's
    # npy_divmod on it), so NumPy's very double, signs of zero included.
    "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "rint": np.rint,
    "fabs": np.fabs, "square": np.square, "deg2rad": np.deg2rad, "rad2deg": np.rad2deg,
    "conjugate": np.conjugate, "copysign": np.copysign, "fmod": np.fmod,
    "remainder": np.remainder, "floor_divide": np.floor_divide,
}
# fmax and fmin on a tie of zeros: NumPy's scalar path gives the first operand, its SIMD
# loops on long arrays the second; the documented rule (the first) is checked instead.
DOCUMENTED_FMAX = {"fmax", "fmin"}
# Not correctly rounded: NumPy may use its own implementation (SIMD loops) and differ from
# the C library by an ulp.  The compiled engine calls C's libm, so libm is the authority,
# checked exactly through ``math`` below; NumPy only has to be within a few ulps.
CLOSE_NUMPY = {name: getattr(np, name) for name in (
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "exp",
    "expm1", "log", "log1p", "log2", "log10", "power",
    "cbrt", "exp2", "arcsinh", "arccosh", "arctanh", "hypot", "logaddexp", "logaddexp2")}
# NumPy's float64 power is not C's pow: it takes an exponent of 0.5 as sqrt and -1 as a
# division (glibc's pow(0.49999999999999994, -1.0) is 2.0, NumPy's 2.0000000000000004), and
# so breaks C99 Annex F at pow(-0.0, 0.5) (-0.0; C: +0.0) and pow(-inf, 0.5) (nan; C: +inf).
# C is the authority: there NumPy is not consulted (math.pow and POW_SIGNS check them).
NUMPY_IS_NOT_C = {("power", -0.0, 0.5), ("power", -inf, 0.5)}
# Python's math calls the same libm function where it returns a result (it raises where C
# gives inf or nan): then the engines must give exactly libm's double.
LIBM = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "arcsin": math.asin,
    "arccos": math.acos, "arctan": math.atan, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "exp": math.exp, "expm1": math.expm1, "log": math.log,
    "log1p": math.log1p, "log2": math.log2, "log10": math.log10, "sqrt": math.sqrt,
    "absolute": math.fabs, "power": math.pow, "arctan2": math.atan2,
    "cbrt": math.cbrt, "exp2": math.exp2, "arcsinh": math.asinh, "arccosh": math.acosh,
    "arctanh": math.atanh, "fabs": math.fabs, "copysign": math.copysign, "fmod": math.fmod,
}


def _ulps_apart(a, b):
    def ordered(x):
        i = struct.unpack("<q", struct.pack("<d", x))[0]
        return i if i >= 0 else -(i & 0x7FFFFFFFFFFFFFFF)
    return abs(ordered(a) - ordered(b))


def _documented_pick(a, b, larger):
    """maximum/minimum as documented: nan if either is nan, a tie gives a (the first)."""
    if a != a or b != b:
        return nan
    if a == b:
        return a
    return (a if a > b else b) if larger else (a if a < b else b)


def _oracles(name, args):
    """[(what, expected, exact)] for the value of primitive ``name`` at args."""
    out = []
    if name == "copysign" and any(x != x for x in args):
        # NumPy reads the nan's sign bit, which IEEE leaves unspecified (C and Python's
        # math make nans of different signs): both engines give nan, as documented.
        return [("documented", nan, True)]
    if (name in EXACT_NUMPY or name in CLOSE_NUMPY) and (name, *args) not in NUMPY_IS_NOT_C:
        with np.errstate(all="ignore"):
            fn = EXACT_NUMPY.get(name) or CLOSE_NUMPY[name]
            out.append(("numpy", float(fn(*[np.float64(a) for a in args])),
                        name in EXACT_NUMPY))
    if name in LIBM:
        try:
            out.append(("libm (math)", LIBM[name](*args), True))
        except (ValueError, OverflowError):
            pass                        # math raises where C returns inf or nan
    if name in ("maximum", "minimum"):
        out.append(("documented", _documented_pick(*args, name == "maximum"), True))
    if name in DOCUMENTED_FMAX:
        a, b = args
        if a != a or b != b:            # the other operand (nan if both are nan)
            expected = b if a != a else a
        else:
            expected = _documented_pick(a, b, name == "fmax")
        out.append(("documented", expected, True))
    if name == "relu":
        x = args[0]
        out.append(("documented", x if x != x else (0.0 if x <= 0.0 else x), True))
    return out


def _check_values(ad, name, points):
    return _quietly(_check_values_loudly, ad, name, points)


def _check_values_loudly(ad, name, points):
    bad = []
    f = getattr(ad, name)
    for args in points:
        got = f(*args)
        for what, expected, exact in _oracles(name, args):
            if same_float(got, expected):
                continue
            if not exact and got == got and expected == expected and \
                    math.copysign(1.0, got) == math.copysign(1.0, expected) and \
                    _ulps_apart(got, expected) <= 4:
                continue
            bad.append(f"{name}{args}: {ad.ENGINE} {got!r}, {what} {expected!r}")
    return bad


@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_values_against_c_and_numpy(ad, name):
    bad = _check_values(ad, name, [(x,) for x in UNARY_VALUES])
    assert not bad, "\n".join(bad[:30])


@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_values_against_c_and_numpy(ad, name):
    bad = _check_values(ad, name, [(a, b) for a in VALUES for b in VALUES])
    assert not bad, "\n".join(bad[:30])


# The signs C99 Annex F gives pow at a zero or infinite base: an odd integer exponent keeps
# the base's sign, anything else (even integers, non-integers, huge exponents) does not.
POW_SIGNS = [
    (-0.0, -0.9999999999999999, inf), (-0.0, -1.0, -inf), (-0.0, -3.0, -inf),
    (-0.0, -2.0, inf), (-0.0, -1.0000000000000002, inf), (-0.0, -(2.0 ** 53 - 1.0), -inf),
    (-0.0, -(2.0 ** 53), inf), (-0.0, -1e300, inf), (-0.0, -inf, inf),
    (-0.0, 1.0, -0.0), (-0.0, 3.0, -0.0), (-0.0, 2.0, 0.0), (-0.0, 0.5, 0.0),
    (-0.0, 0.9999999999999999, 0.0), (-0.0, 2.0 ** 53 - 1.0, -0.0),
    (-inf, -1.0, -0.0), (-inf, -2.0, 0.0), (-inf, -0.5, 0.0), (-inf, 3.0, -inf),
    (-inf, 2.9999999999999996, inf), (-1e300, 3.0, -inf), (-1e300, 2.0, inf),
    (-1e300, -3.0, -0.0), (-1e300, 1e300, inf), (-TRUE_MIN, -1.0, -inf),
    (-TRUE_MIN, -2.0, inf), (-MAX, 2.0 ** 53 - 1.0, -inf),
    (-1.0, inf, 1.0), (-1.0, -inf, 1.0), (1.0, nan, 1.0), (nan, 0.0, 1.0), (-0.0, 0.0, 1.0),
    (-0.0, 0.5, 0.0), (-inf, 0.5, inf), (-inf, -0.5, 0.0), (-2.0, 0.5, nan),
    (-2.0, 2.0 ** 53 + 2.0, inf), (-2.0, 1025.0, -inf), (-2.0, 1024.0, inf),
]


@pytest.mark.parametrize("a,b,expected", POW_SIGNS, ids=[f"{a!r}**{b!r}" for a, b, _ in
                                                         POW_SIGNS])
def test_power_signs_are_c99(ad, a, b, expected):
    for got in (_quietly(ad.power, a, b), _quietly(lambda: (ad.Var(a) ** b).value),
                _quietly(lambda: (a ** ad.Var(b)).value)):
        assert same_float(got, expected), (got, expected)


# ----------------------------------------------------------------------------------------
# What a number is: both engines read it as C's PyFloat_AsDouble does (and math does)
# ----------------------------------------------------------------------------------------


class _FloatWithOwnFloat(float):
    """A float subclass whose __float__ disagrees with the double it holds."""
    def __float__(self):
        return 42.0


class _IntWithOwnFloat(int):
    def __float__(self):
        return 42.0


NUMBERS = [
    ("float subclass with __float__", _FloatWithOwnFloat(1.0)),
    ("float subclass -0.0", _FloatWithOwnFloat(-0.0)),
    ("int subclass with __float__", _IntWithOwnFloat(1)),
    ("True", True), ("False", False),
    ("np.bool_", np.bool_(True)),
    ("np.float64", np.float64(-0.0)), ("np.float32", np.float32(0.1)),
    ("np.float16", np.float16(0.1)), ("np.longdouble", np.longdouble("0.1")),
    ("np.int64", np.int64(-3)), ("np.uint8", np.uint8(200)),
    ("int 2**70", 2 ** 70), ("Fraction", fractions.Fraction(1, 3)),
]
def _how_read(ad, x):
    """Every way a number enters an engine: {how: the double that comes out}, and the sines."""
    v = ad.Var(0.0)
    v.value = x
    class User(ad.Ops):             # only a user-defined node's .grad can be set
        pass
    node = User()
    node.grad = [(v, x)]
    read = {
        "Var(x)": ad.Var(x).value, "v.value = x": v.value, ".grad = [(v, x)]": node.grad[0][1],
        "multiply(x, 1.0)": ad.multiply(x, 1.0), "x * Var(1)": (x * ad.Var(1.0)).value,
        "Var(1) * x": (ad.Var(1.0) * x).value, "multiply(Var(1), x)":
        ad.multiply(ad.Var(1.0), x).value, "Mul(x, 1.0)": ad.Mul(x, 1.0).value,
        "to_vals": float(ad.to_vals(np.array([x], dtype=object))[0]),
    }
    sines = {"sin(x)": ad.sin(x), "Sin(x)": ad.Sin(x).value,
             "sin(Var(x))": ad.sin(ad.Var(x)).value}
    return read, sines


@pytest.mark.parametrize("what,x", NUMBERS, ids=[w for w, _ in NUMBERS])
def test_numbers_are_read_as_c_reads_them(compiled, what, x):
    # math.ldexp(x, 0) is x converted by PyFloat_AsDouble: a float subclass's own double
    # (its __float__ is not called, as by math.sin and C extensions), anything else through
    # __float__ / __index__.  NumPy differs for subclasses (np.float64(x) calls a float
    # subclass's __float__, and reads an int subclass's integer), so it is not the oracle.
    # Comparisons read numbers as arithmetic does: Var(v) <= x <= Var(v) for v the double.
    want, want_sin = math.ldexp(x, 0), math.sin(x)
    for ad in (compiled, reference):
        read, sines = _how_read(ad, x)
        bad = {k: g for k, g in read.items() if not same_float(g, want)}
        bad.update({k: g for k, g in sines.items() if not same_float(g, want_sin)})
        assert not bad, (ad.ENGINE, bad, want, want_sin)
        if want == want:
            assert ad.Var(want) <= x and ad.Var(want) >= x, (ad.ENGINE, "comparison")


def test_bool_arrays_are_numbers(compiled):
    """to_var accepts bool arrays (kind 'b') in both engines: True is 1.0, False 0.0."""
    for ad in (compiled, reference):
        xs = ad.to_var(np.array([True, False]))
        assert [x.value for x in xs] == [1.0, 0.0], ad.ENGINE
        assert ad.to_vals(np.array([True], dtype=object)).tolist() == [1.0], ad.ENGINE
