"""The special functions (erf, erfc, gammaln, digamma, expit, logit, ndtr, log_ndtr, xlogy,
xlog1py): values against SciPy, mpmath and closed forms, derivatives against central
differences, conventions at poles, the two engines bit for bit, SciPy's ufuncs on nodes.

Nothing here computes an expected value with the code under test: the oracles are SciPy,
mpmath, Python's ``math`` and closed forms.
"""
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import autodiff
from autodiff import _special, reference
from helpers import assert_same_floats, same_float

sc = pytest.importorskip("scipy.special")

inf, nan = math.inf, math.nan
UNARY = ["erf", "erfc", "gammaln", "digamma", "expit", "logit", "ndtr", "log_ndtr"]
BINARY = ["xlogy", "xlog1py"]
SPECIALS = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, -3.0, 0.5, -0.5, 0.3, 0.65, 1e-300, -1e-300,
            5e-324, -5e-324, 1e-170, -1e-170, 20.0, -20.0, -20.000000000000004, -1.0000000000000002,
            -37.5, -40.0, 1e154, 1e155, 1e308, -1e308, _special.ROOT, inf, -inf, nan]


def ulps(got, want):
    """|got - want| in units of the last place of want (finite, non-zero want only)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    keep = np.isfinite(want) & (want != 0.0)
    return np.abs(got[keep] - want[keep]) / np.spacing(np.abs(want[keep]))


def values(function, xs):
    return np.array([function(float(x)) for x in xs])


def derivative(ad, name, *point):
    leaves = [ad.Var(v) for v in point]
    node = getattr(ad, name)(*leaves)
    return node, ad.gradients(node, leaves)


RNG = np.random.default_rng(20240610)
WIDE = np.concatenate([RNG.uniform(-50.0, 50.0, 3000), RNG.uniform(-3.0, 3.0, 2000),
                       10.0 ** RNG.uniform(-300, 300, 2000) * RNG.choice([-1.0, 1.0], 2000)])

# ----------------------------------------------------------------------------------------
# The engines, bit for bit
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNARY)
def test_engines_bit_identical_unary(compiled, name):
    for x in list(WIDE[::4]) + SPECIALS:
        x = float(x)
        c, r = compiled.PRIMITIVES[name](compiled.Var(x)), reference.PRIMITIVES[name](reference.Var(x))
        assert_same_floats([c.value, c.grad[0][1]], [r.value, r.grad[0][1]], f"{name}({x!r})")
        assert_same_floats([getattr(compiled, name)(x)], [getattr(reference, name)(x)], name)


@pytest.mark.parametrize("name", BINARY)
def test_engines_bit_identical_binary(compiled, name):
    edges = [0.0, -0.0, 1.0, -1.0, -2.0, 0.5, 1e-300, 1e308, inf, -inf, nan]
    points = [(a, b) for a in edges for b in edges]
    points += list(zip(RNG.uniform(-5, 5, 500), RNG.uniform(-1.5, 20, 500)))
    for a, b in points:
        a, b = float(a), float(b)
        c = compiled.PRIMITIVES[name](compiled.Var(a), compiled.Var(b))
        r = reference.PRIMITIVES[name](reference.Var(a), reference.Var(b))
        assert_same_floats([c.value] + [d for _, d in c.grad], [r.value] + [d for _, d in r.grad],
                           f"{name}({a!r}, {b!r})")


def test_coefficient_tables_are_the_same_in_c_and_python():
    """The constants in _special.pxd are the decimals of _special.py (the same doubles)."""
    text = (Path(autodiff.__file__).parent / "_special.pxd").read_text()
    for name in ("ROOT_SERIES", "DIGAMMA_ASYMPTOTIC", "TRIGAMMA_ASYMPTOTIC"):
        body = re.search(r"AD_%s\[\d+\] = \{([^}]*)\}" % name, text).group(1)
        assert [float(v) for v in body.replace("\n", " ").split(",")] == list(
            getattr(_special, name)), name
    for name in ("PI", "PI_SQUARED", "SQRT1_2", "TWO_OVER_SQRT_PI", "INV_SQRT_2PI",
                 "HALF_LOG_2PI", "ROOT"):
        c_value = float(re.search(r'double %s "([^"]+)"' % name, text).group(1))
        assert same_float(c_value, getattr(_special, name)), name


def test_erf_is_the_c_librarys_in_both_engines(ad):
    """math.erf and math.erfc call the C library's functions (the compiled engine's)."""
    for x in WIDE[::3]:
        x = float(x)
        assert same_float(ad.erf(x), math.erf(x)) and same_float(ad.erfc(x), math.erfc(x))

# ----------------------------------------------------------------------------------------
# Values against independent oracles
# ----------------------------------------------------------------------------------------


def test_erf_erfc_against_scipy(ad):
    xs = np.concatenate([RNG.uniform(-6, 6, 3000), 10.0 ** RNG.uniform(-300, 0, 500)])
    assert ulps(values(ad.erf, xs), sc.erf(xs)).max() <= 4
    # SciPy's erfc (Cephes) is off by up to ~20 ulp at |x| > 1 and by hundreds in the right
    # tail; the C library's is within 2 ulp of mpmath (below).
    xs = RNG.uniform(-6, 5, 3000)
    np.testing.assert_allclose(values(ad.erfc, xs), sc.erfc(xs), rtol=1e-14, atol=0)
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 120
    xs = np.concatenate([RNG.uniform(-6, 27, 300), [26.5, 27.2]])
    assert ulps(values(ad.erfc, xs), [float(mpmath.erfc(float(x))) for x in xs]).max() <= 2


def test_gammaln_against_scipy_and_math(ad):
    xs = np.concatenate([RNG.uniform(-50, 50, 3000), 10.0 ** RNG.uniform(-300, 300, 1000)])
    got = values(ad.gammaln, xs)
    # SciPy's and CPython's lgamma lose relative accuracy near the zeros of log|Gamma|
    # (1, 2, and between the negative poles); the C library's keeps it (see mpmath below).
    np.testing.assert_allclose(got, sc.gammaln(xs), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got, [math.lgamma(x) for x in xs], rtol=1e-13, atol=1e-13)


def test_digamma_against_scipy_within_a_few_ulp(ad):
    """The accuracy the README states: at most 3 ulp from SciPy for x > 0."""
    xs = np.concatenate([RNG.uniform(0, 12, 5000), RNG.uniform(0, 50, 2000),
                         10.0 ** RNG.uniform(-300, 300, 2000), [_special.ROOT, 1.0, 2.0, 10.0]])
    assert ulps(values(ad.digamma, xs), sc.digamma(xs)).max() <= 3
    # x < 0 by reflection: a few ulp except near the zeros between the poles, where the
    # value goes to 0 and both SciPy's and ours lose relative (not absolute) accuracy; and
    # near the poles, where SciPy's loses up to 1e-11 relative (ours: mpmath test below).
    xs = -RNG.uniform(0, 50, 5000)
    got, want = values(ad.digamma, xs), sc.digamma(xs)
    away = np.abs(want) < 100.0
    np.testing.assert_allclose(got[away], want[away], rtol=1e-13, atol=1e-13)
    assert np.median(ulps(got, want)) <= 1


def test_digamma_and_trigamma_against_mpmath(ad):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 120
    xs = np.concatenate([RNG.uniform(0, 12, 400), 10.0 ** RNG.uniform(-150, 300, 200),
                         RNG.uniform(-30, 0, 200)])
    xs = np.concatenate([xs, -np.arange(1, 30) + 1e-6, -np.arange(1, 30) - 3e-6])  # poles
    for x in xs:
        x = float(x)
        node, d = derivative(ad, "digamma", x)
        true_psi = float(mpmath.digamma(x))
        true_psi1 = float(mpmath.psi(1, x))
        assert ulps([d[0]], [true_psi1]).max() <= 6, x
        if x > 0:
            assert ulps([node.value], [true_psi]).max() <= 3, x
        else:
            assert abs(node.value - true_psi) <= 1e-14 * max(1.0, abs(true_psi)), x


def test_digamma_closed_forms(ad):
    euler = 0.5772156649015329
    assert ad.digamma(1.0) == pytest.approx(-euler, rel=2e-16)
    assert ad.digamma(2.0) == pytest.approx(1.0 - euler, rel=4e-16)
    assert ad.digamma(0.5) == pytest.approx(-euler - 2.0 * math.log(2.0), rel=2e-16)
    assert ad.digamma(-0.5) == pytest.approx(2.0 - euler - 2.0 * math.log(2.0), rel=4e-16)
    # trigamma(1) = pi^2 / 6, trigamma(1/2) = pi^2 / 2 (the derivative of digamma).
    assert derivative(ad, "digamma", 1.0)[1][0] == pytest.approx(math.pi ** 2 / 6, rel=4e-16)
    assert derivative(ad, "digamma", 0.5)[1][0] == pytest.approx(math.pi ** 2 / 2, rel=4e-16)
    # Near its positive zero the relative error stays small (the Taylor series there).
    assert abs(ad.digamma(_special.ROOT)) < 1e-16


def test_expit_logit_xlogy_against_scipy(ad):
    xs = RNG.uniform(-750, 750, 3000)
    assert ulps(values(ad.expit, xs), sc.expit(xs)).max() <= 1
    ps = np.concatenate([RNG.uniform(0, 1, 3000), [0.3, 0.65, 0.5, 1e-300]])
    assert ulps(values(ad.logit, ps), sc.logit(ps)).max() <= 1
    a, b = RNG.uniform(-5, 5, 2000), RNG.uniform(0, 100, 2000)
    got = np.array([ad.xlogy(float(u), float(v)) for u, v in zip(a, b)])
    assert ulps(got, sc.xlogy(a, b)).max() <= 1
    b = RNG.uniform(-0.999, 100, 2000)
    got = np.array([ad.xlog1py(float(u), float(v)) for u, v in zip(a, b)])
    assert ulps(got, sc.xlog1py(a, b)).max() <= 4


def test_expit_is_not_sigmoid_bit_for_bit(ad):
    """Why expit is its own primitive: sigmoid's e/(1+e) for x < 0 rounds differently."""
    xs = RNG.uniform(-30, 0, 1000)
    assert any(ad.expit(float(x)) != ad.sigmoid(float(x)) for x in xs)


def test_ndtr_and_log_ndtr_against_scipy(ad):
    xs = RNG.uniform(-8, 8, 3000)
    np.testing.assert_allclose(values(ad.ndtr, xs), sc.ndtr(xs), rtol=1e-14, atol=0)
    xs = np.concatenate([RNG.uniform(-60, 40, 3000), -(10.0 ** RNG.uniform(1, 150, 1000)),
                         [-20.0, -20.000000000000004, -1.0, 6.0]])
    got, want = values(ad.log_ndtr, xs), sc.log_ndtr(xs)
    # atol: right of ~37, log ndtr(x) = -ndtr(-x) is subnormal here and -0.0 in SciPy.
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)
    # Far left tail: log ndtr(x) ~ -x^2/2 - log(-x) - log(2 pi)/2, finite where ndtr is 0.
    assert ad.ndtr(-40.0) == 0.0
    assert ad.log_ndtr(-40.0) == pytest.approx(-804.6084420137538, rel=1e-15)   # SciPy's
    assert ad.log_ndtr(-1e10) == pytest.approx(sc.log_ndtr(-1e10), rel=1e-15)

# ----------------------------------------------------------------------------------------
# Derivatives against central differences at smooth points
# ----------------------------------------------------------------------------------------

SMOOTH = {
    "erf": [-2.5, -0.3, 0.0, 0.7, 3.0],
    "erfc": [-2.5, -0.3, 0.0, 0.7, 3.0],
    "gammaln": [0.1, 1.0, 1.5, 2.0, 7.3, 40.0, -0.5, -2.7, -10.2],
    "digamma": [0.1, 1.0, 1.46, 3.0, 9.9, 10.1, 60.0, -0.5, -2.7, -10.2],
    "expit": [-30.0, -2.0, 0.0, 1.5, 20.0],
    "logit": [0.01, 0.3, 0.5, 0.65, 0.99],
    "ndtr": [-6.0, -1.0, 0.0, 0.5, 4.0],
    "log_ndtr": [-100.0, -30.0, -20.5, -19.5, -5.0, -1.0, 0.0, 3.0, 8.0],
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_derivatives_against_central_differences(ad, name):
    function = getattr(ad, name)
    for x in SMOOTH[name]:
        h = 1e-6 * max(1.0, abs(x)) if name != "logit" else 1e-7
        numeric = (function(x + h) - function(x - h)) / (2 * h)
        assert derivative(ad, name, x)[1][0] == pytest.approx(numeric, rel=1e-6, abs=1e-9), x


@pytest.mark.parametrize("name", BINARY)
def test_binary_derivatives_against_central_differences(ad, name):
    function = getattr(ad, name)
    for a, b in [(1.5, 2.0), (-0.7, 0.6), (3.0, 7.5), (0.2, 1e3)]:
        _, (da, db) = derivative(ad, name, a, b)
        h = 1e-6
        assert da == pytest.approx((function(a + h, b) - function(a - h, b)) / (2 * h), rel=1e-6)
        assert db == pytest.approx((function(a, b + h) - function(a, b - h)) / (2 * h), rel=1e-6)


def test_log_ndtr_derivative_is_the_inverse_mills_ratio_in_the_tail(ad):
    """d/dx log ndtr(x) = pdf/cdf ~ -x far left, where both pdf and cdf underflow."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 200
    for x in (-5.0, -19.9, -20.1, -40.0, -1e3, -1e8):
        true = mpmath.npdf(x) / mpmath.ncdf(x)
        assert derivative(ad, "log_ndtr", x)[1][0] == pytest.approx(float(true), rel=1e-13), x
    assert derivative(ad, "log_ndtr", -inf)[1][0] == inf
    assert derivative(ad, "log_ndtr", inf)[1][0] == 0.0

# ----------------------------------------------------------------------------------------
# Conventions at poles and edges (the table's notes, README)
# ----------------------------------------------------------------------------------------


def test_gammaln_and_digamma_at_poles(ad):
    for n in (-1.0, -2.0, -7.0, -1e20):
        node, (d,) = derivative(ad, "gammaln", n)
        assert node.value == inf and math.isnan(d)          # the sides go to +-inf
        node, (d,) = derivative(ad, "digamma", n)
        assert math.isnan(node.value) and d == inf          # trigamma -> +inf on both sides
    for zero, sign in ((0.0, -1.0), (-0.0, 1.0)):
        node, (d,) = derivative(ad, "gammaln", zero)
        assert node.value == inf and d == sign * inf       # digamma(+-0) = -+inf
        node, (d,) = derivative(ad, "digamma", zero)
        assert node.value == sign * inf and d == inf
    assert ad.gammaln(inf) == inf and ad.gammaln(-inf) == inf   # C's lgamma (SciPy: -inf)
    node, (d,) = derivative(ad, "digamma", inf)
    assert node.value == inf and d == 0.0
    assert math.isnan(ad.digamma(-inf)) and math.isnan(ad.digamma(nan))


def test_logit_edges(ad):
    for x, value in ((0.0, -inf), (1.0, inf)):
        node, (d,) = derivative(ad, "logit", x)
        assert node.value == value and d == inf
    for x in (-0.5, 1.5, nan):
        assert math.isnan(ad.logit(x))


def test_xlogy_and_xlog1py_at_zero(ad):
    for name, log in (("xlogy", math.log), ("xlog1py", math.log1p)):
        for b in (0.5, 3.0, 1e300):
            node, (da, db) = derivative(ad, name, 0.0, b)
            assert same_float(node.value, 0.0) and da == log(b) and same_float(db, 0.0)
        edge = 0.0 if name == "xlogy" else -1.0    # log(edge) = -inf
        node, (da, db) = derivative(ad, name, 0.0, edge)
        assert node.value == 0.0 and da == -inf and db == 0.0
        node, (da, db) = derivative(ad, name, 0.0, inf)
        assert node.value == 0.0 and da == inf and db == 0.0
        assert math.isnan(getattr(ad, name)(0.0, nan))          # as SciPy
        assert same_float(getattr(ad, name)(0.0, -5.0), 0.0)    # SciPy too: 0 * log(-5) = 0
        assert getattr(ad, name)(0.0, -5.0) == getattr(sc, name)(0.0, -5.0)
        assert getattr(ad, name)(0.0, 0.0) == getattr(sc, name)(0.0, 0.0)

# ----------------------------------------------------------------------------------------
# Forms: module functions, methods, aliases, SciPy's ufuncs, record
# ----------------------------------------------------------------------------------------

SCIPY_NAMES = {"erf": "erf", "erfc": "erfc", "gammaln": "gammaln", "digamma": "psi",
               "expit": "expit", "logit": "logit", "ndtr": "ndtr", "log_ndtr": "log_ndtr",
               "xlogy": "xlogy", "xlog1py": "xlog1py"}


@pytest.mark.parametrize("name", UNARY + BINARY)
def test_scipy_ufuncs_on_nodes(ad, name):
    cls = ad.PRIMITIVES[name]
    for ufunc in {getattr(sc, name, None), getattr(sc, SCIPY_NAMES[name])} - {None}:
        point = (0.7,) if name in UNARY else (0.7, 2.5)
        leaves = [ad.Var(v) for v in point]
        node = ufunc(*leaves)
        assert type(node) is cls
        want = cls(*[ad.Var(v) for v in point])
        assert_same_floats([node.value] + [d for _, d in node.grad],
                           [want.value] + [d for _, d in want.grad], name)
        assert node.value == pytest.approx(float(ufunc(*point)), rel=1e-14)
        if name in BINARY:                               # a number operand is a constant
            x = ad.Var(0.7)
            assert [c for c, _ in ufunc(x, 2.5).grad] == [x]
            assert [c for c, _ in ufunc(np.float64(0.7), x).grad] == [x]


def test_digamma_and_gammaln_scipy_aliases(ad):
    x = ad.Var(3.5)
    assert type(sc.psi(x)) is ad.Digamma and type(sc.digamma(x)) is ad.Digamma
    assert type(sc.gammaln(x)) is ad.Gammaln
    assert type(x.digamma()) is ad.Digamma and type(x.xlogy(2.0)) is ad.Xlogy


@pytest.mark.xfail(strict=True, reason="SciPy's ufuncs have no object loop: an object array of "
                   "nodes needs the dispatch (autodiff/_ufunc.py) to apply them elementwise")
def test_scipy_ufuncs_on_object_arrays(ad):
    v = ad.to_var([0.5, 1.5])
    out = sc.erf(v)
    assert [type(o) for o in out] == [ad.Erf, ad.Erf]


def test_object_arrays_through_module_functions(ad):
    v = ad.to_var([0.2, 0.5, 0.9])
    y = np.sum(np.frompyfunc(ad.logit, 1, 1)(v)) + np.sum(np.frompyfunc(ad.gammaln, 1, 1)(v))
    g = ad.gradients(y, v)
    expect = [1 / (p * (1 - p)) + float(sc.digamma(p)) for p in (0.2, 0.5, 0.9)]
    np.testing.assert_allclose(g, expect, rtol=1e-14)


def test_record_replays_special_functions(ad):
    def f(x, y):
        return (ad.gammaln(x) + ad.digamma(x) * ad.erf(y) - ad.log_ndtr(-x * y)
                + ad.xlogy(x, y) + ad.xlog1py(y, x) + ad.logit(ad.expit(y)) + ad.ndtr(y)
                + ad.erfc(x))
    tape = ad.record(f, 2.5, 0.3, argnums=(0, 1))
    for x, y in [(2.5, 0.3), (0.7, -1.2), (30.0, 2.0), (-1.5, 0.9)]:
        value, grads = tape.value_and_grad(x, y)
        want_value, want_grads = ad.value_and_grad(f, argnums=(0, 1))(x, y)
        assert_same_floats([value, *grads], [want_value, *want_grads], f"({x}, {y})")


def test_likelihood_gradient_against_closed_forms(ad):
    """A Poisson and a probit log-likelihood: the gradient against its closed form."""
    k = [0.0, 3.0, 7.0]
    z = [-2.0, 0.5, 1.3]

    def loglik(lam, beta):
        poisson = sum(ad.xlogy(ki, lam) - lam - ad.gammaln(ki + 1.0) for ki in k)
        probit = sum(ad.log_ndtr(beta * zi) for zi in z)
        return poisson + probit

    dlam, dbeta = ad.grad(loglik, argnums=(0, 1))(2.5, 0.4)
    assert dlam == pytest.approx(sum(ki / 2.5 - 1.0 for ki in k), rel=1e-14)
    mills = [zi * math.exp(-0.5 * (0.4 * zi) ** 2) / math.sqrt(2 * math.pi) / sc.ndtr(0.4 * zi)
             for zi in z]
    assert dbeta == pytest.approx(sum(mills), rel=1e-13)
