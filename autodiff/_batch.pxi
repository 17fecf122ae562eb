# Batched replay over many points (issue 13), included at the end of _replay.pyx.
#
# tape.vmap(in_axes) is a BatchedTape: its methods take every argument with a leading axis
# of N points (or one value shared by every point, where in_axes says None) and sweep the
# tape over blocks of B points at a time, in C, with the GIL released:
#
# - structure of arrays: a workspace holds, per slot, B values (slot s of point j at
#   vals[s * B + j]), per instruction B local derivatives of each operand, and per slot B
#   adjoints; the instruction loop is outside, the loop over the points of a block inside,
#   so that an instruction's dispatch is paid once per block and the inner loop is plain
#   arithmetic over contiguous doubles;
# - the same expressions as a single call (_forward and _backward in _replay.pyx, and the
#   rules of _rules.pxd), point by point in the same order, so the same bits: the inner
#   loops call the rule with a constant opcode (ADD, MUL, SUB, DIV), which the compiler
#   folds to that rule's row, or with the instruction's opcode;
# - workers=k splits the blocks into up to k contiguous ranges (fewer if a thread would get
#   less than THREAD_WORK point-instructions), one per thread (threading.Thread running a
#   nogil C function, and the calling thread itself), each with a workspace of its own.
#
# Memory safety (the rule of _replay.pyx): every argument is checked and converted to a
# float64 C-contiguous array, and every output array allocated, before any C loop
# (autodiff/_batch_reference.py's batch_inputs, the same checks as the reference engine's).
# A _BatchCall owns them all, and the C pointers into them; every thread holds a reference
# to it, so the buffers outlive every thread that writes or reads them, even if the caller
# is interrupted while it waits.  No Python code runs in the C loops.  An argument that is
# already a float64 C-contiguous array is read in place, not copied (a copy would cost more
# than the sweep): the call's reference makes NumPy refuse to resize or free it, as for
# any NumPy operation that releases the GIL; only ndarray.resize(refcheck=False), which
# NumPy documents as unsafe for exactly this reason, could pull it away.

import threading

cdef enum:
    MAX_BLOCK = 64                  # points per block
    BLOCK_BUDGET = 4 * 1024 * 1024  # bytes: a larger workspace halves the block
    THREAD_WORK = 1 << 18           # point-instructions (~1 ms) a thread must get to be
                                    # worth starting: a small batch runs on fewer threads


cdef struct BatchJob:
    const Instr* code
    const double* constants
    Py_ssize_t n_ops, n_slots, n_inputs, base, root, n_out
    const Py_ssize_t* outs
    Py_ssize_t n_args
    const Py_ssize_t* offset
    const Py_ssize_t* size
    const double** inputs           # per argument: (N, size) if batched, else (size,)
    const int* batched              # per argument: 1 if it has a leading axis of points
    Py_ssize_t n_points, block
    double* values                  # (N, n_out)
    bint backward
    Py_ssize_t n_grads
    const Py_ssize_t* grad_arg      # per gradient: its argument
    double** grads                  # per gradient: (N, size of its argument)


@cython.cdivision(True)
cdef void _forward_block(const Instr* code, Py_ssize_t n_ops, double* vals, double* da,
                         double* db, Py_ssize_t base, Py_ssize_t B, Py_ssize_t bn) noexcept nogil:
    """_forward for points 0 .. bn - 1 of a block (instruction outside, points inside)."""
    cdef Py_ssize_t i, j
    cdef const Instr* p
    cdef const double* x
    cdef const double* y
    cdef double* out
    cdef double* la
    cdef double* lb
    cdef int op
    for i in range(n_ops):
        p = &code[i]
        op = p.op
        x = vals + p.a * B
        y = vals + p.b * B
        out = vals + (base + i) * B
        la = da + i * B
        lb = db + i * B
        # A constant opcode folds _binary_rule to its row: the same expressions, unrolled.
        if op == BINARY + ADD:
            for j in range(bn):
                out[j] = _binary_rule(ADD, x[j], y[j], &la[j], &lb[j])
        elif op == BINARY + MUL:
            for j in range(bn):
                out[j] = _binary_rule(MUL, x[j], y[j], &la[j], &lb[j])
        elif op == BINARY + SUB:
            for j in range(bn):
                out[j] = _binary_rule(SUB, x[j], y[j], &la[j], &lb[j])
        elif op == BINARY + DIV:
            for j in range(bn):
                out[j] = _binary_rule(DIV, x[j], y[j], &la[j], &lb[j])
        elif op == POWC:
            for j in range(bn):
                out[j] = _power_const(x[j], y[j], &la[j])
        elif op < BINARY:
            for j in range(bn):
                out[j] = _unary_rule(op, x[j], &la[j])
        else:
            op = op - BINARY
            for j in range(bn):
                out[j] = _binary_rule(op, x[j], y[j], &la[j], &lb[j])


cdef void _backward_block(const Instr* code, Py_ssize_t n_ops, double* adj, const double* da,
                          const double* db, Py_ssize_t n_slots, Py_ssize_t base,
                          Py_ssize_t root, Py_ssize_t B, Py_ssize_t bn) noexcept nogil:
    """_backward for points 0 .. bn - 1 of a block: per point, the same sums in the same order."""
    cdef Py_ssize_t i, j
    cdef const Instr* p
    cdef const double* g
    cdef const double* l
    cdef double* t
    memset(adj, 0, n_slots * B * sizeof(double))
    t = adj + root * B
    for j in range(bn):
        t[j] = 1.0
    for i in range(n_ops - 1, -1, -1):
        p = &code[i]
        g = adj + (base + i) * B
        t = adj + p.a * B
        l = da + i * B
        for j in range(bn):
            t[j] += g[j] * l[j]
        if p.op >= BINARY:
            t = adj + p.b * B
            l = db + i * B
            for j in range(bn):
                t[j] += g[j] * l[j]


cdef int _sweep_blocks(const BatchJob* job, Py_ssize_t first, Py_ssize_t last) noexcept nogil:
    """Blocks first .. last - 1 of the points, in a workspace of this call's own.

    Returns 0, or -1 if the workspace cannot be allocated (nothing written then).
    """
    cdef Py_ssize_t B = job.block, n_slots = job.n_slots, n_ops = job.n_ops
    cdef Py_ssize_t blk, start, bn, j, e, k, s, off, o, g
    cdef double* ws
    cdef double* vals
    cdef double* adj
    cdef double* da
    cdef double* db
    cdef double* row
    cdef double* dst
    cdef const double* src
    cdef double v
    if first >= last:
        return 0
    ws = <double*>malloc((2 * n_slots + 2 * n_ops) * B * sizeof(double))
    if ws == NULL:
        return -1
    vals = ws
    adj = ws + n_slots * B
    da = adj + n_slots * B
    db = da + n_ops * B
    # What every point shares, once: the constants and the arguments without a batch axis.
    for s in range(job.base - job.n_inputs):
        v = job.constants[s]
        row = vals + (job.n_inputs + s) * B
        for j in range(B):
            row[j] = v
    for k in range(job.n_args):
        if not job.batched[k]:
            for e in range(job.size[k]):
                v = job.inputs[k][e]
                row = vals + (job.offset[k] + e) * B
                for j in range(B):
                    row[j] = v
    for blk in range(first, last):
        start = blk * B
        bn = min(B, job.n_points - start)
        for k in range(job.n_args):
            if job.batched[k]:
                s = job.size[k]
                off = job.offset[k]
                src = job.inputs[k] + start * s
                for e in range(s):
                    row = vals + (off + e) * B
                    if s == 1:          # a number per point: a contiguous copy
                        for j in range(bn):
                            row[j] = src[j]
                    else:
                        for j in range(bn):
                            row[j] = src[j * s + e]
        _forward_block(job.code, n_ops, vals, da, db, job.base, B, bn)
        s = job.n_out
        for o in range(s):
            row = vals + job.outs[o] * B
            dst = job.values + start * s + o
            if s == 1:
                for j in range(bn):
                    dst[j] = row[j]
            else:
                for j in range(bn):
                    dst[j * s] = row[j]
        if job.backward:
            _backward_block(job.code, n_ops, adj, da, db, n_slots, job.base, job.root, B, bn)
            for g in range(job.n_grads):
                k = job.grad_arg[g]
                s = job.size[k]
                off = job.offset[k]
                for e in range(s):
                    row = adj + (off + e) * B
                    dst = job.grads[g] + start * s + e
                    if s == 1:
                        for j in range(bn):
                            dst[j] = row[j]
                    else:
                        for j in range(bn):
                            dst[j * s] = row[j]
    free(ws)
    return 0


@cython.final
@cython.auto_pickle(False)
cdef class _BatchCall:
    """One batched call: owns its arrays and the C job that points into them."""
    cdef BatchJob job
    cdef Tape tape              # the job reads its code, constants, offsets and sizes
    cdef list arrays            # the inputs and outputs the job points into
    cdef const double** inputs
    cdef int* batched
    cdef double** grads
    cdef Py_ssize_t* grad_arg
    cdef public bint failed

    def __cinit__(self):
        self.inputs = NULL
        self.batched = NULL
        self.grads = NULL
        self.grad_arg = NULL
        self.failed = False

    def __dealloc__(self):
        free(self.inputs)
        free(self.batched)
        free(self.grads)
        free(self.grad_arg)

    def run(self, Py_ssize_t first, Py_ssize_t last):
        """Sweep blocks first .. last - 1 with the GIL released (any thread)."""
        cdef int status
        if self.tape is None or self.job.block <= 0:
            raise TypeError("a _BatchCall is made by a batched tape only")
        if not 0 <= first <= last <= (self.job.n_points + self.job.block - 1) // self.job.block:
            raise ValueError("block range out of bounds")
        with nogil:
            status = _sweep_blocks(&self.job, first, last)
        if status != 0:
            self.failed = True


cdef _BatchCall _prepare(Tape t, Py_ssize_t n, list arrays, tuple axes, bint backward,
                         object values, list grads):
    """A call over n points; arrays, values and grads are checked C-contiguous float64."""
    cdef _BatchCall call = _BatchCall()
    cdef Py_ssize_t k, i, per_point, B
    cdef double[::1] view
    cdef double[:, ::1] view2
    call.tape = t
    call.arrays = arrays + [values] + grads
    call.inputs = <const double**>malloc(max(t.n_args, 1) * sizeof(double*))
    call.batched = <int*>malloc(max(t.n_args, 1) * sizeof(int))
    call.grads = <double**>malloc(max(len(grads), 1) * sizeof(double*))
    call.grad_arg = <Py_ssize_t*>malloc(max(len(grads), 1) * sizeof(Py_ssize_t))
    if call.inputs == NULL or call.batched == NULL or call.grads == NULL or call.grad_arg == NULL:
        raise MemoryError()
    for k in range(t.n_args):
        a = arrays[k]
        call.batched[k] = axes[k] is not None
        if call.batched[k]:             # re-checked here: the C loops trust these shapes
            view2 = a
            if view2.shape[0] != n or view2.shape[1] != t.size[k]:
                raise ValueError("batched argument of the wrong shape")
            call.inputs[k] = &view2[0, 0] if n * t.size[k] > 0 else NULL
        else:
            view = a
            if view.shape[0] != t.size[k]:
                raise ValueError("shared argument of the wrong size")
            call.inputs[k] = &view[0] if t.size[k] > 0 else NULL
    view2 = values
    if view2.shape[0] != n or view2.shape[1] != t.n_out:
        raise ValueError("values of the wrong shape")
    call.job.values = &view2[0, 0]
    for i in range(len(grads)):
        k = t.argnums[i]
        view2 = grads[i]
        if view2.shape[0] != n or view2.shape[1] != t.size[k]:
            raise ValueError("gradient of the wrong shape")
        call.grads[i] = &view2[0, 0] if t.size[k] > 0 else NULL
        call.grad_arg[i] = k
    per_point = (2 * t.n_slots + 2 * t.n_ops) * <Py_ssize_t>sizeof(double)
    B = MAX_BLOCK
    while B > 1 and B * per_point > BLOCK_BUDGET:
        B //= 2
    call.job.code = t.code
    call.job.constants = t.constants
    call.job.n_ops = t.n_ops
    call.job.n_slots = t.n_slots
    call.job.n_inputs = t.n_inputs
    call.job.base = t.base
    call.job.root = t.root
    call.job.n_out = t.n_out
    call.job.outs = t.outs
    call.job.n_args = t.n_args
    call.job.offset = t.offset
    call.job.size = t.size
    call.job.inputs = call.inputs
    call.job.batched = call.batched
    call.job.n_points = n
    call.job.block = B
    call.job.backward = backward
    call.job.n_grads = len(grads)
    call.job.grad_arg = call.grad_arg
    call.job.grads = call.grads
    return call


cdef object _dispatch(_BatchCall call, Py_ssize_t workers):
    """Run every block: ranges of blocks on workers - 1 threads and on this one."""
    cdef Py_ssize_t n_blocks = (call.job.n_points + call.job.block - 1) // call.job.block
    cdef Py_ssize_t work = call.job.n_points * max(call.job.n_ops, 1)
    cdef Py_ssize_t k, count = min(workers, n_blocks, max(1, work // THREAD_WORK))
    if count <= 0:
        return
    bounds = [n_blocks * k // count for k in range(count + 1)]
    threads = []
    for k in range(1, count):
        # The thread's target is a bound method of call: it owns the buffers until it ends.
        thread = threading.Thread(target=call.run, args=(bounds[k], bounds[k + 1]),
                                  name="autodiff-vmap", daemon=True)
        try:
            thread.start()
        except RuntimeError:            # cannot start a thread: do its share here
            call.run(bounds[k], bounds[k + 1])
            continue
        threads.append(thread)
    try:
        call.run(bounds[0], bounds[1])
    finally:
        for thread in threads:
            thread.join()
    if call.failed:
        raise MemoryError("vmap: out of memory for a workspace")


cdef object _vmap(Tape tape, object in_axes):
    return _batched(tape, in_axes)


def _batched(tape, in_axes):
    """A batched view of a compiled tape (``Tape.vmap``, and pickle's way back to one)."""
    cdef BatchedTape view
    if type(tape) is not Tape:
        raise TypeError(f"vmap needs a Tape, got {type(tape).__name__}")
    (<Tape>tape)._check()
    view = BatchedTape.__new__(BatchedTape, _TOKEN)
    view._tape = tape
    view._axes = _batch_py.in_axes_tuple(in_axes, (<Tape>tape).n_args, (<Tape>tape).name)
    return view


@cython.final
@cython.auto_pickle(False)
cdef class BatchedTape:
    """A tape over many points: ``tape.vmap(in_axes)``.

    Each method takes the tape's arguments with a leading axis of N points (an argument
    whose ``in_axes`` entry is None is one value shared by every point) and returns float64
    arrays with the leading axis N: the results of N single calls, bit for bit.  The points
    are swept in C, in blocks, with the GIL released; ``workers=k`` splits them across up
    to k threads (fewer for a batch too small to pay for starting them).  ``jvp``, ``vjp``,
    ``jacobian``, ``hvp`` and ``hessian`` take a trailing direction with the leading axis N
    too (one per point) and run point by point, each point with a single call's C sweeps
    (_batch_higher.pxi), also without the GIL and on ``workers`` threads.
    """
    cdef Tape _tape
    cdef tuple _axes

    def __cinit__(self, *args):
        if len(args) != 1 or args[0] is not _TOKEN:
            raise TypeError("a BatchedTape cannot be made directly; call tape.vmap(in_axes)")

    @property
    def tape(self):
        return self._tape

    @property
    def in_axes(self):
        return self._axes

    def __repr__(self):
        return _batch_py.batch_repr(self._tape.name, self._axes)

    def __reduce__(self):
        return _batched, (self._tape, self._axes)

    def __reduce_ex__(self, protocol):
        return _batched, (self._tape, self._axes)

    cdef tuple _run(self, tuple args, object workers, bint backward):
        cdef Tape t = self._tape
        cdef Py_ssize_t n, k
        cdef _BatchCall call
        t._check()
        workers = _batch_py.check_workers(workers)
        if backward and t.n_out != 1:
            raise TypeError(f"the batched tape of {t.name} has {t.n_out} outputs; "
                            f"value_and_grad and grad need a scalar f")
        sizes = []
        for k in range(t.n_args):
            sizes.append(t.size[k])
        n, arrays = _batch_py.batch_inputs(t.name, t.shapes, sizes, self._axes, args)
        values = np.empty((n, t.n_out), dtype=np.float64)
        grads = []
        if backward:
            for i in t.argnums:
                k = i
                grads.append(np.empty((n, t.size[k]), dtype=np.float64))
        if n > 0:
            call = _prepare(t, n, arrays, self._axes, backward, values, grads)
            _dispatch(call, workers)
        out_shape = () if t.out_shape is None else tuple(t.out_shape)
        values = values.reshape((n,) + out_shape)
        shaped = []
        for i, g in zip(t.argnums, grads):
            shape = t.shapes[i]
            shaped.append(g.reshape((n,) + (() if shape is None else tuple(shape))))
        return values, shaped

    def __call__(self, *args, workers=1):
        """The values at N points: a float64 array of shape (N,) + the output's shape."""
        return self._run(args, workers, False)[0]

    def value_and_grad(self, *args, workers=1):
        """``(values, grads)`` at N points: each has a leading axis N."""
        values, grads = self._run(args, workers, True)
        return values, (grads[0] if self._tape.single else tuple(grads))

    def grad(self, *args, workers=1):
        """The gradients at N points, each with a leading axis N."""
        return self.value_and_grad(*args, workers=workers)[1]

    # Tangents and second order (_batch_higher.pxi): per point, the single call's sweeps.
    # The trailing direction (tangent, cotangent, v) always has the leading axis N: one
    # direction per point, whatever in_axes says of the arguments.

    def jvp(self, *args, workers=1):
        """``jvp(*args, tangents)`` -> ``(values, J . tangents)`` at N points.

        ``tangents`` is structured like a single jvp's tangent with a leading axis N on
        each part (an array of shape ``(N,) + shape`` per differentiated argument, a tuple
        of them for tuple argnums).  Both results have shape ``(N,) + out_shape``; point i
        is ``tape.jvp(*args_i, tangent_i)``, bit for bit."""
        return _batched_jvp(self._tape, self._axes, args, workers)

    def vjp(self, *args, workers=1):
        """``vjp(*args, cotangents)`` -> ``(values, cotangents . J)`` at N points.

        ``cotangents`` has shape ``(N,) + out_shape``; the second result is structured like
        ``grad``'s, each part with a leading axis N.  Point i is ``tape.vjp(*args_i,
        cotangent_i)``, bit for bit."""
        return _batched_vjp(self._tape, self._axes, args, workers)

    def jacobian(self, *args, workers=1):
        """The Jacobians at N points: per differentiated argument an array of shape
        ``(N,) + out_shape + arg_shape`` (a tuple of them for tuple argnums); point i is
        ``tape.jacobian(*args_i)``, bit for bit (forward or reverse mode as it chooses)."""
        return _batched_jacobian(self._tape, self._axes, args, workers)

    def hvp(self, *args, workers=1):
        """``hvp(*args, vs)`` -> ``H . v`` at N points (scalar tapes), structured like
        ``grad``'s batched result; ``vs`` as ``jvp``'s tangents.  Point i is
        ``tape.hvp(*args_i, v_i)``, bit for bit."""
        return _batched_hvp(self._tape, self._axes, args, workers)

    def hessian(self, *args, workers=1):
        """The Hessians at N points (scalar tapes): ``(N,) + shape + shape`` for an int
        argnums, else a tuple of tuples with blocks ``(N,) + shape_i + shape_j``; point i
        is ``tape.hessian(*args_i)``, bit for bit."""
        return _batched_hessian(self._tape, self._axes, args, workers)
