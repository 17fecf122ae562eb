"""Workload 1: a chain of sin, exp, log, *, + ops; build and backward timed apart."""
import math

import pytest

import workloads as W
from conftest import ALL, pick, run_benchmark

pytest.importorskip("pytest_benchmark")


def designed_gradient(n_ops):
    """d y / d x by construction: block i has local derivative CHAIN_RATIOS[i % 4]."""
    g = 1.0
    for i in range(W.chain_blocks(n_ops)):
        g *= W.CHAIN_RATIOS[i % len(W.CHAIN_RATIOS)]
    return g


@pytest.fixture(scope="module")
def sizes(quick):
    return (1000, 100) if quick else (10**5, 1000)      # (ops, ops for JAX)


@pytest.fixture(scope="module")
def chain(sizes):
    return W.chain_impls(sizes[0], jax_ops=sizes[1])


def check(impl, result, sizes):
    n = impl.size or sizes[0]
    if impl.kind == "floor":
        expected = W.CHAIN_POINTS[W.chain_blocks(n) % len(W.CHAIN_POINTS)]
        assert result == pytest.approx(expected, rel=1e-9)
    else:
        assert result == pytest.approx([designed_gradient(n)], rel=1e-9)


def test_chain_stays_normal():
    """Values and adjoints of the chain stay well inside the normal float range."""
    import autodiff.reference as ad
    x = ad.Var(W.CHAIN_X0)
    y = W.chain(x, 5000, ad.sin, ad.exp, ad.log)
    adjoints = list(ad.get_gradients(y).values())
    assert all(0.1 < abs(a) < 10 for a in adjoints)
    assert all(math.isfinite(node.value) and abs(node.value) < 10
               for node in ad.get_gradients(y))


@pytest.mark.parametrize("name", ALL)
def test_chain_end_to_end(benchmark, chain, sizes, name):
    impl = pick(chain, name)
    benchmark.group = "chain: build + backward"
    check(impl, run_benchmark(benchmark, impl), sizes)


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("floats", "jax.jit")])
def test_chain_build(benchmark, chain, sizes, name):
    impl = pick(chain, name)
    benchmark.group = "chain: build"
    state = benchmark(impl.build)
    check(impl, impl.backward(state), sizes)


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("floats", "jax.jit")])
def test_chain_backward(benchmark, chain, sizes, name):
    impl = pick(chain, name)
    benchmark.group = "chain: backward"
    out = {}

    def backward(state):
        out["r"] = impl.backward(state)
    benchmark.pedantic(backward, setup=lambda: ((impl.build(),), {}), rounds=5)
    check(impl, out["r"], sizes)
