# Typed declarations of the compiled engine (autodiff/_engine.pyx).
#
# A node is 64 bytes: the 16-byte object header, its value, two inline edges and two
# counters.  A node of a built-in class holds no Python object fields and is not tracked
# by the cyclic GC: its edges, fixed when it is made, point at older nodes only, so such
# nodes cannot form a cycle.  Cycles need a user-defined node; the GC sees the edges of
# those (and of built-in nodes made above them) through tp_traverse (see _engine.pyx).
#
# The rule for every user of these declarations (the replay included): no borrowed
# pointer, walk mark, edge count or shared buffer is held across a point where Python
# code can run; see the top of _engine.pyx.

from cpython.object cimport PyObject


cdef struct Edge:
    PyObject* child         # a strong reference to the child node (an Ops)
    double local            # the local derivative d node / d child


cdef struct OneEdge:
    Edge edge               # the edge to the node operand (the same memory as pair[0])
    double constant         # the other operand, a number (kept so that a tape can replay it)
    int constant_first      # 1 if the number is the first operand (c - x), else 0


cdef union Edges:
    Edge pair[2]            # n <= 2: the edges themselves
    OneEdge one             # n == 1 in a binary node with a number operand
    Edge* many              # n > 2: a malloc'd array of n edges (user-defined nodes only)


cdef class Ops:
    cdef double val         # the node's value (Python: .value)
    cdef Edges edges        # children and local derivatives (Python: .grad)
    cdef int n              # how many edges
    cdef int mark           # 0 outside a walk; during one, -1 while on the DFS stack,
                            # then 1 + the node's position in the topological order


cdef inline Edge* _edges(Ops node) noexcept:
    """A node's edges, inline or on the heap."""
    return node.edges.many if node.n > 2 else node.edges.pair


cdef struct Frame:
    PyObject* node          # a node on the depth-first stack (borrowed)
    int next                # the index of its next edge to follow


cdef struct Walk:
    PyObject** order        # the reachable nodes, each child before its parents, root last
    double* adjoint         # adjoint[i] = d root / d order[i] (NULL until swept)
    Py_ssize_t n            # how many


# The topological order of the nodes reachable from root; leaves each node's mark at
# 1 + its position, to be reset with _unmark(w, NULL, 0), and w to be freed by _free_walk.
cdef int _topological_order(Ops root, Walk* w) except -1
cdef void _unmark(Walk* w, Frame* stack, Py_ssize_t depth) noexcept
cdef void _free_walk(Walk* w) noexcept
