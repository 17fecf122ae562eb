"""``record`` for the reference engine: the specification of ``autodiff/_replay.pyx``.

A tape is the graph of one call of ``f`` flattened into slots and instructions:

- slots hold values: the inputs (the elements of every argument, in order), then the
  constants (leaves that are not inputs, and the number operand of ``x + 3``-like nodes),
  then the result of each instruction;
- an instruction is ``(op, a, b)``: a row of the engine's UNARY or BINARY table and the
  slots of its operands (``b == a`` for a unary op), in the graph's topological order.

The forward sweep evaluates the rows' rules; the backward sweep accumulates adjoints in
the order ``get_gradients`` does (nodes in reverse, edges in order), so that a replay is
bit-identical to building the graph again.

As in the compiled engine, a node is replayed only if its class is exactly a built-in one,
its edge count is the one its class makes, and its value and local derivatives are bit for
bit what its rule gives from its operands at the example; anything else is refused with a
TypeError naming the node's class.  A call keeps its values and adjoints in lists of its
own, so a tape may be called from several threads at once and re-entrantly.

Multi-output tapes, jvp, vjp, Jacobians, Hessian-vector products, Hessians and their sparse
forms are the specification of ``_sweeps.pxi``: the same activity rule, the same
operations per lane in the same order.  Vector sweeps are written here as one scalar sweep
per lane (which is what each lane of the compiled vector sweep computes).
"""
import math
from typing import final

import numpy as np

from autodiff import _args, _batch_reference, _primitives, _second

_TOKEN = object()       # only record has it: Tape(_TOKEN, ...)

def _same(x, y):
    """x and y are the same float: equal with the same sign of zero, or both NaN."""
    if x != x:
        return y != y
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)


def _class_name(node, qualified):
    """The node's class, as the user wrote it; never fails (a metaclass may lie or raise)."""
    cls = type(node)
    try:
        return f"{cls.__module__}.{cls.__qualname__}" if qualified else str(cls.__name__)
    except Exception:
        return type.__dict__["__name__"].__get__(cls)


def _layout_refusal(ref, node, ops):
    """Why a node's class or edge count cannot be recorded, or None."""
    cls = type(node)
    if cls is not ref.Var and cls not in ops:
        return (f"record replays the built-in primitives only, but f's graph holds a node "
                f"of the user-defined class {_class_name(node, True)}; write it with the "
                f"built-in functions, or use value_and_grad, which rebuilds the graph on "
                f"every call")
    n = len(node._grad)
    kind = ops.get(cls, ("leaf",))[0]
    if n and (kind == "leaf" or (kind == "unary" and n != 1) or n > 2
              or (kind == "binary" and n == 1 and getattr(node, "_number", None) is None)):
        return (f"record cannot replay a {_class_name(node, False)} node with {n} edge(s): "
                f"its .grad was set by hand; use value_and_grad, which follows the graph "
                f"as built")
    return None


def _rule_refusal(node):
    return (f"record cannot replay a {_class_name(node, False)} node whose value or local "
            f"derivative is not what its rule gives from its operands (set by hand, or an "
            f"operand's value changed after the node was made); use value_and_grad, which "
            f"follows the graph as built")


def _evaluate(kind, rule, x, y):
    """(value, da, db) of an instruction's rule at operand values x (and y, binary)."""
    if kind == "unary":
        value_rule, derivative_rule = rule
        v = value_rule(x)
        return float(v), derivative_rule(x, v), 0.0
    v, da, db = rule(x, y)
    return float(v), da, db


def record(ref, f, example_args, argnums):
    """``autodiff.reference.record``: ``f`` recorded with the engine ``ref`` (the module).

    The engine is passed in, never imported: ``reference`` imports this module.
    """
    engine = vars(ref)
    call_args, slots, indices, single = _args.tape_inputs(engine, f, example_args, argnums)
    leaves = [leaf for slot in slots for leaf in slot.leaves]
    example = [leaf.value for leaf in leaves]          # before f can change them
    items, out_shape = _args.tape_outputs(engine, f(*call_args))
    name, shapes, n_inputs = _args.function_name(f), [s.shape for s in slots], len(leaves)
    nodes = [x for x in items if isinstance(x, ref.Ops)]
    if not nodes:                                       # f returned numbers only
        outs = list(range(n_inputs, n_inputs + len(items)))
        return Tape(_TOKEN, name, shapes, indices, single, n_inputs, items, [],
                    outs[0] if outs else n_inputs, outs=outs, out_shape=out_shape, ops=[],
                    engine=ref)

    ops = {ref.PRIMITIVES[name]: ("unary", rules) for name, rules in ref.UNARY_RULES.items()}
    ops.update({ref.PRIMITIVES[name]: ("binary", rule) for name, rule in ref.BINARY_RULES.items()})
    # One output node: walk from it.  Several: from a root of our own whose edges lead to
    # them in order; it is the walk's last node and is not recorded.
    if len(nodes) == 1:
        order, _ = ref._topological_order(nodes[0])
    else:
        order, _ = ref._topological_order(_outputs_root(ref, nodes))
        order = order[:-1]
    for node in order:
        why = _layout_refusal(ref, node, ops)
        if why is not None:
            raise TypeError(why)

    def has_number(node):           # a binary node with one node and one number operand
        return len(node._grad) == 1 and ops[type(node)][0] == "binary"

    inputs = {id(leaf): k for k, leaf in enumerate(leaves)}
    n_constants = sum(1 for node in order
                      if (not node._grad and id(node) not in inputs) or has_number(node))
    n_constants += sum(1 for x in items if not isinstance(x, ref.Ops))
    base = n_inputs + n_constants
    vals = list(example)            # inputs, then constants as they come
    results = []                    # each instruction's value at the example, by its rule
    slot, code, opcodes = {}, [], []

    def value(s):
        return vals[s] if s < base else results[s - base]

    for node in order:
        if not node._grad:                              # a leaf: an input or a constant
            if id(node) in inputs:
                slot[id(node)] = inputs[id(node)]
            else:
                slot[id(node)] = len(vals)
                vals.append(node.value)
            continue
        kind, rule = ops[type(node)]                    # an operation: an instruction
        edges = node._grad
        a = b = slot[id(edges[0][0])]
        number_first = False
        if kind == "binary" and len(edges) == 2:
            b = slot[id(edges[1][0])]
        elif kind == "binary":
            number, number_first = node._number
            if number_first:
                a = len(vals)
            else:
                b = len(vals)
            vals.append(number)
        # The instruction replays the rule: check that the node is what the rule gives.
        y, da, db = _evaluate(kind, rule, value(a), value(b))
        if kind == "unary":
            ok = _same(edges[0][1], da)
        elif len(edges) == 2:
            ok = _same(edges[0][1], da) and _same(edges[1][1], db)
        else:
            ok = _same(edges[0][1], db if number_first else da)
        if not (ok and _same(node.value, y)):
            raise TypeError(_rule_refusal(node))
        results.append(y)
        slot[id(node)] = base + len(code)
        code.append((kind, rule, a, b))
        opcode = _OPCODES[type(node).__name__]
        if opcode == _BINARY + _POW and len(edges) == 1 and not number_first:
            opcode = _POWC                              # x ** c for a number c
        opcodes.append(opcode)
    outs = []
    for x in items:
        if isinstance(x, ref.Ops):
            outs.append(slot[id(x)])
        else:                                           # a number output: a constant
            outs.append(len(vals))
            vals.append(x)
    return Tape(_TOKEN, name, shapes, indices, single, n_inputs, vals[n_inputs:], code,
                outs[0], outs=outs, out_shape=out_shape, ops=opcodes, engine=ref)


def _outputs_root(ref, nodes):
    """A node of our own whose edges lead to the output nodes, in order (the walk's root)."""
    global _Outputs
    if _Outputs is None:            # made on first use: reference imports this module
        _Outputs = type("_Outputs", (ref.Ops,), {"__init__": _outputs_init})
    return _Outputs(nodes)


def _outputs_init(self, nodes):
    self.grad = [(node, 0.0) for node in nodes]


_Outputs = None

# The compiled numbering of instructions (autodiff._replay, Tape._instructions): unary
# row i of the table is op i, x ** c for a number c is POWC == N_UNARY, binary row j is
# 1024 + j.
_BINARY = 1024
_POWC = len(_primitives.UNARY)
_POW = [p.name for p in _primitives.BINARY].index("power")
_OPCODES = {p.cls: i for i, p in enumerate(_primitives.UNARY)}
_OPCODES.update({p.cls: _BINARY + j for j, p in enumerate(_primitives.BINARY)})
_NAMES = {i: p.name for i, p in enumerate(_primitives.UNARY)}
_NAMES.update({_BINARY + j: p.name for j, p in enumerate(_primitives.BINARY)})
_NAMES[_POWC] = "power"


@final
class Tape:
    """A function recorded by ``record``: replays its value and gradients for new inputs.

    Written once by ``record`` and only read afterwards; each call keeps its values,
    local derivatives and adjoints in lists of its own.
    """
    __slots__ = ("_name", "_shapes", "_argnums", "_single", "_sizes", "_offsets", "n_inputs",
                 "_constants", "_code", "_base", "_root", "_outs", "_out_shape", "_opcodes",
                 "_derived", "_jplan", "_hplan", "_engine")

    def __new__(cls, *args, **kwargs):
        if not args or args[0] is not _TOKEN:
            raise TypeError("a Tape cannot be made directly; call "
                            "autodiff.record(f, *example_args) to record one")
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if not args or args[0] is not _TOKEN:
            raise TypeError("a Tape cannot be made directly; call "
                            "autodiff.record(f, *example_args) to record one")
        self._fill(*args[1:], **kwargs)

    def _fill(self, name, shapes, argnums, single, n_inputs, constants, code, root,
              outs, out_shape, ops, engine):
        self._name = name
        self._shapes = tuple(shapes)
        self._argnums = tuple(argnums)
        self._single = single
        self._sizes = tuple(1 if s is None else _size(s) for s in shapes)
        self._offsets = tuple(sum(self._sizes[:k]) for k in range(len(self._sizes)))
        self.n_inputs = n_inputs
        self._constants = tuple(constants)
        self._code = tuple(code)
        self._base = n_inputs + len(constants)
        self._root = root
        # per output, in C order: its slot (_outs[0] == _root)
        self._outs = (root,) if outs is None else tuple(outs)
        self._out_shape = out_shape # None: f returned a scalar; else the output array's shape
        # per instruction, its op in the compiled numbering (see _instructions; a power
        # whose exponent has a constant slot is POWC)
        self._opcodes = tuple(ops)
        self._engine = engine       # the reference module: its rules, and pickle's way back
        self._derived = None        # (slot activity, iact, cols): built on first use
        self._jplan = None          # sparsity plans, built on first use
        self._hplan = None

    def _check(self):
        if not hasattr(self, "_root"):           # made with object.__new__(Tape)
            raise TypeError("this Tape was never completed by record; call "
                            "autodiff.record(f, *example_args) to record one")

    def __init_subclass__(cls, **kwargs):
        raise TypeError("Tape cannot be subclassed: tapes are made by "
                        "autodiff.record(f, *example_args); wrap one in a class of your own")

    # Pickling, copying and many points at once: autodiff/_batch_reference.py.
    def __reduce__(self):
        self._check()
        return self._engine._restore_tape, (_batch_reference.state(self),)

    def __reduce_ex__(self, protocol):
        return self.__reduce__()

    def __copy__(self):
        self._check()
        return restore(self._engine, _batch_reference.state(self))

    def __deepcopy__(self, memo):
        return self.__copy__()

    def vmap(self, in_axes=0):
        """A batched view of this tape: every argument gets a leading axis of points."""
        self._check()
        return _batch_reference.vmap(self, in_axes)

    def __repr__(self):
        if not hasattr(self, "_root"):
            return "<Tape (incomplete)>"
        return (f"<Tape of {self._name}: {self.n_ops} instructions, {self.n_inputs} inputs, "
                f"{self._base - self.n_inputs} constants>")

    @property
    def n_ops(self):
        """How many instructions (operation nodes) the tape replays."""
        self._check()
        return len(self._code)

    @property
    def argnums(self):
        """The differentiated arguments: an int, or a tuple of ints."""
        self._check()
        return self._argnums[0] if self._single else self._argnums

    def _load(self, args):
        """A new list of slot values: the arguments, checked, then the constants.

        Python code runs here (``__float__``, ``__array__``); the list is this call's own.
        """
        if len(args) != len(self._shapes):
            raise TypeError(f"the tape of {self._name} takes {len(self._shapes)} argument(s), "
                            f"as recorded, got {len(args)}; pass the same arguments as the "
                            f"examples given to record, with new values")
        vals = []
        for i, (arg, shape) in enumerate(zip(args, self._shapes)):
            try:
                got, values = _args.as_values(arg)
            except TypeError:
                raise TypeError(f"argument {i} of the tape of {self._name} must be a real "
                                f"number or an array of real numbers, got "
                                f"{type(arg).__name__}; pass a float or a float array "
                                f"(bind any other argument of f with functools.partial "
                                f"before record)") from None
            if got != shape and not (_scalar_shape(got) and _scalar_shape(shape)):
                raise ValueError(f"argument {i} of the tape of {self._name} was recorded as "
                                 f"{_describe(shape)}, got {_describe(got)}; pass "
                                 f"{_describe(shape)}, or call record again with an "
                                 f"example of the new shape")
            values = values.tolist()
            if len(values) != self._sizes[i]:
                raise ValueError(f"argument {i} of the tape of {self._name} gave "
                                 f"{len(values)} values for {self._sizes[i]} slots")
            vals.extend(values)
        vals.extend(self._constants)
        vals.extend([0.0] * len(self._code))
        return vals

    def _forward(self, vals):
        """Values (into vals) and local derivatives (returned) of every instruction."""
        out = self._base
        locals_ = []
        for kind, rule, a, b in self._code:
            if kind == "unary":
                value_rule, derivative_rule = rule
                x = vals[a]
                y = value_rule(x)
                d = derivative_rule(x, y)
                locals_.append((d, 0.0))
            else:
                y, da, db = rule(vals[a], vals[b])
                locals_.append((da, db))
            vals[out] = float(y)
            out += 1
        return locals_

    def _backward(self, n_slots, locals_):
        adjoint = [0.0] * n_slots
        adjoint[self._root] = 1.0
        for i in range(len(self._code) - 1, -1, -1):
            kind, _, a, b = self._code[i]
            g = adjoint[self._base + i]
            da, db = locals_[i]
            adjoint[a] += g * da
            if kind == "binary":
                adjoint[b] += g * db        # a constant's slot collects a harmless extra term
        return adjoint

    def _grads(self, adjoint):
        results = []
        for k in self._argnums:
            slot = _args.Slot(self._shapes[k], [None] * self._sizes[k])
            start = self._offsets[k]
            results.append(slot.unflatten(adjoint[start:start + self._sizes[k]]))
        return results[0] if self._single else tuple(results)

    def _outputs(self, vals):
        """A float for a scalar function, else a float64 array of the output shape."""
        if self._out_shape is None:
            return vals[self._root]
        return np.array([vals[s] for s in self._outs], dtype=np.float64).reshape(self._out_shape)

    def _scalar_only(self, what):
        if self._out_shape is not None:
            raise TypeError(f"{what} needs a tape of a scalar function, but {self._name} "
                            f"returned an array of shape {self._out_shape}; use "
                            f"tape.jacobian(*args) for all the derivatives, or "
                            f"tape.vjp(*args, cotangent) for one weighted sum of them")

    def _split(self, args, what):
        if len(args) == 0:
            raise TypeError(f"tape.{what} takes the tape's {len(self._shapes)} argument(s) and "
                            f"then the {what} vector; got no arguments")
        return args[:-1], args[-1]

    def __call__(self, *args):
        """The value at args: a float for a scalar function, else a float64 array."""
        self._check()
        vals = self._load(args)
        self._forward(vals)
        return self._outputs(vals)

    def value_and_grad(self, *args):
        """``(value, grads)`` at args, as ``value_and_grad(f, argnums)(*args)`` gives them."""
        self._check()
        self._scalar_only("value_and_grad")
        vals = self._load(args)
        adjoint = self._backward(len(vals), self._forward(vals))
        return vals[self._root], self._grads(adjoint)

    def grad(self, *args):
        """The gradients at args, as ``grad(f, argnums)(*args)`` gives them."""
        return self.value_and_grad(*args)[1]

    # ---- tangents and second order: the specification of _sweeps.pxi ----

    def _prepare(self):
        """(act, iact, cols): slot activity, per instruction bit 1 = operand a active and
        bit 2 = operand b active, and the slots of the differentiated elements."""
        if self._derived is None:
            n_slots = self._base + len(self._code)
            act = [0] * n_slots
            cols = []
            for k in self._argnums:
                for s in range(self._offsets[k], self._offsets[k] + self._sizes[k]):
                    act[s] = 1
                    cols.append(s)
            iact = []
            for i, (kind, _, a, b) in enumerate(self._code):
                f = act[a]
                if kind == "binary" and self._opcodes[i] != _POWC:
                    f |= act[b] << 1
                iact.append(f)
                act[self._base + i] = 1 if f else 0
            self._derived = (act, iact, cols)
        return self._derived

    def _tangents(self, vals, locals_, t, iact):
        """Forward tangents after _forward (as _tangents in _sweeps.pxi, one lane)."""
        base = self._base
        for i, (kind, _, a, b) in enumerate(self._code):
            f = iact[i]
            if f == 0:
                continue
            da, db = locals_[i]
            if f == 3:
                t[base + i] = da * t[a] + db * t[b]
            elif f == 1:
                t[base + i] = da * t[a]
            else:
                t[base + i] = db * t[b]

    def _reverse(self, adjoint, locals_, iact, last, reached):
        """Adjoints from seeded outputs (as _reverse in _sweeps.pxi)."""
        base = self._base
        for i in range(last, -1, -1):
            if iact[i] == 0:
                continue
            kind, _, a, b = self._code[i]
            if reached is not None:
                if not reached[base + i]:
                    continue
                reached[a] = 1
                reached[b] = 1
            g = adjoint[base + i]
            da, db = locals_[i]
            adjoint[a] += g * da
            if kind == "binary":
                adjoint[b] += g * db

    def _local_tangents(self, i, f, vals, da, db, ta, tb):
        """Tangents of instruction i's local derivatives (as _local_tangents)."""
        kind, _, a, b = self._code[i]
        op = self._opcodes[i]
        name = _NAMES[op]
        y = vals[self._base + i]
        if op == _POWC:
            return _second.power_const_second(vals[a], vals[b], y, da) * ta, 0.0
        if kind == "unary":
            rule = _second.UNARY_SECOND.get(name, _nan_unary)
            return rule(vals[a], y, da) * ta, 0.0
        if name == "add" or name == "subtract":
            return 0.0, 0.0
        if name == "multiply":
            return (tb if f & 2 else 0.0), (ta if f & 1 else 0.0)
        daa, dab, dbb = _second.BINARY_SECOND.get(name, _nan_binary)(vals[a], vals[b], y, da, db)
        if f == 3:
            return daa * ta + dab * tb, dab * ta + dbb * tb
        if f == 1:
            return daa * ta, dab * ta
        return dab * tb, dbb * tb

    def _hvp_sweeps(self, vals, locals_, t, iact):
        """Tangents and local tangents forward, then adjoints and their tangents back."""
        base = self._base
        n_slots = len(vals)
        tl = [(0.0, 0.0)] * len(self._code)
        for i, (kind, _, a, b) in enumerate(self._code):
            f = iact[i]
            if f == 0:
                continue
            da, db = locals_[i]
            ta = t[a] if f & 1 else 0.0
            tb = t[b] if f & 2 else 0.0
            if f == 3:
                t[base + i] = da * ta + db * tb
            elif f == 1:
                t[base + i] = da * ta
            else:
                t[base + i] = db * tb
            tl[i] = self._local_tangents(i, f, vals, da, db, ta, tb)
        adj = [0.0] * n_slots
        adjt = [0.0] * n_slots
        adj[self._root] = 1.0
        for i in range(len(self._code) - 1, -1, -1):
            if iact[i] == 0:
                continue
            kind, _, a, b = self._code[i]
            g = adj[base + i]
            gt = adjt[base + i]
            da, db = locals_[i]
            tda, tdb = tl[i]
            adj[a] += g * da
            adjt[a] += gt * da + g * tda
            if kind == "binary":
                adj[b] += g * db
                adjt[b] += gt * db + g * tdb
        return adjt

    def jvp(self, *args):
        """``tape.jvp(*args, tangent)`` -> ``(value, J . tangent)`` (see the compiled Tape)."""
        self._check()
        act, iact, cols = self._prepare()
        primals, tangent = self._split(args, "jvp")
        tv = _args.tape_directions(tangent, self._shapes, self._argnums, self._single,
                                   "the tangent").tolist()
        if len(tv) != len(cols):
            raise ValueError("the tangent has the wrong number of elements")
        vals = self._load(primals)
        locals_ = self._forward(vals)
        t = [0.0] * len(vals)
        for j, s in enumerate(cols):
            t[s] = tv[j]
        self._tangents(vals, locals_, t, iact)
        result = [t[s] if act[s] else 0.0 for s in self._outs]
        if self._out_shape is None:
            return vals[self._root], result[0]
        return (self._outputs(vals),
                np.array(result, dtype=np.float64).reshape(self._out_shape))

    def vjp(self, *args):
        """``tape.vjp(*args, cotangent)`` -> ``(value, cotangent . J)`` (see the compiled Tape)."""
        self._check()
        act, iact, cols = self._prepare()
        primals, cotangent = self._split(args, "vjp")
        cv = _args.tape_cotangent(cotangent, self._out_shape, "the cotangent").tolist()
        if len(cv) != len(self._outs):
            raise ValueError("the cotangent has the wrong number of elements")
        vals = self._load(primals)
        locals_ = self._forward(vals)
        adjoint = [0.0] * len(vals)
        for k, s in enumerate(self._outs):
            adjoint[s] += cv[k]
        self._reverse(adjoint, locals_, iact, len(self._code) - 1, None)
        return self._outputs(vals), self._grads(adjoint)

    def _jacobian_matrix(self, args):
        act, iact, cols = self._prepare()
        n_dir, n_out = len(cols), len(self._outs)
        J = np.zeros((n_out, n_dir), dtype=np.float64)
        vals = self._load(args)
        locals_ = self._forward(vals)
        if n_dir < n_out:                       # forward: one direction per basis vector
            for j in range(n_dir):
                t = [0.0] * len(vals)
                for jj, s in enumerate(cols):
                    t[s] = 1.0 if jj == j else 0.0
                self._tangents(vals, locals_, t, iact)
                for k, s in enumerate(self._outs):
                    if act[s]:
                        J[k, j] = t[s]
        else:                                   # reverse: one sweep per output
            for k, s in enumerate(self._outs):
                adjoint = [0.0] * len(vals)
                reached = [0] * len(vals)
                adjoint[s] = 1.0
                reached[s] = 1
                self._reverse(adjoint, locals_, iact, s - self._base, reached)
                for j, c in enumerate(cols):
                    J[k, j] = adjoint[c]
        return J

    def jacobian(self, *args):
        """The Jacobian at args in JAX's layout (see the compiled Tape)."""
        self._check()
        J = self._jacobian_matrix(args)
        lead = () if self._out_shape is None else tuple(self._out_shape)
        return _args.split_columns(J, lead, self._shapes, self._argnums, self._single)

    def hvp(self, *args):
        """``tape.hvp(*args, v)`` -> ``H . v``, structured like ``grad`` (scalar tapes)."""
        self._check()
        self._scalar_only("hvp")
        act, iact, cols = self._prepare()
        primals, v = self._split(args, "hvp")
        vv = _args.tape_directions(v, self._shapes, self._argnums, self._single, "v").tolist()
        if len(vv) != len(cols):
            raise ValueError("v has the wrong number of elements")
        vals = self._load(primals)
        locals_ = self._forward(vals)
        t = [0.0] * len(vals)
        for j, s in enumerate(cols):
            t[s] = vv[j]
        return self._grads(self._hvp_sweeps(vals, locals_, t, iact))

    def _hessian_matrix(self, args, seed):
        """H . seed (directions, columns); seed None: the identity."""
        act, iact, cols = self._prepare()
        n_dir = len(cols)
        vals = self._load(args)
        locals_ = self._forward(vals)
        n_cols = n_dir if seed is None else seed.shape[1]
        H = np.zeros((n_dir, n_cols), dtype=np.float64)
        for c in range(n_cols):
            t = [0.0] * len(vals)
            for j, s in enumerate(cols):
                t[s] = (1.0 if j == c else 0.0) if seed is None else float(seed[j, c])
            adjt = self._hvp_sweeps(vals, locals_, t, iact)
            for k, s in enumerate(cols):
                H[k, c] = adjt[s]
        return H

    def hessian(self, *args):
        """The dense Hessian at args in JAX's layout (see the compiled Tape)."""
        self._check()
        self._scalar_only("hessian")
        H = self._hessian_matrix(args, None)
        return _args.split_hessian(H, self._shapes, self._argnums, self._single)

    def _compressed_jacobian(self, args, seed):
        act, iact, cols = self._prepare()
        vals = self._load(args)
        locals_ = self._forward(vals)
        J = np.zeros((len(self._outs), seed.shape[1]), dtype=np.float64)
        for c in range(seed.shape[1]):
            t = [0.0] * len(vals)
            for j, s in enumerate(cols):
                t[s] = float(seed[j, c])
            self._tangents(vals, locals_, t, iact)
            for k, s in enumerate(self._outs):
                if act[s]:
                    J[k, c] = t[s]
        return J

    def _instructions(self):
        """``(code, base, n_inputs, outs)`` in the compiled engine's numbering (see the
        compiled Tape._instructions).  A power whose exponent is a number is POWC, as in
        the compiled engine."""
        self._check()
        code = np.array([[op, a, b] for op, (_, _, a, b) in zip(self._opcodes, self._code)],
                        dtype=np.int32).reshape(len(self._code), 3)
        return code, self._base, self.n_inputs, np.array(self._outs, dtype=np.int64)

    def _plan(self, kind):
        plan = self._jplan if kind == "jacobian" else self._hplan
        if plan is None:
            from autodiff import _sparsity
            code, base, n_inputs, outs = self._instructions()
            columns = np.array(self._prepare()[2], dtype=np.int64)
            if kind == "jacobian":
                plan = _args.prepare_plan(
                    _sparsity.jacobian_plan(code, base, n_inputs, outs, columns),
                    len(outs), len(columns))
                self._jplan = plan
            else:
                plan = _args.prepare_plan(
                    _sparsity.hessian_plan(code, base, n_inputs, self._root, columns),
                    len(columns), len(columns))
                self._hplan = plan
        return plan

    def jacobian_sparsity(self):
        """The Jacobian's sparsity pattern, a csr_array of ones (see the compiled Tape)."""
        self._check()
        return _args.sparsity_pattern(self._plan("jacobian"))

    def hessian_sparsity(self):
        """The Hessian's sparsity pattern, a csr_array of ones (see the compiled Tape)."""
        self._check()
        self._scalar_only("hessian_sparsity")
        return _args.sparsity_pattern(self._plan("hessian"))

    def sparse_jacobian(self, *args, out=None):
        """The Jacobian as a csr_array, or its values into out (see the compiled Tape)."""
        self._check()
        plan = self._plan("jacobian")
        seed = _args.plan_seed(plan, len(self._prepare()[2]))
        compressed = self._compressed_jacobian(args, seed)
        return _args.sparse_result(plan, compressed, out)

    def sparse_hessian(self, *args, out=None):
        """The Hessian as a csr_array, or its values into out (see the compiled Tape)."""
        self._check()
        self._scalar_only("sparse_hessian")
        plan = self._plan("hessian")
        seed = _args.plan_seed(plan, len(self._prepare()[2]))
        compressed = self._hessian_matrix(args, seed)
        return _args.sparse_result(plan, compressed, out)


def _nan_unary(x, y, d):
    return math.nan


def _nan_binary(a, b, y, da, db):
    return math.nan, math.nan, math.nan



def _scalar_shape(shape):
    """A number (None) or a 0-d array (()): interchangeable as arguments."""
    return shape is None or shape == ()


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _describe(shape):
    return "a number" if shape is None else f"an array of shape {shape}"


def restore(ref, state):
    """A tape of the engine ``ref`` from a pickled state; ValueError if the state is bad.

    ``pickle`` reaches it through ``autodiff.reference._restore_tape``.
    """
    names = tuple(ref.PRIMITIVES)
    (name, shapes, _, argnums, single, n_inputs, constants, code, outs, out_shape,
     root) = _batch_reference.check_state(state, names)
    rules = {n: ("unary", r) for n, r in ref.UNARY_RULES.items()}
    rules.update({n: ("binary", r) for n, r in ref.BINARY_RULES.items()})
    n_unary = len(ref.UNARY_RULES)
    instructions, ops = [], []
    for op, a, b in code.tolist():          # the state's numbering: names, then POWC
        if op == len(names):
            instructions.append(rules["power"] + (a, b))
            ops.append(_POWC)
        else:
            instructions.append(rules[names[op]] + (a, b))
            ops.append(op if op < n_unary else _BINARY + op - n_unary)
    return Tape(_TOKEN, name, shapes, argnums, single, n_inputs, constants.tolist(),
                instructions, root, outs=outs.tolist(), out_shape=out_shape, ops=ops,
                engine=ref)
