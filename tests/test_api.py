"""The public API on both engines: operators, node protocol, gradients, arrays, engine choice.

Expected numbers are worked out by hand (or by ``math``) in the test, never by the engines.
"""
import importlib.machinery
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import autodiff
from autodiff import reference

LN2 = math.log(2.0)


# ----------------------------------------------------------------------------------------
# Operators with nodes, Python numbers and NumPy scalars on either side
# ----------------------------------------------------------------------------------------

# (expression of x = Var(3) and y = Var(2), value, d/dx, d/dy)
OPERATOR_CASES = {
    "2*x": (lambda x, y: 2 * x, 6.0, 2.0, 0.0),
    "x*2": (lambda x, y: x * 2, 6.0, 2.0, 0.0),
    "x+1": (lambda x, y: x + 1, 4.0, 1.0, 0.0),
    "1+x": (lambda x, y: 1 + x, 4.0, 1.0, 0.0),
    "x-1": (lambda x, y: x - 1, 2.0, 1.0, 0.0),
    "1-x": (lambda x, y: 1 - x, -2.0, -1.0, 0.0),
    "1/x": (lambda x, y: 1 / x, 1 / 3, -1 / 9, 0.0),
    "x/2": (lambda x, y: x / 2, 1.5, 0.5, 0.0),
    "x+y": (lambda x, y: x + y, 5.0, 1.0, 1.0),
    "x-y": (lambda x, y: x - y, 1.0, 1.0, -1.0),
    "x*y": (lambda x, y: x * y, 6.0, 2.0, 3.0),
    "x/y": (lambda x, y: x / y, 1.5, 0.5, -0.75),
    "x**3": (lambda x, y: x ** 3, 27.0, 27.0, 0.0),
    "2**x": (lambda x, y: 2 ** x, 8.0, 8.0 * LN2, 0.0),
    "x**y": (lambda x, y: x ** y, 9.0, 6.0, 9.0 * math.log(3.0)),
    "x**0.5": (lambda x, y: x ** 0.5, math.sqrt(3.0), 0.5 / math.sqrt(3.0), 0.0),
    "-x": (lambda x, y: -x, -3.0, -1.0, 0.0),
    "abs(-x)": (lambda x, y: abs(-x), 3.0, 1.0, 0.0),
    "abs(x-y*2)": (lambda x, y: abs(x - y * 2), 1.0, -1.0, 2.0),
    "+(x*y)": (lambda x, y: +(x * y), 6.0, 2.0, 3.0),
    "f64*x": (lambda x, y: np.float64(2.0) * x, 6.0, 2.0, 0.0),
    "x*f64": (lambda x, y: x * np.float64(2.0), 6.0, 2.0, 0.0),
    "f64+x": (lambda x, y: np.float64(1.0) + x, 4.0, 1.0, 0.0),
    "f64-x": (lambda x, y: np.float64(1.0) - x, -2.0, -1.0, 0.0),
    "f64/x": (lambda x, y: np.float64(1.0) / x, 1 / 3, -1 / 9, 0.0),
    "x/f64": (lambda x, y: x / np.float64(2.0), 1.5, 0.5, 0.0),
    "f64**x": (lambda x, y: np.float64(2.0) ** x, 8.0, 8.0 * LN2, 0.0),
    "x**f64": (lambda x, y: x ** np.float64(3.0), 27.0, 27.0, 0.0),
    "i64*x": (lambda x, y: np.int64(2) * x, 6.0, 2.0, 0.0),
    "f32*x": (lambda x, y: np.float32(2.0) * x, 6.0, 2.0, 0.0),
    "True*x": (lambda x, y: True * x, 3.0, 1.0, 0.0),
}


@pytest.mark.parametrize("case", list(OPERATOR_CASES))
def test_operator(ad, case):
    expression, value, dx, dy = OPERATOR_CASES[case]
    x, y = ad.Var(3.0), ad.Var(2.0)
    z = expression(x, y)
    assert isinstance(z, ad.Ops), type(z)          # a node, never a 0-d object array
    assert type(z.value) is float
    assert z.value == pytest.approx(value, rel=1e-15)
    assert ad.gradients(z, [x, y]) == pytest.approx([dx, dy], rel=1e-15)


def test_unary_plus_is_the_node(ad):
    x = ad.Var(3.0)
    assert +x is x


def test_subtraction_and_division_make_one_node_rounded_as_floats(ad):
    """a - b is Sub(a, b), a / b is Div(a, b) (one rounding, like float arithmetic, where the
    tutorial built Add(a, Neg(b)) and Mul(a, Inv(b))); a number operand makes no edge."""
    a, b = ad.Var(6.0), ad.Var(4.0)
    d = a - b
    assert type(d) is ad.Sub and d.value == 2.0 and d.grad == [(a, 1.0), (b, -1.0)]
    q = a / b
    assert type(q) is ad.Div and q.value == 1.5 and q.grad == [(a, 0.25), (b, -6.0 / 16.0)]
    s = a - 3
    assert type(s) is ad.Sub and s.value == 3.0 and s.grad == [(a, 1.0)]
    r = 3 - a
    assert type(r) is ad.Sub and r.value == -3.0 and r.grad == [(a, -1.0)]
    t = a / 3
    assert type(t) is ad.Div and t.grad == [(a, 1.0 / 3.0)]
    u = 3 / a
    assert type(u) is ad.Div and u.value == 0.5 and u.grad == [(a, -0.5 / 6.0)]
    # Values round once, as the same float arithmetic does (1/3 * x would not, for some x).
    for x in (0.1, 0.7, 1e-300, 3.3, 123.456):
        assert (ad.Var(x) / 3).value == x / 3 and (x / ad.Var(3.0)).value == x / 3.0
        assert (ad.Var(x) - 0.1).value == x - 0.1


# Lists and tuples of numbers broadcast as arrays, as with np.float64 (except with **):
# tests/test_numpy_protocol.py.  A list of what is not a number is still refused.
@pytest.mark.parametrize("bad", ["a", None, ["a"], ("a",), [None], 1j, {}])
def test_operators_reject_non_numbers(ad, bad):
    x = ad.Var(1.0)
    for operation in (lambda: x + bad, lambda: bad + x, lambda: x * bad, lambda: bad * x,
                      lambda: x - bad, lambda: bad - x, lambda: x / bad, lambda: bad / x,
                      lambda: x ** bad, lambda: bad ** x):
        with pytest.raises(TypeError):
            operation()


@pytest.mark.parametrize("bad", ["x", None, [1, 2], 1j])
def test_var_rejects_non_numbers(ad, bad):
    with pytest.raises(TypeError):
        ad.Var(bad)


def test_ieee_results_without_exceptions(ad):
    zero, minus_one = ad.Var(0.0), ad.Var(-1.0)
    assert ad.log(zero).value == -math.inf
    assert (1 / zero).value == math.inf
    assert math.isnan(ad.sqrt(minus_one).value)
    assert math.isnan(ad.log(minus_one).value)
    assert ad.exp(ad.Var(1000.0)).value == math.inf
    assert ad.log(0.0) == -math.inf and math.isnan(ad.sqrt(-1.0))


# ----------------------------------------------------------------------------------------
# Comparisons, identity, conversions, repr
# ----------------------------------------------------------------------------------------


def test_comparisons_compare_values_and_return_bool(ad):
    x, y = ad.Var(3.0), ad.Var(2.0)
    results = {
        "x < 4": (x < 4, True), "x <= 3": (x <= 3, True), "x > y": (x > y, True),
        "x >= 3.5": (x >= 3.5, False), "y < x": (y < x, True), "x < y": (x < y, False),
        "2 < x": (2 < x, True), "4 <= x": (4 <= x, False), "x > 2.5": (x > 2.5, True),
        "x < f64(4)": (x < np.float64(4.0), True), "x >= i64(3)": (x >= np.int64(3), True),
        "x*y > 5": (x * y > 5, True),
    }
    for text, (got, want) in results.items():
        assert type(got) is bool, text
        assert got is want, text
    if x > 0:            # usable in control flow
        pass
    else:
        pytest.fail("x > 0 is False")


def test_comparisons_with_numpy_scalar_on_the_left_return_bool(ad):
    x = ad.Var(3.0)
    for got, want in ((np.float64(2.0) < x, True), (np.float64(4.0) <= x, False),
                      (np.int64(2) > x, False), (np.float64(3.0) >= x, True)):
        assert got == want
        assert type(got) is bool, type(got)


def test_comparison_with_non_numbers_raises(ad):
    x = ad.Var(3.0)
    with pytest.raises(TypeError):
        x < "a"
    with pytest.raises(TypeError):
        x > None


def test_equality_and_hash_by_identity(ad):
    x = ad.Var(3.0)
    twin = ad.Var(3.0)
    assert x == x
    assert (x == twin) is False
    assert x != twin
    assert (x == 3.0) is False
    table = {x: "x", twin: "twin"}
    assert len(table) == 2 and table[x] == "x" and table[twin] == "twin"
    assert len({x, twin, x}) == 2
    assert hash(x) == hash(x)
    s = x + twin
    assert {s: 1}[s] == 1


def test_float_is_refused_and_repr(ad):
    a, b = ad.Var(4), ad.Var(3)
    d = a * (a + b)
    # float(node) would drop the derivative: refused, with what to use instead.
    for convert in (float, math.sin, complex):
        with pytest.raises(TypeError, match=r"lose its derivative.*x\.value"):
            convert(d)
    assert d.value == 28.0 and type(d.value) is float
    assert repr(d) == "Mul(28.0)"
    assert repr(a) == "Var(4.0)"
    assert repr(ad.Sin(ad.Var(0.0))) == "Sin(0.0)"
    assert repr(a - b) == "Sub(1.0)"


def test_value_is_a_writable_float(ad):
    w = ad.Var(1)
    assert type(w.value) is float and w.value == 1.0
    w.value -= 0.25
    assert w.value == 0.75
    w.value = np.float64(2.5)
    assert type(w.value) is float and w.value == 2.5
    w.value = 7
    assert type(w.value) is float and w.value == 7.0
    with pytest.raises(TypeError):
        w.value = "a"
    assert w.value == 7.0                           # a refused value leaves the node intact


def test_grad_lists_children_and_local_derivatives(ad):
    a, b = ad.Var(4.0), ad.Var(3.0)
    c = a * b
    pairs = c.grad
    assert type(pairs) is list
    assert all(type(pair) is tuple and len(pair) == 2 for pair in pairs)
    assert pairs[0][0] is a and pairs[0][1] == 3.0
    assert pairs[1][0] is b and pairs[1][1] == 4.0
    assert all(type(local) is float for _, local in pairs)
    pairs.append((a, 100.0))                        # a copy: the node is unchanged
    assert len(c.grad) == 2
    assert a.grad == []
    assert ad.Sin(a).grad == [(a, math.cos(4.0))]


# ----------------------------------------------------------------------------------------
# User-defined nodes in the tutorial's style
# ----------------------------------------------------------------------------------------


def test_user_defined_node_mixed_with_builtins(ad):
    class Square(ad.Ops):
        def __init__(self, var):
            self.value = var.value ** 2
            self.grad = [(var, 2 * var.value)]

    class Cube(ad.Ops):
        def __init__(self, var):
            self.value = var.value ** 3
            self.grad = [(var, 3 * var.value ** 2)]

    x, y = ad.Var(3.0), ad.Var(0.5)
    s = Square(x)
    assert isinstance(s, ad.Ops) and s.value == 9.0 and repr(s) == "Square(9.0)"
    z = Cube(s * y + 1) + ad.sin(Square(y)) * x       # (4.5 + 1)^3 + 3 sin(0.25)
    assert z.value == pytest.approx(5.5 ** 3 + 3 * math.sin(0.25), rel=1e-15)
    gradients = ad.get_gradients(z)
    # d/dx = 3 (9y + 1)^2 * 2x y + sin(y^2);  d/dy = 3 (9y + 1)^2 * 9 + 3 cos(y^2) 2y
    assert gradients[x] == pytest.approx(3 * 5.5 ** 2 * 3.0 + math.sin(0.25), rel=1e-14)
    assert gradients[y] == pytest.approx(3 * 5.5 ** 2 * 9.0 + 3 * math.cos(0.25), rel=1e-14)
    assert gradients[s] == pytest.approx(3 * 5.5 ** 2 * 0.5, rel=1e-14)
    # Operators, methods and NumPy work on user nodes too.
    assert isinstance(np.sin(s), ad.Sin) and isinstance(2 * s, ad.Mul)
    assert isinstance(s.exp(), ad.Exp)


def test_user_defined_leaf_and_int_derivatives(ad):
    class Constant(ad.Ops):
        def __init__(self, value):
            self.value = value
            self.grad = []

    class Double(ad.Ops):
        def __init__(self, var):
            self.value = 2 * var.value
            self.grad = [(var, 2)]                  # an int local derivative, as in the tutorial

    k = Constant(5)
    assert k.value == 5.0 and ad.get_gradients(k) == {}
    x = ad.Var(1.5)
    y = Double(x) * k
    assert y.value == 15.0
    gradients = ad.get_gradients(y)
    assert gradients[x] == 10.0 and gradients[k] == 3.0
    assert Double(x).grad == [(x, 2.0)]


# ----------------------------------------------------------------------------------------
# get_gradients and gradients
# ----------------------------------------------------------------------------------------


def test_get_gradients_returns_a_plain_dict_without_the_root(ad):
    a, b = ad.Var(4.0), ad.Var(3.0)
    c = a + b
    d = a * c
    gradients = ad.get_gradients(d)
    assert type(gradients) is dict
    assert set(gradients) == {a, b, c}
    assert d not in gradients
    assert all(type(v) is float for v in gradients.values())
    assert gradients == {a: 11.0, b: 4.0, c: 4.0}


def test_get_gradients_of_a_leaf_is_empty(ad):
    assert ad.get_gradients(ad.Var(2.0)) == {}


def test_get_gradients_of_a_non_node_raises(ad):
    for bad in (1.0, "x", None, [ad.Var(1.0)]):
        with pytest.raises(TypeError):
            ad.get_gradients(bad)


def test_gradients_for_each_kind_of_wrt(ad):
    x, y, unused = ad.Var(2.0), ad.Var(3.0), ad.Var(7.0)
    z = x * y + x
    assert ad.gradients(z, x) == 4.0 and type(ad.gradients(z, x)) is float
    assert ad.gradients(z, [x, y, unused]) == [4.0, 2.0, 0.0]
    assert type(ad.gradients(z, [x, y])) is list
    assert ad.gradients(z, (y, x)) == [2.0, 4.0]
    assert ad.gradients(z, []) == []
    assert ad.gradients(z, unused) == 0.0
    assert ad.gradients(z, [z, x]) == [1.0, 4.0]          # the root itself: 1
    assert ad.gradients(x, x) == 1.0
    array = np.array([[x, y], [unused, x]], dtype=object)
    result = ad.gradients(z, array)
    assert type(result) is np.ndarray and result.dtype == np.float64
    assert result.shape == (2, 2)
    assert result.tolist() == [[4.0, 2.0], [0.0, 4.0]]


def test_gradients_agree_with_get_gradients(ad):
    a, b, c = ad.Var(43.0), ad.Var(3.0), ad.Var(2.0)
    f = ad.Sin(a * b) + ad.Exp(c - (a / b))
    y = ad.Log(f * f) * c
    everything = ad.get_gradients(y)
    assert ad.gradients(y, [a, b, c, f]) == [everything[a], everything[b], everything[c],
                                             everything[f]]


# ----------------------------------------------------------------------------------------
# Arrays
# ----------------------------------------------------------------------------------------


def test_to_var_and_to_vals(ad):
    values = np.arange(6.0).reshape(2, 3) / 7.0
    nodes = ad.to_var(values)
    assert nodes.dtype == object and nodes.shape == (2, 3)
    assert all(type(v) is ad.Var for v in nodes.flat)
    assert [v.value for v in nodes.flat] == list(values.flat)
    back = ad.to_vals(nodes)
    assert back.dtype == np.float64 and back.shape == (2, 3)
    assert back.tobytes() == values.tobytes()
    assert ad.to_var([1.0, 2.0]).shape == (2,)
    assert ad.to_var(np.array([1, 2], dtype=np.int32))[1].value == 2.0
    assert ad.to_var(np.float64(1.5)).shape == ()
    assert ad.to_vals(ad.to_var(np.empty((0, 3)))).shape == (0, 3)
    mixed = np.array([ad.Var(1.0) * 2, 3.0], dtype=object)
    assert ad.to_vals(mixed).tolist() == [2.0, 3.0]


def test_object_arrays_dot_sum_mean_matmul(ad):
    rng = np.random.RandomState(1)
    xv, wv = rng.random_sample(4), rng.random_sample((4, 3))
    x, w = ad.to_var(xv), ad.to_var(wv)
    y = np.dot(x, w)
    assert y.shape == (3,) and isinstance(y[0], ad.Ops)
    np.testing.assert_allclose(ad.to_vals(y), xv @ wv, rtol=1e-15)
    np.testing.assert_allclose(ad.to_vals(x @ w), xv @ wv, rtol=1e-15)
    total = np.sum(y)
    mean = np.mean(y)
    assert isinstance(total, ad.Ops) and isinstance(mean, ad.Ops)
    assert total.value == pytest.approx(np.sum(xv @ wv), rel=1e-15)
    assert mean.value == pytest.approx(np.mean(xv @ wv), rel=1e-15)
    # d mean / d w_ij = x_i / 3
    np.testing.assert_allclose(ad.gradients(mean, w), np.outer(xv, np.ones(3)) / 3.0,
                               rtol=1e-15)
    np.testing.assert_allclose(ad.gradients(total, x), wv.sum(axis=1), rtol=1e-15)


def test_object_arrays_elementwise(ad):
    av, bv = np.array([0.5, 1.5, 2.5]), np.array([2.0, -1.0, 4.0])
    a, b = ad.to_var(av), ad.to_var(bv)
    for got, want in (((a + b), av + bv), ((a - b), av - bv), ((a * b), av * bv),
                      ((a / b), av / bv), ((2.0 * a), 2.0 * av), ((a - 1), av - 1),
                      ((1 / a), 1 / av), ((a ** 2), av ** 2), ((-a), -av), (abs(b), abs(bv)),
                      ((a * bv), av * bv), ((av + b), av + bv)):
        assert got.dtype == object and all(isinstance(v, ad.Ops) for v in got.flat)
        np.testing.assert_allclose(ad.to_vals(got), want, rtol=1e-15)


@pytest.mark.parametrize("name, derivative", [
    ("sin", math.cos), ("exp", math.exp), ("tanh", lambda v: 1 - math.tanh(v) ** 2),
    ("sqrt", lambda v: 0.5 / math.sqrt(v)), ("log1p", lambda v: 1 / (1 + v)),
    ("cos", lambda v: -math.sin(v)), ("log", lambda v: 1 / v), ("arctan", lambda v: 1 / (1 + v * v)),
])
def test_numpy_ufuncs_on_object_arrays(ad, name, derivative):
    values = np.array([[0.25, 0.5], [1.0, 2.0]])
    nodes = ad.to_var(values)
    out = getattr(np, name)(nodes)
    assert out.dtype == object and out.shape == (2, 2)
    assert all(type(v) is ad.PRIMITIVES[name] for v in out.flat)
    np.testing.assert_allclose(ad.to_vals(out), getattr(np, name)(values), rtol=1e-15)
    loss = np.sum(out)
    np.testing.assert_allclose(ad.gradients(loss, nodes), np.vectorize(derivative)(values),
                               rtol=1e-14)


def test_numpy_ufunc_on_a_single_node_gives_a_node(ad):
    x = ad.Var(0.5)
    for ufunc, cls in ((np.sin, ad.Sin), (np.exp, ad.Exp), (np.sqrt, ad.Sqrt),
                       (np.negative, ad.Neg), (np.absolute, ad.Abs)):
        y = ufunc(x)
        assert type(y) is cls, ufunc
    assert type(np.arctan2(x, 2.0)) is ad.Arctan2
    assert type(np.maximum(np.float64(1.0), x)) is ad.Maximum
    assert type(np.add(x, x)) is ad.Add
    assert np.sin(x).value == math.sin(0.5)


# ----------------------------------------------------------------------------------------
# The public names and the engine that is loaded
# ----------------------------------------------------------------------------------------


def test_public_names_are_the_same_in_both_engines():
    assert set(autodiff.__all__) == set(reference.__all__)
    for name in reference.__all__:
        assert hasattr(autodiff, name), name
        assert hasattr(reference, name), name
    assert reference.ENGINE == "reference"


def test_public_names_include_the_tutorial_api(ad):
    for name in ("Ops", "Var", "Add", "Mul", "Neg", "Inv", "Sin", "Exp", "Log",
                 "get_gradients", "gradients", "to_var", "to_vals", "ENGINE", "PRIMITIVES"):
        assert name in ad.__all__, name


def test_the_compiled_engine_is_loaded():
    assert autodiff.ENGINE == "compiled", (
        "autodiff loaded the reference engine: build the extension "
        "(python3 setup.py build_ext --inplace) and do not set AUTODIFF_PURE")
    engine = sys.modules["autodiff._engine"]
    assert autodiff.Var is engine.Var and autodiff.Var.__module__ == "autodiff._engine"
    assert autodiff.get_gradients is engine.get_gradients
    assert engine.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert autodiff.Var is not reference.Var


def _python(code, **environment):
    """Run code in a fresh interpreter with this process's sys.path; (stdout, stderr)."""
    env = dict(os.environ)
    env.pop("AUTODIFF_PURE", None)
    env.update(environment)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    # `python -c` puts its working directory first on sys.path: run it where the package
    # under test was imported from, not in a source tree that may lack the extension.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))
    done = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, cwd=package_root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr.strip()


def test_autodiff_pure_selects_the_reference_engine_without_warnings():
    out, err = _python("import autodiff; print(autodiff.ENGINE, autodiff.Var.__module__)",
                       AUTODIFF_PURE="1")
    assert out == "reference autodiff.reference"
    assert err == ""


def test_default_is_the_compiled_engine_without_warnings():
    out, err = _python("import autodiff; print(autodiff.ENGINE)")
    assert out == "compiled"
    assert err == ""


def test_missing_extension_falls_back_with_a_warning():
    code = """
import sys, warnings
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "autodiff._engine":
            raise ImportError("blocked for the test")
sys.meta_path.insert(0, Block())
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import autodiff
print(autodiff.ENGINE, [w.category.__name__ for w in caught], autodiff.Var(2.0) * 3)
"""
    out, _ = _python(code)
    assert out == "reference ['RuntimeWarning'] Mul(6.0)"
