"""Workload 2: the tutorial's f(a, b), build + both partials per call."""
import pytest

import workloads as W
from conftest import ALL, pick, run_benchmark

pytest.importorskip("pytest_benchmark")


@pytest.fixture(scope="module")
def impls():
    return W.f_impls()


@pytest.mark.parametrize("name", ALL)
def test_tutorial_f(benchmark, impls, name):
    impl = pick(impls, name)
    benchmark.group = "tutorial f(a, b): build + both partials"
    result = run_benchmark(benchmark, impl)
    if impl.kind == "floor":
        # f(230.3, 33.2) evaluated by hand in exact steps, as an oracle for the float code
        a, b = W.F_A, W.F_B
        assert result == pytest.approx((a / b - a) * (b / a + a + b) * (a - b), rel=1e-12)
    else:
        # the tutorial's printed partials
        assert result == pytest.approx([W.F_DA, W.F_DB], rel=1e-9)
