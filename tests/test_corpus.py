"""Issue 10's corpus: real NumPy functions written by others, differentiated unchanged.

The functions are the benchmark classes of the PyPI package ``opfunu`` (pinned in the
``test`` extra; GPLv3): its classic named functions (``opfunu.name_based``) and its CEC
competition functions (``opfunu.cec_based``).  They are installed, never copied into this
repository; ``tests/corpus/README.md`` says where they come from.  Without ``opfunu`` the
whole module is skipped.

For every function, on both engines (the ``ad`` fixture), at a fixed point inside its
bounds (see ``point``):

* ``ad.value_and_grad(f)(x)``'s value is the function run on plain float64 (the nodes do
  the same operations in the same order, so only NumPy's own float64 kernels can differ:
  ``np.sum`` of 8 or more float64 adds pairwise, an object array sequentially, and NumPy's
  SIMD ``sin``/``exp`` need not round as libm does; ``VALUE_RTOL`` is a few ulp);
* the gradient agrees with central differences on plain float64 (``fd_gradient``:
  Richardson-extrapolated central differences, see its docstring for the step and the
  tolerance);
* a separate test runs both engines and asks for the same value and gradient, bit for bit.

Where that check cannot judge a function (``VALUE_ORACLE``, ``GRAD_ORACLE``: Weierstrass
and Katsuura sums, Rosenbrock inside Griewank, sums that cancel), another oracle does: the
value against the same function run in long double, the gradient against autograd's on the
same function (``autograd_value_and_grad``: opfunu's modules see ``autograd.numpy`` as their
``np`` for the call), each to a tolerance that the table states and explains.

No expected value comes from an engine.  Functions that fail today are marked
``xfail(strict=True, raises=...)`` with their cause (``XFAIL`` below: one line per
function, name -> cause; ``CAUSES`` gives each cause's exception type): when the engine
learns what a function needs, its test XPASSes, fails, and its line must go.

``python tests/test_corpus.py --summary`` runs the corpus on both engines outside pytest
and prints how many functions work, the failures grouped by the cause observed now, and
how that differs from ``XFAIL`` (which entries now pass, which failures are not listed).
"""
import contextlib
import functools
import importlib.resources
import importlib.util
import inspect
import io
import re
import sys
import traceback
import types
import warnings
import zlib
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

_HERE = Path(__file__).resolve().parent
OPFUNU_VERSION = "1.0.4"        # the version pinned in pyproject.toml's test extra


def _import_opfunu():
    """``import opfunu``, with a stand-in for ``pkg_resources`` where setuptools has none.

    opfunu 1.0.4 (its latest release) imports ``pkg_resources`` in
    ``opfunu/cec_based/cec.py`` and uses only ``resource_filename(package, path)``, to find
    the data files it ships.  setuptools no longer provides ``pkg_resources`` (none in
    setuptools 84; a Python 3.12+ venv has no setuptools at all), so without a stand-in
    the import fails and the corpus would be skipped.  The stand-in answers that one call
    with ``importlib.resources`` and is taken out of ``sys.modules`` again once opfunu
    holds it, so nothing else sees it.
    """
    if importlib.util.find_spec("pkg_resources") is not None:
        with warnings.catch_warnings():     # "pkg_resources is deprecated as an API"
            warnings.simplefilter("ignore")
            return pytest.importorskip("opfunu", reason="opfunu is not installed: pip install "
                                       "'.[test]' (opfunu 1.0.4 supports Python < 3.12 only)")
    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_filename = lambda package, path: str(
        importlib.resources.files(package) / path)
    sys.modules["pkg_resources"] = stand_in
    try:
        return pytest.importorskip("opfunu", reason="opfunu is not installed: pip install "
                                   "'.[test]' (opfunu 1.0.4 supports Python < 3.12 only)")
    finally:
        if sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]


opfunu = _import_opfunu()
from opfunu.benchmark import Benchmark            # noqa: E402
from opfunu.cec_based.cec import CecBenchmark     # noqa: E402

OPFUNU_DIR = Path(opfunu.__file__).resolve().parent


def _classes(package):
    """The benchmark classes that ``package`` exports, by class name."""
    return {name: cls for name, cls in inspect.getmembers(package, inspect.isclass)
            if issubclass(cls, Benchmark) and cls not in (Benchmark, CecBenchmark)
            and cls.__module__.startswith(package.__name__ + ".")}


NAME_BASED = _classes(opfunu.name_based)     # Ackley01 ... Zirilli: 125
CEC_BASED = _classes(opfunu.cec_based)       # F12005 (F1 of CEC 2005) ... F122022: 196
assert not set(NAME_BASED) & set(CEC_BASED)
CLASSES = dict(sorted({**NAME_BASED, **CEC_BASED}.items()))
NAMES = list(CLASSES)

# Functions that cannot run on plain float64 here, so there is nothing to compare with.
BROKEN_UPSTREAM = {
    "Mishra07": (not hasattr(np, "math"),
                 "its evaluate calls np.math.factorial; np.math is gone from NumPy 2.0"),
}


@contextlib.contextmanager
def _seeded_global_rng():
    """numpy.random's global generator seeded, and restored after.

    Some functions draw from it when built (CEC 2005's F5 shift, CEC 2010's permutations,
    which even reseed it) or in every call (Quartic, XinSheYang01, CEC 2005's F4 and
    F17's noise): the same draws every time, so that the float64 run, the differences
    and both engines see the same function.
    """
    state = np.random.get_state()
    np.random.seed(20240610)
    try:
        yield
    finally:
        np.random.set_state(state)


def dimension_kwargs(name):
    """How a class is built: its smallest supported dimension, where it lets us choose.

    Fixed-dimension classes keep their own.  CEC classes that list the dimensions they
    support (``dim_supported``: 2 or 10 for most) take the smallest; those that list none
    (CEC 2008 and 2010, 500 and 1000 by default) take 10, and CEC 2010's grouped functions
    groups of 2 (``m_group``; they need at least two groups).  Name-based classes of any
    dimension take 3 (to run their vector code beyond a pair), or the smallest they list.
    """
    cls = CLASSES[name]
    with contextlib.redirect_stdout(io.StringIO()):
        default = cls()
    if not default.dim_changeable:
        return {}
    supported = default.dim_supported
    if supported:
        kwargs = {"ndim": min(supported)}
    else:
        kwargs = {"ndim": 3 if name in NAME_BASED else 10}
    if "m_group" in inspect.signature(cls).parameters:
        kwargs["m_group"] = 2
    return kwargs


@functools.lru_cache(maxsize=None)
def make(name):
    """The benchmark object: built once, with the global generator seeded."""
    with _seeded_global_rng(), contextlib.redirect_stdout(io.StringIO()):
        return CLASSES[name](**dimension_kwargs(name))   # opfunu prints about dimensions


# Points are drawn in the middle 80 % of each bound (away from the edges), or of the
# box given here where the function is not finite on part of its bounds.
POINT_BOX = {
    "Deb03": (0.0, 1.0),          # x ** 0.75 is nan for x < 0 (bounds [-1, 1])
    # x1 ** t is nan for x1 < 0, and cos(t exp(x5)) oscillates with period ~1e-3 in x5
    # for x5 ~ 8 (no difference resolves it) and overflows beyond 709 (bounds [-500, 500])
    "DeVilliersGlasser02": (1.0, 5.0),
}


@functools.lru_cache(maxsize=None)
def point(name):
    """A point drawn in the middle 80 % of each bound, from a generator seeded by the name."""
    bench = make(name)
    lo = np.asarray(bench.lb, dtype=np.float64)
    hi = np.asarray(bench.ub, dtype=np.float64)
    if name in POINT_BOX:
        lo, hi = np.full_like(lo, POINT_BOX[name][0]), np.full_like(hi, POINT_BOX[name][1])
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = lo + rng.uniform(0.1, 0.9, size=bench.ndim) * (hi - lo)
    x.flags.writeable = False
    return x


def function_of(name):
    bench = make(name)

    def f(x):
        with _seeded_global_rng():
            return bench.evaluate(x)
    return f


def plain(f, x):
    with np.errstate(all="ignore"):
        return float(f(np.array(x, dtype=np.float64)))


def fd_gradient(f, x):
    """Central differences on plain float64, Richardson-extrapolated.

    Element i moves by h = 1e-5 * max(1, |x_i|) and by h / 2 (the steps are taken as the
    exact difference of the rounded points); D(h) and D(h/2) are combined as
    (4 D(h/2) - D(h)) / 3, whose truncation error is O(h^4) instead of O(h^2).  Round-off
    is about eps * |f| / h, 2e-11 |f|: well inside the tolerance of ``check``, while a
    plain central difference with a step small enough for the oscillating functions here
    would be at the limit of it.
    """
    x = np.array(x, dtype=np.float64)
    g = np.empty_like(x)
    for i in range(x.size):
        h = 1e-5 * max(1.0, abs(x[i]))

        def d(step):
            xp, xm = x.copy(), x.copy()
            xp[i] += step
            xm[i] -= step
            return (plain(f, xp) - plain(f, xm)) / (xp[i] - xm[i])
        g[i] = (4.0 * d(h / 2) - d(h)) / 3.0
    return g


VALUE_RTOL = 4 * 2.0 ** -52   # 4 ulp
GRAD_RTOL = 1e-5        # relative, per element ...
GRAD_ATOL = 1e-6        # ... plus this times max(1, max |fd|): a tiny element of a large
                        # gradient is judged against the gradient's size

_RESULTS = {}


def run(ad, name):
    """``ad.value_and_grad`` of the function at its point: computed once per engine.

    Both tests of a function on an engine (against float64, and against the other engine)
    read the same result, which halves the corpus's time; a failure is not kept, so it is
    raised again, as itself, by each test that asks.
    """
    key = (ad.__name__, name)
    if key not in _RESULTS:
        f, x = function_of(name), point(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # NumPy's on object arrays
            # Katsuura depends on x through round() only: its gradient is 0, and GRAD_ORACLE
            # checks that, so the engines' warning that it is says nothing new here.
            warnings.filterwarnings("ignore", "the output of f does not depend on argument")
            value, grad = ad.value_and_grad(f)(x)
        _RESULTS[key] = (value, np.array(grad, dtype=np.float64))
    value, grad = _RESULTS[key]
    return value, grad.copy()


@functools.lru_cache(maxsize=None)
def float64_value(name):
    """The function at its point, run on float64: computed once, for both engines."""
    return plain(function_of(name), point(name))


@functools.lru_cache(maxsize=None)
def central_differences(name):
    """``fd_gradient`` at the function's point: computed once, for both engines."""
    return fd_gradient(function_of(name), point(name))


# ---------------------------------------------------------------------------------------
# Functions the check above cannot judge, and the oracle that judges each instead.  Both
# engines agree bit for bit on all of them (``test_engines_agree_bit_for_bit``); what fails
# is the comparison, for reasons of the function, not of reverse mode:
#
# * the value: NumPy's float64 kernels (BLAS dot, pairwise sum) round otherwise than the
#   nodes' operations one by one, and where the result cancels or the function is
#   ill-conditioned, the two float64 results lie more than 4 ulp apart, both near the true
#   value.  The oracle is the same function run in long double (64-bit significand on x86;
#   where long double is float64 it is NumPy's float64 run again), to a stated tolerance.
# * the gradient: central differences cannot resolve terms that oscillate or jump far below
#   any difference step, or curvature too steep for it.  The oracle is autograd's gradient
#   of the same function (``autograd_value_and_grad``), per element to a stated relative
#   tolerance.  autograd differentiates round() as 0, as reverse mode does: between the
#   jumps, which is where the points are, that is the derivative (measured: at Katsuura's
#   point, 2^k x is at least 0.005 from a half-integer for every k <= 33; in the CEC
#   Katsuura functions, 2^k z is at least 6e-6 from the kinks of |2^k z - round(2^k z)|).
#
# The tolerances come from measuring, at the points used, how far the value and autograd's
# gradient move when every coordinate of x moves by one ulp (the float64 rounding the two
# computations may differ by): the tolerance is 5 to 10 times that, where it is larger than
# the plain round-off allowance.

class Oracle(NamedTuple):
    why: str        # why the check against float64 / central differences cannot judge
    rtol: float     # relative tolerance against the oracle, per element


CANCELS = Oracle(
    "value: the result cancels (F102005: a Rastrigin sum ~326 plus the bias -330 gives "
    "-4.17); the nodes' sequential and NumPy's pairwise float64 sums are 3.0e-14 and 1.6e-14 "
    "off the long-double value (measured)", 2e-13)
WEIERSTRASS_VALUE = Oracle(
    "value: Weierstrass terms cos(2 pi 3^k z), k <= 20: a one-ulp change of z moves the "
    "argument by ~1e-6; the value moves by up to 1e-10 relative when x moves by one "
    "ulp (F62019, where W(z) - W(0) cancels), and BLAS's dot rounds z otherwise than the "
    "nodes' sequential sum", 1e-9)
WEIERSTRASS_GRAD = Oracle(
    "gradient: Weierstrass terms oscillate with period 3^-20 ~ 3e-10 in z, far below any "
    "difference step; autograd's gradient itself moves by up to 4e-4 relative when x moves "
    "by one ulp (the k = 20 terms, 2 pi 1.5^20 ~ 2e4 each), so the BLAS-versus-sequential "
    "rounding of z puts reverse mode and autograd up to 2.2e-4 apart (measured; JAX and "
    "autograd differ by up to 1.8e-4 on the same functions)", 2e-3)
ROUNDING_GRAD = Oracle(
    "gradient: Katsuura's terms round(2^k z), k <= 32, jump every 2^-32, far below any "
    "difference step; between jumps reverse mode and autograd give the derivative (0 for "
    "round itself)", 1e-9)
STEEP_GRAD = Oracle(
    "gradient: Rosenbrock inside Griewank, |f| ~ 1e8: central differences approach "
    "autograd's only as the step shrinks (6e-3 to 2.5e-2 relative apart at 1e-5 |x|, 1e-6 to "
    "3e-6 at 1e-7 |x|); reverse mode and autograd agree to 6e-12 (measured)", 1e-9)

VALUE_ORACLE = {     # name -> value against the long-double run
    "F102005": CANCELS,             # Rastrigin + bias
    "F162013": CANCELS,             # Katsuura: a product of 10 factors
    "F202014": CANCELS,             # hybrid function, |f| ~ 1e16
    "F52019": CANCELS,              # Griewank: t1 - t2 + 1
    "F112005": WEIERSTRASS_VALUE,
    "F92013": WEIERSTRASS_VALUE,
    "F62014": WEIERSTRASS_VALUE,
    "F32015": WEIERSTRASS_VALUE,
    "F62019": WEIERSTRASS_VALUE,
}
GRAD_ORACLE = {      # name -> gradient against autograd's
    "F112005": WEIERSTRASS_GRAD,
    "F92013": WEIERSTRASS_GRAD,
    "F62014": WEIERSTRASS_GRAD,
    "F192014": WEIERSTRASS_GRAD,    # hybrid with a Weierstrass part
    "F32015": WEIERSTRASS_GRAD,
    "F112015": WEIERSTRASS_GRAD,    # hybrid with a Weierstrass part
    "F62019": WEIERSTRASS_GRAD,
    "Katsuura": ROUNDING_GRAD,      # round(2^k x) only: the gradient is 0 between jumps
    "F162013": ROUNDING_GRAD,
    "F122014": ROUNDING_GRAD,
    "F52015": ROUNDING_GRAD,
    "F152014": STEEP_GRAD,
    "F82015": STEEP_GRAD,
    "F42021": STEEP_GRAD,
}


def long_double_value(name):
    """The function at its point, run on long double: the value's oracle in VALUE_ORACLE."""
    f, x = function_of(name), point(name)
    with np.errstate(all="ignore"):
        return np.longdouble(f(np.array(x, dtype=np.longdouble)))


@contextlib.contextmanager
def _opfunu_numpy_is(module):
    """opfunu's modules see ``module`` as their global ``np`` until the block ends."""
    modules = [m for name, m in list(sys.modules.items())
               if name.startswith("opfunu.") and getattr(m, "np", None) is np]
    try:
        for m in modules:
            m.np = module
        yield
    finally:
        for m in modules:
            m.np = np


@functools.lru_cache(maxsize=None)
def autograd_value_and_grad(name):
    """autograd's value and gradient of the function at its point: GRAD_ORACLE's oracle.

    The function is opfunu's own, run unchanged with ``autograd.numpy`` in place of NumPy
    in opfunu's modules (where autograd records what the function does, as our engines do,
    but with NumPy's float64 kernels on arrays instead of nodes).  Skips the test where
    autograd is not installed (it is in the ``bench`` extra).
    """
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    f, x = function_of(name), np.array(point(name))     # built on NumPy, before the swap
    with _opfunu_numpy_is(anp), warnings.catch_warnings():
        warnings.simplefilter("ignore")     # "Output seems independent of input" (Katsuura)
        value, grad = autograd.value_and_grad(f)(x)
    return float(value), np.array(grad, dtype=np.float64)


def check(ad, name):
    """The whole check of one function on one engine: raises on any failure."""
    value, grad = run(ad, name)
    x = point(name)
    if name in VALUE_ORACLE:
        expected, (why, rtol) = long_double_value(name), VALUE_ORACLE[name]
        assert np.isfinite(expected), f"{name}: f is not finite at the test point {x!r}"
        assert abs(value - expected) <= rtol * abs(expected), (
            f"value {value!r} differs from long double {expected!r} beyond {rtol} ({why})")
    else:
        expected = float64_value(name)
        assert np.isfinite(expected), f"{name}: f is not finite at the test point {x!r}"
        assert abs(value - expected) <= VALUE_RTOL * abs(expected), (
            f"value {value!r} differs from float64 {expected!r}")
    assert np.isfinite(grad).all(), f"gradient not finite at {x!r}: {grad!r}"
    if name in GRAD_ORACLE:
        want, (why, rtol) = autograd_value_and_grad(name)[1], GRAD_ORACLE[name]
        good = np.abs(grad - want) <= rtol * np.abs(want)
        assert good.all(), (
            f"gradient differs from autograd's beyond {rtol} at {x!r}: reverse {grad!r}, "
            f"autograd {want!r} ({why})")
    else:
        fd = central_differences(name)
        scale = max(1.0, float(np.max(np.abs(fd))))
        good = np.abs(grad - fd) <= GRAD_RTOL * np.abs(fd) + GRAD_ATOL * scale
        assert good.all(), (
            f"gradient differs from central differences at {x!r}: reverse {grad!r}, "
            f"central {fd!r}")


# ---------------------------------------------------------------------------------------
# Functions that fail today.  CAUSES: each cause, as ``cause_of`` names it from the real
# exception, and the exception's type.  XFAIL: name -> cause, one line per function; when
# a primitive lands, ``--summary`` lists the lines to delete.
INPLACE = ("in-place ufunc subtract into a float64 array: its object result cannot be "
           "cast")                       # modified Schwefel: fx = np.zeros(n); fx[m] -= ...
FLOAT = "float(node) refused: a node stored into a float64 array"
MODF = "ufunc modf has no object loop"
SQRT_FLOAT = "ufunc sqrt on an object array: a Python float has no 'sqrt'"
SUBSCRIPT = "a node indexed as if it were an array"                # np.float64 allows px[mask]

CAUSES = {
    INPLACE: TypeError, FLOAT: TypeError, MODF: TypeError, SQRT_FLOAT: TypeError,
    SUBSCRIPT: TypeError,
}

XFAIL = {
    # name_based
    "Cola": SQRT_FLOAT,
    "Deceptive": FLOAT,
    # cec_based: F<k><year> is function k of CEC <year>
    "F152005": FLOAT,
    "F162005": FLOAT,
    "F172005": FLOAT,
    "F182005": FLOAT,
    "F192005": FLOAT,
    "F202005": FLOAT,
    "F212005": FLOAT,
    "F222005": FLOAT,
    "F232005": MODF,
    "F242005": FLOAT,
    "F252005": FLOAT,
    "F132013": MODF,
    "F142013": INPLACE,
    "F152013": INPLACE,
    "F222013": INPLACE,
    "F232013": INPLACE,
    "F242013": INPLACE,
    "F252013": INPLACE,
    "F262013": INPLACE,
    "F272013": INPLACE,
    "F282013": INPLACE,
    "F102014": INPLACE,
    "F112014": INPLACE,
    "F172014": INPLACE,
    "F212014": INPLACE,
    "F222014": INPLACE,
    "F242014": INPLACE,
    "F252014": INPLACE,
    "F262014": INPLACE,
    "F272014": INPLACE,
    "F282014": INPLACE,
    "F292014": INPLACE,
    "F302014": INPLACE,
    "F42015": INPLACE,
    "F102015": INPLACE,
    "F122015": INPLACE,
    "F142015": INPLACE,
    "F152015": INPLACE,
    "F72017": MODF,
    "F92017": INPLACE,
    "F112017": INPLACE,
    "F152017": INPLACE,
    "F162017": INPLACE,
    "F192017": INPLACE,
    "F212017": INPLACE,
    "F222017": INPLACE,
    "F252017": INPLACE,
    "F262017": INPLACE,
    "F282017": INPLACE,
    "F12019": SUBSCRIPT,
    "F72019": INPLACE,
    "F22020": INPLACE,
    "F52020": INPLACE,
    "F62020": INPLACE,
    "F72020": INPLACE,
    "F82020": INPLACE,
    "F22021": INPLACE,
    "F52021": INPLACE,
    "F62021": INPLACE,
    "F72021": INPLACE,
    "F82021": INPLACE,
    "F42022": MODF,
    "F72022": INPLACE,
    "F82022": INPLACE,
    "F102022": INPLACE,
    "F112022": INPLACE,
    "F122022": INPLACE,
}


def _marks(name):
    if name in BROKEN_UPSTREAM:
        condition, reason = BROKEN_UPSTREAM[name]
        return [pytest.mark.skipif(condition, reason=reason)]
    cause = XFAIL.get(name)
    if cause is None:
        return []
    return [pytest.mark.xfail(strict=True, raises=CAUSES[cause], reason=cause)]


PARAMS = [pytest.param(n, marks=_marks(n), id=n) for n in NAMES]


def _short_traceback_if_expected(expected, test, *args):
    """``test(*args)``; an expected failure (xfail) is raised with no frames below here.

    The exception itself, its type and message, is kept, and ``raises=`` checks it.  Only
    its traceback goes: pytest formats the whole traceback of every xfailed test (reading
    and parsing opfunu's and the engine's source for each frame), which took about 100 s
    for this module, five times the run itself.  An unexpected failure keeps all of it.
    (Not a context manager: contextlib puts the original traceback back.)
    """
    try:
        test(*args)
    except Exception as exc:
        if not expected:
            raise
        exc.__suppress_context__ = True
        raise exc.with_traceback(None) from None


@pytest.mark.parametrize("name", PARAMS)
def test_value_and_gradient(ad, name):
    _short_traceback_if_expected(name in XFAIL, check, ad, name)


def agree(compiled, reference, name):
    v1, g1 = run(compiled, name)
    v2, g2 = run(reference, name)
    assert np.float64(v1).tobytes() == np.float64(v2).tobytes(), (v1, v2)
    assert g1.tobytes() == g2.tobytes(), (g1, g2)


@pytest.mark.parametrize("name", PARAMS)
def test_engines_agree_bit_for_bit(compiled, reference, name):
    _short_traceback_if_expected(name in XFAIL, agree, compiled, reference, name)


def test_corpus_size_and_table():
    assert opfunu.__version__ == OPFUNU_VERSION, (
        f"opfunu {opfunu.__version__} installed; XFAIL was measured on {OPFUNU_VERSION}, "
        "the version the test extra pins")
    assert len(NAMES) >= 150
    assert set(XFAIL) <= set(NAMES), sorted(set(XFAIL) - set(NAMES))
    assert set(XFAIL.values()) <= set(CAUSES), sorted(set(XFAIL.values()) - set(CAUSES))
    assert set(CAUSES) <= set(XFAIL.values()), ("causes no function has any more: "
                                                f"{sorted(set(CAUSES) - set(XFAIL.values()))}")
    assert not set(XFAIL) & set(BROKEN_UPSTREAM)
    judged = set(VALUE_ORACLE) | set(GRAD_ORACLE)
    assert judged <= set(NAMES), sorted(judged - set(NAMES))
    assert not judged & (set(XFAIL) | set(BROKEN_UPSTREAM)), sorted(judged & set(XFAIL))


# ---------------------------------------------------------------------------------------
# --summary: the causes observed now, from the real exceptions.

def _opfunu_line(exc):
    """opfunu's source line where the exception passed last, if any."""
    for frame, lineno in reversed(list(traceback.walk_tb(exc.__traceback__))):
        path = Path(frame.f_code.co_filename).resolve()
        if OPFUNU_DIR in path.parents:
            line = path.read_text().splitlines()[lineno - 1].strip()
            return f"{path.relative_to(OPFUNU_DIR.parent)}:{lineno}: {line}"
    return ""


def cause_of(exc):
    """A short name for the cause of a failure, the same on both engines."""
    msg = str(exc)
    if isinstance(exc, AssertionError):
        for oracle in ("float64", "long double", "central differences", "autograd's"):
            if f" differs from {oracle} " in msg:
                return f"{msg.split()[0]} differs from {oracle}"
        return f"AssertionError: {msg[:80]}"
    m = re.search(r"of type (\S+) which has no callable (\w+) method", msg)
    if m:
        kind = "a Python float" if m.group(1) == "float" else "a node"
        return f"ufunc {m.group(2)} on an object array: {kind} has no '{m.group(2)}'"
    m = re.search(r"object has no attribute '(\w+)'", msg)
    if m and isinstance(exc, AttributeError):
        return f"ufunc {m.group(1)} on an object array: a node has no '{m.group(1)}'"
    m = re.search(r"NotImplemented from __array_ufunc__\(<ufunc '(\w+)'>", msg)
    if m:
        return f"ufunc {m.group(1)} on a lone node: __array_ufunc__ returns NotImplemented"
    m = re.search(r"ufunc '(\w+)' not supported for the input types", msg)
    if m:
        return f"ufunc {m.group(1)} has no object loop"
    m = re.search(r"Cannot cast ufunc '(\w+)' output from dtype\('O'\)", msg)
    if m:
        return (f"in-place ufunc {m.group(1)} into a float64 array: its object result "
                "cannot be cast")
    if msg.startswith("float() of a node"):
        return "float(node) refused: a node stored into a float64 array"
    if msg.startswith("int() argument must be"):
        return "int(node) refused"
    if "object is not subscriptable" in msg:
        return "a node indexed as if it were an array"
    m = re.match(r"unsupported operand type\(s\) for (\S+): '(\S+)' and '(\S+)'", msg)
    if m:
        return f"operator {m.group(1)} unsupported on nodes"
    msg = re.sub(r"autodiff\._engine\.", "", msg)
    return f"{type(exc).__name__}: {msg[:100]}"


def summary():
    import autodiff
    import autodiff.reference
    engines = {"compiled": autodiff, "reference": autodiff.reference}
    ok = {e: {"name_based": 0, "cec_based": 0} for e in engines}
    causes = defaultdict(list)
    observed = {}
    disagree = []
    unchecked = {}      # name -> why its oracle could not run (not installed)
    names = [n for n in NAMES if not (n in BROKEN_UPSTREAM and BROKEN_UPSTREAM[n][0])]
    for name in names:
        family = "name_based" if name in NAME_BASED else "cec_based"
        per_engine = {}
        for ename, ad in engines.items():
            try:
                check(ad, name)
                ok[ename][family] += 1
                per_engine[ename] = None
            except pytest.skip.Exception as exc:    # the oracle is not installed
                unchecked[name] = exc.msg
                per_engine[ename] = None
            except Exception as exc:      # noqa: BLE001 - classify every failure
                per_engine[ename] = (cause_of(exc), type(exc), _opfunu_line(exc))
        with contextlib.suppress(Exception):
            (v1, g1), (v2, g2) = run(autodiff, name), run(autodiff.reference, name)
            if (np.float64(v1).tobytes() != np.float64(v2).tobytes()
                    or g1.tobytes() != g2.tobytes()):
                disagree.append(name)
        if any(per_engine.values()):
            c = per_engine["compiled"] or ("(compiled passes)", None, "")
            r = per_engine["reference"] or ("(reference passes)", None, "")
            key = c[0] if c[0] == r[0] else f"compiled: {c[0]} / reference: {r[0]}"
            causes[key].append((name, c[2] or r[2]))
            observed[name] = (key, c[1] or r[1])
    total = {f: sum(1 for n in names if (n in NAME_BASED) == (f == "name_based"))
             for f in ("name_based", "cec_based")}
    print(f"corpus: {len(names)} functions from opfunu {opfunu.__version__} "
          f"(name_based {total['name_based']}, cec_based {total['cec_based']})")
    for e in engines:
        print(f"  work on {e}: {sum(ok[e].values())} "
              f"(name_based {ok[e]['name_based']}, cec_based {ok[e]['cec_based']})")
    print(f"  engines differ (value or gradient bits): {disagree or 'none'}")
    for what, table, oracle in (("values", VALUE_ORACLE, "the long-double run"),
                                ("gradients", GRAD_ORACLE, "autograd")):
        print(f"  {what} judged against {oracle} instead ({len(table)}): "
              + ", ".join(f"{n} ({o.rtol:g})" for n, o in table.items()))
    if unchecked:
        print(f"  NOT CHECKED, their oracle could not run ({len(unchecked)}): "
              f"{sorted(unchecked)}: {sorted(set(unchecked.values()))}")
    print(f"failures by cause ({len(observed)} functions):")
    for key, items in sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"  {len(items):3d}  {key}")
        for name, line in items:
            print(f"         {name:14s} {line}")
    now_pass = sorted(set(XFAIL) - set(observed) - set(unchecked))
    unlisted = sorted(set(observed) - set(XFAIL))
    moved = sorted(n for n in set(XFAIL) & set(observed) if XFAIL[n] != observed[n][0])
    if not (now_pass or unlisted or moved):
        print("XFAIL is up to date.")
        return
    print("XFAIL is out of date:")
    if now_pass:
        print(f"  now pass on both engines (delete these lines): {now_pass}")
    for n in unlisted:
        print(f"  fails but not listed: {n!r}: {observed[n][0]!r},   "
              f"# {observed[n][1].__name__}")
    for n in moved:
        print(f"  cause changed: {n!r}: listed {XFAIL[n]!r}, now {observed[n][0]!r}")


if __name__ == "__main__":
    try:
        import autodiff  # noqa: F401
    except ImportError:     # run from a source tree built in place: the package is beside tests/
        sys.path.insert(1, str(_HERE.parent))
    if "--summary" in sys.argv:
        summary()
    else:
        sys.exit(pytest.main([__file__, "-q"] + sys.argv[1:]))
