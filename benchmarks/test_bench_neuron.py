"""Workload 8 (issue 10): arithmetic of micrograd's shape, and x ** 2 against x * x."""
import numpy as np
import pytest

import workloads as W


@pytest.mark.parametrize("impl", W.neuron_impls(), ids=lambda i: i.name)
def test_neuron_layer(benchmark, impl):
    result = benchmark(impl.run)
    if impl.kind == "floor":
        w, b, x = W._neuron_data()
        want = sum(max(bj + sum(wi * xi for wi, xi in zip(wj, x)), 0.0) for wj, bj in zip(w, b))
        assert result == pytest.approx(want)
        return
    # d sum(relu(b_j + w_j . x)) / dx = sum over active neurons of w_j (analytic).
    w, b, x = (np.array(a) for a in W._neuron_data())
    active = (w @ x + b) > 0
    np.testing.assert_allclose(np.asarray(result, dtype=float), w[active].sum(axis=0),
                               rtol=1e-12)


@pytest.mark.parametrize("impl", W.square_impls() + W.square_replay_impls(), ids=lambda i: i.name)
def test_square_against_multiply(benchmark, impl):
    result = benchmark(impl.run)
    value = result[0] if isinstance(result, tuple) else getattr(result, "value", result)
    x = 0.3
    for _ in range(W.SQUARE_N):
        x = x * x * 0.5
    assert value == x
