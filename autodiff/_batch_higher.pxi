# Batched tangent and second-order methods (issue 13), included by _replay.pyx after
# _batch.pxi: BatchedTape.jvp, vjp, jacobian, hvp and hessian.
#
# Per point, not blocked.  These sweeps carry per point one or more tangent lanes, several
# local-derivative tangents and reverse passes seeded per output; blocking them over points
# as _batch.pxi does for value_and_grad would be a second implementation of every kernel of
# _sweeps.pxi.  Here each point runs the very kernels a single Tape call runs
# (_forward, _tangents, _reverse, _hvp_forward, _hvp_reverse, _hessian_chunked), in the
# same order, with the same seeds and, for the vector sweeps, the same number of lanes
# (Tape._lanes, _hessian_width), so each point's result is the single call's, bit
# for bit, by construction.  What the batch saves is everything around the sweeps: the
# Python call, the argument checks and conversions, the workspace pop and push and the
# result objects, once per point; and the points run with the GIL released, on up to
# ``workers`` threads (contiguous ranges of points, one per thread).
#
# Memory safety (as _batch.pxi): every argument and direction is checked and converted to
# a float64 C-contiguous array, and every output allocated, before any C loop.  A
# _HigherCall owns them all and the tape (whose code, constants, activity and columns the
# loops read; Tape._prepare has built those before the call is made, and they are never
# replaced); every thread runs a bound method of the call, so the call outlives them.  Each
# thread mallocs its own single-point workspace.  No Python code runs in the C loops.

from libc.stdlib cimport calloc

cdef enum:
    HIGHER_THREAD_WORK = 1 << 18    # point-instructions (~1 ms) a thread must get to be
                                    # worth starting (as _batch.pxi's THREAD_WORK)
    H_JVP = 1
    H_VJP = 2
    H_JAC_FORWARD = 3
    H_JAC_REVERSE = 4
    H_HVP = 5
    H_HESSIAN = 6


cdef struct HigherJob:
    int kind
    TapeView view                   # the tape's code, sizes, outputs, directions, activity
    const double* constants
    Py_ssize_t n_inputs
    Py_ssize_t n_args
    const Py_ssize_t* offset
    const Py_ssize_t* size
    const double** inputs           # per argument: (N, size) if batched, else (size,)
    const int* batched
    Py_ssize_t n_points
    const double* dirs              # (N, n_dir) tangents or v, (N, n_out) cotangents
    Py_ssize_t lanes                # vector sweeps: lanes per chunk (as Tape._lanes)
    Py_ssize_t ws_size              # doubles in a thread's workspace
    double* values                  # (N, n_out) or NULL
    double* out                     # see _higher_point


cdef void _higher_point(const HigherJob* job, double* ws, Py_ssize_t i) noexcept nogil:
    """Point i's result, its arguments already in ws's input slots.

    out is (N, n_out) for jvp, (N, n_dir) for vjp and hvp, (N, n_out, n_dir) for the
    Jacobian and (N, n_dir, n_dir) for the Hessian.  Each branch runs the sweeps of the
    Tape method of the same name (_sweeps.pxi), into the point's row."""
    cdef const TapeView* v = &job.view
    cdef Py_ssize_t j, k, n_dir = v.n_dir, n_out = v.n_out
    cdef const double* r
    cdef double* o
    if job.kind == H_JVP:
        _jvp_point(v, ws, job.dirs + i * n_dir, job.out + i * n_out)
    elif job.kind == H_VJP:
        _vjp_point(v, ws, job.dirs + i * n_out)
        r = ws + v.n_slots                      # the adjoints
        o = job.out + i * n_dir
        for j in range(n_dir):
            o[j] = r[v.cols[j]]
    elif job.kind == H_JAC_FORWARD:
        _jacobian_forward(v, ws, NULL, n_dir, job.lanes, job.out + i * n_out * n_dir)
    elif job.kind == H_JAC_REVERSE:
        _jacobian_reverse(v, ws, job.out + i * n_out * n_dir)
    elif job.kind == H_HVP:
        _hvp_point(v, ws, job.dirs + i * n_dir)
        r = ws + v.n_work + v.n_slots           # the adjoints' tangents
        o = job.out + i * n_dir
        for j in range(n_dir):
            o[j] = r[v.cols[j]]
    elif job.kind == H_HESSIAN:
        _hessian_chunked(v.code, v.n_ops, v.n_slots, v.n_work, ws, v.act + v.n_slots, v.base,
                         v.root, v.cols, n_dir, NULL, n_dir, job.out + i * n_dir * n_dir,
                         job.lanes)
    if job.values != NULL:
        o = job.values + i * n_out
        for k in range(n_out):
            o[k] = ws[v.outs[k]]


cdef int _higher_points(const HigherJob* job, Py_ssize_t first, Py_ssize_t last) noexcept nogil:
    """Points first .. last - 1, in a single-point workspace of this call's own.

    Returns 0, or -1 if the workspace cannot be allocated (nothing written then)."""
    cdef Py_ssize_t i, k, s
    cdef double* ws
    if first >= last:
        return 0
    ws = <double*>calloc(max(job.ws_size, 1), sizeof(double))
    if ws == NULL:
        return -1
    memcpy(ws + job.n_inputs, job.constants, (job.view.base - job.n_inputs) * sizeof(double))
    for k in range(job.n_args):
        if not job.batched[k] and job.size[k] > 0:
            memcpy(ws + job.offset[k], job.inputs[k], job.size[k] * sizeof(double))
    for i in range(first, last):
        for k in range(job.n_args):
            s = job.size[k]
            if job.batched[k] and s > 0:
                memcpy(ws + job.offset[k], job.inputs[k] + i * s, s * sizeof(double))
        _higher_point(job, ws, i)
    free(ws)
    return 0


@cython.final
@cython.auto_pickle(False)
cdef class _HigherCall:
    """One batched tangent or second-order call: owns its arrays and the C job into them."""
    cdef HigherJob job
    cdef Tape tape              # the job reads its code, constants, activity and columns
    cdef list arrays            # the inputs, directions and outputs the job points into
    cdef const double** inputs
    cdef int* batched
    cdef public bint failed

    def __cinit__(self):
        self.inputs = NULL
        self.batched = NULL
        self.failed = False

    def __dealloc__(self):
        free(self.inputs)
        free(self.batched)

    def run(self, Py_ssize_t first, Py_ssize_t last):
        """Points first .. last - 1 with the GIL released (any thread)."""
        cdef int status
        if self.tape is None or self.job.kind == 0:
            raise TypeError("a _HigherCall is made by a batched tape only")
        if not 0 <= first <= last <= self.job.n_points:
            raise ValueError("point range out of bounds")
        with nogil:
            status = _higher_points(&self.job, first, last)
        if status != 0:
            self.failed = True


cdef double* _matrix_pointer(object a, Py_ssize_t rows, Py_ssize_t cols) except? NULL:
    """The data of a C-contiguous float64 (rows, cols) array, its shape re-checked (NULL
    when it is empty)."""
    cdef double[:, ::1] view = a
    if view.shape[0] != rows or view.shape[1] != cols:
        raise ValueError("batched array of the wrong shape")
    return &view[0, 0] if rows * cols > 0 else NULL


cdef _HigherCall _prepare_higher(Tape t, int kind, Py_ssize_t n, list arrays, tuple axes,
                                 object dirs, object values, object out, Py_ssize_t width):
    """A call over n >= 1 points; arrays, dirs, values and out are checked C-contiguous
    float64 (dirs and values may be None), out (n, width) of the kind's layout."""
    cdef _HigherCall call = _HigherCall()
    cdef Py_ssize_t k, per_lane = 0
    cdef double[::1] view
    call.tape = t
    call.arrays = arrays + [dirs, values, out]
    call.inputs = <const double**>malloc(max(t.n_args, 1) * sizeof(double*))
    call.batched = <int*>malloc(max(t.n_args, 1) * sizeof(int))
    if call.inputs == NULL or call.batched == NULL:
        raise MemoryError()
    for k in range(t.n_args):
        call.batched[k] = axes[k] is not None
        if call.batched[k]:             # re-checked here: the C loops trust these shapes
            call.inputs[k] = _matrix_pointer(arrays[k], n, t.size[k])
        else:
            view = arrays[k]
            if view.shape[0] != t.size[k]:
                raise ValueError("shared argument of the wrong size")
            call.inputs[k] = &view[0] if t.size[k] > 0 else NULL
    call.job.dirs = NULL
    if kind == H_JVP or kind == H_HVP:
        call.job.dirs = _matrix_pointer(dirs, n, t.n_dir)
    elif kind == H_VJP:
        call.job.dirs = _matrix_pointer(dirs, n, t.n_out)
    call.job.values = NULL
    if values is not None:
        call.job.values = _matrix_pointer(values, n, t.n_out)
    call.job.out = _matrix_pointer(out, n, width)
    # The workspace of the Tape method of the same kind, with its number of lanes.
    call.job.lanes = 1
    if kind == H_JVP or kind == H_JAC_REVERSE:
        call.job.ws_size = t.n_work + t.n_slots
    elif kind == H_VJP:
        call.job.ws_size = t.n_work
    elif kind == H_HVP:
        call.job.ws_size = 2 * t.n_work
    elif kind == H_JAC_FORWARD:
        call.job.lanes = t._lanes(t.n_dir, t.n_slots)
        call.job.ws_size = t.n_work + call.job.lanes * t.n_slots
    else:
        call.job.lanes = _hessian_width(t.n_dir, t.n_slots)
        call.job.ws_size = _hessian_workspace(t.n_work, t.n_ops, t.n_slots, call.job.lanes)
    call.job.kind = kind
    t._view(&call.job.view)
    call.job.constants = t.constants
    call.job.n_inputs = t.n_inputs
    call.job.n_args = t.n_args
    call.job.offset = t.offset
    call.job.size = t.size
    call.job.inputs = call.inputs
    call.job.batched = call.batched
    call.job.n_points = n
    return call


cdef object _dispatch_higher(_HigherCall call, Py_ssize_t workers, Py_ssize_t per_point):
    """Run every point: contiguous ranges on workers - 1 threads and on this one (fewer
    threads when a range would get less than HIGHER_THREAD_WORK point-instructions)."""
    cdef Py_ssize_t n = call.job.n_points
    cdef Py_ssize_t work = n * max(per_point, 1)
    cdef Py_ssize_t k, count = min(workers, n, max(1, work // HIGHER_THREAD_WORK))
    if count <= 0:
        return
    _on_threads(call.run, _ranges(n, count))
    if call.failed:
        raise MemoryError("vmap: out of memory for a workspace")


cdef object _run_higher(Tape t, tuple axes, Py_ssize_t n, list arrays, object dirs,
                        int kind, bint with_values, Py_ssize_t workers):
    """Allocate and sweep (arguments and directions checked): (values or None, out), out
    (n, width) in the kind's layout (see _higher_point)."""
    cdef Py_ssize_t width, per_point
    cdef _HigherCall call
    if kind == H_JAC_FORWARD and not t.n_dir < t.n_out:
        kind = H_JAC_REVERSE            # as Tape._jacobian_matrix chooses
    per_point = t.n_ops
    if kind == H_JVP:
        width = t.n_out
    elif kind == H_VJP or kind == H_HVP:
        width = t.n_dir
    elif kind == H_HESSIAN:
        width = t.n_dir * t.n_dir
        per_point = t.n_ops * (1 + t.n_dir)
    else:
        width = t.n_out * t.n_dir
        per_point = t.n_ops * (1 + min(t.n_dir, t.n_out))
    values = np.empty((n, t.n_out), dtype=np.float64) if with_values else None
    out = np.empty((n, width), dtype=np.float64)
    if n > 0:
        call = _prepare_higher(t, kind, n, arrays, axes, dirs, values, out, width)
        _dispatch_higher(call, workers, per_point)
    return values, out


cdef object _batched_values(Tape t, Py_ssize_t n, object values):
    return values.reshape((n,) + (() if t.out_shape is None else tuple(t.out_shape)))


cdef tuple _higher_inputs(Tape t, tuple axes, tuple args, object workers, str what,
                          bint directions, bint scalar):
    """The checks of a batched method, in the reference engine's order: (workers, n,
    arrays, last) with last the trailing direction argument (unchecked) or None."""
    t._check()
    workers = _batch_py.check_workers(workers)
    last = None
    if directions:
        if len(args) == 0:
            raise TypeError(f"the batched tape's {what} takes the tape's {t.n_args} "
                            f"argument(s) and then the {what} vector, each with a leading "
                            f"axis of points; got no arguments")
        last = args[len(args) - 1]
        args = args[:len(args) - 1]
    if scalar:
        t._scalar_only(what)
    t._prepare()
    sizes = [t.size[k] for k in range(t.n_args)]
    n, arrays = _batch_py.batch_inputs(t.name, t.shapes, sizes, axes, args)
    return workers, n, arrays, last


cdef object _batched_jvp(Tape t, tuple axes, tuple args, object workers):
    workers, n, arrays, tangent = _higher_inputs(t, axes, args, workers, "jvp", True, False)
    dirs = _batch_py.batch_directions(t.name, t.shapes, t.argnums, t.single, n, tangent,
                                      "the tangent")
    values, out = _run_higher(t, axes, n, arrays, dirs, H_JVP, True, workers)
    return _batched_values(t, n, values), _batched_values(t, n, out)


cdef object _batched_vjp(Tape t, tuple axes, tuple args, object workers):
    workers, n, arrays, cotangent = _higher_inputs(t, axes, args, workers, "vjp", True,
                                                   False)
    dirs = _batch_py.batch_cotangent(t.name, t.out_shape, n, cotangent, "the cotangent")
    values, out = _run_higher(t, axes, n, arrays, dirs, H_VJP, True, workers)
    return (_batched_values(t, n, values),
            _batch_py.batch_columns(out, n, (), t.shapes, t.argnums, t.single))


cdef object _batched_jacobian(Tape t, tuple axes, tuple args, object workers):
    workers, n, arrays, _ = _higher_inputs(t, axes, args, workers, "jacobian", False, False)
    values, out = _run_higher(t, axes, n, arrays, None, H_JAC_FORWARD, False, workers)
    lead = () if t.out_shape is None else tuple(t.out_shape)
    return _batch_py.batch_columns(out, n, lead, t.shapes, t.argnums, t.single)


cdef object _batched_hvp(Tape t, tuple axes, tuple args, object workers):
    workers, n, arrays, v = _higher_inputs(t, axes, args, workers, "hvp", True, True)
    dirs = _batch_py.batch_directions(t.name, t.shapes, t.argnums, t.single, n, v, "v")
    values, out = _run_higher(t, axes, n, arrays, dirs, H_HVP, False, workers)
    return _batch_py.batch_columns(out, n, (), t.shapes, t.argnums, t.single)


cdef object _batched_hessian(Tape t, tuple axes, tuple args, object workers):
    workers, n, arrays, _ = _higher_inputs(t, axes, args, workers, "hessian", False, True)
    values, out = _run_higher(t, axes, n, arrays, None, H_HESSIAN, False, workers)
    return _batch_py.batch_hessian(out, n, t.shapes, t.argnums, t.single)
