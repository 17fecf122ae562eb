# Typed declarations of the compiled engine (autodiff/_engine.pyx).
#
# A node is 64 bytes: the 16-byte object header, its value, two inline edges and two
# counters.  It holds no Python object fields, so it is not tracked by the cyclic GC:
# a graph only points from newer nodes to older ones and cannot form a cycle.

from cpython.object cimport PyObject


cdef struct Edge:
    PyObject* child         # a strong reference to the child node (an Ops)
    double local            # the local derivative d node / d child


cdef union Edges:
    Edge pair[2]            # n <= 2: the edges themselves
    Edge* many              # n > 2: a malloc'd array of n edges (user-defined nodes only)


cdef class Ops:
    cdef double val         # the node's value (Python: .value)
    cdef Edges edges        # children and local derivatives (Python: .grad)
    cdef int n              # how many edges
    cdef int mark           # 0 outside a walk; during one, -1 while on the DFS stack,
                            # then 1 + the node's position in the topological order
