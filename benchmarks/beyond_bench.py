"""Beyond the gradient (issue 12): Hessian-vector products, Hessians and Jacobians on a tape.

``beyond_results(cfg)`` runs five tasks, each one interleaved comparison (``tasks.Task``):

* **HVP**, Rosenbrock at n = 10^3 and 10^4: ``tape.hvp(x, v)`` and its ratio to
  ``tape.value_and_grad(x)`` on the same tape; peers ``jax.jit`` of ``jvp(grad)`` (and its own
  gradient, for its ratio), ``torch.autograd.functional.hvp``, autograd's
  ``hessian_vector_product`` and CasADi's ``jtimes`` (SX Function);
* **dense Hessian**, Rosenbrock n = 100: ``tape.hessian(x)`` against ``jax.jit(jax.hessian)``
  (CasADi's sparse SX Hessian for context);
* **sparse Hessian**, Rosenbrock n = 1000: ``tape.sparse_hessian(x)`` (a
  ``scipy.sparse.csr_array``) and its ratio to ``tape.value_and_grad``, the set-up of the
  first call (pattern and colouring), against CasADi's SX Hessian Function called from Python;
* **Jacobian** of least-squares residuals, m = 200 residuals, n = 4 parameters:
  ``tape.jacobian(p)`` against ``jax.jit(jax.jacfwd)`` and against one tape per residual;
* **sparse Jacobian** of the 1-D Bratu problem, n = m = 1000 (tridiagonal):
  ``tape.sparse_jacobian(u)`` and its ratio to one reverse sweep ``tape.vjp(u, w)``, against
  CasADi's SX Jacobian Function (and JAX's dense ``jacfwd`` for context).

The Rosenbrock function is the chained one of ``scipy.optimize.rosen`` (sum of
100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2), written with ``x * x`` as scalar code; SciPy's
``rosen_der``/``rosen_hess``/``rosen_hess_prod`` are the analytic oracles.  The residuals and
Bratu have their Jacobians written out by hand.  Every result is checked before it is timed
(relative 1e-12 of the largest entry); JAX, where installed, must agree with the oracle too.

A planned tape method that does not exist yet leaves its row "not available" (see
``tasks.py``).  ``python benchmarks/beyond_bench.py [--quick|--smoke] [--peers ...]`` prints
the section.
"""
from __future__ import annotations

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

import autodiff  # noqa: E402
import workloads as W  # noqa: E402
from render import bar_chart, fmt_ratio, fmt_time, table  # noqa: E402
from tasks import Task, check_close, dense  # noqa: E402

REL = 1e-12

# ======================================================================================
# The functions, as scalar code for the tape and vectorised for the peers; their oracles.
# ======================================================================================


def rosen(x):
    """scipy.optimize.rosen as scalar code (x * x, not x ** 2)."""
    total = 0.0
    for i in range(len(x) - 1):
        a = x[i]
        d = x[i + 1] - a * a
        e = 1.0 - a
        total = total + 100.0 * d * d + e * e
    return total


def rosen_vec(x, xp):
    """The same, vectorised, for array libraries (``xp``: jax.numpy, torch, autograd.numpy)."""
    a = x[:-1]
    d = x[1:] - a * a
    e = 1.0 - a
    return xp.sum(100.0 * d * d + e * e)


def rosen_point(n):
    rng = np.random.default_rng(12)
    return rng.uniform(-1.5, 1.5, n), rng.uniform(-1.0, 1.0, n)


LSQ_P = np.array([2.5, 1.3, 0.7, 3.1])


def lsq_data(m):
    t = np.linspace(0.0, 4.0, m)
    rng = np.random.default_rng(5)
    y = 2.0 * np.exp(-1.1 * t) + 0.5 * np.sin(3.0 * t) + 0.01 * rng.standard_normal(m)
    return t, y


def lsq_residuals(ad, t, y):
    """r_i(p) = p0 exp(-p1 t_i) + p2 sin(p3 t_i) - y_i, as scalar code on engine ``ad``."""
    exp, sin = ad.exp, ad.sin
    pairs = list(zip(t.tolist(), y.tolist()))

    def residuals(p):
        return [p[0] * exp(-p[1] * ti) + p[2] * sin(p[3] * ti) - yi for ti, yi in pairs]
    return residuals


def lsq_row(ad, ti, yi):
    exp, sin = ad.exp, ad.sin
    return lambda p: p[0] * exp(-p[1] * ti) + p[2] * sin(p[3] * ti) - yi


def lsq_jacobian(p, t):
    e, s, c = np.exp(-p[1] * t), np.sin(p[3] * t), np.cos(p[3] * t)
    return np.column_stack([e, -p[0] * t * e, s, p[2] * t * c])


BRATU_LAMBDA = 1.0


def bratu(ad, n):
    """F_i(u) = u[i-1] - 2 u[i] + u[i+1] + h^2 lambda exp(u[i]), u[-1] = u[n] = 0."""
    exp = ad.exp
    c = BRATU_LAMBDA / (n + 1) ** 2

    def residuals(u):
        out = []
        for i in range(n):
            r = -2.0 * u[i] + c * exp(u[i])
            if i > 0:
                r = r + u[i - 1]
            if i < n - 1:
                r = r + u[i + 1]
            out.append(r)
        return out
    return residuals


def bratu_point(n):
    s = np.linspace(0.0, 1.0, n + 2)[1:-1]
    return 0.3 * s * (1.0 - s)


def bratu_jacobian(u):
    n = len(u)
    c = BRATU_LAMBDA / (n + 1) ** 2
    J = np.diag(-2.0 + c * np.exp(u))
    J += np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    return J


# ======================================================================================
# Peers, each a make() returning the call to time.
# ======================================================================================

def _jax():
    jax = W.peer("jax")
    if jax is None:
        return None, None
    return jax, jax.numpy


def _block(out):
    """Wait for a JAX result (asynchronous dispatch) and hand it back."""
    for leaf in (out if isinstance(out, (tuple, list)) else (out,)):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return out


def add_jax(task, name, build, args, note=""):
    """A jitted JAX function, compiled before timing (compile time in the note)."""
    jax, jnp = _jax()
    if jax is None:
        task.skip(name, f"jax missing ({W.peer_reason('jax')})")
        return

    def make():
        start = time.perf_counter()
        fn = jax.jit(build(jax, jnp))
        jargs = [jnp.asarray(a) for a in args]
        _block(fn(*jargs))
        task.compile_s[name] = time.perf_counter() - start
        return lambda: _block(fn(*jargs))
    return make


# ======================================================================================
# The tasks.
# ======================================================================================

def _recorded(f, *example_args):
    """A function returning ``autodiff.record(f, *example_args)``, recorded on first call
    (so that recording happens inside the timed task's set-up, once)."""
    box = []

    def tape_of():
        if not box:
            box.append(autodiff.record(f, *example_args))
        return box[0]
    return tape_of


def _ours(tape_of, method, *args):
    """make() for a tape method: record (untimed), then the call of ``tape.method(*args)``."""
    def make():
        tape = tape_of()
        fn = getattr(tape, method)
        return lambda: fn(*args)
    return make


def hvp_task(n):
    task = Task(f"hvp {n}", f"Hessian-vector product, Rosenbrock n = {n:,}")
    x, v = rosen_point(n)
    from scipy.optimize import rosen_der, rosen_hess_prod
    want_hv, want_g = rosen_hess_prod(x, v), rosen_der(x)
    tape_of = _recorded(rosen, x)
    task.add("autodiff: tape.hvp", _ours(tape_of, "hvp", x, v), check_close(want_hv, REL),
             kind="ours")
    task.add("autodiff: tape.value_and_grad", _ours(tape_of, "value_and_grad", x),
             lambda r: check_close(want_g, REL)(r[1]), kind="base")
    _hvp_peers(task, x, v, want_hv, want_g)
    return task


def _hvp_peers(task, x, v, want_hv, want_g):
    jax, jnp = _jax()
    if jax is not None:
        f = lambda z: rosen_vec(z, jnp)  # noqa: E731
        task.add("jax.jit jvp(grad)", add_jax(task, "jax.jit jvp(grad)",
                 lambda jax, jnp: lambda z, w: jax.jvp(jax.grad(f), (z,), (w,))[1], (x, v)),
                 check_close(want_hv, REL), note="steady state")
        task.add("jax.jit value_and_grad", add_jax(task, "jax.jit value_and_grad",
                 lambda jax, jnp: jax.value_and_grad(f), (x,)),
                 lambda r: check_close(want_g, REL)(r[1]), note="its own gradient, for its ratio")
    else:
        task.skip("jax.jit jvp(grad)", f"jax missing ({W.peer_reason('jax')})")
    torch = W.peer("torch")
    if torch is not None:
        def make_torch():
            xt, vt = torch.tensor(x), torch.tensor(v)
            hvp = torch.autograd.functional.hvp
            return lambda: hvp(lambda z: rosen_vec(z, torch), xt, vt)[1].numpy()
        task.add("torch.autograd.functional.hvp", make_torch, check_close(want_hv, 1e-10),
                 note="eager, one thread")
    else:
        task.skip("torch.autograd.functional.hvp", f"torch missing ({W.peer_reason('torch')})")
    ag = W.peer("autograd")
    if ag is not None:
        def make_ag():
            hvp = ag.hessian_vector_product(lambda z: rosen_vec(z, ag.numpy))
            return lambda: hvp(x, v)
        task.add("autograd hessian_vector_product", make_ag, check_close(want_hv, 1e-10))
    else:
        task.skip("autograd hessian_vector_product",
                  f"autograd missing ({W.peer_reason('autograd')})")
    ca = W.peer("casadi")
    if ca is not None:
        def make_ca():
            z, w = ca.SX.sym("x", len(x)), ca.SX.sym("v", len(x))
            fn = ca.Function("hvp", [z, w], [ca.jtimes(ca.gradient(rosen_vec(z, _CasadiNp(ca)),
                                                                   z), z, w)])
            return lambda: fn(x, v)
        task.add("CasADi SX jtimes", make_ca, check_close(want_hv, 1e-10),
                 note="SX Function called from Python")
    else:
        task.skip("CasADi SX jtimes", f"casadi missing ({W.peer_reason('casadi')})")


class _CasadiNp:
    """The ``xp.sum`` that rosen_vec needs, for CasADi SX vectors."""

    def __init__(self, ca):
        self.sum = ca.sum1


def dense_hessian_task(n):
    task = Task("hessian", f"Dense Hessian, Rosenbrock n = {n:,}")
    x, _ = rosen_point(n)
    from scipy.optimize import rosen_der, rosen_hess
    want_h = rosen_hess(x)
    tape_of = _recorded(rosen, x)
    task.add("autodiff: tape.hessian", _ours(tape_of, "hessian", x), check_close(want_h, REL),
             kind="ours")
    task.add("autodiff: tape.value_and_grad", _ours(tape_of, "value_and_grad", x),
             lambda r: check_close(rosen_der(x), REL)(r[1]), kind="base")
    jax, jnp = _jax()
    if jax is not None:
        task.add("jax.jit(jax.hessian)", add_jax(task, "jax.jit(jax.hessian)",
                 lambda jax, jnp: jax.hessian(lambda z: rosen_vec(z, jnp)), (x,)),
                 check_close(want_h, REL), note="dense, steady state")
    else:
        task.skip("jax.jit(jax.hessian)", f"jax missing ({W.peer_reason('jax')})")
    _casadi_hessian(task, x, want_h)
    return task


def _casadi_hessian(task, x, want_h):
    ca = W.peer("casadi")
    if ca is None:
        task.skip("CasADi SX hessian", f"casadi missing ({W.peer_reason('casadi')})")
        return

    def make():
        z = ca.SX.sym("x", len(x))
        H, _ = ca.hessian(rosen_vec(z, _CasadiNp(ca)), z)
        fn = ca.Function("H", [z], [H])
        return lambda: fn(x)
    task.add("CasADi SX hessian", make, check_close(want_h, 1e-10),
             note="sparse DM, SX Function called from Python")


def sparse_hessian_task(n):
    task = Task("sparse hessian", f"Sparse Hessian, Rosenbrock n = {n:,}")
    x, _ = rosen_point(n)
    from scipy.optimize import rosen_der, rosen_hess
    want_h = rosen_hess(x)
    tape_of = _recorded(rosen, x)

    def check_sparse(h):
        if type(h).__name__ != "csr_array":
            raise AssertionError(f"a {type(h).__name__}, not a scipy.sparse.csr_array")
        check_close(want_h, REL)(h)
    task.add("autodiff: tape.sparse_hessian", _ours(tape_of, "sparse_hessian", x),
             check_sparse, kind="ours")
    task.add("autodiff: tape.value_and_grad", _ours(tape_of, "value_and_grad", x),
             lambda r: check_close(rosen_der(x), REL)(r[1]), kind="base")
    _casadi_hessian(task, x, want_h)
    # The first call on a fresh tape finds the pattern and colours it.
    try:
        fresh = autodiff.record(rosen, x)
        start = time.perf_counter()
        fresh.sparse_hessian(x)
        first = time.perf_counter() - start
        start = time.perf_counter()
        fresh.sparse_hessian(x)
        task.setup_s = max(first - (time.perf_counter() - start), 0.0)
    except Exception:
        task.setup_s = None
    return task


def jacobian_task(m, n_params):
    assert n_params == 4, "the residual model has 4 parameters"
    task = Task("jacobian", f"Jacobian, least-squares residuals, m = {m}, n = {n_params}")
    t, y = lsq_data(m)
    p = LSQ_P.copy()
    want = lsq_jacobian(p, t)
    task.add("autodiff: tape.jacobian",
             _ours(lambda: autodiff.record(lsq_residuals(autodiff, t, y), p), "jacobian", p),
             check_close(want, REL), kind="ours")

    def make_rows():
        tapes = [autodiff.record(lsq_row(autodiff, ti, yi), p)
                 for ti, yi in zip(t.tolist(), y.tolist())]
        return lambda: np.array([tp.value_and_grad(p)[1] for tp in tapes])
    task.add("autodiff: one tape per row", make_rows, check_close(want, REL), kind="base",
             note=f"{m} tapes, value_and_grad each")
    jax, jnp = _jax()
    if jax is not None:
        tj, yj = jnp.asarray(t), jnp.asarray(y)
        task.add("jax.jit(jax.jacfwd)", add_jax(task, "jax.jit(jax.jacfwd)",
                 lambda jax, jnp: jax.jacfwd(lambda q: q[0] * jnp.exp(-q[1] * tj) +
                                             q[2] * jnp.sin(q[3] * tj) - yj), (p,)),
                 check_close(want, REL), note="steady state")
    else:
        task.skip("jax.jit(jax.jacfwd)", f"jax missing ({W.peer_reason('jax')})")
    ca = W.peer("casadi")
    if ca is not None:
        def make_ca():
            q = ca.SX.sym("p", 4)
            r = q[0] * ca.exp(-q[1] * ca.DM(t)) + q[2] * ca.sin(q[3] * ca.DM(t)) - ca.DM(y)
            fn = ca.Function("J", [q], [ca.jacobian(r, q)])
            return lambda: fn(p)
        task.add("CasADi SX jacobian", make_ca, check_close(want, 1e-10),
                 note="SX Function called from Python")
    else:
        task.skip("CasADi SX jacobian", f"casadi missing ({W.peer_reason('casadi')})")
    return task


def sparse_jacobian_task(n):
    task = Task("sparse jacobian", f"Sparse Jacobian, 1-D Bratu, n = m = {n:,} (tridiagonal)")
    u = bratu_point(n)
    want = bratu_jacobian(u)
    w = np.random.default_rng(7).uniform(-1.0, 1.0, n)
    tape_of = _recorded(bratu(autodiff, n), u)

    def check_sparse(J):
        if not hasattr(J, "tocsr"):
            raise AssertionError(f"a {type(J).__name__}, not a scipy.sparse array")
        check_close(want, REL)(J)
    task.add("autodiff: tape.sparse_jacobian", _ours(tape_of, "sparse_jacobian", u),
             check_sparse, kind="ours")
    task.add("autodiff: tape.vjp", _ours(tape_of, "vjp", u, w),
             lambda r: check_close(w @ want, REL)(r[1]), kind="base",
             note="one reverse sweep")
    task.add("autodiff: tape.jacobian (dense)", _ours(tape_of, "jacobian", u),
             check_close(want, REL), kind="ours")
    ca = W.peer("casadi")
    if ca is not None:
        def make_ca():
            z = ca.SX.sym("u", n)
            F = ca.vertcat(*bratu(ca, n)([z[i] for i in range(n)]))
            fn = ca.Function("J", [z], [ca.jacobian(F, z)])
            return lambda: fn(u)
        task.add("CasADi SX jacobian", make_ca, check_close(want, 1e-10),
                 note="sparse DM, SX Function called from Python")
    else:
        task.skip("CasADi SX jacobian", f"casadi missing ({W.peer_reason('casadi')})")
    jax, jnp = _jax()
    if jax is not None:
        def build(jax, jnp):
            c = BRATU_LAMBDA / (n + 1) ** 2

            def F(z):
                zp = jnp.concatenate([jnp.zeros(1), z, jnp.zeros(1)])
                return zp[:-2] - 2.0 * z + zp[2:] + c * jnp.exp(z)
            return jax.jacfwd(F)
        task.add("jax.jit(jax.jacfwd)", add_jax(task, "jax.jit(jax.jacfwd)", build, (u,)),
                 check_close(want, REL), note="dense, steady state")
    else:
        task.skip("jax.jit(jax.jacfwd)", f"jax missing ({W.peer_reason('jax')})")
    return task


# ======================================================================================
# All of it.
# ======================================================================================

def beyond_results(cfg=None):
    """Every task of issue 12's table from one run (``cfg``: a ``config.Config``)."""
    if cfg is None or isinstance(cfg, bool):
        from config import Config
        cfg = Config.for_mode("smoke" if cfg else "full")
    tasks = []
    for n in cfg.hvp_sizes:
        tasks.append(hvp_task(n))
    tasks.append(dense_hessian_task(cfg.dense_hessian_n))
    tasks.append(sparse_hessian_task(cfg.sparse_hessian_n))
    tasks.append(jacobian_task(cfg.lsq_m, cfg.lsq_n))
    tasks.append(sparse_jacobian_task(cfg.bratu_n))
    for task in tasks:
        task.run(cfg.timer)
    r = {"tasks": tasks, "date": time.strftime("%Y-%m-%d %H:%M")}
    r["targets"] = targets(r)
    return r


def _task(r, key):
    for task in r["tasks"]:
        if task.key == key:
            return task
    return None


def targets(r):
    """(target, measured, met) rows of issue 12; a missing figure is a MISS that says why."""
    rows = []

    def add(label, value, limit, fmt="{:.3g}×", le=True):
        if value is None:
            rows.append((label, "not measured (not available, failed or wrong)", False))
        else:
            rows.append((label, fmt.format(value), value <= limit if le else value >= limit))
    for task in r["tasks"]:
        if task.key.startswith("hvp"):
            add(f"tape.hvp ≤ 2.5× tape.value_and_grad ({task.title})",
                task.ratio("autodiff: tape.hvp", "autodiff: tape.value_and_grad"), 2.5)
    t = _task(r, "sparse hessian")
    if t:
        add(f"tape.sparse_hessian ≤ 3× tape.value_and_grad ({t.title})",
            t.ratio("autodiff: tape.sparse_hessian", "autodiff: tape.value_and_grad"), 3.0)
        add("tape.sparse_hessian faster than CasADi's SX Hessian (÷ CasADi)",
            t.ratio("autodiff: tape.sparse_hessian", "CasADi SX hessian"), 1.0)
        setup = t.setup_s
        add("sparse Hessian pattern and colouring set-up ≤ 20 ms",
            None if setup is None else setup * 1e3, 20.0, "{:.1f} ms")
    t = _task(r, "hessian")
    if t:
        add(f"tape.hessian faster than jax.jit(jax.hessian) ({t.title}; ÷ JAX)",
            t.ratio("autodiff: tape.hessian", "jax.jit(jax.hessian)"), 1.0)
    t = _task(r, "jacobian")
    if t:
        add(f"tape.jacobian no slower than jax.jit(jax.jacfwd) ({t.title}; ÷ JAX)",
            t.ratio("autodiff: tape.jacobian", "jax.jit(jax.jacfwd)"), 1.0)
        per_row = t.ratio("autodiff: one tape per row", "autodiff: tape.jacobian")
        add("tape.jacobian ≥ 15× faster than one tape per row", per_row, 15.0, "{:.1f}×",
            le=False)
    t = _task(r, "sparse jacobian")
    if t:
        add(f"tape.sparse_jacobian ≤ 2.5× one tape.vjp ({t.title})",
            t.ratio("autodiff: tape.sparse_jacobian", "autodiff: tape.vjp"), 2.5)
        add("tape.sparse_jacobian faster than CasADi's SX Jacobian (÷ CasADi)",
            t.ratio("autodiff: tape.sparse_jacobian", "CasADi SX jacobian"), 1.0)
    return rows


def beyond_markdown(r):
    out = ["## Beyond the gradient (issue 12)", "",
           "Float64, one thread each (torch and XLA limited to 1), steady-state calls "
           "(recording and compiling untimed; JAX compile times in the notes).  Each table is "
           "one interleaved run; \"÷ ours\" divides by the first autodiff row of the table, "
           "\"÷ base\" by our reference point (`tape.value_and_grad`, `tape.vjp` or one tape "
           "per row).  Rosenbrock is `scipy.optimize.rosen` (chained), checked against "
           "SciPy's analytic derivatives; the residual and Bratu Jacobians against hand-"
           "written ones (relative 1e-12 of the largest entry; 1e-10 for eager peers and "
           "CasADi).", ""]
    for task in r["tasks"]:
        ours = next((row for row in task.rows if row.kind == "ours" and row.stat), None)
        base = next((row for row in task.rows if row.kind == "base" and row.stat), None)
        rows = []
        for row in task.rows:
            note = row.note
            if row.name in task.compile_s:
                note = (note + "; " if note else "") + \
                    f"compile {task.compile_s[row.name] * 1e3:,.0f} ms"
            rows.append([row.name if row.kind not in ("ours",) else f"**{row.name}**",
                         fmt_time(row.seconds, "us") if row.stat else row.status,
                         fmt_time(row.stat.median, "us") if row.stat else "–",
                         fmt_ratio(row.seconds / ours.seconds) if row.stat and ours else "–",
                         fmt_ratio(row.seconds / base.seconds) if row.stat and base else "–",
                         note])
        extra = ""
        if task.setup_s is not None:
            extra = f"\nFirst call's pattern and colouring set-up: {task.setup_s * 1e3:.1f} ms.\n"
        out.append(f"### {task.title}\n\n" +
                   table(["implementation", "µs/call (best)", "median", "÷ ours", "÷ base",
                          "note"], rows, ["---", "---:", "---:", "---:", "---:", "---"]) +
                   extra)
    out += ["### Targets", "", table(["target", "measured", "met"],
                                     [[a, b, "yes" if ok else "**no**"]
                                      for a, b, ok in r["targets"]], ["---", "---", "---"])]
    return "\n".join(out) + "\n"


def beyond_chart(r, path):
    names, values = [], []
    for task in r["tasks"]:
        for row in task.rows:
            if row.stat:
                names.append(f"{task.key}: {row.name}")
                values.append(row.seconds * 1e6)
    if not names:
        return False
    # bar_chart colours our rows by name prefix: keep "autodiff" first in our labels
    names = [n.split(": ", 1)[1] + f"  [{n.split(': ', 1)[0]}]" if ": autodiff" in n else n
             for n in names]
    return bar_chart(path, "Beyond the gradient: µs per call", names, values,
                     "µs per call (log)")


if __name__ == "__main__":
    from config import parse_args
    _cfg, _ = parse_args()
    W.select_peers(_cfg.peers)
    print(beyond_markdown(beyond_results(_cfg)))
