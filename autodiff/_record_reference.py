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
"""
from autodiff import _args


def _refusal(ref, node, ops):
    """Why a node cannot be recorded, or None; ops maps built-in classes to rows."""
    cls = type(node)
    if cls is not ref.Var and cls not in ops:
        return (f"record replays the built-in primitives only, but f's graph holds a node "
                f"of the user-defined class {cls.__module__}.{cls.__qualname__}; write it "
                f"with the built-in functions, or use value_and_grad, which rebuilds the "
                f"graph on every call")
    n = len(node._grad)
    kind = ops.get(cls, ("leaf",))[0]
    if n and (kind == "leaf" or (kind == "unary" and n != 1) or n > 2):
        return (f"record cannot replay a {cls.__name__} node with {n} edge(s): its .grad "
                f"was set by hand")
    return None


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
    out = f(*call_args)
    root = _args.scalar_output(engine, out)

    leaves = [leaf for slot in slots for leaf in slot.leaves]
    tape = Tape(_args.function_name(f), [slot.shape for slot in slots], indices, single)
    tape.n_inputs = len(leaves)
    if not isinstance(root, ref.Ops):                   # f returned a number
        tape.vals = [0.0] * len(leaves) + [root]
        tape.base = tape.root = len(leaves)
        return tape

    ops = {ref.PRIMITIVES[name]: ("unary", rules) for name, _, *rules in ref.UNARY}
    ops.update({ref.PRIMITIVES[name]: ("binary", rule) for name, _, rule in ref.BINARY})
    order, _ = ref._topological_order(root)
    for node in order:
        why = _refusal(ref, node, ops)
        if why is not None:
            raise TypeError(why)

    def has_number(node):           # a binary node with one node and one number operand
        return len(node._grad) == 1 and ops[type(node)][0] == "binary"

    inputs = {id(leaf): k for k, leaf in enumerate(leaves)}
    n_constants = sum(1 for node in order
                      if (not node._grad and id(node) not in inputs) or has_number(node))
    base = len(leaves) + n_constants
    vals = [0.0] * len(leaves)      # inputs, then constants as they come, then results
    slot, code = {}, []
    for node in order:
        if not node._grad:                              # a leaf: an input or a constant
            if id(node) in inputs:
                slot[id(node)] = inputs[id(node)]
            else:
                slot[id(node)] = len(vals)
                vals.append(node.value)
            continue
        kind, rule = ops[type(node)]                    # an operation: an instruction
        a = b = slot[id(node._grad[0][0])]
        if kind == "binary" and len(node._grad) == 2:
            b = slot[id(node._grad[1][0])]
        elif kind == "binary":
            if getattr(node, "_number", None) is None:      # edges set by hand
                raise TypeError(f"record: {type(node).__name__} node has one edge but no "
                                f"number operand (its grad was set by hand)")
            number, number_first = node._number
            if number_first:
                a = len(vals)
            else:
                b = len(vals)
            vals.append(number)
        slot[id(node)] = base + len(code)
        code.append((kind, rule, a, b))
    tape.vals = vals + [0.0] * len(code)
    tape.code = code
    tape.base = base
    tape.root = slot[id(root)]
    return tape


class Tape:
    """A function recorded by ``record``: replays its value and gradients for new inputs."""

    def __init__(self, name, shapes, argnums, single):
        self.name = name
        self.shapes = shapes
        self._argnums = argnums
        self.single = single
        self.sizes = [1 if s is None else _size(s) for s in shapes]
        self.code = []

    def __repr__(self):
        return (f"<Tape of {self.name}: {self.n_ops} instructions, {self.n_inputs} inputs, "
                f"{self.base - self.n_inputs} constants>")

    @property
    def n_ops(self):
        """How many instructions (operation nodes) the tape replays."""
        return len(self.code)

    @property
    def argnums(self):
        """The differentiated arguments: an int, or a tuple of ints."""
        return self._argnums[0] if self.single else self._argnums

    def _load(self, args):
        """Copy the arguments into the input slots, checking their types and shapes."""
        if len(args) != len(self.shapes):
            raise TypeError(f"the tape of {self.name} takes {len(self.shapes)} argument(s) "
                            f"(as recorded), got {len(args)}")
        k = 0
        for i, (arg, shape) in enumerate(zip(args, self.shapes)):
            try:
                got, values = _args.as_values(arg)
            except TypeError:
                raise TypeError(f"argument {i} of the tape of {self.name} must be a real "
                                f"number or an array of real numbers, got "
                                f"{type(arg).__name__}") from None
            if got != shape and not (got in (None, ()) and shape in (None, ())):
                raise ValueError(f"argument {i} of the tape of {self.name} was recorded as "
                                 f"{_describe(shape)}, got {_describe(got)}")
            self.vals[k:k + len(values)] = values.tolist()
            k += len(values)

    def _forward(self):
        vals, out = self.vals, self.base
        locals_ = []
        for kind, rule, a, b in self.code:
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

    def _backward(self, locals_):
        adjoint = [0.0] * len(self.vals)
        adjoint[self.root] = 1.0
        for i in range(len(self.code) - 1, -1, -1):
            kind, _, a, b = self.code[i]
            g = adjoint[self.base + i]
            da, db = locals_[i]
            adjoint[a] += g * da
            if kind == "binary":
                adjoint[b] += g * db        # a constant's slot collects a harmless extra term
        return adjoint

    def _grads(self, adjoint):
        offsets = [sum(self.sizes[:k]) for k in range(len(self.sizes))]
        results = []
        for k in self._argnums:
            slot = _args.Slot(self.shapes[k], [None] * self.sizes[k])
            results.append(slot.unflatten(adjoint[offsets[k]:offsets[k] + self.sizes[k]]))
        return results[0] if self.single else tuple(results)

    def __call__(self, *args):
        """The value of the recorded function at args (a float)."""
        self._load(args)
        self._forward()
        return self.vals[self.root]

    def value_and_grad(self, *args):
        """``(value, grads)`` at args, as ``value_and_grad(f, argnums)(*args)`` gives them."""
        self._load(args)
        adjoint = self._backward(self._forward())
        return self.vals[self.root], self._grads(adjoint)

    def grad(self, *args):
        """The gradients at args, as ``grad(f, argnums)(*args)`` gives them."""
        return self.value_and_grad(*args)[1]


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _describe(shape):
    return "a number" if shape is None else f"an array of shape {shape}"
