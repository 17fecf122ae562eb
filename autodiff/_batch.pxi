# Batched replay over many points (issue 13): to be written.

cdef object _vmap(Tape tape, object in_axes):
    raise NotImplementedError("Tape.vmap is not written yet")
