# Pickling and copying tapes (issue 13): to be written.

cdef object _reduce(Tape tape):
    raise TypeError(_NO_PICKLE)


cdef object _copy(Tape tape):
    raise TypeError(_NO_PICKLE)
