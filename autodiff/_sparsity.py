"""Sparsity patterns and colourings of a recorded tape, for sparse Jacobians and Hessians.

Written once, in Python and NumPy, and used by both engines: it reads only a tape's
instruction array, so it never runs a rule and never touches a value.

Input: the tape's instructions as ``tape._instructions()`` gives them, ``(code, base,
n_inputs, outs)``.  ``code`` is an integer array of shape ``(n_ops, 3)``, one row ``[op, a,
b]`` per instruction; instruction ``i`` writes slot ``base + i`` from slots ``a`` and ``b``
(``b == a`` for a unary op).  Slots ``0 .. n_inputs - 1`` are the inputs, slots ``n_inputs ..
base - 1`` the constants.  ``op`` numbers the rows of the primitive table: ``0 <= op <
N_UNARY`` is the ``op``-th unary row, ``op == POWC`` (``== N_UNARY``) is ``x ** c`` for a
constant slot ``b`` (the power row with a constant exponent), and ``BINARY + j`` is the
``j``-th binary row.

The method
----------
Patterns.  Each slot gets the set of differentiated inputs ("columns") its value can
depend on, kept as a Python integer used as a bit set (bit ``k`` for column ``k``), so that
the union of two sets is one ``|`` done in C however large the sets are.  An input slot
in ``columns`` starts with its own bit, every other slot below ``base`` (an input that is
not differentiated, a constant) with the empty set, and an instruction's set is the union
of its operands' sets.  The Jacobian's row for an output is the set of its slot.

An instruction always passes its operands' sets on, even one whose first derivative is
identically zero (sign, floor, ...): the pattern may hold entries that are always zero,
never miss one.

For the Hessian of one output (the "root"), a second derivative of the root can only come
from an instruction whose own second derivative is not identically zero, and only if that
instruction's value reaches the root.  So: the instructions on a path to the root are
found (by NumPy when every instruction before the root is read by a later one, as in a
tape recorded from its output; by a backward pass otherwise); the forward pass computes the
sets for those; and for each of them the ``second`` column of its row in the table says
which second partials it has ("aa", "ab", "bb"; undeclared means all three).  A partial
``d2y/da db`` couples every column in the set of ``a`` with every column in the set of
``b`` (both ways: the matrix is symmetric); ``aa`` couples the set of ``a`` with itself,
``bb`` that of ``b``; an instruction whose two operands are one slot (a unary op, ``x * x``)
couples its set with itself.  The union of these couplings is the pattern: by the chain
rule the Hessian of the root is a sum, over the instructions, of (adjoint of the
instruction) times (a second partial of the instruction) times the outer product of its
operands' gradients, and the gradient of a slot is zero outside its set.  Linear
instructions (add, subtract, negate ...) add nothing.  With many columns (more than
``_NEED_ABOVE``) only the sets that some nonlinear instruction needs are computed (a
backward pass finds them), so that the running sum of a long objective does not hold one
set of n bits per term.  The pattern is structural: an entry outside it is zero at every
point; an entry inside may still be zero at some points (``x * 0.0``, ``max`` away from
the tie ...).

Colourings.  The matrix ``M`` (Jacobian or Hessian) is computed compressed: the sweeps
give ``M @ seed``, one column per colour, where ``seed[k, c]`` is 1 if column ``k`` has
colour ``c``.  Each entry of ``M`` must then be read directly from one entry of the product:
``take`` lists, for each stored entry in CSR order, its position in ``(M @ seed).ravel()``.

- Jacobian: columns that share no row may share a colour (a "structurally orthogonal"
  partition; equivalently a distance-2 colouring of the graph that joins a row to its
  columns).  Then ``(M @ seed)[i, colour[j]]`` is ``M[i, j]`` alone.  Columns are coloured
  greedily, each with the smallest colour that no column sharing a row with it has yet (a
  bit set of the colours used per row makes that a few operations per nonzero).  The
  natural order goes first (it is optimal on banded patterns); if it needs more colours
  than the fullest row has entries (a lower bound for any such colouring), the order of
  decreasing "row load" (the number of entries in the rows a column touches, a cheap upper
  bound on its number of conflicting columns) is tried too and the fewer colours kept.
- Hessian: symmetry allows fewer colours.  An off-diagonal entry ``H[i, j]`` can be read
  from row ``i`` (if ``j`` is the only column of its colour in row ``i``) or, since it
  equals ``H[j, i]``, from row ``j`` (if ``i`` is the only column of its colour there); a
  diagonal entry only from its own row.  A colouring in which every entry can be read one
  way or the other is a star colouring when the diagonal is full, and can need far fewer
  colours than the distance-2 one (an "arrow" pattern, one row and column dense plus the
  diagonal: 2 colours instead of n).  It is built greedily too: a vertex takes the smallest
  colour that keeps every entry between already-coloured vertices readable.  The colour
  the distance-2 rule would give it always does (no row of its has that colour yet), so
  only smaller ones are checked, and the lists of each colour's columns in each row are
  kept up to date so that a candidate is checked by looking only at the rows the vertex
  belongs to.  The largest-first order is tried too when the natural one needs more than
  3 colours.  ``take`` reads each entry from its own row when it can, else from the
  transposed one.

Columns with no structural nonzero get colour -1: they belong to no group (their seed row
is zero) and cost no sweep.
"""
import dataclasses
import functools
from typing import Tuple

import numpy as np

from autodiff import _primitives

__all__ = ["SparsityPlan", "jacobian_plan", "hessian_plan", "POWC", "BINARY"]

BINARY = 1024                       # an op >= BINARY is the binary row op - BINARY
N_UNARY = len(_primitives.UNARY)
POWC = N_UNARY                      # x ** c with c a constant slot

_AA, _AB, _BB = 1, 2, 4             # the second partials an instruction has, as bit flags
_NEED_ABOVE = 2048                  # Hessians over more columns compute only needed sets


def _flags(second):
    """The bit flags of a row's ``second`` column (None, not declared: all of them)."""
    if second is None:
        return _AA | _AB | _BB
    names = set(second.split())
    if not names <= {"aa", "ab", "bb"}:
        raise ValueError(f"a 'second' column names unknown partials: {second!r}")
    return (_AA if "aa" in names else 0) | (_AB if "ab" in names else 0) | \
        (_BB if "bb" in names else 0)


def _second_flags():
    """Per op, its second-partial flags: an int array indexed by op (read from the table at
    each call, so that a row filled in later counts; one pass over about 70 rows)."""
    table = np.zeros(BINARY + len(_primitives.BINARY), dtype=np.int64)
    for i, row in enumerate(_primitives.UNARY):
        # A unary row's only second partial is d2y/dx2; any declared one means it has it.
        table[i] = _AA if _flags(row.second) else 0
    table[POWC] = _flags(_primitives.BY_NAME["power"].second)  # b's set is empty anyway
    for j, row in enumerate(_primitives.BINARY):
        table[BINARY + j] = _flags(row.second)
    return table


@dataclasses.dataclass(frozen=True, eq=False)
class SparsityPlan:
    """A sparsity pattern, its colouring and how to read the matrix off the compressed one.

    - ``shape``: ``(n_rows, n_columns)``.
    - ``indptr`` (int64, ``n_rows + 1``), ``indices`` (int64, ``nnz``): the pattern in CSR
      form, the column indices sorted within each row.
    - ``colours`` (int64, ``n_columns``): each column's colour, ``-1`` for a column with no
      structural nonzero (in no group).
    - ``n_colours``: the number of colours, the number of columns of the compressed matrix
      (number of sweeps).
    - ``seed`` (float64, ``(n_columns, n_colours)``): 1 where column ``k`` has colour ``c``;
      built from ``colours`` at first use (it is ``n_columns * n_colours`` doubles, which a
      pattern with a dense row makes ``n**2``: a sweep can read ``colours`` instead).
    - ``take`` (int64, ``nnz``): if ``compressed = M @ seed`` (shape ``(n_rows,
      n_colours)``, C order), ``compressed.ravel()[take]`` is the CSR data of ``M`` in the
      order of ``indptr``/``indices``.

    All arrays are read-only and C-contiguous; the object is immutable.
    """
    indptr: np.ndarray
    indices: np.ndarray
    shape: Tuple[int, int]
    colours: np.ndarray
    n_colours: int
    take: np.ndarray

    @functools.cached_property
    def seed(self):
        seed = np.zeros((self.shape[1], self.n_colours), dtype=np.float64)
        coloured = np.flatnonzero(self.colours >= 0)
        seed[coloured, self.colours[coloured]] = 1.0
        seed.flags.writeable = False
        return seed

    @property
    def nnz(self):
        return len(self.indices)


# --------------------------------------------------------------------------------------
# Checking the input
# --------------------------------------------------------------------------------------

def _check(code, base, n_inputs, columns):
    """The instructions as three Python lists (op, a, b), after checking that they are a
    well-formed tape: operands written before they are read, known ops."""
    code = np.asarray(code)
    if code.ndim != 2 or code.shape[1] != 3 or code.dtype.kind not in "iu":
        raise ValueError(f"code must be an integer array of shape (n_ops, 3), got "
                         f"{code.dtype} {code.shape}")
    base, n_inputs = int(base), int(n_inputs)
    if not 0 <= n_inputs <= base:
        raise ValueError(f"need 0 <= n_inputs <= base, got n_inputs={n_inputs}, base={base}")
    code = code.astype(np.int64, copy=False)
    op, a, b = code[:, 0], code[:, 1], code[:, 2]
    limit = base + np.arange(len(code), dtype=np.int64)    # instruction i reads slots < it
    if len(code) and ((a < 0).any() or (b < 0).any() or (a >= limit).any()
                      or (b >= limit).any()):
        raise ValueError("an instruction reads a slot that is not written before it")
    known = (((op >= 0) & (op <= POWC))
             | ((op >= BINARY) & (op < BINARY + len(_primitives.BINARY))))
    if not known.all():
        raise ValueError(f"unknown op {int(op[~known][0])}")
    cols = np.asarray(columns, dtype=np.int64).reshape(-1)
    if len(np.unique(cols)) != len(cols):
        raise ValueError("columns has a repeated input slot")
    if len(cols) and (cols.min() < 0 or cols.max() >= n_inputs):
        raise ValueError(f"columns must be input slots (0 .. {n_inputs - 1})")
    columns = cols.tolist()
    return code, a.tolist(), b.tolist(), base, columns


def _seed_sets(n_slots, columns):
    deps = [0] * n_slots
    for k, slot in enumerate(columns):
        deps[slot] = 1 << k
    return deps


# --------------------------------------------------------------------------------------
# Bit sets to CSR
# --------------------------------------------------------------------------------------

def _csr(sets, n_columns):
    """CSR ``(indptr, indices)`` of the rows given as bit sets (Python ints < 2**n_columns).

    Each row is written as little-endian bytes from its lowest nonzero byte to its highest
    (so a banded row costs a few bytes, not ``n_columns / 8``), the rows side by side; the
    nonzero bytes are found with NumPy and only those unpacked into bits."""
    n_rows = len(sets)
    starts = [0] * n_rows           # the first byte of each row's span, in row bytes
    chunks = []
    lengths = [0] * n_rows
    for r, s in enumerate(sets):
        if s:
            low = ((s & -s).bit_length() - 1) >> 3
            span = s >> (low << 3)
            chunk = span.to_bytes((span.bit_length() + 7) >> 3, "little")
            starts[r] = low
            lengths[r] = len(chunk)
            chunks.append(chunk)
    buf = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths      # where each row's span starts in buf
    nz = np.flatnonzero(buf)
    row = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)[nz]
    byte = nz - offsets[row] + np.asarray(starts, dtype=np.int64)[row]
    bits = np.unpackbits(buf[nz][:, None], axis=1, bitorder="little")
    which, bit = np.nonzero(bits)
    indices = (byte[which] * 8 + bit).astype(np.int64)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[which], minlength=n_rows), out=indptr[1:])
    return indptr, indices


def _bits(x):
    """The positions of the set bits of a Python int, ascending."""
    if x & (x - 1) == 0:                # one bit (or none): the common case
        return [x.bit_length() - 1] if x else []
    if x.bit_count() > 16:
        n = (x.bit_length() + 7) // 8
        return np.flatnonzero(np.unpackbits(np.frombuffer(x.to_bytes(n, "little"), np.uint8),
                                            bitorder="little")).tolist()
    out = []
    while x:
        low = x & -x
        out.append(low.bit_length() - 1)
        x ^= low
    return out


# --------------------------------------------------------------------------------------
# Colourings
# --------------------------------------------------------------------------------------

def _transpose(indptr, indices, n_columns):
    """CSC of a CSR pattern: (colptr, rows), rows ascending within a column."""
    order = np.argsort(indices, kind="stable")
    rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))[order]
    colptr = np.zeros(n_columns + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n_columns), out=colptr[1:])
    return colptr, rows


def _orders(indptr, indices, colptr, n_columns):
    """The natural order and the largest-first one of the non-empty columns."""
    col_nnz = np.diff(colptr)
    nonempty = np.flatnonzero(col_nnz)
    # Row load of a column: the entries of the rows it touches (>= its conflicts).
    row_nnz = np.diff(indptr)
    load = np.bincount(indices, weights=row_nnz[np.repeat(np.arange(len(row_nnz)), row_nnz)],
                       minlength=n_columns)
    largest = nonempty[np.argsort(-load[nonempty], kind="stable")]
    return nonempty.tolist(), largest.tolist()


def _lowest_free(used):
    """The smallest colour not in the bit set ``used``."""
    return (~used & (used + 1)).bit_length() - 1


def _distance2(order, n_columns, rows_of):
    """Greedy column colouring: no two columns of one colour share a row.

    ``used[r]`` is the bit set of the colours already given to columns of row ``r``; a
    column takes the smallest colour in none of its rows' sets.  Cost: a few big-int
    operations per structural nonzero (not per pair of columns sharing a row)."""
    colour = [-1] * n_columns
    used = [0] * (max((r for rows in rows_of for r in rows), default=-1) + 1)
    for j in order:
        rows = rows_of[j]
        taken = 0
        for r in rows:
            taken |= used[r]
        c = _lowest_free(taken)
        colour[j] = c
        bit = 1 << c
        for r in rows:
            used[r] |= bit
    return colour


def _symmetric(order, n, adj):
    """Greedy colouring for direct symmetric recovery (see the module docstring).

    ``adj[v]`` is row ``v`` of the pattern (it contains ``v`` iff the diagonal entry is a
    structural nonzero).  ``members[i][c]`` lists the coloured columns of row ``i`` that
    have colour ``c``; ``used[i]`` is the bit set of those colours.  With both ends
    coloured, an entry (i, j) is readable from row i if ``j`` is alone with its colour
    there, or from row j if ``i`` is alone with its colour there (for a diagonal entry the
    two are the same).  Giving ``v`` colour ``c`` adds ``v`` to ``members[i][c]`` for the
    rows ``i`` of ``adj[v]`` and changes nothing else, so only two kinds of entry need a
    look: the (i, j) with ``i`` in ``adj[v]`` and ``j`` of colour ``c`` (row ``i`` now has
    two or more of colour ``c``, so they must be readable from their row ``j``), and the
    entries (v, j) that become complete.

    Candidates: a colour absent from every row of ``adj[v]`` (the distance-2 choice)
    always passes, so it bounds the search; below it, a colour held by a neighbour of
    ``v`` is impossible when the diagonal entry (v, v) is in the pattern; the others are
    checked smallest first."""
    colour = [-1] * n
    members = [dict() for _ in range(n)]
    used = [0] * n
    for v in order:
        rows = adj[v]
        near = set(rows)
        taken = 0
        for i in rows:
            taken |= used[i]
        c = _lowest_free(taken)
        # Smaller candidates; with the diagonal entry (v, v), none a neighbour has.
        candidates = ((1 << c) - 1) & ~(used[v] if v in near else 0)
        while candidates:
            low = candidates & -candidates
            k = low.bit_length() - 1
            if _symmetric_ok(v, k, rows, near, colour, members):
                c = k
                break
            candidates ^= low
        colour[v] = c
        bit = 1 << c
        for i in rows:
            members[i].setdefault(c, []).append(v)
            used[i] |= bit
    return colour


def _symmetric_ok(v, c, rows, near, colour, members):
    """Whether giving v colour c keeps every entry between coloured vertices readable.
    ``near`` is ``set(adj[v])``: the rows that gain a column of colour ``c``."""
    colour[v] = c                   # tentatively; restored below
    try:
        mv = members[v]
        for i in rows:
            ci = colour[i]
            if ci < 0:
                continue            # i not coloured yet: its entries are checked then
            same = members[i].get(c)
            if not same:
                continue            # v alone has colour c in row i: read from row i
            # Row i now has several columns of colour c: each of its entries (i, j) with
            # j of colour c must be read from row j, where i must be alone in its colour.
            for j in same:
                n_j = len(members[j].get(ci, ())) + (1 if ci == c and j in near else 0)
                if n_j != 1:
                    return False
            if len(mv.get(ci, ())) + (1 if ci == c and v in near else 0) != 1:
                return False        # the entry (i, v) itself
        for j in rows:              # the entries (v, j) that become complete
            cj = colour[j]
            if cj < 0 or j == v:
                continue
            if len(mv.get(cj, ())) + (1 if cj == c and v in near else 0) == 1:
                continue            # readable from row v
            if c in members[j]:     # row j gains v: c is no longer alone there
                return False
        return True
    finally:
        colour[v] = -1


def _plan(indptr, indices, shape, colour):
    """The plan from a pattern and a colouring, with the Jacobian's recovery index
    (entry (i, j) read at row i, colour of j)."""
    colours = np.asarray(colour, dtype=np.int64).reshape(-1)
    n_colours = int(colours.max()) + 1 if len(colours) else 0
    rows = np.repeat(np.arange(shape[0], dtype=np.int64), np.diff(indptr))
    take = rows * n_colours + colours[indices]
    return _freeze(indptr, indices, shape, colours, n_colours, take)


def _freeze(indptr, indices, shape, colours, n_colours, take):
    arrays = [np.ascontiguousarray(x, dtype=np.int64) for x in (indptr, indices, colours, take)]
    for x in arrays:
        x.flags.writeable = False
    indptr, indices, colours, take = arrays
    return SparsityPlan(indptr, indices, (int(shape[0]), int(shape[1])), colours,
                        int(n_colours), take)


def _fewest(candidates):
    best = None
    for colour in candidates:
        used = max(colour, default=-1) + 1
        if best is None or used < best[0]:
            best = (used, colour)
    return best[1]


def _lists(ptr, idx):
    """A CSR-like pair as a list of Python lists (fast to iterate in the greedy loops)."""
    flat = idx.tolist()
    p = ptr.tolist()
    return [flat[p[r]:p[r + 1]] for r in range(len(p) - 1)]


def _column_colouring(indptr, indices, n_columns):
    """The distance-2 colouring with fewer colours of the natural and largest-first
    orders (the latter skipped when the natural one reaches the lower bound, the most
    entries in a row)."""
    colptr, rows = _transpose(indptr, indices, n_columns)
    natural, largest = _orders(indptr, indices, colptr, n_columns)
    rows_of = _lists(colptr, rows)
    colour = _distance2(natural, n_columns, rows_of)
    bound = int(np.diff(indptr).max(initial=0))
    if largest != natural and max(colour, default=-1) + 1 > bound:
        colour = _fewest([colour, _distance2(largest, n_columns, rows_of)])
    return colour


# --------------------------------------------------------------------------------------
# The public functions
# --------------------------------------------------------------------------------------

def jacobian_plan(code, base, n_inputs, outs, columns):
    """The Jacobian's pattern, column colouring, seed and recovery index.

    Row ``r`` is output slot ``outs[r]``; column ``k`` is input slot ``columns[k]``.  An
    output may be any slot (an instruction, an input, a constant)."""
    code, a_, b_, base, columns = _check(code, base, n_inputs, columns)
    outs = np.asarray(outs, dtype=np.int64).reshape(-1)
    n_slots = base + len(code)
    if len(outs) and (outs.min() < 0 or outs.max() >= n_slots):
        raise ValueError("an output slot is out of range")
    deps = _seed_sets(n_slots, columns)
    # Instructions after the last output's are read by no output: skip them.
    last = max(-1, int(outs.max(initial=-1)) - base)
    slot = base
    for a, b in zip(a_[:last + 1], b_[:last + 1]):
        deps[slot] = deps[a] | deps[b]
        slot += 1
    n_columns = len(columns)
    indptr, indices = _csr([deps[s] for s in outs.tolist()], n_columns)
    colour = _column_colouring(indptr, indices, n_columns)
    return _plan(indptr, indices, (len(outs), n_columns), colour)


def _hessian_sets(code, a_, b_, base, root, columns):
    """Rows of the Hessian pattern of the root, one bit set per column (see the module
    docstring).  ``code`` is the (n_ops, 3) int64 array, ``a_`` and ``b_`` its operand
    columns as lists."""
    n = len(columns)
    rows = [0] * n
    if root < base:
        return rows                     # an input or a constant: a zero Hessian
    last = root - base                  # the root's instruction; later ones do not count
    flag_array = _second_flags()[code[:last + 1, 0]]
    flags = flag_array.tolist()
    live = _reaching(code, a_, b_, base, root)
    deps = _seed_sets(root + 1, columns)
    if n <= _NEED_ABOVE:
        if type(live) is range:         # every instruction up to the root
            out = base
            for a, b in zip(a_[:last + 1], b_[:last + 1]):
                deps[out] = deps[a] | deps[b]
                out += 1
        else:
            for i in live:
                deps[base + i] = deps[a_[i]] | deps[b_[i]]
    else:
        # Many columns: sets of thousands of bits.  Compute only those needed: the
        # operands' of a nonlinear instruction and, recursively, the operands' of an
        # instruction whose set is needed.  A long chain of sums feeding the root (a sum
        # of n terms) then makes no set, which saves memory quadratic in n.
        need = bytearray(root + 1)
        for i in reversed(live):
            if flags[i] or need[base + i]:
                need[a_[i]] = 1
                need[b_[i]] = 1
        for i in live:
            if need[base + i] or flags[i]:
                deps[base + i] = deps[a_[i]] | deps[b_[i]]
    # An instruction off the path to the root was given no set: it adds nothing below.
    for i in np.flatnonzero(flag_array).tolist():
        f = flags[i]
        a, b = a_[i], b_[i]
        both = deps[base + i]
        if not both:
            continue
        if a == b or f == _AA | _AB | _BB:
            # One operand used twice (a unary op, x * x), or every partial: the whole set
            # with itself.
            pairs = ((both, both),)
        else:
            da, db = deps[a], deps[b]
            pairs = []
            if f & _AA and da:
                pairs.append((da, da))
            if f & _BB and db:
                pairs.append((db, db))
            if f & _AB and da and db:
                pairs.append((da, db))
                pairs.append((db, da))
        for left, right in pairs:
            low = left & -left
            rest = left ^ low
            rows[low.bit_length() - 1] |= right
            if rest:
                if rest & (rest - 1) == 0:      # two columns: still no loop
                    rows[rest.bit_length() - 1] |= right
                else:
                    for k in _bits(rest):
                        rows[k] |= right
    return rows


def _reaching(code, a_, b_, base, root):
    """The instructions whose values reach the slot ``root`` (an instruction's), in order.

    A tape recorded from its outputs usually has no other instruction before the root's:
    if every instruction before it is read by one up to it, all of them reach it (follow
    any one's readers forwards: the chain can only end at the root), and NumPy says so
    without a loop in Python.  Otherwise a backward pass marks them."""
    last = root - base
    read = np.zeros(root + 1, dtype=bool)
    read[code[:last + 1, 1]] = True
    read[code[:last + 1, 2]] = True
    if read[base:root].all():
        return range(last + 1)
    reach = bytearray(root + 1)
    reach[root] = 1
    live = []
    for i in range(last, -1, -1):
        if reach[base + i]:
            live.append(i)
            reach[a_[i]] = 1
            reach[b_[i]] = 1
    live.reverse()
    return live


def hessian_plan(code, base, n_inputs, root, columns):
    """The Hessian's pattern (symmetric, both triangles), a colouring for direct
    symmetric recovery, seed and recovery index, for the output at slot ``root``.

    Row and column ``k`` are input slot ``columns[k]``; ``root`` may be any slot."""
    code, a_, b_, base, columns = _check(code, base, n_inputs, columns)
    root = int(root)
    if not 0 <= root < base + len(code):
        raise ValueError("the root slot is out of range")
    n = len(columns)
    rows = _hessian_sets(code, a_, b_, base, root, columns)
    indptr, indices = _csr(rows, n)
    if len(indices) == n * n:
        # Dense: each diagonal entry must be alone with its colour in a full row, so every
        # column needs its own colour; skip the greedy pass (O(n**2) steps in Python).
        return _plan(indptr, indices, (n, n), list(range(n)))
    natural, largest = _orders(indptr, indices, indptr, n)     # symmetric: CSC == CSR
    adj = _lists(indptr, indices)
    colour = _symmetric(natural, n, adj)
    if largest != natural and max(colour, default=-1) >= 3:     # more than 3 colours
        colour = _fewest([colour, _symmetric(largest, n, adj)])
    return _symmetric_plan(indptr, indices, n, colour)


def _symmetric_plan(indptr, indices, n, colour):
    """Recovery index for a symmetric colouring: each entry (i, j) is read from row i at
    colour[j] when j is alone with its colour there, else from row j at colour[i]."""
    colours = np.asarray(colour, dtype=np.int64)
    n_colours = int(colours.max(initial=-1)) + 1
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    # How many columns of row i have colour c, for each (i, c) present (sparse: a dense
    # row with n colours must not make an n * n table).
    key = rows * n_colours + colours[indices]
    flip = indices * n_colours + colours[rows]
    present, count = np.unique(key, return_counts=True)
    alone = present[count == 1]
    from_row = np.isin(key, alone, assume_unique=False)
    if not (from_row | np.isin(flip, alone)).all():
        raise AssertionError("the symmetric colouring does not allow direct recovery")
    take = np.where(from_row, key, flip)
    return _freeze(indptr, indices, (n, n), colours, n_colours, take)
