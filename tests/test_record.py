"""record(f, *args): a tape replays f's value and gradients without rebuilding its graph.

The oracle of a replay is a fresh graph built by the same engine at the new inputs
(``ad.gradients``), compared bit for bit; the compiled tape is also compared with the
reference engine's tape.  Every test runs on both engines (the ``ad`` fixture).
"""
import functools
import math

import numpy as np
import pytest

import autodiff
from autodiff import reference
from helpers import BINARY_NAMES, assert_same_floats, same_float


def fresh(ad, f, args, argnums):
    """(value, flat gradients) of f at args by building the graph: the oracle of a replay."""
    indices = (argnums,) if isinstance(argnums, int) else argnums
    call_args, leaves = list(args), []
    for i in indices:
        if np.ndim(args[i]) == 0 and not isinstance(args[i], np.ndarray):
            call_args[i] = ad.Var(args[i])
            leaves.append(call_args[i])
        else:
            call_args[i] = ad.to_var(np.asarray(args[i], dtype=float))
            leaves.extend(call_args[i].flat)
    out = f(*call_args)
    if not isinstance(out, ad.Ops):
        return float(out), [0.0] * len(leaves)
    return out.value, ad.gradients(out, leaves)


def flat(grads, argnums):
    parts = [grads] if isinstance(argnums, int) else list(grads)
    return [float(g) for part in parts for g in np.ravel(part)]


def assert_replays(ad, tape, f, args, argnums=0):
    """tape at args == a fresh graph of f at args, bit for bit, value and gradients."""
    value, grads = tape.value_and_grad(*args)
    want_value, want_grads = fresh(ad, f, args, argnums)
    assert same_float(value, want_value), (value, want_value)
    assert_same_floats(flat(grads, argnums), want_grads, "gradients")
    assert same_float(tape(*args), want_value)
    assert_same_floats(flat(tape.grad(*args), argnums), want_grads, "grad()")


UNARY_POINTS = [0.3, 0.7, -0.4, 0.0, -0.0, 2.5, -1.0, 1e-300, 700.0, math.inf, math.nan]
BINARY_POINTS = [(0.3, 0.7), (2.0, -1.5), (0.0, 2.0), (-2.0, 3.0), (1.5, 1.5), (0.0, 0.0),
                 (-0.5, 0.25), (3.0, math.inf), (math.nan, 1.0)]


@pytest.mark.parametrize("name", list(reference.PRIMITIVES))
def test_every_primitive_replays_a_fresh_graph_bit_for_bit(ad, name):
    """Each primitive in every call form: node-node, node-number, number-node, x op x."""
    fn = getattr(ad, name)
    if name not in BINARY_NAMES:
        forms = [lambda x: fn(x), lambda x: fn(x * 1.5) * x]
        for f in forms:
            tape = ad.record(f, 0.5)
            for x in UNARY_POINTS:
                assert_replays(ad, tape, f, (x,))
        return
    forms = [(lambda x, y: fn(x, y), (0, 1)), (lambda x, y: fn(x, 1.75) + y, (0, 1)),
             (lambda x, y: fn(-0.5, x) * y, (0, 1)), (lambda x, y: fn(x, x) + fn(y, y), (0, 1)),
             (lambda x, y: fn(2.0, 3.0) * x + y, (0, 1))]
    for f, argnums in forms:
        tape = ad.record(f, 0.5, 0.25, argnums=argnums)
        for x, y in BINARY_POINTS:
            assert_replays(ad, tape, f, (x, y), argnums)


def test_operators_with_numbers_on_either_side(ad):
    """x - 3, 3 - x, x / 3, 3 / x, 2 ** x, x ** 2 (a number on either side), NumPy scalars."""
    def f(x, y):
        return ((x - 3) * (3 - y) + x / 3 + 3 / y + 2 ** x + y ** 2 + np.float64(2.5) * x
                - x * np.float32(0.5) + (-x) + abs(y) + (+x))
    tape = ad.record(f, 1.0, 2.0, argnums=(0, 1))
    for args in [(1.0, 2.0), (-0.7, 0.3), (0.0, -4.0), (1e10, 1e-10)]:
        assert_replays(ad, tape, f, args, (0, 1))


def composite(ad):
    def f(w, x, c):
        h = ad.tanh(np.dot(w, x) + c)
        s = ad.sigmoid(h * 2.0) + ad.log1p(ad.absolute(w[0]))
        t = ad.maximum(w[1], 0.1) * ad.minimum(x[0], w[0]) + ad.arctan2(w[2], x[1] - 2.0)
        u = ad.sqrt(ad.exp(w[0]) + 1.0) ** 1.5 - ad.expm1(-ad.relu(w[1]))
        v = ad.sinh(w[2]) / ad.cosh(x[2]) + ad.log2(3.0 + x[0] ** 2) * ad.log10(2.0 + w[1] ** 2)
        z = ad.arcsin(ad.sin(w[0]) * 0.5) + ad.arccos(ad.cos(w[1]) * 0.5) + ad.arctan(ad.tan(c))
        return s * t + u - v / (1.0 + z * z) + ad.reciprocal(2.0 + ad.negative(w[2]) ** 2)
    return f


COMPOSITE_POINTS = [
    (np.array([0.3, -0.8, 1.2]), np.array([0.5, 0.1, -2.0]), 0.4),
    (np.array([-1.3, 0.0, 0.25]), np.array([2.5, -0.1, 0.0]), -0.2),
    (np.array([0.0, 0.1, -3.0]), np.array([0.0, 0.0, 1.0]), 1.0),
]


def test_a_composite_of_every_primitive_replays_a_fresh_graph(ad):
    f = composite(ad)
    tape = ad.record(f, *COMPOSITE_POINTS[0], argnums=(0, 1, 2))
    for args in COMPOSITE_POINTS:
        assert_replays(ad, tape, f, args, (0, 1, 2))


def test_compiled_tape_equals_reference_tape_bit_for_bit(compiled, reference):
    tapes = [ad.record(composite(ad), *COMPOSITE_POINTS[0], argnums=(0, 1, 2))
             for ad in (compiled, reference)]
    for args in COMPOSITE_POINTS + [(np.array([2.0, -2.0, 0.5]), np.array([1.0, 1.0, 1.0]), 0.0)]:
        (v1, g1), (v2, g2) = (tape.value_and_grad(*args) for tape in tapes)
        assert same_float(v1, v2)
        assert_same_floats(flat(g1, (0, 1, 2)), flat(g2, (0, 1, 2)), "compiled vs reference")


def test_the_tutorial_function(ad):
    """f(a, b) of the tutorial; its printed partials at (230.3, 33.2) (from its own engine)."""
    def f(a, b):
        return (a / b - a) * (b / a + a + b) * (a - b)
    tape = ad.record(f, 1.0, 1.0, argnums=(0, 1))
    value, (da, db) = tape.value_and_grad(230.3, 33.2)
    assert value == f(230.3, 33.2)
    assert da == pytest.approx(-153284.83150602411, rel=1e-12)
    assert db == pytest.approx(3815.0389441500993, rel=1e-12)
    assert_replays(ad, tape, f, (230.3, 33.2), (0, 1))


def test_shared_subexpressions_accumulate_in_the_engine_order(ad):
    def f(x):
        for _ in range(40):
            x = (x + x) * 0.5 + ad.sin(x) * 1e-3
        return x * x
    tape = ad.record(f, 0.3)
    for x in [0.3, -1.7, 5.0]:
        assert_replays(ad, tape, f, (x,))


# --------------------------------------------------------------------------------------
# Arguments, argnums and shapes
# --------------------------------------------------------------------------------------


def test_arrays_in_gradients_of_their_shapes_out(ad):
    def f(W, b, s):
        return ad.tanh(np.dot(np.ones(2), np.dot(W, np.ones(3)) + b)) * s
    W, b = np.arange(6.0).reshape(2, 3) / 10, np.array([0.5, -0.5])
    tape = ad.record(f, W, b, 2.0, argnums=(0, 1, 2))
    value, (gW, gb, gs) = tape.value_and_grad(W * 0.5, b, 3.0)
    assert isinstance(value, float) and isinstance(gs, float)
    assert gW.shape == (2, 3) and gW.dtype == np.float64 and gb.shape == (2,)
    assert_replays(ad, tape, f, (W * 0.5, b, 3.0), (0, 1, 2))
    # As value_and_grad gives them (same shapes and conventions).
    want = ad.value_and_grad(f, argnums=(0, 1, 2))(W * 0.5, b, 3.0)
    assert want[0] == value
    for got, exp in zip((gW, gb, gs), want[1]):
        assert type(got) is type(exp) and np.shape(got) == np.shape(exp)
        np.testing.assert_array_equal(got, exp)
    # A 0-d array and int arrays are accepted too.
    tape0 = ad.record(lambda x: x * x, np.array(3.0))
    assert tape0.grad(np.array(2)).shape == () and float(tape0.grad(np.array(2))) == 4.0


def test_argnums_int_tuple_negative_and_non_differentiated_inputs(ad):
    def f(x, data, k):
        return ad.sin(x * k) + (x - data[0]) ** 2 + data[1] * x
    data = np.array([1.0, 2.0])
    t0 = ad.record(f, 0.5, data, 3.0)                    # argnums=0: one float
    assert t0.argnums == 0
    assert isinstance(t0.grad(0.5, data, 3.0), float)
    t_tuple = ad.record(f, 0.5, data, 3.0, argnums=(2, 0))
    g2, g0 = t_tuple.grad(0.7, data, 2.0)
    assert g0 == t0.grad(0.7, data, 2.0)
    t_neg = ad.record(f, 0.5, data, 3.0, argnums=-2)
    assert t_neg.argnums == 1 and t_neg.grad(0.5, data, 3.0).shape == (2,)
    # The other arguments are inputs too: new data replays, it is not frozen.
    new = np.array([-3.0, 0.5])
    assert_replays(ad, t_tuple, f, (0.7, new, 2.0), (2, 0))
    assert t0(0.7, new, 2.0) == fresh(ad, f, (0.7, new, 2.0), 0)[0] != t0(0.7, data, 2.0)


def test_minimize_with_a_tape(ad):
    scipy_optimize = pytest.importorskip("scipy.optimize")

    def rosenbrock(x):
        return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(3))
    tape = ad.record(rosenbrock, np.zeros(4))
    result = scipy_optimize.minimize(tape.value_and_grad, np.array([-1.2, 1.0, -0.5, 0.8]),
                                     jac=True, method="BFGS", options={"gtol": 1e-9})
    assert result.success
    np.testing.assert_allclose(result.x, np.ones(4), atol=1e-5)


def test_output_that_is_an_input_or_a_constant(ad):
    t = ad.record(lambda x, y: y, 1.0, 2.0, argnums=(0, 1))
    assert t.value_and_grad(5.0, 7.0) == (7.0, (0.0, 1.0))
    t = ad.record(lambda x: 42, 1.0)                     # f does not depend on x
    assert t.value_and_grad(5.0) == (42.0, 0.0)
    t = ad.record(lambda x: ad.sin(2.0) * 3.0, np.ones(2))   # numbers only: a float
    value, g = t.value_and_grad(np.zeros(2))
    assert value == math.sin(2.0) * 3.0 and g.tolist() == [0.0, 0.0]


def test_captured_vars_are_constants_frozen_at_recording(ad):
    w = ad.Var(2.0)
    tape = ad.record(lambda x: w * x + ad.sin(w), 1.0)
    w.value = 100.0                                      # not seen by the tape
    assert tape.value_and_grad(3.0) == (2.0 * 3.0 + math.sin(2.0), 2.0)


# --------------------------------------------------------------------------------------
# What a tape cannot do: control flow, user-defined nodes, bad arguments
# --------------------------------------------------------------------------------------


def test_control_flow_is_frozen_at_recording(ad):
    def f(x):
        return x * x if x > 0 else -x
    tape = ad.record(f, 2.0)
    assert tape(-3.0) == 9.0                             # the recorded branch, not f(-3.0) == 3
    assert tape.grad(-3.0) == -6.0
    again = ad.record(f, -1.0)                           # record again for the other branch
    assert again(-3.0) == 3.0 and again.grad(-3.0) == -1.0
    # x.value is taken at the example too (float(x) is refused: it would drop the derivative).
    tape = ad.record(lambda x: x * x.value, 2.0)
    assert tape.value_and_grad(5.0) == (10.0, 2.0)


def test_user_defined_nodes_are_refused_by_name(ad):
    class Square(ad.Ops):
        def __init__(self, x):
            self.value = x.value ** 2
            self.grad = [(x, 2 * x.value)]
    with pytest.raises(TypeError, match="user-defined class .*Square"):
        ad.record(lambda x: ad.sin(Square(x)) + 1.0, 2.0)

    class MySin(ad.Sin):                                 # a subclass of a built-in node
        pass
    with pytest.raises(TypeError, match="MySin"):
        ad.record(lambda x: MySin(x) * 2.0, 2.0)
    # A refused record leaves the graph usable (no walk state left behind).
    x = ad.Var(2.0)
    y = ad.sin(Square(x)) * x
    with pytest.raises(TypeError):
        ad.record(lambda _: y, 1.0)
    assert ad.gradients(y, x) == pytest.approx(math.cos(4.0) * 4.0 * 2.0 + math.sin(4.0))


def test_hand_set_edges_are_refused(ad):
    def f(x):
        y = ad.sin(x)
        y.grad = [(x, 1.0), (x, 2.0)]       # built-in nodes' edges are fixed when made
        return y
    with pytest.raises(TypeError, match="built-in Sin node"):
        ad.record(f, 1.0)


def test_bad_arguments(ad):
    def f(x, v):
        return x * v[0] + v[1]
    tape = ad.record(f, 1.0, np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="takes 2 argument"):
        tape(1.0)
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\)"):
        tape(1.0, np.zeros(3))
    with pytest.raises(ValueError, match="recorded as a number"):
        tape(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="recorded as an array"):
        tape.value_and_grad(1.0, 2.0)
    with pytest.raises(TypeError, match="real number"):
        tape("1", np.zeros(2))
    with pytest.raises(TypeError, match="real number"):
        tape.grad(1.0, np.array(["a", "b"]))
    with pytest.raises(TypeError, match="argument 1"):
        ad.record(f, 1.0, "ab")
    with pytest.raises(TypeError, match="needs a function"):
        ad.record(3.0, 1.0)
    with pytest.raises(TypeError, match="argnums"):
        ad.record(f, 1.0, np.zeros(2), argnums=1.5)
    with pytest.raises(ValueError, match="out of range"):
        ad.record(f, 1.0, np.zeros(2), argnums=2)
    # The tape still works after all that.
    assert tape.value_and_grad(2.0, np.array([3.0, 4.0])) == (10.0, 3.0)


def test_f_returning_neither_numbers_nor_nodes_is_refused(ad):
    # An array output is a multi-output tape (tests/test_tape_higher.py); a string is not.
    with pytest.raises(TypeError):
        ad.record(lambda x: "x", 1.0)


def test_partial_binds_what_is_not_an_input(ad):
    def f(x, n):
        for _ in range(n):
            x = ad.sin(x)
        return x
    tape = ad.record(functools.partial(f, n=3), 0.5)
    assert tape.n_ops == 3
    assert_replays(ad, tape, functools.partial(f, n=3), (1.25,))


def test_a_long_chain_records_and_replays(ad):
    """10^5 ops (2 * 10^4 for the slower reference engine): no recursion, the same bits."""
    n = 20_000 if ad.ENGINE == "reference" else 100_000

    def chain(x, c):
        for _ in range(n // 5):
            x = ad.log(ad.exp(ad.sin(x))) * 0.999 + c
        return x
    tape = ad.record(chain, 0.5, 0.1, argnums=(0, 1))
    assert tape.n_ops == n
    assert_replays(ad, tape, chain, (0.7, 0.2), (0, 1))


def test_the_long_chain_on_both_engines_agrees(compiled, reference):
    n = 5_000

    def chain(ad):
        def f(x, c):
            for _ in range(n // 5):
                x = ad.log(ad.exp(ad.sin(x))) * 0.999 + c
            return x
        return f
    t1 = compiled.record(chain(compiled), 0.5, 0.1, argnums=(0, 1))
    t2 = reference.record(chain(reference), 0.5, 0.1, argnums=(0, 1))
    for args in [(0.7, 0.2), (-1.0, 0.05)]:
        (v1, g1), (v2, g2) = t1.value_and_grad(*args), t2.value_and_grad(*args)
        assert same_float(v1, v2)
        assert_same_floats(g1, g2, "gradients")


def test_public_api_has_record(ad):
    assert "record" in ad.__all__
    assert ad.record is (autodiff.record if ad is autodiff else reference.record)
