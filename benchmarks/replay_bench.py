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
section.  ``python benchmarks/replay_bench.py [--quick|--smoke] [--peers ...]`` prints that
section.  All timing goes through ``timing.compare`` (the figures of one table interleaved).
"""
import ctypes
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
try:
    import autodiff  # noqa: F401
except ImportError:                       # not installed: use the source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import autodiff  # noqa: E402
import timing  # noqa: E402
import workloads as W  # noqa: E402

CHAIN_OPS = 100_000
SCALING_OPS = (10_000, 100_000, 1_000_000)


def _config(cfg):
    """A ``config.Config``; ``True``/``False`` (the old ``quick`` flag) map to smoke/full."""
    if isinstance(cfg, bool) or cfg is None:
        from config import Config
        return Config.for_mode("smoke" if cfg else "full")
    return cfg


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


C_FLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math")     # the engine's float flags


def compile_c(source, name):
    """Build C ``source`` into a shared object with the system compiler and the engine's
    float flags, and load it with ctypes.  RuntimeError when there is no compiler."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler")
    folder = tempfile.mkdtemp(prefix=f"autodiff-{name}-")
    src, lib = os.path.join(folder, f"{name}.c"), os.path.join(folder, f"{name}.so")
    with open(src, "w") as file:
        file.write(source)
    proc = subprocess.run([cc, *C_FLAGS, "-shared", "-fPIC", src, "-o", lib, "-lm"],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[:200]}")
    return ctypes.CDLL(lib)


class CTape:
    """The hand-written C tape of the chain, built with the system C compiler (or None)."""

    def __init__(self, n_ops):
        self.lib = compile_c(_C_TAPE, "tape")
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


def chain_figures(n_ops, settings):
    """Per-op figures of workload 1 (ns/op), in one interleaved run, and the checks that the
    replays agree."""
    n = W.chain_blocks(n_ops) * W.OPS_PER_BLOCK
    f = chain_function(autodiff, n)
    x0 = W.CHAIN_X0
    out = {"n_ops": n}

    def build_backward():
        x = autodiff.Var(x0)
        return autodiff.gradients(f(x), [x])
    tape = chain_tape(n)
    value, grad = tape.value_and_grad(x0)
    out["replay_equals_graph"] = (value == W.chain_float(n) and [grad] == build_backward())
    fns = {"float": lambda: W.chain_float(n), "build_backward": build_backward,
           "record": lambda: chain_tape(n), "replay_value": lambda: tape(x0),
           "replay": lambda: tape.value_and_grad(x0)}
    try:
        c_tape = CTape(n)
    except Exception as error:       # no compiler: the floor is missing, not the rest
        out["c_floor_note"] = f"not measured ({type(error).__name__}: {error})"
    else:
        c_value, c_grad = c_tape.value_and_grad(x0)
        out["c_floor_agrees"] = bool(math.isclose(c_value, value, rel_tol=1e-9)
                                     and math.isclose(c_grad, grad, rel_tol=1e-6))
        fns["c_floor"] = lambda: c_tape.value_and_grad(x0)
    stats = timing.compare(fns, settings)
    for name in fns:
        out[f"{name}_ns"] = stats[name].best / n * 1e9 if name in stats else None
    return out


def record_scaling(sizes, settings):
    """Seconds to record the chain at each size (and a graph build + backward, to compare)."""
    rows = []
    for n_ops in sizes:
        n = W.chain_blocks(n_ops) * W.OPS_PER_BLOCK
        f = chain_function(autodiff, n)

        def build_backward():
            x = autodiff.Var(W.CHAIN_X0)
            autodiff.gradients(f(x), [x])
        stats = timing.compare({"record": lambda: chain_tape(n), "graph": build_backward},
                               settings)
        seconds, graph = stats["record"].best, stats["graph"].best
        rows.append({"n_ops": n, "record_s": seconds, "ns_per_op": seconds / n * 1e9,
                     "build_backward_s": graph, "ratio": seconds / graph})
    return rows

# ======================================================================================
# Workload 2, the tutorial's f(a, b), per call
# ======================================================================================


def f_figures(settings):
    """Per-call figures of the tutorial's f: tape, graph, floats and the peers, interleaved."""
    a, b = W.F_A, W.F_B
    out = {}
    tape = autodiff.record(W.tutorial_f, a, b, argnums=(0, 1))
    value, grads = tape.value_and_grad(a, b)
    out["tape_agrees"] = (value == W.tutorial_f(a, b)
                          and math.isclose(grads[0], W.F_DA, rel_tol=1e-12)
                          and math.isclose(grads[1], W.F_DB, rel_tol=1e-12))
    Var, gradients = autodiff.Var, autodiff.gradients

    def graph():
        x, y = Var(a), Var(b)
        return gradients(W.tutorial_f(x, y), [x, y])
    fns = {"tape": lambda: tape.value_and_grad(a, b), "tape_value": lambda: tape(a, b),
           "float": lambda: W.tutorial_f(a, b), "graph": graph,
           "record": lambda: autodiff.record(W.tutorial_f, a, b, argnums=(0, 1))}
    for peer, make in (("jax_jit", _jax_f), ("casadi", _casadi_f)):
        fn, out[f"{peer.split('_')[0]}_note"] = make(a, b)
        if fn is not None:
            fns[peer] = fn
    stats = timing.compare(fns, settings)
    for name in ("tape", "tape_value", "float", "graph", "record", "jax_jit", "casadi"):
        out[f"{name}_us"] = stats[name].best * 1e6 if name in stats else None
    return out


def _jax_f(a, b):
    """(a checked call of jax.jit(value_and_grad(f)), note) or (None, why not)."""
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
    return call, f"jax {jax.__version__}, x64, steady state"


def casadi_module():
    ca = W.peer("casadi")
    return (ca, None) if ca is not None else (None, f"casadi missing "
                                                    f"({W.peer_reason('casadi')})")


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
    return (lambda: fn(a, b)), f"casadi {ca.__version__}, SX Function, prebuilt"


def casadi_chain(n_ops, settings):
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
            "eval_ns": timing.time_one(lambda: fn(W.CHAIN_X0), settings).best / n * 1e9,
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


def mlp_figures(points, settings):
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

    out = {"n_params": len(params0), "n_ops": tape.n_ops, "points": points}
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
    stats = timing.compare({"rebuild": engine_step,
                            "rebuild_value_and_grad": lambda: rebuild_step(params0),
                            "replay": lambda: replay_step(params0),
                            "record": lambda: autodiff.record(loss, params0, Xa, Ya)}, settings)
    for name, stat in stats.items():
        out[f"{name}_ms"] = stat.best * 1e3
    out["speedup"] = out["rebuild_ms"] / out["replay_ms"]
    return out

# ======================================================================================
# All of it
# ======================================================================================


def replay_results(cfg=None):
    """Every figure of issue 6 from one run.  ``cfg``: a ``config.Config`` (its
    ``replay_*`` sizes, ``mlp_points`` and timer); ``True`` for smoke sizes."""
    cfg = _config(cfg)
    settings = cfg.timer
    results = {
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}, "
                   f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "chain": chain_figures(cfg.replay_chain_n, settings),
        "scaling": record_scaling(cfg.replay_scaling, settings),
        "f": f_figures(settings),
        "mlp": mlp_figures(cfg.mlp_points, settings),
        "casadi_chain": casadi_chain(cfg.replay_casadi_n, settings),
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
    lines += ["", f"### Scalar MLP 2-16-16-1 tanh, {m['points']} points, one training step "
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
    from config import parse_args
    _cfg, _ = parse_args()
    W.select_peers(_cfg.peers)
    print(replay_markdown(replay_results(_cfg)))
