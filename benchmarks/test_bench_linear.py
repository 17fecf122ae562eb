"""Workload 5: the tutorial's single linear layer on object arrays, one training step."""
import numpy as np
import pytest

import workloads as W
from conftest import pick, run_benchmark

pytest.importorskip("pytest_benchmark")

NAMES = ["floats", "numpy float64 (hand-written gradient)", "compiled: gradients",
         "compiled: get_gradients", "reference: gradients", "reference: get_gradients",
         "tutorial walk", "micrograd", "torch 0-dim"]


@pytest.fixture(scope="module")
def impls():
    return W.linear_impls()


@pytest.mark.parametrize("name", NAMES)
def test_linear_step(benchmark, impls, name):
    impl = pick(impls, name)
    benchmark.group = "linear layer 50 -> 10: one training step"
    result = run_benchmark(benchmark, impl)
    x, y_true, w = W.linear_data()
    if impl.kind == "floor":
        assert result == pytest.approx(np.sum((y_true - x @ w) ** 2), rel=1e-12)
    else:
        # d/dW sum((y - x W)^2) = -2 outer(x, y - x W), at the initial weights (each step
        # restarts from them)
        expected = -2.0 * np.outer(x, y_true - x @ w)
        assert np.asarray(result) == pytest.approx(expected.ravel(), rel=1e-9)
