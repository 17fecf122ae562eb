"""Record once, replay in C: a function's graph flattened to a tape of instructions.

``record(f, *example_args)`` runs ``f`` once on nodes, walks the graph from its output as
``get_gradients`` does (depth-first post-order, children in edge order) and keeps one
instruction per operation node.  ``tape.value_and_grad(*args)`` then sweeps the
instructions forwards (values and local derivatives, with the engine's own rules from
``_rules.pxd``) and backwards (adjoints, in the engine's order) over flat C arrays: no
Python object per operation, and results bit-identical to building the graph again.

The pure-Python twin for the reference engine is ``autodiff/_record_reference.py``.

Slots.  Every value a tape holds has a slot in one array: first the inputs (the elements
of every argument, in order), then the constants (leaves that are not inputs, and the
number operand of a binary node such as ``x + 3``), then one slot per instruction, in
topological order.  Instruction ``i`` writes slot ``base + i``.
"""
cimport cython
from cpython.object cimport PyTypeObject, Py_TYPE
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from autodiff._engine cimport (Ops, Edge, Walk, _edges, _topological_order, _unmark,
                               _free_walk)
from autodiff._rules cimport *

import numpy as np

from autodiff import _args
from autodiff import _engine

__all__ = ["record", "Tape"]

# --------------------------------------------------------------------------------------
# Instructions
# --------------------------------------------------------------------------------------

cdef enum:
    BINARY = 32             # an instruction's op: a UnaryOp, or BINARY + a BinaryOp
    N_UNARY = 21            # PRIMITIVES lists the 21 unary primitives, then the 8 binary
    N_PRIMITIVES = 29
    LEAF = -1               # a Var, or a primitive node made of numbers only (no edge)
    FOREIGN = -2            # not a built-in node class


cdef struct Instr:
    int op                  # UnaryOp, or BINARY + BinaryOp
    int a                   # slot of the (first) operand
    int b                   # slot of the second operand (binary); == a for a unary op
    double da               # local derivative d out / d slot a, from the last forward sweep
    double db               # d out / d slot b (binary)


# The built-in node classes by op, so that classifying a node is a pointer comparison.
cdef PyTypeObject* _classes[N_PRIMITIVES]
cdef PyTypeObject* _var_class = <PyTypeObject*>_engine.Var

_names = list(_engine.PRIMITIVES)
assert len(_names) == N_PRIMITIVES and _names[SIN] == "sin" and _names[ABS] == "absolute" \
    and _names[N_UNARY + ADD] == "add" and _names[N_UNARY + ARCTAN2] == "arctan2" \
    and _names[N_UNARY + DIV] == "divide", \
    "PRIMITIVES must list the primitives in the order of _rules.pxd"
for _i, _cls in enumerate(_engine.PRIMITIVES.values()):
    _classes[_i] = <PyTypeObject*>_cls
del _names, _i, _cls


# A small cache of type -> op, direct-mapped on the type's address: most graphs use a
# handful of classes, so the search through _classes happens once per class.
cdef PyTypeObject* _cached_class[64]
cdef int _cached_op[64]


cdef inline int _class_op(PyTypeObject* t) noexcept:
    """LEAF for Var, the instruction op of a built-in class, FOREIGN for any other class."""
    cdef int i, op = FOREIGN
    cdef size_t h = (<size_t>t >> 4) & 63
    if _cached_class[h] == t:
        return _cached_op[h]
    if t == _var_class:
        op = LEAF
    for i in range(N_PRIMITIVES):
        if t == _classes[i]:
            op = i if i < N_UNARY else BINARY + (i - N_UNARY)
    _cached_class[h] = t
    _cached_op[h] = op
    return op


cdef inline int _op_of(Ops node) noexcept:
    """The instruction op of a node, LEAF (no edge: a Var or a constant) or FOREIGN."""
    cdef int op = _class_op(Py_TYPE(node))
    if op >= 0 and node.n == 0:
        return LEAF
    return op


cdef inline bint _replayable(Ops node, int op) noexcept:
    """A built-in node whose edges are those its class makes (not set by hand)."""
    if op == FOREIGN:
        return False
    if op == LEAF:
        return node.n == 0
    if op < BINARY:
        return node.n == 1
    return node.n <= 2


# --------------------------------------------------------------------------------------
# The sweeps: C loops over the instructions
# --------------------------------------------------------------------------------------


@cython.cdivision(True)
cdef void _forward(Instr* code, Py_ssize_t n_ops, double* vals, Py_ssize_t base) noexcept nogil:
    """Values and local derivatives of every instruction, in order."""
    cdef Py_ssize_t i
    cdef Instr* p = code
    cdef double* out = vals + base
    cdef double a, b
    for i in range(n_ops):
        # The commonest operations first, written out: the same expressions as their rows
        # in _rules.pxd (so the same bits), without the dispatch through the rule tables.
        if p.op == BINARY + ADD:
            out[i] = vals[p.a] + vals[p.b]
            p.da = 1.0
            p.db = 1.0
        elif p.op == BINARY + MUL:
            a = vals[p.a]
            b = vals[p.b]
            out[i] = a * b
            p.da = b
            p.db = a
        elif p.op < BINARY:
            out[i] = _unary_rule(p.op, vals[p.a], &p.da)
        else:
            out[i] = _binary_rule(p.op - BINARY, vals[p.a], vals[p.b], &p.da, &p.db)
        p += 1


cdef void _backward(Instr* code, Py_ssize_t n_ops, double* adjoint, Py_ssize_t n_slots,
                    Py_ssize_t base, Py_ssize_t root) noexcept nogil:
    """Adjoints of every slot: adjoint[child] += adjoint[node] * local, nodes in reverse."""
    cdef Py_ssize_t i
    cdef double g
    cdef Instr* p
    memset(adjoint, 0, n_slots * sizeof(double))
    adjoint[root] = 1.0
    for i in range(n_ops - 1, -1, -1):
        p = &code[i]
        g = adjoint[base + i]
        adjoint[p.a] += g * p.da
        if p.op >= BINARY:
            adjoint[p.b] += g * p.db     # a constant's slot collects a harmless extra term

# --------------------------------------------------------------------------------------
# Recording: the engine's depth-first walk, then one slot per node
# --------------------------------------------------------------------------------------


cdef str _refusal(Ops node):
    """Why a node cannot be recorded."""
    if _op_of(node) == FOREIGN:
        return (f"record replays the built-in primitives only, but f's graph holds a node "
                f"of the user-defined class {type(node).__module__}.{type(node).__qualname__}; "
                f"write it with the built-in functions, or use value_and_grad, which "
                f"rebuilds the graph on every call")
    return (f"record cannot replay a {type(node).__name__} node with {node.n} edge(s): "
            f"its .grad was set by hand")


cdef int* _ops_of(Walk* w) except NULL:
    """The instruction op of each node of a walk; TypeError for a node the tape cannot replay."""
    cdef Py_ssize_t i
    cdef int* ops = <int*>malloc(max(w.n, 1) * sizeof(int))
    if ops == NULL:
        raise MemoryError()
    for i in range(w.n):
        ops[i] = _op_of(<Ops>w.order[i])
        if not _replayable(<Ops>w.order[i], ops[i]):
            free(ops)
            raise TypeError(_refusal(<Ops>w.order[i]))
    return ops


cdef class Tape:
    """A function recorded by ``record``: replays its value and gradients for new inputs.

    ``tape(*args)`` is the value (a float), ``tape.grad(*args)`` the gradients and
    ``tape.value_and_grad(*args)`` both, with the shapes and conventions of
    ``value_and_grad(f, argnums)``.  The arguments must have the types and shapes of the
    example arguments given to ``record``.
    """
    cdef Instr* code        # n_ops instructions in topological order
    cdef double* vals       # n_slots values: inputs, constants, then instruction results
    cdef double* adjoint    # n_slots adjoints of the last backward sweep
    cdef Py_ssize_t n_ops, n_slots, n_inputs, base, root
    cdef Py_ssize_t n_args
    cdef Py_ssize_t* offset # per argument: its first input slot
    cdef Py_ssize_t* size   # per argument: how many elements (1 for a number)
    cdef tuple shapes       # per argument: None for a number, else the array's shape
    cdef tuple argnums      # the differentiated arguments
    cdef bint single        # argnums was an int: grads is one result, not a tuple
    cdef str name

    def __cinit__(self):
        self.code = NULL
        self.vals = NULL
        self.adjoint = NULL
        self.offset = NULL
        self.size = NULL

    def __dealloc__(self):
        free(self.code)
        free(self.vals)
        free(self.adjoint)
        free(self.offset)
        free(self.size)

    def __repr__(self):
        return (f"<Tape of {self.name}: {self.n_ops} instructions, {self.n_inputs} inputs, "
                f"{self.base - self.n_inputs} constants>")

    @property
    def n_ops(self):
        """How many instructions (operation nodes) the tape replays."""
        return self.n_ops

    @property
    def n_inputs(self):
        """How many input slots (the elements of all the arguments)."""
        return self.n_inputs

    @property
    def argnums(self):
        """The differentiated arguments: an int, or a tuple of ints."""
        return self.argnums[0] if self.single else self.argnums

    cdef int _load(self, tuple args) except -1:
        """Copy the arguments into the input slots, checking their types and shapes."""
        cdef Py_ssize_t k, j, n
        cdef double[::1] flat
        if len(args) != self.n_args:
            raise TypeError(f"the tape of {self.name} takes {self.n_args} argument(s) "
                            f"(as recorded), got {len(args)}")
        for k in range(self.n_args):
            arg = args[k]
            shape = self.shapes[k]
            if shape is None and type(arg) is float:
                self.vals[self.offset[k]] = <double>arg
                continue
            try:
                got, values = _args.as_values(arg)
            except TypeError:
                raise TypeError(f"argument {k} of the tape of {self.name} must be a real "
                                f"number or an array of real numbers, got "
                                f"{type(arg).__name__}") from None
            if got != shape and not (got in (None, ()) and shape in (None, ())):
                raise ValueError(f"argument {k} of the tape of {self.name} was recorded as "
                                 f"{_describe(shape)}, got {_describe(got)}")
            flat = values
            n = self.size[k]
            for j in range(n):
                self.vals[self.offset[k] + j] = flat[j]
        return 0

    cdef object _grads(self):
        """The gradients of the differentiated arguments, from the adjoints."""
        cdef Py_ssize_t i, k, j
        cdef double[::1] out
        results = []
        for i in self.argnums:
            k = i
            shape = self.shapes[k]
            if shape is None:
                results.append(self.adjoint[self.offset[k]])
            else:
                array = np.empty(self.size[k], dtype=np.float64)
                out = array
                for j in range(self.size[k]):
                    out[j] = self.adjoint[self.offset[k] + j]
                results.append(array.reshape(shape))
        return results[0] if self.single else tuple(results)

    def __call__(self, *args):
        """The value of the recorded function at args (a float)."""
        self._load(args)
        _forward(self.code, self.n_ops, self.vals, self.base)
        return self.vals[self.root]

    def value_and_grad(self, *args):
        """``(value, grads)`` at args, as ``value_and_grad(f, argnums)(*args)`` gives them."""
        self._load(args)
        _forward(self.code, self.n_ops, self.vals, self.base)
        _backward(self.code, self.n_ops, self.adjoint, self.n_slots, self.base, self.root)
        return self.vals[self.root], self._grads()

    def grad(self, *args):
        """The gradients at args, as ``grad(f, argnums)(*args)`` gives them."""
        return self.value_and_grad(*args)[1]


def _describe(shape):
    return "a number" if shape is None else f"an array of shape {shape}"


cdef dict _ENGINE = {name: getattr(_engine, name) for name in _engine.__all__}


def record(f, *example_args, argnums=0):
    """Record ``f`` once at example arguments; replay its value and gradients in C.

    ``f`` is a scalar function of numbers and float arrays, as for ``value_and_grad``.
    ``record`` runs it once on ``Var`` leaves made from ``example_args`` and keeps the
    graph it builds as a flat tape.  Every argument is an input of the tape; ``argnums``
    (an int or a tuple of ints) chooses the ones whose gradients are returned.

    >>> def f(a, b):
    ...     return (a / b - a) * (b / a + a + b) * (a - b)
    >>> tape = record(f, 230.3, 33.2, argnums=(0, 1))
    >>> value, (da, db) = tape.value_and_grad(230.3, 33.2)   # no graph is built
    >>> tape(1.0, 2.0) == f(1.0, 2.0)
    True

    Control flow is frozen at recording time, as in ``jax.jit``: a tape replays the
    operations that ``f`` made for the example arguments, whatever the new arguments are.
    Comparisons (``if x > 0``), ``float(x)``, ``x.value`` and anything else computed from a
    node's value rather than with nodes are taken at the example and kept::

        def f(x):
            return x * x if x > 0 else -x       # the branch depends on x

        tape = record(f, 2.0)                   # records x * x
        tape(-3.0)                              # 9.0, not f(-3.0) == 3.0

    Record again for inputs that take another branch (``record(f, -1.0)``), or write the
    branch with primitives that have it inside (``maximum``, ``relu``, ``absolute``).

    ``Var`` leaves that ``f`` captures rather than receives (model weights in a closure)
    are constants of the tape, frozen at their values of recording time: pass them as
    arguments to replay them.  The tape holds the built-in primitives only: a node of a
    user-defined class (a Python subclass of ``Ops``, the tutorial's way of adding a
    function) raises TypeError naming the class.  ``f`` must return a scalar (a node or a
    number; TypeError otherwise); if it returns a number the tape is constant.
    """
    cdef Py_ssize_t n, i, k, n_inputs, n_constants, n_ops, base, c, j
    cdef Walk w
    cdef Instr* p
    cdef int* slot = NULL
    cdef int* ops = NULL
    cdef Ops node
    cdef Ops child
    cdef Edge* e
    cdef Tape tape
    cdef int op
    call_args, slots, indices, single = _args.tape_inputs(_ENGINE, f, example_args, argnums)
    leaves = [leaf for s in slots for leaf in s.leaves]
    shapes = tuple(s.shape for s in slots)
    root = _args.scalar_output(_ENGINE, f(*call_args))

    tape = Tape.__new__(Tape)
    tape.name = _args.function_name(f)
    tape.shapes = shapes
    tape.argnums = indices
    tape.single = single
    tape.n_args = len(shapes)
    tape.offset = <Py_ssize_t*>malloc((tape.n_args + 1) * sizeof(Py_ssize_t))
    tape.size = <Py_ssize_t*>malloc((tape.n_args + 1) * sizeof(Py_ssize_t))
    if tape.offset == NULL or tape.size == NULL:
        raise MemoryError()
    n_inputs = 0
    for k in range(tape.n_args):
        tape.offset[k] = n_inputs
        tape.size[k] = 1 if shapes[k] is None else int(np.prod(shapes[k], dtype=np.int64))
        n_inputs += tape.size[k]
    tape.n_inputs = n_inputs

    if not isinstance(root, Ops):          # f returned a number: a constant tape
        tape.n_ops = 0
        tape.base = n_inputs + 1
        tape.n_slots = n_inputs + 1
        tape.root = n_inputs
        _allocate(tape)
        tape.vals[n_inputs] = <double>root
        return tape

    _topological_order(<Ops>root, &w)
    n = w.n
    try:
        ops = _ops_of(&w)
        slot = <int*>malloc(n * sizeof(int))
        if slot == NULL:
            raise MemoryError()
        # Input leaves reached by the walk get their input slots.
        for i in range(n):
            slot[i] = -1
        for k in range(n_inputs):
            node = <Ops>leaves[k]
            if node.mark > 0:
                slot[node.mark - 1] = <int>k
        # Count the constants and the instructions.
        n_constants = n_ops = 0
        for i in range(n):
            op = ops[i]
            if op == LEAF:
                n_constants += slot[i] == -1
            else:
                n_ops += 1
                n_constants += op >= BINARY and (<Ops>w.order[i]).n == 1   # its number operand
        base = n_inputs + n_constants
        tape.n_ops = n_ops
        tape.base = base
        tape.n_slots = base + n_ops
        _allocate(tape)
        # Constants take their values now; instructions point at their operands' slots.
        c = n_inputs
        j = 0
        for i in range(n):
            node = <Ops>w.order[i]
            op = ops[i]
            if op == LEAF:
                if slot[i] == -1:
                    tape.vals[c] = node.val
                    slot[i] = <int>c
                    c += 1
                continue
            e = _edges(node)
            p = &tape.code[j]
            p.op = op
            p.da = p.db = 0.0
            p.a = p.b = slot[(<Ops>e[0].child).mark - 1]
            if op >= BINARY:
                if node.n == 2:
                    p.b = slot[(<Ops>e[1].child).mark - 1]
                else:
                    tape.vals[c] = node.edges.one.constant
                    if node.edges.one.constant_first:
                        p.a = <int>c
                    else:
                        p.b = <int>c
                    c += 1
            slot[i] = <int>(base + j)
            j += 1
        tape.root = slot[n - 1]
    finally:
        _unmark(&w, NULL, 0)
        _free_walk(&w)
        free(ops)
        free(slot)
    return tape


cdef int _allocate(Tape tape) except -1:
    if tape.n_slots >= 0x7fffffff:
        raise MemoryError("graph too large to record")
    tape.code = <Instr*>malloc(max(tape.n_ops, 1) * sizeof(Instr))
    tape.vals = <double*>malloc(tape.n_slots * sizeof(double))
    tape.adjoint = <double*>malloc(tape.n_slots * sizeof(double))
    if tape.code == NULL or tape.vals == NULL or tape.adjoint == NULL:
        raise MemoryError()
    memset(tape.vals, 0, tape.base * sizeof(double))     # inputs and constants
    return 0
