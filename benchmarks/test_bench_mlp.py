"""Workload 3: a scalar MLP 2-16-16-1 with tanh, one training step."""
import math

import pytest

import workloads as W
from conftest import pick, run_benchmark

pytest.importorskip("pytest_benchmark")

NAMES = ["floats", "compiled: gradients", "compiled: get_gradients", "reference: gradients",
         "reference: get_gradients", "tutorial walk", "micrograd", "torch 0-dim", "autograd",
         "jax.jit vectorised"]


@pytest.fixture(scope="module")
def points(quick):
    return 4 if quick else W.MLP_POINTS


@pytest.fixture(scope="module")
def impls(points):
    return W.mlp_impls(points)


@pytest.fixture(scope="module")
def expected(points):
    """Gradients by central differences of the float loss (an independent oracle)."""
    X, Y, layers = W.mlp_data(points)
    flat = W.mlp_flat(layers)

    def loss(values):
        it = iter(values)
        net = [([[next(it) for _ in row] for row in Wm], [next(it) for _ in b]) for Wm, b in layers]
        return W.mlp_loss(net, X, Y, math.tanh)
    grads = []
    for i in range(len(flat)):
        h = 1e-5
        up, down = list(flat), list(flat)
        up[i] += h
        down[i] -= h
        grads.append((loss(up) - loss(down)) / (2 * h))
    return grads, loss(flat)


@pytest.mark.parametrize("name", NAMES)
def test_mlp_step(benchmark, impls, expected, name):
    impl = pick(impls, name)
    benchmark.group = "MLP 2-16-16-1: one training step"
    result = run_benchmark(benchmark, impl)
    grads, loss = expected
    if impl.kind == "floor":
        assert result == pytest.approx(loss, rel=1e-12)
    else:
        assert len(result) == len(grads)
        assert result == pytest.approx(grads, rel=1e-5, abs=1e-8)
