"""Python's numeric protocol and NumPy interop of a node, as np.float64 has them (issue 10).

Oracles, all independent of the engine under test: NumPy float64 on the values (the same
expression on ``np.float64``), central differences of plain-float functions for the
derivatives, and the other engine, bit for bit.
"""
import math
import operator
import warnings

import numpy as np
import pytest

import autodiff
import autodiff.reference
from autodiff import _primitives, _ufunc
from helpers import assert_same_floats, same_float

VALUES = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.5, 0.49999999999999994, 2.7, -2.7,
          1e20, -1e20, 2.0 ** 53 + 2.0, 123456.789, 5e-324]
NONFINITE = [math.inf, -math.inf, math.nan]


def outcome(f, *args):
    """f(*args), or the type of the exception it raises."""
    try:
        return f(*args)
    except Exception as error:            # noqa: BLE001 - the type is the outcome
        return type(error)


def floats(a):
    """The elements of an array (or any sequence) as Python floats, for same_float."""
    return [float(v) for v in np.ravel(a)]


def needs(ad, *names):
    missing = [n for n in names if n not in ad.PRIMITIVES]
    assert not missing, f"primitive(s) {missing} missing from the table"


def central(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2.0 * h)


def central_vector(f, x, h=1e-6):
    """d f / d x_i of f: float64 array -> float, at x, by central differences."""
    out = np.empty(len(x))
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[i] = (f(up) - f(down)) / (2.0 * h)
    return out

# ----------------------------------------------------------------------------------------
# int(), round(), math.floor/ceil/trunc: ints as of a float; no __index__
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("convert", [int, round, math.floor, math.ceil, math.trunc],
                         ids=lambda f: f.__name__)
def test_integer_conversions_as_float64(ad, convert):
    for v in VALUES + NONFINITE:
        want = outcome(convert, np.float64(v))
        got = outcome(convert, ad.Var(v))
        assert got == want and type(got) is type(want), (convert.__name__, v, got, want)
        if isinstance(want, int):
            assert type(got) is int
    # the exceptions of inf and nan are Python's: OverflowError, ValueError
    assert outcome(convert, ad.Var(math.inf)) is OverflowError
    assert outcome(convert, ad.Var(math.nan)) is ValueError


def test_round_is_to_even_and_none_digits_is_an_int(ad):
    assert [round(ad.Var(v)) for v in (0.5, 1.5, 2.5, -0.5, -1.5)] == [0, 2, 2, 0, -2]
    got = round(ad.Var(2.5), None)
    assert got == 2 and type(got) is int


def test_a_node_is_not_an_integer(ad):
    x = ad.Var(2.0)
    assert not hasattr(x, "__index__")
    for use in (operator.index, range, lambda x: [1, 2, 3][x], lambda x: "ab" * x):
        with pytest.raises(TypeError):
            use(x)
    with pytest.raises(TypeError, match="derivative"):
        float(x)                                # still refused: it would drop the derivative


def test_round_to_digits_as_float64(ad):
    needs(ad, "rint")
    x_values = [2.675, -2.675, 1234.5, 0.125, 1e300, -1e-300, 5e-324, 0.0, 1.0 / 3.0]
    for v in x_values + NONFINITE:
        for n in (0, 1, 2, 3, 9, 10, 23, 400, -1, -2, -9, -10, -400):
            with np.errstate(all="ignore"):
                want = float(round(np.float64(v), n))
            x = ad.Var(v)
            y = round(x, n)
            assert isinstance(y, ad.Ops), (v, n, y)
            assert same_float(y.value, want), (v, n, y.value, want)
            if math.isfinite(y.value):
                assert ad.gradients(y, x) == 0.0          # piecewise constant
    with pytest.raises(TypeError):
        round(ad.Var(1.5), 2.0)                           # digits must be an integer


# ----------------------------------------------------------------------------------------
# %, //, divmod: the primitives remainder and floor_divide
# ----------------------------------------------------------------------------------------


PAIRS = [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0), (0.3, 0.1), (1.0, 0.3),
         (5.0, 5.0), (-0.0, 3.0), (1e20, 3.0), (2.0, 7.5), (5.0, math.inf), (-5.0, math.inf),
         (math.inf, 2.0), (math.nan, 2.0), (3.0, 0.0), (-3.0, 0.0)]


@pytest.mark.parametrize("symbol", ["%", "//", "divmod"])
def test_mod_floordiv_divmod_as_float64(ad, symbol):
    needs(ad, "remainder", "floor_divide")
    op = {"%": operator.mod, "//": operator.floordiv, "divmod": divmod}[symbol]
    for a, b in PAIRS:
        with np.errstate(all="ignore"):
            want = op(np.float64(a), np.float64(b))
        want = tuple(map(float, want)) if symbol == "divmod" else (float(want),)
        for left, right in ((ad.Var(a), b), (a, ad.Var(b)), (ad.Var(a), ad.Var(b)),
                            (ad.Var(a), np.float64(b)), (np.float64(a), ad.Var(b))):
            got = op(left, right)
            got = got if symbol == "divmod" else (got,)
            assert all(isinstance(g, ad.Ops) for g in got), (symbol, a, b, got)
            assert_same_floats([g.value for g in got], want, f"{a} {symbol} {b}")


def test_mod_and_floordiv_derivatives_by_central_differences(ad):
    needs(ad, "remainder", "floor_divide")
    for a, b in [(7.3, 2.0), (-7.3, 2.0), (7.3, -2.1), (0.7, 0.3)]:      # away from the jumps
        x, y = ad.Var(a), ad.Var(b)
        r, q = x % y, x // y
        assert ad.gradients(r, [x, y]) == pytest.approx(
            [central(lambda t: t % b, a), central(lambda t: a % t, b)], abs=1e-6)
        assert ad.gradients(q, [x, y]) == [0.0, 0.0]


def test_mod_floordiv_divmod_with_arrays_and_lists(ad):
    needs(ad, "remainder", "floor_divide")
    x = ad.Var(7.5)
    for other in ([2, 3], (2.0, -4.0), np.array([[2.0], [3.0]])):
        for op in (operator.mod, operator.floordiv):
            for got, want in ((op(x, other), op(np.float64(7.5), other)),
                              (op(other, x), op(other, np.float64(7.5)))):
                assert got.dtype == object and got.shape == want.shape
                assert_same_floats(floats(ad.to_vals(got)), floats(want))
        q, r = divmod(x, other)
        wq, wr = divmod(np.float64(7.5), other)
        assert_same_floats(floats(ad.to_vals(q)), floats(wq))
        assert_same_floats(floats(ad.to_vals(r)), floats(wr))
    q, r = np.divmod(x, 2.0)                 # NumPy's ufunc of a lone node
    assert same_float(q.value, 3.0) and same_float(r.value, 1.5)
    v = ad.to_var([7.5, -7.5])
    assert_same_floats(floats(ad.to_vals(np.remainder(v, 2.0))), [1.5, 0.5])
    assert_same_floats(floats(ad.to_vals(np.floor_divide(v, 2.0))), [3.0, -4.0])


def test_mod_without_the_primitive_names_it(ad):
    x = ad.Var(7.5)
    for symbol, name, op in (("%", "remainder", operator.mod),
                             ("//", "floor_divide", operator.floordiv)):
        if name in ad.PRIMITIVES:
            assert isinstance(op(x, 2.0), ad.Ops)
        else:
            for call in (lambda: op(x, 2.0), lambda: op(2.0, x), lambda: divmod(x, 2.0)):
                with pytest.raises(TypeError, match="'(remainder|floor_divide)'"):
                    call()
    for bad in ("a", None, 1j):
        for call in (lambda: x % bad, lambda: bad // x, lambda: divmod(x, bad)):
            with pytest.raises(TypeError):
                call()

# ----------------------------------------------------------------------------------------
# Comparisons and arithmetic with arrays, lists and tuples on either side
# ----------------------------------------------------------------------------------------


OTHERS = [np.array([1.0, 2.0]), [1.0, 2.0], (1, 2), [[0.5], [1.0], [3.0]],
          np.array([[1.0, -1.0], [2.0, np.nan]]), np.array(1.0), [np.float32(1.5)]]
COMPARISONS = [operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda f: f.__name__)
def test_comparisons_with_arrays_and_lists_as_float64(ad, op):
    for other in OTHERS:
        for v in (1.0, math.nan):
            for got, want in ((op(ad.Var(v), other), op(np.float64(v), other)),
                              (op(other, ad.Var(v)), op(other, np.float64(v)))):
                if np.ndim(want) == 0:
                    assert bool(got) == bool(want) and type(got) is bool, (other, got, want)
                    continue
                assert isinstance(got, np.ndarray) and got.dtype == bool, (other, got)
                np.testing.assert_array_equal(got, want)
    # an object array of nodes on the other side compares by value too
    assert (ad.Var(1.0) < ad.to_var([0.5, 2.0])).tolist() == [False, True]


def test_comparisons_keep_refusing_what_is_not_a_number(ad):
    x = ad.Var(1.0)
    for bad in ("a", None, 1j, {}, ["a"]):
        for op in COMPARISONS:
            with pytest.raises(TypeError):
                op(x, bad)


ARITHMETIC = [operator.add, operator.sub, operator.mul, operator.truediv]


@pytest.mark.parametrize("op", ARITHMETIC, ids=lambda f: f.__name__)
def test_arithmetic_with_arrays_and_lists_broadcasts_like_float64(ad, op):
    a = 1.25
    for other in OTHERS[:5]:
        for side in ("left", "right"):
            def f(t):
                return op(t, other) if side == "left" else op(other, t)
            x = ad.Var(a)
            with np.errstate(all="ignore"):
                want = outcome(f, np.float64(a))
            if isinstance(want, type):          # a list times a float: TypeError, as here
                assert want is TypeError and op is operator.mul
                with pytest.raises(TypeError):
                    f(x)
                continue
            got = f(x)
            assert isinstance(got, np.ndarray) and got.dtype == object
            assert got.shape == np.shape(want)
            assert all(isinstance(n, ad.Ops) for n in got.ravel())
            assert_same_floats(floats(ad.to_vals(got)), floats(want), f"{op.__name__} {other}")
            # derivative of each element by central differences on np.float64
            grads = np.array([ad.gradients(n, x) for n in got.ravel()])
            with np.errstate(all="ignore"):
                fd = np.ravel(central(lambda t: f(np.float64(t)), a))
            finite = np.isfinite(fd)
            np.testing.assert_allclose(grads[finite], fd[finite], rtol=1e-6, atol=1e-8)


def test_sequences_of_nodes_and_in_place_operators(ad):
    x, y = ad.Var(2.0), ad.Var(3.0)
    z = x / [1.0 / y, 1.0]
    assert ad.to_vals(z).tolist() == [6.0, 2.0]
    assert ad.gradients(z[0], [x, y]) == [3.0, 2.0]
    w = x
    w -= [1, 2]                               # as for np.float64: an array
    assert ad.to_vals(w).tolist() == [1.0, 0.0] and isinstance(x, ad.Ops)


def test_a_ragged_list_raises_as_for_float64(ad):
    # The same exception as np.float64 gives: ValueError with NumPy 2, TypeError with 1.x
    # (which makes a ragged list an object array of lists).
    def raised(make):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # NumPy 1.x: VisibleDeprecationWarning
            try:
                make(1.0) - [[1.0], [1.0, 2.0]]
            except Exception as error:              # noqa: BLE001 - compared below
                return type(error)
        return None
    assert raised(np.float64) is not None
    assert raised(ad.Var) is raised(np.float64)

# ----------------------------------------------------------------------------------------
# conjugate, real, imag: np.var, np.std, np.linalg.norm
# ----------------------------------------------------------------------------------------


def test_conjugate_real_imag(ad):
    x = ad.Var(-2.5)
    assert x.real is x
    assert x.imag == 0.0 and type(x.imag) is float
    # the identity (or, if the build has a conjugate primitive, its node): value and
    # derivative 1 either way
    for y in (x.conjugate(), np.conjugate(x), np.conj(x)):
        assert isinstance(y, ad.Ops) and same_float(y.value, -2.5)
        assert ad.gradients(y, x) == 1.0
    if "conjugate" not in ad.PRIMITIVES:
        assert x.conjugate() is x and np.conjugate(x) is x
    v = ad.to_var([1.0, -2.0])
    c = np.conjugate(v)
    assert c.dtype == object and floats(ad.to_vals(c)) == [1.0, -2.0]
    assert floats(ad.gradients(np.sum(c), v)) == [1.0, 1.0]


STATISTICS = {
    "var": np.var, "std": np.std, "norm": np.linalg.norm,
    "std_ddof1": lambda a: np.std(a, ddof=1),
    "norm_1": lambda a: np.linalg.norm(a, 1), "norm_inf": lambda a: np.linalg.norm(a, np.inf),
    "var_axis": lambda a: np.sum(np.var(a.reshape(2, 2), axis=0)),
}


@pytest.mark.parametrize("name", STATISTICS)
def test_numpy_statistics_on_object_arrays(ad, name):
    f = STATISTICS[name]
    point = np.array([1.0, -2.5, 4.0, 0.3])
    v = ad.to_var(point)
    y = f(v)
    assert isinstance(y, ad.Ops), type(y)
    assert y.value == pytest.approx(float(f(point)), rel=1e-14)
    np.testing.assert_allclose(ad.gradients(y, v), central_vector(f, point), rtol=1e-6)
    other = autodiff.reference if ad is autodiff else autodiff
    w = other.to_var(point)
    z = f(w)
    assert same_float(z.value, y.value)
    assert_same_floats(floats(other.gradients(z, w)), floats(ad.gradients(y, v)), name)

# ----------------------------------------------------------------------------------------
# nan_to_num, clip, where
# ----------------------------------------------------------------------------------------


def test_nan_to_num_of_a_lone_node(ad):
    for v in [1.5, -0.0] + NONFINITE:
        for kwargs in ({}, {"nan": -1.0, "posinf": 7.0, "neginf": -7.0}):
            x = ad.Var(v)
            got = np.nan_to_num(x, **kwargs)
            want = float(np.nan_to_num(np.float64(v), **kwargs))
            if math.isfinite(v):
                assert got is x                 # the node itself: derivative 1
            else:
                assert type(got) is float       # a constant: derivative 0
            assert same_float(got.value if isinstance(got, ad.Ops) else got, want)
            assert ad.nan_to_num(x, **kwargs) is got or type(got) is float


def test_nan_to_num_of_object_arrays(ad):
    point = np.array([1.5, math.nan, math.inf, -math.inf, -2.0])
    v = ad.to_var(point)
    # NumPy's own leaves object arrays unchanged (it only touches inexact dtypes):
    assert math.isnan(np.nan_to_num(v)[1].value)
    for kwargs in ({}, {"nan": 0.5, "posinf": 1e3, "neginf": -1e3}):
        out = ad.nan_to_num(v, **kwargs)
        assert out.dtype == object and out is not v
        assert_same_floats(floats(ad.to_vals(out)), floats(np.nan_to_num(point, **kwargs)))
        total = np.sum(out * 0.5)
        assert ad.gradients(total, v).tolist() == [0.5, 0.0, 0.0, 0.0, 0.5]
    same = ad.nan_to_num(v, copy=False)
    assert same is v and v[1] == 0.0
    # numbers and float arrays: NumPy's
    assert_same_floats(floats(ad.nan_to_num(point)), floats(np.nan_to_num(point)))
    assert ad.nan_to_num([ad.Var(math.nan), 2.0]).tolist() == [0.0, 2.0]


def test_clip_of_a_lone_node(ad):
    for v, lo, hi, slope in [(0.5, 0.0, 1.0, 1.0), (-3.0, 0.0, 1.0, 0.0), (4.0, 0.0, 1.0, 0.0),
                             (0.0, 0.0, 1.0, 0.5), (1.0, 0.0, 1.0, 0.5),
                             (2.0, None, 1.0, 0.0), (2.0, 1.0, None, 1.0)]:
        x = ad.Var(v)
        for y in (np.clip(x, lo, hi), ad.clip(x, lo, hi)):
            assert isinstance(y, ad.Ops), y
            assert same_float(y.value, float(np.clip(np.float64(v), lo, hi)))
            assert ad.gradients(y, x) == slope              # 0.5 where it touches a bound
            if slope in (0.0, 1.0):
                assert slope == pytest.approx(central(lambda t: float(np.clip(t, lo, hi)), v))
    x = ad.Var(5.0)
    assert np.clip(x, a_min=0.0, a_max=1.0).value == 1.0


def test_clip_of_object_arrays(ad):
    point = np.array([-2.0, 0.25, 0.75, 3.0])
    v = ad.to_var(point)
    for lo, hi in ((0.0, 1.0), (np.array([0.5, 0.0, 0.0, 0.0]), 2.0), (None, 0.5)):
        out = ad.clip(v, lo, hi)
        assert out.dtype == object and out.shape == v.shape
        assert_same_floats(floats(ad.to_vals(out)), floats(np.clip(point, lo, hi)))
        np.testing.assert_allclose(
            ad.gradients(np.sum(out), v),
            central_vector(lambda p: float(np.sum(np.clip(p, lo, hi))), point), atol=1e-9)
    # NumPy's clip of an object array picks by comparison: values right, derivative 1 at
    # a bound (no 0.5), and a bound that wins is a number
    picked = np.clip(v, 0.0, 1.0)
    assert_same_floats(floats(ad.to_vals(picked)), floats(np.clip(point, 0.0, 1.0)))


def test_where(ad):
    x = ad.Var(-2.0)
    y = np.where(x > 0, x, -x)
    assert isinstance(y, ad.Ops) and y.value == 2.0 and ad.gradients(y, x) == -1.0
    assert np.where(np.True_, x, 0.0) is x and np.where(False, x, 0.0) == 0.0
    point = np.array([-1.0, 2.0, 3.0])
    v = ad.to_var(point)
    out = np.where(point > 0, v * v, 0.0)
    assert ad.gradients(np.sum(out), v).tolist() == [0.0, 4.0, 6.0]


def test_other_array_functions_of_a_lone_node_are_numpy_s(ad):
    x = ad.Var(3.0)
    assert np.sum(x) is x
    assert np.max(x) is x
    assert np.asarray(x).dtype == object
    s = np.concatenate([[x], [x]])
    assert s.dtype == object and s[0] is x and s[1] is x

# ----------------------------------------------------------------------------------------
# The ufunc dispatch: unsupported ufuncs name themselves; predicates give bools
# ----------------------------------------------------------------------------------------


def _supported(ad):
    names = set(ad.PRIMITIVES) | set(_ufunc._OPERATORS)
    names |= {alias for p in _primitives.TABLE for alias in p.ufuncs}
    names |= {n for n in _ufunc.PREDICATES if hasattr(ad, n)}
    return names | set(_ufunc.COMPOSED)


def test_unsupported_ufuncs_name_themselves(ad):
    ufuncs = sorted({u for u in vars(np).values() if isinstance(u, np.ufunc)},
                    key=lambda u: u.__name__)
    unsupported = [u for u in ufuncs if u.__name__ not in _supported(ad)]
    assert any(u.__name__ == "spacing" for u in unsupported)
    x = ad.Var(0.5)
    for u in unsupported:
        args = [x] + [0.25] * (u.nin - 1)
        with pytest.raises(TypeError, match=f"autodiff has no '{u.__name__}' for nodes"):
            u(*args)
        if u.nin == 2:
            with pytest.raises(TypeError, match=f"'{u.__name__}'"):
                u(0.25, x)
    # on an object array, NumPy raises, naming the ufunc or the method it looked for
    with pytest.raises(TypeError, match="spacing"):
        np.spacing(ad.to_var([0.5]))


def test_supported_ufuncs_work_on_a_lone_node(ad):
    x = ad.Var(0.5)
    for name in ad.PRIMITIVES:
        u = getattr(np, name, None)
        if isinstance(u, np.ufunc):
            y = u(*([x] * u.nin))
            assert isinstance(y, ad.Ops), name
    assert np.equal(x, x) is True and np.equal(x, 0.5) is False   # == is by identity
    assert np.not_equal(x, 0.5) is True


@pytest.mark.parametrize("name", _ufunc.PREDICATES)
def test_predicates_give_plain_bools(ad, name):
    u = getattr(np, name)
    for v in VALUES + NONFINITE:
        got = u(ad.Var(v))
        assert type(got) is bool and got == bool(u(np.float64(v))), (name, v, got)

# ----------------------------------------------------------------------------------------
# Ufuncs that NumPy has no object loop for: a lone node goes through the node's
# __array_ufunc__; an object array raises NumPy's TypeError naming the ufunc, and the module
# function of that name (ad.logaddexp(v, w)) is the way, element by element
# ----------------------------------------------------------------------------------------

try:
    import scipy.special as scipy_special
except ImportError:                        # SciPy is optional: its ufuncs are skipped
    scipy_special = None

# (where the ufunc is, its name, autodiff's function, points checked for the value and the
# derivative, points checked for the value only: kinks, edges, non-finite)
NO_OBJECT_LOOP = [
    ("np", "logaddexp", "logaddexp", [(0.5, -1.0), (-3.0, 2.5), (40.0, -2.0)],
     [(3.0, 3.0), (-800.0, -801.0), (1e300, 1.0), (math.inf, 1.0), (-math.inf, -math.inf)]),
    ("np", "logaddexp2", "logaddexp2", [(0.5, -1.0), (-3.0, 2.5), (40.0, -2.0)],
     [(3.0, 3.0), (-1100.0, -1101.0), (math.inf, 1.0), (math.nan, 1.0)]),
    ("np", "copysign", "copysign", [(1.5, -2.0), (-1.5, 2.0), (2.5, 3.0), (-0.5, -0.25)],
     [(0.0, -1.0), (2.0, -0.0), (-2.0, 0.0), (math.inf, -1.0)]),
    ("np", "heaviside", "heaviside", [(-1.0, 0.5), (2.0, 0.5), (-0.5, 1.0)],
     [(0.0, 0.5), (-0.0, 0.25), (math.inf, 0.5), (math.nan, 0.5)]),
    ("scipy", "erf", "erf", [(-1.2,), (0.3,), (2.5,)], [(0.0,), (30.0,), (-math.inf,)]),
    ("scipy", "erfc", "erfc", [(-1.2,), (0.3,), (2.5,)], [(0.0,), (30.0,), (-math.inf,)]),
    ("scipy", "gammaln", "gammaln", [(0.5,), (3.7,), (-2.5,), (12.0,)], [(1.0,), (2.0,)]),
    ("scipy", "psi", "digamma", [(0.5,), (3.7,), (-2.5,), (12.0,)], [(1.0,)]),
    ("scipy", "expit", "expit", [(-3.0,), (0.0,), (4.0,)], [(-800.0,), (800.0,)]),
    ("scipy", "logit", "logit", [(0.1,), (0.5,), (0.9,)], [(0.0,), (1.0,)]),
    ("scipy", "ndtr", "ndtr", [(-2.0,), (0.3,), (1.5,)], [(0.0,), (-40.0,)]),
    ("scipy", "log_ndtr", "log_ndtr", [(-5.0,), (0.3,), (2.0,)], [(-30.0,), (40.0,)]),
    ("scipy", "xlogy", "xlogy", [(2.0, 0.5), (0.7, 3.0), (-1.5, 2.0)],
     [(0.0, 0.0), (0.0, 2.0), (1.0, 0.0)]),
    ("scipy", "xlog1py", "xlog1py", [(2.0, 0.5), (0.7, 3.0), (-1.5, 2.0)],
     [(0.0, -1.0), (0.0, 2.0), (1.0, -1.0)]),
]
NO_LOOP_IDS = [f"{where}.{name}" for where, name, *_ in NO_OBJECT_LOOP]


def _no_loop_case(ad, where, name, function):
    """(the ufunc, autodiff's function); skips where SciPy or the primitive is missing."""
    if where == "scipy" and scipy_special is None:
        pytest.skip("SciPy is not installed")
    if function not in ad.PRIMITIVES:
        pytest.skip(f"{function} is not in this build's table yet")
    u = getattr(np if where == "np" else scipy_special, name)
    assert isinstance(u, np.ufunc)
    # The premise: NumPy has no object loop for it (if it gains one, this test is moot).
    assert not any(t.split("->")[0] == "O" * u.nin for t in u.types), name
    return u, getattr(ad, function)


def _float64_value(u, point):
    with np.errstate(all="ignore"):
        return float(u(*map(np.float64, point)))


def _close(got, want):
    """Within 4 ulp of max(1, |want|): NumPy's and SciPy's float64 kernels need not round
    as libm does (gammaln(-2.5) = -0.0562..., near a zero, differs in the 14th ulp)."""
    if math.isnan(want) or math.isinf(want):
        return same_float(got, want)
    return abs(got - want) <= 4 * 2.0 ** -52 * max(1.0, abs(want))


def _forms(ad, point):
    """Each way to hold the operands: all nodes, and (binary) one node and one number."""
    forms = [[ad.Var(v) for v in point]]
    if len(point) == 2:
        forms += [[ad.Var(point[0]), point[1]], [point[0], ad.Var(point[1])]]
    return forms


@pytest.mark.parametrize("case", NO_OBJECT_LOOP, ids=NO_LOOP_IDS)
def test_no_object_loop_ufuncs_on_a_lone_node(ad, case):
    where, name, function, smooth, edges = case
    u, f = _no_loop_case(ad, where, name, function)
    for point in smooth + edges:
        want = _float64_value(u, point)
        for operands in _forms(ad, point):
            with np.errstate(all="ignore"):
                y = u(*operands)
            assert isinstance(y, ad.Ops), (name, point, y)
            assert same_float(y.value, f(*point)), (name, point, y.value)   # the function
            assert _close(y.value, want), (name, point, y.value, want)     # NumPy's value
    for point in smooth:
        nodes = [ad.Var(v) for v in point]
        got = ad.gradients(u(*nodes), nodes)
        for k in range(len(point)):
            def moved(t, k=k):
                p = list(point)
                p[k] = t
                return _float64_value(u, p)
            assert got[k] == pytest.approx(central(moved, point[k]), rel=1e-6, abs=1e-8), (
                name, point, k, got)


@pytest.mark.parametrize("case", NO_OBJECT_LOOP, ids=NO_LOOP_IDS)
def test_no_object_loop_ufuncs_on_object_arrays_through_the_module_function(ad, case):
    where, name, function, smooth, edges = case
    u, f = _no_loop_case(ad, where, name, function)
    points = smooth + edges
    columns = [np.array(c, dtype=np.float64) for c in zip(*points)]
    leaves = [ad.to_var(c) for c in columns]
    # NumPy's own raises, naming the ufunc
    with pytest.raises(TypeError, match=name):
        u(*leaves)
    # the module function: element by element, each element what it is of lone nodes
    with np.errstate(all="ignore"):
        out = f(*leaves)
    assert isinstance(out, np.ndarray) and out.dtype == object and out.shape == (len(points),)
    for y, point in zip(out, points):
        assert isinstance(y, ad.Ops)
        assert same_float(y.value, f(*point)), (name, point)
    smooth_leaves = [ad.to_var(np.array(c, dtype=np.float64)) for c in zip(*smooth)]
    total = np.sum(f(*smooth_leaves))
    for k, leaf in enumerate(smooth_leaves):
        want = []
        for point in smooth:
            nodes = [ad.Var(v) for v in point]
            want.append(ad.gradients(f(*nodes), nodes[k]))
        assert_same_floats(floats(ad.gradients(total, leaf)), want, f"{name} d/d{k}")
    # numbers only: the float64 array of the same values; lists and broadcasting as a ufunc
    with np.errstate(all="ignore"):
        plain = f(*[c.tolist() for c in columns])
    assert plain.dtype == np.float64
    assert_same_floats(floats(plain), [f(*p) for p in points], name)
    if len(points[0]) == 2:
        grid = f(leaves[0][:, None], columns[1][None, :])
        assert grid.shape == (len(points), len(points))
        assert same_float(grid[0, 1].value, f(points[0][0], points[1][1]))


@pytest.mark.parametrize("name", _ufunc.PREDICATES)
def test_predicates_of_object_arrays_through_the_module_function(ad, name):
    u, f = getattr(np, name), getattr(ad, name)
    values = np.array(VALUES + NONFINITE).reshape(1, -1)
    v = ad.to_var(values)
    with pytest.raises(TypeError, match=name):
        u(v)                                    # NumPy has no object loop
    for arg in (v, values, values.tolist(), [ad.Var(1.0), 2.0]):
        got = f(arg)
        want = u(np.asarray(ad.to_vals(arg), dtype=np.float64))
        assert isinstance(got, np.ndarray) and got.dtype == bool
        assert got.tolist() == want.tolist(), (name, arg)
    assert f(np.array([])).dtype == bool


def test_modf_of_a_lone_node(ad):
    for v in VALUES + NONFINITE:
        x = ad.Var(v)
        frac, whole = np.modf(x)
        assert isinstance(frac, ad.Ops) and isinstance(whole, ad.Ops)
        want = np.modf(np.float64(v))
        assert_same_floats([frac.value, whole.value], floats(want), f"modf({v})")
        finite = math.isfinite(v)
        assert ad.gradients(frac, x) == (1.0 if finite or math.isnan(v) else 0.0), v
        assert ad.gradients(whole, x) == 0.0
    # central differences of the fractional part, away from its jumps
    for v in (0.3, -2.7, 12.25):
        x = ad.Var(v)
        assert ad.gradients(np.modf(x)[0], x) == pytest.approx(
            central(lambda t: math.modf(t)[0], v), rel=1e-6)


def test_modf_of_object_arrays(ad):
    v = ad.to_var([2.5, -0.75, 3.0])
    with pytest.raises(TypeError, match="modf"):
        np.modf(v)                              # NumPy has no object loop
    frac, whole = np.frompyfunc(np.modf, 1, 2)(v)     # the documented way: the lone node's
    assert_same_floats(floats(ad.to_vals(frac)) + floats(ad.to_vals(whole)),
                       [0.5, -0.75, 0.0, 2.0, -0.0, 3.0], "modf")
    assert floats(ad.gradients(np.sum(frac * 2.0 + whole), v)) == [2.0, 2.0, 2.0]


SINC_POINTS = [0.0, -0.0, 0.5, -0.5, 1.0, -2.0, 1e-10, -1e-300, 3.3, -7.25, 1e6, 5e-324,
               3.1e-9, 3.3e-9, -3.2e-9, 1e-5, -2e-4, 3.1e-4, 3.3e-4, 1e-3, math.inf,
               -math.inf, math.nan]


def test_sinc_of_a_lone_node(ad):
    for v in SINC_POINTS:
        x = ad.Var(v)
        y = np.sinc(x)
        assert isinstance(y, ad.Ops), (v, y)
        with np.errstate(invalid="ignore"):             # NumPy's sin(inf) warns
            want = np.sinc(np.float64(v))
        if v == 0.0:
            assert y.value == 1.0 and want == 1.0
            assert same_float(ad.gradients(y, x), 0.0)  # sinc'(0) = 0, not 0 / 0
            continue
        t = math.pi * v                                  # NumPy's formula, with libm's sin
        if abs(t) < 1e-8:
            assert y.value == 1.0 == want
        elif abs(t) < 1e-3:                              # the series: within an ulp
            assert abs(y.value - math.sin(t) / t) <= 2.0 ** -53, v
        else:
            assert same_float(y.value, math.sin(t) / t if math.isfinite(v) else math.nan), v
        assert abs(y.value - want) <= 1e-15 * max(1.0, abs(want)) or same_float(
            y.value, float(want)), (v, y.value, want)
        if math.isfinite(v) and abs(v) < 1e5:
            d = ad.gradients(y, x)
            # (cos(t) - sin(t) / t) / x, or its series -pi**2 x / 3 where that cancels
            analytic = ((math.cos(t) - math.sin(t) / t) / v if abs(t) > 1e-3
                        else -math.pi ** 2 * v / 3 * (1 - t * t / 10))
            assert d == pytest.approx(analytic, rel=1e-9, abs=1e-300), v
            if abs(v) > 1e-3:
                assert d == pytest.approx(central(lambda s: float(np.sinc(s)), v, 1e-7),
                                          rel=1e-6, abs=1e-9), v


def test_sinc_of_object_arrays(ad):
    values = [0.0, 0.5, -1.5]
    v = ad.to_var(values)
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        with pytest.raises(TypeError, match="sin"):
            np.sinc(v)      # NumPy's puts a float at 0, whose object loop then fails
    else:
        # NumPy 1.x tests x == 0, which for nodes is identity (False), so it divides 0 by 0:
        # a known wrong value, documented in the README with the way that works.
        assert np.isnan(ad.to_vals(np.sinc(v))[0])
    y = np.frompyfunc(np.sinc, 1, 1)(v)               # the documented way: the lone node's
    assert_same_floats(floats(ad.to_vals(y)), [np.sinc(ad.Var(t)).value for t in values])
    assert ad.gradients(np.sum(y), v)[0] == 0.0


def test_record_replays_the_elementwise_functions_modf_and_sinc(ad):
    """A tape of the forms above replays as a fresh graph does, at other points."""
    def f(x):
        frac, whole = np.modf(x[0] * 3.0)
        return (np.sum(ad.logaddexp(x, x[::-1] * 0.5)) + np.sinc(x[1]) + frac * whole
                + np.sum(ad.erf(x) * ad.isfinite(x)))

    tape = ad.record(f, np.array([0.3, -1.2, 2.0]))
    for point in ([0.3, -1.2, 2.0], [1.7, 0.25, -0.5], [-2.2, 0.5, 0.1]):
        point = np.array(point)
        value, grad = tape.value_and_grad(point)
        want_value, want_grad = ad.value_and_grad(f)(point)
        assert same_float(value, want_value), point
        assert_same_floats(floats(grad), floats(want_grad), f"record at {point}")


def _no_loop_results(ad):
    """Values and gradients of everything above, for the engines' bit-for-bit comparison."""
    out = []
    for where, name, function, smooth, edges in NO_OBJECT_LOOP:
        if (where == "scipy" and scipy_special is None) or function not in ad.PRIMITIVES:
            continue
        u = getattr(np if where == "np" else scipy_special, name)
        for point in smooth + edges:
            nodes = [ad.Var(v) for v in point]
            with np.errstate(all="ignore"):
                y = u(*nodes)
                leaves = [ad.to_var([v, v]) for v in point]
                z = np.sum(getattr(ad, function)(*leaves))
            out += [y.value] + ad.gradients(y, nodes) + [z.value]
            out += [g for leaf in leaves for g in floats(ad.gradients(z, leaf))]
    for v in VALUES + NONFINITE + SINC_POINTS:
        x = ad.Var(v)
        frac, whole = np.modf(x)
        y = np.sinc(x)
        out += [frac.value, whole.value, y.value, ad.gradients(frac, x), ad.gradients(y, x)]
    return out


def test_engines_agree_bit_for_bit_where_numpy_has_no_object_loop():
    assert autodiff.ENGINE == "compiled"
    assert_same_floats(_no_loop_results(autodiff), _no_loop_results(autodiff.reference),
                       "compiled vs reference")

# ----------------------------------------------------------------------------------------
# The two engines agree bit for bit on all of it
# ----------------------------------------------------------------------------------------


def _mixed(ad, w):
    a = np.std(w) + np.linalg.norm(w - [0.5, 0.25, 0.0, 1.0])
    b = np.sum(ad.clip(w * 2.0, -1.0, 1.5)) + np.sum(ad.nan_to_num(w / [1.0, 0.0, 2.0, 3.0]))
    c = np.sum(np.where(w > 0.1, w * w, -w)) + np.var(w * [1, 2, 3, 4])
    return a + b + c + w[0] * (w[1] < [0.0, 1.0]).sum()


def test_engines_agree_bit_for_bit():
    rng = np.random.default_rng(10)
    for _ in range(20):
        point = rng.normal(size=4)
        results = []
        for ad in (autodiff, autodiff.reference):
            w = ad.to_var(point)
            with np.errstate(all="ignore"):
                y = _mixed(ad, w)
            results.append([y.value] + floats(ad.gradients(y, w)))
        assert autodiff.ENGINE == "compiled"
        assert_same_floats(results[0], results[1], f"at {point.tolist()}")
