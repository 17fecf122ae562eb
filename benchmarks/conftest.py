"""Shared fixtures for the benchmark files.

Under ``--benchmark-disable`` (how CI runs them, as plain tests) every workload runs at a
small size, once, and its correctness is still asserted; with benchmarks enabled the sizes are
the issue's (chain of 10^5 ops, 50-point MLP, ...).  A missing peer is a skip with the reason.
"""
import pytest

import workloads as W


@pytest.fixture(scope="session")
def quick(request):
    """True when benchmarks are disabled: run small sizes, once."""
    try:
        return bool(request.config.getoption("benchmark_disable"))
    except ValueError:          # pytest-benchmark not installed
        return True


def pick(impls, name):
    """The named implementation, or a skip saying why it is missing (a peer not installed)."""
    for impl in impls:
        if impl.name == name:
            return impl
    for peer in ("micrograd", "torch", "autograd", "jax"):
        if name.startswith(peer.replace("torch", "torch 0-dim")) or name.startswith(peer):
            reason = W.peer_reason(peer)
            if reason:
                pytest.skip(f"{peer} is not importable ({reason})")
    pytest.skip(f"{name} does not run this workload")


def run_benchmark(benchmark, impl):
    """Benchmark build + backward end to end; return the gradients of the last run."""
    out = {}

    def once():
        out["g"] = impl.run()
    benchmark(once)
    return out["g"]


ALL = ["floats", "compiled: gradients", "compiled: get_gradients", "reference: gradients",
       "reference: get_gradients", "tutorial walk", "micrograd", "torch 0-dim", "autograd",
       "jax (no jit)", "jax.jit"]
