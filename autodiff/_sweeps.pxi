# Tangent and second-order sweeps of a Tape (included by _replay.pyx): jvp, vjp,
# Jacobians, Hessian-vector products, Hessians and their compressed (sparse) forms.
#
# Activity.  A slot is active when it depends on a differentiated input (argnums): the
# differentiated inputs, and every instruction with an active operand.  Tangent sweeps
# write and read active slots only, and an instruction's tangent sums the terms of its
# active operands only (iact[i]: bit 1 the first operand is active, bit 2 the second), so a
# constant or a non-differentiated input never brings an inf * 0 = nan into a derivative
# it does not enter (sqrt(y) at y = 0 with y not differentiated).  Reverse sweeps skip
# inactive instructions: they only reach inactive slots.
#
# Lanes.  Vector sweeps carry L directions per slot, lane-contiguous: T[s * L + l] (the
# Hessian kernels at the end interleave tangents and adjoint tangents per slot instead).
# Each lane does exactly the operations of the scalar sweep with that direction, so a
# Jacobian's column is bit for bit the jvp along that basis vector and a Hessian's column
# the hvp.
#
# Tangents of the local derivatives (for hvp and Hessians): with the second partials of
# _second.pxd, d(da) = daa * ta + dab * tb and d(db) = dab * ta + dbb * tb, active terms
# only; add and subtract have constant locals (0, 0), and multiply's are exactly (tb, ta)
# (tb or ta counted only when active, else 0.0).  The reference engine
# (_record_reference.py) writes the same rules in the same order.
from autodiff._second cimport _unary_second, _power_const_second, _binary_second


cdef inline void _values_locals(const Instr* p, Local* lc, double* vals,
                                double* out) noexcept nogil:
    """One instruction of _forward: its value (into *out) and local derivatives."""
    cdef double a, b
    if p.op == BINARY + ADD:
        out[0] = vals[p.a] + vals[p.b]
        lc.da = 1.0
        lc.db = 1.0
    elif p.op == BINARY + MUL:
        a = vals[p.a]
        b = vals[p.b]
        out[0] = a * b
        lc.da = b
        lc.db = a
    elif p.op == BINARY + SUB:          # _binary_rule's SUB, without the dispatch
        out[0] = vals[p.a] - vals[p.b]
        lc.da = 1.0
        lc.db = -1.0
    elif p.op == POWC:
        out[0] = _power_const(vals[p.a], vals[p.b], &lc.da)
    elif p.op < BINARY:
        out[0] = _unary_rule(p.op, vals[p.a], &lc.da)
    else:
        out[0] = _binary_rule(p.op - BINARY, vals[p.a], vals[p.b], &lc.da, &lc.db)


cdef inline void _local_tangents(const Instr* p, const Local* lc, int f, const double* vals,
                                 double y, double ta, double tb, double* tda,
                                 double* tdb) noexcept nogil:
    """Tangents of an active instruction's local derivatives along (ta, tb)."""
    cdef double s, daa, dab, dbb
    if p.op == POWC:
        s = _power_const_second(vals[p.a], vals[p.b], y, lc.da)
        tda[0] = s * ta
        tdb[0] = 0.0
    elif p.op < BINARY:
        s = _unary_second(p.op, vals[p.a], y, lc.da)
        tda[0] = s * ta
        tdb[0] = 0.0
    elif p.op == BINARY + ADD or p.op == BINARY + SUB:
        tda[0] = 0.0
        tdb[0] = 0.0
    elif p.op == BINARY + MUL:
        tda[0] = tb if f & 2 else 0.0
        tdb[0] = ta if f & 1 else 0.0
    else:
        _binary_second(p.op - BINARY, vals[p.a], vals[p.b], y, lc.da, lc.db, &daa, &dab, &dbb)
        if f == 3:
            tda[0] = daa * ta + dab * tb
            tdb[0] = dab * ta + dbb * tb
        elif f == 1:
            tda[0] = daa * ta
            tdb[0] = dab * ta
        else:
            tda[0] = dab * tb
            tdb[0] = dbb * tb


cdef void _tangents(const Instr* code, const Local* loc, Py_ssize_t n_ops, double* T,
                    Py_ssize_t L, const unsigned char* iact, Py_ssize_t base) noexcept nogil:
    """Forward tangents, L lanes, after _forward: T[o] = da T[a] + db T[b] (active terms)."""
    cdef Py_ssize_t i, l
    cdef int f
    cdef double da, db
    cdef double* to
    cdef const double* ta
    cdef const double* tb
    for i in range(n_ops):
        f = iact[i]
        if f == 0:
            continue
        da = loc[i].da
        db = loc[i].db
        to = T + (base + i) * L
        ta = T + code[i].a * L
        tb = T + code[i].b * L
        if f == 3:
            for l in range(L):
                to[l] = da * ta[l] + db * tb[l]
        elif f == 1:
            for l in range(L):
                to[l] = da * ta[l]
        else:
            for l in range(L):
                to[l] = db * tb[l]


cdef void _reverse(const Instr* code, const Local* loc, Py_ssize_t last, double* adjoint,
                   const unsigned char* iact, Py_ssize_t base,
                   unsigned char* reached) noexcept nogil:
    """Adjoints from seeded outputs: instructions last .. 0, active ones only; with
    ``reached``, only those reached from a seeded slot (structural zeros elsewhere)."""
    cdef Py_ssize_t i
    cdef double g
    cdef const Instr* p
    for i in range(last, -1, -1):
        if iact[i] == 0:
            continue
        if reached != NULL:
            if not reached[base + i]:
                continue
            reached[code[i].a] = 1
            reached[code[i].b] = 1
        p = &code[i]
        g = adjoint[base + i]
        adjoint[p.a] += g * loc[i].da
        if p.op >= BINARY:
            adjoint[p.b] += g * loc[i].db


# One point's sweeps, on a workspace whose inputs (and constants) are loaded: the bodies of
# Tape.jvp, vjp, jacobian and hvp, and of the batched methods (_batch_higher.pxi), which
# call them per point.  A TapeView is the read-only part of a tape they need.
cdef struct TapeView:
    const Instr* code
    Py_ssize_t n_ops, n_slots, n_work, base, root, n_out, n_dir
    const Py_ssize_t* outs          # per output: its slot
    const Py_ssize_t* cols          # per direction: its slot
    const unsigned char* act        # n_slots + n_ops: slot activity, then iact


cdef void _jvp_point(const TapeView* v, double* ws, const double* d,
                     double* o) noexcept nogil:
    """o (n_out) = J d, d (n_dir) the tangent; ws has n_work + n_slots doubles."""
    cdef Py_ssize_t j, k
    cdef Local* loc = <Local*>(ws + 2 * v.n_slots)
    cdef double* t = ws + v.n_work
    for j in range(v.n_dir):
        t[v.cols[j]] = d[j]
    _forward(v.code, loc, v.n_ops, ws, v.base)
    _tangents(v.code, loc, v.n_ops, t, 1, v.act + v.n_slots, v.base)
    for k in range(v.n_out):
        o[k] = t[v.outs[k]] if v.act[v.outs[k]] else 0.0


cdef void _vjp_point(const TapeView* v, double* ws, const double* c) noexcept nogil:
    """c (n_out) the cotangent; the adjoints are left at ws + n_slots (n_work doubles)."""
    cdef Py_ssize_t k
    cdef Local* loc = <Local*>(ws + 2 * v.n_slots)
    cdef double* adjoint = ws + v.n_slots
    _forward(v.code, loc, v.n_ops, ws, v.base)
    memset(adjoint, 0, v.n_slots * sizeof(double))
    for k in range(v.n_out):
        adjoint[v.outs[k]] += c[k]
    _reverse(v.code, loc, v.n_ops - 1, adjoint, v.act + v.n_slots, v.base, NULL)


cdef void _jacobian_forward(const TapeView* v, double* ws, const double* seed,
                            Py_ssize_t n_cols, Py_ssize_t chunk, double* o) noexcept nogil:
    """o (n_out, n_cols, C order) = J seed, seed (n_dir, n_cols, C order) or NULL for the
    identity: forward vector sweeps of up to chunk lanes (ws: n_work + chunk n_slots)."""
    cdef Py_ssize_t j, k, l, L, c0 = 0
    cdef Local* loc = <Local*>(ws + 2 * v.n_slots)
    cdef double* T = ws + v.n_work
    _forward(v.code, loc, v.n_ops, ws, v.base)
    while c0 < n_cols:
        L = min(chunk, n_cols - c0)
        for j in range(v.n_dir):
            for l in range(L):
                if seed == NULL:
                    T[v.cols[j] * L + l] = 1.0 if j - c0 == l else 0.0
                else:
                    T[v.cols[j] * L + l] = seed[j * n_cols + c0 + l]
        _tangents(v.code, loc, v.n_ops, T, L, v.act + v.n_slots, v.base)
        for k in range(v.n_out):
            for l in range(L):
                o[k * n_cols + c0 + l] = T[v.outs[k] * L + l] if v.act[v.outs[k]] else 0.0
        c0 += L


cdef void _jacobian_reverse(const TapeView* v, double* ws, double* o) noexcept nogil:
    """o (n_out, n_dir, C order) = J, one reverse sweep per output over the instructions
    it reaches (ws: n_work + n_slots)."""
    cdef Py_ssize_t j, k
    cdef Local* loc = <Local*>(ws + 2 * v.n_slots)
    cdef double* adj = ws + v.n_slots
    cdef unsigned char* reached = <unsigned char*>(ws + v.n_work)
    _forward(v.code, loc, v.n_ops, ws, v.base)
    for k in range(v.n_out):
        memset(adj, 0, v.n_slots * sizeof(double))
        memset(reached, 0, v.n_slots)
        adj[v.outs[k]] = 1.0
        reached[v.outs[k]] = 1
        _reverse(v.code, loc, v.outs[k] - v.base, adj, v.act + v.n_slots, v.base, reached)
        for j in range(v.n_dir):
            o[k * v.n_dir + j] = adj[v.cols[j]]


cdef void _hvp_point(const TapeView* v, double* ws, const double* d) noexcept nogil:
    """H d, d (n_dir) the direction: forward-over-reverse (_hvp_forward, _hvp_reverse);
    the adjoints' tangents are left at ws + n_work + n_slots (ws: 2 n_work doubles)."""
    cdef Py_ssize_t j
    cdef Local* loc = <Local*>(ws + 2 * v.n_slots)
    cdef double* adj = ws + v.n_slots
    cdef double* t = ws + v.n_work
    cdef double* adjt = t + v.n_slots
    cdef Local* tl = <Local*>(adjt + v.n_slots)
    cdef const unsigned char* iact = v.act + v.n_slots
    for j in range(v.n_dir):
        t[v.cols[j]] = d[j]
    _hvp_forward(v.code, loc, tl, v.n_ops, ws, t, iact, v.base)
    memset(adj, 0, v.n_slots * sizeof(double))
    memset(adjt, 0, v.n_slots * sizeof(double))
    adj[v.root] = 1.0
    _hvp_reverse(v.code, loc, tl, v.n_ops, adj, adjt, iact, v.base)


cdef void _hvp_forward(const Instr* code, Local* loc, Local* tl, Py_ssize_t n_ops,
                       double* vals, double* t, const unsigned char* iact,
                       Py_ssize_t base) noexcept nogil:
    """One pass: values, local derivatives, tangents (t) and tangents of the locals (tl)."""
    cdef Py_ssize_t i
    cdef int f
    cdef double ta, tb, da, db
    cdef const Instr* p = code
    cdef double* out = vals + base
    for i in range(n_ops):
        _values_locals(p, &loc[i], vals, &out[i])
        f = iact[i]
        if f != 0:
            da = loc[i].da
            db = loc[i].db
            ta = t[p.a] if f & 1 else 0.0
            tb = t[p.b] if f & 2 else 0.0
            if f == 3:
                t[base + i] = da * ta + db * tb
            elif f == 1:
                t[base + i] = da * ta
            else:
                t[base + i] = db * tb
            _local_tangents(p, &loc[i], f, vals, out[i], ta, tb, &tl[i].da, &tl[i].db)
        p += 1


cdef void _hvp_reverse(const Instr* code, const Local* loc, const Local* tl,
                       Py_ssize_t n_ops, double* adj, double* adjt,
                       const unsigned char* iact, Py_ssize_t base) noexcept nogil:
    """Adjoints and their tangents, from adj[root] = 1 (set by the caller)."""
    cdef Py_ssize_t i
    cdef double g, gt
    cdef const Instr* p
    for i in range(n_ops - 1, -1, -1):
        if iact[i] == 0:
            continue
        p = &code[i]
        g = adj[base + i]
        gt = adjt[base + i]
        adj[p.a] += g * loc[i].da
        adjt[p.a] += gt * loc[i].da + g * tl[i].da
        if p.op >= BINARY:
            adj[p.b] += g * loc[i].db
            adjt[p.b] += gt * loc[i].db + g * tl[i].db


# Hessians: fixed-width lane kernels.  H . S (S a seed matrix: the identity, or a plan's
# colour groups) is computed W directions at a time with the operations of _hvp_forward and
# _hvp_reverse per lane, reorganised so that no lane repeats scalar work:
#   - the first chunk's forward pass also computes the values, the local derivatives and,
#     per active instruction, its second partials (sec[3 i .. 3 i + 2]: daa, dab, dbb;
#     unary and POWC: s in sec[3 i]; add, subtract and multiply need none); its reverse
#     pass also computes the adjoints adj (as _reverse; they do not depend on the
#     direction).  Later chunks reuse all of these;
#   - the tangent of a local derivative (tl of _hvp_forward) is not stored: the reverse
#     pass recomputes it from the operands' tangents by the same expression (slots are
#     written once, so they still hold the same values): d(da) = daa ta + dab tb and so
#     on, multiply's (tb, ta), add's and subtract's (0, 0).
# Each lane therefore computes exactly what _hvp_forward/_hvp_reverse compute for its
# direction: a column of the Hessian is bit for bit the hvp along it.  (Terms that are
# structurally zero, g * 0 for add, subtract and a multiply by a constant, are kept: they
# make nan where the adjoint g is inf or nan, as the reference does; dropping them would
# save 2-4% of the instructions and change that rule in both engines.)
# Lanes are interleaved per slot: the tangents of slot s at TA[2 W s + l], its adjoint
# tangents at TA[2 W s + W + l] (one cache line holds both for W = 4).  Only active slots
# are read or written: an active instruction's adjoint (first chunk) and adjoint tangents
# are zeroed where its tangents are computed, the differentiated inputs' by the caller
# (_seed_lanes), and adjoints are accumulated only into active operands (an inactive
# slot's adjoint is never read).  W is a compile-time constant in each specialisation
# (_hessian_lanes: the loops unroll and vectorise); lanes past the chunk's directions
# carry zero seeds and are never read.
cdef enum:
    MAX_WIDTH = 16          # the widest lane kernel (_hessian_lanes)


cdef inline void _add_lanes(double* dst, const double* src, const Py_ssize_t W) noexcept nogil:
    cdef Py_ssize_t l
    for l in range(W):
        dst[l] += src[l]


cdef inline void _linear_lanes(const double* ato, double g, double da, double db, int f,
                               double* ata, double* atb, const Py_ssize_t W) noexcept nogil:
    """Adjoint tangents through an instruction whose local tangents are 0 here (add,
    subtract, a multiply with one constant operand): ato d + g * 0, per active operand."""
    cdef Py_ssize_t l
    cdef double z = g * 0.0
    cdef double r[MAX_WIDTH]
    if f & 1:
        for l in range(W):
            r[l] = ato[l] * da + z
        _add_lanes(ata, r, W)
    if f & 2:
        for l in range(W):
            r[l] = ato[l] * db + z
        _add_lanes(atb, r, W)


cdef inline void _seed_lanes(double* TA, double* adj, const Py_ssize_t* cols,
                             Py_ssize_t n_dir, const double* seed, Py_ssize_t n_cols,
                             Py_ssize_t c0, Py_ssize_t L, const Py_ssize_t W,
                             const bint first) noexcept nogil:
    """Tangents of the differentiated inputs for columns c0 .. c0 + L - 1 of seed (NULL:
    the identity), zero past L; their adjoint tangents (and, first, adjoints) zeroed."""
    cdef Py_ssize_t j, l
    cdef double* ts
    for j in range(n_dir):
        ts = TA + 2 * W * cols[j]
        for l in range(W):
            ts[l] = 0.0
            ts[W + l] = 0.0
        if seed == NULL:
            if 0 <= j - c0 < L:
                ts[j - c0] = 1.0
        else:
            for l in range(L):
                ts[l] = seed[j * n_cols + c0 + l]
        if first:
            adj[cols[j]] = 0.0


cdef inline void _lane_forward(const Instr* code, Local* loc, double* sec, Py_ssize_t n_ops,
                               double* vals, double* adj, double* TA,
                               const unsigned char* iact, Py_ssize_t base,
                               const Py_ssize_t W, const bint first) noexcept nogil:
    """Tangents of the active instructions (as _hvp_forward), W lanes; their adjoint
    tangents zeroed.  first: also values, local derivatives, second partials, and the
    active instructions' adjoints zeroed."""
    cdef Py_ssize_t i, l
    cdef int f, op
    cdef double da, db
    cdef double r[MAX_WIDTH]
    cdef const Instr* p
    cdef double* out = vals + base
    cdef double* to
    cdef const double* ta
    cdef const double* tb
    for i in range(n_ops):
        p = &code[i]
        if first:
            _values_locals(p, &loc[i], vals, &out[i])
        f = iact[i]
        if f == 0:
            continue
        da = loc[i].da
        db = loc[i].db
        if first:
            adj[base + i] = 0.0
            op = p.op
            if op == POWC:
                sec[3 * i] = _power_const_second(vals[p.a], vals[p.b], out[i], da)
            elif op < BINARY:
                sec[3 * i] = _unary_second(op, vals[p.a], out[i], da)
            elif op != BINARY + ADD and op != BINARY + SUB and op != BINARY + MUL:
                _binary_second(op - BINARY, vals[p.a], vals[p.b], out[i], da, db,
                               &sec[3 * i], &sec[3 * i + 1], &sec[3 * i + 2])
        to = TA + 2 * W * (base + i)
        ta = TA + 2 * W * p.a
        tb = TA + 2 * W * p.b
        if f == 3:
            for l in range(W):
                r[l] = da * ta[l] + db * tb[l]
        elif f == 1:
            for l in range(W):
                r[l] = da * ta[l]
        else:
            for l in range(W):
                r[l] = db * tb[l]
        for l in range(W):
            to[l] = r[l]
            to[W + l] = 0.0


cdef inline void _lane_reverse(const Instr* code, const Local* loc, const double* sec,
                               Py_ssize_t n_ops, double* adj, double* TA,
                               const unsigned char* iact, Py_ssize_t base,
                               const Py_ssize_t W, const bint first) noexcept nogil:
    """Adjoint tangents (as _hvp_reverse), W lanes, from the adjoints adj; first: the
    adjoints too (from adj[root] = 1, set by the caller)."""
    cdef Py_ssize_t i, l
    cdef int f, op
    cdef double g, s, da, db, daa, dab, dbb
    cdef double ga[MAX_WIDTH]
    cdef double gb[MAX_WIDTH]
    cdef const Instr* p
    cdef const double* ato
    cdef const double* ta
    cdef const double* tb
    cdef double* ata
    cdef double* atb
    for i in range(n_ops - 1, -1, -1):
        f = iact[i]
        if f == 0:
            continue
        p = &code[i]
        op = p.op
        g = adj[base + i]
        da = loc[i].da
        db = loc[i].db
        if first:
            if f & 1:
                adj[p.a] += g * da
            if f & 2:
                adj[p.b] += g * db
        ato = TA + 2 * W * (base + i) + W
        ta = TA + 2 * W * p.a
        tb = TA + 2 * W * p.b
        ata = TA + 2 * W * p.a + W
        atb = TA + 2 * W * p.b + W
        if op < BINARY:                         # unary or POWC (f == 1): d(da) = s ta
            s = sec[3 * i]
            for l in range(W):
                ga[l] = ato[l] * da + g * (s * ta[l])
            _add_lanes(ata, ga, W)
        elif op == BINARY + MUL:                # d(da) = tb, d(db) = ta (active ones)
            if f == 3:
                for l in range(W):
                    ga[l] = ato[l] * da + g * tb[l]
                    gb[l] = ato[l] * db + g * ta[l]
                _add_lanes(ata, ga, W)
                _add_lanes(atb, gb, W)
            else:
                _linear_lanes(ato, g, da, db, f, ata, atb, W)
        elif op == BINARY + ADD or op == BINARY + SUB:     # d(da) = d(db) = 0
            _linear_lanes(ato, g, da, db, f, ata, atb, W)
        else:
            daa = sec[3 * i]
            dab = sec[3 * i + 1]
            dbb = sec[3 * i + 2]
            if f == 3:
                for l in range(W):
                    ga[l] = ato[l] * da + g * (daa * ta[l] + dab * tb[l])
                    gb[l] = ato[l] * db + g * (dab * ta[l] + dbb * tb[l])
                _add_lanes(ata, ga, W)
                _add_lanes(atb, gb, W)
            elif f == 1:
                for l in range(W):
                    ga[l] = ato[l] * da + g * (daa * ta[l])
                _add_lanes(ata, ga, W)
            else:
                for l in range(W):
                    gb[l] = ato[l] * db + g * (dbb * tb[l])
                _add_lanes(atb, gb, W)


cdef inline void _chunk(const Instr* code, Local* loc, double* sec, Py_ssize_t n_ops,
                        double* vals, double* adj, double* TA, const unsigned char* iact,
                        Py_ssize_t base, Py_ssize_t root, const Py_ssize_t* cols,
                        Py_ssize_t n_dir, const double* seed, Py_ssize_t n_cols,
                        Py_ssize_t c0, Py_ssize_t L, const Py_ssize_t W,
                        const bint first) noexcept nogil:
    _seed_lanes(TA, adj, cols, n_dir, seed, n_cols, c0, L, W, first)
    _lane_forward(code, loc, sec, n_ops, vals, adj, TA, iact, base, W, first)
    if first:
        adj[root] = 1.0
    _lane_reverse(code, loc, sec, n_ops, adj, TA, iact, base, W, first)


cdef void _hessian_lanes(const Instr* code, Local* loc, double* sec, Py_ssize_t n_ops,
                         double* vals, double* adj, double* TA, const unsigned char* iact,
                         Py_ssize_t base, Py_ssize_t root, const Py_ssize_t* cols,
                         Py_ssize_t n_dir, const double* seed, Py_ssize_t n_cols,
                         Py_ssize_t c0, Py_ssize_t L, Py_ssize_t W,
                         bint first) noexcept nogil:
    """One chunk: directions c0 .. c0 + L - 1 of seed (NULL: the identity) in a lane kernel
    of width W (a power of 2 up to MAX_WIDTH, L <= W); first: the first chunk (values,
    locals, second partials and adjoints too).  Afterwards the adjoint tangents of the
    differentiated input cols[j] for direction c0 + l are at TA[2 W cols[j] + W + l]."""
    if first:
        if W == 1:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 1, True)
        elif W == 2:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 2, True)
        elif W == 4:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 4, True)
        elif W == 8:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 8, True)
        else:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, MAX_WIDTH, True)
    else:
        if W == 1:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 1, False)
        elif W == 2:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 2, False)
        elif W == 4:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 4, False)
        elif W == 8:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, 8, False)
        else:
            _chunk(code, loc, sec, n_ops, vals, adj, TA, iact, base, root, cols, n_dir, seed,
                   n_cols, c0, L, MAX_WIDTH, False)


cdef inline Py_ssize_t _lane_width(Py_ssize_t n_cols) noexcept nogil:
    """The narrowest lane kernel holding n_cols directions, at most MAX_WIDTH."""
    cdef Py_ssize_t W = 1
    while W < n_cols and W < MAX_WIDTH:
        W *= 2
    return W


cdef inline Py_ssize_t _hessian_width(Py_ssize_t n_cols, Py_ssize_t n_slots) noexcept nogil:
    """The lane width of a Hessian sweep over n_cols directions: the narrowest kernel that
    holds them, halved while the lanes would pass MAX_WORKSPACE doubles."""
    cdef Py_ssize_t W = _lane_width(n_cols)
    while W > 1 and 2 * W * n_slots > MAX_WORKSPACE:
        W //= 2
    return W


cdef inline Py_ssize_t _hessian_workspace(Py_ssize_t n_work, Py_ssize_t n_ops,
                                          Py_ssize_t n_slots, Py_ssize_t W) noexcept nogil:
    """Doubles in a Hessian sweep's workspace: values, adjoints and locals (n_work), second
    partials (3 n_ops), 2 W lanes per slot, and 8 for the lanes' 64-byte alignment."""
    return n_work + 3 * n_ops + 2 * W * n_slots + 8


cdef void _hessian_chunked(const Instr* code, Py_ssize_t n_ops, Py_ssize_t n_slots,
                           Py_ssize_t n_work, double* ws, const unsigned char* iact,
                           Py_ssize_t base, Py_ssize_t root, const Py_ssize_t* cols,
                           Py_ssize_t n_dir, const double* seed, Py_ssize_t n_cols,
                           double* H, Py_ssize_t W) noexcept nogil:
    """H (n_dir, n_cols, C order) = the Hessian times seed (NULL: the identity), the inputs
    already in ws (of _hessian_workspace doubles): chunks of W directions, then the
    remainder in the narrowest kernel that holds it.  Tape.hessian, Tape.sparse_hessian
    and the batched hessian all sweep through here."""
    cdef Py_ssize_t k, l, c0 = 0, L, w
    cdef double* sec = ws + n_work
    cdef double* TA = <double*>((<size_t>(sec + 3 * n_ops) + 63) & ~(<size_t>63))
    cdef const double* ts
    while c0 < n_cols:
        L = min(W, n_cols - c0)
        w = _lane_width(L)
        _hessian_lanes(code, <Local*>(ws + 2 * n_slots), sec, n_ops, ws, ws + n_slots, TA,
                       iact, base, root, cols, n_dir, seed, n_cols, c0, L, w, c0 == 0)
        for k in range(n_dir):
            ts = TA + 2 * w * cols[k] + w
            for l in range(L):
                H[k * n_cols + c0 + l] = ts[l]
        c0 += L
