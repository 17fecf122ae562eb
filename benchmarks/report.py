"""Run every workload on every implementation and write benchmarks/RESULTS.md and PNG charts.

    python benchmarks/report.py            # the full run (about 10 minutes)
    python benchmarks/report.py --quick    # small sizes, a minute or two: checks it all works

Timing: ``time.perf_counter``; the cyclic GC stays enabled (it is part of what a user pays for
building graphs of GC-tracked objects) and ``gc.collect()`` runs between samples.  Each figure
is the minimum over several samples (a warm-up run first, discarded); each sample runs the
code ``number`` times, ``number`` chosen so that a sample lasts at least ``--min-sample``
seconds.  Build and backward are timed apart: a sample builds ``number`` graphs, then runs the
backward pass on each.  Freeing the graphs is not timed.  Every implementation's gradients
are checked against the reference engine before it is timed.  All ratios in the tables come
from one process, one run.
"""
import argparse
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import autodiff  # noqa: F401
except ImportError:                       # not installed: use the source tree
    sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import autodiff  # noqa: E402,F811
import workloads as W  # noqa: E402


# ======================================================================================
# The timer.
# ======================================================================================

class Timing:
    """Per-call figures (seconds): build, backward, total = build + backward."""

    def __init__(self, build, backward, number, samples, compile_s=None):
        self.build = build
        self.backward = backward
        self.total = build + (backward or 0.0)
        self.number = number
        self.samples = samples
        self.compile = compile_s


def _sample(impl, number, apart):
    """(build, backward) seconds per call for one sample of ``number`` calls.

    Large graphs (``apart``: one call takes over a millisecond): ``number`` builds, then the
    backward pass on each, timed apart; freeing is not timed.
    Several calls (small graphs): a loop of builds, then a loop of build + backward, each
    graph dropped before the next is built (keeping thousands of graphs alive would make
    the cyclic GC of GC-tracked peers scan them all: a harness artefact); backward is the
    difference, and freeing each graph is part of both loops.
    """
    gc.collect()
    if apart or impl.backward is None:
        t0 = time.perf_counter()
        states = [impl.build() for _ in range(number)]
        t1 = time.perf_counter()
        if impl.backward is not None:
            for s in states:
                impl.backward(s)
        t2 = time.perf_counter()
        del states
        gc.collect()
        return (t1 - t0) / number, (t2 - t1) / number, None
    build, backward = impl.build, impl.backward
    t0 = time.perf_counter()
    for _ in range(number):
        build()
    t1 = time.perf_counter()
    for _ in range(number):
        backward(build())
    t2 = time.perf_counter()
    gc.collect()
    b = (t1 - t0) / number
    return b, None, (t2 - t1) / number


def calibrate(impl, cfg):
    """Compile (jitted peers), warm up, and choose (number, samples) for an implementation."""
    compile_s = None
    if impl.compile is not None:
        times = []
        for _ in range(2 if not cfg.quick else 1):
            t0 = time.perf_counter()
            impl.compile()
            times.append(time.perf_counter() - t0)
        compile_s = min(times)
    t0 = time.perf_counter()
    impl.run()                                            # warm-up, discarded
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(math.ceil(cfg.min_sample / one)))
    samples = int(max(2, min(cfg.repeats, cfg.budget // max(one * number, 1e-9))))
    return number, samples, compile_s, one >= 1e-3


def measure_all(impls, cfg, apart=None):
    """Timings of several implementations, their samples interleaved round-robin so that
    all of them see the same machine load (ratios between them are what matters).
    ``apart=True`` times build and backward apart whatever the graph size."""
    plans = {impl.name: calibrate(impl, cfg) for impl in impls}
    if apart is not None:
        plans = {name: plan[:3] + (apart,) for name, plan in plans.items()}
    runs = {impl.name: [] for impl in impls}
    failed = set()
    for r in range(max(p[1] for p in plans.values())):
        for impl in impls:
            number, samples, _, apart = plans[impl.name]
            if r < samples and impl.name not in failed:
                try:
                    runs[impl.name].append(_sample(impl, number, apart))
                except Exception as error:       # reported in the table, not fatal
                    failed.add(impl.name)
                    impl.note = (impl.note + "; " if impl.note else "") + \
                        f"failed: {type(error).__name__}: {str(error)[:80]}"
                    print(f"  {impl.name}: FAILED {error!r}", flush=True)
    out = {}
    for impl in impls:
        if impl.name in failed:
            continue
        number, samples, compile_s, _ = plans[impl.name]
        rs = runs[impl.name]
        build = min(r[0] for r in rs)
        if impl.backward is None:
            backward = None
        elif rs[0][2] is None:                       # timed apart
            backward = min(r[1] for r in rs)
        else:                                        # min(build + backward) - min(build)
            backward = max(min(r[2] for r in rs) - build, 0.0)
        out[impl.name] = Timing(build, backward, number, samples, compile_s)
    return out


# ======================================================================================
# Formatting.
# ======================================================================================

def fmt_time(seconds, unit):
    scale = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}[unit]
    v = seconds * scale
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_seconds(s):
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.1f} ms"


def fmt_ratio(r):
    if r is None or not math.isfinite(r):
        return "–"
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


UNIT_LABEL = {"ns": "ns", "us": "µs", "ms": "ms", "s": "s"}


def check_gradients(impls, reference_name="reference: gradients", rel=1e-7):
    """Run each implementation once; raise if its gradients differ from the reference's."""
    names = [impl.name for impl in impls]
    if reference_name not in names:
        reference_name = "compiled: gradients"
    ref = W.by_name(impls, reference_name).run()
    for impl in impls:
        if impl.kind == "floor":
            continue
        got = impl.run()
        if not W.close(got, ref, rel):
            raise AssertionError(f"{impl.name}: gradients {got[:4]} differ from the "
                                 f"reference {ref[:4]}")
    return ref


def timed_table(title, impls, results, unit, per, per_label, base="compiled: gradients"):
    """A markdown table: build, backward, total per ``per`` unit, ratios to floats/compiled."""
    floor = results.get("floats")
    ours = results.get(base)
    lines = [f"| implementation | build {UNIT_LABEL[unit]}/{per_label} | backward "
             f"{UNIT_LABEL[unit]}/{per_label} | total {UNIT_LABEL[unit]}/{per_label} | "
             f"÷ floats | ÷ compiled | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for impl in impls:
        t = results.get(impl.name)
        if t is None:
            continue
        p = per(impl)
        note = impl.note
        if impl.size:
            note = (note + "; " if note else "") + f"at {impl.size:,} ops"
        if t.compile is not None:
            note = (note + "; " if note else "") + f"compile {fmt_seconds(t.compile)}"
        if impl.fused:
            build, back = "–", "–"
        else:
            build = fmt_time(t.build / p, unit)
            back = fmt_time(t.backward / p, unit) if t.backward is not None else "–"
        total = t.total / p
        rf = total / floor_per(floor, per, impls) if floor else None
        rc = total / (ours.total / per(W.by_name(impls, base))) if ours else None
        lines.append(f"| {impl.name} | {build} | {back} | {fmt_time(total, unit)} | "
                     f"{fmt_ratio(rf)} | {fmt_ratio(rc)} | {note} |")
    return f"### {title}\n\n" + "\n".join(lines) + "\n"


def floor_per(floor_timing, per, impls):
    return floor_timing.total / per(W.by_name(impls, "floats"))


def bar_chart(path, title, names, values, xlabel):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(names) + 1.4))
    y = np.arange(len(names))
    colors = ["#2a7ab0" if n.startswith("compiled") else "#999999" if n == "floats"
              else "#e0a030" if n.startswith("reference") or n.startswith("tutorial")
              else "#c04040" for n in names]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:,.3g}", va="center", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def line_chart(path, title, series, xlabel, ylabel, logx=True):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ======================================================================================
# Memory per node: a fresh process per implementation.
# ======================================================================================

MEMORY_IMPLS = ("compiled", "reference", "tutorial", "micrograd", "torch", "autograd")


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_build(name, n):
    import autodiff.reference
    if name in ("compiled", "reference"):
        ad = autodiff if name == "compiled" else autodiff.reference
        x = ad.Var(W.CHAIN_X0)
        return W.chain(x, n, ad.sin, ad.exp, ad.log)
    if name == "tutorial":
        return W.chain(W.TVar(W.CHAIN_X0), n, W.TSin, W.TExp, W.TLog)
    if name == "micrograd":
        x = W.peer("micrograd").Value(W.CHAIN_X0)
        return W.chain(x, n, W.mg_sin, W.mg_exp, W.mg_log)
    if name == "torch":
        torch = W.peer("torch")
        return W.chain(W._torch_leaf(W.CHAIN_X0), n, torch.sin, torch.exp, torch.log)
    if name == "autograd":
        # make_vjp keeps the whole graph alive in the returned closure
        ag = W.peer("autograd")
        anp = ag.numpy
        return ag.make_vjp(lambda x: W.chain(x, n, anp.sin, anp.exp, anp.log))(W.CHAIN_X0)
    raise ValueError(name)


def memory_child(name, n, mode):
    """In a fresh process: bytes held by a chain of n ops (tracemalloc or RSS)."""
    if name not in ("compiled", "reference", "tutorial") and W.peer(name) is None:
        print(json.dumps({"missing": W.peer_reason(name)}), flush=True)
        return
    keep = _memory_build(name, 1000)              # imports, caches, first allocations
    del keep
    gc.collect()
    if mode == "tracemalloc":
        import tracemalloc
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        graph = _memory_build(name, n)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    else:
        base = _rss()
        graph = _memory_build(name, n)
        gc.collect()
        used = _rss() - base
    n_ops = W.chain_blocks(n) * W.OPS_PER_BLOCK
    print(json.dumps({"bytes": used, "ops": n_ops}), flush=True)
    os._exit(0)          # do not time (or crash in) freeing the graph
    return graph


def measure_memory(cfg):
    out = {}
    for name in MEMORY_IMPLS:
        n = cfg.memory_n if name != "autograd" else cfg.memory_n_slow
        row = {"n": W.chain_blocks(n) * W.OPS_PER_BLOCK}
        for mode in ("tracemalloc", "rss"):
            cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", name, str(n), mode]
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
            try:
                data = json.loads(proc.stdout.strip().splitlines()[-1])
            except Exception:
                data = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
            if "missing" in data or "error" in data:
                row["note"] = data.get("missing") or data.get("error")
                break
            row[mode] = data["bytes"] / data["ops"]
        out[name] = row
        print(f"  memory {name}: {row}", flush=True)
    return out


# ======================================================================================
# The workloads.
# ======================================================================================

def run_set(label, impls, cfg, log=True, apart=None):
    check_gradients(impls)
    ok = []
    for impl in impls:
        try:
            impl.run()
            ok.append(impl)
        except Exception as error:       # a peer that fails at this size: reported, not fatal
            impl.note = (impl.note + "; " if impl.note else "") + \
                f"failed: {type(error).__name__}: {str(error)[:80]}"
            print(f"  {label} {impl.name}: FAILED {error!r}", flush=True)
    results = measure_all(ok, cfg, apart)
    if log:
        for name, t in results.items():
            print(f"  {label} {name}: total {t.total * 1e6:,.1f} µs "
                  f"(n={t.number}, samples={t.samples})", flush=True)
    return results


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import Cython
        cython = Cython.__version__
    except ImportError:
        cython = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "autodiff"], cwd=HERE,
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " + uncommitted engine changes"
    except OSError:
        commit = "?"
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu, "cores": os.cpu_count(),
        "python": platform.python_version() + " " + platform.python_implementation(),
        "platform": platform.platform(),
        "numpy": np.__version__, "cython": cython,
        "engine": autodiff.ENGINE, "commit": commit,
        "peers": W.peer_versions(),
        "openblas": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                     if k in os.environ},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short samples")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny sizes
    parser.add_argument("--memory-child", nargs=3, metavar=("IMPL", "N", "MODE"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--out", default=HERE, help="directory for RESULTS.md and the PNGs")
    args = parser.parse_args(argv)
    if args.memory_child:
        name, n, mode = args.memory_child
        memory_child(name, int(n), mode)
        return

    class cfg:
        quick = args.quick
        chain_n = 10**4 if args.quick else 10**5
        jax_chain_n = 300 if args.quick else 1000
        curve = [10**3, 10**4, 10**5] if args.quick else [10**3, 10**4, 10**5, 10**6]
        curve_reference_max = 10**4 if args.quick else 10**5
        dag_depths = [10, 20, 40, 60] if args.quick else [10, 20, 30, 40, 50, 60]
        tutorial_dag_max = 12 if args.quick else 16
        mlp_points = 10 if args.quick else W.MLP_POINTS
        memory_n = 10**5 if args.quick else 10**6
        memory_n_slow = 10**4 if args.quick else 10**5
        min_sample = 0.01 if args.quick else 0.1
        repeats = 3 if args.quick else 7
        budget = 0.5 if args.quick else 5.0        # seconds per implementation, roughly

    if args.smoke:             # seconds: checks that every step and the rendering work
        cfg.quick = True
        cfg.chain_n, cfg.jax_chain_n, cfg.curve, cfg.curve_reference_max = 500, 50, [100, 500], 100
        cfg.dag_depths, cfg.tutorial_dag_max, cfg.mlp_points = [10, 60], 10, 2
        cfg.memory_n, cfg.memory_n_slow = 2000, 500
        cfg.min_sample, cfg.repeats, cfg.budget = 0.001, 2, 0.1

    started = time.perf_counter()
    info = machine_info()
    print(json.dumps(info, indent=1), flush=True)
    out = args.out
    os.makedirs(out, exist_ok=True)
    md = []
    charts = []
    data = {}

    # 1. the chain ------------------------------------------------------------------
    print("workload 1: chain", flush=True)
    chain = W.chain_impls(cfg.chain_n, jax_ops=cfg.jax_chain_n)
    r1 = run_set("chain", chain, cfg)
    data["chain"] = r1
    ops = lambda impl: impl.ops  # noqa: E731
    md.append(timed_table(f"1. Chain of {W.chain_blocks(cfg.chain_n) * 5:,} ops "
                          "(sin, exp, log, *, +), per op", chain, r1, "ns", ops, "op"))
    names = [i.name for i in chain if i.name in r1]
    if bar_chart(os.path.join(out, "chain.png"), "Workload 1: chain, build + backward per op",
                 names, [r1[n].total / W.by_name(chain, n).ops * 1e9 for n in names],
                 "ns per op (log scale)"):
        charts.append(("chain.png", "Workload 1"))

    # linearity -----------------------------------------------------------------------
    print("linearity", flush=True)
    curve = {}
    for n in cfg.curve:
        impls = [i for i in W.chain_impls(n) if i.kind in ("floor", "ours")]
        impls = [i for i in impls if not (i.name.startswith("reference")
                                          and n > cfg.curve_reference_max)]
        # Timed apart at every size: as a difference of two loops, a backward pass much
        # cheaper than its build drowns in the build's noise (0.7 ns/node at n = 1,000).
        res = run_set(f"chain {n}", impls, cfg, log=False, apart=True)
        for impl in impls:
            t = res[impl.name]
            curve.setdefault(impl.name, {})[n] = (t.build / impl.ops,
                                                  (t.backward or 0.0) / impl.ops)
        print(f"  curve {n}: " + ", ".join(f"{k} {v[n][0] * 1e9:.0f}+{v[n][1] * 1e9:.0f} ns"
                                           for k, v in curve.items() if n in v), flush=True)
    data["curve"] = curve
    lines = ["| implementation | phase | " + " | ".join(f"n = {n:,}" for n in cfg.curve) + " |",
             "|---|---|" + "---:|" * len(cfg.curve)]
    series = {}
    for name, pts in curve.items():
        phases = [("build", 0)] + ([("backward", 1)] if name != "floats" else [])
        if name.endswith("get_gradients"):
            phases = [("backward", 1)]
        for phase, k in phases:
            label = name if name == "floats" else (
                f"{name.split(':')[0]}: build" if phase == "build" else name)
            cells = [fmt_time(pts[n][k], "ns") if n in pts else "–" for n in cfg.curve]
            lines.append(f"| {label} | {phase} | " + " | ".join(cells) + " |")
            series[label] = ([n for n in cfg.curve if n in pts],
                             [pts[n][k] * 1e9 for n in cfg.curve if n in pts])
    md.append("### Linearity: ns per op (build) or per node (backward) against chain length\n\n"
              + "\n".join(lines) + "\n")
    if line_chart(os.path.join(out, "linearity.png"), "Cost per op against graph size",
                  series, "ops in the chain", "ns per op or node"):
        charts.append(("linearity.png", "Linearity"))

    # 2. f(a, b) ----------------------------------------------------------------------
    print("workload 2: tutorial f(a, b)", flush=True)
    fimpls = W.f_impls()
    ref = check_gradients(fimpls)
    assert W.close(ref, [W.F_DA, W.F_DB], 1e-9), ref
    r2 = run_set("f", fimpls, cfg)
    data["f"] = r2
    one = lambda impl: 1  # noqa: E731
    md.append(timed_table("2. The tutorial's f(a, b) = (a/b - a) * (b/a + a + b) * (a - b), "
                          "build + both partials, per call", fimpls, r2, "ns", one, "call"))
    names = [i.name for i in fimpls if i.name in r2]
    if bar_chart(os.path.join(out, "tutorial_f.png"), "Workload 2: f(a, b), build + both "
                 "partials", names, [r2[n].total * 1e6 for n in names], "µs per call (log)"):
        charts.append(("tutorial_f.png", "Workload 2"))

    # 3. MLP --------------------------------------------------------------------------
    print("workload 3: MLP", flush=True)
    mimpls = W.mlp_impls(cfg.mlp_points)
    r3 = run_set("mlp", mimpls, cfg)
    data["mlp"] = r3
    md.append(timed_table(f"3. Scalar MLP 2-16-16-1 (tanh), {cfg.mlp_points} points, one "
                          "training step (forward + loss + backward + SGD update)",
                          mimpls, r3, "ms", one, "step"))
    names = [i.name for i in mimpls if i.name in r3]
    if bar_chart(os.path.join(out, "mlp.png"), "Workload 3: MLP training step", names,
                 [r3[n].total * 1e3 for n in names], "ms per step (log)"):
        charts.append(("mlp.png", "Workload 3"))

    # 4. DAG --------------------------------------------------------------------------
    print("workload 4: DAG", flush=True)
    depths = sorted(set(cfg.dag_depths + [d for d in (10, 12, 14, 16, 18)
                                          if d <= cfg.tutorial_dag_max]))
    r4 = {}
    dag_names = []
    for d in depths:
        impls = W.dag_impls(d, tutorial_max_depth=cfg.tutorial_dag_max)
        if d not in cfg.dag_depths:
            impls = [i for i in impls if i.kind in ("tutorial", "floor")
                     or i.name == "reference: gradients"]
        res = run_set(f"dag {d}", impls, cfg, log=False)
        for impl in impls:
            if impl.name in res:
                r4.setdefault(impl.name, {})[d] = res[impl.name]
                if impl.name not in dag_names:
                    dag_names.append(impl.name)
        print(f"  dag {d}: " + ", ".join(f"{k} {v.total * 1e6:.1f} µs" for k, v in res.items()),
              flush=True)
    data["dag"] = r4
    lines = ["| implementation | " + " | ".join(f"depth {d}" for d in depths) + " |",
             "|---|" + "---:|" * len(depths)]
    series = {}
    for name in dag_names:
        cells = [fmt_time(r4[name][d].total, "us") if d in r4[name] else "–" for d in depths]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        ds = [d for d in depths if d in r4[name]]
        series[name] = (ds, [r4[name][d].total * 1e6 for d in ds])
    jit60 = r4.get("jax.jit", {}).get(60)
    extra = (f"\njax.jit compile time (depth 60): {fmt_seconds(jit60.compile)}.\n" if jit60
             else "")
    md.append("### 4. Shared-subexpression DAG x = (x + x) * 0.5, build + gradient, µs per call\n\n"
              "2 ops per level, 2^depth routes from the root to x.  The tutorial's walk "
              "enumerates the routes, so it is only run up to depth "
              f"{cfg.tutorial_dag_max}.\n\n" + "\n".join(lines) + "\n" + extra)
    if line_chart(os.path.join(out, "dag.png"), "Workload 4: DAG, build + gradient", series,
                  "depth", "µs per call (log)", logx=False):
        charts.append(("dag.png", "Workload 4"))

    # 5. linear layer -----------------------------------------------------------------
    print("workload 5: linear layer", flush=True)
    limpls = W.linear_impls()
    r5 = run_set("linear", limpls, cfg)
    data["linear"] = r5
    md.append(timed_table("5. The tutorial's linear layer on object arrays (50 -> 10), one "
                          "training step", limpls, r5, "us", one, "step"))
    names = [i.name for i in limpls if i.name in r5]
    if bar_chart(os.path.join(out, "linear.png"), "Workload 5: linear layer step", names,
                 [r5[n].total * 1e6 for n in names], "µs per step (log)"):
        charts.append(("linear.png", "Workload 5"))

    # 6. memory -----------------------------------------------------------------------
    print("workload 6: memory", flush=True)
    mem = measure_memory(cfg)
    data["memory"] = mem
    lines = ["| implementation | ops in chain | tracemalloc B/node | RSS B/node | note |",
             "|---|---:|---:|---:|---|"]
    for name, row in mem.items():
        tm = f"{row['tracemalloc']:.0f}" if "tracemalloc" in row else "–"
        rs = f"{row['rss']:.0f}" if "rss" in row else "–"
        note = row.get("note", "")
        if name == "torch":
            note = (note + "; " if note else "") + "tracemalloc misses C++ allocations"
        lines.append(f"| {name} | {row['n']:,} | {tm} | {rs} | {note} |")
    md.append("### 6. Memory per node, chain of sin/exp/log/*/+ (each process fresh)\n\n"
              "Bytes held by the graph divided by the ops in it (a node per op plus the leaf); "
              "RSS is the resident-set growth, tracemalloc what Python's allocators handed "
              "out.\n\n" + "\n".join(lines) + "\n")
    names = [n for n in mem if "rss" in mem[n]]
    if bar_chart(os.path.join(out, "memory.png"), "Workload 6: memory per node (RSS)", names,
                 [max(mem[n]["rss"], 1.0) for n in names], "bytes per node (log)"):
        charts.append(("memory.png", "Workload 6"))

    # 7. record once, replay in C (issue 6) ---------------------------------------------
    print("workload 7: record and replay", flush=True)
    import replay_bench
    replay = replay_bench.replay_results(quick=cfg.quick)
    data["replay"] = replay
    md.append(replay_bench.replay_markdown(replay))

    # 8. arithmetic of micrograd's shape, and x ** 2 (issue 10) -----------------------
    print("workload 8: arithmetic of micrograd's shape", flush=True)
    nimpls = W.neuron_impls()
    r8 = run_set("neuron", nimpls, cfg)
    sq = W.square_impls() + W.square_replay_impls()
    r8b = run_set("square", sq, cfg)
    per_op = lambda impl: impl.ops  # noqa: E731
    md.append(timed_table("8. Arithmetic of micrograd's shape: a layer of 16 neurons of 16 "
                          "inputs (multiply-adds, relu), built (and freed) then both "
                          "gradients, per op", nimpls, r8, "ns", per_op, "op"))
    md.append(timed_table("8b. x ** 2 against x * x: a chain of 10^4 squarings (each times "
                          "0.5), built and freed, and its tape replayed, per op", sq, r8b,
                          "ns", per_op, "op", base="compiled: x * x"))
    data["neuron"], data["square"] = r8, r8b
    checks_8 = []
    if "floats" in r8 and "compiled: gradients" in r8:
        ratio = r8["compiled: gradients"].build / r8["floats"].total
        checks_8.append(("arithmetic build (micrograd's shape) <= 4x plain floats per op "
                         "(issue 10)", f"{ratio:.2f}x", ratio <= 4.0))
    if "micrograd" in r8 and "compiled: gradients" in r8:
        ratio = r8["micrograd"].total / r8["compiled: gradients"].total
        checks_8.append(("micrograd's shape, build + gradients: >= 50x faster than "
                         "micrograd", f"{ratio:.0f}x", ratio >= 50.0))
    for build, other in (("compiled: x ** 2", "compiled: x * x"),
                         ("replay: x ** 2", "replay: x * x")):
        if build in r8b and other in r8b:
            ratio = r8b[build].total / r8b[other].total
            checks_8.append((f"{build} <= 1.2x {other} (issue 10)", f"{ratio:.2f}x",
                             ratio <= 1.2))

    # checks --------------------------------------------------------------------------
    checks = targets(chain, r1, curve, r2, r3, r4, mem)
    checks += [(f"replay (issue 6): {what}", value, ok) for what, value, ok in replay["targets"]]
    checks += checks_8
    elapsed = time.perf_counter() - started
    write_results(os.path.join(out, "RESULTS.md"), info, cfg, md, checks, charts, elapsed)
    print("\n".join(f"{'PASS' if ok else 'MISS'}  {what}: {value}" for what, value, ok in checks))
    print(f"done in {elapsed:.0f} s")


def targets(chain, r1, curve, r2, r3, r4, mem):
    """[(target, measured value, passed)] for the targets of issue 4."""
    out = []
    per = lambda name: r1[name] if name in r1 else None  # noqa: E731
    floats = per("floats")
    n = W.by_name(chain, "floats").ops
    float_op = floats.total / n
    c = per("compiled: gradients")
    cg = per("compiled: get_gradients")
    out.append(("graph build ≤ 4× plain-float time per op (workload 1)",
                f"{c.build / n * 1e9:.0f} ns/op = {c.build / floats.total:.2f}× "
                f"({float_op * 1e9:.1f} ns per float op)", c.build / floats.total <= 4))
    out.append(("gradients(root, leaves) ≤ 2× a float op per node",
                f"{c.backward / n * 1e9:.0f} ns/node = {c.backward / floats.total:.2f}×",
                c.backward / floats.total <= 2))
    out.append(("get_gradients (full dict) ≤ 10× a float op per node",
                f"{cg.backward / n * 1e9:.0f} ns/node = {cg.backward / floats.total:.2f}×",
                cg.backward / floats.total <= 10))
    fc, ff = r2["compiled: gradients"], r2["floats"]
    out.append(("tutorial f(a, b), build + both partials ≤ 6× float-only f",
                f"{fc.total * 1e9:.0f} ns vs {ff.total * 1e9:.0f} ns = {fc.total / ff.total:.2f}×",
                fc.total / ff.total <= 6))
    for peer, need in (("torch 0-dim", 100), ("micrograd", 50), ("reference: gradients", 30)):
        label = {"reference: gradients": "the reference engine"}.get(peer, peer)
        if peer not in r1:
            out.append((f"end to end ≥ {need}× faster than {label} (workload 1)",
                        "not measured (peer missing or failed)", False))
            continue
        ratio = r1[peer].total / c.total
        others = []
        for wl, res in (("f", r2), ("MLP", r3)):
            if peer in res:
                others.append(f"{wl}: {res[peer].total / res['compiled: gradients'].total:.0f}×")
        out.append((f"end to end (build + gradients) ≥ {need}× faster than {label} (workload 1)",
                    f"{ratio:,.0f}× (" + ", ".join(others) + ")", ratio >= need))
    row = mem.get("compiled", {})
    if "rss" in row and "tracemalloc" in row:
        worst = max(row["rss"], row["tracemalloc"])
        out.append(("≤ 64 bytes per node (10^6-node chain)",
                    f"tracemalloc {row['tracemalloc']:.0f} B, RSS {row['rss']:.0f} B",
                    round(worst) <= 64))
    d60 = r4.get("compiled: gradients", {}).get(60)
    if d60:
        out.append(("workload 4 at depth 60 in microseconds (≤ 100 µs)",
                    f"{d60.total * 1e6:.1f} µs", d60.total <= 100e-6))
    for name, k, phase in (("compiled: gradients", 0, "build"),
                           ("compiled: gradients", 1, "gradients"),
                           ("compiled: get_gradients", 1, "get_gradients")):
        pts = curve.get(name, {})
        vals = [pts[n][k] for n in sorted(pts)]
        if vals:
            spread = max(vals) / max(min(vals), 1e-12)
            out.append((f"{phase} cost linear in graph size (max/min per-node cost ≤ 2 over "
                        f"{min(pts):,}..{max(pts):,})",
                        " / ".join(f"{v * 1e9:.0f}" for v in vals) + f" ns; spread {spread:.2f}",
                        spread <= 2))
    return out


def write_results(path, info, cfg, md, checks, charts, elapsed):
    peers = ", ".join(f"{k} {v}" for k, v in info["peers"].items())
    head = [
        "# Benchmark results",
        "",
        f"Generated by `python benchmarks/report.py{' --quick' if cfg.quick else ''}` on "
        f"{info['date']} in {elapsed:.0f} s" + (" (**quick run: small sizes**)" if cfg.quick
                                                else "") + ".",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['platform']}",
        f"- Python {info['python']}, NumPy {info['numpy']}, Cython {info['cython']}",
        f"- autodiff engine: {info['engine']} (commit {info['commit']})",
        f"- Peers: {peers}",
    ]
    if info["openblas"]:
        head.append(f"- Environment: {info['openblas']} (left as found)")
    head += [
        "",
        "Method: every figure is the minimum over several samples in one process (a warm-up run "
        "discarded); the samples of all implementations of a table are interleaved "
        "round-robin, so ratios within a table come from the same run and the same machine "
        "load.  Large graphs (a call over 1 ms): the graphs of a sample are built, then the "
        "backward pass runs on each, timed apart; freeing is not timed.  Small graphs: a loop of builds and a loop of build + "
        "backward, each graph freed before the next; backward is the difference, freeing is "
        "included (the linearity curve always times them apart).  The cyclic GC stays on.  `compiled: gradients` uses "
        "`gradients(root, leaves)`; `compiled: get_gradients` builds the full dict and reads "
        "the leaves from it.  Every implementation's gradients were checked against the "
        "reference engine (relative 1e-7) before timing.  \"÷ floats\" is the total divided by "
        "the plain-float evaluation of the same code; \"÷ compiled\" divided by `compiled: "
        "gradients`.  The tutorial walk is an independent re-implementation of the tutorial's "
        "classes and route-summing stack walk (using `math` rather than `np` for sin/exp/log); "
        "micrograd has sin/exp/log/tanh added in its own closure style.  JAX runs with "
        "float64; its jitted figures are steady-state calls, compile time reported apart; "
        "unrolled scalar code makes JAX compile times grow fast, so its chain is shorter.",
        "",
        "## Targets (issues 4 and 6)",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    head += [f"| {what} | {value} | {'PASS' if ok else 'MISS'} |" for what, value, ok in checks]
    head += ["", "## Tables", ""]
    body = "\n".join(md)
    pics = "\n## Charts\n\n" + "\n".join(f"![{title}]({png})" for png, title in charts) + "\n"
    with open(path, "w") as f:
        f.write("\n".join(head) + "\n" + body + pics)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
