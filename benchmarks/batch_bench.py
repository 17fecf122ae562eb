"""Many points at once (issue 13): the tutorial's f, value and both partials at each of N points.

``batch_results(cfg)`` runs, for each N of ``cfg.batch_points`` (10^5 and 10^6 in the full
run), one interleaved comparison (``tasks.Task``), in ns per point:

* a hand-written C loop (value and the two analytic partials, built here with the system
  compiler and the engine's flags ``-O3 -ffp-contract=off -fno-fast-math``, loaded with
  ctypes; the row is skipped when there is no compiler): the compiled floor;
* plain NumPy, value only (the floor for the value);
* ``jax.jit(jax.vmap(jax.value_and_grad(f, (0, 1))))`` called on NumPy arrays; torch and
  autograd vectorised (one graph over the arrays); CasADi ``Function.map``;
* the Python loop over ``tape.value_and_grad`` (on ``cfg.batch_loop_points`` points: it is
  the slow way, per point it does not depend on N);
* ``tape.vmap().value_and_grad(A, B, workers=k)`` for each k of ``cfg.batch_workers``.

Then the longer tapes, per point and per operation, batched against the single-point replay
on the same points: the scalar MLP's loss (2-16-16-1 tanh, the weights of workload 3 fixed) as
a function of the input point, and the chain of workload 1 (``cfg.batch_chain_n`` ops).
Last, in a fresh process, the peak RSS growth (VmHWM, reset first through
``/proc/self/clear_refs``) of one batched call at the largest N against its outputs' size.

Checks before timing: the C loop equals NumPy's analytic partials (relative 1e-12) and the
tutorial's printed partials at (230.3, 33.2); every peer equals the analytic partials
(relative 1e-12 of the largest entry); the batched tape equals N single calls of
``tape.value_and_grad`` bit for bit.  A planned method that does not exist yet leaves its row
"not available".  ``python benchmarks/batch_bench.py [--quick|--smoke] [--peers ...]``
prints the section.
"""
from __future__ import annotations

import ctypes
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
try:
    import autodiff  # noqa: F401
except ImportError:                       # not installed: use the source tree
    sys.path.insert(0, os.path.dirname(HERE))

import autodiff  # noqa: E402,F811
import workloads as W  # noqa: E402
from render import fmt_ratio, fmt_time, line_chart, table  # noqa: E402
from tasks import Task  # noqa: E402

REL = 1e-12

_C_F = r"""
/* The tutorial's f(a, b) = (a/b - a) * (b/a + a + b) * (a - b), its value and both partials
   at n points, by the product rule written out: the compiled floor. */
void f_value_and_grad(const double* a, const double* b, double* v, double* da, double* db,
                      long n) {
    long i;
    for (i = 0; i < n; i++) {
        double x = a[i], y = b[i];
        double u = x / y - x, w = y / x + x + y, z = x - y;
        double u_a = 1.0 / y - 1.0, u_b = -x / (y * y);
        double w_a = 1.0 - y / (x * x), w_b = 1.0 / x + 1.0;
        double wz = w * z, uz = u * z, uw = u * w;
        v[i] = uw * z;
        da[i] = u_a * wz + w_a * uz + uw;
        db[i] = u_b * wz + w_b * uz - uw;
    }
}
"""


def analytic(a, b):
    """Value and partials of f in NumPy, the same formulas as the C loop (the oracle)."""
    u, w, z = a / b - a, b / a + a + b, a - b
    u_a, u_b = 1.0 / b - 1.0, -a / (b * b)
    w_a, w_b = 1.0 - b / (a * a), 1.0 / a + 1.0
    return u * w * z, u_a * w * z + w_a * u * z + u * w, u_b * w * z + w_b * u * z - u * w


def points(n, seed=13):
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 4.0, n), rng.uniform(0.5, 3.0, n)


class CLoop:
    """The hand-written C loop, compiled at run time (RuntimeError without a compiler)."""

    def __init__(self):
        from replay_bench import compile_c
        self.lib = compile_c(_C_F, "tutorial_f")
        p = ctypes.POINTER(ctypes.c_double)
        self.lib.f_value_and_grad.argtypes = [p, p, p, p, p, ctypes.c_long]
        self.lib.f_value_and_grad.restype = None
        self._p = p

    def __call__(self, a, b):
        n = len(a)
        v, da, db = np.empty(n), np.empty(n), np.empty(n)
        p = self._p
        self.lib.f_value_and_grad(a.ctypes.data_as(p), b.ctypes.data_as(p), v.ctypes.data_as(p),
                                  da.ctypes.data_as(p), db.ctypes.data_as(p), n)
        return v, da, db


def as_arrays(out):
    """(values (N,), gradients (N, k)) from a batched value_and_grad, whichever of the
    natural layouts it returns: (v, (dA, dB)), (v, G) with G (N, k), or (v, dA, dB)."""
    if len(out) == 3:
        v, grads = out[0], out[1:]
    else:
        v, grads = out
    v = np.asarray(v, dtype=float).reshape(-1)
    if isinstance(grads, (tuple, list)):
        G = np.column_stack([np.asarray(g, dtype=float).reshape(-1) for g in grads])
    else:
        G = np.asarray(grads, dtype=float)
        G = G.reshape(len(v), -1)
    return v, G


def check_vg(want_v, want_G, rel=REL):
    """A check of (values, gradients) against the oracle, within ``rel`` of the largest."""
    def check(out):
        v, G = as_arrays(out)
        for got, want, what in ((v, want_v, "values"), (G, want_G, "gradients")):
            if got.shape != want.shape:
                raise AssertionError(f"{what}: shape {got.shape}, expected {want.shape}")
            err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)
            if not err <= rel:
                raise AssertionError(f"{what}: relative error {err:.2e} > {rel:.0e}")
    return check


def check_equal(want_v, want_G):
    """A check: exactly the single calls' values and gradients (bit for bit)."""
    def check(out):
        v, G = as_arrays(out)
        if not (np.array_equal(v, want_v) and np.array_equal(G, want_G)):
            bad = int(np.sum(v != want_v) + np.sum(np.any(G != want_G, axis=1)))
            raise AssertionError(f"not bit for bit equal to single calls ({bad} points differ)")
    return check


def single_calls(tape, columns):
    """Values and gradients of a Python loop over tape.value_and_grad (the batched oracle)."""
    vs, gs = [], []
    for args in zip(*columns):
        value, grads = tape.value_and_grad(*args)
        vs.append(value)
        gs.append(np.ravel(np.asarray(grads, dtype=float)))
    return np.array(vs), np.array(gs)


# ======================================================================================
# The tutorial f at N points.
# ======================================================================================

def f_task(n, cfg, c_loop):
    task = Task(f"f {n}", f"The tutorial's f, value and both partials, {n:,} points")
    A, B = points(n)
    v0, da0, db0 = analytic(A, B)
    G0 = np.column_stack([da0, db0])
    check = check_vg(v0, G0)
    f = W.tutorial_f
    if c_loop is not None:
        task.add("C loop by hand", lambda: (lambda: c_loop(A, B)), check, kind="floor",
                 units=n, note="gcc -O3 -ffp-contract=off -fno-fast-math, ctypes")
    else:
        task.skip("C loop by hand", "no C compiler", kind="floor")
    task.add("NumPy, value only", lambda: (lambda: f(A, B)),
             lambda out: check_vg(v0, G0)((out, G0)), kind="floor", units=n,
             note="no derivatives: the floor for the value")
    _f_peers(task, A, B, check, n)
    m = min(cfg.batch_loop_points, n)
    tape = autodiff.record(f, W.F_A, W.F_B, argnums=(0, 1))
    Al, Bl = A[:m].tolist(), B[:m].tolist()

    def loop():
        vg = tape.value_and_grad
        return [vg(a, b) for a, b in zip(Al, Bl)]
    task.add("autodiff: Python loop over tape.value_and_grad", lambda: loop,
             lambda out: check_vg(v0[:m], G0[:m])((np.array([o[0] for o in out]),
                                                    np.array([o[1] for o in out]))),
             kind="base", units=m, note=f"on {m:,} of the points")
    single = {}

    def want_single():
        if "vg" not in single:
            single["vg"] = single_calls(tape, (A, B))
        return single["vg"]
    for k in cfg.batch_workers:
        def make(k=k):
            batched = tape.vmap()
            call = lambda: batched.value_and_grad(A, B, workers=k)  # noqa: E731
            want_single()
            return call

        def check_k(out):
            check_equal(*want_single())(out)
            check(out)
        task.add(f"autodiff: tape.vmap().value_and_grad, workers={k}", make, check_k,
                 kind="ours", units=n)
    return task


def _f_peers(task, A, B, check, n):
    f = W.tutorial_f
    jax = W.peer("jax")
    if jax is not None:
        def make_jax():
            fn = jax.jit(jax.vmap(jax.value_and_grad(f, (0, 1))))
            start = time.perf_counter()
            out = fn(A, B)
            out[0].block_until_ready()
            task.compile_s["jax"] = time.perf_counter() - start

            def call():
                value, grads = fn(A, B)
                value.block_until_ready()
                return np.asarray(value), tuple(np.asarray(g) for g in grads)
            return call
        task.add("jax.jit(jax.vmap(jax.value_and_grad))", make_jax, check, units=n,
                 note="NumPy in and out, one XLA thread")
    else:
        task.skip("jax.jit(jax.vmap(jax.value_and_grad))", f"jax missing "
                  f"({W.peer_reason('jax')})")
    torch = W.peer("torch")
    if torch is not None:
        def make_torch():
            def call():
                a = torch.from_numpy(A).requires_grad_()
                b = torch.from_numpy(B).requires_grad_()
                value = f(a, b)
                da, db = torch.autograd.grad(value.sum(), (a, b))
                return value.detach().numpy(), (da.numpy(), db.numpy())
            return call
        task.add("torch vectorised", make_torch, check, units=n, note="one thread")
    else:
        task.skip("torch vectorised", f"torch missing ({W.peer_reason('torch')})")
    ag = W.peer("autograd")
    if ag is not None:
        AB = np.stack([A, B])
        ones = np.ones(n)

        def make_ag():
            def call():
                vjp, value = ag.make_vjp(lambda ab: f(ab[0], ab[1]))(AB)
                g = vjp(ones)
                return value, (g[0], g[1])
            return call
        task.add("autograd vectorised", make_ag, check, units=n)
    else:
        task.skip("autograd vectorised", f"autograd missing ({W.peer_reason('autograd')})")
    ca = W.peer("casadi")
    if ca is not None:
        def make_ca():
            a, b = ca.SX.sym("a"), ca.SX.sym("b")
            expr = f(a, b)
            F = ca.Function("f", [a, b], [expr, ca.gradient(expr, ca.vertcat(a, b))])
            Fm = F.map(n)
            A1, B1 = A.reshape(1, -1), B.reshape(1, -1)

            def call():
                value, grads = Fm(A1, B1)
                value, grads = value.full(), grads.full()
                return value.ravel(), (grads[0], grads[1])
            return call
        task.add("CasADi Function.map", make_ca, check, units=n, note="serial map, from NumPy")
    else:
        task.skip("CasADi Function.map", f"casadi missing ({W.peer_reason('casadi')})")


# ======================================================================================
# Longer tapes: per point-operation, batched against single-point replay.
# ======================================================================================

MLP_TARGET = 0.3


def long_tasks(cfg):
    """The MLP loss of one point and workload 1's chain, each batched vs single-point."""
    out = []
    n = cfg.batch_long_points
    rng = np.random.default_rng(21)
    _, _, layers = W.mlp_data(1)

    def mlp_point_loss(x):
        return W.mlp_loss(layers, [x], [MLP_TARGET], autodiff.tanh)
    X = rng.uniform(-2.0, 2.0, (n, 2))
    mlp_tape = autodiff.record(mlp_point_loss, X[0].copy())
    out.append(_long_task("mlp", "Scalar MLP 2-16-16-1 loss of one input point (weights "
                          "fixed)", mlp_tape, (X,), cfg))
    from replay_bench import chain_tape
    chain = chain_tape(cfg.batch_chain_n)
    C = rng.uniform(0.4, 0.6, n)
    out.append(_long_task("chain", "Chain of workload 1 (sin, exp, log, *, +)", chain, (C,),
                          cfg))
    return out


def _long_task(key, title, tape, columns, cfg):
    n, ops = len(columns[0]), tape.n_ops
    task = Task(f"long {key}", f"{title}: {ops:,} ops, {n:,} points")
    task.ops = ops
    want = single_calls(tape, columns)
    rows = [c.tolist() if c.ndim == 1 else list(c) for c in columns]

    def loop():
        vg = tape.value_and_grad
        return [vg(*args) for args in zip(*rows)]

    def check_loop(out):
        v = np.array([o[0] for o in out])
        G = np.array([np.ravel(np.asarray(o[1], dtype=float)) for o in out])
        check_equal(*want)((v, G))
    task.add("autodiff: single-point replay (Python loop)", lambda: loop, check_loop,
             kind="base", units=n * ops)
    for k in cfg.batch_workers:
        def make(k=k):
            batched = tape.vmap()
            return lambda: batched.value_and_grad(*columns, workers=k)
        task.add(f"autodiff: tape.vmap().value_and_grad, workers={k}", make,
                 check_equal(*want), kind="ours", units=n * ops)
    return task


# ======================================================================================
# Memory: peak RSS growth of one batched call, in a fresh process.
# ======================================================================================

_MEMORY_CHILD = r"""
import json, sys
sys.path[:0] = {paths!r}
import numpy as np
import autodiff, workloads as W

def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

n = {n}
rng = np.random.default_rng(13)
A, B = rng.uniform(1.0, 4.0, n), rng.uniform(0.5, 3.0, n)
tape = autodiff.record(W.tutorial_f, W.F_A, W.F_B, argnums=(0, 1))
batched = tape.vmap()
batched.value_and_grad(A[:1000], B[:1000])           # first-call allocations
try:                                                 # reset the peak to the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    reset = False
before = hwm()
out = batched.value_and_grad(A, B)
print(json.dumps({{"growth": hwm() - before, "outputs": 3 * n * 8, "reset": reset}}))
"""


def memory_figure(n):
    """Peak RSS growth (bytes) of ``tape.vmap().value_and_grad`` at n points against the
    size of its outputs, in a fresh process; a dict with a ``note`` when it cannot run."""
    import json
    import subprocess
    code = _MEMORY_CHILD.format(paths=[HERE] + [p for p in sys.path if p], n=n)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    try:
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]), n=n)
    except Exception:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"n": n, "note": f"not measured ({last[:120]})"}


# ======================================================================================
# All of it.
# ======================================================================================

def batch_results(cfg=None):
    """Every figure of issue 13's table from one run (``cfg``: a ``config.Config``)."""
    if cfg is None or isinstance(cfg, bool):
        from config import Config
        cfg = Config.for_mode("smoke" if cfg else "full")
    try:
        c_loop = CLoop()
        v, da, db = c_loop(np.array([W.F_A]), np.array([W.F_B]))
        if not (abs(da[0] - W.F_DA) <= 1e-9 * abs(W.F_DA)
                and abs(db[0] - W.F_DB) <= 1e-9 * abs(W.F_DB)):
            raise AssertionError(f"C loop partials {da[0]}, {db[0]} differ from the tutorial's")
        c_note = None
    except RuntimeError as error:                 # no compiler: skip the floor cleanly
        c_loop, c_note = None, str(error)
    tasks = [f_task(n, cfg, c_loop) for n in cfg.batch_points]
    long = long_tasks(cfg)
    for task in tasks + long:
        task.run(cfg.timer)
    r = {"f": tasks, "long": long, "c_note": c_note, "cores": os.cpu_count(),
         "memory": memory_figure(max(cfg.batch_points))}
    r["targets"] = targets(r, cfg)
    return r


WORKERS_1 = "autodiff: tape.vmap().value_and_grad, workers=1"


def targets(r, cfg):
    rows = []

    def add(label, value, ok_if, fmt="{:.3g}×"):
        if value is None:
            rows.append((label, "not measured (not available, failed or wrong)", False))
        else:
            rows.append((label, fmt.format(value), ok_if(value)))
    for task in r["f"]:
        n = task.key.split()[1]
        add(f"batched f ≤ 4× the hand-written C loop per point ({int(n):,} points)",
            task.ratio(WORKERS_1, "C loop by hand"), lambda x: x <= 4.0)
        if task.get("jax.jit(jax.vmap(jax.value_and_grad))") and \
                task.get("jax.jit(jax.vmap(jax.value_and_grad))").stat:
            add(f"batched f within 1.5× of jax.jit(vmap(value_and_grad)) ({int(n):,} points)",
                task.ratio(WORKERS_1, "jax.jit(jax.vmap(jax.value_and_grad))"),
                lambda x: x <= 1.5)
        loop = task.ratio("autodiff: Python loop over tape.value_and_grad", WORKERS_1)
        add(f"batched f ≥ 25× faster than the Python loop ({int(n):,} points)", loop,
            lambda x: x >= 25.0, "{:.1f}×")
    for task in r["long"]:
        add(f"{task.title}: batched ≥ 2× faster per point-op than single-point replay",
            task.ratio("autodiff: single-point replay (Python loop)", WORKERS_1),
            lambda x: x >= 2.0, "{:.1f}×")
    mem = r.get("memory")
    if mem:
        label = (f"memory: peak RSS growth of a batched call at {mem['n']:,} points ≤ 1.1× "
                 "its outputs + 1 MiB of workspace")
        if "growth" in mem:
            limit = 1.1 * mem["outputs"] + 2**20
            rows.append((label, f"{mem['growth'] / 2**20:.1f} MiB for "
                         f"{mem['outputs'] / 2**20:.1f} MiB of outputs",
                         mem["growth"] <= limit))
        else:
            rows.append((label, mem["note"], False))
    if r["f"] and 2 in cfg.batch_workers:
        big = r["f"][-1]
        add(f"workers=2 ≥ 1.7× the single-worker throughput ({big.title})",
            big.ratio(WORKERS_1, "autodiff: tape.vmap().value_and_grad, workers=2"),
            lambda x: x >= 1.7)
    return rows


def batch_markdown(r):
    out = ["## Many points at once (issue 13)", "",
           f"{r['cores']} cores.  ns per point (per point and per operation for the longer "
           "tapes), the best of interleaved samples; \"÷ C loop\" divides by the hand-written "
           "C loop, \"÷ workers=1\" by `tape.vmap().value_and_grad(..., workers=1)`.  Inputs "
           "and outputs are NumPy float64 arrays; every result was checked before timing "
           "(the batched tape bit for bit against single calls).", ""]
    if r["c_note"]:
        out += [f"The C loop was not built: {r['c_note']}.", ""]
    for task in r["f"]:
        c = task.get("C loop by hand")
        ours = task.get(WORKERS_1)
        rows = []
        for row in task.rows:
            note = row.note
            if row.name.startswith("jax") and "jax" in task.compile_s:
                note = (note + "; " if note else "") + \
                    f"compile {task.compile_s['jax'] * 1e3:,.0f} ms"
            per = row.per_unit
            rows.append([f"**{row.name}**" if row.kind == "ours" else row.name,
                         fmt_time(per, "ns") if per else row.status,
                         fmt_ratio(per / c.per_unit) if per and c and c.stat else "–",
                         fmt_ratio(per / ours.per_unit) if per and ours and ours.stat else "–",
                         note])
        out.append(f"### {task.title}\n\n" +
                   table(["way", "ns/point", "÷ C loop", "÷ workers=1", "note"], rows,
                         ["---", "---:", "---:", "---:", "---"]))
    for task in r["long"]:
        base = task.get("autodiff: single-point replay (Python loop)")
        rows = [[row.name, fmt_time(row.per_unit, "ns") if row.stat else row.status,
                 fmt_time(row.seconds / (row.units / task.ops), "us") if row.stat else "–",
                 fmt_ratio(base.per_unit / row.per_unit) if row.stat and base.stat else "–",
                 row.note] for row in task.rows]
        out.append(f"### {task.title}\n\n" +
                   table(["way", "ns per point-op", "µs per point", "speed-up vs single",
                          "note"], rows, ["---", "---:", "---:", "---:", "---"]))
    out += ["### Targets", "", table(["target", "measured", "met"],
                                     [[a, b, "yes" if ok else "**no**"]
                                      for a, b, ok in r["targets"]], ["---", "---", "---"])]
    return "\n".join(out) + "\n"


def batch_chart(r, path):
    """ns per point against the number of points, one line per way."""
    series = {}
    for task in r["f"]:
        n = int(task.key.split()[1])
        for row in task.rows:
            if row.stat:
                xs, ys = series.setdefault(row.name, ([], []))
                xs.append(n)
                ys.append(row.per_unit * 1e9)
    if not series:
        return False
    return line_chart(path, "Many points: tutorial f, value and both partials", series,
                      "points", "ns per point (log)")


if __name__ == "__main__":
    from config import parse_args
    _cfg, _ = parse_args()
    W.select_peers(_cfg.peers)
    print(batch_markdown(batch_results(_cfg)))
