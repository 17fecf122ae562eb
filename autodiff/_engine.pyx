# cython: auto_pickle=False
"""The compiled engine: the reference engine's API with typed nodes and C loops.

It mirrors ``autodiff/reference.py`` section by section and gives bit-identical values
and gradients: the same primitive rules, evaluated with the same C library functions in
the same order, the same depth-first topological order and adjoint sweep.  The build
turns off floating-point contraction (``-ffp-contract=off``) so that no ``a * b + c`` is
fused into one rounding.

The rule every function here is built by
-----------------------------------------
No borrowed pointer, walk mark, edge count or shared buffer is held across a point where
Python code can run.  Python code runs in more places than it looks: a user's
``__getitem__``, ``__iter__``, ``__hash__``, ``__eq__``, ``__float__``, ``__index__`` or
``__del__``, a metaclass property, a weakref callback, and any finalizer run by the cyclic
garbage collector, which can start on *any* allocation of a Python object (a tuple, a
float, a dict entry, an error message).  Such code can drop the last reference to a node,
set a node's ``.grad`` (freeing its edge array), or start a walk of its own.  So:

- snapshot first, then act: take owned references (``Py_INCREF``) and copy numbers before
  anything that can run Python, and work from the snapshot;
- change a node's edges by swapping: build the new edges completely, install them with no
  Python in between, and only then release the old ones (releasing can run Python, but
  the node is consistent by then);
- walk marks live only inside C loops that run no Python: they are reset before the
  first Python object of a result is made, and on every error path;
- never trust a node's class or edge layout unchecked: an edge's child is always an
  ``Ops`` (the setter checks it), and the edges of the built-in classes are set only when
  a node is made, so they always have the layout their class says;
- freeing is iterative and local to the call that frees: a long chain is freed by a loop
  over a stack owned by that call, never by recursion and never by a module-level stack
  that another thread (or a finalizer) could be draining.

Reference cycles.  A built-in node only points at nodes that existed before it, so the
nodes of ordinary arithmetic cannot form a cycle and are not tracked by the cyclic GC
(they carry no GC header: 64 bytes each).  A cycle needs a node of a user-defined class
(a Python subclass of ``Ops``, whose ``.grad`` can point anywhere and whose ``__dict__``
can hold anything).  Such classes are GC types, and the GC sees their edges through
``tp_traverse``/``tp_clear`` installed on every node class below.  A built-in node made
from a GC-visible child (a user node, directly or further down) is made as a hidden
GC-tracked subclass of its class, so that any cycle running through it is visible too.
"""
cimport cython
from cpython.object cimport PyObject, PyTypeObject, Py_TYPE, Py_TPFLAGS_HAVE_GC, Py_TPFLAGS_HEAPTYPE
from cpython.ref cimport Py_INCREF, Py_DECREF
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsDouble
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE, PyBUF_C_CONTIGUOUS

from autodiff._rules cimport *
from libc.math cimport isfinite

cdef extern from "<fenv.h>":
    int feclearexcept(int excepts) nogil
    int FE_ALL_EXCEPT

cdef extern from "Python.h":
    Py_ssize_t Py_REFCNT(PyObject* o)

cdef extern from *:
    """
    #include <string.h>
    /* A free list of plain nodes (instances of the exact built-in classes, which are all
       of one size and free through autodiff_node_free), as CPython keeps one for floats:
       making and freeing the nodes of arithmetic costs a few instructions instead of a
       trip through the allocator.  It holds memory only, never a live object, and is used
       with the GIL held.  The sanitizer build turns it off (AUTODIFF_FREELIST=0), so
       that AddressSanitizer sees every freed node. */
    #ifndef AUTODIFF_FREELIST
    #define AUTODIFF_FREELIST 2048
    #endif
    static void* autodiff_free_nodes[AUTODIFF_FREELIST > 0 ? AUTODIFF_FREELIST : 1];
    static int autodiff_n_free = 0;
    static void autodiff_node_free(void* p) {
        if (autodiff_n_free < AUTODIFF_FREELIST) {
            autodiff_free_nodes[autodiff_n_free++] = p;
            return;
        }
        PyObject_Free(p);
    }
    /* tp_alloc of the plain classes: a zeroed instance, from the free list if it has one. */
    static PyObject* autodiff_node_alloc(PyTypeObject* t, Py_ssize_t nitems) {
        if (autodiff_n_free && nitems == 0) {
            PyObject* o = (PyObject*)autodiff_free_nodes[--autodiff_n_free];
            memset((void*)o, 0, (size_t)t->tp_basicsize);
            return PyObject_Init(o, t);
        }
        return PyType_GenericAlloc(t, nitems);
    }
    /* A zeroed instance of t with no __cinit__/__init__: the engine fills it at once. */
    static PyObject* autodiff_alloc(PyTypeObject* t) { return t->tp_alloc(t, 0); }
    static void autodiff_set_plain_slots(PyTypeObject* t, void* dealloc) {
        t->tp_dealloc = (destructor)dealloc;
        t->tp_alloc = autodiff_node_alloc;
        t->tp_free = autodiff_node_free;
    }
    static void autodiff_set_refcnt(PyObject* o, Py_ssize_t n) { Py_SET_REFCNT(o, n); }
    typedef int (*autodiff_visit)(PyObject*, void*);
    static void autodiff_set_gc_slots(PyTypeObject* t, void* traverse, void* clear) {
        t->tp_traverse = (traverseproc)traverse;
        t->tp_clear = (inquiry)clear;
    }
    /* tp_new, and no tp_vectorcall (Cython's fast constructor would bypass tp_new). */
    /* A class attribute of an extension type, as Cython sets its own. */
    static int autodiff_set_type_attr(PyTypeObject* t, PyObject* name, PyObject* value) {
        int r = PyDict_SetItem(t->tp_dict, name, value);
        PyType_Modified(t);
        return r;
    }
    static void autodiff_set_new(PyTypeObject* t, void* new_) {
        t->tp_new = (newfunc)new_;
        t->tp_vectorcall = NULL;
    }
    """
    object autodiff_alloc(PyTypeObject* t)
    void autodiff_set_plain_slots(PyTypeObject* t, void* dealloc)
    void autodiff_set_refcnt(PyObject* o, Py_ssize_t n)
    void autodiff_node_free(void* p)
    ctypedef int (*autodiff_visit)(PyObject*, void*) noexcept
    void autodiff_set_gc_slots(PyTypeObject* t, void* traverse, void* clear)
    void autodiff_set_new(PyTypeObject* t, void* new_)
    int autodiff_set_type_attr(PyTypeObject* t, object name, object value) except -1

import math
import numbers
import operator

import numpy as np

from autodiff import _ufunc

ENGINE = "compiled"

cdef type _ndarray = np.ndarray           # looked up once, not per call
cdef type _npbool = np.bool_              # not a numbers.Real, but a number as True is

__all__ = ["ENGINE", "PRIMITIVES", "Ops", "Var", "get_gradients", "gradients", "to_var",
           "to_vals", "nan_to_num", "clip"]

# The node classes by UnaryOp and BinaryOp, and their GC twins (filled at the module end).
cdef PyTypeObject* _unary_classes[N_UNARY]
cdef PyTypeObject* _unary_twins[N_UNARY]
cdef PyTypeObject* _binary_classes[N_BINARY]
cdef PyTypeObject* _binary_twins[N_BINARY]

# --------------------------------------------------------------------------------------
# Numbers.  C division and libm give the IEEE results (``cdivision`` is on).
# --------------------------------------------------------------------------------------


cdef double _real(object x) except? -1.0:
    """x as a double if it is a real number (int, float, NumPy real scalar or bool), else
    TypeError.  A float subclass gives the double it holds (as C's PyFloat_AsDouble), any
    other real number float(x); the reference engine's _real says why."""
    if isinstance(x, float):
        return <double>x
    if isinstance(x, numbers.Real) or isinstance(x, _npbool):
        return float(x)
    raise TypeError(f"expected a real number or a node, got {type(x).__name__}")


cdef enum Kind:
    OTHER = 0
    NUMBER = 1
    NODE = 2


cdef inline int _operand(object x, double* v) except -1:
    """What arithmetic makes of x: NODE, NUMBER (its value into v) or OTHER.

    The common cases first and without a call: a float, a built-in node (its class derives
    from Ops directly), an int; then any node, any real number.
    """
    if type(x) is float:
        v[0] = PyFloat_AS_DOUBLE(x)
        return NUMBER
    if Py_TYPE(x).tp_base == <PyTypeObject*>Ops or isinstance(x, Ops):
        v[0] = (<Ops>x).val
        return NODE
    if type(x) is int:
        v[0] = PyLong_AsDouble(x)           # OverflowError beyond floats, as float(x)
        return NUMBER
    if isinstance(x, float):
        v[0] = <double>x
        return NUMBER
    if isinstance(x, numbers.Real) or isinstance(x, _npbool):
        v[0] = float(x)
        return NUMBER
    return OTHER


# A nan or inf result leaves the CPU's floating-point exception flags raised, and NumPy
# turns raised flags into RuntimeWarnings after an object-array loop (np.log(array) of
# nodes).  The reference engine, through Python's math module, raises none for these, so
# the compiled engine clears them: IEEE results, no exception and no warning, in both.
cdef inline double _unary_quiet(int op, double x, double* d) noexcept nogil:
    cdef double y = _unary_rule(op, x, d)
    if not (isfinite(y) and isfinite(d[0])):
        feclearexcept(FE_ALL_EXCEPT)
    return y


cdef inline double _power_const_quiet(double a, double c, double* da) noexcept nogil:
    cdef double y = _power_const(a, c, da)
    if not (isfinite(y) and isfinite(da[0])):
        feclearexcept(FE_ALL_EXCEPT)
    return y


cdef inline double _binary_quiet(int op, double a, double b, double* da, double* db) noexcept nogil:
    cdef double y = _binary_rule(op, a, b, da, db)
    if not (isfinite(y) and isfinite(da[0]) and isfinite(db[0])):
        feclearexcept(FE_ALL_EXCEPT)
    return y

# --------------------------------------------------------------------------------------
# Edges: set, read and release a node's children.
# --------------------------------------------------------------------------------------


cdef inline void _add_edge(Ops node, Ops child, double local) noexcept:
    """Append an edge to a node being made (it has fewer than two, and no Python runs)."""
    Py_INCREF(child)
    node.edges.pair[node.n].child = <PyObject*>child
    node.edges.pair[node.n].local = local
    node.n += 1


cdef inline bint _gc_visible(object node) noexcept:
    """Whether the cyclic GC can see this node (a user-defined class or a GC twin)."""
    return (Py_TYPE(node).tp_flags & Py_TPFLAGS_HAVE_GC) != 0


# Freeing.  Dropping the last reference to the root of a long chain would free the chain
# node by node through nested deallocations, one C stack frame per node.  Instead, the
# call that drops a set of edges keeps a stack of its own: a child it holds the last
# reference to, and that is a plain built-in node (no finalizer, no Python-visible state),
# is not freed at once but pushed; its edges are then taken out and handled in the same
# loop, and the childless node is freed with no recursion.  Nodes of user-defined classes
# are released normally (their deallocation runs the user's finalizers, and CPython's
# trashcan bounds its depth).  The stack belongs to one C frame, so nothing is shared
# between threads or with a finalizer that runs in the middle.

cdef struct NodeStack:
    PyObject** items        # owned references to plain nodes waiting to be freed
    Py_ssize_t n            # how many
    Py_ssize_t cap          # allocated


cdef inline void _drop(PyObject* child, NodeStack* stack) noexcept:
    """Release one owned reference; defer the freeing of a plain node to the stack."""
    cdef PyObject** grown
    if Py_REFCNT(child) == 1 and not (Py_TYPE(<object>child).tp_flags & Py_TPFLAGS_HEAPTYPE):
        if stack.n == stack.cap:
            grown = <PyObject**>realloc(stack.items, (2 * stack.cap + 64) * sizeof(PyObject*))
            if grown == NULL:
                Py_DECREF(<object>child)   # out of memory: recurse rather than leak
                return
            stack.items = grown
            stack.cap = 2 * stack.cap + 64
        stack.items[stack.n] = child       # the stack now owns our reference
        stack.n += 1
    else:
        Py_DECREF(<object>child)           # frees nothing, or frees a user node normally


cdef void _release(Edges edges, int n) noexcept:
    """Release the references held by edges already taken out of their node.

    May run Python (user finalizers), so the caller must have left every node consistent.
    """
    cdef NodeStack stack
    cdef Edge* e = edges.many if n > 2 else edges.pair
    cdef Edges taken
    cdef PyObject* node
    cdef int i, m
    stack.items = NULL
    stack.n = stack.cap = 0
    for i in range(n):
        _drop(e[i].child, &stack)
    if n > 2:
        free(edges.many)
    while stack.n:
        stack.n -= 1
        node = stack.items[stack.n]
        # The only reference to node is ours and node is a plain built-in node: nothing
        # else can see it, so its edges are taken out and handled here.
        taken = (<Ops>node).edges
        m = (<Ops>node).n
        (<Ops>node).n = 0
        e = taken.many if m > 2 else taken.pair
        for i in range(m):
            _drop(e[i].child, &stack)
        if m > 2:
            free(taken.many)
        Py_DECREF(<object>node)             # childless now: its deallocation does no work
    free(stack.items)


cdef inline void _clear_edges(Ops node) noexcept:
    """Take every edge out of a node, then release them (may run Python)."""
    cdef Edges taken = node.edges
    cdef int n = node.n
    node.n = 0
    if n:
        _release(taken, n)


cdef bint _user_class(object node) except -1:
    """A node of a user-defined class: a Python subclass, not a built-in class or twin."""
    t = type(node)
    return (Py_TYPE(node).tp_flags & Py_TPFLAGS_HEAPTYPE) != 0 and t not in _TWIN_CLASSES


cdef int _set_grad(Ops node, object pairs) except -1:
    """The ``grad`` setter: check every (child, local_derivative) pair, then swap them in."""
    cdef list checked = []
    cdef Py_ssize_t i, n
    cdef Edge* e = NULL
    cdef Edge small[2]
    cdef Edges old
    cdef int old_n
    cdef object child
    if not _user_class(node):
        raise TypeError(
            f"the edges of a built-in {type(node).__name__} node are set when it is made and cannot "
            f"be changed; to make a node with children of your own, subclass Ops "
            f"(class Square(Ops): ... self.grad = [(x, 2 * x.value)])")
    # Checking runs Python (iteration, unpacking, float()): nothing is held yet.
    for pair in pairs:
        child, local = pair
        if not isinstance(child, Ops):
            raise TypeError(f"a child must be a node, got {type(child).__name__}")
        checked.append((child, _real(local)))
    n = len(checked)
    if n > 0x3fffffff:
        raise MemoryError("too many edges")
    if n > 2:
        e = <Edge*>malloc(n * sizeof(Edge))
        if e == NULL:
            raise MemoryError()
    else:
        e = small
    # From here to the swap no Python runs: the children are owned by `checked`.
    for i in range(n):
        item = <tuple>checked[i]
        e[i].child = <PyObject*>item[0]
        e[i].local = <double>item[1]
        Py_INCREF(<object>e[i].child)
    old = node.edges
    old_n = node.n
    if n > 2:
        node.edges.many = e
    else:
        for i in range(n):
            node.edges.pair[i] = small[i]
    node.n = <int>n
    if old_n:
        _release(old, old_n)             # may run Python: the node is consistent already
    return 0


cdef void _node_dealloc(PyObject* o) noexcept:
    """tp_dealloc of every node class: release the edges, then free.

    The object is dead (its count is 0) and unreachable from Python: plain nodes are not
    GC-tracked and have no weak references, and for a user-defined class CPython's
    subtype_dealloc has untracked it and cleared its weak references before calling this.
    The count is held at 1 while the edges are released (that can run finalizers), so that
    no reference taken in the meantime frees it a second time.
    """
    autodiff_set_refcnt(o, 1)
    _clear_edges(<Ops>o)
    autodiff_set_refcnt(o, 0)
    Py_TYPE(<object>o).tp_free(o)


# The cyclic GC's view of a node: its children.  Installed as tp_traverse and tp_clear of
# every node class (module end); the GC calls them for the GC-visible ones only.
cdef int _traverse(PyObject* o, autodiff_visit visit, void* arg) noexcept:
    cdef Ops node = <Ops>o
    cdef Edge* e = _edges(node)
    cdef int i, r
    for i in range(node.n):
        r = visit(e[i].child, arg)
        if r:
            return r
    return 0


cdef int _clear(PyObject* o) noexcept:
    _clear_edges(<Ops>o)
    return 0

# --------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------


def _init_node_subclass(cls, **kwargs):
    _check_node_class(cls)
    super(Ops, cls).__init_subclass__(**kwargs)


def _check_node_class(cls):
    """Refuse, when it is defined, a node class that the engine would misread or leak.

    The same checks, with the same messages, as the reference engine's.
    """
    for name in ("value", "grad"):
        if name in cls.__dict__:
            raise TypeError(
                f"class {cls.__qualname__} defines {name!r}, but a node's value and children "
                f"are kept by the engine: set self.{name} in __init__ instead (a property or "
                f"class attribute named {name!r} would be ignored by gradients and record)")
    for klass in cls.__mro__:
        if klass is Ops or klass in _BUILTIN_CLASSES:
            break
        slots = klass.__dict__.get("__slots__", None)
        if slots is None or (isinstance(slots, str) and slots) or (
                not isinstance(slots, str) and len(tuple(slots))):
            return                      # an instance __dict__ or a slot: a GC-visible class
    raise TypeError(
        f"class {cls.__qualname__} declares __slots__ = () down to {klass.__name__}: the "
        f"garbage collector could not see its nodes, and a reference cycle through one "
        f"would never be freed; remove __slots__ or give it at least one slot")


cdef str _LOST = ("{what} of a node ({cls}) would lose its derivative: use x.value for the "
                  "number, or autodiff's functions (or NumPy's ufuncs, which call them) on "
                  "nodes to keep differentiating")


cdef class Ops:
    """Base of every node: the operators, comparisons by value, NumPy ufunc methods.

    A node has ``.value`` (a float) and ``.grad``, the list of ``(child, local_derivative)``
    pairs.  Subclass it to add a function, as in the tutorial::

        class Square(Ops):
            def __init__(self, x):
                self.value = x.value ** 2
                self.grad = [(x, 2 * x.value)]

    Only nodes of such user-defined classes can have their ``.grad`` set; the built-in
    nodes' edges are fixed when they are made.  ``float(node)`` is a TypeError (it would
    drop the derivative): ``node.value`` is the number.  ``bool(node)`` is the truth of its
    value, as for a float.
    """

    # Deallocation is _node_dealloc (installed as tp_dealloc at the end of the module).

    # A user-defined node class is checked when it is defined (Cython has no
    # __init_subclass__ method for extension types: a classmethod attribute is the same).
    __init_subclass__ = classmethod(_init_node_subclass)

    @property
    def value(self):
        """The node's value, a float; writable (``w.value -= lr * g``)."""
        return self.val

    @value.setter
    def value(self, v):
        self.val = _real(v)

    @value.deleter
    def value(self):
        raise AttributeError(f"property 'value' of '{type(self).__name__}' object has no deleter")

    @property
    def grad(self):
        """The list of ``(child, local_derivative)`` pairs; settable on user-defined nodes."""
        cdef int i, n = self.n
        cdef Edge small[2]
        cdef Edge* copy = small
        if n > 2:
            copy = <Edge*>malloc(n * sizeof(Edge))
            if copy == NULL:
                raise MemoryError()
        # A snapshot with owned references: building the list allocates, and a finalizer
        # run by that allocation may set this node's .grad and free the edges read here.
        memcpy(copy, _edges(self), n * sizeof(Edge))
        for i in range(n):
            Py_INCREF(<object>copy[i].child)
        try:
            return [(<object>copy[i].child, copy[i].local) for i in range(n)]
        finally:
            for i in range(n):
                Py_DECREF(<object>copy[i].child)
            if copy != small:
                free(copy)

    @grad.setter
    def grad(self, pairs):
        _set_grad(self, pairs)

    @grad.deleter
    def grad(self):
        raise AttributeError(f"property 'grad' of '{type(self).__name__}' object has no deleter")

    def __repr__(self):
        return f"{type(self).__name__}({self.val!r})"

    def __float__(self):
        raise TypeError(_LOST.format(what="float()", cls=type(self).__name__))

    def __bool__(self):
        return self.val != 0.0

    def __reduce_ex__(self, protocol):
        raise TypeError(f"a node ({type(self).__name__}) cannot be pickled or copied: it is "
                        f"part of a graph; pickle its .value, or record the function "
                        f"(autodiff.record) and call the tape again where it is needed")

    # Arithmetic: one node per operator (the tutorial made a - b as Add(a, Neg(b)) and a / b
    # as Mul(a, Inv(b)); Sub and Div round once, as float arithmetic does, with fewer nodes).
    # A number on either side is a constant: it makes no node and no edge.
    def __add__(self, other):
        return _arith(ADD, self, other)

    def __radd__(self, other):      # other + self
        return _arith(ADD, other, self)

    def __mul__(self, other):
        return _arith(MUL, self, other)

    def __rmul__(self, other):      # other * self
        return _arith(MUL, other, self)

    def __sub__(self, other):
        return _arith(SUB, self, other)

    def __rsub__(self, other):      # other - self
        return _arith(SUB, other, self)

    def __truediv__(self, other):
        return _arith(DIV, self, other)

    def __rtruediv__(self, other):  # other / self
        return _arith(DIV, other, self)

    # % and // are the primitives remainder and floor_divide, as np.float64 has them;
    # divmod(a, b) is (a // b, a % b), as for floats.
    def __mod__(self, other):
        return _arith(REMAINDER, self, other)

    def __rmod__(self, other):      # other % self
        return _arith(REMAINDER, other, self)

    def __floordiv__(self, other):
        return _arith(FLOOR_DIVIDE, self, other)

    def __rfloordiv__(self, other):  # other // self
        return _arith(FLOOR_DIVIDE, other, self)

    # What is not a number as % and // take it: a list or tuple as an array, an array by its
    # own reflected divmod (np.divmod, _ufunc.dispatch), anything else NotImplemented.
    def __divmod__(self, other):
        cdef double v
        if _operand(other, &v) == OTHER:
            return _ufunc.with_sequence(divmod, self, other)
        return self // other, self % other

    def __rdivmod__(self, other):   # divmod(other, self)
        cdef double v
        if _operand(other, &v) == OTHER:
            return _ufunc.with_sequence(divmod, other, self)
        return other // self, other % self

    def __pow__(self, other, mod=None):
        if mod is not None:
            raise TypeError("pow() with a modulus is not defined for nodes")
        return _arith(POW, self, other)

    def __rpow__(self, other, mod=None):  # other ** self
        if mod is not None:
            raise TypeError("pow() with a modulus is not defined for nodes")
        return _arith(POW, other, self)

    def __neg__(self):
        return _unary(NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary(ABS, self)

    # Numbers made of a node, as of a float: int() truncates, round() is to even, and
    # math.trunc/floor/ceil give ints (OverflowError for inf, ValueError for nan).  Their
    # derivative is 0 almost everywhere, which a number (a constant) has.  No __index__: a
    # node is not an integer (range(x), [1, 2][x] are TypeErrors).
    def __int__(self):
        return int(self.val)

    def __trunc__(self):
        return math.trunc(self.val)

    def __floor__(self):
        return math.floor(self.val)

    def __ceil__(self):
        return math.ceil(self.val)

    def __round__(self, ndigits=None):
        if ndigits is None:
            return round(self.val)
        # As np.float64 rounds to digits, made of primitives: a node whose derivative is
        # rint's 0 and that record replays (a float would be frozen at the example).
        return _ufunc.round_digits(_UFUNCS["rint"], _UFUNCS["multiply"], _UFUNCS["divide"],
                                   self, ndigits)

    # A real number is its own real part (np.var, np.std, np.linalg.norm call .real and
    # .conjugate(): the latter is the primitive conjugate, a Conjugate node); imag is 0.
    @property
    def real(self):
        return self

    @property
    def imag(self):
        return 0.0

    # Comparisons compare values and return bool (a bool array with an array, list or
    # tuple, as np.float64 gives); == and hash stay by identity.
    def __lt__(self, other):
        cdef double v
        if not _compared(other, &v):
            return _ufunc.compare_other(operator.lt, self, other)
        return self.val < v

    def __le__(self, other):
        cdef double v
        if not _compared(other, &v):
            return _ufunc.compare_other(operator.le, self, other)
        return self.val <= v

    def __gt__(self, other):
        cdef double v
        if not _compared(other, &v):
            return _ufunc.compare_other(operator.gt, self, other)
        return self.val > v

    def __ge__(self, other):
        cdef double v
        if not _compared(other, &v):
            return _ufunc.compare_other(operator.ge, self, other)
        return self.val >= v

    def __hash__(self):             # defining __lt__ would otherwise drop the identity hash
        # The address, rotated so that the alignment's zero bits do not collide (as
        # CPython's own identity hash does), with only the public C API.
        cdef size_t p = <size_t><void*>self
        cdef Py_hash_t h = <Py_hash_t>((p >> 4) | (p << (8 * sizeof(size_t) - 4)))
        return -2 if h == -1 else h

    # NumPy calls these on the elements of object arrays (np.sin(array) -> x.sin()).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc.dispatch(_UFUNCS, Ops, ufunc, method, inputs, kwargs, globals())

    # np.nan_to_num, np.clip and np.where of a lone node; the rest is NumPy's own.
    def __array_function__(self, func, types, args, kwargs):
        return _ufunc.array_function(globals(), Ops, func, types, args, kwargs)

    # negative(), sin(), ..., divide(): generated from the table (_methods.pxi) and put in
    # Ops's dictionary at the end of the module.


cdef bint _compared(object x, double* v) except -1:
    """Whether x is a node or a number; if so, the value a comparison reads into v."""
    if isinstance(x, Ops):
        v[0] = (<Ops>x).val
        return True
    if isinstance(x, float) or isinstance(x, numbers.Real) or isinstance(x, _npbool):
        v[0] = _real(x)                 # numbers are read as arithmetic reads them
        return True
    return False

# --------------------------------------------------------------------------------------
# Making nodes.  A node is allocated with no __init__ (tp_alloc) and filled at once, with
# no Python in between; a built-in node with a GC-visible child is made as its class's
# GC twin (see the module docstring).
# --------------------------------------------------------------------------------------


cdef inline Ops _new_node(PyTypeObject* cls):
    return <Ops>autodiff_alloc(cls)


cdef Ops _unary(int op, Ops x):
    """A new node op(x) of a node x."""
    cdef double d
    cdef PyTypeObject* cls = _unary_classes[op] if not _gc_visible(x) else _unary_twins[op]
    cdef Ops node = _new_node(cls)
    node.val = _unary_quiet(op, x.val, &d)
    _add_edge(node, x, d)
    return node


cdef Ops _unary_of_number(PyTypeObject* cls, int op, double x):
    """A node op(x) of a number: no children."""
    cdef double d
    cdef Ops node = _new_node(cls)
    node.val = _unary_quiet(op, x, &d)
    return node


cdef Ops _binary_node(PyTypeObject* cls, PyTypeObject* twin, int op, object a, object b,
                      bint a_node, bint b_node, double av, double bv):
    """A new node op(a, b); av and bv are the operands' values, already read."""
    cdef double da, db
    if (a_node and _gc_visible(a)) or (b_node and _gc_visible(b)):
        cls = twin
    cdef Ops node = _new_node(cls)
    if op == POW and not b_node:    # x ** c: the rule for a constant exponent, no log
        node.val = _power_const_quiet(av, bv, &da)
    else:
        node.val = _binary_quiet(op, av, bv, &da, &db)
    if a_node:
        _add_edge(node, <Ops>a, da)
    if b_node:
        _add_edge(node, <Ops>b, db)
    if a_node != b_node:            # one number operand: keep it, and its side, for record
        node.edges.one.constant = bv if a_node else av
        node.edges.one.constant_first = b_node
    return node


cdef object _arith(int op, object a, object b):
    """A new node op(a, b) of nodes or numbers; NotImplemented for anything else."""
    cdef double av = 0.0, bv = 0.0
    cdef int ka = _operand(a, &av)
    cdef int kb = _operand(b, &bv)
    if ka == OTHER or kb == OTHER:
        return _ufunc.with_sequence(_OPERATOR_OF.get(op, _no_operator), a, b)
    return _binary_node(_binary_classes[op], _binary_twins[op], op, a, b,
                        ka == NODE, kb == NODE, av, bv)


def _no_operator(a, b):
    return NotImplemented


cdef inline bint _sequence(object x):
    """Whether x, not a node, is an array, list or tuple (a float is tested first, cheaply)."""
    return type(x) is not float and isinstance(x, (_ndarray, list, tuple))


cdef object _binary(int op, object a, object b):
    """The module function of a binary primitive: a node if a or b is one, else a float;
    element by element for an array, list or tuple (_ufunc.elementwise)."""
    cdef double av, bv, da, db
    cdef bint a_node = isinstance(a, Ops)
    cdef bint b_node = isinstance(b, Ops)
    if (not a_node and _sequence(a)) or (not b_node and _sequence(b)):
        return _ufunc.elementwise(_BINARY_FUNCTIONS[op], (a, b), Ops)
    av = (<Ops>a).val if a_node else _real(a)
    bv = (<Ops>b).val if b_node else _real(b)
    if a_node or b_node:
        return _binary_node(_binary_classes[op], _binary_twins[op], op, a, b,
                            a_node, b_node, av, bv)
    return _binary_quiet(op, av, bv, &da, &db)


cdef object _function1(int op, object x):
    """The module function of a unary primitive: a node of a node, a float of a number;
    element by element for an array, list or tuple (_ufunc.elementwise)."""
    cdef double d
    if isinstance(x, Ops):
        return _unary(op, <Ops>x)
    if _sequence(x):
        return _ufunc.elementwise(_UNARY_FUNCTIONS[op], (x,), Ops)
    return _unary_quiet(op, _real(x), &d)


cdef object _primitive_new(PyTypeObject* t, PyObject* args, PyObject* kwds):
    """tp_new of the primitive classes: ``Sin(x)``, ``Mul(a, b)`` make a finished node.

    The built-in nodes are immutable in their children, as tuples are in their items: a
    node is complete when made, and ``__init__`` (object's) does nothing, so no call can
    re-initialise a node that other nodes already point at.
    """
    cls = <type>t
    op, arity = _CLASS_OPS[_primitive_base(cls)]
    name = cls.__name__
    cdef tuple argt = <tuple>args
    cdef double av, bv
    cdef bint exact = cls in _CLASS_OPS or cls in _TWIN_CLASSES   # else a user subclass
    if kwds != NULL and len(<dict>kwds):
        raise TypeError(f"{name}() takes no keyword arguments")
    if len(argt) != arity:
        raise TypeError(f"{name}() takes {arity} argument{'s' if arity > 1 else ''} "
                        f"(nodes or numbers), got {len(argt)}")
    if arity == 1:
        x = argt[0]
        if isinstance(x, Ops):
            if exact:
                return _unary(op, <Ops>x)
            node = _new_node(t)
            (<Ops>node).val = _unary_quiet(op, (<Ops>x).val, &av)
            _add_edge(<Ops>node, <Ops>x, av)
            return node
        av = _real(x)
        return _unary_of_number(_unary_classes[op] if exact else t, op, av)
    a, b = argt
    a_node, b_node = isinstance(a, Ops), isinstance(b, Ops)
    av = (<Ops>a).val if a_node else _real(a)
    bv = (<Ops>b).val if b_node else _real(b)
    if exact:
        return _binary_node(_binary_classes[op], _binary_twins[op], op, a, b,
                            a_node, b_node, av, bv)
    return _binary_node(t, t, op, a, b, a_node, b_node, av, bv)


def _primitive_base(cls):
    """The built-in primitive class that cls is or derives from."""
    for klass in cls.__mro__:
        if klass in _CLASS_OPS:
            return klass
    raise TypeError(f"{cls.__name__} is not a primitive node class")


cdef class Var(Ops):
    """A leaf node: a variable, with no children.

    >>> Var(2.0).value
    2.0
    """
    def __init__(self, value):
        self.val = _real(value)


include "_nodes.pxi"            # the node classes, module functions and PRIMITIVES
include "_methods.pxi"          # Ops's methods named like the primitives
include "_predicates.pxi"       # isfinite, isnan, isinf, signbit: bools, not nodes

for _name, _cls in PRIMITIVES.items():
    __all__ += [_name, _cls.__name__]
del _name, _cls

# --------------------------------------------------------------------------------------
# Gradients: sort once (iterative depth-first post-order), sweep adjoints in reverse.
# --------------------------------------------------------------------------------------


# Frame and Walk are declared in _engine.pxd, for the replay of recorded tapes.


cdef void _unmark(Walk* w, Frame* stack, Py_ssize_t depth) noexcept:
    cdef Py_ssize_t i
    for i in range(w.n):
        (<Ops>w.order[i]).mark = 0
    for i in range(depth):
        (<Ops>stack[i].node).mark = 0


cdef void _free_walk(Walk* w) noexcept:
    free(w.order)
    free(w.adjoint)
    w.order = NULL
    w.adjoint = NULL


cdef int _topological_order(Ops root, Walk* w) except -1:
    """Fill w.order; leaves each node's mark at 1 + its position."""
    cdef Py_ssize_t cap = 64, stack_cap = 64, depth = 1
    cdef Frame* stack = <Frame*>malloc(stack_cap * sizeof(Frame))
    cdef Frame* top
    cdef PyObject** grown_order
    cdef Frame* grown_stack
    cdef PyObject* child
    cdef Edge* e
    w.n = 0
    w.adjoint = NULL
    w.order = <PyObject**>malloc(cap * sizeof(PyObject*))
    if stack == NULL or w.order == NULL:
        free(stack)
        _free_walk(w)
        raise MemoryError()
    root.mark = -1
    stack[0].node = <PyObject*>root
    stack[0].next = 0
    while depth:
        top = &stack[depth - 1]
        if top.next < (<Ops>top.node).n:
            child = _edges(<Ops>top.node)[top.next].child
            top.next += 1
            if (<Ops>child).mark == 0:
                if depth == stack_cap:
                    grown_stack = <Frame*>realloc(stack, 2 * stack_cap * sizeof(Frame))
                    if grown_stack == NULL:
                        _unmark(w, stack, depth)
                        free(stack)
                        _free_walk(w)
                        raise MemoryError()
                    stack = grown_stack
                    stack_cap *= 2
                (<Ops>child).mark = -1
                stack[depth].node = child
                stack[depth].next = 0
                depth += 1
            elif (<Ops>child).mark == -1:
                _unmark(w, stack, depth)
                free(stack)
                _free_walk(w)
                raise ValueError("the graph has a cycle")
        else:
            depth -= 1
            if w.n == cap:
                grown_order = <PyObject**>realloc(w.order, 2 * cap * sizeof(PyObject*))
                if grown_order == NULL or w.n >= 0x7ffffffe:
                    (<Ops>top.node).mark = 0
                    _unmark(w, stack, depth)
                    free(stack)
                    if grown_order != NULL:
                        w.order = grown_order
                    _free_walk(w)
                    raise MemoryError("graph too large")
                w.order = grown_order
                cap *= 2
            w.order[w.n] = top.node
            w.n += 1
            (<Ops>top.node).mark = <int>w.n
    free(stack)
    return 0


cdef int _adjoints(Ops root, Walk* w) except -1:
    """Topological order and adjoints of everything reachable from root; marks left set."""
    cdef Py_ssize_t i
    cdef int k
    cdef double g
    cdef Edge* e
    cdef Ops node
    _topological_order(root, w)
    w.adjoint = <double*>malloc(w.n * sizeof(double))
    if w.adjoint == NULL:
        _unmark(w, NULL, 0)
        _free_walk(w)
        raise MemoryError()
    for i in range(w.n - 1):
        w.adjoint[i] = 0.0
    w.adjoint[w.n - 1] = 1.0
    for i in range(w.n - 1, -1, -1):
        g = w.adjoint[i]
        e = _edges(<Ops>w.order[i])
        for k in range((<Ops>w.order[i]).n):
            w.adjoint[(<Ops>e[k].child).mark - 1] += g * e[k].local
    return 0


def get_gradients(root):
    """``{node: d root / d node}`` for every node reachable from root (root excluded).

    >>> a, b = Var(4), Var(3)
    >>> get_gradients(a * (a + b))[a]
    11.0
    """
    cdef Walk w
    cdef Py_ssize_t i
    cdef dict result
    if not isinstance(root, Ops):
        raise TypeError(f"expected a node, got {type(root).__name__}")
    _adjoints(<Ops>root, &w)
    # Own every node before the first allocation: inserting into the dict calls the nodes'
    # __hash__ (a user class may define it) and allocates, and either may free nodes.
    for i in range(w.n):
        Py_INCREF(<object>w.order[i])
    _unmark(&w, NULL, 0)
    try:
        result = {}
        for i in range(w.n - 2, -1, -1):
            result[<object>w.order[i]] = w.adjoint[i]
    finally:
        for i in range(w.n):
            Py_DECREF(<object>w.order[i])
        _free_walk(&w)
    return result


cdef list _snapshot_wrt(object wrt):
    """The nodes of ``wrt`` as an exact list of owned references, checked once."""
    if isinstance(wrt, _ndarray):
        nodes = np.asarray(wrt).ravel().tolist()
    elif isinstance(wrt, (list, tuple)):
        nodes = list(wrt)
    else:
        raise TypeError(f"wrt must be a node, a list or tuple of nodes, or an object array "
                        f"of nodes, got {type(wrt).__name__}")
    for node in nodes:
        if not isinstance(node, Ops):
            raise TypeError(f"wrt must hold nodes, got {type(node).__name__}")
    return nodes


def gradients(root, wrt):
    """d root / d w for the nodes w in ``wrt`` only; 0.0 for a node not reached.

    ``wrt`` is a node (gives a float), a list or tuple of nodes (gives a list of floats)
    or an object array of nodes (gives a float64 array of its shape).

    >>> x, y = Var(2.0), Var(3.0)
    >>> gradients(x * y, [x, y])
    [3.0, 2.0]
    """
    cdef Walk w
    cdef Py_ssize_t i, k
    cdef double* out
    cdef int m
    cdef Py_buffer view
    cdef list nodes
    if isinstance(wrt, Ops):
        return gradients(root, [wrt])[0]
    shape = np.shape(wrt) if isinstance(wrt, _ndarray) else None
    nodes = _snapshot_wrt(wrt)          # may run Python (a list subclass's __iter__)
    if not isinstance(root, Ops):
        raise TypeError(f"expected a node, got {type(root).__name__}")
    k = len(nodes)
    out = <double*>malloc(max(k, 1) * sizeof(double))
    if out == NULL:
        raise MemoryError()
    try:
        _adjoints(<Ops>root, &w)
        # C only from the walk to the unmarking: nodes is an exact list we own.
        for i in range(k):
            m = (<Ops>nodes[i]).mark
            out[i] = w.adjoint[m - 1] if m > 0 else 0.0
        _unmark(&w, NULL, 0)
        _free_walk(&w)
        if shape is None:
            return [out[i] for i in range(k)]
        # A float64 array filled through the buffer protocol (no memoryview object).
        result = np.empty(k, dtype=np.float64)
        PyObject_GetBuffer(result, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
        memcpy(view.buf, out, k * sizeof(double))
        PyBuffer_Release(&view)
        return result.reshape(shape)
    finally:
        free(out)


def _reached(root, wrt):
    """For each node of the list ``wrt``: whether the walk from root reaches it (frontend)."""
    cdef Walk w
    cdef list nodes = _snapshot_wrt(wrt)
    cdef Py_ssize_t i, k = len(nodes)
    cdef char* hit
    if not isinstance(root, Ops):
        return [False] * k
    hit = <char*>malloc(max(k, 1))
    if hit == NULL:
        raise MemoryError()
    try:
        _topological_order(<Ops>root, &w)
        for i in range(k):
            hit[i] = (<Ops>nodes[i]).mark > 0
        _unmark(&w, NULL, 0)
        _free_walk(&w)
        return [hit[i] != 0 for i in range(k)]
    finally:
        free(hit)

# --------------------------------------------------------------------------------------
# Arrays (the tutorial's vectorised use) and NumPy ufuncs on single nodes
# --------------------------------------------------------------------------------------


def to_var(array):
    """An object array of ``Var`` of a float array's values, same shape.

    >>> to_var([1.0, 2.0])
    array([Var(1.0), Var(2.0)], dtype=object)
    """
    cdef Py_ssize_t i
    cdef Ops node
    cdef const double[::1] values
    a = np.asarray(array)
    if a.dtype.kind not in "biufO":
        raise TypeError(f"to_var needs real numbers, got an array of {a.dtype}")
    out = np.empty(a.shape, dtype=object)
    flat = out.reshape(-1)
    if a.dtype.kind == "O":
        for i, v in enumerate(a.ravel().tolist()):
            flat[i] = Var(v)
        return out
    values = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)   # read-only is fine
    nodes = [None] * values.shape[0]
    for i in range(values.shape[0]):
        node = _new_node(<PyTypeObject*>Var)
        node.val = values[i]
        nodes[i] = node
    flat[:] = nodes
    return out


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``np.nan_to_num`` for nodes and object arrays of nodes (NumPy's returns object arrays
    unchanged): a node of value nan, inf or -inf becomes the number NumPy puts there (a
    constant), any other node stays (derivative 1).  Numbers and float arrays: NumPy's."""
    return _ufunc.nan_to_num(Ops, x, copy, nan, posinf, neginf)


def clip(a, a_min, a_max):
    """``np.clip`` for nodes and object arrays of nodes: ``minimum(maximum(a, a_min), a_max)``
    with autodiff's ``maximum`` and ``minimum`` (0.5 to each side where a node touches a
    bound), broadcasting; ``None`` is no bound.  Numbers and float arrays: NumPy's."""
    return _ufunc.clip(globals(), Ops, a, a_min, a_max)


def to_vals(array):
    """The float64 array of the values of an object array of nodes (numbers pass through).

    >>> to_vals(to_var([1.0, 2.0]))
    array([1., 2.])
    """
    cdef Py_ssize_t i
    a = np.asarray(array, dtype=object)
    items = a.reshape(-1).tolist()
    result = np.empty(len(items), dtype=np.float64)
    cdef double[::1] out = result
    for i in range(len(items)):
        v = items[i]
        out[i] = (<Ops>v).val if isinstance(v, Ops) else _real(v)
    return result.reshape(a.shape)

# --------------------------------------------------------------------------------------
# The node classes registered: ops by class, GC twins, tp_traverse/tp_clear, tp_new.
# --------------------------------------------------------------------------------------

_CLASS_OPS = {}
for _i, _cls in enumerate(_UNARY_CLASSES):
    _CLASS_OPS[_cls] = (_i, 1)
for _i, _cls in enumerate(_BINARY_CLASSES):
    _CLASS_OPS[_cls] = (_i, 2)
_BUILTIN_CLASSES = frozenset(_CLASS_OPS) | {Var}

for _cls in (Ops,) + tuple(_BUILTIN_CLASSES):
    autodiff_set_gc_slots(<PyTypeObject*>_cls, <void*>_traverse, <void*>_clear)
    # All of one size, so that one free list serves them (autodiff_alloc).
    assert (<PyTypeObject*>_cls).tp_basicsize == (<PyTypeObject*>Ops).tp_basicsize
    autodiff_set_plain_slots(<PyTypeObject*>_cls, <void*>_node_dealloc)
for _cls in _CLASS_OPS:
    autodiff_set_new(<PyTypeObject*>_cls, <void*>_primitive_new)


def _gc_twin(cls):
    """The hidden GC-tracked subclass of a primitive class, for nodes above user nodes.

    Same name and behaviour; the one slot (always empty) makes it a GC type, whose
    traversal then reaches the edges through the base classes' tp_traverse.
    """
    return type(cls.__name__, (cls,), {"__slots__": ("_gc_",), "__module__": __name__,
                                       "__qualname__": cls.__qualname__,
                                       "__doc__": cls.__doc__})


_TWINS = tuple(_gc_twin(_cls) for _cls in _UNARY_CLASSES + _BINARY_CLASSES)
_TWIN_CLASSES = frozenset(_TWINS)
for _i in range(len(_UNARY_CLASSES)):
    _unary_classes[_i] = <PyTypeObject*>_UNARY_CLASSES[_i]
    _unary_twins[_i] = <PyTypeObject*>_TWINS[_i]
for _i in range(len(_BINARY_CLASSES)):
    _binary_classes[_i] = <PyTypeObject*>_BINARY_CLASSES[_i]
    _binary_twins[_i] = <PyTypeObject*>_TWINS[len(_UNARY_CLASSES) + _i]
del _i, _cls

for _name, _method in _OPS_METHODS.items():
    _method.__name__ = _name
    _method.__qualname__ = "Ops." + _name
    autodiff_set_type_attr(<PyTypeObject*>Ops, _name, _method)
del _name, _method

_UFUNCS = {name: globals()[name] for name in PRIMITIVES}
# The module functions by opcode, for _function1 and _binary to apply element by element.
_UNARY_FUNCTIONS = [None] * len(_UNARY_CLASSES)
_BINARY_FUNCTIONS = [None] * len(_BINARY_CLASSES)
for _name, _cls in PRIMITIVES.items():
    _i, _arity = _CLASS_OPS[_cls]
    (_UNARY_FUNCTIONS if _arity == 1 else _BINARY_FUNCTIONS)[_i] = _UFUNCS[_name]
del _name, _cls, _i, _arity
_UFUNCS.update({alias: _UFUNCS[name] for alias, name in _UFUNC_ALIASES.items()})
# The operators that take lists and tuples as arrays, as np.float64's do: not * (a list
# times a number is repetition, which a float refuses) and not ** (its path is its own).
_OPERATOR_OF = {ADD: operator.add, SUB: operator.sub, DIV: operator.truediv,
                REMAINDER: operator.mod, FLOOR_DIVIDE: operator.floordiv}
