"""Every primitive of ``PRIMITIVES``, the engine's one table: derivatives, forms, parity.

The tests iterate the table.  Each primitive needs one entry in DOMAINS: its smooth points,
an independent float implementation of its value and PyTorch's name for it (or None).
"""
import itertools
import math

import numpy as np
import pytest

import autodiff
from autodiff import reference
from typing import Callable, NamedTuple, Optional

from helpers import (arity, assert_same_floats, central_difference, same_float, step_for)

class Case(NamedTuple):
    """The one test entry of a primitive."""
    points: list                # operand tuples where it is smooth (away from poles, kinks)
    value: Callable             # an independent float implementation (math, NumPy, definition)
    torch: Optional[str]        # PyTorch's name (optional comparison); None if it has none


def _np(ufunc):
    """NumPy's float64 ufunc as a float function (the value oracle of the NumPy names)."""
    return lambda *args: float(ufunc(*[np.float64(a) for a in args]))


_U = [(-2.0,), (0.3,), (4.0,)]              # some smooth points of an entire function
_B = [(1.5, -2.0), (0.3, 0.3), (-4.0, 7.5)]

# One entry per primitive; a primitive without one fails test_every_primitive_has_a_case,
# so none can land untested.
DOMAINS = {
    "negative": Case([(-2.3,), (0.7,), (5.0,)], lambda x: -x, "neg"),
    "reciprocal": Case([(-2.3,), (0.7,), (5.0,)], lambda x: 1.0 / x, "reciprocal"),
    "sin": Case(_U, math.sin, "sin"),
    "cos": Case(_U, math.cos, "cos"),
    "tan": Case([(-1.2,), (0.3,), (1.0,)], math.tan, "tan"),
    "arcsin": Case([(-0.9,), (0.2,), (0.6,)], math.asin, "asin"),
    "arccos": Case([(-0.9,), (0.2,), (0.6,)], math.acos, "acos"),
    "arctan": Case([(-3.0,), (0.4,), (2.0,)], math.atan, "atan"),
    "sinh": Case([(-2.0,), (0.5,), (3.0,)], math.sinh, "sinh"),
    "cosh": Case([(-2.0,), (0.5,), (3.0,)], math.cosh, "cosh"),
    "tanh": Case([(-2.0,), (0.5,), (1.5,)], math.tanh, "tanh"),
    "exp": Case([(-2.0,), (0.1,), (3.0,)], math.exp, "exp"),
    "expm1": Case([(-2.0,), (1e-3,), (3.0,)], math.expm1, "expm1"),
    "log": Case([(0.3,), (1.7,), (20.0,)], math.log, "log"),
    "log1p": Case([(-0.5,), (0.2,), (4.0,)], math.log1p, "log1p"),
    "log2": Case([(0.3,), (1.7,), (20.0,)], math.log2, "log2"),
    "log10": Case([(0.3,), (1.7,), (20.0,)], math.log10, "log10"),
    "sqrt": Case([(0.3,), (2.0,), (9.5,)], math.sqrt, "sqrt"),
    "sigmoid": Case([(-3.0,), (0.1,), (2.5,)], lambda x: 1.0 / (1.0 + math.exp(-x)), "sigmoid"),
    "relu": Case([(-1.5,), (0.3,), (2.0,)], lambda x: max(x, 0.0), "relu"),
    "absolute": Case([(-1.5,), (0.3,), (2.0,)], abs, "abs"),
    "add": Case(_B, lambda a, b: a + b, "add"),
    "multiply": Case(_B, lambda a, b: a * b, "mul"),
    "power": Case([(1.5, 2.3), (0.7, -1.2), (2.0, 3.0), (3.1, 0.5)], math.pow, "pow"),
    "maximum": Case([(1.0, 2.0), (3.0, -1.0), (-0.5, -0.25)], max, "maximum"),
    "minimum": Case([(1.0, 2.0), (3.0, -1.0), (-0.5, -0.25)], min, "minimum"),
    "arctan2": Case([(1.0, 2.0), (-0.5, 0.7), (2.0, -1.0)], math.atan2, "atan2"),
    "subtract": Case(_B, lambda a, b: a - b, "sub"),
    "divide": Case([(1.5, -2.0), (0.3, 0.7), (-4.0, 7.5)], lambda a, b: a / b, "div"),
    # Elementary ufuncs (issue 10): values against NumPy's float64 ufunc.
    "sign": Case([(-2.5,), (0.3,), (7.0,)], _np(np.sign), "sign"),
    "floor": Case([(-2.5,), (0.3,), (7.6,)], _np(np.floor), "floor"),
    "ceil": Case([(-2.5,), (0.3,), (7.6,)], _np(np.ceil), "ceil"),
    "trunc": Case([(-2.5,), (0.3,), (7.6,)], _np(np.trunc), "trunc"),
    "rint": Case([(-2.3,), (0.3,), (7.6,)], _np(np.rint), "round"),
    "fabs": Case([(-1.5,), (0.3,), (2.0,)], _np(np.fabs), "abs"),
    "square": Case(_U, _np(np.square), "square"),
    "cbrt": Case([(-8.5,), (0.3,), (27.0,)], _np(np.cbrt), None),
    "exp2": Case([(-2.0,), (0.1,), (3.5,)], _np(np.exp2), "exp2"),
    "arcsinh": Case([(-3.0,), (0.4,), (20.0,)], _np(np.arcsinh), "asinh"),
    "arccosh": Case([(1.2,), (2.0,), (30.0,)], _np(np.arccosh), "acosh"),
    "arctanh": Case([(-0.9,), (0.2,), (0.6,)], _np(np.arctanh), "atanh"),
    "deg2rad": Case([(-90.0,), (30.0,), (400.0,)], _np(np.deg2rad), "deg2rad"),
    "rad2deg": Case([(-1.0,), (0.3,), (7.0,)], _np(np.rad2deg), "rad2deg"),
    "conjugate": Case(_U, _np(np.conjugate), "conj"),
    "hypot": Case([(3.0, 4.0), (-0.5, 0.7), (2.0, -1e-3)], _np(np.hypot), "hypot"),
    "logaddexp": Case([(1.0, 2.0), (-0.5, 0.7), (30.0, -5.0)], _np(np.logaddexp),
                      "logaddexp"),
    "logaddexp2": Case([(1.0, 2.0), (-0.5, 0.7), (30.0, -5.0)], _np(np.logaddexp2),
                       "logaddexp2"),
    "fmax": Case([(1.0, 2.0), (3.0, -1.0), (-0.5, -0.25)], _np(np.fmax), "fmax"),
    "fmin": Case([(1.0, 2.0), (3.0, -1.0), (-0.5, -0.25)], _np(np.fmin), "fmin"),
    "copysign": Case([(1.5, -2.0), (-0.3, 0.7), (-4.0, -7.5)], _np(np.copysign), "copysign"),
    "fmod": Case([(5.3, 2.0), (-5.3, 2.0), (5.3, -2.0), (1.0, 0.3)], _np(np.fmod), "fmod"),
    "remainder": Case([(5.3, 2.0), (-5.3, 2.0), (5.3, -2.0), (1.0, 0.3)], _np(np.remainder),
                      "remainder"),
    # torch has no derivative for floor_divide (its backward raises): no torch oracle.
    "floor_divide": Case([(5.3, 2.0), (-5.3, 2.0), (5.3, -2.0), (1.0, 0.3)],
                         _np(np.floor_divide), None),
    # d/da is 0 at the jump too (a convention: off these points the step is flat)
    "heaviside": Case([(-1.5, 0.5), (2.0, 0.3), (0.7, -4.0)], _np(np.heaviside), None),
    # Special functions (tests/test_special_functions.py has their edges and poles): Python's
    # math (lgamma is CPython's own algorithm, not libm's), the definitions, and the closed
    # form of digamma at half-integers.
    "erf": Case([(-1.5,), (0.3,), (2.0,)], math.erf, "erf"),
    "erfc": Case([(-1.5,), (0.3,), (2.0,)], math.erfc, "erfc"),
    "gammaln": Case([(0.5,), (3.7,), (-0.3,), (25.0,)], math.lgamma, "lgamma"),
    "digamma": Case([(0.5,), (4.5,), (-1.5,), (12.5,)], lambda x: _digamma_half_integer(x),
                    "digamma"),
    "expit": Case([(-3.0,), (0.1,), (2.5,)], lambda x: 1.0 / (1.0 + math.exp(-x)), "sigmoid"),
    "logit": Case([(0.1,), (0.4,), (0.8,)], lambda x: math.log(x / (1.0 - x)), "logit"),
    "ndtr": Case([(-3.0,), (0.2,), (1.5,)], lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0)),
                 "special.ndtr"),
    "log_ndtr": Case([(-30.0,), (-3.0,), (0.2,), (4.0,)],
                     lambda x: math.log(0.5 * math.erfc(-x / math.sqrt(2.0))),
                     "special.log_ndtr"),
    "xlogy": Case([(1.5, 2.0), (-0.7, 0.3), (2.0, 7.5)], lambda a, b: a * math.log(b), "xlogy"),
    "xlog1py": Case([(1.5, 2.0), (-0.7, -0.3), (2.0, 7.5)], lambda a, b: a * math.log1p(b),
                    "special.xlog1py"),
}


def _digamma_half_integer(x):
    """digamma(n + 1/2) = -euler - 2 log 2 + sum_{k=1}^{n} 2 / (2k - 1), and
    digamma(x) = digamma(x + 1) - 1/x below 1/2."""
    assert (x - 0.5) == int(x - 0.5), x
    if x < 0.5:
        return _digamma_half_integer(x + 1.0) - 1.0 / x
    euler = 0.5772156649015329
    return -euler - 2.0 * math.log(2.0) + math.fsum(2.0 / (2 * k - 1)
                                                   for k in range(1, int(x - 0.5) + 1))


# Edge points for the bit-for-bit comparison of the engines (IEEE specials, poles, overflow).
EDGE_POINTS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0, math.pi / 2, 710.0, -710.0,
               1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan]

# Every primitive named in either engine's table is a test case.
NAMES = list(dict.fromkeys(list(autodiff.PRIMITIVES) + list(reference.PRIMITIVES)))


def points_of(name):
    """DOMAINS[name].points, failing clearly if the primitive has no entry."""
    if name not in DOMAINS:
        pytest.fail(f"primitive {name!r} has no entry in DOMAINS: add its Case")
    return DOMAINS[name].points


def node_of(ad, name, point):
    """(node, leaves): the primitive's node of fresh Vars at point."""
    leaves = [ad.Var(v) for v in point]
    return ad.PRIMITIVES[name](*leaves), leaves


def locals_of(node):
    return [local for _, local in node.grad]


# ----------------------------------------------------------------------------------------
# Coverage and parity of the tables
# ----------------------------------------------------------------------------------------


def test_every_primitive_has_a_case(ad):
    missing = [name for name in ad.PRIMITIVES if name not in DOMAINS]
    assert not missing, f"primitives without an entry in DOMAINS: {missing}"


def test_primitive_tables_have_parity(compiled):
    assert list(compiled.PRIMITIVES) == list(reference.PRIMITIVES)
    assert ([cls.__name__ for cls in compiled.PRIMITIVES.values()]
            == [cls.__name__ for cls in reference.PRIMITIVES.values()])


def test_primitives_are_public_node_classes(ad):
    for name, cls in ad.PRIMITIVES.items():
        assert getattr(ad, cls.__name__) is cls
        assert issubclass(cls, ad.Ops)
        assert callable(getattr(ad, name))


# ----------------------------------------------------------------------------------------
# Each primitive at its smooth points
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_finite_differences(ad, name):
    """Local derivatives and get_gradients agree with central differences (rel 1e-6)."""
    function = getattr(ad, name)
    for point in points_of(name):
        node, leaves = node_of(ad, name, point)
        gradients = ad.get_gradients(node)
        for i, leaf in enumerate(leaves):
            numerical = central_difference(function, point, i, step_for(point[i]))
            assert gradients[leaf] == pytest.approx(numerical, rel=1e-6, abs=1e-9), \
                (name, point, i)
        if len(leaves) == 2 and leaves[0] is not leaves[1]:
            assert locals_of(node) == [gradients[leaves[0]], gradients[leaves[1]]]


@pytest.mark.parametrize("name", NAMES)
def test_values_against_math(ad, name):
    for point in points_of(name):
        node, _ = node_of(ad, name, point)
        assert node.value == pytest.approx(DOMAINS[name].value(*point), rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_function_of_numbers_is_the_node_value(ad, name):
    function = getattr(ad, name)
    for point in points_of(name) + [tuple(EDGE_POINTS[:arity(name)])]:
        result = function(*point)
        assert type(result) is float
        node, _ = node_of(ad, name, point)
        assert same_float(result, node.value)
        # NumPy scalars and ints are numbers too.
        assert same_float(function(*[np.float64(v) for v in point]), result)


@pytest.mark.parametrize("name", NAMES)
def test_class_function_method_and_ufunc_agree(ad, name):
    """Cls(x), ad.name(x), x.name() and np.name(x) make the same node."""
    cls = ad.PRIMITIVES[name]
    ufunc = getattr(np, name, None)
    for point in points_of(name):
        leaves = [ad.Var(v) for v in point]
        forms = {"class": cls(*leaves), "function": getattr(ad, name)(*leaves),
                 "method": getattr(leaves[0], name)(*leaves[1:])}
        if isinstance(ufunc, np.ufunc):
            forms["ufunc"] = ufunc(*leaves)
        for form, node in forms.items():
            assert type(node) is cls, form
            assert same_float(node.value, forms["class"].value), form
            assert [child for child, _ in node.grad] == leaves, form
            assert_same_floats(locals_of(node), locals_of(forms["class"]), form)


@pytest.mark.parametrize("name", [n for n in NAMES if arity(n) == 2])
def test_binary_with_a_number_operand(ad, name):
    """A number operand is a constant: no edge, and the node's edge keeps its derivative."""
    cls = ad.PRIMITIVES[name]
    for a, b in points_of(name):
        full = cls(ad.Var(a), ad.Var(b))
        x = ad.Var(a)
        left = cls(x, b)
        assert same_float(left.value, full.value)
        assert [child for child, _ in left.grad] == [x]
        assert same_float(left.grad[0][1], full.grad[0][1])
        y = ad.Var(b)
        right = cls(a, y)
        assert same_float(right.value, full.value)
        assert [child for child, _ in right.grad] == [y]
        assert same_float(right.grad[0][1], full.grad[1][1])
        # The NumPy scalar and method forms too.
        assert same_float(getattr(ad, name)(np.float64(a), y).value, full.value)
        assert same_float(getattr(x, name)(b).value, full.value)


# ----------------------------------------------------------------------------------------
# The two engines, bit for bit, including IEEE specials
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_engines_bit_identical(compiled, name):
    """Same value and local derivatives in both engines at smooth and special points.

    Compared bit for bit (0.0 is not -0.0); a nan equals any nan (see helpers.same_float).
    """
    points = list(points_of(name)) + list(itertools.product(EDGE_POINTS, repeat=arity(name)))
    for point in points:
        node_c, _ = node_of(compiled, name, point)
        node_r, _ = node_of(reference, name, point)
        assert type(node_c).__name__ == type(node_r).__name__
        assert_same_floats([node_c.value] + locals_of(node_c),
                           [node_r.value] + locals_of(node_r), f"{name}{point}")
        assert_same_floats([getattr(compiled, name)(*point)],
                           [getattr(reference, name)(*point)], f"{name}{point} numbers")


# ----------------------------------------------------------------------------------------
# Documented conventions at non-smooth points
# ----------------------------------------------------------------------------------------


def test_relu_derivative_at_zero_is_zero(ad):
    for zero in (0.0, -0.0):
        x = ad.Var(zero)
        y = ad.relu(x)
        assert y.value == 0.0
        assert ad.get_gradients(y)[x] == 0.0


def test_abs_derivative_at_zero_is_zero(ad):
    for zero in (0.0, -0.0):
        x = ad.Var(zero)
        y = abs(x)
        assert type(y) is ad.Abs
        assert y.value == 0.0
        assert ad.get_gradients(y)[x] == 0.0
    x = ad.Var(-2.0)
    assert ad.gradients(ad.absolute(x), x) == -1.0


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_ties_split_the_derivative(ad, name):
    a, b = ad.Var(1.5), ad.Var(1.5)
    y = getattr(ad, name)(a, b)
    assert y.value == 1.5
    assert ad.gradients(y, [a, b]) == [0.5, 0.5]
    # The same node on both sides gets the whole derivative.
    y = getattr(ad, name)(a, a)
    assert ad.gradients(y, a) == 1.0


def test_power_exponent_derivative_at_zero_base_is_zero(ad):
    for base, exponent in ((0.0, 2.0), (0.0, 0.5), (0.0, 3.0), (0.0, -1.0)):
        x, y = ad.Var(base), ad.Var(exponent)
        z = x ** y
        assert ad.gradients(z, y) == 0.0
    x, y = ad.Var(0.0), ad.Var(2.0)
    assert ad.gradients(x ** y, x) == 0.0          # 2 * 0 ** 1
    assert ad.gradients(x ** 3.0, x) == 0.0


# ----------------------------------------------------------------------------------------
# PyTorch, if installed
# ----------------------------------------------------------------------------------------


def test_against_pytorch(ad):
    torch = pytest.importorskip("torch")
    for name in ad.PRIMITIVES:
        if DOMAINS[name].torch is None:
            continue
        torch_function = torch
        for part in DOMAINS[name].torch.split("."):    # "special.ndtr": torch.special.ndtr
            torch_function = getattr(torch_function, part)
        for point in points_of(name):
            node, leaves = node_of(ad, name, point)
            tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
            out = torch_function(*tensors)
            out.backward()
            assert node.value == pytest.approx(out.item(), rel=1e-13), (name, point)
            assert ad.gradients(node, leaves) == pytest.approx(
                [t.grad.item() for t in tensors], rel=TORCH_GRAD_RTOL.get(name, 1e-13)), \
                (name, point)


# torch's own error, not ours: its trigamma (the derivative of digamma) is 3e-10 off at 0.5,
# where ours is pi**2 / 2 to the last bit, as SciPy's polygamma(1, 0.5) is
# (tests/test_special_functions.py checks ours against SciPy to a few ulp).
TORCH_GRAD_RTOL = {"digamma": 1e-9}


# ----------------------------------------------------------------------------------------
# Elementary ufuncs (issue 10): the conventions at jumps, kinks, ties and poles, and
# NumPy's float64 semantics where C's library differs.  Expected values are literals.
# ----------------------------------------------------------------------------------------

def _value_and_locals(ad, name, *point):
    node, leaves = node_of(ad, name, point)
    return node.value, locals_of(node)


@pytest.mark.parametrize("name,point", [
    ("floor", (2.0,)), ("floor", (-0.0,)), ("ceil", (-3.0,)), ("trunc", (1.0,)),
    ("rint", (2.5,)), ("rint", (-0.5,)), ("sign", (0.0,)), ("sign", (-0.0,)),
    ("floor_divide", (4.0, 2.0)), ("floor_divide", (-1.0, 0.5)),
])
def test_piecewise_constant_derivative_is_zero_at_the_jumps(ad, name, point):
    _, local = _value_and_locals(ad, name, *point)
    assert_same_floats(local, [0.0] * len(point), f"{name}{point}")


@pytest.mark.parametrize("name,point,value", [
    ("sign", (-0.0,), 0.0), ("sign", (0.0,), 0.0), ("sign", (-3.0,), -1.0),
    ("sign", (math.inf,), 1.0), ("rint", (0.5,), 0.0), ("rint", (1.5,), 2.0),
    ("rint", (-0.5,), -0.0), ("ceil", (-0.5,), -0.0), ("trunc", (-0.7,), -0.0),
    ("floor", (-0.0,), -0.0), ("cbrt", (-0.0,), -0.0), ("exp2", (-1075.0,), 0.0),
    ("exp2", (1024.0,), math.inf), ("arctanh", (1.0,), math.inf),
    ("arctanh", (-1.0,), -math.inf), ("arccosh", (1.0,), 0.0), ("arcsinh", (-0.0,), -0.0),
    ("deg2rad", (180.0,), math.pi), ("rad2deg", (math.pi,), 180.0),
    ("conjugate", (-0.0,), -0.0),
    # Python's modulo and floor division (NumPy's npy_divmod), not C's remainder
    ("remainder", (-0.0, 1.0), 0.0), ("remainder", (0.0, -1.0), -0.0),
    ("remainder", (-2.0, 1.0), 0.0), ("remainder", (2.0, -1.0), -0.0),
    ("remainder", (-1.0, math.inf), math.inf), ("remainder", (1.0, -math.inf), -math.inf),
    ("remainder", (1.0, math.inf), 1.0), ("remainder", (5.5, -2.0), -0.5),
    ("floor_divide", (1.0, 0.0), math.inf), ("floor_divide", (-1.0, 0.0), -math.inf),
    ("floor_divide", (1.0, -0.0), -math.inf), ("floor_divide", (-1.0, math.inf), -1.0),
    ("floor_divide", (5.0, math.inf), 0.0), ("floor_divide", (-0.0, 1.0), -0.0),
    ("floor_divide", (0.0, -1.0), -0.0), ("floor_divide", (1.0, 0.1), 9.0),
    ("floor_divide", (-5.5, 2.0), -3.0),
    # C's fmod: the sign of a
    ("fmod", (-0.0, 1.0), -0.0), ("fmod", (1.0, math.inf), 1.0), ("fmod", (-5.5, 2.0), -1.5),
    ("copysign", (2.0, -0.0), -2.0), ("copysign", (-2.0, 0.0), 2.0),
    ("copysign", (-2.0, math.inf), 2.0),
    ("hypot", (-3.0, 4.0), 5.0), ("hypot", (math.inf, math.nan), math.inf),
    ("hypot", (1e308, 1e308), 1.4142135623730951e308),
    ("logaddexp", (-0.0, -0.0), 0.6931471805599453), ("logaddexp", (-math.inf, -math.inf),
                                                       -math.inf),
    ("logaddexp", (math.inf, -math.inf), math.inf), ("logaddexp2", (3.0, 3.0), 4.0),
    ("fmax", (math.nan, 1.0), 1.0), ("fmax", (1.0, math.nan), 1.0),
    ("fmin", (math.nan, -1.0), -1.0), ("fmax", (0.0, -0.0), 0.0), ("fmax", (-0.0, 0.0), -0.0),
    ("fmin", (0.0, -0.0), 0.0), ("fmin", (-0.0, 0.0), -0.0),
])
def test_values_at_edges_are_numpys(ad, name, point, value):
    got, _ = _value_and_locals(ad, name, *point)
    assert_same_floats([got, getattr(ad, name)(*point)], [value, value], f"{name}{point}")
    if name not in ("fmax", "fmin"):        # NumPy's long-array loops differ on zero ties
        with np.errstate(all="ignore"):
            assert_same_floats([float(getattr(np, name)(*point))], [value], "numpy")


@pytest.mark.parametrize("name,point,local", [
    ("fabs", (0.0,), [0.0]), ("fabs", (-0.0,), [0.0]), ("fabs", (-2.0,), [-1.0]),
    ("cbrt", (0.0,), [math.inf]), ("cbrt", (-0.0,), [math.inf]),
    ("arccosh", (1.0,), [math.inf]), ("arctanh", (1.0,), [math.inf]),
    ("arctanh", (-1.0,), [math.inf]), ("arctanh", (2.0,), [math.nan]),
    ("square", (-3.0,), [-6.0]), ("exp2", (1.0,), [2.0 * 0.6931471805599453]),
    # hypot at the origin: 0 and 0 (documented)
    ("hypot", (0.0, 0.0), [0.0, 0.0]), ("hypot", (-0.0, 0.0), [0.0, 0.0]),
    ("hypot", (3.0, -4.0), [0.6, -0.8]),
    # ties give 0.5 to each side
    ("logaddexp", (1.5, 1.5), [0.5, 0.5]), ("logaddexp2", (-math.inf, -math.inf), [0.5, 0.5]),
    ("logaddexp", (math.inf, 1.0), [1.0, 0.0]), ("fmax", (1.5, 1.5), [0.5, 0.5]),
    ("fmin", (-0.0, 0.0), [0.5, 0.5]),
    # a nan operand is ignored: the other side gets the whole derivative
    ("fmax", (math.nan, 2.0), [0.0, 1.0]), ("fmin", (2.0, math.nan), [1.0, 0.0]),
    ("fmax", (math.nan, math.nan), [math.nan, math.nan]),
    # copysign: d/da = +-1, d/db = 0
    ("copysign", (-2.0, 3.0), [-1.0, 0.0]), ("copysign", (2.0, -3.0), [-1.0, 0.0]),
    ("copysign", (-2.0, -3.0), [1.0, 0.0]), ("copysign", (0.0, 1.0), [1.0, 0.0]),
    ("copysign", (2.0, math.nan), [math.nan, math.nan]),
    ("copysign", (math.nan, 1.0), [math.nan, math.nan]),
    # fmod: d/db is minus the truncated quotient, remainder minus the floor quotient; at
    # (1.0, 0.1) the quotient is 9 though 1.0 / 0.1 rounds to 10.0
    ("fmod", (5.5, 2.0), [1.0, -2.0]), ("fmod", (-5.5, 2.0), [1.0, 2.0]),
    ("fmod", (4.0, 2.0), [1.0, -2.0]), ("fmod", (1.0, 0.1), [1.0, -9.0]),
    ("remainder", (5.5, 2.0), [1.0, -2.0]), ("remainder", (-5.5, 2.0), [1.0, 3.0]),
    ("remainder", (-4.0, 2.0), [1.0, 2.0]), ("remainder", (1.0, 0.1), [1.0, -9.0]),
])
def test_derivative_conventions(ad, name, point, local):
    _, got = _value_and_locals(ad, name, *point)
    assert_same_floats(got, local, f"{name}{point}")


UFUNC_ARRAY_NAMES = ["fabs", "cbrt", "exp2", "arcsinh", "arccosh", "arctanh", "deg2rad",
                     "rad2deg", "radians", "degrees", "rint", "conjugate", "hypot", "fmod"]


@pytest.mark.parametrize("name", UFUNC_ARRAY_NAMES)
def test_ufuncs_on_object_arrays(ad, name):
    """NumPy's object loops call the node methods (x.cbrt(), x.radians(), x.hypot(y))."""
    ufunc = getattr(np, name)
    xs = {"arccosh": np.array([1.2, 2.0, 3.0]), "arctanh": np.array([0.5, -0.3, 0.7])}.get(
        name, np.array([1.2, 0.3, 0.7]))
    args = [xs] if ufunc.nin == 1 else [xs, np.array([0.5, -0.25, 2.0])]
    nodes = [ad.to_var(a) for a in args]
    out = ufunc(*nodes)
    assert out.dtype == object and all(isinstance(n, ad.Ops) for n in out)
    assert_same_floats(ad.to_vals(out).tolist(), ufunc(*args).tolist(), name)
    grads = ad.grad(lambda *a: np.sum(ufunc(*a)), argnums=tuple(range(len(args))))(*args)
    for i, g in enumerate(grads):
        for j in range(len(xs)):
            def f(t, i=i, j=j):
                shifted = [a.copy() for a in args]
                shifted[i][j] = t
                return float(np.sum(ufunc(*shifted)))
            assert g[j] == pytest.approx(
                central_difference(f, (args[i][j],), 0, step_for(args[i][j])), rel=1e-6)


def test_var_and_std_of_object_arrays(ad):
    """np.var and np.std call x.conjugate() on object arrays."""
    w = np.array([1.0, 2.5, -0.5, 4.0])
    for f in (np.var, np.std):
        value, g = ad.value_and_grad(lambda v: f(v))(w)
        assert value == pytest.approx(float(f(w)), rel=1e-14)
        mean = w.mean()
        want = 2 * (w - mean) / len(w)
        if f is np.std:
            want = want / (2 * np.std(w))
        assert g == pytest.approx(want, rel=1e-12)


def test_alias_methods(ad):
    x = ad.Var(30.0)
    assert type(x.radians()) is ad.Deg2rad and type(x.degrees()) is ad.Rad2deg
    assert type(np.radians(x)) is ad.Deg2rad and type(np.degrees(x)) is ad.Rad2deg
    assert type(np.mod(x, 7.0)) is ad.Remainder          # np.mod is np.remainder
    assert type(np.conj(x)) is ad.Conjugate


# ----------------------------------------------------------------------------------------
# Predicates (issue 10): plain bools of a node's value or a number, as NumPy's on float64
# ----------------------------------------------------------------------------------------

PREDICATES = ["isfinite", "isnan", "isinf", "signbit"]


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_are_numpys_on_float64(ad, name):
    function, ufunc = getattr(ad, name), getattr(np, name)
    for v in EDGE_POINTS + [-5e-324, -math.inf]:
        want = bool(ufunc(np.float64(v)))
        for x in (ad.Var(v), ad.negative(ad.Var(-v)), v, np.float64(v)):
            got = function(x)
            assert type(got) is bool, (name, v, x)
            if name != "signbit" or v == v:     # a nan's sign bit is unspecified
                assert got == want, (name, v, x)
    assert function(3) is (name == "isfinite")
    assert function(True) is (name == "isfinite")
    with pytest.raises(TypeError, match=name):
        function("1.0")
    # an array is taken element by element, a bool array as NumPy's (test_numpy_protocol)
    got = function(np.array([1.0, math.inf]))
    assert got.dtype == bool and got.tolist() == ufunc(np.array([1.0, math.inf])).tolist()


def test_predicates_make_no_node(ad):
    x = ad.Var(1.0)
    assert [getattr(ad, name)(x) for name in PREDICATES] == [True, False, False, False]
    assert x.grad == []
    assert all(name in ad.__all__ for name in PREDICATES)
