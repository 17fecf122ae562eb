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

The rule this module is built by
--------------------------------
No borrowed pointer, walk mark, edge count or shared buffer is held across any point where
Python code can run.  Python code runs in more places than it looks: a user's
``__getitem__``, ``__iter__``, ``__float__``, ``__index__``, ``__array__``, ``__del__``, a
metaclass property (``type(node).__module__``), a weakref callback, and any finalizer the
cyclic GC runs, which can trigger on ANY Python allocation (a tuple, a float, a NumPy array,
an exception, the string of an error message).  Such code may call this very tape again
(re-entrancy), from this or another thread, or walk the same graph (nested walk).  So:

- Snapshot first, then act.  A call converts every argument to C doubles, into a workspace
  of its own, before the sweeps start; the sweeps and the copy of the results out of the
  workspace read nothing that Python code can change.
- Nothing a call writes is shared.  A tape's own arrays (instructions, constants, argument
  offsets) are written once by ``record`` and only read afterwards; values, local
  derivatives and adjoints live in a per-call workspace (see "Workspaces" below).
- Walk marks are reset before anything that can run Python.  ``record`` does all its work
  on the walk (classifying nodes, checking them, flattening them) in C that allocates no
  Python object; it keeps an owned reference to a node it refuses, resets the marks, frees
  the walk, and only then formats the refusal.
- Never trust a node's class or edge layout unchecked.  A node is replayed only if its
  class is exactly a built-in one, its edge count is the one its class makes, and its value
  and local derivatives are bit for bit what the class's rule gives from its operands at
  the example (so a ``.value`` or ``.grad`` set by hand is refused, not replayed with a rule
  ``get_gradients`` would not use).  Python subclasses of built-in classes are user classes.
- Tapes are made only by ``record``: ``Tape()``, ``Tape.__new__(Tape)`` and subclassing
  raise TypeError, and every method checks that the tape is complete.

Tangent and second-order sweeps (jvp, vjp, Jacobians, hvp, Hessians, sparse forms) are
in ``_sweeps.pxi``; they take larger workspaces from a second free list (``xcache``, by
size), with the same rules.

Workspaces
----------
A call needs ``2 * n_slots + 2 * n_ops`` doubles: values, adjoints, and the two local
derivatives of each instruction.  A tape keeps a small free list of workspaces; a call pops
one (or mallocs one, constants copied in once), owns it until its results are Python
objects, and pushes it back (or frees it if the list is full).  Popping and pushing are a
few C statements with no Python in between, so under the GIL (this module does not declare
free-threading support, so the GIL stays on) they are atomic with respect to other threads;
a re-entrant call made while a workspace is held simply takes another one.  The list holds
up to 8 workspaces of up to 256 KiB each, or 1 larger one, so a single-threaded caller
never mallocs after its first call and memory stays bounded.  Cost: a pop and a push per
call, and the local derivatives in their own array instead of inside the instructions.
"""
cimport cython
from cpython.object cimport PyObject, PyTypeObject, Py_TYPE
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.math cimport signbit
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

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
    BINARY = 1024           # an instruction's op: a UnaryOp, or BINARY + a BinaryOp
    N_PRIMITIVES = N_UNARY + N_BINARY   # PRIMITIVES lists the unary ones, then the binary
    POWC = N_UNARY          # x ** c for a number c (a Pow node with a constant exponent):
                            # the replay's own opcode, a unary op whose b is c's slot
    LEAF = -1               # a Var, or a primitive node made of numbers only (no edge)
    FOREIGN = -2            # not a built-in node class
    MAX_CACHED = 8          # workspaces a tape keeps for reuse (see "Workspaces")
    MAX_LANES = 64          # directions per vector sweep (Jacobians, Hessians)
    MAX_WORKSPACE = 1 << 22 # doubles (32 MiB): vector sweeps split their lanes to fit
    NOGIL_OPS = 256         # from this many instructions a sweep releases the GIL
    SMALL_WORKSPACE = 32768     # doubles (256 KiB): up to this size keep MAX_CACHED, else 1


cdef struct Instr:          # written once by record, then only read
    int op                  # UnaryOp, or BINARY + BinaryOp
    int a                   # slot of the (first) operand
    int b                   # slot of the second operand (binary); == a for a unary op


cdef struct Local:          # per call, in the workspace
    double da               # local derivative d out / d slot a
    double db               # d out / d slot b (binary)


# Why record refuses a node.
cdef enum:
    ACCEPT = 0
    REFUSE_CLASS = 1        # not exactly a built-in class (a user class or subclass)
    REFUSE_EDGES = 2        # an edge count its class does not make: .grad set by hand
    REFUSE_RULE = 3         # value or local derivative not what the class's rule gives
    NO_MEMORY = 4


# The built-in node classes by op, so that classifying a node is a pointer comparison.
cdef PyTypeObject* _classes[N_PRIMITIVES]
cdef PyTypeObject* _var_class = <PyTypeObject*>_engine.Var

# PRIMITIVES and the opcode enums both come from the table (_primitives.py), in its order.
assert len(_engine.PRIMITIVES) == <int>N_PRIMITIVES and <int>N_UNARY < <int>BINARY
for _i, _cls in enumerate(_engine.PRIMITIVES.values()):
    _classes[_i] = <PyTypeObject*>_cls
del _i, _cls
# The classes stay referenced by _engine (module globals) for the process's lifetime, so
# these pointers never dangle, and no other class can ever have their addresses.


# A small cache of type -> op, direct-mapped on the type's address: most graphs use a
# handful of classes, so the search through _classes happens once per class.  A stale
# entry (a freed user class whose address is reused) can only say FOREIGN for a class
# that is not built-in, which is right: a built-in class is never cached as FOREIGN.
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
    _cached_op[h] = op
    _cached_class[h] = t
    return op


cdef inline bint _same(double x, double y) noexcept nogil:
    """x and y are the same float: equal with the same sign of zero, or both NaN."""
    if x != x:
        return y != y
    return x == y and signbit(x) == signbit(y)


# --------------------------------------------------------------------------------------
# The sweeps: C loops over the instructions, on a workspace
# --------------------------------------------------------------------------------------


@cython.cdivision(True)
cdef void _forward(const Instr* code, Local* loc, Py_ssize_t n_ops, double* vals,
                   Py_ssize_t base) noexcept nogil:
    """Values and local derivatives of every instruction, in order."""
    cdef Py_ssize_t i
    cdef const Instr* p = code
    cdef double* out = vals + base
    cdef double a, b
    for i in range(n_ops):
        # The commonest operations first, written out: the same expressions as their rows
        # in _rules.pxd (so the same bits), without the dispatch through the rule tables.
        if p.op == BINARY + ADD:
            out[i] = vals[p.a] + vals[p.b]
            loc[i].da = 1.0
            loc[i].db = 1.0
        elif p.op == BINARY + MUL:
            a = vals[p.a]
            b = vals[p.b]
            out[i] = a * b
            loc[i].da = b
            loc[i].db = a
        elif p.op == POWC:
            out[i] = _power_const(vals[p.a], vals[p.b], &loc[i].da)
        elif p.op < BINARY:
            out[i] = _unary_rule(p.op, vals[p.a], &loc[i].da)
        else:
            out[i] = _binary_rule(p.op - BINARY, vals[p.a], vals[p.b], &loc[i].da, &loc[i].db)
        p += 1


cdef void _backward(const Instr* code, const Local* loc, Py_ssize_t n_ops, double* adjoint,
                    Py_ssize_t n_slots, Py_ssize_t base, Py_ssize_t root) noexcept nogil:
    """Adjoints of every slot: adjoint[child] += adjoint[node] * local, nodes in reverse."""
    cdef Py_ssize_t i
    cdef double g
    cdef const Instr* p
    memset(adjoint, 0, n_slots * sizeof(double))
    adjoint[root] = 1.0
    for i in range(n_ops - 1, -1, -1):
        p = &code[i]
        g = adjoint[base + i]
        adjoint[p.a] += g * loc[i].da
        if p.op >= BINARY:
            adjoint[p.b] += g * loc[i].db     # a constant's slot collects a harmless extra term


include "_sweeps.pxi"


# --------------------------------------------------------------------------------------
# Tapes
# --------------------------------------------------------------------------------------

cdef object _TOKEN = object()      # only record has it: Tape.__new__(Tape, _TOKEN)

@cython.auto_pickle(False)
@cython.final                # subclassing raises TypeError: not an acceptable base type
cdef class Tape:
    """A function recorded by ``record``: replays its value and gradients for new inputs.

    ``tape(*args)`` is the value (a float, or a float64 array for a function with several
    outputs), ``tape.grad(*args)`` the gradients and ``tape.value_and_grad(*args)`` both,
    with the shapes and conventions of ``value_and_grad(f, argnums)``.  Beyond the
    gradient: ``jvp(*args, tangent)``, ``vjp(*args, cotangent)``, ``jacobian(*args)``,
    ``hvp(*args, v)``, ``hessian(*args)``, ``sparse_jacobian(*args)`` and
    ``sparse_hessian(*args)`` (with ``jacobian_sparsity()`` / ``hessian_sparsity()``), all
    with respect to the arguments chosen by ``argnums`` at ``record``, the others held
    fixed.  The arguments must have the types and shapes of the example arguments given to
    ``record``.  A tape may be called from several threads at
    once, and re-entrantly (from an argument's ``__float__``): each call works in a
    workspace of its own.  Tapes are made by ``record`` only; they pickle and copy
    (``_tape_pickle.pxi``), and ``vmap()`` gives a batched view over many points.
    """
    # Written once by record, then only read:
    cdef Instr* code        # n_ops instructions in topological order
    cdef double* constants  # base - n_inputs constant values (slots n_inputs .. base - 1)
    cdef Py_ssize_t n_ops, n_slots, n_inputs, base, root, n_work
    cdef Py_ssize_t n_out   # outputs: 1 for a scalar f
    cdef Py_ssize_t* outs   # per output, in C order: its slot (outs[0] == root)
    cdef object out_shape   # None: f returned a scalar (a float); else a tuple: the shape
                            # of the float64 array that tape(...) returns
    cdef Py_ssize_t n_args
    cdef Py_ssize_t* offset # per argument: its first input slot
    cdef Py_ssize_t* size   # per argument: how many elements (1 for a number)
    cdef tuple shapes       # per argument: None for a number, else the array's shape
    cdef tuple argnums      # the differentiated arguments
    cdef bint single        # argnums was an int: grads is one result, not a tuple
    cdef bint ready         # record finished: every field above is set
    cdef str name
    # The free list of workspaces (see the module docstring), popped and pushed in C only.
    cdef double* cache[MAX_CACHED]
    cdef int n_cached, max_cached
    # Derived once, on first use (a complete array published by one pointer store, with no
    # Python in between, so two threads building it at once is harmless):
    cdef unsigned char* act # n_slots + n_ops bytes: per slot, 1 if active (depends on a
                            # differentiated input); then per instruction iact (_sweeps.pxi)
    cdef Py_ssize_t* cols   # per direction (differentiated element, in argnums order): its slot
    cdef Py_ssize_t n_dir   # how many directions
    cdef object jplan, hplan    # sparsity plans (autodiff._sparsity), built on first use and
                                # prepared (_args.PreparedPlan)
    # Larger workspaces (tangent and vector sweeps), with their sizes in doubles.
    cdef double* xcache[MAX_CACHED]
    cdef Py_ssize_t xsize[MAX_CACHED]
    cdef int n_xcached

    def __cinit__(self, *args):
        self.code = NULL
        self.constants = NULL
        self.offset = NULL
        self.size = NULL
        self.outs = NULL
        self.act = NULL
        self.cols = NULL
        self.n_dir = 0
        self.jplan = None
        self.hplan = None
        self.n_xcached = 0
        self.n_out = 0
        self.out_shape = None
        self.n_cached = 0
        self.max_cached = 0
        self.ready = False
        self.name = "?"
        if len(args) != 1 or args[0] is not _TOKEN:
            raise TypeError("a Tape cannot be made directly; call "
                            "autodiff.record(f, *example_args) to record one")

    def __init__(self, *args):
        pass                    # __cinit__ has refused every construction but record's

    def __dealloc__(self):
        cdef int i
        for i in range(self.n_cached):
            free(self.cache[i])
        self.n_cached = 0
        for i in range(self.n_xcached):
            free(self.xcache[i])
        self.n_xcached = 0
        free(self.act)
        free(self.cols)
        free(self.code)
        free(self.constants)
        free(self.offset)
        free(self.size)
        free(self.outs)

    def __repr__(self):
        if not self.ready:
            return "<Tape (incomplete)>"
        return (f"<Tape of {self.name}: {self.n_ops} instructions, {self.n_inputs} inputs, "
                f"{self.base - self.n_inputs} constants>")

    # Pickling and copying: autodiff/_tape_pickle.pxi.
    def __reduce__(self):
        return _reduce(self)

    def __reduce_ex__(self, protocol):
        return _reduce(self)

    def __copy__(self):
        return _copy(self)

    def __deepcopy__(self, memo):
        return _copy(self)

    # Many points at once: autodiff/_batch.pxi.
    def vmap(self, in_axes=0):
        """A batched view of this tape: every argument gets a leading axis of points."""
        self._check()
        return _vmap(self, in_axes)

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
        self._check()
        return self.argnums[0] if self.single else self.argnums

    cdef inline int _check(self) except -1:
        if not self.ready:
            raise TypeError("this Tape was never completed by record; call "
                            "autodiff.record(f, *example_args) to record one")
        return 0

    # Workspaces: ws[0:n_slots] values, ws[n_slots:2 n_slots] adjoints, then n_ops Locals.
    # _take and _give run no Python code (the MemoryError is raised with nothing taken).

    cdef double* _take(self) except NULL:
        cdef double* ws
        if self.n_cached > 0:
            self.n_cached -= 1
            return self.cache[self.n_cached]
        ws = <double*>malloc(self.n_work * sizeof(double))
        if ws == NULL:
            raise MemoryError()
        memcpy(ws + self.n_inputs, self.constants, (self.base - self.n_inputs) * sizeof(double))
        return ws

    cdef void _give(self, double* ws) noexcept:
        if self.n_cached < self.max_cached:
            self.cache[self.n_cached] = ws
            self.n_cached += 1
        else:
            free(ws)

    cdef int _load(self, tuple args, double* vals) except -1:
        """Copy the arguments into the input slots of vals, checking their types and shapes.

        Python code runs here (``__float__``, ``__array__``, NumPy): vals belongs to this
        call only, and nothing else is read from it until the sweeps.
        """
        cdef Py_ssize_t k, j, n, n_args = self.n_args
        cdef double[::1] flat
        if len(args) != n_args:
            raise TypeError(f"the tape of {self.name} takes {n_args} argument(s), as "
                            f"recorded, got {len(args)}; pass the same arguments as the "
                            f"examples given to record, with new values")
        for k in range(n_args):
            arg = args[k]
            shape = self.shapes[k]
            if shape is None and type(arg) is float:
                vals[self.offset[k]] = <double>arg
                continue
            try:
                got, values = _args.as_values(arg)
            except TypeError:
                raise TypeError(f"argument {k} of the tape of {self.name} must be a real "
                                f"number or an array of real numbers, got "
                                f"{type(arg).__name__}; pass a float or a float array "
                                f"(bind any other argument of f with functools.partial "
                                f"before record)") from None
            if got != shape and not (_scalar_shape(got) and _scalar_shape(shape)):
                raise ValueError(f"argument {k} of the tape of {self.name} was recorded as "
                                 f"{_describe(shape)}, got {_describe(got)}; pass "
                                 f"{_describe(shape)}, or call record again with an "
                                 f"example of the new shape")
            flat = values
            n = self.size[k]
            if flat.shape[0] != n:          # re-validate: never copy past the slots
                raise ValueError(f"argument {k} of the tape of {self.name} gave "
                                 f"{flat.shape[0]} values for {n} slots")
            for j in range(n):
                vals[self.offset[k] + j] = flat[j]
        return 0

    cdef object _grads(self, const double* adjoint):
        """The gradients of the differentiated arguments, from a workspace's adjoints."""
        cdef Py_ssize_t i, k, j
        cdef double[::1] out
        results = []
        for i in self.argnums:
            k = i
            shape = self.shapes[k]
            if shape is None:
                results.append(adjoint[self.offset[k]])
            else:
                array = np.empty(self.size[k], dtype=np.float64)
                out = array
                for j in range(self.size[k]):
                    out[j] = adjoint[self.offset[k] + j]
                results.append(array.reshape(shape))
        return results[0] if self.single else tuple(results)

    # Derived arrays and larger workspaces.  _prepare and _take_x/_give_x run no Python
    # between allocating and publishing (the MemoryError is raised with nothing published).

    cdef int _prepare(self) except -1:
        """Build act and cols on first use (see the fields)."""
        cdef Py_ssize_t i, j, k, s, n_dir = 0
        cdef unsigned char* act
        cdef unsigned char* iact
        cdef Py_ssize_t* cols
        cdef const Instr* p
        cdef int f
        if self.act != NULL:
            return 0
        for i in self.argnums:
            n_dir += self.size[<Py_ssize_t>i]
        argnums = self.argnums
        act = <unsigned char*>malloc(self.n_slots + self.n_ops + 1)
        cols = <Py_ssize_t*>malloc(max(n_dir, 1) * sizeof(Py_ssize_t))
        if act == NULL or cols == NULL:
            free(act)
            free(cols)
            raise MemoryError()
        memset(act, 0, self.n_slots + self.n_ops + 1)
        iact = act + self.n_slots
        j = 0
        for i in range(len(argnums)):
            k = argnums[i]
            for s in range(self.offset[k], self.offset[k] + self.size[k]):
                act[s] = 1
                cols[j] = s
                j += 1
        for i in range(self.n_ops):
            p = &self.code[i]
            f = act[p.a]
            if p.op >= BINARY:
                f |= act[p.b] << 1
            iact[i] = <unsigned char>f
            act[self.base + i] = f != 0
        if self.act == NULL:        # no Python ran since the check: publish
            self.cols = cols
            self.n_dir = n_dir
            self.act = act
        else:
            free(act)
            free(cols)
        return 0

    cdef double* _take_x(self, Py_ssize_t n) except NULL:
        """A workspace of at least n >= n_work doubles, constants in place (vals first)."""
        cdef int i
        cdef double* ws
        for i in range(self.n_xcached - 1, -1, -1):
            if self.xsize[i] == n:
                ws = self.xcache[i]
                self.n_xcached -= 1
                self.xcache[i] = self.xcache[self.n_xcached]
                self.xsize[i] = self.xsize[self.n_xcached]
                return ws
        ws = <double*>malloc(max(n, 1) * sizeof(double))
        if ws == NULL:
            raise MemoryError()
        memcpy(ws + self.n_inputs, self.constants, (self.base - self.n_inputs) * sizeof(double))
        return ws

    cdef void _give_x(self, double* ws, Py_ssize_t n) noexcept:
        """Keep up to MAX_CACHED workspaces of up to 4 SMALL_WORKSPACE doubles, and at most
        one larger one (so a single-threaded caller of one method never mallocs again)."""
        cdef int i
        cdef bint keep = self.n_xcached < MAX_CACHED
        if keep and n > 4 * SMALL_WORKSPACE:
            for i in range(self.n_xcached):
                if self.xsize[i] > 4 * SMALL_WORKSPACE:
                    keep = False
        if keep:
            self.xcache[self.n_xcached] = ws
            self.xsize[self.n_xcached] = n
            self.n_xcached += 1
        else:
            free(ws)

    cdef Py_ssize_t _lanes(self, Py_ssize_t wanted, Py_ssize_t per_lane) noexcept:
        """How many lanes a vector sweep carries: at most wanted and MAX_LANES, and few
        enough that the workspace stays within MAX_WORKSPACE doubles (at least 1)."""
        cdef Py_ssize_t L = min(wanted, <Py_ssize_t>MAX_LANES)
        while L > 1 and self.n_work + L * per_lane > MAX_WORKSPACE:
            L //= 2
        return max(L, 1)

    cdef void _view(self, TapeView* v):
        """The read-only part of the tape that one point's sweeps read (_sweeps.pxi)."""
        v.code = self.code
        v.n_ops = self.n_ops
        v.n_slots = self.n_slots
        v.n_work = self.n_work
        v.base = self.base
        v.root = self.root
        v.n_out = self.n_out
        v.n_dir = self.n_dir
        v.outs = self.outs
        v.cols = self.cols
        v.act = self.act

    cdef object _outputs(self, const double* vals):
        """The outputs from a workspace's values: a float, or a float64 array of out_shape."""
        cdef Py_ssize_t k
        cdef double[::1] out
        if self.out_shape is None:
            return vals[self.root]
        array = np.empty(self.n_out, dtype=np.float64)
        out = array
        for k in range(self.n_out):
            out[k] = vals[self.outs[k]]
        return array.reshape(self.out_shape)

    cdef int _scalar_only(self, str what) except -1:
        if self.out_shape is not None:
            raise TypeError(f"{what} needs a tape of a scalar function, but {self.name} "
                            f"returned an array of shape {self.out_shape}; use "
                            f"tape.jacobian(*args) for all the derivatives, or "
                            f"tape.vjp(*args, cotangent) for one weighted sum of them")
        return 0

    cdef tuple _split(self, tuple args, str what):
        """(args, last): the primal arguments and the trailing tangent-like one."""
        if len(args) == 0:
            raise TypeError(f"tape.{what} takes the tape's {self.n_args} argument(s) and then "
                            f"the {what} vector; got no arguments")
        return args[:len(args) - 1], args[len(args) - 1]

    def __call__(self, *args):
        """The value of the recorded function at args: a float for a scalar function, else a
        float64 array of the shape f returned (a sequence gives shape (len,))."""
        cdef double* ws
        cdef Local* loc
        self._check()
        ws = self._take()
        try:
            self._load(args, ws)
            loc = <Local*>(ws + 2 * self.n_slots)
            if self.n_ops >= NOGIL_OPS:
                with nogil:
                    _forward(self.code, loc, self.n_ops, ws, self.base)
            else:
                _forward(self.code, loc, self.n_ops, ws, self.base)
            value = self._outputs(ws)
        finally:
            self._give(ws)
        return value

    def value_and_grad(self, *args):
        """``(value, grads)`` at args, as ``value_and_grad(f, argnums)(*args)`` gives them.

        For a scalar function only (TypeError otherwise: see ``jacobian`` and ``vjp``)."""
        cdef double value
        cdef double* ws
        cdef Local* loc
        self._check()
        self._scalar_only("value_and_grad")
        ws = self._take()
        try:
            self._load(args, ws)
            loc = <Local*>(ws + 2 * self.n_slots)
            if self.n_ops >= NOGIL_OPS:
                with nogil:
                    _forward(self.code, loc, self.n_ops, ws, self.base)
                    _backward(self.code, loc, self.n_ops, ws + self.n_slots, self.n_slots,
                              self.base, self.root)
            else:
                _forward(self.code, loc, self.n_ops, ws, self.base)
                _backward(self.code, loc, self.n_ops, ws + self.n_slots, self.n_slots,
                          self.base, self.root)
            value = ws[self.root]
            grads = self._grads(ws + self.n_slots)
        finally:
            self._give(ws)
        return value, grads

    def grad(self, *args):
        """The gradients at args, as ``grad(f, argnums)(*args)`` gives them."""
        return self.value_and_grad(*args)[1]

    def jvp(self, *args):
        """``tape.jvp(*args, tangent)`` -> ``(value, J . tangent)``: forward mode.

        ``tangent`` is structured like the differentiated arguments: a number or an array of
        the argument's shape when argnums is an int, else a tuple with one per argnum.  The
        result has the shape of the value (a float for a scalar function).  One forward
        sweep; inputs outside argnums do not vary.
        """
        cdef Py_ssize_t n_dir
        cdef double* ws
        cdef double[::1] tv
        cdef double[::1] out
        cdef TapeView view
        self._check()
        self._prepare()
        primals, tangent = self._split(args, "jvp")
        tangent = _args.tape_directions(tangent, self.shapes, self.argnums, self.single,
                                        "the tangent")
        tv = tangent
        n_dir = self.n_dir
        if tv.shape[0] != n_dir:
            raise ValueError("the tangent has the wrong number of elements")
        result = np.empty(self.n_out, dtype=np.float64)
        out = result
        ws = self._take_x(self.n_work + self.n_slots)
        try:
            self._load(primals, ws)
            self._view(&view)
            _jvp_point(&view, ws, &tv[0] if n_dir > 0 else NULL,
                       &out[0] if self.n_out > 0 else NULL)
            value = self._outputs(ws)
        finally:
            self._give_x(ws, self.n_work + self.n_slots)
        if self.out_shape is None:
            return value, float(result[0])
        return value, result.reshape(self.out_shape)

    def vjp(self, *args):
        """``tape.vjp(*args, cotangent)`` -> ``(value, cotangent . J)``: reverse mode.

        ``cotangent`` has the shape of the value (a number for a scalar function); the
        result is structured like ``grad``'s.  One reverse sweep seeded with the cotangent
        at every output; ``vjp(*args, 1.0)`` of a scalar tape is its gradient, bit for bit.
        """
        cdef double* ws
        cdef double[::1] cv
        cdef TapeView view
        self._check()
        self._prepare()
        primals, cotangent = self._split(args, "vjp")
        cv = _args.tape_cotangent(cotangent, self.out_shape, "the cotangent")
        if cv.shape[0] != self.n_out:
            raise ValueError("the cotangent has the wrong number of elements")
        ws = self._take()
        try:
            self._load(primals, ws)
            self._view(&view)
            _vjp_point(&view, ws, &cv[0] if self.n_out > 0 else NULL)
            value = self._outputs(ws)
            grads = self._grads(ws + self.n_slots)
        finally:
            self._give(ws)
        return value, grads

    cdef object _jacobian_matrix(self, tuple args):
        """The (n_out, n_dir) Jacobian: forward vector mode when there are fewer directions
        than outputs, else one reverse sweep per output."""
        cdef Py_ssize_t L = 1, size
        cdef double* ws
        cdef double[:, ::1] J
        cdef TapeView view
        cdef bint forward = self.n_dir < self.n_out
        matrix = np.zeros((self.n_out, self.n_dir), dtype=np.float64)
        J = matrix
        if forward:
            L = self._lanes(self.n_dir, self.n_slots)
            size = self.n_work + L * self.n_slots
        else:
            size = self.n_work + self.n_slots
        ws = self._take_x(size)
        try:
            self._load(args, ws)
            self._view(&view)
            if self.n_out == 0 or self.n_dir == 0:
                pass                    # nothing to sweep for: the arguments are checked
            elif forward:
                _jacobian_forward(&view, ws, NULL, self.n_dir, L, &J[0, 0])
            else:
                _jacobian_reverse(&view, ws, &J[0, 0])
        finally:
            self._give_x(ws, size)
        return matrix

    def jacobian(self, *args):
        """The Jacobian at args, in JAX's layout: for each differentiated argument an array
        of shape ``out_shape + arg_shape`` (a float when both are scalars); a tuple of them
        when argnums is a tuple.  Forward vector mode (several directions per sweep) when
        the differentiated elements are fewer than the outputs, else one reverse sweep per
        output, as ADOL-C chooses.  Column j is bit for bit ``jvp`` along the j-th basis
        vector (forward mode); a scalar tape's Jacobian is its gradient.
        """
        self._check()
        self._prepare()
        matrix = self._jacobian_matrix(args)
        lead = () if self.out_shape is None else tuple(self.out_shape)
        return _args.split_columns(matrix, lead, self.shapes, self.argnums, self.single)

    def hvp(self, *args):
        """``tape.hvp(*args, v)`` -> ``H . v``, structured like ``grad`` (scalar tapes only).

        ``v`` is structured like the differentiated arguments (as jvp's tangent).
        Forward-over-reverse: one forward sweep of values, local derivatives, their
        tangents along v and the tangents of the locals (from the second partials), then
        one reverse sweep of adjoints and their tangents.  For SciPy's ``hessp``.
        """
        cdef Py_ssize_t n_dir
        cdef double* ws
        cdef const double* d
        cdef double[::1] vv
        cdef TapeView view
        self._check()
        self._scalar_only("hvp")
        self._prepare()
        primals, v = self._split(args, "hvp")
        vv = _args.tape_directions(v, self.shapes, self.argnums, self.single, "v")
        n_dir = self.n_dir
        if vv.shape[0] != n_dir:
            raise ValueError("v has the wrong number of elements")
        ws = self._take_x(2 * self.n_work)
        try:
            self._load(primals, ws)
            self._view(&view)
            d = &vv[0] if n_dir > 0 else NULL
            if self.n_ops >= NOGIL_OPS:
                with nogil:
                    _hvp_point(&view, ws, d)
            else:
                _hvp_point(&view, ws, d)
            grads = self._grads(ws + self.n_work + self.n_slots)
        finally:
            self._give_x(ws, 2 * self.n_work)
        return grads

    cdef object _hessian_matrix(self, tuple args, object seed):
        """H . seed (n_dir, n_cols) by vector forward-over-reverse sweeps (see the lane
        kernels in _sweeps.pxi), W directions per chunk; seed None: the identity (the dense
        Hessian).  seed is C-contiguous float64 (a prepared plan's)."""
        cdef Py_ssize_t n_dir = self.n_dir, n_cols, W, size
        cdef double* ws
        cdef const double* S = NULL
        cdef const double[:, ::1] seed_view
        cdef double[:, ::1] H
        n_cols = n_dir
        if seed is not None:
            seed_view = seed
            if seed_view.shape[0] != n_dir:
                raise ValueError("the seed matrix has the wrong number of rows")
            n_cols = seed_view.shape[1]
            if n_dir > 0 and n_cols > 0:
                S = &seed_view[0, 0]
        matrix = np.empty((n_dir, n_cols), dtype=np.float64)
        H = matrix
        if n_dir == 0 or n_cols == 0:
            return matrix
        W = _hessian_width(n_cols, self.n_slots)
        size = _hessian_workspace(self.n_work, self.n_ops, self.n_slots, W)
        ws = self._take_x(size)
        try:
            self._load(args, ws)
            if self.n_ops >= NOGIL_OPS:
                with nogil:
                    _hessian_chunked(self.code, self.n_ops, self.n_slots, self.n_work, ws,
                                     self.act + self.n_slots, self.base, self.root, self.cols,
                                     n_dir, S, n_cols, &H[0, 0], W)
            else:
                _hessian_chunked(self.code, self.n_ops, self.n_slots, self.n_work, ws,
                                 self.act + self.n_slots, self.base, self.root, self.cols,
                                 n_dir, S, n_cols, &H[0, 0], W)
        finally:
            self._give_x(ws, size)
        return matrix

    def hessian(self, *args):
        """The dense Hessian at args (scalar tapes only), in JAX's layout: an array of shape
        ``arg_shape + arg_shape`` (a float for a number) when argnums is an int, else a tuple
        of tuples, ``H[i][j]`` of shape ``shape_i + shape_j``.  Vector forward-over-reverse
        sweeps, several directions per sweep; column j is bit for bit ``hvp`` along the j-th
        basis vector.
        """
        self._check()
        self._scalar_only("hessian")
        self._prepare()
        matrix = self._hessian_matrix(args, None)
        return _args.split_hessian(matrix, self.shapes, self.argnums, self.single)

    cdef object _compressed_jacobian(self, tuple args, object seed):
        """J . seed (n_out, n_colours) by forward vector sweeps, lanes in chunks; seed is
        C-contiguous float64 (a prepared plan's)."""
        cdef Py_ssize_t L, n_cols, size
        cdef double* ws
        cdef double[:, ::1] J
        cdef const double[:, ::1] S = seed
        cdef TapeView view
        if S.shape[0] != self.n_dir:
            raise ValueError("the seed matrix has the wrong number of rows")
        n_cols = S.shape[1]
        matrix = np.zeros((self.n_out, n_cols), dtype=np.float64)
        J = matrix
        L = self._lanes(max(n_cols, 1), self.n_slots)
        size = self.n_work + L * self.n_slots
        ws = self._take_x(size)
        try:
            self._load(args, ws)
            self._view(&view)
            if self.n_out > 0 and n_cols > 0 and self.n_dir > 0:
                _jacobian_forward(&view, ws, &S[0, 0], n_cols, L, &J[0, 0])
        finally:
            self._give_x(ws, size)
        return matrix

    def _instructions(self):
        """``(code, base, n_inputs, outs)``: the tape's instructions for analyses such as
        autodiff._sparsity.  ``code`` is an int32 array (n_ops, 3) of ``[op, a, b]``: op a
        unary row i < N_UNARY of the primitive table, POWC == N_UNARY (x ** c for a number
        c, b the slot of c), or 1024 + j for binary row j; a and b are slots (b == a for a
        unary op).  ``outs`` is an int64 array of the outputs' slots, in C order."""
        cdef Py_ssize_t i
        cdef int[:, ::1] c
        cdef long long[::1] o
        self._check()
        code = np.empty((self.n_ops, 3), dtype=np.int32)
        outs = np.empty(self.n_out, dtype=np.int64)
        c = code
        o = outs
        for i in range(self.n_ops):
            c[i, 0] = self.code[i].op
            c[i, 1] = self.code[i].a
            c[i, 2] = self.code[i].b
        for i in range(self.n_out):
            o[i] = self.outs[i]
        return code, self.base, self.n_inputs, outs

    def _plan(self, str kind):
        """The sparsity plan of this tape (kind "jacobian" or "hessian"), built and prepared
        (``_args.PreparedPlan``) once."""
        plan = self.jplan if kind == "jacobian" else self.hplan
        if plan is not None:
            return plan
        self._prepare()
        plan = _args.prepare_plan(_sparse_plan(self, kind),
                                  self.n_out if kind == "jacobian" else self.n_dir, self.n_dir)
        if kind == "jacobian":
            self.jplan = plan
        else:
            self.hplan = plan
        return plan

    def jacobian_sparsity(self):
        """The Jacobian's sparsity pattern: a scipy.sparse.csr_array of ones, shape
        (outputs, differentiated elements), found once per tape and cached."""
        self._check()
        return _pattern(self._plan("jacobian"))

    def hessian_sparsity(self):
        """The Hessian's sparsity pattern (scalar tapes): a scipy.sparse.csr_array of ones,
        shape (n, n) over the differentiated elements, found once per tape and cached."""
        self._check()
        self._scalar_only("hessian_sparsity")
        return _pattern(self._plan("hessian"))

    def sparse_jacobian(self, *args, out=None):
        """The Jacobian at args as a ``scipy.sparse.csr_array`` of shape (outputs in C order,
        differentiated elements in argnums order), with the pattern of
        ``jacobian_sparsity()``: one compressed forward vector sweep, one lane per colour of
        the cached column colouring.  With ``out`` (a writable contiguous float64 array of
        length nnz) the values alone are written there, in the pattern's order, and ``out``
        is returned.  SciPy is imported only here."""
        self._check()
        plan = self._plan("jacobian")
        compressed = self._compressed_jacobian(args, _seed(plan, self.n_dir))
        return _gather(plan, compressed, out)

    def sparse_hessian(self, *args, out=None):
        """The Hessian at args as a ``scipy.sparse.csr_array`` (n, n) over the differentiated
        elements, with the pattern of ``hessian_sparsity()``: one compressed vector
        forward-over-reverse sweep, a lane per colour of the cached symmetric colouring.
        ``out``: as for ``sparse_jacobian``."""
        self._check()
        self._scalar_only("sparse_hessian")
        plan = self._plan("hessian")
        compressed = self._hessian_matrix(args, _seed(plan, self.n_dir))
        return _gather(plan, compressed, out)


cdef object _seed(object plan, Py_ssize_t n_dir):
    return _args.plan_seed(plan, n_dir)


cdef object _gather(object plan, object compressed, object out):
    """The values of compressed (n_rows, n_colours), as the plan's take reads them, into a
    csr_array or into out (as _args.sparse_result: out checked after the sweep)."""
    cdef Py_ssize_t k, nnz
    cdef const double[:, ::1] C = compressed
    cdef const Py_ssize_t[::1] take = plan.take
    cdef double[::1] D
    cdef const double* c
    if C.shape[0] != plan.shape[0] or C.shape[1] != plan.n_colours:
        raise ValueError("the compressed matrix does not match the sparsity plan")
    dest = _args.sparse_destination(plan, out)
    D = dest
    nnz = take.shape[0]
    if nnz > 0:                 # take was checked in [0, n_rows * n_colours) by the plan
        c = &C[0, 0]
        for k in range(nnz):
            D[k] = c[take[k]]
    return dest if out is not None else _args.sparse_array(plan, dest)


cdef object _pattern(object plan):
    return _args.sparsity_pattern(plan)


cdef object _sparse_plan(Tape tape, str kind):
    from autodiff import _sparsity
    code, base, n_inputs, outs = tape._instructions()
    columns = np.array([tape.cols[j] for j in range(tape.n_dir)], dtype=np.int64)
    if kind == "jacobian":
        return _sparsity.jacobian_plan(code, base, n_inputs, outs, columns)
    return _sparsity.hessian_plan(code, base, n_inputs, tape.root, columns)


cdef inline bint _scalar_shape(object shape):
    """A number (None) or a 0-d array (()): interchangeable as arguments."""
    return shape is None or (type(shape) is tuple and len(<tuple>shape) == 0)


def _describe(shape):
    return "a number" if shape is None else f"an array of shape {shape}"


# --------------------------------------------------------------------------------------
# Recording: the engine's depth-first walk, then one slot per node
# --------------------------------------------------------------------------------------


cdef dict _ENGINE = {name: getattr(_engine, name) for name in _engine.__all__}


cdef str _class_name(object node, bint qualified):
    """The node's class, as the user wrote it; never fails (a metaclass may lie or raise)."""
    cls = type(node)
    try:
        if qualified:
            return f"{cls.__module__}.{cls.__qualname__}"
        return str(cls.__name__)
    except Exception:
        return (<bytes>Py_TYPE(node).tp_name).decode("utf-8", "replace")


cdef str _refusal(object node, int why):
    """Why a node cannot be recorded (called with the walk's marks already reset)."""
    cdef Ops op_node = <Ops>node
    if why == REFUSE_CLASS:
        return (f"record replays the built-in primitives only, but f's graph holds a node "
                f"of the user-defined class {_class_name(node, True)}; write it with the "
                f"built-in functions, or use value_and_grad, which rebuilds the graph on "
                f"every call")
    if why == REFUSE_EDGES:
        return (f"record cannot replay a {_class_name(node, False)} node with {op_node.n} "
                f"edge(s): its .grad was set by hand; use value_and_grad, which follows "
                f"the graph as built")
    return (f"record cannot replay a {_class_name(node, False)} node whose value or local "
            f"derivative is not what its rule gives from its operands (set by hand, or an "
            f"operand's value changed after the node was made); use value_and_grad, which "
            f"follows the graph as built")


cdef int _layout(Ops node, int op) noexcept:
    """ACCEPT, or why the node's class and edge count cannot be replayed."""
    if op == FOREIGN:
        return REFUSE_CLASS
    if node.n == 0:
        return ACCEPT                   # a Var, or a primitive node of numbers: a constant
    if op == LEAF:
        return REFUSE_EDGES             # a Var with edges
    if op < BINARY:
        return ACCEPT if node.n == 1 else REFUSE_EDGES
    return ACCEPT if node.n == 1 or node.n == 2 else REFUSE_EDGES


cdef int _flatten(Tape tape, Walk* w, Py_ssize_t n, PyObject** inputs,
                  const double* example, PyObject** out_nodes, const double* out_values,
                  PyObject** bad) noexcept:
    """Classify, check and flatten the first n walked nodes into tape; pure C, no Python runs.

    ``out_nodes[k]`` is output k's node (walked), or NULL for a number output whose value is
    ``out_values[k]`` (it gets a constant slot).  Returns ACCEPT, NO_MEMORY, or why the node
    put (as an owned reference) in ``*bad`` is refused.  Allocates tape.code,
    tape.constants and tape.outs and sets the counts.
    """
    cdef int why
    cdef int* ops = <int*>malloc(max(n, 1) * sizeof(int))
    cdef int* slot = <int*>malloc(max(n, 1) * sizeof(int))
    if ops == NULL or slot == NULL:
        why = NO_MEMORY
    else:
        why = _flatten_with(tape, w, n, inputs, example, out_nodes, out_values, bad, ops, slot)
    free(ops)
    free(slot)
    return why


cdef int _flatten_with(Tape tape, Walk* w, Py_ssize_t n, PyObject** inputs,
                       const double* example, PyObject** out_nodes, const double* out_values,
                       PyObject** bad, int* ops, int* slot) noexcept:
    cdef Py_ssize_t n_inputs = tape.n_inputs
    cdef Py_ssize_t i, k, n_ops, n_constants, base
    cdef int op, why
    cdef Ops node
    cdef Ops leaf
    cdef double* vals
    # Classes and edge layouts first: nothing else is read from a node that fails them.
    for i in range(n):
        node = <Ops>w.order[i]
        op = _class_op(Py_TYPE(node))
        why = _layout(node, op)
        if why != ACCEPT:
            Py_INCREF(node)
            bad[0] = <PyObject*>node
            return why
        ops[i] = LEAF if node.n == 0 else op
        slot[i] = -1
    # Input leaves reached by the walk get their input slots (marks are 1 + position).
    for k in range(n_inputs):
        leaf = <Ops>inputs[k]
        if 0 < leaf.mark <= n and w.order[leaf.mark - 1] == inputs[k]:
            slot[leaf.mark - 1] = <int>k
    # Count the constants and the instructions.
    n_constants = n_ops = 0
    for i in range(n):
        if ops[i] == LEAF:
            n_constants += slot[i] == -1
        else:
            n_ops += 1
            n_constants += ops[i] >= BINARY and (<Ops>w.order[i]).n == 1   # its number
    for k in range(tape.n_out):
        n_constants += out_nodes[k] == NULL         # a number output: a constant slot
    base = n_inputs + n_constants
    if base + n_ops >= 0x3fffffff:
        return NO_MEMORY
    tape.n_ops = n_ops
    tape.base = base
    tape.n_slots = base + n_ops
    tape.code = <Instr*>malloc(max(n_ops, 1) * sizeof(Instr))
    tape.constants = <double*>malloc(max(n_constants, 1) * sizeof(double))
    tape.outs = <Py_ssize_t*>malloc(max(tape.n_out, 1) * sizeof(Py_ssize_t))
    vals = <double*>malloc(tape.n_slots * sizeof(double))
    if tape.code == NULL or tape.constants == NULL or tape.outs == NULL or vals == NULL:
        free(vals)
        return NO_MEMORY
    why = _fill(tape, w, n, example, out_nodes, out_values, bad, ops, slot, vals)
    free(vals)
    return why


cdef int _fill(Tape tape, Walk* w, Py_ssize_t n, const double* example,
               PyObject** out_nodes, const double* out_values, PyObject** bad, int* ops,
               int* slot, double* vals) noexcept:
    """One pass in order: constants take their values, instructions point at their
    operands' slots, and each instruction is evaluated at the example with its rule and
    compared with the node, bit for bit: the tape replays exactly what get_gradients uses.
    Then the outputs: a node's slot, or a new constant slot for a number."""
    cdef Py_ssize_t n_inputs = tape.n_inputs, base = tape.base
    cdef Py_ssize_t i, k, j, c
    cdef int op
    cdef Ops node
    cdef Edge* e
    cdef Instr* p
    cdef double y, da, db
    cdef bint ok
    for k in range(n_inputs):
        vals[k] = example[k]
    c = n_inputs
    j = 0
    for i in range(n):
        node = <Ops>w.order[i]
        op = ops[i]
        if op == LEAF:
            if slot[i] == -1:
                vals[c] = tape.constants[c - n_inputs] = node.val
                slot[i] = <int>c
                c += 1
            continue
        e = _edges(node)
        p = &tape.code[j]
        p.op = op
        p.a = p.b = slot[(<Ops>e[0].child).mark - 1]
        if op >= BINARY and node.n == 1:
            vals[c] = tape.constants[c - n_inputs] = node.edges.one.constant
            if node.edges.one.constant_first:
                p.a = <int>c
            else:
                p.b = <int>c
            c += 1
        elif op >= BINARY:
            p.b = slot[(<Ops>e[1].child).mark - 1]
        if op < BINARY:
            y = _unary_rule(op, vals[p.a], &da)
            ok = _same(e[0].local, da)
        else:
            y = _binary_rule(op - BINARY, vals[p.a], vals[p.b], &da, &db)
            if node.n == 2:
                ok = _same(e[0].local, da) and _same(e[1].local, db)
            elif node.edges.one.constant_first:
                ok = _same(e[0].local, db)
            else:
                ok = _same(e[0].local, da)
        if not (ok and _same(node.val, y)):
            Py_INCREF(node)
            bad[0] = <PyObject*>node
            return REFUSE_RULE
        if op == BINARY + POW and node.n == 1 and not node.edges.one.constant_first:
            p.op = POWC             # the same value and d/da, without d/dc's log
        vals[base + j] = y
        slot[i] = <int>(base + j)
        j += 1
    for k in range(tape.n_out):
        if out_nodes[k] == NULL:
            tape.constants[c - n_inputs] = out_values[k]
            tape.outs[k] = c
            c += 1
        else:
            tape.outs[k] = slot[(<Ops>out_nodes[k]).mark - 1]
    tape.root = tape.outs[0]
    return ACCEPT


class _Outputs(_engine.Ops):
    """The walk's root for a tape of several outputs: one edge to each output node, in order.

    The depth-first walk from it visits the outputs' graphs in order; it is not recorded.
    """
    def __init__(self, nodes):
        self.grad = [(node, 0.0) for node in nodes]


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
    Comparisons (``if x > 0``), ``x.value`` and anything else computed from a node's value
    rather than with nodes are taken at the example and kept::

        def f(x):
            return x * x if x > 0 else -x       # the branch depends on x

        tape = record(f, 2.0)                   # records x * x
        tape(-3.0)                              # 9.0, not f(-3.0) == 3.0

    Record again for inputs that take another branch (``record(f, -1.0)``), or write the
    branch with primitives that have it inside (``maximum``, ``relu``, ``absolute``).

    ``Var`` leaves that ``f`` captures rather than receives (model weights in a closure)
    are constants of the tape, frozen at their values of recording time: pass them as
    arguments to replay them.  The tape holds the built-in primitives only: a node of a
    user-defined class (a Python subclass of ``Ops`` or of a built-in node class, the
    tutorial's way of adding a function) raises TypeError naming the class, and so does a
    built-in node whose ``.grad`` or ``.value`` was set by hand.

    ``f`` may return a scalar (a node or a number): ``tape(*args)`` is then a float and
    ``value_and_grad``, ``grad``, ``hvp`` and ``hessian`` apply; or several outputs: an
    array of any shape whose elements are nodes or numbers, or a list or tuple of them
    (shape ``(len,)``): ``tape(*args)`` is then a float64 array of that shape, and the
    derivatives come from ``jacobian``, ``jvp``, ``vjp`` and ``sparse_jacobian``.  A
    number among the outputs is a constant; anything else raises TypeError.

    A tape can be called from several threads at once and re-entrantly; it pickles (a
    versioned, checked state), so another process or a cluster can replay it; and
    ``tape.vmap()`` replays it at many points per call.
    """
    cdef Py_ssize_t k, n_inputs, n_out, n_walk
    cdef Walk w
    cdef PyObject** inputs = NULL
    cdef double* example = NULL
    cdef PyObject** out_nodes = NULL
    cdef double* out_values = NULL
    cdef PyObject* bad = NULL
    cdef Tape tape
    cdef int why = ACCEPT
    call_args, slots, indices, single = _args.tape_inputs(_ENGINE, f, example_args, argnums)
    leaves = [leaf for s in slots for leaf in s.leaves]
    shapes = tuple(s.shape for s in slots)
    for leaf in leaves:             # made by the engine just now; checked all the same
        if type(leaf) is not _engine.Var:
            raise TypeError(f"record: an input leaf is a {type(leaf).__name__}, not a Var")
    # The example values, before f runs (f could change a leaf's .value).
    example_values = [(<Ops>leaf).val for leaf in leaves]
    items, out_shape = _args.tape_outputs(_ENGINE, f(*call_args))
    items = list(items)
    nodes = [x for x in items if isinstance(x, Ops)]
    numbers = [0.0 if isinstance(x, Ops) else <double>x for x in items]
    n_out = len(items)

    tape = Tape.__new__(Tape, _TOKEN)
    tape.name = _args.function_name(f)
    tape.shapes = shapes
    tape.argnums = indices
    tape.single = single
    tape.n_args = len(shapes)
    tape.n_out = n_out
    tape.out_shape = out_shape
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
    if n_inputs != len(leaves):
        raise TypeError("record: the arguments' sizes do not match their leaves")

    if not nodes:                   # f returned numbers only: a constant tape
        tape.n_ops = 0
        tape.base = n_inputs + n_out
        tape.n_slots = n_inputs + n_out
        tape.code = <Instr*>malloc(sizeof(Instr))
        tape.constants = <double*>malloc(max(n_out, 1) * sizeof(double))
        tape.outs = <Py_ssize_t*>malloc(max(n_out, 1) * sizeof(Py_ssize_t))
        if tape.code == NULL or tape.constants == NULL or tape.outs == NULL:
            raise MemoryError()
        for k in range(n_out):
            tape.constants[k] = numbers[k]
            tape.outs[k] = n_inputs + k
        tape.root = tape.outs[0] if n_out else n_inputs
        return _finish(tape)

    # One output node: walk from it, as get_gradients does.  Several: walk from a root
    # of our own whose edges lead to them in order (it is the walk's last node, and is
    # not flattened).
    walk_root = nodes[0] if len(nodes) == 1 else _Outputs(nodes)

    # Snapshot into C what the walk needs, before the walk: nothing after it runs Python
    # until the marks are reset.  `leaves`, `items` and `walk_root` own every node involved.
    inputs = <PyObject**>malloc(max(n_inputs, 1) * sizeof(PyObject*))
    example = <double*>malloc(max(n_inputs, 1) * sizeof(double))
    out_nodes = <PyObject**>malloc(max(n_out, 1) * sizeof(PyObject*))
    out_values = <double*>malloc(max(n_out, 1) * sizeof(double))
    try:
        if inputs == NULL or example == NULL or out_nodes == NULL or out_values == NULL:
            raise MemoryError()
        for k in range(n_inputs):
            inputs[k] = <PyObject*>leaves[k]
            example[k] = example_values[k]
        for k in range(n_out):
            x = items[k]
            out_nodes[k] = <PyObject*>x if isinstance(x, Ops) else NULL
            out_values[k] = numbers[k]
        x = None
        _topological_order(<Ops>walk_root, &w)      # raises with the marks reset
        n_walk = w.n if len(nodes) == 1 else w.n - 1
        why = _flatten(tape, &w, n_walk, inputs, example, out_nodes, out_values, &bad)
        _unmark(&w, NULL, 0)
        _free_walk(&w)
    finally:
        free(inputs)
        free(example)
        free(out_nodes)
        free(out_values)
    # The marks are reset: Python code may run again.
    if why == NO_MEMORY:
        raise MemoryError("record: out of memory (or a graph too large to record)")
    if why != ACCEPT:
        node = <object>bad          # a new reference...
        Py_DECREF(node)             # ...for the one _flatten gave us
        raise TypeError(_refusal(node, why))
    return _finish(tape)


cdef Tape _finish(Tape tape):
    """Size the workspaces' free list and mark the tape complete."""
    if tape.outs == NULL:           # a scalar f: one output, the root
        tape.outs = <Py_ssize_t*>malloc(sizeof(Py_ssize_t))
        if tape.outs == NULL:
            raise MemoryError()
        tape.outs[0] = tape.root
        tape.n_out = 1
        tape.out_shape = None
    tape.n_work = max(2 * tape.n_slots + 2 * tape.n_ops, 1)
    tape.max_cached = MAX_CACHED if tape.n_work <= SMALL_WORKSPACE else 1
    tape.ready = True
    return tape


include "_tape_pickle.pxi"
include "_batch.pxi"
include "_batch_higher.pxi"
