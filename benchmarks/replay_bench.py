"""Record once, replay in C (issue 6): the workloads and ``replay_results()``.

``replay_results()`` measures, in one run, everything the issue's targets compare:

* the chain of workload 1 (``workloads.chain``, 10^5 ops of sin/exp/log/*/+): plain Python
  floats, one graph build + backward of the compiled engine, recording, replay (value alone,
  and value + gradient), and a hand-written C tape of the same chain, compiled here with
  the system C compiler and the engine's float flags (the floor);
* recording time at 10^4 .. 10^6 ops (linear?);
* the tutorial's ``f(a, b)``: ``tape.value_and_grad`` per call, Python call included, next to
  plain floats, the graph engine, ``jax.jit`` steady state and CasADi's prebuilt ``Function``
  (each when importable);
* the scalar MLP training step of workload 3 (2-16-16-1 tanh, 50 points): rebuilding the
  graph each step against replaying a tape of the loss;
* CasADi on the chain at 10^4 ops (build from Python, then its Function per op).

It returns a dict of figures; ``replay_markdown(results)`` renders them as the RESULTS.md
section.  ``python benchmarks/replay_bench.py`` prints that section.
"""
import ctypes
import gc
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import autodiff  # noqa: E402
import workloads as W  # noqa: E402

CHAIN_OPS = 100_000
SCALING_OPS = (10_000, 100_000, 1_000_000)
QUICK = False       # replay_results(quick=True): one repeat, tiny budgets, no peers

# ======================================================================================
# Timing
# ======================================================================================


def best_of(fn, repeat=5, number=1):
    """The best time of ``repeat`` runs of ``number`` calls of fn, per call, in seconds."""
    best = math.inf
    for _ in range(1 if QUICK else repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def per_call(fn, budget=0.2, repeat=5):
    """Seconds per call of a fast fn: calls batched to ~budget/repeat seconds each run."""
    if QUICK:
        budget = 0.005
    fn()
    number, elapsed = 1, 0.0
    while elapsed < budget / repeat / 4:
        number *= 2
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
    return best_of(fn, repeat=repeat, number=max(1, int(number * budget / repeat / 4 / elapsed)))

# ======================================================================================
# Workload 1, the chain: a tape of it, and the hand-written C tape floor
# ======================================================================================


def chain_function(ad, n_ops):
    """f(x) = the chain of workloads.chain on the engine ``ad``."""
    def f(x):
        return W.chain(x, n_ops, ad.sin, ad.exp, ad.log)
    return f


def chain_tape(n_ops, ad=autodiff):
    return ad.record(chain_function(ad, n_ops), W.CHAIN_X0)


_C_TAPE = r"""
/* A hand-written C tape: one struct per op, a switch per op forwards, the adjoint sweep
   backwards.  It is what a replay has to do at the least, without any generality. */
#include <math.h>
#include <stdlib.h>

enum { SIN, EXP, LOG, MULC, ADDC };
typedef struct { int op; int a; double c; double local; } op_t;

typedef struct { op_t* code; double* val; double* adj; int n; } tape_t;

/* The chain: n_blocks of log(exp(sin(x))) * k + c, slot 0 is the input. */
tape_t* chain_tape(int n_blocks, const double* ks, const double* cs, int n_cycle) {
    tape_t* t = malloc(sizeof(tape_t));
    int n = 5 * n_blocks, i = 0, b;
    t->code = malloc(n * sizeof(op_t));
    t->val = malloc((n + 1) * sizeof(double));
    t->adj = malloc((n + 1) * sizeof(double));
    t->n = n;
    for (b = 0; b < n_blocks; b++) {
        int ops[5] = {SIN, EXP, LOG, MULC, ADDC};
        int j;
        for (j = 0; j < 5; j++, i++) {
            t->code[i].op = ops[j];
            t->code[i].a = i;                  /* the previous slot */
            t->code[i].c = j == 3 ? ks[b % n_cycle] : (j == 4 ? cs[b % n_cycle] : 0.0);
        }
    }
    return t;
}

double replay(tape_t* t, double x, double* dx) {
    op_t* code = t->code;
    double* val = t->val;
    double* adj = t->adj;
    int n = t->n, i;
    val[0] = x;
    for (i = 0; i < n; i++) {
        double v = val[code[i].a], y;
        switch (code[i].op) {
        case SIN:  y = sin(v); code[i].local = cos(v); break;
        case EXP:  y = exp(v); code[i].local = y; break;
        case LOG:  y = log(v); code[i].local = 1.0 / v; break;
        case MULC: y = v * code[i].c; code[i].local = code[i].c; break;
        default:   y = v + code[i].c; code[i].local = 1.0; break;
        }
        val[i + 1] = y;
    }
    for (i = 0; i <= n; i++) adj[i] = 0.0;
    adj[n] = 1.0;
    for (i = n - 1; i >= 0; i--)
        adj[code[i].a] += adj[i + 1] * code[i].local;
    *dx = adj[0];
    return val[n];
}
"""


class CTape:
    """The hand-written C tape of the chain, built with the system C compiler (or None)."""

    def __init__(self, n_ops):
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("no C compiler")
        self.dir = tempfile.mkdtemp(prefix="autodiff-ctape-")
        src, lib = os.path.join(self.dir, "tape.c"), os.path.join(self.dir, "tape.so")
        with open(src, "w") as file:
            file.write(_C_TAPE)
        subprocess.run([cc, "-O3", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
                        src, "-o", lib, "-lm"], check=True, capture_output=True)
        self.lib = ctypes.CDLL(lib)
        self.lib.chain_tape.restype = ctypes.c_void_p
        self.lib.chain_tape.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_double),
                                        ctypes.POINTER(ctypes.c_double), ctypes.c_int]
        self.lib.replay.restype = ctypes.c_double
        self.lib.replay.argtypes = [ctypes.c_void_p, ctypes.c_double,
                                    ctypes.POINTER(ctypes.c_double)]
        ks = (ctypes.c_double * len(W.CHAIN_CONSTANTS))(*[k for k, _ in W.CHAIN_CONSTANTS])
        cs = (ctypes.c_double * len(W.CHAIN_CONSTANTS))(*[c for _, c in W.CHAIN_CONSTANTS])
        self.tape = self.lib.chain_tape(W.chain_blocks(n_ops), ks, cs, len(W.CHAIN_CONSTANTS))
        self.dx = ctypes.c_double()

    def value_and_grad(self, x):
        value = self.lib.replay(self.tape, x, ctypes.byref(self.dx))
        return value, self.dx.value


def chain_figures(n_ops=CHAIN_OPS):
    """Per-op figures of workload 1 (ns/op) and the checks that the replays agree."""
    n = W.chain_blocks(n_ops) * W.OPS_PER_BLOCK
    f = chain_function(autodiff, n)
    x0 = W.CHAIN_X0
    out = {"n_ops": n}

    def build_backward():
        x = autodiff.Var(x0)
        return autodiff.gradients(f(x), [x])
    out["float_ns"] = best_of(lambda: W.chain_float(n)) / n * 1e9
    out["build_backward_ns"] = best_of(build_backward) / n * 1e9
    out["record_ns"] = best_of(lambda: chain_tape(n)) / n * 1e9
    tape = chain_tape(n)
    out["replay_value_ns"] = best_of(lambda: tape(x0), repeat=20) / n * 1e9
    out["replay_ns"] = best_of(lambda: tape.value_and_grad(x0), repeat=20) / n * 1e9
    value, grad = tape.value_and_grad(x0)
    want = build_backward()
    out["replay_equals_graph"] = (value == W.chain_float(n) and [grad] == want)
    try:
        c_tape = CTape(n)
    except Exception as error:       # no compiler: the floor is missing, not the rest
        out["c_floor_ns"] = None
        out["c_floor_note"] = f"not measured ({type(error).__name__}: {error})"
    else:
        out["c_floor_ns"] = best_of(lambda: c_tape.value_and_grad(x0), repeat=20) / n * 1e9
        c_value, c_grad = c_tape.value_and_grad(x0)
        out["c_floor_agrees"] = bool(math.isclose(c_value, value, rel_tol=1e-9)
                                     and math.isclose(c_grad, grad, rel_tol=1e-6))
    return out


def record_scaling(sizes=SCALING_OPS):
    """Seconds to record the chain at each size (and a graph build + backward, to compare)."""
    rows = []
    for n_ops in sizes:
        n = W.chain_blocks(n_ops) * W.OPS_PER_BLOCK
        f = chain_function(autodiff, n)

        def build_backward():
            x = autodiff.Var(W.CHAIN_X0)
            autodiff.gradients(f(x), [x])
        repeat = 3 if n < 10**6 else 2
        seconds = best_of(lambda: chain_tape(n), repeat=repeat)
        graph = best_of(build_backward, repeat=repeat)
        rows.append({"n_ops": n, "record_s": seconds, "ns_per_op": seconds / n * 1e9,
                     "build_backward_s": graph, "ratio": seconds / graph})
    return rows

# ======================================================================================
# Workload 2, the tutorial's f(a, b), per call
# ======================================================================================


def f_figures():
    a, b = W.F_A, W.F_B
    out = {}
    tape = autodiff.record(W.tutorial_f, a, b, argnums=(0, 1))
    value, grads = tape.value_and_grad(a, b)
    out["tape_agrees"] = (value == W.tutorial_f(a, b)
                          and math.isclose(grads[0], W.F_DA, rel_tol=1e-12)
                          and math.isclose(grads[1], W.F_DB, rel_tol=1e-12))
    out["tape_us"] = per_call(lambda: tape.value_and_grad(a, b)) * 1e6
    out["tape_value_us"] = per_call(lambda: tape(a, b)) * 1e6
    out["float_us"] = per_call(lambda: W.tutorial_f(a, b)) * 1e6
    Var, gradients = autodiff.Var, autodiff.gradients

    def graph():
        x, y = Var(a), Var(b)
        return gradients(W.tutorial_f(x, y), [x, y])
    out["graph_us"] = per_call(graph) * 1e6
    out["record_us"] = per_call(lambda: autodiff.record(W.tutorial_f, a, b, argnums=(0, 1)),
                                budget=0.1) * 1e6
    out["jax_jit_us"], out["jax_note"] = _jax_f(a, b)
    out["casadi_us"], out["casadi_note"] = _casadi_f(a, b)
    return out


def _jax_f(a, b):
    if QUICK:
        return None, "not run in quick mode"
    jax = W.peer("jax")
    if jax is None:
        return None, f"jax missing ({W.peer_reason('jax')})"
    fn = jax.jit(jax.value_and_grad(W.tutorial_f, argnums=(0, 1)))
    value, (da, db) = fn(a, b)
    if not math.isclose(float(da), W.F_DA, rel_tol=1e-9):
        return None, "jax disagrees"

    def call():
        value, grads = fn(a, b)
        value.block_until_ready()
    return per_call(call) * 1e6, f"jax {jax.__version__}, x64, steady state"


def casadi_module():
    if QUICK:
        return None, "not run in quick mode"
    try:
        import casadi
        return casadi, None
    except Exception as error:
        return None, f"casadi missing ({type(error).__name__}: {error})"


def _casadi_f(a, b):
    ca, why = casadi_module()
    if ca is None:
        return None, why
    x, y = ca.SX.sym("a"), ca.SX.sym("b")
    expr = W.tutorial_f(x, y)
    fn = ca.Function("f", [x, y], [expr, ca.gradient(expr, ca.vertcat(x, y))])
    value, grads = fn(a, b)
    if not math.isclose(float(grads[0]), W.F_DA, rel_tol=1e-9):
        return None, "casadi disagrees"
    return per_call(lambda: fn(a, b)) * 1e6, f"casadi {ca.__version__}, SX Function, prebuilt"


def casadi_chain(n_ops=10_000):
    """CasADi on the chain: building the expression from Python, then its Function, per op."""
    ca, why = casadi_module()
    if ca is None:
        return {"note": why}
    n = W.chain_blocks(n_ops) * W.OPS_PER_BLOCK
    x = ca.SX.sym("x")
    start = time.perf_counter()
    expr = W.chain(x, n, ca.sin, ca.exp, ca.log)
    fn = ca.Function("chain", [x], [expr, ca.gradient(expr, x)])
    build = time.perf_counter() - start
    value, grad = fn(W.CHAIN_X0)
    tape = chain_tape(n)
    ours = tape.value_and_grad(W.CHAIN_X0)
    return {"n_ops": n, "build_ns": build / n * 1e9,
            "eval_ns": best_of(lambda: fn(W.CHAIN_X0), repeat=10) / n * 1e9,
            "agrees": bool(math.isclose(float(value), ours[0], rel_tol=1e-9)),
            "note": f"casadi {ca.__version__}"}

# ======================================================================================
# Workload 3, the MLP training step: rebuild against replay
# ======================================================================================


def mlp_loss_of_flat(ad):
    """loss(params, X, Y) with the parameters as one flat vector (workloads.mlp_flat order)."""
    shapes = [(len(W_), len(W_[0]), len(b)) for W_, b in W.mlp_data(1)[2]]

    def loss(params, X, Y):
        layers, k = [], 0
        for rows, cols, nb in shapes:
            Wm = [list(params[k + r * cols:k + (r + 1) * cols]) for r in range(rows)]
            k += rows * cols
            layers.append((Wm, list(params[k:k + nb])))
            k += nb
        return W.mlp_loss(layers, list(X), list(Y), ad.tanh)
    return loss


def mlp_figures(points=W.MLP_POINTS):
    X, Y, layers = W.mlp_data(points)
    params0 = np.array(W.mlp_flat(layers))
    Xa, Ya = np.array(X), np.array(Y)
    loss = mlp_loss_of_flat(autodiff)
    grad_of = autodiff.value_and_grad(loss)

    def rebuild_step(params):
        value, g = grad_of(params, Xa, Ya)
        return params - W.MLP_RATE * g

    tape = autodiff.record(loss, params0, Xa, Ya)

    def replay_step(params):
        value, g = tape.value_and_grad(params, Xa, Ya)
        return params - W.MLP_RATE * g

    out = {"n_params": len(params0), "n_ops": tape.n_ops}
    # Ten steps each way from the same start land on the same parameters, bit for bit.
    p1, p2 = params0, params0
    for _ in range(10):
        p1, p2 = rebuild_step(p1), replay_step(p2)
    out["replay_equals_rebuild"] = bool(np.array_equal(p1, p2))

    # The rebuilding step as workload 3 times it: Var parameters kept, values reset.
    net = W.mlp_map(layers, autodiff.Var)
    params = W.mlp_flat(net)

    def engine_step():
        for p, v in zip(params, params0):
            p.value = v
        grads = autodiff.gradients(W.mlp_loss(net, X, Y, autodiff.tanh), params)
        for p, g in zip(params, grads):
            p.value -= W.MLP_RATE * g
    out["rebuild_ms"] = best_of(engine_step, repeat=7) * 1e3
    out["rebuild_value_and_grad_ms"] = best_of(lambda: rebuild_step(params0), repeat=7) * 1e3
    out["replay_ms"] = best_of(lambda: replay_step(params0), repeat=21, number=5) * 1e3
    out["record_ms"] = best_of(lambda: autodiff.record(loss, params0, Xa, Ya), repeat=3) * 1e3
    out["speedup"] = out["rebuild_ms"] / out["replay_ms"]
    return out

# ======================================================================================
# All of it
# ======================================================================================


def replay_results(quick=False):
    """Every figure of issue 6 from one run (``quick``: small sizes, for a smoke test)."""
    global QUICK
    QUICK = quick
    n = 2_000 if quick else CHAIN_OPS
    results = {
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}, "
                   f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "chain": chain_figures(n),
        "scaling": record_scaling((1_000, 5_000) if quick else SCALING_OPS),
        "f": f_figures(),
        "mlp": mlp_figures(5 if quick else W.MLP_POINTS),
        "casadi_chain": casadi_chain(1_000 if quick else 10_000),
    }
    results["targets"] = targets(results)
    return results


def targets(r):
    """(target, measured, met) rows for the issue's targets."""
    c, f, m = r["chain"], r["f"], r["mlp"]
    rows = [
        ("replay value + gradient <= 1x plain floats per op (chain)",
         f"{c['replay_ns'] / c['float_ns']:.2f}x", c["replay_ns"] <= c["float_ns"]),
    ]
    if c.get("c_floor_ns"):
        rows.append(("replay <= 3x the hand-written C tape (chain)",
                     f"{c['replay_ns'] / c['c_floor_ns']:.2f}x",
                     c["replay_ns"] <= 3 * c["c_floor_ns"]))
    rows.append(("recording <= 2x one graph build + backward (chain)",
                 f"{c['record_ns'] / c['build_backward_ns']:.2f}x",
                 c["record_ns"] <= 2 * c["build_backward_ns"]))
    big = r["scaling"][-1]
    rows.append((f"recording {big['n_ops']:,} ops in about a second",
                 f"{big['record_s']:.2f} s", big["record_s"] <= 1.5))
    small = r["scaling"][0]
    rows.append((f"recording linear: ns/op at {big['n_ops']:,} ops <= 2x at {small['n_ops']:,}",
                 f"{big['ns_per_op']:.0f} vs {small['ns_per_op']:.0f} ns/op "
                 f"({big['ns_per_op'] / small['ns_per_op']:.2f}x); record / (build + backward) "
                 + ", ".join(f"{row['ratio']:.2f}" for row in r["scaling"]),
                 big["ns_per_op"] <= 2 * small["ns_per_op"]))
    rows.append(("tutorial f: tape.value_and_grad <= 2 us per call",
                 f"{f['tape_us']:.2f} us", f["tape_us"] <= 2.0))
    for peer in ("jax_jit", "casadi"):
        if f.get(f"{peer}_us"):
            rows.append((f"tutorial f: faster than {peer.replace('_', '.')} per call",
                         f"{f[peer + '_us'] / f['tape_us']:.1f}x faster",
                         f["tape_us"] < f[peer + "_us"]))
    rows.append(("MLP training step replayed >= 20x faster than rebuilding",
                 f"{m['speedup']:.1f}x", m["speedup"] >= 20))
    return rows


def replay_markdown(r):
    """The RESULTS.md section of these figures."""
    c, f, m, cc = r["chain"], r["f"], r["mlp"], r["casadi_chain"]
    lines = ["## Record once, replay in C (issue 6)", "",
             f"{r['machine']}; {r['date']}.  `autodiff.record(f, *args)` runs f once and keeps "
             "its graph as a flat tape; `tape.value_and_grad(*args)` replays it in C.", "",
             f"### Chain of {c['n_ops']:,} ops (workload 1), ns per op", "",
             "| | ns/op | x plain floats |", "|---|---:|---:|"]

    def row(name, ns):
        if ns is None:
            return f"| {name} | - | - |"
        return f"| {name} | {ns:.1f} | {ns / c['float_ns']:.2f} |"
    lines += [row("plain Python floats, value only (the floor of Python code)", c["float_ns"]),
              row("hand-written C tape, value + gradient", c.get("c_floor_ns")),
              row("**replay: value + gradient**", c["replay_ns"]),
              row("replay: value only", c["replay_value_ns"]),
              row("graph build + backward (compiled engine)", c["build_backward_ns"]),
              row("record (one build + flatten)", c["record_ns"])]
    if cc.get("n_ops"):
        lines += [row(f"CasADi: build SX + Function from Python ({cc['n_ops']:,} ops)",
                      cc["build_ns"]),
                  row(f"CasADi: Function value + gradient ({cc['n_ops']:,} ops)", cc["eval_ns"])]
    lines += ["", "Recording against one graph build + backward, by size:", "",
              "| ops | record | ns/op | build + backward | ratio |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {x['n_ops']:,} | {x['record_s'] * 1e3:.1f} ms | {x['ns_per_op']:.0f} | "
              f"{x['build_backward_s'] * 1e3:.1f} ms | {x['ratio']:.2f} |" for x in r["scaling"]]
    lines += ["",
        "### The tutorial's f(a, b), value and both partials, per call", "",
        "| | us/call |", "|---|---:|",
        f"| plain Python floats, value only | {f['float_us']:.2f} |",
        f"| **tape.value_and_grad(a, b)** | {f['tape_us']:.2f} |",
        f"| tape(a, b), value only | {f['tape_value_us']:.2f} |",
        f"| graph build + gradients (compiled engine) | {f['graph_us']:.2f} |",
        f"| record (once) | {f['record_us']:.1f} |"]
    for peer, label in (("jax_jit", "jax.jit steady state"), ("casadi", "CasADi Function")):
        value = f.get(f"{peer}_us")
        lines.append(f"| {label} | {value:.2f} |" if value else
                     f"| {label} | {f.get(peer.split('_')[0] + '_note')} |")
    lines += ["", f"### Scalar MLP 2-16-16-1 tanh, {W.MLP_POINTS} points, one training step "
              f"({m['n_params']} parameters, {m['n_ops']:,} ops)", "",
              "| | ms/step |", "|---|---:|",
              f"| rebuild: graph + gradients + SGD (compiled engine) | {m['rebuild_ms']:.2f} |",
              f"| rebuild via value_and_grad (arrays in) | {m['rebuild_value_and_grad_ms']:.2f} |",
              f"| **replay: tape.value_and_grad + SGD** | {m['replay_ms']:.3f} |",
              f"| record (once) | {m['record_ms']:.1f} |",
              "", f"Replay is {m['speedup']:.0f}x faster than rebuilding; ten steps each way "
              f"end on the same parameters bit for bit: {m['replay_equals_rebuild']}.", "",
              "### Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {'yes' if ok else '**no**'} |"
              for name, measured, ok in r["targets"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(replay_markdown(replay_results(quick="--quick" in sys.argv)))
