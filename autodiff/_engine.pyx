"""The compiled engine: the reference engine's API with typed nodes and C loops.

It mirrors ``autodiff/reference.py`` section by section and gives bit-identical values
and gradients: the same primitive rules, evaluated with the same C library functions in
the same order, the same depth-first topological order and adjoint sweep.  The build
turns off floating-point contraction (``-ffp-contract=off``) so that no ``a * b + c`` is
fused into one rounding.
"""
cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE, PyBUF_C_CONTIGUOUS

from autodiff._rules cimport *
from libc.math cimport isfinite

cdef extern from "<fenv.h>":
    int feclearexcept(int excepts) nogil
    int FE_ALL_EXCEPT

import numbers

import numpy as np

from autodiff import _ufunc

cdef extern from "Python.h":
    Py_ssize_t Py_REFCNT(PyObject* o)
    dict _PyDict_NewPresized(Py_ssize_t minused)
    Py_hash_t _Py_HashPointer(const void* p)

ENGINE = "compiled"

cdef type _ndarray = np.ndarray           # looked up once, not per call

__all__ = ["ENGINE", "PRIMITIVES", "Ops", "Var", "get_gradients", "gradients", "to_var",
           "to_vals"]

# --------------------------------------------------------------------------------------
# Numbers.  C division and libm give the IEEE results (``cdivision`` is on).
# --------------------------------------------------------------------------------------


cdef double _real(object x) except? -1.0:
    """x as a double if it is a real number (int, float, NumPy real scalar), else TypeError."""
    if isinstance(x, float):
        return <double>x
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"expected a real number or a node, got {type(x).__name__}")


cdef enum Kind:
    OTHER = 0
    NUMBER = 1
    NODE = 2


cdef int _operand(object x, double* v) except -1:
    """What arithmetic makes of x: NODE, NUMBER (its value into v) or OTHER."""
    if isinstance(x, Ops):
        v[0] = (<Ops>x).val
        return NODE
    if isinstance(x, float):
        v[0] = <double>x
        return NUMBER
    if isinstance(x, numbers.Real):
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


cdef inline double _binary_quiet(int op, double a, double b, double* da, double* db) noexcept nogil:
    cdef double y = _binary_rule(op, a, b, da, db)
    if not (isfinite(y) and isfinite(da[0]) and isfinite(db[0])):
        feclearexcept(FE_ALL_EXCEPT)
    return y


# --------------------------------------------------------------------------------------
# Edges: set, read and release a node's children.
# --------------------------------------------------------------------------------------


cdef inline void _add_edge(Ops node, Ops child, double local) noexcept:
    """Append an edge to a node with fewer than two (a built-in node being made)."""
    Py_INCREF(child)
    node.edges.pair[node.n].child = <PyObject*>child
    node.edges.pair[node.n].local = local
    node.n += 1


# Freeing a long chain node by node would recurse once per node and overflow the C stack.
# Instead a node being freed hands each child it holds the last reference to over to this
# stack, and the outermost deallocation frees them one after another.
cdef PyObject** _pending = NULL
cdef Py_ssize_t _n_pending = 0
cdef Py_ssize_t _cap_pending = 0
cdef bint _draining = False


cdef inline void _release(PyObject* child) noexcept:
    global _pending, _n_pending, _cap_pending
    cdef PyObject** grown
    if Py_REFCNT(child) == 1:
        if _n_pending == _cap_pending:
            grown = <PyObject**>realloc(_pending, (2 * _cap_pending + 256) * sizeof(PyObject*))
            if grown == NULL:
                Py_DECREF(<object>child)   # out of memory: recurse rather than leak
                return
            _pending = grown
            _cap_pending = 2 * _cap_pending + 256
        _pending[_n_pending] = child       # the stack now owns our reference
        _n_pending += 1
    else:
        Py_DECREF(<object>child)           # not the last reference: frees nothing


cdef void _clear_edges(Ops node) noexcept:
    cdef Edge* e = _edges(node)
    cdef int i
    cdef int n = node.n
    node.n = 0
    for i in range(n):
        _release(e[i].child)
    if n > 2:
        free(e)


cdef void _drain() noexcept:
    global _n_pending, _draining
    cdef PyObject* node
    if _draining:
        return
    _draining = True
    while _n_pending:
        _n_pending -= 1
        node = _pending[_n_pending]
        Py_DECREF(<object>node)             # may push that node's children
    _draining = False


cdef int _set_grad(Ops node, object pairs) except -1:
    """The ``grad`` setter: check every (child, local_derivative) pair, then store them."""
    cdef list checked = []
    cdef Py_ssize_t i, n
    cdef Edge* e
    for pair in pairs:
        child, local = pair
        if not isinstance(child, Ops):
            raise TypeError(f"a child must be a node, got {type(child).__name__}")
        checked.append((child, _real(local)))
    n = len(checked)
    if n > 2:
        e = <Edge*>malloc(n * sizeof(Edge))
        if e == NULL:
            raise MemoryError()
    _clear_edges(node)
    _drain()
    if n > 2:
        node.edges.many = e
    else:
        e = node.edges.pair
    for i in range(n):
        child, local = checked[i]
        Py_INCREF(child)
        e[i].child = <PyObject*>child
        e[i].local = local
    node.n = <int>n
    return 0

# --------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------


@cython.auto_pickle(False)
cdef class Ops:
    """Base of every node: the operators, comparisons by value, NumPy ufunc methods.

    A node has ``.value`` (a float) and ``.grad``, the list of ``(child, local_derivative)``
    pairs.  Subclass it to add a function, as in the tutorial::

        class Square(Ops):
            def __init__(self, x):
                self.value = x.value ** 2
                self.grad = [(x, 2 * x.value)]
    """

    def __dealloc__(self):
        _clear_edges(self)
        _drain()

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
        """The list of ``(child, local_derivative)`` pairs; the setter checks both."""
        cdef Edge* e = _edges(self)
        return [(<object>e[i].child, e[i].local) for i in range(self.n)]

    @grad.setter
    def grad(self, pairs):
        _set_grad(self, pairs)

    @grad.deleter
    def grad(self):
        raise AttributeError(f"property 'grad' of '{type(self).__name__}' object has no deleter")

    def __repr__(self):
        return f"{type(self).__name__}({self.val!r})"

    def __float__(self):
        return self.val

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

    def __pow__(self, other, mod=None):
        if mod is not None:
            raise TypeError("pow() with a modulus is not defined for nodes")
        return _arith(POW, self, other)

    def __rpow__(self, other, mod=None):  # other ** self
        if mod is not None:
            raise TypeError("pow() with a modulus is not defined for nodes")
        return _arith(POW, other, self)

    def __neg__(self):
        return _unary(Neg, NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary(Abs, ABS, self)

    # Comparisons compare values and return bool; == and hash stay by identity.
    def __lt__(self, other):
        return self.val < _compare_value(other)

    def __le__(self, other):
        return self.val <= _compare_value(other)

    def __gt__(self, other):
        return self.val > _compare_value(other)

    def __ge__(self, other):
        return self.val >= _compare_value(other)

    def __hash__(self):             # defining __lt__ would otherwise drop the identity hash
        return _Py_HashPointer(<void*>self)

    # NumPy calls these on the elements of object arrays (np.sin(array) -> x.sin()).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc.dispatch(_UFUNCS, Ops, ufunc, method, inputs, kwargs)

    def negative(self): return _unary(Neg, NEG, self)
    def reciprocal(self): return _unary(Inv, INV, self)
    def sin(self): return _unary(Sin, SIN, self)
    def cos(self): return _unary(Cos, COS, self)
    def tan(self): return _unary(Tan, TAN, self)
    def arcsin(self): return _unary(Arcsin, ARCSIN, self)
    def arccos(self): return _unary(Arccos, ARCCOS, self)
    def arctan(self): return _unary(Arctan, ARCTAN, self)
    def sinh(self): return _unary(Sinh, SINH, self)
    def cosh(self): return _unary(Cosh, COSH, self)
    def tanh(self): return _unary(Tanh, TANH, self)
    def exp(self): return _unary(Exp, EXP, self)
    def expm1(self): return _unary(Expm1, EXPM1, self)
    def log(self): return _unary(Log, LOG, self)
    def log1p(self): return _unary(Log1p, LOG1P, self)
    def log2(self): return _unary(Log2, LOG2, self)
    def log10(self): return _unary(Log10, LOG10, self)
    def sqrt(self): return _unary(Sqrt, SQRT, self)
    def sigmoid(self): return _unary(Sigmoid, SIGMOID, self)
    def relu(self): return _unary(Relu, RELU, self)
    def absolute(self): return _unary(Abs, ABS, self)
    def add(self, other): return _function2(Add, ADD, self, other)
    def multiply(self, other): return _function2(Mul, MUL, self, other)
    def power(self, other): return _function2(Pow, POW, self, other)
    def maximum(self, other): return _function2(Maximum, MAXIMUM, self, other)
    def minimum(self, other): return _function2(Minimum, MINIMUM, self, other)
    def arctan2(self, other): return _function2(Arctan2, ARCTAN2, self, other)
    def subtract(self, other): return _function2(Sub, SUB, self, other)
    def divide(self, other): return _function2(Div, DIV, self, other)


cdef double _compare_value(object x) except? -1.0:
    if isinstance(x, Ops):
        return (<Ops>x).val
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"cannot compare a node with {type(x).__name__}")


cdef inline Ops _unary(type cls, int op, Ops x):
    """A new node cls(x) of a node x."""
    cdef double d
    cdef Ops node = <Ops>cls.__new__(cls)
    node.val = _unary_quiet(op, x.val, &d)
    _add_edge(node, x, d)
    return node


cdef object _arith(int op, object a, object b):
    """A new node op(a, b) of nodes or numbers; NotImplemented for anything else."""
    cdef double av, bv, da, db
    cdef int ka = _operand(a, &av)
    cdef int kb = _operand(b, &bv)
    if ka == OTHER or kb == OTHER:
        return NotImplemented
    cdef type cls = _OPERATOR_CLASSES[op]
    cdef Ops node = <Ops>cls.__new__(cls)
    node.val = _binary_quiet(op, av, bv, &da, &db)
    if ka == NODE:
        _add_edge(node, <Ops>a, da)
    if kb == NODE:
        _add_edge(node, <Ops>b, db)
    _keep_constant(node, ka == NUMBER, kb == NUMBER, av, bv)
    return node


cdef inline void _keep_constant(Ops node, bint a_number, bint b_number, double a, double b) noexcept:
    """In a binary node with one number operand, remember that number and its side."""
    if a_number != b_number:
        node.edges.one.constant = a if a_number else b
        node.edges.one.constant_first = a_number


cdef int _init_unary(Ops node, int op, object x) except -1:
    """cls(x).__init__: x is a node or a number (then the node has no children)."""
    cdef double d
    _clear_edges(node)
    _drain()
    if isinstance(x, Ops):
        node.val = _unary_quiet(op, (<Ops>x).val, &d)
        _add_edge(node, <Ops>x, d)
    else:
        node.val = _unary_quiet(op, _real(x), &d)
    return 0


cdef int _init_binary(Ops node, int op, object a, object b) except -1:
    """cls(a, b).__init__: a and b are nodes or numbers (a number is a constant)."""
    cdef double av, bv, da, db
    cdef bint a_node = isinstance(a, Ops)
    cdef bint b_node = isinstance(b, Ops)
    av = (<Ops>a).val if a_node else _real(a)
    bv = (<Ops>b).val if b_node else _real(b)
    _clear_edges(node)
    _drain()
    node.val = _binary_quiet(op, av, bv, &da, &db)
    if a_node:
        _add_edge(node, <Ops>a, da)
    if b_node:
        _add_edge(node, <Ops>b, db)
    _keep_constant(node, not a_node, not b_node, av, bv)
    return 0


cdef object _function1(type cls, int op, object x):
    """The module function of a unary primitive: a node of a node, a float of a number."""
    cdef double d
    if isinstance(x, Ops):
        return _unary(cls, op, <Ops>x)
    return _unary_quiet(op, _real(x), &d)


cdef object _function2(type cls, int op, object a, object b):
    """The module function of a binary primitive: a node if a or b is one, else a float."""
    cdef double da, db
    if isinstance(a, Ops) or isinstance(b, Ops):
        node = <Ops>cls.__new__(cls)
        _init_binary(node, op, a, b)
        return node
    return _binary_quiet(op, _real(a), _real(b), &da, &db)


@cython.auto_pickle(False)
cdef class Var(Ops):
    """A leaf node: a variable, with no children.

    >>> Var(2.0).value
    2.0
    """
    def __init__(self, value):
        self.val = _real(value)


# One class per primitive, as in the tutorial; the rules are in the table above.
cdef class Neg(Ops):
    """Neg(x): the node ``negative(x)``."""
    def __init__(self, x): _init_unary(self, NEG, x)

cdef class Inv(Ops):
    """Inv(x): the node ``reciprocal(x)``."""
    def __init__(self, x): _init_unary(self, INV, x)

cdef class Sin(Ops):
    """Sin(x): the node ``sin(x)``."""
    def __init__(self, x): _init_unary(self, SIN, x)

cdef class Cos(Ops):
    """Cos(x): the node ``cos(x)``."""
    def __init__(self, x): _init_unary(self, COS, x)

cdef class Tan(Ops):
    """Tan(x): the node ``tan(x)``."""
    def __init__(self, x): _init_unary(self, TAN, x)

cdef class Arcsin(Ops):
    """Arcsin(x): the node ``arcsin(x)``."""
    def __init__(self, x): _init_unary(self, ARCSIN, x)

cdef class Arccos(Ops):
    """Arccos(x): the node ``arccos(x)``."""
    def __init__(self, x): _init_unary(self, ARCCOS, x)

cdef class Arctan(Ops):
    """Arctan(x): the node ``arctan(x)``."""
    def __init__(self, x): _init_unary(self, ARCTAN, x)

cdef class Sinh(Ops):
    """Sinh(x): the node ``sinh(x)``."""
    def __init__(self, x): _init_unary(self, SINH, x)

cdef class Cosh(Ops):
    """Cosh(x): the node ``cosh(x)``."""
    def __init__(self, x): _init_unary(self, COSH, x)

cdef class Tanh(Ops):
    """Tanh(x): the node ``tanh(x)``."""
    def __init__(self, x): _init_unary(self, TANH, x)

cdef class Exp(Ops):
    """Exp(x): the node ``exp(x)``."""
    def __init__(self, x): _init_unary(self, EXP, x)

cdef class Expm1(Ops):
    """Expm1(x): the node ``expm1(x)``."""
    def __init__(self, x): _init_unary(self, EXPM1, x)

cdef class Log(Ops):
    """Log(x): the node ``log(x)``."""
    def __init__(self, x): _init_unary(self, LOG, x)

cdef class Log1p(Ops):
    """Log1p(x): the node ``log1p(x)``."""
    def __init__(self, x): _init_unary(self, LOG1P, x)

cdef class Log2(Ops):
    """Log2(x): the node ``log2(x)``."""
    def __init__(self, x): _init_unary(self, LOG2, x)

cdef class Log10(Ops):
    """Log10(x): the node ``log10(x)``."""
    def __init__(self, x): _init_unary(self, LOG10, x)

cdef class Sqrt(Ops):
    """Sqrt(x): the node ``sqrt(x)``."""
    def __init__(self, x): _init_unary(self, SQRT, x)

cdef class Sigmoid(Ops):
    """Sigmoid(x): the node ``sigmoid(x)``."""
    def __init__(self, x): _init_unary(self, SIGMOID, x)

cdef class Relu(Ops):
    """Relu(x): the node ``relu(x)``."""
    def __init__(self, x): _init_unary(self, RELU, x)

cdef class Abs(Ops):
    """Abs(x): the node ``absolute(x)``."""
    def __init__(self, x): _init_unary(self, ABS, x)

cdef class Add(Ops):
    """Add(a, b): the node ``add(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, ADD, a, b)

cdef class Mul(Ops):
    """Mul(a, b): the node ``multiply(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, MUL, a, b)

cdef class Pow(Ops):
    """Pow(a, b): the node ``power(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, POW, a, b)

cdef class Maximum(Ops):
    """Maximum(a, b): the node ``maximum(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, MAXIMUM, a, b)

cdef class Minimum(Ops):
    """Minimum(a, b): the node ``minimum(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, MINIMUM, a, b)

cdef class Arctan2(Ops):
    """Arctan2(a, b): the node ``arctan2(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, ARCTAN2, a, b)

cdef class Sub(Ops):
    """Sub(a, b): the node ``subtract(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, SUB, a, b)

cdef class Div(Ops):
    """Div(a, b): the node ``divide(a, b)``; a and b are nodes or numbers (a number is a constant: no edge)."""
    def __init__(self, a, b): _init_binary(self, DIV, a, b)


# The class of each operator's node, by BinaryOp, for _arith.
cdef tuple _OPERATOR_CLASSES = (Add, Mul, Pow, Maximum, Minimum, Arctan2, Sub, Div)


# The module functions, NumPy's names: a node of nodes, a float of numbers.  Plain C
# functions (binding=False), called with METH_O / METH_FASTCALL and no argument parsing.
@cython.binding(False)
def negative(x):
    """negative(...): a Neg node of nodes, or a float of numbers."""
    return _function1(Neg, NEG, x)

@cython.binding(False)
def reciprocal(x):
    """reciprocal(...): a Inv node of nodes, or a float of numbers."""
    return _function1(Inv, INV, x)

@cython.binding(False)
def sin(x):
    """sin(...): a Sin node of nodes, or a float of numbers."""
    return _function1(Sin, SIN, x)

@cython.binding(False)
def cos(x):
    """cos(...): a Cos node of nodes, or a float of numbers."""
    return _function1(Cos, COS, x)

@cython.binding(False)
def tan(x):
    """tan(...): a Tan node of nodes, or a float of numbers."""
    return _function1(Tan, TAN, x)

@cython.binding(False)
def arcsin(x):
    """arcsin(...): a Arcsin node of nodes, or a float of numbers."""
    return _function1(Arcsin, ARCSIN, x)

@cython.binding(False)
def arccos(x):
    """arccos(...): a Arccos node of nodes, or a float of numbers."""
    return _function1(Arccos, ARCCOS, x)

@cython.binding(False)
def arctan(x):
    """arctan(...): a Arctan node of nodes, or a float of numbers."""
    return _function1(Arctan, ARCTAN, x)

@cython.binding(False)
def sinh(x):
    """sinh(...): a Sinh node of nodes, or a float of numbers."""
    return _function1(Sinh, SINH, x)

@cython.binding(False)
def cosh(x):
    """cosh(...): a Cosh node of nodes, or a float of numbers."""
    return _function1(Cosh, COSH, x)

@cython.binding(False)
def tanh(x):
    """tanh(...): a Tanh node of nodes, or a float of numbers."""
    return _function1(Tanh, TANH, x)

@cython.binding(False)
def exp(x):
    """exp(...): a Exp node of nodes, or a float of numbers."""
    return _function1(Exp, EXP, x)

@cython.binding(False)
def expm1(x):
    """expm1(...): a Expm1 node of nodes, or a float of numbers."""
    return _function1(Expm1, EXPM1, x)

@cython.binding(False)
def log(x):
    """log(...): a Log node of nodes, or a float of numbers."""
    return _function1(Log, LOG, x)

@cython.binding(False)
def log1p(x):
    """log1p(...): a Log1p node of nodes, or a float of numbers."""
    return _function1(Log1p, LOG1P, x)

@cython.binding(False)
def log2(x):
    """log2(...): a Log2 node of nodes, or a float of numbers."""
    return _function1(Log2, LOG2, x)

@cython.binding(False)
def log10(x):
    """log10(...): a Log10 node of nodes, or a float of numbers."""
    return _function1(Log10, LOG10, x)

@cython.binding(False)
def sqrt(x):
    """sqrt(...): a Sqrt node of nodes, or a float of numbers."""
    return _function1(Sqrt, SQRT, x)

@cython.binding(False)
def sigmoid(x):
    """sigmoid(...): a Sigmoid node of nodes, or a float of numbers."""
    return _function1(Sigmoid, SIGMOID, x)

@cython.binding(False)
def relu(x):
    """relu(...): a Relu node of nodes, or a float of numbers."""
    return _function1(Relu, RELU, x)

@cython.binding(False)
def absolute(x):
    """absolute(...): a Abs node of nodes, or a float of numbers."""
    return _function1(Abs, ABS, x)

@cython.binding(False)
def add(a, b):
    """add(...): a Add node of nodes, or a float of numbers."""
    return _function2(Add, ADD, a, b)

@cython.binding(False)
def multiply(a, b):
    """multiply(...): a Mul node of nodes, or a float of numbers."""
    return _function2(Mul, MUL, a, b)

@cython.binding(False)
def power(a, b):
    """power(...): a Pow node of nodes, or a float of numbers."""
    return _function2(Pow, POW, a, b)

@cython.binding(False)
def maximum(a, b):
    """maximum(...): a Maximum node of nodes, or a float of numbers."""
    return _function2(Maximum, MAXIMUM, a, b)

@cython.binding(False)
def minimum(a, b):
    """minimum(...): a Minimum node of nodes, or a float of numbers."""
    return _function2(Minimum, MINIMUM, a, b)

@cython.binding(False)
def arctan2(a, b):
    """arctan2(...): a Arctan2 node of nodes, or a float of numbers."""
    return _function2(Arctan2, ARCTAN2, a, b)

@cython.binding(False)
def subtract(a, b):
    """subtract(...): a Sub node of nodes, or a float of numbers."""
    return _function2(Sub, SUB, a, b)

@cython.binding(False)
def divide(a, b):
    """divide(...): a Div node of nodes, or a float of numbers."""
    return _function2(Div, DIV, a, b)


PRIMITIVES = {
    "negative": Neg, "reciprocal": Inv, "sin": Sin, "cos": Cos, "tan": Tan,
    "arcsin": Arcsin, "arccos": Arccos, "arctan": Arctan, "sinh": Sinh, "cosh": Cosh,
    "tanh": Tanh, "exp": Exp, "expm1": Expm1, "log": Log, "log1p": Log1p, "log2": Log2,
    "log10": Log10, "sqrt": Sqrt, "sigmoid": Sigmoid, "relu": Relu, "absolute": Abs,
    "add": Add, "multiply": Mul, "power": Pow, "maximum": Maximum, "minimum": Minimum,
    "arctan2": Arctan2, "subtract": Sub, "divide": Div,
}
for _name, _cls in PRIMITIVES.items():
    __all__ += [_name, _cls.__name__]

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
    _unmark(&w, NULL, 0)
    try:
        result = _PyDict_NewPresized(w.n - 1)
        for i in range(w.n - 2, -1, -1):
            result[<object>w.order[i]] = w.adjoint[i]
    finally:
        _free_walk(&w)
    return result


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
    cdef bint is_array
    cdef Py_buffer view
    if isinstance(wrt, Ops):
        return gradients(root, [wrt])[0]
    is_array = isinstance(wrt, _ndarray)
    if is_array:
        nodes = wrt.ravel().tolist()
    elif isinstance(wrt, (list, tuple)):
        nodes = wrt
    else:
        raise TypeError(f"wrt must be a node, a list or tuple of nodes, or an object array, "
                        f"got {type(wrt).__name__}")
    for node in nodes:
        if not isinstance(node, Ops):
            raise TypeError(f"wrt must hold nodes, got {type(node).__name__}")
    if not isinstance(root, Ops):
        raise TypeError(f"expected a node, got {type(root).__name__}")
    k = len(nodes)
    out = <double*>malloc(max(k, 1) * sizeof(double))
    if out == NULL:
        raise MemoryError()
    try:
        _adjoints(<Ops>root, &w)
        for i in range(k):
            m = (<Ops>nodes[i]).mark
            out[i] = w.adjoint[m - 1] if m > 0 else 0.0
        _unmark(&w, NULL, 0)
        _free_walk(&w)
        if not is_array:
            return [out[i] for i in range(k)]
        # A float64 array filled through the buffer protocol (no memoryview object).
        result = np.empty(k, dtype=np.float64)
        PyObject_GetBuffer(result, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
        memcpy(view.buf, out, k * sizeof(double))
        PyBuffer_Release(&view)
        return result.reshape(wrt.shape)
    finally:
        free(out)

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
    a = np.asarray(array)
    if a.dtype.kind not in "biufO":
        raise TypeError(f"to_var needs real numbers, got an array of {a.dtype}")
    out = np.empty(a.shape, dtype=object)
    flat = out.reshape(-1)
    if a.dtype.kind == "O":
        for i, v in enumerate(a.flat):
            flat[i] = Var(v)
        return out
    cdef double[::1] values = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    nodes = [None] * values.shape[0]
    for i in range(values.shape[0]):
        node = Var.__new__(Var)
        node.val = values[i]
        nodes[i] = node
    flat[:] = nodes
    return out


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


_UFUNCS = {name: globals()[name] for name in PRIMITIVES}
