"""Issue 6: record once, replay in C.  Each workload checks its result before it is timed.

Under ``--benchmark-disable`` (CI) the sizes are small and each runs once.
"""
import math

import numpy as np
import pytest

import autodiff
import replay_bench as R
import workloads as W

pytest.importorskip("pytest_benchmark")


@pytest.fixture(scope="module")
def n_ops(quick):
    return 2_000 if quick else R.CHAIN_OPS


def test_chain_replay_value_and_grad(benchmark, n_ops):
    benchmark.group = "replay: chain value + gradient"
    tape = R.chain_tape(n_ops)
    x = autodiff.Var(W.CHAIN_X0)
    root = R.chain_function(autodiff, n_ops)(x)
    want = (root.value, autodiff.gradients(root, [x])[0])
    assert benchmark(tape.value_and_grad, W.CHAIN_X0) == want


def test_chain_replay_value(benchmark, n_ops):
    benchmark.group = "replay: chain value"
    tape = R.chain_tape(n_ops)
    assert benchmark(tape, W.CHAIN_X0) == W.chain_float(n_ops)


def test_chain_c_floor(benchmark, n_ops):
    benchmark.group = "replay: chain value + gradient"
    try:
        c_tape = R.CTape(n_ops)
    except Exception as error:
        pytest.skip(f"no C tape floor: {error}")
    value, grad = benchmark(c_tape.value_and_grad, W.CHAIN_X0)
    want = R.chain_tape(n_ops).value_and_grad(W.CHAIN_X0)
    assert math.isclose(value, want[0], rel_tol=1e-9) and math.isclose(grad, want[1], rel_tol=1e-6)


def test_chain_record(benchmark, n_ops):
    benchmark.group = "replay: chain record"
    tape = benchmark(R.chain_tape, n_ops)
    assert tape.n_ops == W.chain_blocks(n_ops) * W.OPS_PER_BLOCK


def test_tutorial_f_tape(benchmark):
    benchmark.group = "replay: tutorial f(a, b) per call"
    tape = autodiff.record(W.tutorial_f, W.F_A, W.F_B, argnums=(0, 1))
    value, grads = benchmark(tape.value_and_grad, W.F_A, W.F_B)
    assert value == W.tutorial_f(W.F_A, W.F_B)
    assert grads == pytest.approx((W.F_DA, W.F_DB), rel=1e-12)


def test_mlp_step_replay(benchmark, quick):
    benchmark.group = "replay: MLP training step"
    X, Y, layers = W.mlp_data(5 if quick else W.MLP_POINTS)
    params0, Xa, Ya = np.array(W.mlp_flat(layers)), np.array(X), np.array(Y)
    loss = R.mlp_loss_of_flat(autodiff)
    tape = autodiff.record(loss, params0, Xa, Ya)

    def step():
        value, g = tape.value_and_grad(params0, Xa, Ya)
        return params0 - W.MLP_RATE * g
    got = benchmark(step)
    value, g = autodiff.value_and_grad(loss)(params0, Xa, Ya)
    np.testing.assert_array_equal(got, params0 - W.MLP_RATE * g)


def test_replay_results_quick():
    """The report's figures come out, with the replays agreeing with the graphs."""
    r = R.replay_results(True)           # smoke sizes
    assert r["chain"]["replay_equals_graph"] and r["f"]["tape_agrees"]
    assert r["mlp"]["replay_equals_rebuild"]
    assert "## Record once, replay in C" in R.replay_markdown(r)
