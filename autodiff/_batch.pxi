# Batched replay over many points (issue 13), included at the end of _replay.pyx.
#
# tape.vmap(in_axes) is a BatchedTape: its methods take every argument with a leading axis
# of N points (or one value shared by every point, where in_axes says None) and sweep the
# tape over blocks of B points at a time, in C, with the GIL released:
#
# - structure of arrays: a workspace holds, per slot, B values (slot s of point j at
#   rows[s][j]), per instruction B local derivatives of each operand, and per slot B
#   adjoints (arows[s][j]); the instruction loop is outside, the loop over the points of
#   a block inside, so that an instruction's dispatch is paid once per block and the
#   inner loop is plain arithmetic over contiguous doubles.  Rows are in the workspace,
#   except three kinds that are the block's part of an input or output array itself (no
#   copies): the values of an argument of one number per point, the value of a scalar
#   f, and the adjoints of a differentiated argument of one number per point;
# - the same expressions as a single call (_forward and _backward in _replay.pyx, and the
#   rules of _rules.pxd), point by point in the same order, so the same bits: ADD, SUB,
#   MUL and DIV and the backward sweep's terms in C loops of their own (below, with the
#   identities they rely on), the other operations through the rules with the
#   instruction's opcode;
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
    CHUNK_WORK = 1 << 15            # point-instructions (~30 us) threads take at a time

# The loops over the points of a block for ADD, SUB, MUL, DIV and the backward terms are
# C (below), in two copies where the compiler can make them: portable (SSE2 on x86-64) and
# AVX2, chosen once at import by the CPU (__builtin_cpu_supports).  Both copies compute
# the same IEEE operations in the same order per point (vector lanes are independent, and
# -ffp-contract=off keeps fused multiply-adds out of both), so the bits do not depend on
# which one runs; AUTODIFF_NO_AVX2=1 in the environment at import keeps the portable one.
# The AVX2 copy is built by GCC for x86-64 Linux only (the wheels' compiler there); other
# compilers and platforms build the portable loops alone.
#
# ADD, SUB, MUL and DIV compute the expressions of their rows of _binary_rule (_rules.pxd),
# written out: a + b, a - b, a * b; a / b with the locals 1.0 / b and -(y / b).  ADD, SUB
# and MUL store no local derivatives: the backward sweep knows them.  What the backward
# sweep adds, per point j, to the adjoint row t of an operand is one byte of the plan per
# operand of each instruction (_plan_terms).  The single call adds g * local to an adjoint
# cleared to 0.0; each term is that sum, bit for bit:
#   TERM_NONE   nothing: a constant's adjoint, or that of an argument whose gradient is not
#               asked for (no one reads it)
#   TERM_PLUS   t + g: ADD's locals are 1.0, and g * 1.0 is g exactly (inf, nan, -0.0 and
#               subnormals included)
#   TERM_MINUS  t - g: SUB's db is -1.0; g * -1.0 is -g exactly, and IEEE 754 defines
#               t - g as t + (-g), signed zeros included
#   TERM_TIMES  t + g * l: l a stored local, or MUL's other operand (its local)
#   TERM_FIRST  added to one of the above: the first term an adjoint gets in the sweep,
#               0.0 + ... where the single call has 0.0 (memset) + ...; so no adjoint row
#               needs clearing per block (0.0 + -0.0 is +0.0, as there), only those that
#               no instruction writes (_plan_terms)
# Rows passed to one loop never overlap (restrict): an instruction's result slot comes
# after its operands' slots, and value, local and adjoint rows are in different arrays
# (operand rows may be one row, only read).  A loop over both operands of an instruction
# (autodiff_pair_rows) is used only for two distinct slots.
cdef extern from *:
    """
    #if defined(_MSC_VER)
    #  define AUTODIFF_RESTRICT __restrict
    #  define AUTODIFF_INLINE static __forceinline
    #elif defined(__GNUC__) || defined(__clang__)
    #  define AUTODIFF_RESTRICT __restrict__
    #  define AUTODIFF_INLINE static inline __attribute__((always_inline))
    #else
    #  define AUTODIFF_RESTRICT
    #  define AUTODIFF_INLINE static inline
    #endif
    #if defined(__GNUC__) && !defined(__clang__) && !defined(__INTEL_COMPILER) \\
        && defined(__x86_64__) && defined(__linux__)
    #  define AUTODIFF_HAVE_AVX2 1
    #else
    #  define AUTODIFF_HAVE_AVX2 0
    #endif

    enum { AUTODIFF_TERM_NONE = 0, AUTODIFF_TERM_PLUS = 1, AUTODIFF_TERM_MINUS = 2,
           AUTODIFF_TERM_TIMES = 3, AUTODIFF_TERM_FIRST = 4 };
    enum { AUTODIFF_VALUE_ADD = 0, AUTODIFF_VALUE_SUB = 1, AUTODIFF_VALUE_MUL = 2 };
    #define AUTODIFF_PAIR(a, b) ((a) * 8 + (b))

    AUTODIFF_INLINE double autodiff_term(int term, double t, double g, double l) {
        if (term & AUTODIFF_TERM_FIRST) t = 0.0;
        switch (term & ~AUTODIFF_TERM_FIRST) {
        case AUTODIFF_TERM_PLUS: return t + g;
        case AUTODIFF_TERM_MINUS: return t - g;
        default: return t + g * l;
        }
    }

    /* The loops, for a constant term or op: t[j] and l[j] are loaded only if read. */
    AUTODIFF_INLINE void autodiff_term_loop(int term, double* AUTODIFF_RESTRICT t,
            const double* AUTODIFF_RESTRICT g, const double* AUTODIFF_RESTRICT l,
            Py_ssize_t n) {
        const int old = !(term & AUTODIFF_TERM_FIRST);
        const int times = (term & ~AUTODIFF_TERM_FIRST) == AUTODIFF_TERM_TIMES;
        Py_ssize_t j;
        for (j = 0; j < n; j++)
            t[j] = autodiff_term(term, old ? t[j] : 0.0, g[j], times ? l[j] : 0.0);
    }

    AUTODIFF_INLINE void autodiff_pair_loop(int ta, int tb, double* AUTODIFF_RESTRICT t,
            double* AUTODIFF_RESTRICT u, const double* AUTODIFF_RESTRICT g,
            const double* AUTODIFF_RESTRICT la, const double* AUTODIFF_RESTRICT lb,
            Py_ssize_t n) {
        const int old_a = !(ta & AUTODIFF_TERM_FIRST), old_b = !(tb & AUTODIFF_TERM_FIRST);
        const int times_a = (ta & ~AUTODIFF_TERM_FIRST) == AUTODIFF_TERM_TIMES;
        const int times_b = (tb & ~AUTODIFF_TERM_FIRST) == AUTODIFF_TERM_TIMES;
        Py_ssize_t j;
        for (j = 0; j < n; j++) {
            double gj = g[j];
            t[j] = autodiff_term(ta, old_a ? t[j] : 0.0, gj, times_a ? la[j] : 0.0);
            u[j] = autodiff_term(tb, old_b ? u[j] : 0.0, gj, times_b ? lb[j] : 0.0);
        }
    }

    AUTODIFF_INLINE void autodiff_value_loop(int op, const double* AUTODIFF_RESTRICT x,
            const double* AUTODIFF_RESTRICT y, double* AUTODIFF_RESTRICT out, Py_ssize_t n) {
        Py_ssize_t j;
        for (j = 0; j < n; j++)
            out[j] = op == AUTODIFF_VALUE_ADD ? x[j] + y[j]
                   : op == AUTODIFF_VALUE_SUB ? x[j] - y[j] : x[j] * y[j];
    }

    /* The bodies of the entry points: a switch to the loop of each constant. */
    AUTODIFF_INLINE void autodiff_value_body(int op, const double* x, const double* y,
                                             double* out, Py_ssize_t n) {
        switch (op) {
        case AUTODIFF_VALUE_ADD: autodiff_value_loop(AUTODIFF_VALUE_ADD, x, y, out, n); break;
        case AUTODIFF_VALUE_SUB: autodiff_value_loop(AUTODIFF_VALUE_SUB, x, y, out, n); break;
        default: autodiff_value_loop(AUTODIFF_VALUE_MUL, x, y, out, n); break;
        }
    }

    AUTODIFF_INLINE void autodiff_div_body(const double* AUTODIFF_RESTRICT x,
            const double* AUTODIFF_RESTRICT y, double* AUTODIFF_RESTRICT out,
            double* AUTODIFF_RESTRICT la, double* AUTODIFF_RESTRICT lb, Py_ssize_t n) {
        Py_ssize_t j;
        for (j = 0; j < n; j++) {
            double a = x[j], b = y[j], v = a / b;
            out[j] = v;
            la[j] = 1.0 / b;
            lb[j] = -(v / b);
        }
    }

    AUTODIFF_INLINE void autodiff_term_body(int term, double* t, const double* g,
                                            const double* l, Py_ssize_t n) {
        switch (term) {
        #define AUTODIFF_CASE(T) case T: autodiff_term_loop(T, t, g, l, n); break;
        AUTODIFF_CASE(AUTODIFF_TERM_TIMES)
        AUTODIFF_CASE(AUTODIFF_TERM_TIMES + AUTODIFF_TERM_FIRST)
        AUTODIFF_CASE(AUTODIFF_TERM_PLUS)
        AUTODIFF_CASE(AUTODIFF_TERM_PLUS + AUTODIFF_TERM_FIRST)
        AUTODIFF_CASE(AUTODIFF_TERM_MINUS)
        AUTODIFF_CASE(AUTODIFF_TERM_MINUS + AUTODIFF_TERM_FIRST)
        #undef AUTODIFF_CASE
        default: break;
        }
    }

    AUTODIFF_INLINE void autodiff_pair_body(int ta, int tb, double* t, double* u,
            const double* g, const double* la, const double* lb, Py_ssize_t n) {
        enum { P = AUTODIFF_TERM_PLUS, M = AUTODIFF_TERM_MINUS, T = AUTODIFF_TERM_TIMES,
               F = AUTODIFF_TERM_FIRST };
        switch (AUTODIFF_PAIR(ta, tb)) {
        #define AUTODIFF_CASE(A, B) \\
            case AUTODIFF_PAIR(A, B): autodiff_pair_loop(A, B, t, u, g, la, lb, n); break;
        AUTODIFF_CASE(T, T) AUTODIFF_CASE(T + F, T) AUTODIFF_CASE(T, T + F)
        AUTODIFF_CASE(T + F, T + F)
        AUTODIFF_CASE(P, P) AUTODIFF_CASE(P + F, P) AUTODIFF_CASE(P, P + F)
        AUTODIFF_CASE(P + F, P + F)
        AUTODIFF_CASE(P, M) AUTODIFF_CASE(P + F, M) AUTODIFF_CASE(P, M + F)
        AUTODIFF_CASE(P + F, M + F)
        #undef AUTODIFF_CASE
        default:
            autodiff_term_body(ta, t, g, la, n);
            autodiff_term_body(tb, u, g, lb, n);
        }
    }

    /* Each entry point twice: portable, and (where built) AVX2. */
    #define AUTODIFF_KERNELS(SUFFIX, ATTRIBUTE)                                        \\
    ATTRIBUTE static void autodiff_value_rows_##SUFFIX(int op, const double* x,        \\
            const double* y, double* out, Py_ssize_t n) {                              \\
        autodiff_value_body(op, x, y, out, n); }                                       \\
    ATTRIBUTE static void autodiff_div_rows_##SUFFIX(const double* x, const double* y, \\
            double* out, double* la, double* lb, Py_ssize_t n) {                       \\
        autodiff_div_body(x, y, out, la, lb, n); }                                     \\
    ATTRIBUTE static void autodiff_term_rows_##SUFFIX(int term, double* t,             \\
            const double* g, const double* l, Py_ssize_t n) {                          \\
        autodiff_term_body(term, t, g, l, n); }                                        \\
    ATTRIBUTE static void autodiff_pair_rows_##SUFFIX(int ta, int tb, double* t,       \\
            double* u, const double* g, const double* la, const double* lb,            \\
            Py_ssize_t n) {                                                            \\
        autodiff_pair_body(ta, tb, t, u, g, la, lb, n); }

    #define AUTODIFF_PORTABLE
    AUTODIFF_KERNELS(base, AUTODIFF_PORTABLE)
    #if AUTODIFF_HAVE_AVX2
    AUTODIFF_KERNELS(avx2, __attribute__((target("avx2"))))
    #endif

    /* The next chunk of blocks for a thread of a call: an atomic fetch-and-add on the
       call's cursor (each block is swept once, by whichever thread takes it). */
    #if defined(_MSC_VER) && defined(_WIN64)
    #  include <intrin.h>
    #  define AUTODIFF_HAVE_ATOMIC 1
    static Py_ssize_t autodiff_take(Py_ssize_t* cursor, Py_ssize_t k) {
        return (Py_ssize_t)_InterlockedExchangeAdd64((volatile __int64*)cursor, (__int64)k);
    }
    #elif defined(__GNUC__) || defined(__clang__)
    #  define AUTODIFF_HAVE_ATOMIC 1
    static Py_ssize_t autodiff_take(Py_ssize_t* cursor, Py_ssize_t k) {
        return __atomic_fetch_add(cursor, k, __ATOMIC_RELAXED);
    }
    #else
    #  define AUTODIFF_HAVE_ATOMIC 0
    static Py_ssize_t autodiff_take(Py_ssize_t* cursor, Py_ssize_t k) {
        (void)cursor; (void)k; return 0;    /* not called: the blocks are split up front */
    }
    #endif

    /* Set once at import, with the GIL, before any batched call; only read after. */
    static int autodiff_batch_avx2 = 0;

    static int autodiff_batch_init(int allow_avx2) {
    #if AUTODIFF_HAVE_AVX2
        __builtin_cpu_init();
        autodiff_batch_avx2 = allow_avx2 && __builtin_cpu_supports("avx2");
    #else
        (void)allow_avx2;
    #endif
        return autodiff_batch_avx2;
    }

    #if AUTODIFF_HAVE_AVX2
    #  define AUTODIFF_DISPATCH(NAME, ARGS) \\
        if (autodiff_batch_avx2) NAME##_avx2 ARGS; else NAME##_base ARGS;
    #else
    #  define AUTODIFF_DISPATCH(NAME, ARGS) NAME##_base ARGS;
    #endif

    static void autodiff_value_rows(int op, const double* x, const double* y,
                                    double* out, Py_ssize_t n) {
        AUTODIFF_DISPATCH(autodiff_value_rows, (op, x, y, out, n))
    }
    static void autodiff_div_rows(const double* x, const double* y, double* out,
                                  double* la, double* lb, Py_ssize_t n) {
        AUTODIFF_DISPATCH(autodiff_div_rows, (x, y, out, la, lb, n))
    }
    static void autodiff_term_rows(int term, double* t, const double* g, const double* l,
                                   Py_ssize_t n) {
        AUTODIFF_DISPATCH(autodiff_term_rows, (term, t, g, l, n))
    }
    static void autodiff_pair_rows(int ta, int tb, double* t, double* u, const double* g,
                                   const double* la, const double* lb, Py_ssize_t n) {
        AUTODIFF_DISPATCH(autodiff_pair_rows, (ta, tb, t, u, g, la, lb, n))
    }
    """
    enum:
        TERM_NONE "AUTODIFF_TERM_NONE"
        TERM_PLUS "AUTODIFF_TERM_PLUS"
        TERM_MINUS "AUTODIFF_TERM_MINUS"
        TERM_TIMES "AUTODIFF_TERM_TIMES"
        TERM_FIRST "AUTODIFF_TERM_FIRST"
        VALUE_ADD "AUTODIFF_VALUE_ADD"
        VALUE_SUB "AUTODIFF_VALUE_SUB"
        VALUE_MUL "AUTODIFF_VALUE_MUL"
    int autodiff_batch_avx2
    bint AUTODIFF_HAVE_ATOMIC
    Py_ssize_t autodiff_take(Py_ssize_t* cursor, Py_ssize_t k) nogil
    int autodiff_batch_init(int allow_avx2)
    void autodiff_value_rows(int op, const double* x, const double* y, double* out,
                             Py_ssize_t n) nogil
    void autodiff_div_rows(const double* x, const double* y, double* out, double* la,
                           double* lb, Py_ssize_t n) nogil
    void autodiff_term_rows(int term, double* t, const double* g, const double* l,
                            Py_ssize_t n) nogil
    void autodiff_pair_rows(int ta, int tb, double* t, double* u, const double* g,
                            const double* la, const double* lb, Py_ssize_t n) nogil


import os as _os
autodiff_batch_init(_os.environ.get("AUTODIFF_NO_AVX2", "") != "1")


def _batch_kernels():
    """Which copy of the batched loops runs: "avx2" or "portable" (for the tests)."""
    return "avx2" if autodiff_batch_avx2 else "portable"


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
cdef inline void _rule_rows(int op, const double* x, const double* y, double* out,
                            double* la, double* lb, Py_ssize_t n) noexcept nogil:
    """out[j] = the binary rule op at (x[j], y[j]), its local derivatives to la[j], lb[j]."""
    cdef Py_ssize_t j
    for j in range(n):
        out[j] = _binary_rule(op, x[j], y[j], &la[j], &lb[j])


cdef inline unsigned char _plan_term(int term, Py_ssize_t s, unsigned char* mark) noexcept nogil:
    """The term for an operand in slot s (mark: 1 its adjoint is read, 2 it was written)."""
    if not mark[s] & 1:
        return TERM_NONE
    if mark[s] & 2:
        return term
    mark[s] |= 2
    return term + TERM_FIRST


cdef Py_ssize_t _plan_terms(const BatchJob* job, unsigned char* plan, unsigned char* mark,
                            Py_ssize_t* zero) noexcept nogil:
    """The backward sweep's plan: per instruction i, the terms for its operands (plan[2 i]
    and plan[2 i + 1]); zero[...] the adjoints that are read but that no instruction
    writes (to clear per block).  Returns how many.  mark: n_slots bytes of scratch."""
    cdef Py_ssize_t i, s, k, e, n_zero = 0
    cdef const Instr* p
    cdef int op, ta, tb
    memset(mark, 0, job.n_slots)
    for s in range(job.base, job.n_slots):          # every g is read
        mark[s] = 1
    for i in range(job.n_grads):                    # the inputs whose gradient is asked for
        k = job.grad_arg[i]
        for e in range(job.size[k]):
            mark[job.offset[k] + e] = 1
    if mark[job.root]:
        mark[job.root] = 3                          # set to 1.0 per block
    for i in range(job.n_ops - 1, -1, -1):
        p = &job.code[i]
        op = p.op
        if op == BINARY + ADD:
            ta = TERM_PLUS;  tb = TERM_PLUS
        elif op == BINARY + SUB:
            ta = TERM_PLUS;  tb = TERM_MINUS
        else:
            ta = TERM_TIMES; tb = TERM_TIMES
        plan[2 * i] = _plan_term(ta, p.a, mark)
        plan[2 * i + 1] = _plan_term(tb, p.b, mark) if op >= BINARY else TERM_NONE
    for s in range(job.n_slots):
        if mark[s] == 1:
            zero[n_zero] = s
            n_zero += 1
    return n_zero


@cython.cdivision(True)
cdef void _forward_block(const Instr* code, Py_ssize_t n_ops, double** rows, double* da,
                         double* db, Py_ssize_t base, Py_ssize_t B, Py_ssize_t bn) noexcept nogil:
    """_forward for points 0 .. bn - 1 of a block (instruction outside, points inside).

    rows[s]: slot s's values (a row of the workspace, or of an input or output array).
    ADD, SUB and MUL store no local derivatives (see _backward_block)."""
    cdef Py_ssize_t i, j
    cdef const Instr* p
    cdef const double* x
    cdef const double* y
    cdef double* out
    cdef double* la
    cdef int op
    for i in range(n_ops):
        p = &code[i]
        op = p.op
        x = rows[p.a]
        y = rows[p.b]
        out = rows[base + i]
        # ADD, SUB, MUL and DIV: the C loops above; the others through the rules.
        if op == BINARY + ADD:
            autodiff_value_rows(VALUE_ADD, x, y, out, bn)
        elif op == BINARY + MUL:
            autodiff_value_rows(VALUE_MUL, x, y, out, bn)
        elif op == BINARY + SUB:
            autodiff_value_rows(VALUE_SUB, x, y, out, bn)
        elif op == BINARY + DIV:
            autodiff_div_rows(x, y, out, da + i * B, db + i * B, bn)
        elif op == POWC:
            la = da + i * B
            for j in range(bn):
                out[j] = _power_const(x[j], y[j], &la[j])
        elif op < BINARY:
            la = da + i * B
            for j in range(bn):
                out[j] = _unary_rule(op, x[j], &la[j])
        else:
            _rule_rows(op - BINARY, x, y, out, da + i * B, db + i * B, bn)


cdef void _backward_block(const Instr* code, Py_ssize_t n_ops, const unsigned char* plan,
                          double** rows, double** arows, const double* da, const double* db,
                          Py_ssize_t base, Py_ssize_t B, Py_ssize_t bn) noexcept nogil:
    """_backward for points 0 .. bn - 1 of a block: per point, the same sums in the same
    order, as the plan's terms (_plan_terms).  arows[s]: slot s's adjoints; the root's
    row holds 1.0 and the plan's zero rows 0.0."""
    cdef Py_ssize_t i
    cdef const Instr* p
    cdef const double* g
    cdef const double* la
    cdef const double* lb
    cdef int ta, tb
    for i in range(n_ops - 1, -1, -1):
        p = &code[i]
        g = arows[base + i]
        if p.op == BINARY + MUL:        # MUL's local derivatives are the other operand
            la = rows[p.b]
            lb = rows[p.a]
        else:
            la = da + i * B
            lb = db + i * B
        ta = plan[2 * i]
        tb = plan[2 * i + 1]
        if ta and tb and p.a != p.b:
            autodiff_pair_rows(ta, tb, arows[p.a], arows[p.b], g, la, lb, bn)
        else:                           # one operand, or x op x: a's term, then b's
            if ta:
                autodiff_term_rows(ta, arows[p.a], g, la, bn)
            if tb:
                autodiff_term_rows(tb, arows[p.b], g, lb, bn)


cdef int _sweep_blocks(const BatchJob* job, Py_ssize_t first, Py_ssize_t last,
                       Py_ssize_t* cursors=NULL, const Py_ssize_t* bounds=NULL,
                       Py_ssize_t count=0, Py_ssize_t me=0, Py_ssize_t chunk=1) noexcept nogil:
    """Blocks first .. last - 1 of the points, in a workspace of this call's own.

    With the cursors of a call shared by count threads (range q: blocks bounds[q] ..
    bounds[q + 1] - 1, cursors[q] its next block), thread me instead takes chunks of
    blocks (atomically, chunk blocks at a time) from its own range, then from the others'
    that are not done: each thread stays in its part of the arrays (the pages it touches
    first), and one that runs faster (the other core loaded, no thread to start) takes
    over what is left of a slower one.

    Returns 0, or -1 if the workspace cannot be allocated (nothing written then).

    A batched argument of one number per point is read in place, a scalar f's value is
    written straight to the values array, and the adjoints of an argument of one number
    per point are summed straight in its gradient array: rows[s] and arows[s] point
    there for the block.  Other slots live in the workspace.
    """
    cdef Py_ssize_t B = job.block, n_slots = job.n_slots, n_ops = job.n_ops
    cdef Py_ssize_t blk, start, bn, j, e, k, s, off, o, g, z, n_zero = 0, lo, hi, q, r = 0
    cdef double* ws
    cdef double* vals
    cdef double* adj
    cdef double* da
    cdef double* db
    cdef double* row
    cdef double* dst
    cdef const double* src
    cdef double** rows
    cdef double** arows
    cdef Py_ssize_t* zero
    cdef unsigned char* plan
    cdef unsigned char* mark
    cdef unsigned char* direct
    cdef char* aux
    cdef double v
    cdef bint value_direct, root_read = False
    if cursors == NULL and first >= last:
        return 0
    ws = <double*>malloc((2 * n_slots + 2 * n_ops) * B * sizeof(double))
    aux = <char*>malloc(2 * n_slots * sizeof(double*) + n_slots * sizeof(Py_ssize_t)
                        + 2 * n_ops + n_slots + job.n_grads + 1)
    if ws == NULL or aux == NULL:
        free(ws)
        free(aux)
        return -1
    vals = ws
    adj = ws + n_slots * B
    da = adj + n_slots * B
    db = da + n_ops * B
    rows = <double**>aux
    arows = rows + n_slots
    zero = <Py_ssize_t*>(arows + n_slots)
    plan = <unsigned char*>(zero + n_slots)
    mark = plan + 2 * n_ops
    direct = mark + n_slots
    for s in range(n_slots):
        rows[s] = vals + s * B
        arows[s] = adj + s * B
    if job.backward:
        n_zero = _plan_terms(job, plan, mark, zero)
        root_read = mark[job.root] & 1
        # A gradient of one number per point collects its adjoints in place (only the
        # first of repeated argnums: the others copy it).
        memset(mark, 0, n_slots)
        for g in range(job.n_grads):
            k = job.grad_arg[g]
            direct[g] = job.size[k] == 1 and not mark[job.offset[k]]
            if job.size[k] == 1:
                mark[job.offset[k]] = 1
    value_direct = job.n_out == 1 and job.root >= job.base
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
    lo, hi = first, last
    while True:
        if cursors != NULL:
            if r >= count:
                break
            q = (me + r) % count
            lo = autodiff_take(&cursors[q], chunk)
            if lo >= bounds[q + 1]:
                r += 1              # range q is done: the next one
                continue
            hi = min(lo + chunk, bounds[q + 1])
        for blk in range(lo, hi):
            start = blk * B
            bn = min(B, job.n_points - start)
            for k in range(job.n_args):
                if job.batched[k]:
                    s = job.size[k]
                    off = job.offset[k]
                    src = job.inputs[k] + start * s
                    if s == 1:              # a number per point: read in place
                        rows[off] = <double*>src
                        continue
                    for e in range(s):
                        row = vals + (off + e) * B
                        for j in range(bn):
                            row[j] = src[j * s + e]
            if value_direct:
                rows[job.root] = job.values + start
            _forward_block(job.code, n_ops, rows, da, db, job.base, B, bn)
            s = job.n_out
            if not value_direct:
                for o in range(s):
                    row = rows[job.outs[o]]
                    dst = job.values + start * s + o
                    for j in range(bn):
                        dst[j * s] = row[j]
            if job.backward:
                for g in range(job.n_grads):
                    if direct[g]:
                        arows[job.offset[job.grad_arg[g]]] = job.grads[g] + start
                for z in range(n_zero):
                    row = arows[zero[z]]
                    for j in range(bn):
                        row[j] = 0.0
                if root_read:
                    row = arows[job.root]
                    for j in range(bn):
                        row[j] = 1.0
                _backward_block(job.code, n_ops, plan, rows, arows, da, db, job.base, B, bn)
                for g in range(job.n_grads):
                    if direct[g]:
                        continue
                    k = job.grad_arg[g]
                    s = job.size[k]
                    off = job.offset[k]
                    for e in range(s):
                        row = arows[off + e]
                        dst = job.grads[g] + start * s + e
                        for j in range(bn):
                            dst[j * s] = row[j]
        if cursors == NULL:
            break
    free(aux)
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
    cdef Py_ssize_t* cursors    # share(): per range of blocks, the next one (atomic, C only)
    cdef Py_ssize_t* bounds     # share(): the ranges, count + 1 bounds
    cdef Py_ssize_t count, chunk
    cdef public bint failed

    def __cinit__(self):
        self.inputs = NULL
        self.batched = NULL
        self.grads = NULL
        self.grad_arg = NULL
        self.cursors = NULL
        self.bounds = NULL
        self.failed = False

    def __dealloc__(self):
        free(self.inputs)
        free(self.batched)
        free(self.grads)
        free(self.grad_arg)
        free(self.cursors)
        free(self.bounds)

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

    def share(self, Py_ssize_t me):
        """Sweep chunks of blocks from the ranges set by _dispatch, range me first, until
        none is left (count threads at once, each in a workspace of its own), with the
        GIL released."""
        cdef int status
        if self.tape is None or self.job.block <= 0 or self.cursors == NULL:
            raise TypeError("a _BatchCall is made by a batched tape only")
        if not 0 <= me < self.count:
            raise ValueError("range out of bounds")
        with nogil:
            status = _sweep_blocks(&self.job, 0, 0, self.cursors, self.bounds, self.count,
                                   me, self.chunk)
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
    """Run every block: on workers - 1 threads and on this one (fewer for a small batch),
    one range of blocks each, in chunks that a thread done with its range takes from the
    others' (without atomics: one fixed range each)."""
    cdef Py_ssize_t n_blocks = (call.job.n_points + call.job.block - 1) // call.job.block
    cdef Py_ssize_t work = call.job.n_points * max(call.job.n_ops, 1)
    cdef Py_ssize_t k, count = min(workers, n_blocks, max(1, work // THREAD_WORK))
    if count <= 0:
        return
    if count > 1 and AUTODIFF_HAVE_ATOMIC and call.cursors == NULL:
        # One range of blocks per thread, from which the others take chunks once theirs
        # are done: none waits for a slower one.
        call.cursors = <Py_ssize_t*>malloc(count * sizeof(Py_ssize_t))
        call.bounds = <Py_ssize_t*>malloc((count + 1) * sizeof(Py_ssize_t))
        if call.cursors == NULL or call.bounds == NULL:
            raise MemoryError()
        for k in range(count + 1):
            call.bounds[k] = n_blocks * k // count
        for k in range(count):
            call.cursors[k] = call.bounds[k]
        call.count = count
        call.chunk = max(1, CHUNK_WORK // (call.job.block * max(call.job.n_ops, 1)))
        _on_threads(call.share, [(k,) for k in range(count)])
    else:
        _on_threads(call.run, _ranges(n_blocks, count))
    if call.failed:
        raise MemoryError("vmap: out of memory for a workspace")


cdef list _ranges(Py_ssize_t n, Py_ssize_t count):
    """count contiguous ranges (first, last) splitting 0 .. n - 1 evenly."""
    bounds = [n * k // count for k in range(count + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(count)]


cdef object _on_threads(object target, list parts):
    """target(*parts[0]) on this thread and each other part on a thread of its own, then
    wait for them all.  target is a bound method of the call that owns every buffer the
    threads touch, so the buffers outlive the threads even if the caller is interrupted
    while it waits.  A thread that cannot start has its part done here."""
    threads = []
    for part in parts[1:]:
        thread = threading.Thread(target=target, args=part, name="autodiff-vmap",
                                  daemon=True)
        try:
            thread.start()
        except RuntimeError:
            target(*part)
            continue
        threads.append(thread)
    try:
        target(*parts[0])
    finally:
        for thread in threads:
            thread.join()


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
