"""Run the benchmark workloads and write benchmarks/RESULTS.md and PNG charts.

    python benchmarks/report.py                         # every workload (long: tens of minutes)
    python benchmarks/report.py --quick                 # small sizes
    python benchmarks/report.py --smoke                 # tiny sizes: checks that it all runs
    python benchmarks/report.py --quick --workloads beyond,batch --peers jax,casadi

Only a full run of every workload writes benchmarks/RESULTS.md and the charts beside it; a
quick, smoke or partial run writes them to a temporary directory (printed), unless ``--out``.

Each workload is one function ``workload_<name>(cfg) -> Result`` (a markdown section, its
charts, the issue targets it checks, and its raw figures); ``main`` only parses the command
line (``config.parse_args``), runs the selected workloads and writes the report.  All timing
goes through ``timing.py`` (interleaved rounds, min and median, ratios from one run).  Every
implementation's results are checked against an oracle before it is timed.
"""
from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
try:
    import autodiff  # noqa: F401
except ImportError:                       # not installed: use the source tree
    sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import autodiff  # noqa: E402,F811
import timing  # noqa: E402
import workloads as W  # noqa: E402
from config import PEERS, WORKLOADS, Config, parse_args  # noqa: E402,F401
from render import (bar_chart, fmt_seconds, fmt_time, line_chart, table,  # noqa: E402
                    timed_table)


@dataclass
class Result:
    """What one workload hands to the report."""
    name: str
    markdown: str = ""
    charts: list = field(default_factory=list)     # [(png file name, title)]
    checks: list = field(default_factory=list)     # [(target, measured, met)]
    data: dict = field(default_factory=dict)       # raw figures, for cross-workload checks

    def chart(self, ok, png, title):
        if ok:
            self.charts.append((png, title))


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


def run_set(label, impls, cfg, log=True, apart=None, check=True):
    """Check (``check``: against the reference engine), then time a set of graph
    implementations in one interleaved run."""
    if check:
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
    results = timing.measure_impls(ok, cfg.timer, apart)
    if log:
        for name, t in results.items():
            print(f"  {label} {name}: total {t.total * 1e6:,.1f} µs "
                  f"(n={t.number}, samples={t.samples})", flush=True)
    return results


def _one(impl):
    return 1


def _ops(impl):
    return impl.ops


def _out(cfg, png):
    return os.path.join(cfg.out, png)


# ======================================================================================
# The workloads: one function each.
# ======================================================================================

def workload_chain(cfg):
    """1. A chain of sin/exp/log/*/+ ops, build and backward per op."""
    res = Result("chain")
    chain = W.chain_impls(cfg.chain_n, jax_ops=cfg.jax_chain_n)
    r1 = run_set("chain", chain, cfg)
    res.data.update(results=r1, n_ops=W.by_name(chain, "floats").ops)
    res.markdown = timed_table(f"1. Chain of {W.chain_blocks(cfg.chain_n) * 5:,} ops "
                               "(sin, exp, log, *, +), per op", chain, r1, "ns", _ops, "op")
    names = [i.name for i in chain if i.name in r1]
    res.chart(bar_chart(_out(cfg, "chain.png"), "Workload 1: chain, build + backward per op",
                        names, [r1[n].total / W.by_name(chain, n).ops * 1e9 for n in names],
                        "ns per op (log scale)"), "chain.png", "Workload 1")
    floats, n = r1["floats"], res.data["n_ops"]
    c, cg = r1["compiled: gradients"], r1["compiled: get_gradients"]
    res.checks += [
        ("graph build ≤ 4× plain-float time per op (workload 1)",
         f"{c.build / n * 1e9:.0f} ns/op = {c.build / floats.total:.2f}× "
         f"({floats.total / n * 1e9:.1f} ns per float op)", c.build / floats.total <= 4),
        ("gradients(root, leaves) ≤ 2× a float op per node",
         f"{c.backward / n * 1e9:.0f} ns/node = {c.backward / floats.total:.2f}×",
         c.backward / floats.total <= 2),
        ("get_gradients (full dict) ≤ 10× a float op per node",
         f"{cg.backward / n * 1e9:.0f} ns/node = {cg.backward / floats.total:.2f}×",
         cg.backward / floats.total <= 10)]
    return res


def workload_linearity(cfg):
    """Cost per op (build) and per node (backward) against chain length."""
    res = Result("linearity")
    curve = {}
    for n in cfg.curve:
        impls = [i for i in W.chain_impls(n) if i.kind in ("floor", "ours")]
        impls = [i for i in impls if not (i.name.startswith("reference")
                                          and n > cfg.curve_reference_max)]
        # Timed apart at every size: as a difference of two loops, a backward pass much
        # cheaper than its build drowns in the build's noise (0.7 ns/node at n = 1,000).
        r = run_set(f"chain {n}", impls, cfg, log=False, apart=True)
        for impl in impls:
            t = r[impl.name]
            curve.setdefault(impl.name, {})[n] = (t.build / impl.ops,
                                                  (t.backward or 0.0) / impl.ops)
        print(f"  curve {n}: " + ", ".join(f"{k} {v[n][0] * 1e9:.0f}+{v[n][1] * 1e9:.0f} ns"
                                           for k, v in curve.items() if n in v), flush=True)
    res.data["curve"] = curve
    rows, series = [], {}
    for name, pts in curve.items():
        phases = [("build", 0)] + ([("backward", 1)] if name != "floats" else [])
        if name.endswith("get_gradients"):
            phases = [("backward", 1)]
        for phase, k in phases:
            label = name if name == "floats" else (
                f"{name.split(':')[0]}: build" if phase == "build" else name)
            rows.append([label, phase] + [fmt_time(pts[n][k], "ns") if n in pts else "–"
                                          for n in cfg.curve])
            series[label] = ([n for n in cfg.curve if n in pts],
                             [pts[n][k] * 1e9 for n in cfg.curve if n in pts])
    res.markdown = ("### Linearity: ns per op (build) or per node (backward) against chain "
                    "length\n\n" + table(["implementation", "phase"] +
                                         [f"n = {n:,}" for n in cfg.curve], rows,
                                         ["---", "---"] + ["---:"] * len(cfg.curve)))
    res.chart(line_chart(_out(cfg, "linearity.png"), "Cost per op against graph size", series,
                         "ops in the chain", "ns per op or node"), "linearity.png", "Linearity")
    for name, k, phase in (("compiled: gradients", 0, "build"),
                           ("compiled: gradients", 1, "gradients"),
                           ("compiled: get_gradients", 1, "get_gradients")):
        pts = curve.get(name, {})
        vals = [pts[n][k] for n in sorted(pts)]
        if vals:
            spread = max(vals) / max(min(vals), 1e-12)
            res.checks.append((f"{phase} cost linear in graph size (max/min per-node cost ≤ 2 "
                               f"over {min(pts):,}..{max(pts):,})",
                               " / ".join(f"{v * 1e9:.0f}" for v in vals) +
                               f" ns; spread {spread:.2f}", spread <= 2))
    return res


def workload_f(cfg):
    """2. The tutorial's f(a, b), build + both partials per call."""
    res = Result("f")
    fimpls = W.f_impls()
    ref = check_gradients(fimpls)
    assert W.close(ref, [W.F_DA, W.F_DB], 1e-9), ref
    r2 = run_set("f", fimpls, cfg)
    res.data["results"] = r2
    res.markdown = timed_table("2. The tutorial's f(a, b) = (a/b - a) * (b/a + a + b) * (a - b), "
                               "build + both partials, per call", fimpls, r2, "ns", _one, "call")
    names = [i.name for i in fimpls if i.name in r2]
    res.chart(bar_chart(_out(cfg, "tutorial_f.png"), "Workload 2: f(a, b), build + both "
                        "partials", names, [r2[n].total * 1e6 for n in names],
                        "µs per call (log)"), "tutorial_f.png", "Workload 2")
    fc, ff = r2["compiled: gradients"], r2["floats"]
    res.checks.append(("tutorial f(a, b), build + both partials ≤ 6× float-only f",
                       f"{fc.total * 1e9:.0f} ns vs {ff.total * 1e9:.0f} ns = "
                       f"{fc.total / ff.total:.2f}×", fc.total / ff.total <= 6))
    return res


def workload_mlp(cfg):
    """3. A scalar MLP 2-16-16-1 (tanh), one training step."""
    res = Result("mlp")
    mimpls = W.mlp_impls(cfg.mlp_points)
    r3 = run_set("mlp", mimpls, cfg)
    res.data["results"] = r3
    res.markdown = timed_table(f"3. Scalar MLP 2-16-16-1 (tanh), {cfg.mlp_points} points, one "
                               "training step (forward + loss + backward + SGD update)",
                               mimpls, r3, "ms", _one, "step")
    names = [i.name for i in mimpls if i.name in r3]
    res.chart(bar_chart(_out(cfg, "mlp.png"), "Workload 3: MLP training step", names,
                        [r3[n].total * 1e3 for n in names], "ms per step (log)"),
              "mlp.png", "Workload 3")
    return res


def workload_dag(cfg):
    """4. The shared-subexpression DAG x = (x + x) * 0.5 at several depths."""
    res = Result("dag")
    depths = sorted(set(cfg.dag_depths) | {d for d in (10, 12, 14, 16, 18)
                                           if d <= cfg.tutorial_dag_max})
    r4, dag_names = {}, []
    for d in depths:
        impls = W.dag_impls(d, tutorial_max_depth=cfg.tutorial_dag_max)
        if d not in cfg.dag_depths:
            impls = [i for i in impls if i.kind in ("tutorial", "floor")
                     or i.name == "reference: gradients"]
        r = run_set(f"dag {d}", impls, cfg, log=False)
        for impl in impls:
            if impl.name in r:
                r4.setdefault(impl.name, {})[d] = r[impl.name]
                if impl.name not in dag_names:
                    dag_names.append(impl.name)
        print(f"  dag {d}: " + ", ".join(f"{k} {v.total * 1e6:.1f} µs" for k, v in r.items()),
              flush=True)
    res.data["results"] = r4
    rows, series = [], {}
    for name in dag_names:
        rows.append([name] + [fmt_time(r4[name][d].total, "us") if d in r4[name] else "–"
                              for d in depths])
        ds = [d for d in depths if d in r4[name]]
        series[name] = (ds, [r4[name][d].total * 1e6 for d in ds])
    jit60 = r4.get("jax.jit", {}).get(60)
    extra = (f"\njax.jit compile time (depth 60): {fmt_seconds(jit60.compile)}.\n"
             if jit60 and jit60.compile else "")
    res.markdown = ("### 4. Shared-subexpression DAG x = (x + x) * 0.5, build + gradient, µs "
                    "per call\n\n2 ops per level, 2^depth routes from the root to x.  The "
                    "tutorial's walk enumerates the routes, so it is only run up to depth "
                    f"{cfg.tutorial_dag_max}.\n\n" +
                    table(["implementation"] + [f"depth {d}" for d in depths], rows) + extra)
    res.chart(line_chart(_out(cfg, "dag.png"), "Workload 4: DAG, build + gradient", series,
                         "depth", "µs per call (log)", logx=False), "dag.png", "Workload 4")
    d60 = r4.get("compiled: gradients", {}).get(60)
    if d60:
        res.checks.append(("workload 4 at depth 60 in microseconds (≤ 100 µs)",
                           f"{d60.total * 1e6:.1f} µs", d60.total <= 100e-6))
    return res


def workload_linear(cfg):
    """5. The tutorial's linear layer on object arrays, one training step."""
    res = Result("linear")
    limpls = W.linear_impls()
    r5 = run_set("linear", limpls, cfg)
    res.data["results"] = r5
    res.markdown = timed_table("5. The tutorial's linear layer on object arrays (50 -> 10), one "
                               "training step", limpls, r5, "us", _one, "step")
    names = [i.name for i in limpls if i.name in r5]
    res.chart(bar_chart(_out(cfg, "linear.png"), "Workload 5: linear layer step", names,
                        [r5[n].total * 1e6 for n in names], "µs per step (log)"),
              "linear.png", "Workload 5")
    return res


def workload_memory(cfg):
    """6. Memory per node of a chain, each implementation in a fresh process."""
    res = Result("memory")
    mem = measure_memory(cfg)
    res.data["results"] = mem
    rows = []
    for name, row in mem.items():
        note = row.get("note", "")
        if name == "torch":
            note = (note + "; " if note else "") + "tracemalloc misses C++ allocations"
        rows.append([name, f"{row['n']:,}",
                     f"{row['tracemalloc']:.0f}" if "tracemalloc" in row else "–",
                     f"{row['rss']:.0f}" if "rss" in row else "–", note])
    res.markdown = ("### 6. Memory per node, chain of sin/exp/log/*/+ (each process fresh)\n\n"
                    "Bytes held by the graph divided by the ops in it (a node per op plus the "
                    "leaf); RSS is the resident-set growth, tracemalloc what Python's "
                    "allocators handed out.\n\n" +
                    table(["implementation", "ops in chain", "tracemalloc B/node",
                           "RSS B/node", "note"], rows,
                          ["---", "---:", "---:", "---:", "---"]))
    names = [n for n in mem if "rss" in mem[n]]
    res.chart(bar_chart(_out(cfg, "memory.png"), "Workload 6: memory per node (RSS)", names,
                        [max(mem[n]["rss"], 1.0) for n in names], "bytes per node (log)"),
              "memory.png", "Workload 6")
    row = mem.get("compiled", {})
    if "rss" in row and "tracemalloc" in row:
        worst = max(row["rss"], row["tracemalloc"])
        res.checks.append(("≤ 64 bytes per node (10^6-node chain)",
                           f"tracemalloc {row['tracemalloc']:.0f} B, RSS {row['rss']:.0f} B",
                           round(worst) <= 64))
    return res


def workload_replay(cfg):
    """7. Record once, replay in C (issue 6)."""
    import replay_bench
    replay = replay_bench.replay_results(cfg)
    return Result("replay", markdown=replay_bench.replay_markdown(replay),
                  checks=[(f"replay (issue 6): {what}", value, ok)
                          for what, value, ok in replay["targets"]],
                  data={"results": replay})


def workload_neuron(cfg):
    """8. Arithmetic of micrograd's shape, and x ** 2 against x * x (issue 10)."""
    res = Result("neuron")
    nimpls = W.neuron_impls()
    r8 = run_set("neuron", nimpls, cfg)
    sq = W.square_impls() + W.square_replay_impls()
    want = 0.3
    for _ in range(W.SQUARE_N):
        want = want * want * 0.5
    for impl in sq:                    # every squaring chain ends on the float chain's value
        got = impl.run()
        got = got[0] if isinstance(got, tuple) else getattr(got, "value", got)
        if got != want:
            raise AssertionError(f"{impl.name}: {got!r} != {want!r}")
    r8b = run_set("square", sq, cfg, check=False)
    res.data.update(results=r8, square=r8b)
    res.markdown = (
        timed_table("8. Arithmetic of micrograd's shape: a layer of 16 neurons of 16 inputs "
                    "(multiply-adds, relu), built (and freed) then both gradients, per op",
                    nimpls, r8, "ns", _ops, "op") + "\n" +
        timed_table("8b. x ** 2 against x * x: a chain of 10^4 squarings (each times 0.5), "
                    "built and freed, and its tape replayed, per op", sq, r8b, "ns", _ops,
                    "op", base="compiled: x * x"))
    if "floats" in r8 and "compiled: gradients" in r8:
        ratio = r8["compiled: gradients"].build / r8["floats"].total
        res.checks.append(("arithmetic build (micrograd's shape) <= 4x plain floats per op "
                           "(issue 10)", f"{ratio:.2f}x", ratio <= 4.0))
    if "micrograd" in r8 and "compiled: gradients" in r8:
        ratio = r8["micrograd"].total / r8["compiled: gradients"].total
        res.checks.append(("micrograd's shape, build + gradients: >= 50x faster than "
                           "micrograd", f"{ratio:.0f}x", ratio >= 50.0))
    for build, other in (("compiled: x ** 2", "compiled: x * x"),
                         ("replay: x ** 2", "replay: x * x")):
        if build in r8b and other in r8b:
            ratio = r8b[build].total / r8b[other].total
            res.checks.append((f"{build} <= 1.2x {other} (issue 10)", f"{ratio:.2f}x",
                               ratio <= 1.2))
    return res


def workload_beyond(cfg):
    """9. Beyond the gradient: HVP, Hessians, Jacobians (issue 12)."""
    import beyond_bench
    r = beyond_bench.beyond_results(cfg)
    res = Result("beyond", markdown=beyond_bench.beyond_markdown(r),
                 checks=[(f"beyond the gradient (issue 12): {what}", value, ok)
                         for what, value, ok in r["targets"]], data={"results": r})
    res.chart(beyond_bench.beyond_chart(r, _out(cfg, "beyond.png")), "beyond.png",
              "Beyond the gradient")
    return res


def workload_batch(cfg):
    """10. Many points at once: batched value and gradient (issue 13)."""
    import batch_bench
    r = batch_bench.batch_results(cfg)
    res = Result("batch", markdown=batch_bench.batch_markdown(r),
                 checks=[(f"many points (issue 13): {what}", value, ok)
                         for what, value, ok in r["targets"]], data={"results": r})
    res.chart(batch_bench.batch_chart(r, _out(cfg, "batch.png")), "batch.png", "Many points")
    return res


WORKLOAD_FUNCTIONS = {
    "chain": workload_chain, "linearity": workload_linearity, "f": workload_f,
    "mlp": workload_mlp, "dag": workload_dag, "linear": workload_linear,
    "memory": workload_memory, "replay": workload_replay, "neuron": workload_neuron,
    "beyond": workload_beyond, "batch": workload_batch,
}


def end_to_end_checks(results):
    """Issue 4's end-to-end targets: they read the chain, f and MLP results together."""
    if "chain" not in results:
        return []
    r1 = results["chain"].data["results"]
    c = r1["compiled: gradients"]
    out = []
    for peer, need in (("torch 0-dim", 100), ("micrograd", 50), ("reference: gradients", 30)):
        label = {"reference: gradients": "the reference engine"}.get(peer, peer)
        if peer not in r1:
            out.append((f"end to end ≥ {need}× faster than {label} (workload 1)",
                        "not measured (peer missing or failed)", False))
            continue
        ratio = r1[peer].total / c.total
        others = []
        for wl, label_wl in (("f", "f"), ("mlp", "MLP")):
            r = results[wl].data["results"] if wl in results else {}
            if peer in r:
                others.append(f"{label_wl}: {r[peer].total / r['compiled: gradients'].total:.0f}×")
        out.append((f"end to end (build + gradients) ≥ {need}× faster than {label} "
                    "(workload 1)", f"{ratio:,.0f}×" + (f" ({', '.join(others)})" if others
                                                        else ""), ratio >= need))
    return out


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
        if name in W.PEER_NAMES and name not in cfg.peers:
            out[name] = {"n": 0, "note": "not selected (--peers)"}
            continue
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
    """Parse the command line, run the selected workloads, write the report."""
    cfg, args = parse_args(argv)
    W.select_peers(cfg.peers)
    if args.memory_child:
        name, n, mode = args.memory_child
        memory_child(name, int(n), mode)
        return
    started = time.perf_counter()
    info = machine_info()
    print(json.dumps(info, indent=1), flush=True)
    os.makedirs(cfg.out, exist_ok=True)
    results = {}
    for name in cfg.workloads:
        print(f"workload {name}: {WORKLOAD_FUNCTIONS[name].__doc__.splitlines()[0]}", flush=True)
        results[name] = WORKLOAD_FUNCTIONS[name](cfg)
    checks = [c for r in results.values() for c in r.checks] + end_to_end_checks(results)
    elapsed = time.perf_counter() - started
    write_results(os.path.join(cfg.out, "RESULTS.md"), info, cfg, results, checks, elapsed)
    print("\n".join(f"{'PASS' if ok else 'MISS'}  {what}: {value}" for what, value, ok in checks))
    print(f"done in {elapsed:.0f} s")
    return results


def write_results(path, info, cfg, results, checks, elapsed):
    md = [r.markdown for r in results.values() if r.markdown]
    charts = [c for r in results.values() for c in r.charts]
    flag = {"full": "", "quick": " --quick", "smoke": " --smoke"}[cfg.mode]
    if tuple(cfg.workloads) != WORKLOADS:
        flag += " --workloads " + ",".join(cfg.workloads)
    if tuple(cfg.peers) != PEERS:
        flag += " --peers " + (",".join(cfg.peers) or "none")
    peers = ", ".join(f"{k} {v}" for k, v in info["peers"].items())
    head = [
        "# Benchmark results",
        "",
        f"Generated by `python benchmarks/report.py{flag}` on "
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
        "Method (`benchmarks/timing.py`, one timer for every table): every figure is the minimum "
        "over several samples in one process (a warm-up run "
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
        "## Targets (issues 4, 6, 10, 12 and 13)",
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

