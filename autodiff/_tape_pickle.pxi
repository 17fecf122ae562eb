# Pickling and copying tapes (issue 13), included at the end of _replay.pyx.
#
# A tape pickles as (_restore, (state,)): the state is the dict that
# autodiff/_batch_reference.py describes and checks (format version, fingerprint of the
# table, every count, opcode and slot), the same for both engines.  _restore builds a new
# tape from the checked arrays; the copy into C re-checks every index it writes (the arrays
# are the call's own, but a C buffer never trusts a check made elsewhere).

from autodiff import _batch_reference as _batch_py

cdef tuple _TABLE_NAMES = tuple(_engine.PRIMITIVES)     # opcode order: unary, then binary


cdef object _state(Tape tape):
    """The pickle state of a compiled tape (wire opcodes: POWC is len(table))."""
    cdef Py_ssize_t i
    cdef int op
    tape._check()
    code = np.empty((tape.n_ops, 3), dtype=np.int32)
    cdef int[:, ::1] c = code
    for i in range(tape.n_ops):
        op = tape.code[i].op
        if op == POWC:
            op = N_PRIMITIVES
        elif op >= BINARY:
            op = op - BINARY + N_UNARY
        c[i, 0] = op
        c[i, 1] = tape.code[i].a
        c[i, 2] = tape.code[i].b
    constants = [tape.constants[i] for i in range(tape.base - tape.n_inputs)]
    outs = [tape.outs[i] for i in range(tape.n_out)]
    return _batch_py.make_state("compiled", _TABLE_NAMES, tape.name, tape.shapes,
                                tape.argnums, tape.single, tape.n_inputs, constants, code,
                                outs, tape.out_shape)


def _restore(state):
    """A compiled tape from a pickled state (``pickle`` calls this); ValueError if bad."""
    cdef Py_ssize_t i, k, n_ops, n_constants, n_out, limit
    cdef int op
    cdef Tape tape
    cdef const int[:, ::1] c
    cdef const double[::1] consts
    cdef const long long[::1] outs_view
    (name, shapes, sizes, argnums, single, n_inputs, constants, code, outs, out_shape,
     root) = _batch_py.check_state(state, _TABLE_NAMES)
    c = np.ascontiguousarray(code, dtype=np.int32)
    consts = np.ascontiguousarray(constants, dtype=np.float64)
    outs_view = np.ascontiguousarray(outs, dtype=np.int64)
    n_ops = c.shape[0]
    n_constants = consts.shape[0]
    n_out = outs_view.shape[0]

    tape = Tape.__new__(Tape, _TOKEN)
    tape.name = name
    tape.shapes = shapes
    tape.argnums = argnums
    tape.single = single
    tape.n_args = len(shapes)
    tape.n_inputs = n_inputs
    tape.n_ops = n_ops
    tape.base = n_inputs + n_constants
    tape.n_slots = tape.base + n_ops
    tape.root = root
    tape.offset = <Py_ssize_t*>malloc((tape.n_args + 1) * sizeof(Py_ssize_t))
    tape.size = <Py_ssize_t*>malloc((tape.n_args + 1) * sizeof(Py_ssize_t))
    tape.code = <Instr*>malloc(max(n_ops, 1) * sizeof(Instr))
    tape.constants = <double*>malloc(max(n_constants, 1) * sizeof(double))
    tape.outs = <Py_ssize_t*>malloc(max(n_out, 1) * sizeof(Py_ssize_t))
    if (tape.offset == NULL or tape.size == NULL or tape.code == NULL
            or tape.constants == NULL or tape.outs == NULL):
        raise MemoryError()
    k = 0
    for i in range(tape.n_args):
        tape.offset[i] = k
        tape.size[i] = sizes[i]
        k += tape.size[i]
    if k != n_inputs:
        raise ValueError("cannot unpickle this Tape: the arguments' sizes do not add up")
    for i in range(n_constants):
        tape.constants[i] = consts[i]
    for i in range(n_ops):
        op = c[i, 0]
        limit = tape.base + i
        if not (0 <= c[i, 1] < limit and 0 <= c[i, 2] < limit):
            raise ValueError(f"cannot unpickle this Tape: instruction {i} reads a slot "
                             f"not written before it")
        if 0 <= op < N_UNARY:
            if c[i, 1] != c[i, 2]:
                raise ValueError(f"cannot unpickle this Tape: unary instruction {i} has "
                                 f"two operands")
        elif op == N_PRIMITIVES:
            op = POWC
        elif N_UNARY <= op < N_PRIMITIVES:
            op = BINARY + (op - N_UNARY)
        else:
            raise ValueError(f"cannot unpickle this Tape: instruction {i} has the unknown "
                             f"opcode {op}")
        tape.code[i].op = op
        tape.code[i].a = c[i, 1]
        tape.code[i].b = c[i, 2]
    for i in range(n_out):
        if not 0 <= outs_view[i] < tape.n_slots:
            raise ValueError("cannot unpickle this Tape: an output slot is out of range")
        tape.outs[i] = <Py_ssize_t>outs_view[i]
    if n_out < 1 or tape.outs[0] != root:
        raise ValueError("cannot unpickle this Tape: no output slot")
    tape.n_out = n_out
    tape.out_shape = out_shape
    return _finish(tape)


cdef object _reduce(Tape tape):
    return _restore, (_state(tape),)


cdef object _copy(Tape tape):
    return _restore(_state(tape))
