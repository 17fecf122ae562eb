"""tape.vmap: the batched jvp, vjp, jacobian, hvp and hessian, on both engines (issue 13).

Oracles: N single calls of the same tape's method (bit for bit), the other engine's batch
(bit for bit), and the analytic derivatives of a small function.
"""
import pickle
import threading

import numpy as np
import pytest

from autodiff import _primitives

from helpers import SPECIAL, assert_same_floats, points


def tutorial(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)


def leaves(x):
    """The floats of a result (a float, an array, or tuples of them), in order."""
    if isinstance(x, tuple):
        return [v for item in x for v in leaves(item)]
    return [float(v) for v in np.asarray(x, dtype=np.float64).reshape(-1)]


def shapes_of(x):
    if isinstance(x, tuple):
        return tuple(shapes_of(item) for item in x)
    return np.shape(x)


def at(x, i):
    """Point i of a batched result."""
    if isinstance(x, tuple):
        return tuple(at(item, i) for item in x)
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    return x[i]


def point(args, axes, i):
    return [a if axis is None else a[i] for a, axis in zip(args, axes)]


def direction(parts, single, i):
    return parts[0][i] if single else tuple(p[i] for p in parts)


def random_directions(tape, args, axes, n, seed):
    """Tangents (one part per argnum, each (n,) + the argument's shape) and cotangents."""
    argnums = tape.argnums
    single = not isinstance(argnums, tuple)
    parts = []
    for j, k in enumerate((argnums,) if single else argnums):
        a = args[k] if axes[k] is not None else np.asarray(args[k])[None]
        parts.append(points(n, seed + j, shape=np.shape(a)[1:]))
    out = np.asarray(tape(*point(args, axes, 0))) if n else None
    cot = points(n, seed + 99, shape=out.shape) if n else None
    return (parts[0] if single else tuple(parts)), cot


def assert_higher_is_single_calls(tape, args, in_axes=0, workers=1, seed=0):
    """Every batched higher method equals N single calls, bit for bit, with the single
    call's shapes per point; returns the batched results by method name."""
    view = tape.vmap(in_axes)
    axes = view.in_axes
    n = next(len(a) for a, axis in zip(args, axes) if axis is not None)
    single = not isinstance(tape.argnums, tuple)
    tangents, cots = random_directions(tape, args, axes, n, seed)
    parts = [tangents] if single else list(tangents)
    scalar = isinstance(tape(*point(args, axes, 0)), float)
    calls = {
        "jvp": (lambda: view.jvp(*args, tangents, workers=workers),
                lambda i, p: tape.jvp(*p, direction(parts, single, i))),
        "vjp": (lambda: view.vjp(*args, cots, workers=workers),
                lambda i, p: tape.vjp(*p, cots[i])),
        "jacobian": (lambda: view.jacobian(*args, workers=workers),
                     lambda i, p: tape.jacobian(*p)),
    }
    if scalar:
        calls["hvp"] = (lambda: view.hvp(*args, tangents, workers=workers),
                        lambda i, p: tape.hvp(*p, direction(parts, single, i)))
        calls["hessian"] = (lambda: view.hessian(*args, workers=workers),
                            lambda i, p: tape.hessian(*p))
    results = {}
    for name, (batched, one) in calls.items():
        got = batched()
        want, have = [], []
        for i in range(n):
            w = one(i, point(args, axes, i))
            g = at(got, i)
            assert shapes_of(g) == shapes_of(w), (name, i, shapes_of(g), shapes_of(w))
            want.extend(leaves(w))
            have.extend(leaves(g))
        assert_same_floats(have, want, name)
        results[name] = got
    return results


def same_bits(x, y):
    if isinstance(x, tuple):
        assert isinstance(y, tuple) and len(x) == len(y)
        for a, b in zip(x, y):
            same_bits(a, b)
        return
    assert x.shape == y.shape and x.dtype == y.dtype == np.float64
    assert_same_floats(leaves(x), leaves(y))


# --------------------------------------------------------------------------------------
# Bit for bit: single calls
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 65, 300])
@pytest.mark.parametrize("workers", [1, 3])
def test_tutorial_is_single_calls(ad, n, workers):
    tape = ad.record(tutorial, 230.3, 33.2, argnums=(0, 1))
    out = assert_higher_is_single_calls(tape, [points(n, 1), points(n, 2)], workers=workers)
    assert out["jvp"][1].shape == (n,)
    assert [g.shape for g in out["hvp"]] == [(n,), (n,)]
    assert [[b.shape for b in row] for row in out["hessian"]] == [[(n,), (n,)]] * 2
    tape0 = ad.record(tutorial, 230.3, 33.2)          # an int argnum: no tuples
    out = assert_higher_is_single_calls(tape0, [points(n, 1), points(n, 2)], workers=workers)
    assert isinstance(out["hessian"], np.ndarray) and out["hessian"].shape == (n,)
    assert isinstance(out["jacobian"], np.ndarray) and out["jacobian"].shape == (n,)


def test_matches_analytic_derivatives(ad):
    """f(x, y) = x0^2 y + sin(x1) y^3: every batched method against its closed form."""
    def f(x, y):
        return x[0] * x[0] * y + ad.sin(x[1]) * y ** 3
    tape = ad.record(f, np.array([1.0, 2.0]), 0.5, argnums=(0, 1))
    n = 200
    x, y = points(n, 3, shape=(2,)), points(n, 4)
    tx, ty = points(n, 5, shape=(2,)), points(n, 6)
    x0, x1 = x[:, 0], x[:, 1]
    gx = np.stack([2 * x0 * y, np.cos(x1) * y ** 3], axis=1)
    gy = x0 ** 2 + 3 * np.sin(x1) * y ** 2
    hxx = np.zeros((n, 2, 2))
    hxx[:, 0, 0] = 2 * y
    hxx[:, 1, 1] = -np.sin(x1) * y ** 3
    hxy = np.stack([2 * x0, 3 * np.cos(x1) * y ** 2], axis=1)
    hyy = 6 * np.sin(x1) * y
    view = tape.vmap()
    close = dict(rtol=1e-12, atol=1e-12)
    values, jv = view.jvp(x, y, (tx, ty))
    np.testing.assert_allclose(values, x0 ** 2 * y + np.sin(x1) * y ** 3, **close)
    np.testing.assert_allclose(jv, np.sum(gx * tx, axis=1) + gy * ty, **close)
    c = points(n, 7)
    _, (vx, vy) = view.vjp(x, y, c)
    np.testing.assert_allclose(vx, c[:, None] * gx, **close)
    np.testing.assert_allclose(vy, c * gy, **close)
    jx, jy = view.jacobian(x, y)
    np.testing.assert_allclose(jx, gx, **close)
    np.testing.assert_allclose(jy, gy, **close)
    hx, hy = view.hvp(x, y, (tx, ty))
    np.testing.assert_allclose(hx, np.einsum("nij,nj->ni", hxx, tx) + hxy * ty[:, None],
                               **close)
    np.testing.assert_allclose(hy, np.sum(hxy * tx, axis=1) + hyy * ty, **close)
    (h00, h01), (h10, h11) = view.hessian(x, y)
    np.testing.assert_allclose(h00, hxx, **close)
    np.testing.assert_allclose(h01, hxy, **close)
    np.testing.assert_allclose(h10, hxy, **close)
    np.testing.assert_allclose(h11, hyy, **close)


@pytest.mark.parametrize("name", [p.name for p in _primitives.UNARY])
def test_every_unary_primitive_is_single_calls(ad, name):
    fn = getattr(ad, name)
    tape = ad.record(lambda x: fn(x), 0.5)
    x = np.concatenate([SPECIAL, points(30, 5)])
    with np.errstate(all="ignore"):
        assert_higher_is_single_calls(tape, [x])


@pytest.mark.parametrize("name", [p.name for p in _primitives.BINARY])
def test_every_binary_primitive_is_single_calls(ad, name):
    fn = getattr(ad, name)
    tape = ad.record(lambda x, y: fn(x, y) + fn(x, 2.5) + fn(-1.5, y) + fn(x, x), 0.7, 1.3,
                     argnums=(0, 1))
    x = np.concatenate([SPECIAL, SPECIAL[::-1], points(20, 6)])
    y = np.concatenate([SPECIAL[::-1], SPECIAL, points(20, 7)])
    with np.errstate(all="ignore"):
        assert_higher_is_single_calls(tape, [x, y], workers=2)


def test_inactive_inputs_stay_out_of_the_derivatives(ad):
    """sqrt(y) at y = 0 with y not differentiated: no inf * 0 = nan in x's derivatives."""
    tape = ad.record(lambda x, y: x * x * ad.sqrt(y) + x ** 3.5 + 2.0 ** x, 1.5, 2.0)
    y = np.concatenate([np.zeros(10), points(10, 8, 0.0, 4.0)])
    with np.errstate(all="ignore"):
        out = assert_higher_is_single_calls(tape, [points(20, 9, 0.1, 3.0), y], workers=2)
    assert not np.isnan(out["hessian"]).any()


def test_multi_output_tapes_forward_and_reverse_jacobians(ad):
    def wide(x, c):             # 6 outputs, 3 + 1 directions: forward vector mode
        return np.concatenate([np.sin(x) * c, x * x - c]).reshape(2, 3)
    tape = ad.record(wide, np.ones(3), 2.0, argnums=(0, 1))
    n = 40
    x, c = points(n, 10, shape=(3,)), points(n, 11)
    out = assert_higher_is_single_calls(tape, [x, c], workers=2)
    assert out["jacobian"][0].shape == (n, 2, 3, 3) and out["jacobian"][1].shape == (n, 2, 3)
    assert out["jvp"][0].shape == out["jvp"][1].shape == (n, 2, 3)
    assert out["vjp"][1][0].shape == (n, 3)

    def narrow(w, x):           # 2 outputs, 6 directions: reverse mode, one sweep each
        return np.array([np.sum(w @ x), w[0, 0] * x[1] - w[1, 2]])
    tape = ad.record(narrow, np.ones((2, 3)), np.ones(3))
    out = assert_higher_is_single_calls(tape, [points(n, 12, shape=(2, 3)),
                                               points(n, 13, shape=(3,))])
    assert out["jacobian"].shape == (n, 2, 2, 3)
    # an output that is an input, and one that is a constant
    tape = ad.record(lambda x, y: np.array([x, y, 2.0, x * y]), 1.0, 2.0, argnums=(0, 1))
    assert_higher_is_single_calls(tape, [points(n, 14), points(n, 15)])


def test_many_directions_take_several_chunks_of_lanes(ad):
    """More than 64 differentiated elements: the Jacobian's and Hessian's lanes in chunks."""
    m = 70
    def f(x):
        return np.concatenate([np.sin(x) * x[0], [np.sum(x * x), np.prod(x[:5])]]) + x[1:].sum()
    tape = ad.record(f, np.ones(m))
    assert_higher_is_single_calls(tape, [points(3, 16, shape=(m,))])
    g = ad.record(lambda x: np.sum(np.tanh(x) * x[::-1]) + x[0] * x[-1] ** 3, np.ones(m))
    out = assert_higher_is_single_calls(g, [points(3, 17, shape=(m,))], workers=2)
    assert out["hessian"].shape == (3, m, m)


def test_array_shared_and_zero_d_arguments_and_argnums(ad):
    def loss(w, x, c):
        h = np.tanh(w @ x + c)
        return h[0] * h[1] + h[1] ** 2
    w0, x0, c0 = np.ones((2, 3)), np.arange(3.0), 0.5
    tape = ad.record(loss, w0, x0, c0, argnums=(0, 2))
    n = 30
    ws, xs, cs = points(n, 18, shape=(2, 3)), points(n, 19, shape=(3,)), points(n, 20)
    out = assert_higher_is_single_calls(tape, [ws, xs, cs], workers=2)
    assert out["hessian"][0][1].shape == (n, 2, 3) and out["hessian"][1][0].shape == (n, 2, 3)
    assert out["hessian"][0][0].shape == (n, 2, 3, 2, 3)
    # x shared (in_axes None) and not differentiated; w shared and differentiated
    assert_higher_is_single_calls(tape, [ws, xs[0], cs], in_axes=(0, None, 0))
    out = assert_higher_is_single_calls(tape, [ws[0], xs, cs], in_axes=(None, 0, 0))
    assert out["hvp"][0].shape == (n, 2, 3)
    # a 0-d array argument and repeated argnums
    tape = ad.record(lambda x, y: x * y * y + ad.exp(x * y), np.array(2.0), 3.0,
                     argnums=(1, 0, 1))
    out = assert_higher_is_single_calls(tape, [points(20, 21), points(20, 22)])
    assert [g.shape for g in out["hvp"]] == [(20,)] * 3
    assert len(out["hessian"]) == 3 and out["hessian"][2][1].shape == (20,)
    # an empty array argument: no directions
    tape = ad.record(lambda e, x: np.sum(e) + x * x, np.ones(0), 1.0, argnums=0)
    out = assert_higher_is_single_calls(tape, [np.ones((5, 0)), points(5, 23)])
    assert out["hessian"].shape == (5, 0, 0) and out["jacobian"].shape == (5, 0)


def test_identity_and_constant_tapes(ad):
    assert_higher_is_single_calls(ad.record(lambda x: x, 1.0), [points(30, 24)])
    out = assert_higher_is_single_calls(ad.record(lambda x: 4.25, 1.0), [points(30, 25)])
    assert (out["jacobian"] == 0.0).all() and (out["hessian"] == 0.0).all()


def test_a_long_tape_on_threads(ad, monkeypatch):
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
    n = 1500                # n_ops * n point-instructions: enough for 2 threads and more
    x, y = points(n, 26), points(n, 27)
    view = tape.vmap()
    t = (points(n, 28), points(n, 29))
    want = [view.jvp(x, y, t), view.vjp(x, y, t[0]), view.jacobian(x, y), view.hvp(x, y, t),
            view.hessian(x, y)]
    for workers in ((2, 3, 8) if ad.ENGINE == "compiled" else (2,)):
        got = [view.jvp(x, y, t, workers=workers), view.vjp(x, y, t[0], workers=workers),
               view.jacobian(x, y, workers=workers), view.hvp(x, y, t, workers=workers),
               view.hessian(x, y, workers=workers)]
        same_bits(tuple(got), tuple(want))
    if ad.ENGINE == "compiled":     # the points of each call did split across threads
        assert started.count("autodiff-vmap") >= 5 * 3, started   # 1+, 2+, 2+ per method
    for i in (0, 1, 777, n - 1):
        assert_same_floats(leaves(at(want[3], i)),
                           leaves(tape.hvp(x[i], y[i], (t[0][i], t[1][i]))), "hvp")
        assert_same_floats(leaves(at(want[4], i)), leaves(tape.hessian(x[i], y[i])), "hessian")


def test_engines_agree_bit_for_bit(compiled, reference):
    def f(x, v):
        return np.array([x * ad.log(v[0] * v[0] + 1.0), ad.tanh(v[1] * x) / (x * x + 1.0)])
    results = []
    for ad in (compiled, reference):
        tape = ad.record(f, 1.0, np.ones(2), argnums=(0, 1))
        x, v = points(50, 30), points(50, 31, shape=(2,))
        view = tape.vmap()
        s = ad.record(lambda x, v: f(x, v)[0] * f(x, v)[1], 1.0, np.ones(2), argnums=(0, 1))
        t = (points(50, 32), points(50, 33, shape=(2,)))
        results.append((view.jvp(x, v, t), view.vjp(x, v, points(50, 34, shape=(2,))),
                        view.jacobian(x, v), s.vmap().hvp(x, v, t), s.vmap().hessian(x, v)))
    same_bits(results[0], results[1])


def test_no_points_give_empty_results(ad):
    tape = ad.record(lambda w, c: np.sum(w * w) * c, np.ones((2, 2)), 1.0, argnums=(0, 1))
    view = tape.vmap()
    w, c = np.ones((0, 2, 2)), np.ones(0)
    values, jv = view.jvp(w, c, (w, c))
    assert values.shape == jv.shape == (0,)
    values, (gw, gc) = view.vjp(w, c, c)
    assert values.shape == (0,) and gw.shape == (0, 2, 2) and gc.shape == (0,)
    jw, jc = view.jacobian(w, c)
    assert jw.shape == (0, 2, 2) and jc.shape == (0,)
    hw, hc = view.hvp(w, c, (w, c), workers=2)
    assert hw.shape == (0, 2, 2) and hc.shape == (0,)
    (a, b), (d, e) = view.hessian(w, c)
    assert (a.shape, b.shape, d.shape, e.shape) == ((0, 2, 2, 2, 2), (0, 2, 2), (0, 2, 2), (0,))
    multi = ad.record(lambda x: np.array([x, x * x]), 1.0).vmap()
    values, jv = multi.jvp(np.ones(0), np.ones(0))
    assert values.shape == jv.shape == (0, 2)
    assert multi.jacobian(np.ones(0)).shape == (0, 2)
    assert multi.vjp(np.ones(0), np.ones((0, 2)))[1].shape == (0,)


def test_inputs_are_left_alone_and_any_real_dtype_is_taken(ad):
    tape = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))
    a, b = points(40, 35, 1.0, 3.0), points(40, 36, 1.0, 3.0)
    ta, tb = np.arange(40), np.ones(40, dtype=np.float32)       # ints and float32 tangents
    keep = [x.copy() for x in (a, b, ta, tb)]
    view = tape.vmap()
    h = view.hvp(a, b, [ta, tb])
    for x, k in zip((a, b, ta, tb), keep):
        assert np.array_equal(x, k)
    want = view.hvp(a, b, (ta.astype(np.float64), tb.astype(np.float64)))
    same_bits(tuple(h), tuple(want))
    strided = np.stack([a, b], axis=1)          # non-contiguous columns
    same_bits(view.jvp(strided[:, 0], strided[:, 1], (strided[:, 1], strided[:, 0])),
              view.jvp(a, b, (b.copy(), a.copy())))


def test_a_pickled_batched_view_keeps_its_methods(ad):
    tape = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))
    view = tape.vmap((0, None))
    again = pickle.loads(pickle.dumps(view))
    a, t = points(30, 37, 1.0, 3.0), (points(30, 38), points(30, 39))
    same_bits(again.hvp(a, 1.5, t), view.hvp(a, 1.5, t))
    same_bits(again.hessian(a, 1.5), view.hessian(a, 1.5))
    same_bits(again.jvp(a, 1.5, t), view.jvp(a, 1.5, t))


# --------------------------------------------------------------------------------------
# Errors: the same type in both engines, before any replay
# --------------------------------------------------------------------------------------

def calls(view, a, b, last):
    """Every directed method with the arguments a, b and the trailing direction."""
    return [lambda **k: view.jvp(a, b, last, **k), lambda **k: view.hvp(a, b, last, **k)]


@pytest.mark.parametrize("tangent, error, match", [
    ((np.ones(4), np.ones(3)), ValueError, "4 points"),
    ((np.ones(3), np.ones(2)), ValueError, "2 points"),
    ((np.ones((3, 1)), np.ones(3)), ValueError, r"shape \(N,\)"),
    ((1.0, np.ones(3)), ValueError, r"shape \(N,\)"),
    ((np.ones(3),), TypeError, "one item per differentiated argument"),
    (np.ones((3, 2)), TypeError, "tuple of 2"),
    ((np.array(["a", "b", "c"]), np.ones(3)), TypeError, "real numbers"),
    ((np.ones(3, dtype=complex), np.ones(3)), TypeError, "real numbers"),
    ((np.array([1.0, 2.0, 3.0], dtype=object), np.ones(3)), TypeError, "real numbers"),
    (([[1.0], [2.0, 3.0]], np.ones(3)), TypeError, "real numbers"),
    (({"a": 1}, np.ones(3)), TypeError, "real numbers"),
])
def test_bad_tangents(ad, tangent, error, match):
    view = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1)).vmap()
    for method in calls(view, np.ones(3), np.ones(3), tangent):
        with pytest.raises(error, match=match):
            method()


def test_bad_cotangents_and_single_argnum_tangents(ad):
    multi = ad.record(lambda x: np.array([x, x * x]), 1.0).vmap()
    for cot, error in [(np.ones(3), ValueError), (np.ones((3, 3)), ValueError),
                       (np.ones((4, 2)), ValueError), ("ab", TypeError),
                       (np.ones((3, 2), dtype=complex), TypeError)]:
        with pytest.raises(error, match="cotangent"):
            multi.vjp(np.ones(3), cot)
    view = ad.record(lambda w, c: np.sum(w) * c, np.ones((2, 2)), 1.0).vmap()
    for v, error in [(np.ones((3, 4)), ValueError), (np.ones((3, 2, 2, 1)), ValueError),
                     ((np.ones((3, 2, 2)),), ValueError), (np.ones((2, 2, 2)), ValueError),
                     (None, TypeError)]:
        for method in calls(view, np.ones((3, 2, 2)), np.ones(3), v):
            with pytest.raises(error):
                method()


def test_bad_primal_arguments_workers_and_tapes(ad):
    tape = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))
    view = tape.vmap()
    t = (np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="no arguments"):
        view.jvp()
    with pytest.raises(TypeError, match="no arguments"):
        view.hvp()
    with pytest.raises(TypeError, match="takes 2 argument"):
        view.jvp(np.ones(3), t)                     # the tangent taken as an argument
    with pytest.raises(TypeError, match="takes 2 argument"):
        view.jacobian(np.ones(3))
    with pytest.raises(ValueError, match="different numbers of points"):
        view.hessian(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="different numbers of points"):
        view.vjp(np.ones(3), np.ones(4), np.ones(3))
    with pytest.raises(TypeError, match="real numbers"):
        view.hessian(np.array(["a", "b"]), np.ones(2))
    for workers, error in [(0, ValueError), (1.5, TypeError), (True, TypeError)]:
        for method in (lambda w: view.jvp(np.ones(3), np.ones(3), t, workers=w),
                       lambda w: view.vjp(np.ones(3), np.ones(3), np.ones(3), workers=w),
                       lambda w: view.jacobian(np.ones(3), np.ones(3), workers=w),
                       lambda w: view.hvp(np.ones(3), np.ones(3), t, workers=w),
                       lambda w: view.hessian(np.ones(3), np.ones(3), workers=w)):
            with pytest.raises(error, match="workers"):
                method(workers)
    multi = ad.record(lambda x: np.array([x, x * x]), 1.0).vmap()
    with pytest.raises(TypeError, match="scalar function"):
        multi.hvp(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="scalar function"):
        multi.hessian(np.ones(3))


def test_errors_are_the_same_type_in_both_engines(compiled, reference):
    a = np.ones(3)
    cases = [
        ("jvp", (a, np.ones(4), (a, a))), ("jvp", (a, a, (a, np.ones(4)))),
        ("jvp", (a, a, (a, "x"))), ("jvp", (a, a, a)), ("jvp", (a, a, (a,))), ("jvp", ()),
        ("jvp", (a, a, (a, np.ones((3, 2))))), ("hvp", (a, a, (np.ones(2), a))),
        ("hvp", (a, a, (a, np.ones(3, dtype=complex)))), ("hvp", (a, (a, a))),
        ("vjp", (a, a, np.ones(2))), ("vjp", (a, a, np.ones((3, 1)))), ("vjp", (a, a, "s")),
        ("jacobian", (a,)), ("jacobian", (a, np.ones((3, 2)))), ("hessian", (a, "bc")),
        ("hessian", (np.ones(2), a)),
    ]
    for method, args in cases:
        kinds = []
        for ad in (compiled, reference):
            view = ad.record(tutorial, 2.0, 3.0, argnums=(0, 1)).vmap()
            try:
                getattr(view, method)(*args)
                kinds.append(None)
            except Exception as e:
                kinds.append(type(e))
        assert kinds[0] is kinds[1] is not None, (method, args, kinds)
    for method in ("hvp", "hessian"):
        kinds = []
        for ad in (compiled, reference):
            view = ad.record(lambda x: np.array([x, x]), 1.0).vmap()
            try:
                getattr(view, method)(a, a)
                kinds.append(None)
            except Exception as e:
                kinds.append(type(e))
        assert kinds[0] is kinds[1] is TypeError, (method, kinds)
