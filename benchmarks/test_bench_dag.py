"""Workload 4: the shared-subexpression DAG x = (x + x) * 0.5 (2^depth routes)."""
import pytest

import workloads as W
from conftest import ALL, pick, run_benchmark

pytest.importorskip("pytest_benchmark")


@pytest.mark.parametrize("depth", [10, 30, 60])
@pytest.mark.parametrize("name", ALL)
def test_dag(benchmark, quick, name, depth):
    tutorial_max = 10 if quick else 14
    impl = pick(W.dag_impls(depth, tutorial_max_depth=tutorial_max), name)
    benchmark.group = f"DAG depth {depth}"
    result = run_benchmark(benchmark, impl)
    if impl.kind == "floor":
        assert result == W.DAG_X0          # (x + x) * 0.5 is exact in binary floating point
    else:
        assert result == [1.0]             # each level: 0.5 * (1 + 1), exact
