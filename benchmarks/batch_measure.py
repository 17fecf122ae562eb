"""Many points at once (issue 13): batched replay against its floors, in one interleaved run.

    python benchmarks/batch_measure.py            # about a minute
    python benchmarks/batch_measure.py --quick    # fewer rounds

Per point, value and gradient of the tutorial's f(a, b) = (a/b - a) * (b/a + a + b) * (a - b):
``tape.vmap().value_and_grad(A, B)`` with one and two workers, the Python loop over
``tape.value_and_grad``, a hand-written C loop (built here with gcc and the engine's flags,
called through ctypes) and, if installed, ``jax.jit(jax.vmap(jax.value_and_grad(f)))`` on one
thread.  Then longer tapes (the chain of workload 1 and the MLP's loss with fixed weights as
a function of the input point): batched against single calls, per point per operation.
Then the peak RSS growth of a batched call at 10^6 points, in a fresh process.

Every figure is the minimum over rounds; the ways are timed in turn within each round, so
that ratios compare like with like on a loaded machine.
"""
import ctypes
import os
import subprocess
import sys
import tempfile
import textwrap
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import autodiff  # noqa: E402
import workloads as W  # noqa: E402


def f(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)


C_SOURCE = r"""
/* Value and both partials of the tutorial f, by hand, point by point. */
void f_value_and_grad(const double* A, const double* B, double* v, double* ga, double* gb,
                      long n) {
    for (long i = 0; i < n; i++) {
        double a = A[i], b = B[i];
        double u = a / b - a, w = b / a + a + b, z = a - b;
        double uw = u * w;
        double du_a = 1.0 / b - 1.0, du_b = -a / (b * b);
        double dw_a = 1.0 - b / (a * a), dw_b = 1.0 / a + 1.0;
        v[i] = uw * z;
        ga[i] = (du_a * w + u * dw_a) * z + uw;
        gb[i] = (du_b * w + u * dw_b) * z - uw;
    }
}
"""


def c_loop():
    """The hand-written C loop, compiled with the engine's flags; None without gcc."""
    work = tempfile.mkdtemp(prefix="batch-measure-")
    src, lib = os.path.join(work, "f.c"), os.path.join(work, "f.so")
    with open(src, "w") as fh:
        fh.write(C_SOURCE)
    try:
        subprocess.run(["gcc", "-O3", "-ffp-contract=off", "-fno-fast-math", "-shared",
                        "-fPIC", src, "-o", lib], check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    fn = ctypes.CDLL(lib).f_value_and_grad
    p = ctypes.POINTER(ctypes.c_double)
    fn.argtypes = [p, p, p, p, p, ctypes.c_long]

    def run(A, B):
        n = len(A)
        v, ga, gb = np.empty(n), np.empty(n), np.empty(n)
        fn(*(x.ctypes.data_as(p) for x in (A, B, v, ga, gb)), n)
        return v, (ga, gb)
    return run


def jax_way():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    g = jax.jit(jax.vmap(jax.value_and_grad(f, (0, 1))))

    def run(A, B):
        v, (ga, gb) = g(A, B)
        v.block_until_ready()
        return v, (ga, gb)
    return run


def timed(fn, *args, reps=1):
    start = time.perf_counter()
    for _ in range(reps):
        fn(*args)
    return (time.perf_counter() - start) / reps


def tutorial(rounds, sizes=(4096, 10**5, 10**6), loop_points=20_000):
    """ns per point; 4096 points fit in the caches and reuse their memory from call to call,
    so that size shows the sweeps without the first touch of fresh output pages (~3 us per
    4 KiB page here), which every way pays alike at 10^5 and 10^6 points."""
    tape = autodiff.record(f, 230.3, 33.2, argnums=(0, 1))
    batched = tape.vmap()
    ways = {"batched, workers=1": lambda A, B: batched.value_and_grad(A, B),
            "batched, workers=2": lambda A, B: batched.value_and_grad(A, B, workers=2)}
    c = c_loop()
    if c:
        ways["C loop by hand"] = c
    j = jax_way()
    if j:
        ways["jax.jit(vmap(value_and_grad)), 1 thread"] = j

    def python_loop(A, B):
        vg = tape.value_and_grad
        for a, b in zip(A[:loop_points].tolist(), B[:loop_points].tolist()):
            vg(a, b)
    ways["Python loop over tape.value_and_grad"] = python_loop
    rows = {}
    for n in sizes:
        rng = np.random.default_rng(0)
        A, B = rng.uniform(0.5, 4.0, n), rng.uniform(0.5, 4.0, n)
        # The batch is the single calls, bit for bit (checked on a sample).
        v, (ga, gb) = batched.value_and_grad(A, B, workers=2)
        for i in range(0, n, max(1, n // 97)):
            assert (v[i], (ga[i], gb[i])) == tape.value_and_grad(A[i], B[i])
        for fn in ways.values():
            fn(A[:1000], B[:1000])                  # warm up (and compile JAX)
        best = {name: float("inf") for name in ways}
        for _ in range(rounds):
            for name, fn in ways.items():
                points = min(n, loop_points) if name.startswith("Python") else n
                reps = max(1, 100_000 // n)
                best[name] = min(best[name], timed(fn, A, B, reps=reps) / points)
        rows[n] = best
    return rows


def long_tapes(rounds, points=2000):
    """Batched against single calls on longer tapes, ns per point per operation."""
    X, Y, layers = W.mlp_data(1)

    def mlp(x, y):
        return W.mlp_loss(layers, [(x[0], x[1])], [y], autodiff.tanh)

    def chain(x):
        return W.chain(x, 1000, autodiff.sin, autodiff.exp, autodiff.log)

    cases = {"MLP loss (2-16-16-1), fixed weights": (autodiff.record(mlp, np.array(X[0]), Y[0],
                                                                       argnums=(0, 1)), 2),
             "chain of workload 1, 1000 ops": (autodiff.record(chain, W.CHAIN_X0), 1)}
    out = {}
    rng = np.random.default_rng(1)
    for name, (tape, n_args) in cases.items():
        if n_args == 2:
            args = (rng.uniform(-2, 2, (points, 2)), rng.uniform(-1, 1, points))
        else:
            args = (rng.uniform(0.1, 1.0, points),)
        batched = tape.vmap()

        def single(args=args, tape=tape):
            vg = tape.value_and_grad
            for p in zip(*args):
                vg(*p)
        best_b = best_s = float("inf")
        for _ in range(rounds):
            best_b = min(best_b, timed(batched.value_and_grad, *args))
            best_s = min(best_s, timed(single))
        per = 1e9 / points / tape.n_ops
        out[name] = (tape.n_ops, best_s * per, best_b * per)
    return out


RSS_CHILD = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import autodiff
def status(field):      # VmHWM (peak) and VmRSS are exact when read, unlike ru_maxrss
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(field + ":")) / 1024
def f(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)
tape = autodiff.record(f, 230.3, 33.2, argnums=(0, 1))
batched = tape.vmap()
batched.value_and_grad(np.ones(1000), np.ones(1000))
n = 10**6
A, B = np.random.default_rng(0).uniform(0.5, 4, n), np.random.default_rng(1).uniform(0.5, 4, n)
before = status("VmHWM")
v, (ga, gb) = batched.value_and_grad(A, B, workers=int(sys.argv[2]))
after = status("VmHWM")
print(after - before, (v.nbytes + ga.nbytes + gb.nbytes) / 2**20)
"""


WORKERS_CHILD = """
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
import autodiff
def f(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)
batched = autodiff.record(f, 230.3, 33.2, argnums=(0, 1)).vmap()
for n in (10**5, 10**6):
    rng = np.random.default_rng(0)
    A, B = rng.uniform(0.5, 4, n), rng.uniform(0.5, 4, n)
    best = {1: 1e9, 2: 1e9}
    for _ in range(int(sys.argv[2])):
        for w in (1, 2):
            t0 = time.perf_counter()
            batched.value_and_grad(A, B, workers=w)
            best[w] = min(best[w], time.perf_counter() - t0)
    print(n, best[1] / n * 1e9, best[2] / n * 1e9)
"""


def workers_speedup(rounds):
    """workers=2 against 1 in a fresh process: JAX's thread pool, once started, keeps a core
    busy for a while after each call, which would hide any second core from our threads."""
    out = subprocess.run([sys.executable, "-c", WORKERS_CHILD, os.path.dirname(HERE),
                          str(rounds)], capture_output=True, text=True, check=True).stdout
    return [tuple(float(x) for x in line.split()) for line in out.splitlines()]


def peak_rss(workers):
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, os.path.dirname(HERE), str(workers)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main():
    quick = "--quick" in sys.argv
    rounds = 3 if quick else 7
    print(f"autodiff {autodiff.__version__} ({autodiff.ENGINE}), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = tutorial(rounds)
    print("\nTutorial f, value and both partials, ns per point (min of "
          f"{rounds} interleaved rounds)")
    names = list(next(iter(rows.values())))
    print(f"{'way':44s}" + "".join(f"{n:>14,d}" for n in rows))
    for name in names:
        print(f"{name:44s}" + "".join(f"{rows[n][name] * 1e9:14.1f}" for n in rows))
    for n, best in rows.items():
        b1 = best["batched, workers=1"]
        line = [f"n={n:,}: Python loop / batched = {best['Python loop over tape.value_and_grad'] / b1:.0f}x"]
        if "C loop by hand" in best:
            line.append(f"batched / C loop = {b1 / best['C loop by hand']:.2f}x")
        jname = "jax.jit(vmap(value_and_grad)), 1 thread"
        if jname in best:
            line.append(f"batched / JAX = {b1 / best[jname]:.2f}x")
        line.append(f"workers=2 speed-up = {b1 / best['batched, workers=2']:.2f}x")
        print("  " + "; ".join(line))
    print("\nworkers=2 against workers=1, tutorial f, in a process without JAX (ns per point)")
    for n, one, two in workers_speedup(rounds):
        print(f"  n={int(n):,}: workers=1 {one:.1f}, workers=2 {two:.1f}, speed-up {one / two:.2f}x")
    print(f"\nLonger tapes, ns per point per operation ({2000} points)")
    for name, (n_ops, single, batched) in long_tapes(rounds).items():
        print(f"  {name} ({n_ops} ops): single calls {single:.2f}, batched {batched:.2f}, "
              f"ratio {single / batched:.1f}x")
    for workers in (1, 2):
        growth, outputs = peak_rss(workers)
        print(f"\nPeak RSS (VmHWM) growth of one batched call at 10^6 points, workers={workers}: "
              f"{growth:.1f} MiB (outputs {outputs:.1f} MiB)")


if __name__ == "__main__":
    main()
