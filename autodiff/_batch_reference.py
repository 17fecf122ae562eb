"""Many points at once and pickled tapes: the reference engine's twin of ``_batch.pxi`` and
``_tape_pickle.pxi``, and the checks both engines share.

Batches.  ``tape.vmap(in_axes)`` is a view of a tape whose methods take every argument with
one extra leading axis of N points (or, where ``in_axes`` says ``None``, one value shared by
every point) and return float64 arrays with that leading axis.  Here a batch is, by
definition, N single calls of the tape, stacked: the compiled engine sweeps blocks of points
in C and must give the same bits.

Pickles.  A tape pickles as ``(restore, (state,))``; the state is a dict of plain values (no
engine object), with a format version and a fingerprint of the table of primitives (their
names in opcode order), so that a tape made by another autodiff is refused with a clear
message rather than replayed with other rules.  Every field is checked on load; a malformed
state raises ValueError.  Both engines write the same state, from the same opcode numbering:

- ``code``: little-endian int32 triples ``(op, a, b)``; ``op`` is the primitive's index in
  the table (unary ones first, then binary), or ``len(table)`` for the compiled engine's
  ``x ** c`` with a number ``c`` (the power rule without the exponent's derivative);
  instruction ``i`` writes slot ``base + i`` and reads only earlier slots; a unary
  instruction has ``b == a``;
- ``constants``: little-endian float64, the slots ``n_inputs .. base - 1``;
- ``outs``: little-endian int64, the output slots (``outs[0]`` is the root).
"""
import hashlib
import numbers
import operator

import numpy as np

from autodiff import _args, _primitives
from autodiff._version import __version__

_BINARY = 1024          # the compiled numbering's first binary opcode (_replay.pyx)

FORMAT = 1                  # the pickle format of tapes; bump it when the state changes

_MAX_SLOTS = 0x3fffffff     # as record's limit: slots fit in a C int


# --------------------------------------------------------------------------------------
# Checks shared by both engines (written once: nothing here needs to be fast)
# --------------------------------------------------------------------------------------

def in_axes_tuple(in_axes, n_args, name):
    """``in_axes`` as a tuple of 0 or None per argument; TypeError or ValueError if bad."""
    def entry(axis, where):
        if axis is None:
            return None
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"vmap of the tape of {name}: in_axes{where} must be 0 or None, "
                            f"got {type(axis).__name__}")
        if axis != 0:
            raise ValueError(f"vmap of the tape of {name}: in_axes{where} must be 0 (the "
                             f"points along the leading axis) or None (one value shared by "
                             f"every point), got {axis!r}; move the axis of points first "
                             f"(np.moveaxis)")
        return 0

    if isinstance(in_axes, tuple):
        if len(in_axes) != n_args:
            raise ValueError(f"vmap of the tape of {name}: in_axes has {len(in_axes)} "
                             f"entries for {n_args} argument(s); give one (0 or None) per "
                             f"argument")
        axes = tuple(entry(a, f"[{k}]") for k, a in enumerate(in_axes))
    elif in_axes is None or isinstance(in_axes, (numbers.Integral, bool)):
        axes = (entry(in_axes, ""),) * n_args
    else:
        raise TypeError(f"vmap of the tape of {name}: in_axes must be 0, None or a tuple "
                        f"with one of those per argument, got {type(in_axes).__name__}")
    if all(a is None for a in axes):
        raise ValueError(f"vmap of the tape of {name}: in_axes says None for every "
                         f"argument, so there is no axis of points; give 0 for at least one")
    return axes


def check_workers(workers):
    """``workers`` as a positive int; TypeError or ValueError if it is not one."""
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral):
        raise TypeError(f"workers must be a positive int (threads to split the points "
                        f"across), got {type(workers).__name__}")
    workers = operator.index(workers)
    if workers < 1:
        raise ValueError(f"workers must be a positive int (threads to split the points "
                         f"across), got {workers}")
    return workers


def batch_inputs(name, shapes, sizes, axes, args):
    """(N, arrays): every argument checked and converted, before any replay.

    A batched argument (axis 0) becomes a C-contiguous float64 array of shape ``(N, size)``
    (the argument itself, viewed, if it is one already), a shared one (None) a new array of
    shape ``(size,)``.  Raises TypeError for a wrong
    number of arguments or data that are not real numbers, ValueError for a wrong shape or
    batched arguments with different numbers of points.
    """
    if len(args) != len(shapes):
        raise TypeError(f"the batched tape of {name} takes {len(shapes)} argument(s), as "
                        f"recorded, got {len(args)}; pass the same arguments as the examples "
                        f"given to record, each with a leading axis of points")
    arrays, n, first = [], None, None
    for k, (arg, shape, size, axis) in enumerate(zip(args, shapes, sizes, axes)):
        if axis is None:
            try:
                got, values = _args.as_values(arg)
            except (TypeError, ValueError):
                raise TypeError(f"argument {k} of the batched tape of {name} (in_axes None, "
                                f"shared by every point) must be a real number or an array "
                                f"of real numbers, got {type(arg).__name__}") from None
            if got != shape and not (_scalar(got) and _scalar(shape)):
                raise ValueError(f"argument {k} of the batched tape of {name} (in_axes "
                                 f"None) was recorded as {_describe(shape)}, got "
                                 f"{_describe(got)}")
            arrays.append(_c_doubles(values).reshape(size))
            continue
        a = _real_points(arg, f"argument {k}", name)
        trailing = () if shape is None else tuple(shape)
        if a.ndim != 1 + len(trailing) or a.shape[1:] != trailing:
            raise ValueError(f"argument {k} of the batched tape of {name} must have shape "
                             f"(N,) + {trailing} (a leading axis of points, then "
                             f"{_describe(shape)}), got shape {a.shape}")
        if n is None:
            n, first = a.shape[0], k
        elif a.shape[0] != n:
            raise ValueError(f"the batched arguments of the tape of {name} hold different "
                             f"numbers of points: argument {first} has {n}, argument {k} "
                             f"has {a.shape[0]}")
        # Native float64, C-contiguous and aligned, copied only if it is not already: the
        # call holds a reference (the array cannot be resized or freed while the replay
        # reads it).
        arrays.append(_c_doubles(a).reshape(n, size))
    if n is None:
        n = 0           # a tape of no arguments: vmap refuses it (no axis of points)
    return n, arrays


def _c_doubles(a):
    """a as an array C reads as double*: native float64, C-contiguous and aligned.

    np.ascontiguousarray keeps a misaligned float64 array (a view of bytes at an odd
    offset) as it is, and reading that through a double* is undefined behaviour."""
    return np.require(a, dtype=np.float64, requirements=("C_CONTIGUOUS", "ALIGNED"))


def _scalar(shape):
    return shape is None or shape == ()


def _describe(shape):
    return "a number" if shape is None else f"an array of shape {tuple(shape)}"


def _real_points(value, what, name):
    """value as an array of real numbers (with a leading axis of points, checked by the
    caller); TypeError naming what it is otherwise."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        a = None
    if a is None or a.dtype.kind not in "biuf":
        got = type(value).__name__ + ("" if a is None else f" of dtype {a.dtype}")
        raise TypeError(f"{what} of the batched tape of {name} must be an array of real "
                        f"numbers with a leading axis of points, got {got}")
    return a


def _batched_part(value, trailing, n, what, name):
    """value as a C-contiguous float64 array of shape (n, size): TypeError if it is not
    real numbers, ValueError if its shape is not (n,) + trailing."""
    a = _real_points(value, what, name)
    if a.ndim != 1 + len(trailing) or a.shape[1:] != trailing:
        raise ValueError(f"{what} of the batched tape of {name} must have shape (N,) + "
                         f"{trailing} (a leading axis of points, then the shape of what "
                         f"it pairs with), got shape {a.shape}")
    if a.shape[0] != n:
        raise ValueError(f"{what} of the batched tape of {name} holds {a.shape[0]} points, "
                         f"the arguments {n}")
    size = 1
    for d in trailing:
        size *= d
    return _c_doubles(a).reshape(n, size)


def batch_directions(name, shapes, argnums, single, n, value, what):
    """Batched tangents (``jvp``) or vectors (``hvp``): structured like a single call's,
    each part with a leading axis of n points (always: one direction per point, whatever
    in_axes says of the arguments), checked, as one C-contiguous float64 array of shape
    (n, differentiated elements).  A wrong structure or type raises TypeError, a wrong
    shape or number of points ValueError."""
    if single:
        parts = [value]
    else:
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"{what} of the batched tape of {name} must be a tuple of "
                            f"{len(argnums)} arrays (one per differentiated argument, "
                            f"argnums={tuple(argnums)}), got {type(value).__name__}")
        if len(value) != len(argnums):
            raise TypeError(f"{what} of the batched tape of {name} must have one item per "
                            f"differentiated argument ({len(argnums)}, "
                            f"argnums={tuple(argnums)}), got {len(value)}")
        parts = list(value)
    blocks = []
    for i, (part, k) in enumerate(zip(parts, argnums)):
        trailing = () if shapes[k] is None else tuple(shapes[k])
        blocks.append(_batched_part(part, trailing, n, what if single else f"{what}[{i}]",
                                    name))
    if not blocks:
        return np.zeros((n, 0), dtype=np.float64)
    if len(blocks) == 1:
        return blocks[0]
    return _c_doubles(np.concatenate(blocks, axis=1))


def batch_cotangent(name, out_shape, n, value, what):
    """Batched cotangents (``vjp``): shape (n,) + out_shape, checked, as a C-contiguous
    float64 array of shape (n, outputs)."""
    trailing = () if out_shape is None else tuple(out_shape)
    return _batched_part(value, trailing, n, what, name)


def _blocks(shapes, argnums):
    """(start, size, shape) of each differentiated argument's elements."""
    blocks, start = [], 0
    for k in argnums:
        shape = () if shapes[k] is None else tuple(shapes[k])
        size = 1
        for d in shape:
            size *= d
        blocks.append((start, size, shape))
        start += size
    return blocks


def batch_columns(matrix, n, lead, shapes, argnums, single):
    """Cut an (n, rows * directions) array of per-point (rows, directions) matrices into
    one array per differentiated argument of shape (n,) + lead + its shape; a tuple of
    them for tuple argnums (the batched twin of _args.split_columns)."""
    rows = 1
    for d in lead:
        rows *= d
    blocks = _blocks(shapes, argnums)
    m = matrix.reshape(n, rows, blocks[-1][0] + blocks[-1][1])
    out = [np.ascontiguousarray(m[:, :, start:start + size]).reshape((n,) + lead + shape)
           for start, size, shape in blocks]
    return out[0] if single else tuple(out)


def batch_hessian(matrix, n, shapes, argnums, single):
    """Cut an (n, d * d) array of per-point Hessians into JAX's nested layout, each block
    (n,) + shape_i + shape_j (the batched twin of _args.split_hessian)."""
    blocks = _blocks(shapes, argnums)
    d = blocks[-1][0] + blocks[-1][1]
    m = matrix.reshape(n, d, d)
    rows = tuple(tuple(np.ascontiguousarray(m[:, r0:r0 + rn, c0:c0 + cn])
                       .reshape((n,) + rshape + cshape) for c0, cn, cshape in blocks)
                 for r0, rn, rshape in blocks)
    return rows[0][0] if single else rows


def point_direction(shapes, argnums, single, dirs, i):
    """Point i's tangent or v, as a single call takes it (the reference batch)."""
    parts = []
    for (start, size, _), k in zip(_blocks(shapes, argnums), argnums):
        row = dirs[i, start:start + size]
        parts.append(float(row[0]) if shapes[k] is None else row.reshape(shapes[k]).copy())
    return parts[0] if single else tuple(parts)


def point_cotangent(out_shape, dirs, i):
    """Point i's cotangent, as a single call takes it (the reference batch)."""
    return float(dirs[i, 0]) if out_shape is None else dirs[i].reshape(out_shape).copy()


def point_args(shapes, axes, arrays, i):
    """The arguments of point i, as a single call takes them (the reference batch)."""
    args = []
    for shape, axis, a in zip(shapes, axes, arrays):
        row = a if axis is None else a[i]
        args.append(float(row[0]) if shape is None else row.reshape(shape).copy())
    return args


def batch_repr(name, axes):
    return f"<batched Tape of {name}, in_axes={axes}>"


# --------------------------------------------------------------------------------------
# Pickle state: written and checked once for both engines
# --------------------------------------------------------------------------------------

def table_fingerprint(names):
    """The fingerprint of a table of primitives: a digest of the names in opcode order."""
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def make_state(engine, names, name, shapes, argnums, single, n_inputs, constants, code,
               outs, out_shape):
    """The state of a pickled tape; code is an (n_ops, 3) int array in wire opcodes."""
    return {
        "format": FORMAT,
        "table": table_fingerprint(names),
        "autodiff": __version__,
        "engine": engine,
        "name": name,
        "shapes": tuple(None if s is None else tuple(int(d) for d in s) for s in shapes),
        "argnums": tuple(int(i) for i in argnums),
        "single": bool(single),
        "n_inputs": int(n_inputs),
        "constants": np.asarray(constants, dtype="<f8").tobytes(),
        "code": np.asarray(code, dtype="<i4").reshape(-1, 3).tobytes(),
        "outs": np.asarray(outs, dtype="<i8").tobytes(),
        "out_shape": None if out_shape is None else tuple(int(d) for d in out_shape),
    }


_FIELDS = ("format", "table", "autodiff", "engine", "name", "shapes", "argnums", "single",
           "n_inputs", "constants", "code", "outs", "out_shape")


def _refuse(why):
    raise ValueError(f"cannot unpickle this Tape: {why}")


def _int(value, what, low, high):
    if type(value) is not int or not low <= value < high:
        _refuse(f"{what} must be an int in [{low}, {high}), got {value!r}")
    return value


def _shape(value, what):
    if type(value) is not tuple or len(value) > 64:
        _refuse(f"{what} must be a tuple of ints, got {value!r}")
    for d in value:
        _int(d, f"{what}'s dimension", 0, _MAX_SLOTS)
    return value


def check_state(state, names):
    """The fields of a pickled tape's state, every one checked; ValueError if any is bad.

    Returns ``(name, shapes, sizes, argnums, single, n_inputs, constants, code, outs,
    out_shape, root)`` with constants a float64 array, code an (n_ops, 3) int32 array in
    wire opcodes (see the module docstring) and outs an int64 array: all new arrays.
    """
    if type(state) is not dict:
        _refuse(f"its state must be a dict, got {type(state).__name__}")
    version = state.get("format")
    made_by = state.get("autodiff", "?")
    if version != FORMAT:
        _refuse(f"it was pickled in tape format {version!r} (by autodiff {made_by}), and "
                f"this autodiff ({__version__}) reads format {FORMAT}; record the function "
                f"again with this version")
    table = table_fingerprint(names)
    if state.get("table") != table:
        _refuse(f"it was pickled with another table of primitives (fingerprint "
                f"{state.get('table')!r}, autodiff {made_by}) than this autodiff's "
                f"({table!r}, autodiff {__version__}); record the function again with this "
                f"version")
    if set(state) != set(_FIELDS):
        _refuse(f"its state must have the fields {sorted(_FIELDS)}, got {sorted(state)}")
    name = state["name"]
    if type(name) is not str:
        _refuse(f"name must be a str, got {type(name).__name__}")
    shapes = state["shapes"]
    if type(shapes) is not tuple or len(shapes) > _MAX_SLOTS:
        _refuse(f"shapes must be a tuple, got {type(shapes).__name__}")
    sizes = []
    for k, s in enumerate(shapes):
        if s is None:
            sizes.append(1)
        else:
            size = 1
            for d in _shape(s, f"shape {k}"):
                size *= d
            sizes.append(size)
    n_inputs = _int(state["n_inputs"], "n_inputs", 0, _MAX_SLOTS)
    if sum(sizes) != n_inputs:
        _refuse(f"the arguments' shapes hold {sum(sizes)} elements, n_inputs says {n_inputs}")
    argnums = state["argnums"]
    if type(argnums) is not tuple:
        _refuse(f"argnums must be a tuple, got {type(argnums).__name__}")
    for i in argnums:
        _int(i, "an argnum", 0, len(shapes))
    single = state["single"]
    if type(single) is not bool or (single and len(argnums) != 1):
        _refuse(f"single must be a bool, True only for one argnum, got {single!r}")
    constants = _buffer(state["constants"], "<f8", "constants")
    code = _buffer(state["code"], "<i4", "code")
    if len(code) % 3:
        _refuse(f"code must hold (op, a, b) triples, got {len(code)} ints")
    base = n_inputs + len(constants)
    n_ops = len(code) // 3
    n_slots = base + n_ops
    if n_slots >= _MAX_SLOTS:                   # counted before anything is copied
        _refuse(f"{n_slots} slots is more than a tape can hold")
    constants = constants.astype(np.float64)
    code = code.astype(np.int32).reshape(-1, 3)
    if n_ops:
        op, a, b = code[:, 0], code[:, 1], code[:, 2]
        n_unary = _n_unary(names)
        limit = base + np.arange(n_ops)         # instruction i reads slots below base + i
        bad = (op < 0) | (op > len(names)) | (a < 0) | (a >= limit) | (b < 0) | (b >= limit)
        bad |= (op < n_unary) & (a != b)
        if bad.any():
            i = int(np.argmax(bad))
            _refuse(f"instruction {i} (op {int(op[i])}, operands {int(a[i])}, {int(b[i])}) "
                    f"is not an opcode of the table ({len(names)} primitives) reading slots "
                    f"written before it (below {int(limit[i])})")
    outs = _buffer(state["outs"], "<i8", "outs").astype(np.int64)
    out_shape = state["out_shape"]
    if out_shape is not None:
        _shape(out_shape, "out_shape")
    n_out = 1 if out_shape is None else int(np.prod(out_shape, dtype=np.int64))
    if len(outs) != n_out or n_out < 1 or (outs < 0).any() or (outs >= n_slots).any():
        _refuse(f"outs must be {n_out} slot(s) below {n_slots}, got {outs.tolist()[:8]}")
    return (name, shapes, tuple(sizes), argnums, single, n_inputs, constants, code, outs,
            out_shape, int(outs[0]))


def _buffer(value, dtype, what):
    if type(value) is not bytes:
        _refuse(f"{what} must be bytes, got {type(value).__name__}")
    width = np.dtype(dtype).itemsize
    if len(value) % width:
        _refuse(f"{what} must be a whole number of {width}-byte items, got {len(value)} bytes")
    return np.frombuffer(value, dtype=dtype)


def _n_unary(names):
    return len(_primitives.UNARY)       # the table's unary rows come first in its order


# --------------------------------------------------------------------------------------
# The reference engine's tapes (restored by _record_reference.restore, through
# autodiff.reference._restore_tape: this module never imports an engine)
# --------------------------------------------------------------------------------------

def state(tape):
    """The pickle state of a reference tape, from its opcodes in the compiled numbering."""
    tape._check()
    names = tuple(p.name for p in _primitives.TABLE)
    n_unary = len(_primitives.UNARY)
    code = []
    for op, (_, _, a, b) in zip(tape._opcodes, tape._code):
        if op == n_unary:                       # POWC: the state's own number for it
            op = len(names)
        elif op >= _BINARY:
            op = n_unary + op - _BINARY
        code.append((op, a, b))
    return make_state("reference", names, tape._name, tape._shapes, tape._argnums,
                      tape._single, tape.n_inputs, tape._constants, code, tape._outs,
                      tape._out_shape)


# --------------------------------------------------------------------------------------
# The reference engine's batches: N single calls, stacked
# --------------------------------------------------------------------------------------

def vmap(tape, in_axes):
    return BatchedTape(tape, in_axes)


def _batched(tape, in_axes):        # pickle's way back to a batched view
    return BatchedTape(tape, in_axes)


class BatchedTape:
    """A tape over many points: ``tape.vmap(in_axes)``.

    Each method takes the tape's arguments with a leading axis of N points (an argument
    whose ``in_axes`` entry is None is one value shared by every point) and returns float64
    arrays with the leading axis N: the results of N single calls, bit for bit.
    ``workers`` splits the points across that many threads (the compiled engine); here it is
    checked and the points run one after the other.  ``jvp``, ``vjp``, ``jacobian``, ``hvp``
    and ``hessian`` take a trailing direction with the leading axis N too (one per point).
    """
    __slots__ = ("_tape", "_axes")

    def __init__(self, tape, in_axes):
        tape._check()
        self._tape = tape
        self._axes = in_axes_tuple(in_axes, len(tape._shapes), tape._name)

    @property
    def tape(self):
        return self._tape

    @property
    def in_axes(self):
        return self._axes

    def __repr__(self):
        return batch_repr(self._tape._name, self._axes)

    def __reduce__(self):
        return _batched, (self._tape, self._axes)

    def _points(self, args, workers):
        check_workers(workers)
        t = self._tape
        n, arrays = batch_inputs(t._name, t._shapes, t._sizes, self._axes, args)
        return n, [point_args(t._shapes, self._axes, arrays, i) for i in range(n)]

    def _values_array(self, values, n):
        t = self._tape
        shape = () if t._out_shape is None else tuple(t._out_shape)
        out = np.empty((n,) + shape, dtype=np.float64)
        for i, v in enumerate(values):
            out[i] = v
        return out

    def __call__(self, *args, workers=1):
        """The values at N points: a float64 array of shape (N,) + the output's shape."""
        n, points = self._points(args, workers)
        return self._values_array([self._tape(*p) for p in points], n)

    def value_and_grad(self, *args, workers=1):
        """``(values, grads)`` at N points: each has a leading axis N."""
        n, points = self._points(args, workers)
        t = self._tape
        results = [t.value_and_grad(*p) for p in points]
        values = self._values_array([r[0] for r in results], n)
        grads = []
        for j, k in enumerate(t._argnums):
            shape = () if t._shapes[k] is None else tuple(t._shapes[k])
            g = np.empty((n,) + shape, dtype=np.float64)
            for i, r in enumerate(results):
                g[i] = r[1] if t._single else r[1][j]
            grads.append(g)
        return values, (grads[0] if t._single else tuple(grads))

    def grad(self, *args, workers=1):
        """The gradients at N points, each with a leading axis N."""
        return self.value_and_grad(*args, workers=workers)[1]

    # Tangents and second order: N single calls of the tape's method, stacked.  The
    # trailing direction (tangent, cotangent, v) always has the leading axis N.

    def _directed(self, args, workers, what, scalar):
        """The checks, in the compiled engine's order: (n, points, last)."""
        check_workers(workers)
        t = self._tape
        last = None
        if what is not None:
            if len(args) == 0:
                raise TypeError(f"the batched tape's {what} takes the tape's "
                                f"{len(t._shapes)} argument(s) and then the {what} vector, "
                                f"each with a leading axis of points; got no arguments")
            args, last = args[:-1], args[-1]
        if scalar:
            t._scalar_only(scalar)
        n, arrays = batch_inputs(t._name, t._shapes, t._sizes, self._axes, args)
        return n, [point_args(t._shapes, self._axes, arrays, i) for i in range(n)], last

    def _stack(self, results, n, lead):
        """Per-point results structured like grad's (per argnum) as batched arrays."""
        t = self._tape
        out = []
        for j, k in enumerate(t._argnums):
            shape = lead + (() if t._shapes[k] is None else tuple(t._shapes[k]))
            a = np.empty((n,) + shape, dtype=np.float64)
            for i, r in enumerate(results):
                a[i] = r if t._single else r[j]
            out.append(a)
        return out[0] if t._single else tuple(out)

    def jvp(self, *args, workers=1):
        """``jvp(*args, tangents)`` -> ``(values, J . tangents)`` at N points (see the
        compiled BatchedTape): point i is ``tape.jvp(*args_i, tangent_i)``."""
        t = self._tape
        t._check()
        n, points, tangent = self._directed(args, workers, "jvp", None)
        dirs = batch_directions(t._name, t._shapes, t._argnums, t._single, n, tangent,
                                "the tangent")
        results = [t.jvp(*p, point_direction(t._shapes, t._argnums, t._single, dirs, i))
                   for i, p in enumerate(points)]
        return (self._values_array([r[0] for r in results], n),
                self._values_array([r[1] for r in results], n))

    def vjp(self, *args, workers=1):
        """``vjp(*args, cotangents)`` -> ``(values, cotangents . J)`` at N points (see the
        compiled BatchedTape): point i is ``tape.vjp(*args_i, cotangent_i)``."""
        t = self._tape
        t._check()
        n, points, cotangent = self._directed(args, workers, "vjp", None)
        dirs = batch_cotangent(t._name, t._out_shape, n, cotangent, "the cotangent")
        results = [t.vjp(*p, point_cotangent(t._out_shape, dirs, i))
                   for i, p in enumerate(points)]
        return (self._values_array([r[0] for r in results], n),
                self._stack([r[1] for r in results], n, ()))

    def jacobian(self, *args, workers=1):
        """The Jacobians at N points (see the compiled BatchedTape): point i is
        ``tape.jacobian(*args_i)``."""
        t = self._tape
        t._check()
        n, points, _ = self._directed(args, workers, None, None)
        lead = () if t._out_shape is None else tuple(t._out_shape)
        return self._stack([t.jacobian(*p) for p in points], n, lead)

    def hvp(self, *args, workers=1):
        """``hvp(*args, vs)`` -> ``H . v`` at N points (see the compiled BatchedTape):
        point i is ``tape.hvp(*args_i, v_i)``."""
        t = self._tape
        t._check()
        n, points, v = self._directed(args, workers, "hvp", "hvp")
        dirs = batch_directions(t._name, t._shapes, t._argnums, t._single, n, v, "v")
        return self._stack([t.hvp(*p, point_direction(t._shapes, t._argnums, t._single,
                                                      dirs, i))
                            for i, p in enumerate(points)], n, ())

    def hessian(self, *args, workers=1):
        """The Hessians at N points (see the compiled BatchedTape): point i is
        ``tape.hessian(*args_i)``."""
        t = self._tape
        t._check()
        n, points, _ = self._directed(args, workers, None, "hessian")
        results = [t.hessian(*p) for p in points]
        shapes = [() if t._shapes[k] is None else tuple(t._shapes[k]) for k in t._argnums]
        rows = []
        for r, rshape in enumerate(shapes):
            row = []
            for c, cshape in enumerate(shapes):
                a = np.empty((n,) + rshape + cshape, dtype=np.float64)
                for i, h in enumerate(results):
                    a[i] = h if t._single else h[r][c]
                row.append(a)
            rows.append(tuple(row))
        return rows[0][0] if t._single else tuple(rows)
