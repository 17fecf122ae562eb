"""Huge and deep graphs, and memory: build, differentiate and free without a crash or a leak.

The big graphs run in a subprocess started with a default interpreter (default recursion
limit, default thread stack), so that a C stack overflow shows up as a failed test with the
child's signal, not as a crashed test run.  The oracles are closed forms: for the chain
``x = x * c + d`` repeated n times, d x_n / d x_0 = c ** n; for sums of a million terms
the gradients are integers that float arithmetic holds exactly.

Slow tests (``--runslow``): the 10^7-node chain in the compiled engine (it prints its time
and peak RSS: run ``python3 -m pytest -q -s --runslow tests/test_reliability.py``), the
10^6 chain and fan-in/fan-out in the reference engine, and the 10^6-graph RSS loop.
"""
import gc
import os
import subprocess
import sys
import textwrap
import tracemalloc
import weakref

import pytest

import autodiff

# The directory that holds the ``autodiff`` package under test, for the child interpreter.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))


def run_child(engine, script, *args, timeout=900):
    """Run ``script`` in a fresh interpreter with ``ad`` bound to the named engine.

    Returns the child's stdout; fails the test, with the child's stderr, if it exits
    with an error or is killed by a signal (a segfault is returncode -11).
    """
    prelude = textwrap.dedent(f"""\
        import importlib, resource, sys, time
        ad = importlib.import_module({'autodiff' if engine == 'compiled' else 'autodiff.reference'!r})
        assert ad.ENGINE == {engine!r}, "the {engine} engine did not load: " + ad.ENGINE
        def peak_rss_mib():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    env.pop("AUTODIFF_PURE", None)
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)]
                          + [str(a) for a in args],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=PACKAGE_ROOT)    # `python -c` puts its cwd first on sys.path
    assert proc.returncode == 0, (f"child exited with {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-20000:]}")
    return proc.stdout


# --------------------------------------------------------------------------------------
# Deep chains: x = x * 0.999999 + 1e-6, n times
# --------------------------------------------------------------------------------------

CHAIN = """
    import gc, weakref
    n = int(sys.argv[1])
    c = 0.999999

    class Leaf(ad.Var):          # a Python subclass, so that it can be weakly referenced
        pass

    t0 = time.perf_counter()
    x0 = Leaf(0.5)
    x = x0
    for _ in range(n):
        x = x * c + 1e-6
    t1 = time.perf_counter()
    g = ad.get_gradients(x)
    t2 = time.perf_counter()
    assert len(g) == 2 * n, len(g)          # a Mul and an Add per step, root excluded
    exact = c ** n                          # d x_n / d x_0, the closed form
    assert abs(g[x0] / exact - 1.0) < 1e-9, (g[x0], exact)
    assert ad.gradients(x, x0) == g[x0]
    del g
    leaf = weakref.ref(x0)
    del x0
    assert leaf() is not None               # the chain still holds its leaf
    t3 = time.perf_counter()
    del x                                   # drops the whole chain, top to bottom
    t4 = time.perf_counter()
    assert leaf() is None, "the chain was not freed by its last reference"
    print(f"n={n} nodes={2 * n + 1} build={t1 - t0:.2f}s get_gradients={t2 - t1:.2f}s "
          f"del={t4 - t3:.2f}s peak_rss={peak_rss_mib():.0f}MiB")
"""


def test_compiled_chain_1e6_in_default_interpreter():
    out = run_child("compiled", CHAIN, 10**6)
    assert "nodes=2000001" in out


@pytest.mark.slow
def test_compiled_chain_1e7_in_default_interpreter():
    out = run_child("compiled", CHAIN, 10**7)
    print(out)
    assert "nodes=20000001" in out


def test_reference_chain_1e5_in_default_interpreter():
    out = run_child("reference", CHAIN, 10**5)
    assert "nodes=200001" in out


@pytest.mark.slow
def test_reference_chain_1e6_in_default_interpreter():
    out = run_child("reference", CHAIN, 10**6)
    print(out)
    assert "nodes=2000001" in out


# Deleting chains of unusual shape: each node holding the same child twice (x * x), and
# chains of user-defined Python subclass nodes (GC-tracked, unlike the built-in nodes),
# with the child in .grad only or also in an attribute (freed through the instance dict).
ODD_CHAINS = """
    import weakref
    n = int(sys.argv[1])

    class Leaf(ad.Var):
        pass

    class Scale(ad.Ops):                    # the tutorial's style: value and grad only
        def __init__(self, x):
            self.value = x.value * 0.5
            self.grad = [(x, 0.5)]

    class Keep(ad.Ops):                     # also keeps its input as an attribute
        def __init__(self, x):
            self.x = x
            self.value = x.value
            self.grad = [(x, 1.0), (x, 1.0), (x, -1.0)]   # three edges: a malloc'd array

    def check(step, expected):
        x0 = Leaf(1.0)
        x = x0
        for _ in range(n):
            x = step(x)
        assert ad.gradients(x, x0) == expected(x0), (ad.gradients(x, x0), expected(x0))
        leaf = weakref.ref(x0)
        del x0, x
        assert leaf() is None

    # x * x at 1.0 stays 1.0 and each step doubles the derivative (exact powers of two,
    # inf from 2 ** 1024 on); Scale halves it (0.0 from 2 ** -1075 on).
    check(lambda x: x * x, lambda x0: 2.0 ** n if n < 1024 else float("inf"))
    check(Scale, lambda x0: 0.5 ** n if n < 1075 else 0.0)
    check(Keep, lambda x0: 1.0)
    print("ok")
"""


@pytest.mark.parametrize("engine,n", [("compiled", 2 * 10**5), ("reference", 5 * 10**4)])
def test_deleting_chains_of_shared_children_and_user_nodes(engine, n):
    assert run_child(engine, ODD_CHAINS, n).strip() == "ok"


# --------------------------------------------------------------------------------------
# Fan-in and fan-out of 10^6
# --------------------------------------------------------------------------------------

FAN = """
    n = int(sys.argv[1])

    class Sum(ad.Ops):                      # one node with n children
        def __init__(self, terms):
            self.value = float(sum(t.value for t in terms))
            self.grad = [(t, 1.0) for t in terms]

    xs = [ad.Var(float(i)) for i in range(n)]
    # fan-in through a chain of n - 1 Adds, and in a single node with n edges
    g = ad.get_gradients(sum(xs))
    assert len(g) == 2 * n - 1 and all(g[x] == 1.0 for x in xs)
    assert ad.gradients(Sum(xs) * 3.0, xs) == [3.0] * n

    # fan-out: one leaf used n times, by n separate nodes and n times by one node
    x = ad.Var(1.5)
    weights = [float(i % 7) for i in range(n)]
    exact = float(sum(i % 7 for i in range(n)))         # integers: exact in floats
    assert ad.gradients(Sum([x * w for w in weights]), x) == exact
    assert ad.gradients(Sum([x] * n), x) == float(n)
    y = x
    for _ in range(n):
        y = y + x
    assert ad.get_gradients(y)[x] == float(n + 1)
    print("ok")
"""


@pytest.mark.parametrize("engine,n", [("compiled", 10**6), ("reference", 5 * 10**4)])
def test_fan_in_and_fan_out(engine, n):
    assert run_child(engine, FAN, n).strip() == "ok"


@pytest.mark.slow
def test_reference_fan_in_and_fan_out_1e6():
    assert run_child("reference", FAN, 10**6).strip() == "ok"


# --------------------------------------------------------------------------------------
# Memory: freed by reference counting alone, flat over many graphs, bytes per node
# --------------------------------------------------------------------------------------


def _square_class(ad):
    """The tutorial's user-defined node.  Made once per test: a class is itself in
    reference cycles, so making one while the cyclic GC is off would leave garbage."""
    class Square(ad.Ops):
        def __init__(self, x):
            self.value = x.value ** 2
            self.grad = [(x, 2 * x.value)]
    return Square


def _program(ad, square, n):
    """A graph of every kind of node: a chain, shared children, constants, a user node."""
    a, b = ad.Var(0.3), ad.Var(1.7)
    x = a
    for _ in range(n):
        x = x * 0.999 + b
    y = square(ad.sin(x) * x) / (1 + ad.exp(-b)) - ad.maximum(a, b) ** 2.0
    return a, b, y


def test_graph_freed_by_reference_counting_with_gc_disabled(ad):
    square = _square_class(ad)

    def build_and_drop():
        """Build, differentiate and drop a graph; returns the traced bytes it peaked at."""
        start = tracemalloc.get_traced_memory()[0]
        a, b, y = _program(ad, square, 5000)
        g = ad.get_gradients(y)
        ad.gradients(y, [a, b])
        used = tracemalloc.get_traced_memory()[0] - start
        del g, y, a, b
        return used

    was_enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()
    try:
        build_and_drop()                    # warm-up: caches, interned objects
        base = tracemalloc.get_traced_memory()[0]
        used = build_and_drop()
        left = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()
    assert used > 10000 * 50                # the graph was really there, ~10k nodes
    assert left < 4096, f"{left} bytes not freed after del with the cyclic GC off"


def test_user_nodes_freed_without_gc(ad):
    class Leaf(ad.Var):
        pass

    class Twice(ad.Ops):
        def __init__(self, x):
            self.value = 2 * x.value
            self.grad = [(x, 2.0)]

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        x0 = Leaf(1.0)
        ref = weakref.ref(x0)
        y = x0
        for _ in range(100):
            y = Twice(y) + x0
        assert ad.get_gradients(y)[x0] > 0
        del x0, y
        assert ref() is None
    finally:
        if was_enabled:
            gc.enable()


def bytes_per_node(ad, n=20000):
    """Traced bytes per node of a chain x = x * c + d (two nodes per step)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        x = ad.Var(1.0)
        for _ in range(n):
            x = x * 0.5 + 1.0
        used = tracemalloc.get_traced_memory()[0] - base
        del x
    finally:
        tracemalloc.stop()
    return used / (2 * n)


def test_bytes_per_node(ad):
    size = bytes_per_node(ad)
    print(f"{ad.ENGINE}: {size:.1f} bytes per node")
    # The compiled node is 64 bytes (object header, value, two inline edges, counters).
    bound = 80 if ad.ENGINE == "compiled" else 400
    assert 16 < size <= bound


RSS_LOOP = """
    import os
    n = int(sys.argv[1])
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    class Sum3(ad.Ops):                     # a user node with three edges
        def __init__(self, a, b, c):
            self.value = a.value + b.value + c.value
            self.grad = [(a, 1.0), (b, 1.0), (c, 1.0)]

    class Leaf(ad.Var):                     # keeps its consumers: cycles, as users write
        def __init__(self, value):
            super().__init__(value)
            self.consumers = []

    class Square(ad.Ops):
        def __init__(self, x):
            self.value = x.value ** 2
            self.grad = [(x, 2.0 * x.value)]
            if hasattr(x, "consumers"):
                x.consumers.append(self)    # Square -> Leaf -> list -> Square

    def one(i):
        a, b = ad.Var(i * 1e-6), ad.Var(2.0)
        d = a * (a + b)
        e = Sum3(ad.sin(d), d / (b + 1), ad.exp(-a)) - ad.log(b) ** 2
        g = ad.get_gradients(e)
        # Reference cycles made by user code: through a consumer list, through a built-in
        # node above a user node, and through .grad; only the cyclic GC can free them.
        c = Leaf(0.5)
        s = Square(ad.sin(Square(c)) * 2.0)
        u = Sum3(c, c, c)
        u.grad = [(s, 1.0), (u * 3.0, 1.0)]
        c.consumers.append(s)
        return g[a] + sum(ad.gradients(e, [a, b])) + s.value

    warm = max(n // 10, 1000)
    for i in range(warm):
        one(i)
    before = rss()
    for i in range(warm, n):
        one(i)
    after = rss()
    print(before, after, after - before, peak_rss_mib())
"""


def _rss_growth(engine, n):
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("under AddressSanitizer freed memory sits in its quarantine: RSS grows")
    before, after, growth, peak = run_child(engine, RSS_LOOP, n).split()
    return int(growth), float(peak)


@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_rss_flat_over_many_small_graphs(engine):
    growth, _ = _rss_growth(engine, 2 * 10**5 if engine == "compiled" else 2 * 10**4)
    # A leak of 8 bytes per graph would grow by more than this.
    assert growth < 256 * 1024, f"RSS grew by {growth} bytes"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_rss_flat_over_a_million_small_graphs(engine):
    growth, peak = _rss_growth(engine, 10**6)
    print(f"{engine}: RSS growth over 9e5 graphs after warm-up {growth} bytes, "
          f"peak {peak:.0f} MiB")
    assert growth < 256 * 1024, f"RSS grew by {growth} bytes"
