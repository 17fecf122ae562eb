"""tape.vmap: many points at once, on both engines (issue 13).

Oracles: N single calls of the same tape (bit for bit), the other engine's batch (bit for
bit), and the analytic derivatives of the tutorial's function.
"""
import pickle
import threading

import numpy as np
import pytest

import autodiff
import autodiff.reference
from autodiff import _primitives

from helpers import SPECIAL, assert_same_floats, points


def tutorial(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)


def flat(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).reshape(-1)]


def point(args, axes, i):
    return [a if axis is None else a[i] for a, axis in zip(args, axes)]


def assert_batch_is_single_calls(tape, args, in_axes=0, workers=1):
    """The batched value_and_grad, grad and __call__ equal N single calls, bit for bit."""
    view = tape.vmap(in_axes)
    axes = view.in_axes
    n = next(len(a) for a, axis in zip(args, axes) if axis is not None)
    values, grads = view.value_and_grad(*args, workers=workers)
    assert values.dtype == np.float64 and values.shape == (n,)
    single = not isinstance(tape.argnums, tuple)
    grads_t = (grads,) if single else grads
    want_v, want_g = [], [[] for _ in grads_t]
    for i in range(n):
        v, g = tape.value_and_grad(*point(args, axes, i))
        want_v.append(v)
        for j, gj in enumerate((g,) if single else g):
            want_g[j].extend(flat(gj))
    assert_same_floats(flat(values), want_v, "values")
    for j, g in enumerate(grads_t):
        assert g.dtype == np.float64 and g.shape[0] == n
        assert_same_floats(flat(g), want_g[j], f"grads[{j}]")
    assert_same_floats(flat(view(*args, workers=workers)), want_v, "__call__")
    again = view.grad(*args, workers=workers)
    for j, g in enumerate((again,) if single else again):
        assert_same_floats(flat(g), want_g[j], f"grad()[{j}]")
    return values, grads


# --------------------------------------------------------------------------------------
# Bit for bit: single calls
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 130, 1000])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_tutorial_batch_is_single_calls(ad, n, workers):
    tape = ad.record(tutorial, 230.3, 33.2, argnums=(0, 1))
    assert_batch_is_single_calls(tape, [points(n, 1), points(n, 2)], workers=workers)


def test_tutorial_batch_matches_analytic_derivatives(ad):
    tape = ad.record(tutorial, 230.3, 33.2, argnums=(0, 1))
    a, b = points(500, 3, 0.5, 4.0), points(500, 4, 0.5, 4.0)
    values, (da, db) = tape.vmap().value_and_grad(a, b)
    u, v, w = a / b - a, b / a + a + b, a - b
    np.testing.assert_allclose(values, u * v * w, rtol=1e-12)
    du_a, du_b = 1 / b - 1, -a / b ** 2
    dv_a, dv_b = -b / a ** 2 + 1, 1 / a + 1
    np.testing.assert_allclose(da, du_a * v * w + u * dv_a * w + u * v, rtol=1e-9)
    np.testing.assert_allclose(db, du_b * v * w + u * dv_b * w - u * v, rtol=1e-9)


@pytest.mark.parametrize("name", [p.name for p in _primitives.UNARY])
def test_every_unary_primitive_batched_is_single_calls(ad, name):
    fn = getattr(ad, name)
    tape = ad.record(lambda x: fn(x), 0.5)
    x = np.concatenate([SPECIAL, points(80, 5)])
    with np.errstate(all="ignore"):
        assert_batch_is_single_calls(tape, [x])


@pytest.mark.parametrize("name", [p.name for p in _primitives.BINARY])
def test_every_binary_primitive_batched_is_single_calls(ad, name):
    fn = getattr(ad, name)
    tape = ad.record(lambda x, y: fn(x, y) + fn(x, 2.5) + fn(-1.5, y) + fn(x, x), 0.7, 1.3,
                     argnums=(0, 1))
    x = np.concatenate([SPECIAL, SPECIAL[::-1], points(60, 6)])
    y = np.concatenate([SPECIAL[::-1], SPECIAL, points(60, 7)])
    with np.errstate(all="ignore"):
        assert_batch_is_single_calls(tape, [x, y], workers=2)


def test_power_by_a_number_and_constants(ad):
    def f(x, y):
        return x ** 2 + x ** 3.5 + 2.0 ** y + ad.sin(x) * 4.0 - 1.5 / y
    tape = ad.record(f, 1.5, 2.0, argnums=(0, 1))
    with np.errstate(all="ignore"):
        assert_batch_is_single_calls(tape, [points(200, 8), points(200, 9)], workers=2)


def test_array_arguments_shared_arguments_and_argnums(ad):
    def loss(w, x, c):
        h = np.tanh(w @ x + c)
        return h[0] * h[1] + h[1] ** 2
    w0, x0, c0 = np.ones((2, 3)), np.arange(3.0), 0.5
    tape = ad.record(loss, w0, x0, c0, argnums=(0, 2))
    n = 70
    rng = np.random.default_rng(10)
    ws, xs, cs = rng.normal(size=(n, 2, 3)), rng.normal(size=(n, 3)), rng.normal(size=n)
    values, (gw, gc) = assert_batch_is_single_calls(tape, [ws, xs, cs], workers=2)
    assert gw.shape == (n, 2, 3) and gc.shape == (n,)
    # x shared by every point (in_axes None); its gradient is not asked for
    _, (gw, gc) = assert_batch_is_single_calls(tape, [ws, xs[0], cs], in_axes=(0, None, 0))
    # w shared and differentiated: its gradient still has one row per point
    _, (gw, gc) = assert_batch_is_single_calls(tape, [ws[0], xs, cs], in_axes=(None, 0, 0))
    assert gw.shape == (n, 2, 3)
    # a single argnum gives one array, not a tuple
    tape1 = ad.record(loss, w0, x0, c0, argnums=1)
    _, g = assert_batch_is_single_calls(tape1, [ws, xs, cs])
    assert isinstance(g, np.ndarray) and g.shape == (n, 3)


def test_zero_d_array_argument_and_repeated_argnums(ad):
    tape = ad.record(lambda x, y: x * y * y, np.array(2.0), 3.0, argnums=(1, 0, 1))
    _, grads = assert_batch_is_single_calls(tape, [points(20, 11), points(20, 12)])
    assert [g.shape for g in grads] == [(20,)] * 3


def test_identity_and_constant_tapes(ad):
    ident = ad.record(lambda x: x, 1.0)
    assert_batch_is_single_calls(ident, [points(70, 13)])
    const = ad.record(lambda x: 4.25, 1.0)
    values, grads = assert_batch_is_single_calls(const, [points(70, 14)])
    assert (values == 4.25).all() and (grads == 0.0).all()


def test_a_long_tape_takes_smaller_blocks(ad):
    def chain(x, y):
        for _ in range(3000):
            x = x * 0.999 + y
        return x
    tape = ad.record(chain, 1.0, 1e-3, argnums=(0, 1))
    assert_batch_is_single_calls(tape, [points(9, 15), points(9, 16)], workers=2)


def test_inputs_of_any_real_dtype_and_layout(ad):
    tape = ad.record(lambda v: v[0] * v[1] - v[2], np.zeros(3))
    base = np.random.default_rng(17).normal(size=(40, 3))
    want_v, want_g = tape.vmap().value_and_grad(base)
    raw = np.zeros(base.nbytes + 1, dtype=np.uint8)        # float64 at an odd address:
    misaligned = np.frombuffer(raw.data, np.float64, base.size, offset=1).reshape(base.shape)
    misaligned[...] = base                                  # C must not read it as double*
    assert not misaligned.flags.aligned
    for variant in (np.asfortranarray(base), base.astype(">f8"), base.tolist(),
                    np.repeat(base, 2, axis=0)[::2], misaligned):
        v, g = tape.vmap().value_and_grad(variant)
        assert_same_floats(flat(v), flat(want_v))
        assert_same_floats(flat(g), flat(want_g))
    ints = np.arange(30).reshape(10, 3)
    assert_batch_is_single_calls(tape, [ints])
    assert_batch_is_single_calls(tape, [ints.astype(bool)])
    assert_batch_is_single_calls(tape, [ints.astype(np.float32) / 7])


def test_the_inputs_are_left_alone(ad):
    tape = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))
    a, b = points(100, 18), points(100, 19)
    a0, b0 = a.copy(), b.copy()
    values, (da, db) = tape.vmap().value_and_grad(a, b, workers=2)
    assert (a == a0).all() and (b == b0).all()
    assert not np.shares_memory(values, a) and not np.shares_memory(da, a)


def test_no_points_give_empty_results(ad):
    tape = ad.record(lambda w, c: np.sum(w) * c, np.ones((2, 2)), 1.0, argnums=(0, 1))
    values, (gw, gc) = tape.vmap().value_and_grad(np.empty((0, 2, 2)), [], workers=3)
    assert values.shape == (0,) and gw.shape == (0, 2, 2) and gc.shape == (0,)
    assert values.dtype == gw.dtype == gc.dtype == np.float64
    assert tape.vmap((0, None))(np.empty((0, 2, 2)), 2.0).shape == (0,)


def test_engines_agree_bit_for_bit(compiled, reference):
    def f(x, v):
        return compiled.log1p(x * x) * v[0] - v[1] ** 2 if isinstance(x, compiled.Ops) \
            else reference.log1p(x * x) * v[0] - v[1] ** 2
    x, v = points(150, 20), np.random.default_rng(21).normal(size=(150, 2))
    got = []
    for ad in (compiled, reference):
        tape = ad.record(f, 1.0, np.ones(2), argnums=(0, 1))
        got.append(tape.vmap().value_and_grad(x, v, workers=2))
    (v1, (a1, b1)), (v2, (a2, b2)) = got
    for one, two in ((v1, v2), (a1, a2), (b1, b2)):
        assert_same_floats(flat(one), flat(two))


# --------------------------------------------------------------------------------------
# Threads, pickles, views
# --------------------------------------------------------------------------------------

def test_many_threads_share_one_batched_tape(ad):
    tape = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))
    view = tape.vmap()
    a, b = points(300, 22, 0.5, 3), points(300, 23, 0.5, 3)
    want = view.value_and_grad(a, b)
    failures = []

    def work(k):
        for _ in range(5):
            v, (da, db) = view.value_and_grad(a, b, workers=1 + k % 3)
            if not (np.array_equal(v, want[0]) and np.array_equal(da, want[1][0])
                    and np.array_equal(db, want[1][1])):
                failures.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_batched_view_pickles_and_says_what_it_is(ad):
    tape = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))
    view = tape.vmap((0, None))
    assert view.in_axes == (0, None) and view.tape is tape
    assert "in_axes=(0, None)" in repr(view) and "tutorial" in repr(view)
    again = pickle.loads(pickle.dumps(view))
    assert type(again) is type(view) and again.in_axes == (0, None)
    a = points(50, 24)
    assert np.array_equal(again(a, 1.5), view(a, 1.5))
    with pytest.raises(TypeError):
        type(view)()


# --------------------------------------------------------------------------------------
# Errors: the same type in both engines, before any replay
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("in_axes, error", [
    (1, ValueError), (-1, ValueError), ((0, 1), ValueError), ((0,), ValueError),
    ((0, 0, 0), ValueError), ((None, None), ValueError), (None, ValueError),
    ("0", TypeError), (True, TypeError), ((0, 0.0), TypeError), ([0, 0], TypeError),
    (0.0, TypeError),
])
def test_bad_in_axes(ad, in_axes, error):
    tape = ad.record(tutorial, 2.0, 3.0)
    with pytest.raises(error, match="in_axes"):
        tape.vmap(in_axes)


def test_in_axes_may_be_numpy_ints(ad):
    tape = ad.record(tutorial, 2.0, 3.0)
    assert tape.vmap((np.int64(0), None)).in_axes == (0, None)


@pytest.mark.parametrize("workers, error", [
    (0, ValueError), (-2, ValueError), (1.0, TypeError), (True, TypeError), ("2", TypeError),
    (None, TypeError),
])
def test_bad_workers(ad, workers, error):
    view = ad.record(tutorial, 2.0, 3.0).vmap()
    for method in (view, view.value_and_grad, view.grad):
        with pytest.raises(error, match="workers"):
            method(points(3), points(3), workers=workers)


def test_workers_may_exceed_the_blocks(ad):
    tape = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))
    assert_batch_is_single_calls(tape, [points(5), points(5, 1)], workers=np.int64(16))


@pytest.mark.parametrize("args, error, match", [
    ((np.ones(3), np.ones(4)), ValueError, "different numbers of points"),
    ((np.ones((3, 1)), np.ones(3)), ValueError, r"shape \(N,\)"),
    ((np.ones(3),), TypeError, "takes 2 argument"),
    ((np.ones(3), np.ones(3), np.ones(3)), TypeError, "takes 2 argument"),
    ((np.array(["a", "b"]), np.ones(2)), TypeError, "real numbers"),
    ((np.ones(2, dtype=complex), np.ones(2)), TypeError, "real numbers"),
    ((np.array([1.0, 2.0], dtype=object), np.ones(2)), TypeError, "real numbers"),
    (([[1.0], [2.0, 3.0]], np.ones(2)), TypeError, "real numbers"),
    ((1.0, np.ones(2)), ValueError, r"shape \(N,\)"),
    (({"a": 1}, np.ones(2)), TypeError, "real numbers"),
])
def test_bad_points(ad, args, error, match):
    view = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1)).vmap()
    for method in (view, view.value_and_grad, view.grad):
        with pytest.raises(error, match=match):
            method(*args)


def test_bad_shared_and_array_arguments(ad):
    tape = ad.record(lambda w, c: np.sum(w) * c, np.ones((2, 2)), 1.0)
    view = tape.vmap((0, None))
    with pytest.raises(ValueError, match=r"shape \(N,\) \+ \(2, 2\)"):
        view(np.ones((3, 2, 3)), 1.0)
    with pytest.raises(ValueError, match="in_axes None"):
        view(np.ones((3, 2, 2)), np.ones(3))
    with pytest.raises(TypeError, match="in_axes None"):
        view(np.ones((3, 2, 2)), "x")
    with pytest.raises(ValueError, match=r"shape \(N,\) \+ \(2, 2\)"):
        tape.vmap()(np.ones((2, 2)), np.ones(2))


def test_errors_are_the_same_type_in_both_engines(compiled, reference):
    cases = [((np.ones(3), np.ones(4)), 1), ((np.ones(3), "ab"), 1), ((np.ones(3),), 1),
             ((np.ones(3), np.ones(3)), 0), ((np.ones(3), np.ones(3)), 2.5)]
    for args, workers in cases:
        kinds = []
        for ad in (compiled, reference):
            view = ad.record(tutorial, 2.0, 3.0).vmap()
            try:
                view.value_and_grad(*args, workers=workers)
                kinds.append(None)
            except Exception as e:
                kinds.append(type(e))
        assert kinds[0] is kinds[1] is not None, (args, workers, kinds)


def test_large_batches_split_across_threads_give_the_same_bits(ad, monkeypatch):
    """Enough work for several threads (small batches run on fewer threads than asked)."""
    started = []
    start = threading.Thread.start

    def counting_start(thread):
        started.append(thread.name)
        return start(thread)
    monkeypatch.setattr(threading.Thread, "start", counting_start)
    def f(x, y):
        for k in range(60):
            x = ad.sin(x) * y + x / (1.5 + k) - y * 0.25
        return x
    tape = ad.record(f, 0.3, 0.7, argnums=(0, 1))
    assert tape.n_ops >= 300
    n = 3001                    # 3001 * 360 point-instructions: work enough for 4 threads
    x, y = points(n, 25), points(n, 26)
    view = tape.vmap()
    want_v, (want_x, want_y) = view.value_and_grad(x, y)
    for workers in (2, 3, 8):
        v, (gx, gy) = view.value_and_grad(x, y, workers=workers)
        for got, want in ((v, want_v), (gx, want_x), (gy, want_y)):
            assert np.array_equal(got.view(np.int64), want.view(np.int64))
        assert np.array_equal(view(x, y, workers=workers).view(np.int64), want_v.view(np.int64))
    for i in list(range(0, n, 97)) + [n - 1]:
        assert (want_v[i], (want_x[i], want_y[i])) == tape.value_and_grad(x[i], y[i])
    if ad.ENGINE == "compiled":     # split: 1, 2 and 3 (not 7) extra threads, twice each
        assert tape.n_ops == 360
        assert started.count("autodiff-vmap") == 12, started


# --------------------------------------------------------------------------------------
# The compiled sweep's own paths (autodiff/_batch.pxi): ADD, SUB, MUL and DIV run their
# own loops, the backward sweep adds g, subtracts g or multiplies by the other operand
# instead of a stored local, an adjoint's first term is 0.0 + ..., and scalar arguments,
# values and gradients are read and written in place.  Each against single calls, bit
# for bit, with adjoints that are inf, nan, subnormal and zeros of both signs.
# --------------------------------------------------------------------------------------

def special_points(n, seed):
    """n points drawn from SPECIAL (each value several times) and ordinary numbers."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.7, rng.choice(SPECIAL, n), rng.uniform(-3.0, 3.0, n))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_specialised_opcodes_with_special_adjoints(ad, op):
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
          "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[op]

    def f(x, y, w, v):
        # w and v scale the adjoints reaching fn's operands (inf, nan, -0.0, ...); x and y
        # get first terms and later ones, fn(x, x) has one slot for both operands, and
        # fn(x, 2.0) and fn(-1.5, y) have a constant operand (whose adjoint nobody reads).
        return (w * fn(x, y) + v * fn(y, x) + fn(x, x) * v + fn(x, 2.0) * w
                + fn(-1.5, y) * v)
    tape = ad.record(f, 0.7, 1.3, 0.5, -0.25, argnums=(0, 1, 2, 3))
    n = 300
    args = [special_points(n, 30 + k) for k in range(4)]
    with np.errstate(all="ignore"):
        assert_batch_is_single_calls(tape, args, workers=2)
        # the first term of an adjoint alone: 0.0 + g * l must turn -0.0 into +0.0
        lone = ad.record(lambda x, y, w: w * fn(x, y), 0.7, 1.3, 0.5, argnums=(0, 1))
        assert_batch_is_single_calls(lone, args[:3])


def test_signed_zero_first_terms(ad):
    """An adjoint's first term is 0.0 + term, as the single call's sum from 0.0: where the
    term is -0.0 (g * l with g or l a zero, or -g for SUB with g = +0.0) the sum is +0.0."""
    tape = ad.record(lambda x, y, w: x * w + (x - y) * 0.0, 1.0, 2.0, 3.0, argnums=(0, 1, 2))
    x = np.array([1.0, -1.0, 0.0, -0.0, 2.0, -0.0])
    y = np.array([0.0, -0.0, 1.0, -1.0, -0.0, 5.0])
    w = np.array([-0.0, -0.0, 0.0, -0.0, -0.0, 1.0])
    _, (gx, gy, gw) = assert_batch_is_single_calls(tape, [x, y, w])
    # y's only term is SUB's -g with g = 0.0 * 1.0; w's is 1.0 * x: +0.0 where x is a zero
    assert (gy == 0.0).all() and not np.signbit(gy).any()
    assert (gw[x == 0.0] == 0.0).all() and not np.signbit(gw[x == 0.0]).any()
    assert_same_floats(flat(gx), flat(w + 0.0))


def test_an_unused_argument_gets_zero_gradients(ad):
    tape = ad.record(lambda x, y, v: x * 2.0 + v[0], 1.0, 2.0, np.ones(2), argnums=(0, 1, 2))
    n = 130
    v = np.random.default_rng(31).normal(size=(n, 2))
    _, (gx, gy, gv) = assert_batch_is_single_calls(tape, [points(n, 1), points(n, 2), v])
    assert not gy.any() and not np.signbit(gy).any() and not gv[:, 1].any()


def test_several_outputs_batched_call_is_single_calls(ad):
    def f(x, y):
        return np.array([x * y, x / y, y - x, x])
    tape = ad.record(f, 1.0, 2.0)
    x, y = special_points(150, 40), special_points(150, 41)
    with np.errstate(all="ignore"):
        got = tape.vmap()(x, y, workers=2)
        want = [tape(a, b) for a, b in zip(x, y)]
    assert got.shape == (150, 4)
    assert_same_floats(flat(got), [v for w in want for v in flat(w)])


def test_portable_and_avx2_loops_give_the_same_bits(compiled, tmp_path):
    """The compiled sweep's two copies of its loops (AVX2 where the CPU has it, and the
    portable one, forced by AUTODIFF_NO_AVX2=1 in a fresh process) agree bit for bit."""
    import os
    import subprocess
    import sys
    code = (
        "import sys, numpy as np, autodiff\n"
        "from autodiff import _replay\n"
        "def f(x, y):\n"
        "    return (x / y - x) * (y / x + x + y) * (x - y) + x * x - y / 3.0\n"
        "tape = autodiff.record(f, 0.7, 1.3, argnums=(0, 1))\n"
        "x, y = np.load(sys.argv[1]), np.load(sys.argv[2])\n"
        "with np.errstate(all='ignore'):\n"
        "    v, (gx, gy) = tape.vmap().value_and_grad(x, y)\n"
        "np.save(sys.argv[3], np.stack([v, gx, gy]))\n"
        "print(_replay._batch_kernels())\n")
    x, y = special_points(1001, 50), special_points(1001, 51)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    # the child imports the autodiff under test (in place or installed), compiled
    root = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))
    kernels = {}
    for flag in ("0", "1"):
        env = dict(os.environ, AUTODIFF_NO_AVX2=flag)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env.pop("AUTODIFF_PURE", None)
        out = tmp_path / f"out{flag}.npy"
        run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.npy"),
                              str(tmp_path / "y.npy"), str(out)], env=env, cwd=root,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        kernels[flag] = run.stdout.split()[-1]
    assert kernels["1"] == "portable"
    if kernels["0"] != "avx2":
        pytest.skip("no AVX2 copy on this build or CPU: one copy of the loops")
    a, b = np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy")
    assert_same_floats(flat(a), flat(b))
