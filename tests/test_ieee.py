"""IEEE edge cases: inf and nan results, never an exception or a warning.

Every case runs on both engines with warnings turned into errors; values and gradients
must be bit-for-bit identical between the engines (a nan matches any nan). The values are
also checked against NumPy's float64 result of the same expression (same class: -inf,
+inf, nan, or a finite number close to it), and the main cases against their gradients
written out by hand.
"""
import math
import re
import struct
import warnings

import numpy as np
import pytest

inf, nan = math.inf, math.nan


def _unary(name, x):
    """A case: the unary primitive ``name`` at x, as a node of one Var."""
    def build(ad):
        v = ad.Var(x)
        return getattr(ad, name)(v), [v]
    return build


def _binary(fn, a, b):
    """A case: fn(ad, Var(a), Var(b))."""
    def build(ad):
        va, vb = ad.Var(a), ad.Var(b)
        return fn(ad, va, vb), [va, vb]
    return build


def _np(fn, *args):
    """NumPy's float64 result of fn on these arguments, with its warnings silenced."""
    def value():
        with np.errstate(all="ignore"):
            return float(fn(*[np.float64(a) for a in args]))
    return value


# (name, build(ad) -> (root, leaves), NumPy value or None, expected gradients or None)
CASES = [
    ("log(0)", _unary("log", 0.0), _np(np.log, 0.0), [inf]),
    ("log(-0.0)", _unary("log", -0.0), _np(np.log, -0.0), [-inf]),
    ("log(-1)", _unary("log", -1.0), _np(np.log, -1.0), [-1.0]),
    ("log(inf)", _unary("log", inf), _np(np.log, inf), [0.0]),
    ("log1p(-1)", _unary("log1p", -1.0), _np(np.log1p, -1.0), [inf]),
    ("log1p(-2)", _unary("log1p", -2.0), _np(np.log1p, -2.0), None),
    ("log2(0)", _unary("log2", 0.0), _np(np.log2, 0.0), [inf]),
    ("log10(0)", _unary("log10", 0.0), _np(np.log10, 0.0), [inf]),
    ("log2(-1)", _unary("log2", -1.0), _np(np.log2, -1.0), None),
    ("log10(-1)", _unary("log10", -1.0), _np(np.log10, -1.0), None),
    ("reciprocal(0)", _unary("reciprocal", 0.0), _np(np.reciprocal, 0.0), [-inf]),
    ("reciprocal(-0.0)", _unary("reciprocal", -0.0), _np(np.reciprocal, -0.0), [-inf]),
    # the local derivative is -0.0; the adjoint sums it onto 0.0, which gives +0.0
    ("reciprocal(inf)", _unary("reciprocal", inf), _np(np.reciprocal, inf), [0.0]),
    ("1 / Var(0)", lambda ad: (lambda v: (1 / v, [v]))(ad.Var(0.0)),
     _np(np.divide, 1.0, 0.0), [-inf]),
    ("Var(1) / 0", lambda ad: (lambda v: (v / 0, [v]))(ad.Var(1.0)),
     _np(np.divide, 1.0, 0.0), [inf]),
    ("Var(0) / 0", lambda ad: (lambda v: (v / 0, [v]))(ad.Var(0.0)),
     _np(np.divide, 0.0, 0.0), [inf]),
    ("Var(1) / Var(0)", _binary(lambda ad, a, b: a / b, 1.0, 0.0),
     _np(np.divide, 1.0, 0.0), [inf, -inf]),
    ("Var(-1) / Var(0)", _binary(lambda ad, a, b: a / b, -1.0, 0.0),
     _np(np.divide, -1.0, 0.0), [inf, inf]),
    ("Var(0) / Var(0)", _binary(lambda ad, a, b: a / b, 0.0, 0.0),
     _np(np.divide, 0.0, 0.0), None),
    ("sqrt(-1)", _unary("sqrt", -1.0), _np(np.sqrt, -1.0), [nan]),
    ("sqrt(0)", _unary("sqrt", 0.0), _np(np.sqrt, 0.0), [inf]),
    ("sqrt(inf)", _unary("sqrt", inf), _np(np.sqrt, inf), [0.0]),
    ("exp(1000)", _unary("exp", 1000.0), _np(np.exp, 1000.0), [inf]),
    ("exp(-1000)", _unary("exp", -1000.0), _np(np.exp, -1000.0), [0.0]),
    ("exp(inf)", _unary("exp", inf), _np(np.exp, inf), [inf]),
    ("exp(-inf)", _unary("exp", -inf), _np(np.exp, -inf), [0.0]),
    ("expm1(1000)", _unary("expm1", 1000.0), _np(np.expm1, 1000.0), [inf]),
    ("sinh(1000)", _unary("sinh", 1000.0), _np(np.sinh, 1000.0), [inf]),
    ("sinh(-1000)", _unary("sinh", -1000.0), _np(np.sinh, -1000.0), [inf]),
    ("cosh(1000)", _unary("cosh", 1000.0), _np(np.cosh, 1000.0), [inf]),
    ("cosh(-1000)", _unary("cosh", -1000.0), _np(np.cosh, -1000.0), [-inf]),
    ("tanh(inf)", _unary("tanh", inf), _np(np.tanh, inf), [0.0]),
    ("sigmoid(1000)", _unary("sigmoid", 1000.0), None, [0.0]),
    ("sigmoid(-1000)", _unary("sigmoid", -1000.0), None, [0.0]),
    ("sin(inf)", _unary("sin", inf), _np(np.sin, inf), [nan]),
    ("cos(inf)", _unary("cos", inf), _np(np.cos, inf), [nan]),
    ("tan(inf)", _unary("tan", inf), _np(np.tan, inf), None),
    ("arcsin(2)", _unary("arcsin", 2.0), _np(np.arcsin, 2.0), [nan]),
    ("arccos(2)", _unary("arccos", 2.0), _np(np.arccos, 2.0), [nan]),
    ("arcsin(1)", _unary("arcsin", 1.0), _np(np.arcsin, 1.0), [inf]),
    ("arccos(1)", _unary("arccos", 1.0), _np(np.arccos, 1.0), [-inf]),
    ("arctan(inf)", _unary("arctan", inf), _np(np.arctan, inf), [0.0]),
    ("relu(nan)", _unary("relu", nan), None, [nan]),
    ("absolute(nan)", _unary("absolute", nan), _np(np.absolute, nan), [nan]),
    ("absolute(-inf)", _unary("absolute", -inf), _np(np.absolute, -inf), [-1.0]),
    ("0 ** -1", _binary(lambda ad, a, b: a ** b, 0.0, -1.0), _np(np.power, 0.0, -1.0),
     [-inf, 0.0]),
    ("-0.0 ** -1", _binary(lambda ad, a, b: a ** b, -0.0, -1.0), _np(np.power, -0.0, -1.0),
     [-inf, 0.0]),
    ("0 ** -2", _binary(lambda ad, a, b: a ** b, 0.0, -2.0), _np(np.power, 0.0, -2.0),
     [-inf, 0.0]),
    ("Var(0) ** -1", lambda ad: (lambda v: (v ** -1, [v]))(ad.Var(0.0)),
     _np(np.power, 0.0, -1.0), [-inf]),
    ("0 ** 0", _binary(lambda ad, a, b: a ** b, 0.0, 0.0), _np(np.power, 0.0, 0.0), None),
    ("(-8) ** (1/3)", _binary(lambda ad, a, b: a ** b, -8.0, 1 / 3), _np(np.power, -8.0, 1 / 3),
     None),
    ("10 ** 400", _binary(lambda ad, a, b: a ** b, 10.0, 400.0), _np(np.power, 10.0, 400.0),
     [inf, inf]),
    ("(-10) ** 401", _binary(lambda ad, a, b: a ** b, -10.0, 401.0),
     _np(np.power, -10.0, 401.0), None),
    ("1e308 * 10", lambda ad: (lambda v: (v * 10.0, [v]))(ad.Var(1e308)),
     _np(np.multiply, 1e308, 10.0), [10.0]),
    ("1e308 + 1e308", _binary(lambda ad, a, b: a + b, 1e308, 1e308),
     _np(np.add, 1e308, 1e308), [1.0, 1.0]),
    ("inf - inf", _binary(lambda ad, a, b: a - b, inf, inf), _np(np.subtract, inf, inf),
     [1.0, -1.0]),
    ("inf * 0", _binary(lambda ad, a, b: a * b, inf, 0.0), _np(np.multiply, inf, 0.0),
     [0.0, inf]),
    ("maximum(nan, 1)", _binary(lambda ad, a, b: ad.maximum(a, b), nan, 1.0),
     _np(np.maximum, nan, 1.0), [nan, nan]),
    ("minimum(1, nan)", _binary(lambda ad, a, b: ad.minimum(a, b), 1.0, nan),
     _np(np.minimum, 1.0, nan), [nan, nan]),
    ("maximum(inf, inf)", _binary(lambda ad, a, b: ad.maximum(a, b), inf, inf),
     _np(np.maximum, inf, inf), [0.5, 0.5]),
    ("arctan2(0, 0)", _binary(lambda ad, a, b: ad.arctan2(a, b), 0.0, 0.0),
     _np(np.arctan2, 0.0, 0.0), [nan, nan]),
    ("arctan2(inf, inf)", _binary(lambda ad, a, b: ad.arctan2(a, b), inf, inf),
     _np(np.arctan2, inf, inf), None),
    ("nan everywhere", _binary(lambda ad, a, b: ad.sin(a) * ad.exp(b) + ad.log(a) / b,
                               nan, 1.0), None, [nan, nan]),
    # gradients that meet inf and 0 on the way back: 0 * inf is nan
    ("log(x) * 0", lambda ad: (lambda v: (ad.log(v) * 0.0, [v]))(ad.Var(0.0)), None, [nan]),
    ("exp(exp(x))", lambda ad: (lambda v: (ad.exp(ad.exp(v)), [v]))(ad.Var(10.0)),
     _np(lambda x: np.exp(np.exp(x)), 10.0), [inf]),
    ("sqrt(x * x) at 0", lambda ad: (lambda v: (ad.sqrt(v * v), [v]))(ad.Var(0.0)),
     _np(lambda x: np.sqrt(x * x), 0.0), [nan]),
]
IDS = [c[0] for c in CASES]


def _run(ad, build):
    """Value and gradients of a case, with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        root, leaves = build(ad)
        grads = ad.gradients(root, leaves)
        table = ad.get_gradients(root)
        return root.value, grads, [table[leaf] for leaf in leaves]


def _bits(x):
    """A float's identity for comparison: its bits, with every nan the same."""
    return "nan" if math.isnan(x) else struct.pack("<d", x)


def _same_class(got, expected):
    """Same IEEE class; finite numbers close and of the same sign."""
    if math.isnan(expected):
        return math.isnan(got)
    if math.isinf(expected):
        return got == expected
    return got == pytest.approx(expected, rel=1e-15, abs=0.0) and \
        math.copysign(1.0, got) == math.copysign(1.0, expected)


@pytest.mark.parametrize("name,build,numpy_value,grads", CASES, ids=IDS)
def test_ieee_values_and_gradients(ad, name, build, numpy_value, grads):
    value, from_gradients, from_table = _run(ad, build)
    assert [_bits(g) for g in from_gradients] == [_bits(g) for g in from_table]
    if numpy_value is not None:
        assert _same_class(value, numpy_value()), (value, numpy_value())
    if grads is not None:
        assert len(grads) == len(from_gradients)
        for got, expected in zip(from_gradients, grads):
            assert _same_class(got, expected), (from_gradients, grads)


@pytest.mark.parametrize("name,build,numpy_value,grads", CASES, ids=IDS)
def test_ieee_engines_bit_identical(compiled, reference, name, build, numpy_value, grads):
    c_value, c_grads, _ = _run(compiled, build)
    r_value, r_grads, _ = _run(reference, build)
    assert _bits(c_value) == _bits(r_value), (c_value, r_value)
    assert [_bits(g) for g in c_grads] == [_bits(g) for g in r_grads], (c_grads, r_grads)


# The module functions on numbers give floats with the same IEEE results (no exception).
NUMBER_CASES = [("log", (0.0,)), ("log", (-1.0,)), ("reciprocal", (0.0,)), ("sqrt", (-1.0,)),
                ("exp", (1000.0,)), ("power", (0.0, -1.0)), ("arcsin", (2.0,)),
                ("log1p", (-1.0,)), ("cosh", (1000.0,)), ("arctan2", (0.0, -0.0))]


@pytest.mark.parametrize("name,args", NUMBER_CASES, ids=[f"{n}{a}" for n, a in NUMBER_CASES])
def test_ieee_functions_on_numbers(compiled, reference, name, args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = getattr(compiled, name)(*args)
        r = getattr(reference, name)(*args)
    assert type(c) is float and type(r) is float
    assert _bits(c) == _bits(r)
    with np.errstate(all="ignore"):
        expected = float(getattr(np, name)(*[np.float64(a) for a in args]))
    assert _same_class(c, expected)



def test_ieee_through_numpy_object_arrays(compiled, reference):
    """np.log and friends on object arrays of nodes: same results in both engines.

    NumPy checks the floating-point status flags after its object loops and warns as it
    does for float arrays (see the next test), so its warnings are silenced here.
    """
    results = []
    for ad in (compiled, reference):
        with np.errstate(all="ignore"):
            xs = ad.to_var(np.array([0.0, -1.0, 1000.0, 0.0]))
            ys = np.log(xs[:2]).tolist() + [np.exp(xs[2]), 1.0 / xs[3]]
        total = ys[0] + ys[1] + ys[2] + ys[3]
        results.append((_bits(total.value), [_bits(y.value) for y in ys],
                        [_bits(g) for g in ad.gradients(total, list(xs))]))
    assert results[0] == results[1]
    _, values, grads = results[0]
    assert values == [_bits(-inf), "nan", _bits(inf), _bits(inf)]
    assert grads == [_bits(inf), _bits(-1.0), _bits(inf), _bits(-inf)]


# An expression on an object array of nodes, and the same on a float64 array.
ARRAY_CASES = {
    "log(0)": (lambda a: np.log(a), [0.0]),
    "log(-1)": (lambda a: np.log(a), [-1.0]),
    "sqrt(-1)": (lambda a: np.sqrt(a), [-1.0]),
    "exp(1000)": (lambda a: np.exp(a), [1000.0]),
    "1 / 0": (lambda a: 1.0 / a, [0.0]),
    "0 / 0": (lambda a: a / 0.0, [0.0]),
    "0 ** -1": (lambda a: a ** -1.0, [0.0]),
}


@pytest.mark.parametrize("case", ARRAY_CASES)
def test_object_arrays_warn_no_more_than_numpy_on_floats(ad, case):
    """Through NumPy's object loops, no warning that NumPy would not give on floats."""
    fn, values = ARRAY_CASES[case]

    def warned(make):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn(make(np.array(values)))
        # "divide by zero encountered in power": the kind, not the ufunc's name, which
        # depends on the NumPy version (1.x computes a ** -1 of floats as a reciprocal).
        return {re.sub(r" in \w+$", "", str(w.message)) for w in caught}

    extra = warned(ad.to_var) - warned(lambda a: a)
    assert not extra, f"{ad.ENGINE}: warnings beyond NumPy's own: {extra}"
