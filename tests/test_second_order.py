"""Second-order local derivatives of every primitive (``_second.pxd``, ``_second.py``).

The compiled engine's rules are reached through ``autodiff._rulecheck`` (a test-support
extension exposing the C rules by name), the reference engine's through
``reference.UNARY_RULES``/``BINARY_RULES`` and ``autodiff._second``.  Every test that
iterates primitives is parametrised from the table (``autodiff/_primitives.py``), so a new
primitive without a second rule, a ``second`` column or test points fails here.

Oracles: the engines against each other (bit for bit, at smooth points, kinks, poles and
IEEE specials), central differences of the first-derivative rule, PyTorch's double
backward (float64, where PyTorch has the function), SciPy and mpmath for polygamma(2) and
log_ndtr'', and literal values for the documented conventions.
"""
import itertools
import math

import numpy as np
import pytest

import autodiff
from autodiff import _primitives, _second, reference

from helpers import assert_same_floats, same_float
from test_primitives import DOMAINS

inf, nan = math.inf, math.nan

TABLE = _primitives.TABLE
NAMES = [p.name for p in TABLE]
UNARY_NAMES = [p.name for p in _primitives.UNARY]
BINARY_NAMES = [p.name for p in _primitives.BINARY]
PARTIALS = ("aa", "ab", "bb")

# More smooth points than DOMAINS has, where the second derivative has its own branches
# (asymptotic series, reflection, tails, the far side of a switch of formula).
EXTRA_SMOOTH = {
    "digamma": [(0.01,), (1.7,), (9.9,), (10.5,), (150.0,), (-0.3,), (-2.6,), (-11.2,)],
    "gammaln": [(0.01,), (1.7,), (10.5,), (-2.6,)],
    "log_ndtr": [(-19.0,), (-21.0,), (-45.0,), (-1.5,), (9.0,)],
    "logit": [(0.35,), (0.6,), (0.02,), (0.97,)],
    "sigmoid": [(-30.0,), (30.0,)],
    "expit": [(-30.0,), (30.0,)],
    "power": [(2.5, 2.0), (0.8, 1.0), (1.3, 0.0), (0.5, 3.0), (4.0, -0.5)],
    "arctan2": [(1.0, -1.0000001), (-3.0, 3.0000001), (1e-3, 2.0)],
    "hypot": [(1e-3, 2.0), (-2.0, 2.0)],
    "logaddexp": [(0.0, 0.0), (-40.0, 3.0)],
    "logaddexp2": [(0.0, 0.0), (-40.0, 3.0)],
    "xlogy": [(0.0, 2.0)],
    "xlog1py": [(0.0, 2.0)],
    "arcsinh": [(1e5,), (-1e-3,)],
    "arccosh": [(1.01,), (1e5,)],
    "arctanh": [(0.99,), (-0.5,)],
    "cbrt": [(-1e-3,), (1e6,)],
    "erf": [(3.5,), (-0.01,)],
    "erfc": [(3.5,), (-0.01,)],
    "ndtr": [(-6.0,), (7.0,)],
    "tan": [(1.5,), (-0.7,)],
}

# Kinks, jumps, poles, domain edges, overflow and IEEE specials (unary).
UNARY_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0, math.pi / 2, 710.0, -710.0,
               1e308, -1e308, 5e-324, -5e-324, inf, -inf, nan, 0.3, -0.7, 1e-200, -1e-200,
               1e-110, -1e-110, 1e110, 1e200, -20.0, -20.000000000000004, -25.0, -40.0, -1e5,
               -1e200, 10.0, 9.999999999999998, 38.0, 0.25, 0.65, 0.9999999999999999,
               1.0000000000000002, -2.0, -2.5, 1e-5, -1e-5, 27.0, 2.5, -1e-300]
# The same for binary primitives, every pair.
BINARY_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0, 710.0, -710.0, 1e308, 5e-324,
                inf, -inf, nan, 0.3, 1e-200, 1e200, 2.5]


def smooth_points(name):
    if name not in DOMAINS:
        pytest.fail(f"primitive {name!r} has no entry in tests/test_primitives.py DOMAINS")
    return list(DOMAINS[name].points) + EXTRA_SMOOTH.get(name, [])


def all_points(name):
    if name in UNARY_NAMES:
        return smooth_points(name) + [(x,) for x in UNARY_EDGES]
    return smooth_points(name) + list(itertools.product(BINARY_EDGES, repeat=2))


# ----------------------------------------------------------------------------------------
# The rules of each engine, by name
# ----------------------------------------------------------------------------------------


class ReferenceRules:
    """The reference engine's rules: value, first and second derivatives."""

    @staticmethod
    def unary(name, x):
        value, derivative = reference.UNARY_RULES[name]
        y = value(x)
        d = derivative(x, y)
        return y, d, _second.UNARY_SECOND[name](x, y, d)

    @staticmethod
    def binary(name, a, b):
        y, da, db = reference.BINARY_RULES[name](a, b)
        daa, dab, dbb = _second.BINARY_SECOND[name](a, b, y, da, db)
        return y, da, db, daa, dab, dbb

    @staticmethod
    def power_const(x, c):
        y, d = reference._power_const(x, c)
        return y, d, _second.power_const_second(x, c, y, d)


def compiled_rules():
    if autodiff.ENGINE != "compiled":
        pytest.fail("the compiled engine did not load: build it (python setup.py build_ext "
                    "--inplace) and do not set AUTODIFF_PURE")
    from autodiff import _rulecheck
    return _rulecheck


@pytest.fixture(params=("compiled", "reference"))
def rules(request):
    """Each engine's rules in turn (the C ones through autodiff._rulecheck)."""
    return compiled_rules() if request.param == "compiled" else ReferenceRules


def seconds(rules, name, point):
    """The second partials at point: (d2,) for a unary primitive, (daa, dab, dbb) else."""
    if len(point) == 1:
        return rules.unary(name, *point)[2:]
    return rules.binary(name, *point)[3:]


def firsts(rules, name, point):
    if len(point) == 1:
        return rules.unary(name, *point)[1:2]
    return rules.binary(name, *point)[1:3]


def declared(name):
    second = _primitives.BY_NAME[name].second
    return set(second.split()) if second is not None else set(PARTIALS)


# ----------------------------------------------------------------------------------------
# Coverage: every row has a second rule in both engines and a declared `second` column
# ----------------------------------------------------------------------------------------


def test_second_rules_cover_the_table_exactly():
    assert sorted(_second.UNARY_SECOND) == sorted(UNARY_NAMES)
    assert sorted(_second.BINARY_SECOND) == sorted(BINARY_NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_row_declares_its_second_partials(name):
    row = _primitives.BY_NAME[name]
    assert row.second is not None, f"{name}: declare the table's `second` column"
    parts = row.second.split()
    assert len(parts) == len(set(parts)) and set(parts) <= set(PARTIALS), row.second
    if row.arity == 1:
        assert set(parts) <= {"aa"}, f"{name}: a unary primitive has only 'aa'"
    assert row.second == " ".join(p for p in PARTIALS if p in parts), "in the order aa ab bb"


@pytest.mark.parametrize("name", NAMES)
def test_every_primitive_has_a_second_rule_in_both_engines(rules, name):
    """Finite at every smooth point: the C fallback for an opcode without a case is nan."""
    for point in smooth_points(name):
        got = seconds(rules, name, point)
        assert all(math.isfinite(v) for v in got), (name, point, got)


# ----------------------------------------------------------------------------------------
# The engines bit for bit
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_engines_bit_identical(name):
    c = compiled_rules()
    for point in all_points(name):
        if len(point) == 1:
            got, want = c.unary(name, *point), ReferenceRules.unary(name, *point)
        else:
            got, want = c.binary(name, *point), ReferenceRules.binary(name, *point)
        assert_same_floats(got, want, f"{name}{point}")


POWER_EXPONENTS = [0.0, -0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5, 2.5, 1e-300, 1e300,
                   -1e300, 9007199254740993.0, inf, -inf, nan, 1.0000000000000002]


def test_power_const_bit_identical_and_equal_to_powers_daa():
    c = compiled_rules()
    for x, e in itertools.product(BINARY_EDGES + [-2.0, 4.0, 0.7], POWER_EXPONENTS):
        got = c.power_const(x, e)
        assert_same_floats(got, ReferenceRules.power_const(x, e), f"x ** {e} at {x}")
        # the replay's x ** c is the binary power's value, first and second derivative in x
        full = c.binary("power", x, e)
        assert_same_floats(got, [full[0], full[1], full[3]], f"x ** {e} at {x} vs power")


# ----------------------------------------------------------------------------------------
# Against central differences of the first-derivative rule
# ----------------------------------------------------------------------------------------


def _central(f, point, i, h):
    """The five-point central difference of f in operand i (truncation error O(h^4), so
    points near a pole, as digamma at 0.01, need no special step)."""
    def at(k):
        p = list(point)
        p[i] += k * h
        return f(*p)
    return (-at(2) + 8.0 * at(1) - 8.0 * at(-1) + at(-2)) / (12.0 * h)


@pytest.mark.parametrize("name", NAMES)
def test_against_differences_of_the_first_derivative(rules, name):
    """d2 = d(first derivative) by central differences, relative 1e-6, at smooth points;
    the mixed partial both ways (d/db of da and d/da of db)."""
    for point in smooth_points(name):
        got = seconds(rules, name, point)
        n = len(point)
        steps = [1e-5 * max(1.0, abs(v)) for v in point]
        if name == "logit":      # d/dx of 1/(x(1-x)): keep the step inside (0, 1)
            steps = [1e-5 * min(point[0], 1.0 - point[0])]
        for i in range(n):
            first_i = lambda *p, i=i: firsts(rules, name, p)[i]     # noqa: E731
            for j in range(n):
                numerical = _central(first_i, point, j, steps[j])
                analytic = got[0] if n == 1 else got[{(0, 0): 0, (0, 1): 1, (1, 0): 1,
                                                      (1, 1): 2}[i, j]]
                assert analytic == pytest.approx(numerical, rel=1e-6, abs=1e-8), \
                    (name, point, i, j, analytic, numerical)


# ----------------------------------------------------------------------------------------
# The `second` column against the rules
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_partials_declared_zero_are_zero(rules, name):
    """A partial left out of `second` is 0.0 at every test point, nan operands included
    (a sparsity pass drops it); one declared is non-zero at some smooth point."""
    partials = ("aa",) if name in UNARY_NAMES else PARTIALS
    zero = [k for k, p in enumerate(partials) if p not in declared(name)]
    for point in all_points(name):
        got = seconds(rules, name, point)
        for k in zero:
            assert got[k] == 0.0, (name, point, partials[k], got[k])
    for k, p in enumerate(partials):
        if p in declared(name):
            assert any(seconds(rules, name, point)[k] != 0.0 for point in smooth_points(name)), \
                f"{name}: {p} is declared but zero at every smooth point"


# ----------------------------------------------------------------------------------------
# PyTorch's double backward, if installed
# ----------------------------------------------------------------------------------------


def _torch():
    try:
        import torch
    except (ImportError, OSError) as exc:      # OSError: a broken install's missing .so
        pytest.skip(f"torch is not usable: {exc}")
    return torch


def _torch_hessian(torch, function, point):
    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
    out = function(*tensors)
    grads = torch.autograd.grad(out, tensors, create_graph=True, allow_unused=True)
    hessian = []
    for g in grads:
        if g is None or not g.requires_grad:
            hessian.append([0.0] * len(point))
            continue
        row = torch.autograd.grad(g, tensors, retain_graph=True, allow_unused=True)
        hessian.append([0.0 if r is None else r.item() for r in row])
    return hessian


@pytest.mark.parametrize("name", [n for n in NAMES if DOMAINS.get(n) and DOMAINS[n].torch])
def test_against_torch_double_backward(rules, name):
    torch = _torch()
    function = torch
    for part in DOMAINS[name].torch.split("."):
        function = getattr(function, part)
    for point in smooth_points(name):
        try:
            h = _torch_hessian(torch, function, point)
        except RuntimeError as exc:
            pytest.skip(f"torch has no double backward of {name}: {exc}")
        got = seconds(rules, name, point)
        # The mixed partial as d/da (d/db): torch's pow masks d/da with a where at b == 0,
        # whose derivative in b is 0 (the other order, d/db (d/da), would be 0 there).
        want = [h[0][0]] if len(point) == 1 else [h[0][0], h[1][0], h[1][1]]
        # torch's polygamma is good to ~1e-10 only (its trigamma is 3e-10 off at 0.5), its
        # log_ndtr'' 3e-10 off at -45 (ours: 1 ulp from mpmath; see the mpmath tests)
        rel = 1e-8 if name in ("digamma", "gammaln", "log_ndtr") else 1e-10
        assert list(got) == pytest.approx(want, rel=rel, abs=1e-12), (name, point, got, want)


# ----------------------------------------------------------------------------------------
# Documented conventions (kinks, ties, poles, domain edges): literal values
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,x,want", [
    ("relu", 0.0, 0.0), ("relu", -0.0, 0.0), ("relu", nan, 0.0), ("absolute", 0.0, 0.0),
    ("fabs", -0.0, 0.0), ("sign", 0.0, 0.0), ("floor", 2.0, 0.0), ("rint", 0.5, 0.0),
    ("square", nan, 2.0), ("square", inf, 2.0),
    ("reciprocal", 0.0, inf), ("reciprocal", -0.0, -inf), ("log", 0.0, -inf),
    ("log1p", -1.0, -inf), ("log2", 0.0, -inf), ("log10", 0.0, -inf), ("sqrt", 0.0, -inf),
    ("cbrt", 0.0, -inf), ("cbrt", -0.0, inf), ("arctanh", 1.0, inf), ("arctanh", -1.0, -inf),
    ("arcsin", 1.0, inf), ("arcsin", -1.0, -inf), ("arccos", 1.0, -inf),
    ("arccosh", 1.0, -inf), ("logit", 0.0, -inf), ("logit", 1.0, inf), ("logit", 0.5, 0.0),
    ("sigmoid", 0.0, -0.0), ("expit", 0.0, -0.0), ("sigmoid", 800.0, -0.0),
    ("tanh", 400.0, -0.0), ("expm1", 710.0, inf), ("tanh", 0.0, -0.0), ("erf", 0.0, -0.0),
    ("digamma", 0.0, -inf), ("digamma", -0.0, inf), ("digamma", -1.0, nan),
    ("digamma", -inf, nan), ("digamma", inf, -0.0), ("digamma", nan, nan),
    ("gammaln", 0.0, inf), ("gammaln", -2.0, inf), ("gammaln", inf, 0.0),
    ("log_ndtr", -inf, -1.0),
])
def test_unary_conventions(rules, name, x, want):
    assert_same_floats([rules.unary(name, x)[2]], [want], f"{name}''({x})")


@pytest.mark.parametrize("name,a,b,want", [
    ("maximum", 1.5, 1.5, (0.0, 0.0, 0.0)), ("minimum", 1.5, 1.5, (0.0, 0.0, 0.0)),
    ("maximum", nan, 1.0, (0.0, 0.0, 0.0)), ("fmax", 2.0, 2.0, (0.0, 0.0, 0.0)),
    ("copysign", 0.0, -1.0, (0.0, 0.0, 0.0)), ("fmod", 4.0, 2.0, (0.0, 0.0, 0.0)),
    ("remainder", 4.0, 2.0, (0.0, 0.0, 0.0)), ("floor_divide", 4.0, 2.0, (0.0, 0.0, 0.0)),
    ("heaviside", 0.0, 0.5, (0.0, 0.0, 0.0)),
    ("hypot", 0.0, 0.0, (0.0, 0.0, 0.0)), ("hypot", -0.0, 0.0, (0.0, 0.0, 0.0)),
    ("multiply", 2.0, 3.0, (0.0, 1.0, 0.0)),
    # power: at a zero base the b-derivatives are 0, as d/db is there
    ("power", 0.0, 3.0, (0.0, 0.0, 0.0)), ("power", 0.0, 2.0, (2.0, 0.0, 0.0)),
    ("power", 0.0, 0.5, (-inf, 0.0, 0.0)), ("power", 0.0, 0.0, (0.0, 0.0, 0.0)),
    ("power", 0.0, 1.0, (0.0, 0.0, 0.0)), ("power", 1.0, 3.0, (6.0, 1.0, 0.0)),
    # a negative base: d/db is nan (log a), so are its derivatives; d2/da2 is not
    ("power", -1.5, 3.0, (-9.0, nan, nan)),
    # xlogy, xlog1py at a == 0: d/db is 0 there, so is d2/db2; d2/da db stays 1/b
    ("xlogy", 0.0, 2.0, (0.0, 0.5, 0.0)), ("xlog1py", 0.0, 1.0, (0.0, 0.5, 0.0)),
    ("xlogy", 0.0, 0.0, (0.0, inf, 0.0)),
    ("logaddexp", 1.0, 1.0, (0.25, -0.25, 0.25)),
    ("logaddexp2", 1.0, 1.0, (0.25 * 0.6931471805599453, -0.25 * 0.6931471805599453,
                              0.25 * 0.6931471805599453)),
    ("divide", 1.0, 0.0, (0.0, -inf, inf)), ("divide", 0.0, 0.0, (0.0, -inf, nan)),
])
def test_binary_conventions(rules, name, a, b, want):
    assert_same_floats(rules.binary(name, a, b)[3:], want, f"{name}({a}, {b})")


@pytest.mark.parametrize("x,c,want", [
    (0.0, 0.0, 0.0), (nan, 0.0, 0.0), (0.0, 1.0, 0.0), (inf, 1.0, 0.0), (0.0, 2.0, 2.0),
    (-3.0, 2.0, 2.0), (0.0, 3.0, 0.0), (-2.0, 3.0, -12.0), (0.0, 0.5, -inf),
    (0.0, -1.0, inf), (-0.0, -1.0, -inf), (-2.0, 0.5, nan), (4.0, 0.5, -0.03125),
])
def test_power_const_conventions(rules, x, c, want):
    assert_same_floats([rules.power_const(x, c)[2]], [want], f"({x}) ** {c}")


def test_gammaln_second_is_trigamma(rules):
    assert rules.unary("gammaln", 0.5)[2] == pytest.approx(math.pi ** 2 / 2, rel=4e-16)
    assert rules.unary("gammaln", 1.0)[2] == pytest.approx(math.pi ** 2 / 6, rel=4e-16)


def test_log_ndtr_second_at_zero(rules):
    # d = 2 phi(0) = sqrt(2 / pi) at 0, and the second derivative -d^2 = -2 / pi
    assert rules.unary("log_ndtr", 0.0)[2] == pytest.approx(-2.0 / math.pi, rel=1e-15)


# ----------------------------------------------------------------------------------------
# Accuracy of the special functions' second derivatives
# ----------------------------------------------------------------------------------------


def test_polygamma2_against_scipy(rules):
    special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(12)
    xs = np.concatenate([rng.uniform(0.0, 12.0, 300), 10.0 ** rng.uniform(-300, 300, 300),
                         [1e-5, 0.5, 1.0, 9.999999999999998, 10.0, 1e8]])
    for x in xs:
        got = rules.unary("digamma", float(x))[2]
        want = float(special.polygamma(2, x))
        if math.isfinite(want):
            assert got == pytest.approx(want, rel=2e-15, abs=1e-300), x


def test_polygamma2_for_negative_x_against_mpmath(rules):
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(13)
    with mpmath.workprec(120):
        for x in list(rng.uniform(-50.0, 0.0, 200)) + [-0.5, -1e-5, -1.3, -20.25]:
            x = float(x)
            want = float(mpmath.polygamma(2, x))
            got = rules.unary("digamma", x)[2]
            assert abs(got - want) <= 1e-14 * max(1.0, abs(want)), (x, got, want)


def test_log_ndtr_second_against_mpmath(rules):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workprec(300):
        for x, rel in [(-1e10, 1e-15), (-1e5, 1e-15), (-1e3, 1e-15), (-100.0, 1e-14),
                       (-40.0, 1e-14), (-20.5, 1e-14), (-20.0, 1e-11), (-10.0, 1e-12),
                       (-1.0, 1e-13), (0.5, 1e-14), (3.0, 1e-13), (8.0, 1e-12)]:
            xm = mpmath.mpf(x)
            d = mpmath.npdf(xm) / mpmath.ncdf(xm)
            want = float(-d * (xm + d))
            assert rules.unary("log_ndtr", x)[2] == pytest.approx(want, rel=rel), x


# ----------------------------------------------------------------------------------------
# heaviside and float_power on nodes (both engines)
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("a,b", [(-1.5, 0.3), (0.0, 0.3), (-0.0, 0.3), (2.0, 0.3),
                                 (nan, 0.3), (0.0, nan), (-inf, 2.0), (inf, 2.0)])
def test_heaviside_value_and_derivatives(ad, a, b):
    x, h = ad.Var(a), ad.Var(b)
    y = np.heaviside(x, h)
    assert type(y) is ad.Heaviside
    assert_same_floats([y.value, ad.heaviside(a, b)], [float(np.heaviside(a, b))] * 2)
    assert_same_floats(ad.gradients(y, [x, h]), [0.0, 1.0 if a == 0.0 else 0.0])
    assert_same_floats([x.heaviside(b).value], [y.value])


def test_float_power_is_power(ad):
    x, e = ad.Var(2.0), ad.Var(3.0)
    y = np.float_power(x, e)
    assert type(y) is ad.Pow
    assert y.value == 8.0
    assert ad.gradients(y, [x, e]) == [12.0, 8.0 * math.log(2.0)]
    z = np.float_power(x, 0.5)
    assert type(z) is ad.Pow and same_float(z.value, math.sqrt(2.0))


@pytest.mark.xfail(strict=True, raises=TypeError,
                   reason="np.heaviside and np.float_power have no object loop: an object "
                          "array of nodes needs autodiff._ufunc.dispatch to loop itself")
@pytest.mark.parametrize("ufunc", [np.heaviside, np.float_power])
def test_heaviside_and_float_power_on_object_arrays(ad, ufunc):
    xs = np.array([ad.Var(-1.0), ad.Var(0.0), ad.Var(2.0)], dtype=object)
    out = ufunc(xs, 0.5)
    assert [float(np.float64(ufunc(v.value, 0.5))) for v in xs] == [v.value for v in out]


@pytest.mark.parametrize("name,x", [
    ("tanh", 15.0), ("tanh", -25.0), ("tanh", 1e-9), ("sigmoid", 30.0), ("sigmoid", -30.0),
    ("sigmoid", 1e-12), ("expit", 45.0), ("expit", -1e-9), ("expm1", -30.0), ("expm1", -50.0),
    ("arcsin", 0.9999999999), ("arccos", -0.9999999999), ("arcsin", 1e-8),
])
def test_accurate_where_the_first_derivative_cancels(rules, name, x):
    """tanh' = 1 - y^2, sigmoid' = y (1 - y), expm1' = y + 1 and arcsin' from 1 - x^2 lose
    relative accuracy in the tails; the second derivatives do not inherit that."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workprec(200):
        f = {"tanh": mpmath.tanh, "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)),
             "expit": lambda t: 1 / (1 + mpmath.exp(-t)), "expm1": mpmath.expm1,
             "arcsin": mpmath.asin, "arccos": mpmath.acos}[name]
        want = float(mpmath.diff(f, mpmath.mpf(x), 2))
    assert rules.unary(name, x)[2] == pytest.approx(want, rel=1e-13), (name, x)
