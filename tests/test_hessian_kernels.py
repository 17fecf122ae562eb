"""The Hessian lane kernels (``_sweeps.pxi``: fixed widths 1, 2, 4, 8, 16, chunks and the
narrower kernel for the remainder) and the prepared sparsity plans (``_args.PreparedPlan``).

Oracles: the reference engine (bit for bit), ``tape.hvp`` along each basis vector (a Hessian
column is bit for bit that hvp, as the docstrings promise), analytic Hessians, and SciPy's
own ``csr_array`` constructor for the sparse results.
"""
import math

import numpy as np
import pytest

import autodiff
import autodiff.reference
from autodiff import _args
from helpers import bits

ENGINES = (autodiff, autodiff.reference)


def mixed(ad):
    """Every kind of instruction the lane kernels tell apart: unary, x ** c (POWC), a
    general binary op with both, only the first and only the second operand active,
    multiply with both / one operand active and of a slot by itself, add and subtract
    with constants, and a non-differentiated input y (an inactive input slot)."""
    P = ad.PRIMITIVES

    def f(x, y):
        n = len(x)
        total = 0.0
        for i in range(n):
            a, b, c = x[i], x[(i + 1) % n], x[(3 * i + 2) % n]
            total = total + P["sin"](a) * b
            total = total - a / (1.5 + b * b)
            total = total + 2.0 * c ** 3.0
            total = total + P["arctan2"](a, y[i % len(y)])
            total = total + P["hypot"](y[0], c)
            total = total + a * a - (c - 0.5)
            total = total + P["exp"](0.1 * a) ** b
        return total
    return f


def mixed_point(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 1.3, n), rng.uniform(0.5, 1.5, 3)


def rosenbrock(x):
    total = 0.0
    for i in range(len(x) - 1):
        a = x[i]
        d = x[i + 1] - a * a
        e = 1.0 - a
        total = total + 100.0 * d * d + e * e
    return total


def rosenbrock_hessian(x):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] = H[i + 1, i] = -400.0 * x[i]
        H[i + 1, i + 1] += 200.0
    return H


# Sizes that reach every kernel width and chunking: one narrow kernel (1, 2, 3 -> 4, 5 ->
# 8, 16), one full chunk of 16 plus a remainder of each width (17, 18, 20, 24, 31), several
# chunks (40, 70).
SIZES = [1, 2, 3, 5, 8, 16, 17, 18, 20, 24, 31, 40, 70]


@pytest.mark.parametrize("n", SIZES)
def test_dense_columns_are_the_hvps_and_the_reference(n):
    x, y = mixed_point(n, seed=n)
    tapes = [ad.record(mixed(ad), x, y) for ad in ENGINES]
    H = [t.hessian(x, y) for t in tapes]
    assert bits(H[0]) == bits(H[1])
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        assert bits(np.ascontiguousarray(H[0][:, j])) == bits(tapes[0].hvp(x, y, e))
    # and against central differences of the gradient
    g = lambda z: tapes[0].grad(z, y)
    fd = np.empty((n, n))
    for j in range(n):
        h = 1e-6
        e = np.zeros(n)
        e[j] = h
        fd[:, j] = (g(x + e) - g(x - e)) / (2 * h)
    np.testing.assert_allclose(H[0], fd, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("n", [2, 3, 16, 19, 40])
def test_rosenbrock_dense_every_width(n):
    x = np.linspace(-1.2, 1.4, n)
    H = [ad.record(rosenbrock, x).hessian(x) for ad in ENGINES]
    assert bits(H[0]) == bits(H[1])
    want = rosenbrock_hessian(x)
    np.testing.assert_allclose(H[0], want, rtol=1e-13, atol=1e-13 * np.abs(want).max())


def test_tuple_argnums_and_a_number_argument():
    """Directions from two arguments (a number and an array), 1 + 20 = 21 columns: a chunk
    of 16 and a remainder of 5 (the 8-lane kernel)."""
    def f(ad):
        def g(s, x):
            return s * s * np.sum(x ** 3.0) + ad.PRIMITIVES["log"](s) * x[0] * x[-1]
        return g
    x = np.linspace(0.3, 2.0, 20)
    results = [ad.record(f(ad), 1.7, x, argnums=(0, 1)).hessian(1.7, x) for ad in ENGINES]
    assert bits(results[0]) == bits(results[1])
    (hss, hsx), (hxs, hxx) = results[0]
    np.testing.assert_allclose(hss, 2.0 * np.sum(x ** 3) - x[0] * x[-1] / 1.7 ** 2,
                               rtol=1e-13)
    want_sx = 6.0 * 1.7 * x ** 2
    want_sx[0] += x[-1] / 1.7
    want_sx[-1] += x[0] / 1.7
    np.testing.assert_allclose(hsx, want_sx, rtol=1e-13)
    np.testing.assert_allclose(hxs, want_sx, rtol=1e-13)   # symmetric up to rounding
    want_xx = np.diag(6.0 * 1.7 ** 2 * x)
    want_xx[0, -1] = want_xx[-1, 0] = math.log(1.7)
    np.testing.assert_allclose(hxx, want_xx, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("point", [
    [0.0, 0.0, 1.0],            # sqrt'' and the adjoints through it are inf: nan entries
    [-0.0, 2.0, 0.0],           # signed zeros
    [1e308, 1e308, 3.0],        # overflow: inf tangents
    [float("nan"), 1.0, 2.0],
    [float("inf"), 0.5, -1.0],
])
def test_special_values_bit_for_bit(point):
    """inf, nan and signed zeros take the same route through the lane kernels as through
    the reference and the scalar hvp."""
    P_ = lambda ad: ad.PRIMITIVES

    def f(ad):
        def g(x):
            s = P_(ad)["sqrt"](x[0] * x[1])
            return s * x[2] + x[0] * x[0] * x[1] + P_(ad)["exp"](x[2]) / (x[1] + 1.0) - x[2]
        return g
    x = np.array(point)
    tapes = [ad.record(f(ad), np.array([0.5, 0.7, 0.9])) for ad in ENGINES]
    H = [t.hessian(x) for t in tapes]
    assert bits(H[0]) == bits(H[1])
    for j in range(3):
        e = np.zeros(3)
        e[j] = 1.0
        assert bits(np.ascontiguousarray(H[0][:, j])) == bits(tapes[0].hvp(x, e))
        assert bits(tapes[1].hvp(x, e)) == bits(tapes[0].hvp(x, e))


def test_inactive_and_constant_tapes():
    """A Hessian with no instruction reaching the differentiated input, and one over an
    input that is the output itself: zeros, in both engines."""
    H = [ad.record(lambda x, y: y * y * 2.0, 2.0, 3.0).hessian(2.0, 3.0) for ad in ENGINES]
    assert H == [0.0, 0.0] and bits(H[0]) == bits(H[1])
    H = [ad.record(lambda x: x[0] + 0.0, np.array([1.0, 2.0])).hessian(np.array([1.0, 2.0]))
         for ad in ENGINES]
    assert bits(H[0]) == bits(H[1]) and not H[0].any()


# --------------------------------------------------------------------------------------
# Sparse Hessians: compressed sweeps of several colours and chunks, prepared plans
# --------------------------------------------------------------------------------------

def banded(width):
    """sum_i prod of x[i .. i + width]: a band of half-width `width` (2 width + 1 colours)."""
    def f(x):
        total = 0.0
        for i in range(len(x) - width):
            term = x[i]
            for k in range(1, width + 1):
                term = term * x[i + k]
            total = total + term
        return total
    return f


@pytest.mark.parametrize("width", [1, 3, 9])      # 9: more than 16 colours, two chunks
def test_sparse_banded_against_dense_and_reference(width):
    pytest.importorskip("scipy.sparse")
    n = 30
    x = np.linspace(0.5, 1.5, n)
    f = banded(width)
    tapes = [ad.record(f, x) for ad in ENGINES]
    plan = tapes[0]._plan("hessian")
    assert plan.n_colours > width and (width < 9 or plan.n_colours > 16)
    S = [t.sparse_hessian(x) for t in tapes]
    assert bits(S[0].data) == bits(S[1].data)
    dense = tapes[0].hessian(x)
    # each stored value is bit for bit the dense H[i, j], or H[j, i] where the symmetric
    # colouring reads the entry from its mirror image
    rows = np.repeat(np.arange(n), np.diff(S[0].indptr))
    for i, j, value in zip(rows, S[0].indices, S[0].data):
        assert value == dense[i, j] or value == dense[j, i]
    np.testing.assert_allclose(S[0].toarray(), dense, rtol=1e-14)
    assert (np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= width)[dense != 0].all()


def test_sparse_results_are_independent_csr_arrays():
    """Each result owns its data and index arrays (the plan's template is never handed
    out), and equals what SciPy's own constructor makes of the same values."""
    sparse = pytest.importorskip("scipy.sparse")
    n = 12
    x = np.linspace(-1.0, 1.3, n)
    tape = autodiff.record(rosenbrock, x)
    first = tape.sparse_hessian(x)
    plan = tape._plan("hessian")
    built = sparse.csr_array((first.data.copy(), plan.indices, plan.indptr), shape=(n, n))
    assert type(first) is type(built)
    np.testing.assert_array_equal(first.indptr, built.indptr)
    np.testing.assert_array_equal(first.indices, built.indices)
    np.testing.assert_array_equal(first.toarray(), built.toarray())
    assert first.has_canonical_format
    np.testing.assert_allclose(first.toarray(), rosenbrock_hessian(x), rtol=1e-13,
                               atol=1e-12)
    second = tape.sparse_hessian(x)
    for name in ("data", "indices", "indptr"):
        assert not np.shares_memory(getattr(first, name), getattr(second, name))
    # Mutating one result in place (eliminate_zeros rewrites indices and indptr) leaves
    # the next results whole.
    first.data[:] = 0.0
    first.eliminate_zeros()
    assert first.nnz == 0
    third = tape.sparse_hessian(x)
    np.testing.assert_array_equal(third.toarray(), second.toarray())
    assert third.nnz == 3 * n - 2
    pattern = tape.hessian_sparsity()
    assert pattern.nnz == 3 * n - 2 and (pattern.data == 1.0).all()


class _Fake:
    def __init__(self, plan):
        self.plan = plan

    def hessian_plan(self, code, base, n_inputs, root, columns):
        return self.plan


class _Plan:
    def __init__(self, n, **changes):
        self.shape = (n, n)
        self.indptr = np.arange(n + 1, dtype=np.int64)
        self.indices = np.arange(n, dtype=np.int64)
        self.colours = np.zeros(n, dtype=np.int64)
        self.n_colours = 1
        self.seed = np.ones((n, 1))
        self.take = np.arange(n, dtype=np.int64)
        for k, v in changes.items():
            setattr(self, k, v)


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
@pytest.mark.parametrize("changes", [
    {"take": np.array([0, 1, 4, 3], dtype=np.int64)},     # reads outside (4 rows, 1 colour)
    {"take": np.array([0, 1, -1, 3], dtype=np.int64)},
    {"seed": np.ones((3, 1))},                              # rows != directions
    {"shape": (4, 5)},
    {"indices": np.arange(3, dtype=np.int64)},
])
def test_bad_plans_are_refused(ad, changes, monkeypatch):
    """A plan that would make the compiled gather read outside its buffer is refused (the
    same ValueError in both engines), before any sweep."""
    import sys
    fake = _Fake(_Plan(4, **changes))
    monkeypatch.setitem(sys.modules, "autodiff._sparsity", fake)
    monkeypatch.setattr(autodiff, "_sparsity", fake, raising=False)
    x = np.array([0.1, 0.2, 0.3, 0.4])
    tape = ad.record(lambda z: np.sum(z * z), x)
    with pytest.raises(ValueError, match="sparsity plan"):
        tape.sparse_hessian(x, out=np.empty(4))


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_diagonal_plan_from_a_fake(ad, monkeypatch):
    """A one-colour diagonal plan (x * x summed): the compressed column is the diagonal."""
    import sys
    fake = _Fake(_Plan(4))
    monkeypatch.setitem(sys.modules, "autodiff._sparsity", fake)
    monkeypatch.setattr(autodiff, "_sparsity", fake, raising=False)
    x = np.array([0.1, 0.2, 0.3, 0.4])
    tape = ad.record(lambda z: np.sum(z * z * z), x)
    out = np.empty(4)
    assert tape.sparse_hessian(x, out=out) is out
    np.testing.assert_allclose(out, 6.0 * x, rtol=1e-15)


def test_the_copier_falls_back_to_copy_copy():
    class WithHook:
        def __init__(self):
            self.a = [1]
            self.copied = False

        def __copy__(self):
            other = WithHook()
            other.copied = True
            return other

    class Plain:
        def __init__(self):
            self.a = [1]
    made = _args._copier(WithHook())()
    assert made.copied
    obj = Plain()
    copy = _args._copier(obj)()
    assert type(copy) is Plain and copy is not obj and copy.a is obj.a
    assert copy.__dict__ is not obj.__dict__
