"""The benchmark workloads of issue 4, written once per implementation.

Every workload is a function ``<workload>_impls(size)`` returning a list of ``Impl``: one per
implementation that can run it (the compiled engine, the reference engine, the tutorial's
route-enumerating walk, plain Python floats, and the peers that are importable).  An ``Impl``
has

* ``build()``    -> state: builds the graph (or, for floats, evaluates the function);
* ``backward(state)`` -> the gradients (None for floats; absent when ``fused``);
* ``fused``: build() already returns the value and gradients (``jax.jit``);
* ``compile()``: for jitted peers, one fresh trace + compile, timed apart.

The gradients an ``Impl`` returns are plain floats (or lists of floats), so the tests and the
report can check each implementation against the reference engine before timing it.

Workloads:
1. ``chain``: a chain of ``n`` ops, blocks of ``log(exp(sin(x))) * k + c`` (5 ops each), whose
   values and adjoints stay in the normal float range (see ``CHAIN_POINTS``);
2. ``tutorial_f``: the tutorial's ``f(a, b) = (a/b - a) * (b/a + a + b) * (a - b)`` at
   (230.3, 33.2), build + both partials;
3. ``mlp``: a scalar MLP 2-16-16-1 with tanh on 50 points, one training step;
4. ``dag``: ``x = (x + x) * 0.5`` repeated ``depth`` times (2^depth routes, linear nodes);
5. ``linear``: the tutorial's single linear layer (50 -> 10) on object arrays, one step.
Memory per node (workload 6) reuses the chain; see ``report.py``.
"""
import collections
import itertools
import math
import os
import random
import sys

import numpy as np

import autodiff
import autodiff.reference

# ======================================================================================
# Peers: imported lazily; a missing one is reported with a reason, never an error.
# ======================================================================================

PEER_NAMES = ("micrograd", "torch", "autograd", "jax", "casadi")
_peers = {}
_selected = None          # None: every peer; else the names a run asked for (--peers)


def select_peers(names):
    """Run only these peers (``None``: all); the others report 'not selected'."""
    global _selected
    _selected = None if names is None else frozenset(names)


def peer(name):
    """The peer module (micrograd, torch, autograd, jax, casadi) or None if it cannot be
    imported or was not selected."""
    if _selected is not None and name not in _selected:
        return None
    if name not in _peers:
        try:
            if name == "micrograd":
                import micrograd.engine as module
            elif name == "torch":
                import torch as module
                module.set_num_threads(1)
            elif name == "autograd":
                import autograd as module
                import autograd.numpy  # noqa: F401
            elif name == "jax":
                # one thread, like torch: XLA reads this when it starts
                os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                      "intra_op_parallelism_threads=1")
                import jax as module
                module.config.update("jax_enable_x64", True)
                import jax.numpy  # noqa: F401
            elif name == "casadi":
                import casadi as module
            else:
                raise ValueError(name)
            _peers[name] = (module, None)
        except Exception as error:  # ImportError, or a broken install
            _peers[name] = (None, f"{type(error).__name__}: {error}")
    return _peers[name][0]


def peer_reason(name):
    """Why a peer is missing (None when it is importable)."""
    if _selected is not None and name not in _selected:
        return "not selected (--peers)"
    peer(name)
    return _peers[name][1]


def peer_versions():
    """{name: version or 'missing (reason)'} for every peer."""
    out = {}
    for name in PEER_NAMES:
        module = peer(name)
        if module is None:
            out[name] = f"missing ({peer_reason(name)})"
            continue
        try:
            from importlib.metadata import version
            out[name] = version(name)
        except Exception:
            out[name] = getattr(module, "__version__", "?")
    return out


class Impl:
    """One implementation of one workload (see the module docstring)."""

    def __init__(self, name, build, backward=None, *, kind="peer", fused=False,
                 compile=None, note="", size=None, ops=None):
        self.name = name
        self.build = build
        self.backward = backward
        self.kind = kind          # floor | ours | tutorial | peer | context
        self.fused = fused
        self.compile = compile
        self.note = note
        self.size = size          # the size it runs at, when not the workload's
        self.ops = ops            # ops per build, for per-op figures

    def run(self):
        """Build then backward once; the gradients (or the float value for the floor)."""
        state = self.build()
        if self.backward is None:
            return state
        return self.backward(state)

    def __repr__(self):
        return f"Impl({self.name!r})"


# The engines we own, each timed with both gradient APIs.
ENGINES = (("compiled", autodiff), ("reference", autodiff.reference))


def _engine_grads(ad, how):
    """A backward for (root, leaves) states with ``gradients`` or ``get_gradients``."""
    if how == "gradients":
        return lambda state: ad.gradients(state[0], state[1])
    return lambda state: [d.get(leaf, 0.0) for d in [ad.get_gradients(state[0])]
                          for leaf in state[1]]


# ======================================================================================
# The tutorial's engine, re-implemented: nodes with .value and .grad (list of
# (child, local derivative) pairs) and the stack walk that sums the value of every route
# from the root.  Number operands are constants (no edge), as in our engines.
# ======================================================================================


class TOps:
    """Operators for the tutorial's nodes."""

    def __add__(self, other):
        return TAdd(self, other)

    def __radd__(self, other):  # other + self
        return TAdd(other, self)

    def __mul__(self, other):
        return TMul(self, other)

    def __rmul__(self, other):  # other * self
        return TMul(other, self)

    def __sub__(self, other):
        return TAdd(self, TNeg(other) if isinstance(other, TOps) else -other)

    def __rsub__(self, other):  # other - self
        return TAdd(other, TNeg(self))

    def __truediv__(self, other):
        return TMul(self, TInv(other) if isinstance(other, TOps) else 1.0 / other)

    def __rtruediv__(self, other):  # other / self
        return TMul(other, TInv(self))


def _tval(x):
    return x.value if isinstance(x, TOps) else x


class TVar(TOps):
    def __init__(self, value):
        self.value = value


class TAdd(TOps):
    def __init__(self, a, b):
        self.value = _tval(a) + _tval(b)
        self.grad = [(n, 1) for n in (a, b) if isinstance(n, TOps)]


class TMul(TOps):
    def __init__(self, a, b):
        self.value = _tval(a) * _tval(b)
        self.grad = [(n, _tval(other)) for n, other in ((a, b), (b, a)) if isinstance(n, TOps)]


class TNeg(TOps):
    def __init__(self, var):
        self.value = -1 * var.value
        self.grad = [(var, -1)]


class TInv(TOps):
    def __init__(self, var):
        self.value = 1 / var.value
        self.grad = [(var, -var.value ** -2)]


class TSin(TOps):
    def __init__(self, var):
        self.value = math.sin(var.value)
        self.grad = [(var, math.cos(var.value))]


class TExp(TOps):
    def __init__(self, var):
        self.value = math.exp(var.value)
        self.grad = [(var, self.value)]


class TLog(TOps):
    def __init__(self, var):
        self.value = math.log(var.value)
        self.grad = [(var, 1.0 / var.value)]


class TTanh(TOps):
    def __init__(self, var):
        self.value = math.tanh(var.value)
        self.grad = [(var, 1.0 - self.value * self.value)]


def tutorial_get_gradients(parent_node):
    """The tutorial's walk: push (child, route value) for every route, sum at each node."""
    gradients = collections.defaultdict(lambda: 0)
    stack = parent_node.grad.copy()
    while stack:
        node, route_value = stack.pop()
        gradients[node] += route_value
        if not isinstance(node, TVar):
            for child_node, child_route_value in node.grad:
                stack.append((child_node, child_route_value * route_value))
    return dict(gradients)


def _tutorial_grads(state):
    root, leaves = state
    d = tutorial_get_gradients(root)
    return [float(d.get(leaf, 0.0)) for leaf in leaves]


# ======================================================================================
# micrograd extended, in its own style, with the functions it lacks (sin, exp, log, tanh).
# ======================================================================================


def _mg_unary(x, value, local):
    Value = peer("micrograd").Value
    out = Value(value, (x,), "f")

    def _backward():
        x.grad += local * out.grad
    out._backward = _backward
    return out


def mg_sin(x):
    return _mg_unary(x, math.sin(x.data), math.cos(x.data))


def mg_exp(x):
    e = math.exp(x.data)
    return _mg_unary(x, e, e)


def mg_log(x):
    return _mg_unary(x, math.log(x.data), 1.0 / x.data)


def mg_tanh(x):
    t = math.tanh(x.data)
    return _mg_unary(x, t, 1.0 - t * t)


def _mg_backward(state):
    root, leaves = state
    for leaf in leaves:
        leaf.grad = 0
    old = sys.getrecursionlimit()      # micrograd's topological sort is recursive
    sys.setrecursionlimit(max(old, 10 * 10**6))
    try:
        root.backward()
    finally:
        sys.setrecursionlimit(old)
    return [float(leaf.grad) for leaf in leaves]


def _torch_leaf(value):
    torch = peer("torch")
    return torch.tensor(float(value), dtype=torch.float64, requires_grad=True)


def _torch_backward(state):
    root, leaves = state
    return [float(g) for g in peer("torch").autograd.grad(root, leaves)]


# ======================================================================================
# 1. The chain.  Blocks of 5 ops, y = log(exp(sin(x))) * k + c, cycling through the points
#    CHAIN_POINTS: block i takes P[i] to P[i+1] with local derivative k cos(P[i]) = R[i],
#    and the R multiply to 1 over a cycle, so values stay in [-0.3, 1.1] and every adjoint
#    stays between ~0.5 and ~2 (normal floats, no denormal arithmetic) at any length.
# ======================================================================================

CHAIN_POINTS = (0.5, 1.1, -0.3, 0.9)
CHAIN_RATIOS = (0.8, 1.25, 0.9, 1 / 0.9)
CHAIN_X0 = CHAIN_POINTS[0]
OPS_PER_BLOCK = 5


def _chain_constants():
    out = []
    for i, (p, r) in enumerate(zip(CHAIN_POINTS, CHAIN_RATIOS)):
        k = r / math.cos(p)
        c = CHAIN_POINTS[(i + 1) % len(CHAIN_POINTS)] - k * math.sin(p)
        out.append((k, c))
    return tuple(out)


CHAIN_CONSTANTS = _chain_constants()


def chain_blocks(n_ops):
    return max(1, n_ops // OPS_PER_BLOCK)


def chain(x, n_ops, sin, exp, log):
    """The chain on any number-like x with the given sin, exp, log."""
    for k, c in itertools.islice(itertools.cycle(CHAIN_CONSTANTS), chain_blocks(n_ops)):
        x = log(exp(sin(x))) * k + c
    return x


def chain_float(n_ops):
    return chain(CHAIN_X0, n_ops, math.sin, math.exp, math.log)


def chain_impls(n_ops, jax_ops=None):
    """Workload 1. Gradients are [d y / d x]."""
    n = chain_blocks(n_ops) * OPS_PER_BLOCK
    impls = [Impl("floats", lambda: chain_float(n), kind="floor", ops=n)]
    for label, ad in ENGINES:
        def build(ad=ad):
            x = ad.Var(CHAIN_X0)
            return chain(x, n, ad.sin, ad.exp, ad.log), [x]
        for how in ("gradients", "get_gradients"):
            impls.append(Impl(f"{label}: {how}", build, _engine_grads(ad, how), kind="ours",
                              ops=n))

    def t_build():
        x = TVar(CHAIN_X0)
        return chain(x, n, TSin, TExp, TLog), [x]
    impls.append(Impl("tutorial walk", t_build, _tutorial_grads, kind="tutorial", ops=n))

    if peer("micrograd"):
        def mg_build():
            x = peer("micrograd").Value(CHAIN_X0)
            return chain(x, n, mg_sin, mg_exp, mg_log), [x]
        impls.append(Impl("micrograd", mg_build, _mg_backward, ops=n,
                          note="sin/exp/log added in micrograd's style"))
    if peer("torch"):
        torch = peer("torch")

        def torch_build():
            x = _torch_leaf(CHAIN_X0)
            return chain(x, n, torch.sin, torch.exp, torch.log), [x]
        impls.append(Impl("torch 0-dim", torch_build, _torch_backward, ops=n))
    if peer("autograd"):
        ag = peer("autograd")
        anp = ag.numpy

        def ag_build():
            vjp, y = ag.make_vjp(lambda x: chain(x, n, anp.sin, anp.exp, anp.log))(CHAIN_X0)
            return vjp
        impls.append(Impl("autograd", ag_build, lambda vjp: [float(vjp(1.0))], ops=n))
    if peer("jax"):
        impls.extend(_chain_jax(jax_ops or n))
    return impls


def _chain_jax(n):
    jax = peer("jax")
    jnp = jax.numpy
    f = lambda x: chain(x, n, jnp.sin, jnp.exp, jnp.log)  # noqa: E731
    x0 = jnp.float64(CHAIN_X0)

    def eager_build():
        y, vjp = jax.vjp(f, x0)
        return vjp
    eager = Impl("jax (no jit)", eager_build, lambda vjp: [float(vjp(jnp.float64(1.0))[0])],
                 size=n, ops=n)
    jitted = {}

    def compile_():
        fn = jax.jit(jax.value_and_grad(f)).lower(x0).compile()
        jitted["fn"] = fn
        return fn

    def jit_run():
        if "fn" not in jitted:
            compile_()
        v, g = jitted["fn"](x0)
        return [float(g)]
    jit = Impl("jax.jit", jit_run, kind="peer", fused=True, compile=compile_, size=n, ops=n,
               note="value and grad fused; compile time apart")
    return [eager, jit]


# ======================================================================================
# 2. The tutorial's f(a, b).
# ======================================================================================

F_A, F_B = 230.3, 33.2
# The tutorial's printed partials (an independent oracle for this point).
F_DA, F_DB = -153284.83150602411, 3815.0389441500993


def tutorial_f(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)


def f_impls():
    """Workload 2: build + both partials per call. Gradients are [df/da, df/db]."""
    impls = [Impl("floats", lambda: tutorial_f(F_A, F_B), kind="floor", ops=1)]
    for label, ad in ENGINES:
        Var = ad.Var

        def build(Var=Var):
            a, b = Var(F_A), Var(F_B)
            return tutorial_f(a, b), [a, b]
        for how in ("gradients", "get_gradients"):
            impls.append(Impl(f"{label}: {how}", build, _engine_grads(ad, how), kind="ours"))

    def t_build():
        a, b = TVar(F_A), TVar(F_B)
        return tutorial_f(a, b), [a, b]
    impls.append(Impl("tutorial walk", t_build, _tutorial_grads, kind="tutorial"))
    if peer("micrograd"):
        Value = peer("micrograd").Value

        def mg_build():
            a, b = Value(F_A), Value(F_B)
            return tutorial_f(a, b), [a, b]
        impls.append(Impl("micrograd", mg_build, _mg_backward))
    if peer("torch"):
        def torch_build():
            a, b = _torch_leaf(F_A), _torch_leaf(F_B)
            return tutorial_f(a, b), [a, b]
        impls.append(Impl("torch 0-dim", torch_build, _torch_backward))
    if peer("autograd"):
        ag = peer("autograd")

        def ag_build():
            vjp, y = ag.make_vjp(lambda ab: tutorial_f(ab[0], ab[1]))((F_A, F_B))
            return vjp
        impls.append(Impl("autograd", ag_build, lambda vjp: [float(g) for g in vjp(1.0)]))
    if peer("jax"):
        jax = peer("jax")
        jnp = jax.numpy
        a0, b0 = jnp.float64(F_A), jnp.float64(F_B)
        g = jax.grad(tutorial_f, argnums=(0, 1))

        def eager_build():
            y, vjp = jax.vjp(tutorial_f, a0, b0)
            return vjp
        impls.append(Impl("jax (no jit)", eager_build,
                          lambda vjp: [float(v) for v in vjp(jnp.float64(1.0))]))
        jitted = {}

        def compile_():
            jitted["fn"] = jax.jit(g).lower(a0, b0).compile()
            return jitted["fn"]

        def jit_run():
            if "fn" not in jitted:
                compile_()
            return [float(v) for v in jitted["fn"](a0, b0)]
        impls.append(Impl("jax.jit", jit_run, fused=True, compile=compile_,
                          note="grads only; compile time apart"))
    return impls


# ======================================================================================
# 3. A scalar MLP 2-16-16-1, tanh, 50 points, mean squared error, one SGD step.
# ======================================================================================

MLP_SIZES = (2, 16, 16, 1)
MLP_POINTS = 50
MLP_RATE = 0.05


def mlp_data(points=MLP_POINTS, seed=0):
    """``points`` points in the plane with a smooth target, and the initial weights."""
    rng = random.Random(seed)
    X = [(rng.uniform(-2, 2), rng.uniform(-2, 2)) for _ in range(points)]
    Y = [math.sin(x0) * math.cos(x1) for x0, x1 in X]
    layers = []
    for nin, nout in zip(MLP_SIZES, MLP_SIZES[1:]):
        scale = 1.0 / math.sqrt(nin)
        W = [[rng.uniform(-scale, scale) for _ in range(nin)] for _ in range(nout)]
        b = [rng.uniform(-0.1, 0.1) for _ in range(nout)]
        layers.append((W, b))
    return X, Y, layers


def mlp_flat(layers):
    """The parameters in a fixed order (layer by layer, weights row-major, then biases)."""
    out = []
    for W, b in layers:
        for row in W:
            out.extend(row)
        out.extend(b)
    return out


def mlp_map(layers, fn):
    return [([[fn(w) for w in row] for row in W], [fn(v) for v in b]) for W, b in layers]


def mlp_loss(layers, X, Y, tanh):
    """Mean squared error of the network on (X, Y); works on any number-like parameters."""
    total = 0.0
    last = len(layers) - 1
    for x, y in zip(X, Y):
        h = x
        for i, (W, b) in enumerate(layers):
            out = []
            for row, bias in zip(W, b):
                acc = bias
                for w, v in zip(row, h):
                    acc = acc + w * v
                out.append(acc if i == last else tanh(acc))
            h = out
        e = h[0] - y
        total = total + e * e
    return total * (1.0 / len(X))


def mlp_impls(points=MLP_POINTS):
    """Workload 3: one training step.  Gradients are the parameters' gradients (flat list)."""
    X, Y, layers = mlp_data(points)
    n_params = len(mlp_flat(layers))
    impls = [Impl("floats", lambda: mlp_loss(layers, X, Y, math.tanh), kind="floor",
                  note="forward + loss only")]

    def sgd(params, grads, get, set_):
        for p, g in zip(params, grads):
            set_(p, get(p) - MLP_RATE * g)

    for label, ad in ENGINES:
        net = mlp_map(layers, ad.Var)
        params = mlp_flat(net)
        start = [p.value for p in params]

        def build(ad=ad, net=net, params=params, start=start):
            for p, v in zip(params, start):      # every step starts from the same weights
                p.value = v
            return mlp_loss(net, X, Y, ad.tanh), params

        for how in ("gradients", "get_gradients"):
            grads_of = _engine_grads(ad, how)

            def step(state, grads_of=grads_of):
                grads = grads_of(state)
                for p, g in zip(state[1], grads):
                    p.value -= MLP_RATE * g
                return grads
            impls.append(Impl(f"{label}: {how}", build, step, kind="ours"))

    t_net = mlp_map(layers, TVar)
    t_params = mlp_flat(t_net)
    t_start = [p.value for p in t_params]

    def t_build():
        for p, v in zip(t_params, t_start):
            p.value = v
        return mlp_loss(t_net, X, Y, TTanh), t_params

    def t_step(state):
        grads = _tutorial_grads(state)
        for p, g in zip(state[1], grads):
            p.value -= MLP_RATE * g
        return grads
    impls.append(Impl("tutorial walk", t_build, t_step, kind="tutorial"))

    if peer("micrograd"):
        Value = peer("micrograd").Value
        mg_net = mlp_map(layers, Value)
        mg_params = mlp_flat(mg_net)
        mg_start = [p.data for p in mg_params]

        def mg_build():
            for p, v in zip(mg_params, mg_start):
                p.data = v
            return mlp_loss(mg_net, X, Y, mg_tanh), mg_params

        def mg_step(state):
            grads = _mg_backward(state)
            for p in state[1]:
                p.data -= MLP_RATE * p.grad
            return grads
        impls.append(Impl("micrograd", mg_build, mg_step, note="tanh added in its style"))
    if peer("torch"):
        torch = peer("torch")
        th_net = mlp_map(layers, _torch_leaf)
        th_params = mlp_flat(th_net)
        th_start = [p.item() for p in (q.detach() for q in th_params)]

        def th_build():
            for p, v in zip(th_params, th_start):
                p.data.fill_(v)
            return mlp_loss(th_net, X, Y, torch.tanh), th_params

        def th_step(state):
            grads = torch.autograd.grad(state[0], state[1])
            for p, g in zip(state[1], grads):    # .data: other built graphs stay valid
                p.data.sub_(MLP_RATE * g)
            return [float(g) for g in grads]
        impls.append(Impl("torch 0-dim", th_build, th_step))
    if peer("autograd"):
        ag = peer("autograd")
        flat0 = mlp_flat(layers)
        shape = layers

        def unflat(flat):
            it = iter(flat)
            return [([[next(it) for _ in row] for row in W], [next(it) for _ in b])
                    for W, b in shape]
        ag_state = {"p": list(flat0)}

        def ag_build():
            ag_state["p"] = list(flat0)
            vjp, y = ag.make_vjp(lambda p: mlp_loss(unflat(p), X, Y, ag.numpy.tanh))(
                ag_state["p"])
            return vjp

        def ag_step(vjp):
            grads = [float(g) for g in vjp(1.0)]
            ag_state["p"] = [p - MLP_RATE * g for p, g in zip(ag_state["p"], grads)]
            return grads
        impls.append(Impl("autograd", ag_build, ag_step))
    if peer("jax"):
        impls.append(_mlp_jax_vectorised(layers, X, Y, n_params))
    return impls


def _mlp_jax_vectorised(layers, X, Y, n_params):
    """Context only: the same network as JAX arrays under jit (a different program)."""
    jax = peer("jax")
    jnp = jax.numpy
    Xa, Ya = jnp.array(X), jnp.array(Y)
    params0 = [(jnp.array(W), jnp.array(b)) for W, b in layers]

    def loss(params):
        h = Xa
        for i, (W, b) in enumerate(params):
            h = h @ W.T + b
            if i < len(params) - 1:
                h = jnp.tanh(h)
        return jnp.mean((h[:, 0] - Ya) ** 2)

    def step(params):
        g = jax.grad(loss)(params)
        return [(W - MLP_RATE * gW, b - MLP_RATE * gb) for (W, b), (gW, gb) in zip(params, g)], g
    jitted = {}

    def compile_():
        jitted["fn"] = jax.jit(step).lower(params0).compile()
        return jitted["fn"]

    def run():
        if "fn" not in jitted:
            compile_()
        new, g = jitted["fn"](params0)
        flat = []
        for gW, gb in g:
            flat.extend(float(v) for v in np.asarray(gW).ravel())
            flat.extend(float(v) for v in np.asarray(gb).ravel())
        return flat
    return Impl("jax.jit vectorised", run, kind="context", fused=True, compile=compile_,
                note="arrays, not scalars: a different program, for context")


# ======================================================================================
# 4. The shared-subexpression DAG x = (x + x) * 0.5: 2 ops per level, 2^depth routes.
# ======================================================================================


def dag(x, depth):
    for _ in range(depth):
        x = (x + x) * 0.5
    return x


DAG_X0 = 0.75


def dag_impls(depth, tutorial_max_depth=16):
    """Workload 4 at one depth.  Gradients are [d y / d x] (exactly 1)."""
    impls = [Impl("floats", lambda: dag(DAG_X0, depth), kind="floor", ops=2 * depth)]
    for label, ad in ENGINES:
        def build(ad=ad):
            x = ad.Var(DAG_X0)
            return dag(x, depth), [x]
        for how in ("gradients", "get_gradients"):
            impls.append(Impl(f"{label}: {how}", build, _engine_grads(ad, how), kind="ours",
                              ops=2 * depth))
    if depth <= tutorial_max_depth:
        def t_build():
            x = TVar(DAG_X0)
            return dag(x, depth), [x]
        impls.append(Impl("tutorial walk", t_build, _tutorial_grads, kind="tutorial",
                          ops=2 * depth))
    if peer("micrograd"):
        def mg_build():
            x = peer("micrograd").Value(DAG_X0)
            return dag(x, depth), [x]
        impls.append(Impl("micrograd", mg_build, _mg_backward, ops=2 * depth))
    if peer("torch"):
        def th_build():
            x = _torch_leaf(DAG_X0)
            return dag(x, depth), [x]
        impls.append(Impl("torch 0-dim", th_build, _torch_backward, ops=2 * depth))
    if peer("autograd"):
        ag = peer("autograd")

        def ag_build():
            vjp, y = ag.make_vjp(lambda x: dag(x, depth))(DAG_X0)
            return vjp
        impls.append(Impl("autograd", ag_build, lambda vjp: [float(vjp(1.0))], ops=2 * depth))
    if peer("jax"):
        jax = peer("jax")
        jnp = jax.numpy
        x0 = jnp.float64(DAG_X0)
        f = lambda x: dag(x, depth)  # noqa: E731

        def eager_build():
            y, vjp = jax.vjp(f, x0)
            return vjp
        impls.append(Impl("jax (no jit)", eager_build,
                          lambda vjp: [float(vjp(jnp.float64(1.0))[0])], ops=2 * depth))
        jitted = {}

        def compile_():
            jitted["fn"] = jax.jit(jax.grad(f)).lower(x0).compile()
            return jitted["fn"]

        def jit_run():
            if "fn" not in jitted:
                compile_()
            return [float(jitted["fn"](x0))]
        impls.append(Impl("jax.jit", jit_run, fused=True, compile=compile_, ops=2 * depth))
    return impls


# ======================================================================================
# 5. The tutorial's single linear layer on object arrays: input 50, output 10, one step.
# ======================================================================================

LIN_IN, LIN_OUT, LIN_RATE = 50, 10, 0.001


def linear_data():
    rs = np.random.RandomState(0)
    x = rs.random_sample(LIN_IN)
    y_true = rs.random_sample(LIN_OUT)
    weights = rs.random_sample((LIN_IN, LIN_OUT))
    return x, y_true, weights


def linear_loss(x, weights, y_true):
    """The tutorial's loss: np.sum((y_true - y_pred) * (y_true - y_pred))."""
    y_pred = np.dot(x, weights)
    return np.sum((y_true - y_pred) * (y_true - y_pred))


def _objects(array, fn):
    out = np.empty(array.shape, dtype=object)
    for i, v in enumerate(array.flat):
        out.flat[i] = fn(float(v))
    return out


def linear_impls():
    """Workload 5: one training step.  Gradients are d loss / d weights, row-major."""
    x, y_true, w0 = linear_data()
    impls = []
    xo, yo, wo = _objects(x, float), _objects(y_true, float), _objects(w0, float)
    impls.append(Impl("floats", lambda: linear_loss(xo, wo, yo), kind="floor",
                      note="object arrays of floats, forward + loss"))

    def vectorised():
        y_pred = x @ w0
        r = y_true - y_pred
        grad = -2.0 * np.outer(x, r)
        return list((w0 - LIN_RATE * grad, grad)[1].ravel())
    impls.append(Impl("numpy float64 (hand-written gradient)", vectorised, kind="context",
                      fused=True, note="vectorised, for context"))

    for label, ad in ENGINES:
        xv, yv, wv = ad.to_var(x), ad.to_var(y_true), ad.to_var(w0)

        def build(ad=ad, xv=xv, yv=yv, wv=wv):
            for w, v in zip(wv.flat, w0.flat):
                w.value = float(v)
            return linear_loss(xv, wv, yv), wv

        def step_dict(state, ad=ad):       # the tutorial's loop, verbatim in spirit
            loss, weights = state
            gradients = ad.get_gradients(loss)
            out = []
            for i in range(weights.shape[0]):
                for j in range(weights.shape[1]):
                    g = gradients[weights[i, j]]
                    weights[i, j].value -= LIN_RATE * g
                    out.append(g)
            return out

        def step_array(state, ad=ad):
            loss, weights = state
            grads = ad.gradients(loss, weights)
            for w, g in zip(weights.flat, grads.flat):
                w.value -= LIN_RATE * g
            return list(grads.ravel())
        impls.append(Impl(f"{label}: gradients", build, step_array, kind="ours"))
        impls.append(Impl(f"{label}: get_gradients", build, step_dict, kind="ours"))

    to_tvar = np.vectorize(lambda v: TVar(v), otypes=[object])
    txv, tyv, twv = to_tvar(x), to_tvar(y_true), to_tvar(w0)

    def t_build():
        for w, v in zip(twv.flat, w0.flat):
            w.value = float(v)
        return linear_loss(txv, twv, tyv), twv

    def t_step(state):
        loss, weights = state
        gradients = tutorial_get_gradients(loss)
        out = []
        for i in range(weights.shape[0]):
            for j in range(weights.shape[1]):
                g = gradients[weights[i, j]]
                weights[i, j].value -= LIN_RATE * g
                out.append(float(g))
        return out
    impls.append(Impl("tutorial walk", t_build, t_step, kind="tutorial"))

    if peer("micrograd"):
        Value = peer("micrograd").Value
        mx, my, mw = _objects(x, Value), _objects(y_true, Value), _objects(w0, Value)

        def mg_build():
            for w, v in zip(mw.flat, w0.flat):
                w.data = float(v)
            return linear_loss(mx, mw, my), list(mw.flat)

        def mg_step(state):
            grads = _mg_backward(state)
            for w in state[1]:
                w.data -= LIN_RATE * w.grad
            return grads
        impls.append(Impl("micrograd", mg_build, mg_step, note="object arrays of Value"))
    if peer("torch"):
        torch = peer("torch")
        tx, ty = _objects(x, _torch_leaf), _objects(y_true, _torch_leaf)
        tw = _objects(w0, _torch_leaf)

        def th_build():
            for w, v in zip(tw.flat, w0.flat):
                w.data.fill_(float(v))
            return linear_loss(tx, tw, ty), list(tw.flat)

        def th_step(state):
            grads = torch.autograd.grad(state[0], state[1])
            for w, g in zip(state[1], grads):    # .data: other built graphs stay valid
                w.data.sub_(LIN_RATE * g)
            return [float(g) for g in grads]
        impls.append(Impl("torch 0-dim", th_build, th_step, note="object arrays of 0-dim tensors"))
    return impls


# ======================================================================================
# Correctness: every implementation against the reference engine.
# ======================================================================================


def close(a, b, rel=1e-9, abs_=1e-12):
    """Lists (or floats) equal within a relative tolerance."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)
    a, b = list(a), list(b)
    return len(a) == len(b) and all(close(u, v, rel, abs_) for u, v in zip(a, b))


def by_name(impls, name):
    for impl in impls:
        if impl.name == name:
            return impl
    raise KeyError(name)


# --------------------------------------------------------------------------------------
# Workload 8: arithmetic of micrograd's shape (issue 10).  A layer of neurons, each a
# weighted sum of its inputs plus a bias, then relu: the multiply-add graphs that
# micrograd's MLP builds, on plain floats (the floor), our engines and micrograd.  The
# build is timed with the freeing of each graph included (small graphs, built in a loop).
# Also x ** 2 against x * x, built and replayed (the power-by-constant rule).
# --------------------------------------------------------------------------------------

NEURON_IN, NEURON_OUT = 16, 16
NEURON_OPS = NEURON_OUT * (2 * NEURON_IN + 2)      # per layer: muls, adds, bias, relu


def _neuron_data():
    rng = np.random.default_rng(3)
    w = rng.uniform(-1, 1, (NEURON_OUT, NEURON_IN)).tolist()
    b = rng.uniform(-1, 1, NEURON_OUT).tolist()
    x = rng.uniform(-1, 1, NEURON_IN).tolist()
    return w, b, x


def neuron_layer(w, b, x, relu):
    """out_j = relu(b_j + sum_i w_ji x_i), written as micrograd's Neuron writes it."""
    out = []
    for wj, bj in zip(w, b):
        act = bj
        for wi, xi in zip(wj, x):
            act = act + wi * xi
        out.append(relu(act))
    return out


def neuron_impls():
    """Workload 8.  Gradients are d sum(out) / d x."""
    w, b, x = _neuron_data()

    def relu_float(v):
        return v if v > 0.0 else 0.0
    impls = [Impl("floats", lambda: sum(neuron_layer(w, b, x, relu_float)), kind="floor",
                  ops=NEURON_OPS)]
    for label, ad in ENGINES:
        def build(ad=ad):
            xs = [ad.Var(v) for v in x]
            ws = [[ad.Var(v) for v in row] for row in w]
            out = neuron_layer(ws, b, xs, ad.relu)
            root = out[0]
            for o in out[1:]:
                root = root + o
            return root, xs
        impls.append(Impl(f"{label}: gradients", build, _engine_grads(ad, "gradients"),
                          kind="ours", ops=NEURON_OPS))
    if peer("micrograd"):
        Value = peer("micrograd").Value

        def mg_build():
            xs = [Value(v) for v in x]
            ws = [[Value(v) for v in row] for row in w]
            out = neuron_layer(ws, b, xs, lambda v: v.relu())
            root = out[0]
            for o in out[1:]:
                root = root + o
            return root, xs
        impls.append(Impl("micrograd", mg_build, _mg_backward, ops=NEURON_OPS))
    return impls


SQUARE_N = 10_000


def square_impls():
    """x ** 2 against x * x: a chain of squarings (times 0.5 to stay finite), built and freed."""
    def chain_sq(x, square):
        for _ in range(SQUARE_N):
            x = square(x) * 0.5
        return x
    impls = [Impl("floats: x * x", lambda: chain_sq(0.3, lambda v: v * v), kind="floor",
                  ops=2 * SQUARE_N)]
    for label, square in (("x * x", lambda v: v * v), ("x ** 2", lambda v: v ** 2)):
        impls.append(Impl(f"compiled: {label}",
                          lambda square=square: chain_sq(autodiff.Var(0.3), square),
                          kind="ours", ops=2 * SQUARE_N))
    return impls


def square_replay_impls():
    """The tapes of the two squaring chains, replayed (value and gradient)."""
    impls = []
    for label, square in (("x * x", lambda v: v * v), ("x ** 2", lambda v: v ** 2)):
        def f(x, square=square):
            for _ in range(SQUARE_N):
                x = square(x) * 0.5
            return x
        tape = autodiff.record(f, 0.3)
        impls.append(Impl(f"replay: {label}", lambda tape=tape: tape.value_and_grad(0.3),
                          kind="ours", ops=2 * SQUARE_N))
    return impls
