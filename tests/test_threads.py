"""Several threads building and differentiating graphs at once get the results they get alone.

The interpreter is asked to switch threads as often as it can (``sys.setswitchinterval``)
so that threads interleave inside graph building, user-defined nodes' ``__init__`` and
deallocation.  The oracle is the same computation run alone in the main thread first;
results are compared exactly.
"""
import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

THREADS = 4


def _size(ad, compiled, reference):
    """Work sizes: the reference engine is slow with threads switching this often."""
    return compiled if ad.ENGINE == "compiled" else reference


@pytest.fixture(autouse=True)
def frequent_switches():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _user_classes(ad):
    class Square(ad.Ops):                   # the tutorial's style
        def __init__(self, x):
            self.value = x.value ** 2
            self.grad = [(x, 2 * x.value)]

    class Mean3(ad.Ops):                    # three edges: a malloc'd array in the compiled engine
        def __init__(self, a, b, c):
            self.value = (a.value + b.value + c.value) / 3
            self.grad = [(a, 1 / 3), (b, 1 / 3), (c, 1 / 3)]

        def __del__(self):                  # Python code run while a graph is being freed
            pass

    return Square, Mean3


def _program(ad, classes, seed, steps=200):
    """A graph that depends on seed: every kind of node, shared subexpressions, user nodes.

    Returns the value, get_gradients of the leaves and gradients of the leaves.
    """
    Square, Mean3 = classes
    a, b, c = ad.Var(0.1 + seed * 1e-3), ad.Var(1.3 - seed * 1e-3), ad.Var(0.7)
    x = a
    for i in range(steps):
        x = Mean3(ad.sin(x) * b, Square(x) - c, ad.tanh(x + a)) if i % 3 == 0 else \
            x * 0.9 + ad.exp(-Square(b)) / (1 + c ** 2)
    y = ad.log(ad.absolute(x) + 1) * ad.maximum(a, b) + ad.arctan2(x, c)
    table = ad.get_gradients(y)
    return y.value, [table[v] for v in (a, b, c)], ad.gradients(y, [a, b, c])


def _run_threads(work, n=THREADS):
    """Run work(k) in n threads started together; return their results in order."""
    barrier = threading.Barrier(n)

    def start(k):
        barrier.wait()
        return work(k)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(start, range(n)))


def test_many_graphs_in_threads_match_serial(ad):
    classes = _user_classes(ad)
    seeds = range(_size(ad, 40, 8))
    alone = [_program(ad, classes, s) for s in seeds]

    def work(k):
        # every thread does every seed, starting at a different place
        order = [seeds[(i + 3 * k) % len(seeds)] for i in range(len(seeds))]
        return {s: _program(ad, classes, s) for s in order}

    for results in _run_threads(work):
        assert [results[s] for s in seeds] == alone


def test_shared_graph_differentiated_by_all_threads(ad):
    """get_gradients and gradients of one graph, from every thread at once."""
    Square, Mean3 = _user_classes(ad)
    leaves = [ad.Var(0.01 * i) for i in range(50)]
    x = leaves[0]
    for i in range(_size(ad, 4000, 1000)):
        v = leaves[i % len(leaves)]
        x = Mean3(x, ad.sin(v) * x, Square(v)) if i % 7 == 0 else x * 0.999 + ad.cos(v)
    root = x
    alone_table = ad.get_gradients(root)
    alone = [alone_table[v] for v in leaves]
    assert alone == ad.gradients(root, leaves)
    assert all(math.isfinite(g) for g in alone) and any(g != 0.0 for g in alone)

    def work(k):
        out = []
        for _ in range(_size(ad, 15, 4)):
            table = ad.get_gradients(root)
            out.append(([table[v] for v in leaves], len(table)))
            out.append((ad.gradients(root, leaves), len(table)))
        return out

    for results in _run_threads(work):
        for grads, size in results:
            assert grads == alone and size == len(alone_table)


def test_building_and_freeing_long_chains_in_threads(ad):
    """Threads free long chains at the same time (the compiled engine frees through a
    stack of pending nodes, not by recursion), including user nodes with __del__."""
    classes = _user_classes(ad)
    Square, Mean3 = classes

    n = _size(ad, 20000, 3000)

    def chain(k):
        x0 = ad.Var(1.0)
        x = x0
        for i in range(n):
            x = Mean3(x, x, x) if i % 5 == 0 else x * 1.0 + (0.001 * k)
        g = ad.gradients(x, x0)
        del x
        return g

    alone = [chain(k) for k in range(THREADS)]
    assert alone == [1.0] * THREADS          # every step has derivative 1 exactly
    assert _run_threads(chain) == alone
