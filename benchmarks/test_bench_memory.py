"""Workload 6: memory per node of a chain (tracemalloc), recorded in extra_info.

The report (``report.py``) measures 10^6-node chains in fresh processes, with RSS as well;
here a smaller chain is built under tracemalloc so the figure is kept next to the timings.
"""
import gc
import tracemalloc

import pytest

import workloads as W
from conftest import pick

pytest.importorskip("pytest_benchmark")

NAMES = ["compiled: gradients", "reference: gradients", "tutorial walk", "micrograd",
         "torch 0-dim"]


@pytest.mark.parametrize("name", NAMES)
def test_memory_per_node(benchmark, quick, name):
    n = 2000 if quick else 10**5
    impl = pick(W.chain_impls(n), name)
    impl.build()                               # warm caches outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        state = impl.build()
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    benchmark.extra_info["tracemalloc_bytes_per_node"] = used / impl.ops
    benchmark.group = "memory: chain build (tracemalloc bytes/node in extra_info)"
    benchmark.pedantic(impl.build, rounds=1)
    assert used > 0 or name.startswith("torch")   # torch allocates outside Python's allocator
    assert impl.backward(state) == pytest.approx([1.0] if W.chain_blocks(n) % 4 == 0 else
                                                 [_designed(n)], rel=1e-9)


def _designed(n):
    g = 1.0
    for i in range(W.chain_blocks(n)):
        g *= W.CHAIN_RATIOS[i % 4]
    return g
