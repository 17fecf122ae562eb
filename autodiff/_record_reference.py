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
"""
import math
from typing import final

from autodiff import _args, _batch_reference

_TOKEN = object()       # only record has it: Tape(_TOKEN, ...)

_NO_PICKLE = ("a Tape cannot be pickled or copied yet: it holds compiled instructions "
              "tied to this process; call record(f, *example_args) again in the other "
              "process (or wherever you need another tape)")


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


def record(f, *example_args, argnums=0):
    """Record ``f`` once at example arguments; replay its value and gradients.

    The reference engine's twin of the compiled ``record``: same arguments, results and
    errors (see ``autodiff.record`` for the conventions and the frozen control flow).

    >>> tape = record(lambda x, y: x * y + 1.0, 2.0, 3.0, argnums=(0, 1))
    >>> tape.value_and_grad(4.0, 5.0)
    (21.0, (5.0, 4.0))
    """
    from autodiff import reference as ref
    engine = vars(ref)
    call_args, slots, indices, single = _args.tape_inputs(engine, f, example_args, argnums)
    leaves = [leaf for slot in slots for leaf in slot.leaves]
    example = [leaf.value for leaf in leaves]          # before f can change them
    out = f(*call_args)
    root = _args.scalar_output(engine, out)
    name, shapes, n_inputs = _args.function_name(f), [s.shape for s in slots], len(leaves)
    if not isinstance(root, ref.Ops):                   # f returned a number
        return Tape(_TOKEN, name, shapes, indices, single, n_inputs, [root], [], n_inputs)

    ops = {ref.PRIMITIVES[name]: ("unary", rules) for name, rules in ref.UNARY_RULES.items()}
    ops.update({ref.PRIMITIVES[name]: ("binary", rule) for name, rule in ref.BINARY_RULES.items()})
    order, _ = ref._topological_order(root)
    for node in order:
        why = _layout_refusal(ref, node, ops)
        if why is not None:
            raise TypeError(why)

    def has_number(node):           # a binary node with one node and one number operand
        return len(node._grad) == 1 and ops[type(node)][0] == "binary"

    inputs = {id(leaf): k for k, leaf in enumerate(leaves)}
    n_constants = sum(1 for node in order
                      if (not node._grad and id(node) not in inputs) or has_number(node))
    base = n_inputs + n_constants
    vals = list(example)            # inputs, then constants as they come
    results = []                    # each instruction's value at the example, by its rule
    slot, code = {}, []

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
    return Tape(_TOKEN, name, shapes, indices, single, n_inputs, vals[n_inputs:], code,
                slot[id(root)])


@final
class Tape:
    """A function recorded by ``record``: replays its value and gradients for new inputs.

    Written once by ``record`` and only read afterwards; each call keeps its values,
    local derivatives and adjoints in lists of its own.
    """
    __slots__ = ("_name", "_shapes", "_argnums", "_single", "_sizes", "_offsets", "n_inputs",
                 "_constants", "_code", "_base", "_root", "_outs", "_out_shape")

    def __new__(cls, *args):
        if not args or args[0] is not _TOKEN:
            raise TypeError("a Tape cannot be made directly; call "
                            "autodiff.record(f, *example_args) to record one")
        return super().__new__(cls)

    def __init__(self, *args):
        if not args or args[0] is not _TOKEN:
            raise TypeError("a Tape cannot be made directly; call "
                            "autodiff.record(f, *example_args) to record one")
        self._fill(*args[1:])

    def _fill(self, name, shapes, argnums, single, n_inputs, constants, code, root):
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
        self._outs = (root,)        # per output, in C order: its slot (_outs[0] == _root)
        self._out_shape = None      # None: f returned a scalar; else the output array's shape

    def _check(self):
        if not hasattr(self, "_root"):           # made with object.__new__(Tape)
            raise TypeError("this Tape was never completed by record; call "
                            "autodiff.record(f, *example_args) to record one")

    def __init_subclass__(cls, **kwargs):
        raise TypeError("Tape cannot be subclassed: tapes are made by "
                        "autodiff.record(f, *example_args); wrap one in a class of your own")

    # Pickling, copying and many points at once: autodiff/_batch_reference.py.
    def __reduce__(self):
        return _batch_reference.reduce(self)

    def __reduce_ex__(self, protocol):
        return _batch_reference.reduce(self)

    def __copy__(self):
        return _batch_reference.copy(self)

    def __deepcopy__(self, memo):
        return _batch_reference.copy(self)

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

    def __call__(self, *args):
        """The value of the recorded function at args (a float)."""
        self._check()
        vals = self._load(args)
        self._forward(vals)
        return vals[self._root]

    def value_and_grad(self, *args):
        """``(value, grads)`` at args, as ``value_and_grad(f, argnums)(*args)`` gives them."""
        self._check()
        vals = self._load(args)
        adjoint = self._backward(len(vals), self._forward(vals))
        return vals[self._root], self._grads(adjoint)

    def grad(self, *args):
        """The gradients at args, as ``grad(f, argnums)(*args)`` gives them."""
        return self.value_and_grad(*args)[1]


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
