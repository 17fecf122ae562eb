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
# Lanes.  Vector sweeps carry L directions per slot, lane-contiguous: T[s * L + l].  Each
# lane does exactly the operations of the scalar sweep with that direction, so a Jacobian's
# column is bit for bit the jvp along that basis vector and a Hessian's column the hvp.
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


cdef void _hvp_forward_lanes(const Instr* code, Local* loc, double* TL, Py_ssize_t n_ops,
                             double* vals, double* T, Py_ssize_t L,
                             const unsigned char* iact, Py_ssize_t base) noexcept nogil:
    """_hvp_forward with L lanes: T[s L + l]; TL[2 L i + l] d(da), TL[2 L i + L + l] d(db).

    The second partials are computed once per instruction; each lane then does the
    operations of _hvp_forward and _local_tangents, in the same order."""
    cdef Py_ssize_t i, l
    cdef int f, op
    cdef double da, db, s, daa, dab, dbb
    cdef const Instr* p = code
    cdef double* out = vals + base
    cdef double* to
    cdef const double* ta
    cdef const double* tb
    cdef double* tla
    cdef double* tlb
    for i in range(n_ops):
        _values_locals(p, &loc[i], vals, &out[i])
        f = iact[i]
        if f != 0:
            op = p.op
            da = loc[i].da
            db = loc[i].db
            to = T + (base + i) * L
            ta = T + p.a * L
            tb = T + p.b * L
            tla = TL + 2 * L * i
            tlb = tla + L
            if f == 3:
                for l in range(L):
                    to[l] = da * ta[l] + db * tb[l]
            elif f == 1:
                for l in range(L):
                    to[l] = da * ta[l]
            else:
                for l in range(L):
                    to[l] = db * tb[l]
            if op < BINARY:                 # unary or POWC: f == 1
                if op == POWC:
                    s = _power_const_second(vals[p.a], vals[p.b], out[i], da)
                else:
                    s = _unary_second(op, vals[p.a], out[i], da)
                for l in range(L):
                    tla[l] = s * ta[l]
                    tlb[l] = 0.0
            elif op == BINARY + ADD or op == BINARY + SUB:
                for l in range(L):
                    tla[l] = 0.0
                    tlb[l] = 0.0
            elif op == BINARY + MUL:
                for l in range(L):
                    tla[l] = tb[l] if f & 2 else 0.0
                    tlb[l] = ta[l] if f & 1 else 0.0
            else:
                _binary_second(op - BINARY, vals[p.a], vals[p.b], out[i], da, db,
                               &daa, &dab, &dbb)
                if f == 3:
                    for l in range(L):
                        tla[l] = daa * ta[l] + dab * tb[l]
                        tlb[l] = dab * ta[l] + dbb * tb[l]
                elif f == 1:
                    for l in range(L):
                        tla[l] = daa * ta[l]
                        tlb[l] = dab * ta[l]
                else:
                    for l in range(L):
                        tla[l] = dab * tb[l]
                        tlb[l] = dbb * tb[l]
        p += 1


cdef void _hvp_reverse_lanes(const Instr* code, const Local* loc, const double* TL,
                             Py_ssize_t n_ops, double* adj, double* AT, Py_ssize_t L,
                             const unsigned char* iact, Py_ssize_t base) noexcept nogil:
    cdef Py_ssize_t i, l
    cdef double g, da, db
    cdef const Instr* p
    cdef const double* tla
    cdef const double* tlb
    cdef double* ato
    cdef double* ata
    cdef double* atb
    for i in range(n_ops - 1, -1, -1):
        if iact[i] == 0:
            continue
        p = &code[i]
        g = adj[base + i]
        da = loc[i].da
        db = loc[i].db
        tla = TL + 2 * L * i
        tlb = tla + L
        ato = AT + (base + i) * L
        ata = AT + p.a * L
        adj[p.a] += g * da
        for l in range(L):
            ata[l] += ato[l] * da + g * tla[l]
        if p.op >= BINARY:
            atb = AT + p.b * L
            adj[p.b] += g * db
            for l in range(L):
                atb[l] += ato[l] * db + g * tlb[l]
