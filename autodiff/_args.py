"""The functional API's conventions, shared by ``value_and_grad``, ``grad`` and ``record``.

Arguments are real numbers or arrays of real numbers.  The differentiated ones (``argnums``)
become leaves: a number becomes one ``Var``, an array an object array of ``Var`` of its
shape.  A gradient has the shape of its argument: a float for a number, a float64 array
for an array; for ``argnums`` given as a tuple, a tuple of those.
"""
from __future__ import annotations

import copy
import importlib
import numbers
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


def normalize_argnums(argnums: Any, nargs: int) -> Tuple[Tuple[int, ...], bool]:
    """(tuple of argument indices, single) for an int or a tuple of ints."""
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    indices = (argnums,) if single else argnums
    if not isinstance(indices, tuple) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in indices):
        raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}")
    normalized = []
    for i in indices:
        if not -nargs <= i < nargs:
            raise ValueError(f"argnums {i} is out of range for {nargs} argument(s)")
        normalized.append(int(i) % nargs)
    return tuple(normalized), single


class Slot:
    """One differentiated argument: its shape (None for a number) and its leaves."""
    __slots__ = ("shape", "leaves")

    def __init__(self, shape: Optional[Tuple[int, ...]], leaves: List[Any]) -> None:
        self.shape = shape
        self.leaves = leaves

    def unflatten(self, flat: Sequence[float]) -> Any:
        """A float (number argument) or a float64 array of the argument's shape."""
        if self.shape is None:
            return float(flat[0])
        return np.asarray(flat, dtype=np.float64).reshape(self.shape)


def as_values(arg: Any) -> Tuple[Optional[Tuple[int, ...]], np.ndarray]:
    """(shape, float64 values) of a differentiated argument; shape None for a number."""
    if isinstance(arg, numbers.Real) and not isinstance(arg, np.ndarray):
        return None, np.array([float(arg)])
    a = np.asarray(arg)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"a differentiated argument must be a real number or an array of real "
                        f"numbers, got {type(arg).__name__}"
                        + (f" of dtype {a.dtype}" if isinstance(arg, np.ndarray) else ""))
    return a.shape, a.astype(np.float64).reshape(-1)


def make_leaves(engine: Dict[str, Any], args: Sequence[Any],
                argnums: Any) -> Tuple[List[Any], List[Slot], bool]:
    """(call_args, slots): args with each differentiated one replaced by Vars."""
    indices, single = normalize_argnums(argnums, len(args))
    call_args = list(args)
    slots = []
    for i in indices:
        shape, values = as_values(args[i])
        if shape is None:
            leaves = [engine["Var"](values[0])]
            call_args[i] = leaves[0]
        else:
            arr = engine["to_var"](values).reshape(shape)
            leaves = list(arr.reshape(-1))
            call_args[i] = arr
        slots.append(Slot(shape, leaves))
    return call_args, slots, single


def scalar_output(engine: Dict[str, Any], out: Any) -> Any:
    """The node (or float, for an output that does not depend on the inputs) f returned."""
    Ops = engine["Ops"]
    if isinstance(out, np.ndarray) and out.shape == () and out.dtype == object:
        out = out[()]
    if isinstance(out, Ops):
        return out
    if isinstance(out, numbers.Real) and not isinstance(out, np.ndarray):
        return float(out)
    raise TypeError(f"f must return a scalar (a node or a real number), got "
                    f"{type(out).__name__}"
                    + (f" of shape {out.shape}" if isinstance(out, np.ndarray) else ""))


def split_gradients(flat: Sequence[float], slots: List[Slot], single: bool) -> Any:
    """Cut a flat sequence of leaf gradients into one result per slot."""
    results, k = [], 0
    for slot in slots:
        n = len(slot.leaves)
        results.append(slot.unflatten(flat[k:k + n]))
        k += n
    return results[0] if single else tuple(results)


def function_name(f: Any) -> str:
    """A name for f in error messages."""
    return getattr(f, "__qualname__", None) or type(f).__name__


def tape_inputs(engine: Dict[str, Any], f: Any, args: Sequence[Any], argnums: Any
                ) -> Tuple[List[Any], List[Slot], Tuple[int, ...], bool]:
    """``record``'s leaves: every argument of a tape is an input, argnums picks the gradients.

    Returns (call_args, slots of every argument, differentiated indices, single).
    """
    if not callable(f):
        raise TypeError(f"record needs a function, got {type(f).__name__}")
    indices, single = normalize_argnums(argnums, len(args))
    for k, arg in enumerate(args):
        try:
            as_values(arg)
        except TypeError:
            raise TypeError(
                f"record: argument {k} of {function_name(f)} is a {type(arg).__name__}; every "
                f"argument of a tape is an input, a real number or an array of real numbers "
                f"(bind any other argument first, e.g. with functools.partial)") from None
    call_args, slots, _ = make_leaves(engine, args, tuple(range(len(args))))
    return call_args, slots, indices, single


def tape_outputs(engine: Dict[str, Any], out: Any) -> Tuple[List[Any], Optional[Tuple[int, ...]]]:
    """``record``'s outputs: (items, shape) for what ``f`` returned.

    ``f`` may return a scalar (a node, a real number, a 0-d array): one item and shape None
    (the tape returns a float); an array of any shape whose elements are nodes or real
    numbers: its elements in C order and its shape; or a list or tuple of nodes and real
    numbers: its items and shape ``(len,)``.  Each item is a node or a float (a constant
    output).  Anything else raises TypeError.
    """
    Ops = engine["Ops"]

    def item(x: Any, where: str) -> Any:
        if isinstance(x, Ops):
            return x
        if isinstance(x, numbers.Real) and not isinstance(x, np.ndarray):
            return float(x)
        raise TypeError(f"f must return a scalar, an array or a sequence of nodes and real "
                        f"numbers, but {where} is a {type(x).__name__}")

    if isinstance(out, np.ndarray):
        if out.dtype.kind not in "biufO":
            raise TypeError(f"f returned an array of dtype {out.dtype}; a tape's outputs are "
                            f"nodes or real numbers")
        shape = tuple(int(d) for d in out.shape)
        flat = out.reshape(-1).tolist() if out.dtype.kind != "O" else list(out.reshape(-1))
        items = [item(x, "an element of the array it returned") for x in flat]
        if not shape:
            return items, None
        return items, shape
    if isinstance(out, (list, tuple)):
        items = [item(x, f"item {k} of the {type(out).__name__} it returned")
                 for k, x in enumerate(out)]
        return items, (len(items),)
    return [item(out, "what it returned")], None


def _flat_like(value: Any, shape: Optional[Tuple[int, ...]], what: str) -> np.ndarray:
    """value (a number for shape None, else an array of that shape), as flat float64."""
    try:
        got, values = as_values(value)
    except TypeError:
        raise TypeError(f"{what} must be a real number or an array of real numbers, got "
                        f"{type(value).__name__}") from None
    scalar = got is None or got == ()
    if got != shape and not (scalar and (shape is None or shape == ())):
        expected = "a number" if shape is None else f"an array of shape {shape}"
        actual = "a number" if got is None else f"an array of shape {got}"
        raise ValueError(f"{what} must be {expected} (the shape of what it pairs with), "
                         f"got {actual}")
    return np.ascontiguousarray(values, dtype=np.float64)


def tape_directions(value: Any, shapes: Sequence[Optional[Tuple[int, ...]]],
                    argnums: Tuple[int, ...], single: bool, what: str) -> np.ndarray:
    """A tangent (``jvp``) or vector (``hvp``) structured like the differentiated
    arguments, checked, as one flat float64 array (the arguments' elements in order).

    One number or array when argnums is an int, else a tuple or list of one per argnum.
    A wrong structure or type raises TypeError, a wrong shape ValueError.
    """
    if single:
        parts = [value]
    else:
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"{what} must be a tuple of {len(argnums)} numbers or arrays "
                            f"(one per differentiated argument, argnums={tuple(argnums)}), "
                            f"got {type(value).__name__}")
        if len(value) != len(argnums):
            raise TypeError(f"{what} must have one item per differentiated argument "
                            f"({len(argnums)}, argnums={tuple(argnums)}), got {len(value)}")
        parts = list(value)
    flats = [_flat_like(part, shapes[k], what if single else f"{what}[{i}]")
             for i, (part, k) in enumerate(zip(parts, argnums))]
    if not flats:
        return np.zeros(0, dtype=np.float64)
    return np.ascontiguousarray(np.concatenate(flats), dtype=np.float64)


def tape_cotangent(value: Any, out_shape: Optional[Tuple[int, ...]], what: str) -> np.ndarray:
    """A cotangent (``vjp``) shaped like the tape's output, checked, as flat float64."""
    return _flat_like(value, out_shape, what)


def split_columns(matrix: np.ndarray, lead: Tuple[int, ...],
                  shapes: Sequence[Optional[Tuple[int, ...]]], argnums: Tuple[int, ...],
                  single: bool) -> Any:
    """Cut the columns of a (rows, directions) float64 matrix into one block per
    differentiated argument, each reshaped to ``lead + argument shape`` (JAX's layout).

    A block of shape () is returned as a float; a tuple of blocks for tuple argnums.
    """
    results, start = [], 0
    for k in argnums:
        given = shapes[k]
        shape: Tuple[int, ...] = () if given is None else tuple(given)
        n = 1
        for d in shape:
            n *= d
        block = np.ascontiguousarray(matrix[:, start:start + n]).reshape(lead + shape)
        start += n
        results.append(float(block) if block.shape == () else block)
    return results[0] if single else tuple(results)


def split_hessian(matrix: np.ndarray, shapes: Sequence[Optional[Tuple[int, ...]]],
                  argnums: Tuple[int, ...], single: bool) -> Any:
    """Cut an (n, n) Hessian over the differentiated elements into JAX's nested layout:
    ``H[i][j]`` of shape ``shape_i + shape_j`` (a float for two numbers), a single block
    when argnums is an int."""
    blocks, start = [], 0
    for k in argnums:
        given = shapes[k]
        shape: Tuple[int, ...] = () if given is None else tuple(given)
        n = 1
        for d in shape:
            n *= d
        blocks.append((start, n, shape))
        start += n
    rows = []
    for (r0, rn, rshape) in blocks:
        row = []
        for (c0, cn, cshape) in blocks:
            block = np.ascontiguousarray(matrix[r0:r0 + rn, c0:c0 + cn]).reshape(rshape + cshape)
            row.append(float(block) if block.shape == () else block)
        rows.append(tuple(row))
    return rows[0][0] if single else tuple(rows)


class PreparedPlan:
    """A sparsity plan (``autodiff._sparsity.SparsityPlan``, or any object with its
    attributes) checked and laid out once for a tape's sweeps; a tape caches it.

    - ``shape``, ``n_colours``, ``nnz``, ``indices``, ``indptr``: the plan's pattern (own
      read-only int64 copies);
    - ``seed``: the seed matrix, a read-only C-contiguous float64 copy of shape
      ``(n_dir, n_colours)``;
    - ``take``: a read-only intp copy, every entry checked to lie in
      ``[0, n_rows * n_colours)``, so that the compiled gather reads the compressed matrix
      with no bounds checks;
    - a ``csr_array`` of the pattern, built at first use and never handed out: each result
      is a shallow copy of it with its own data and index arrays (SciPy's constructor
      re-checks and copies the whole pattern, which costs more than the sweep on a
      Rosenbrock Hessian).
    """

    __slots__ = ("shape", "n_colours", "nnz", "indices", "indptr", "seed", "take",
                 "_template")

    def __init__(self, plan: Any, n_rows: int, n_dir: int) -> None:
        self.shape = (int(plan.shape[0]), int(plan.shape[1]))
        if self.shape != (n_rows, n_dir):
            raise ValueError(f"the sparsity plan has shape {self.shape}, expected "
                             f"({n_rows}, {n_dir})")
        seed = np.array(plan.seed, dtype=np.float64, order="C", copy=True)
        if seed.ndim != 2 or seed.shape[0] != n_dir:
            raise ValueError(f"the sparsity plan's seed has shape {seed.shape}, expected "
                             f"({n_dir}, colours)")
        self.n_colours = int(seed.shape[1])
        self.indices = _frozen(plan.indices, np.int64)
        self.indptr = _frozen(plan.indptr, np.int64)
        self.take = _frozen(plan.take, np.intp)
        self.nnz = int(self.take.shape[0])
        if (self.indices.ndim != 1 or self.take.ndim != 1 or self.indptr.ndim != 1
                or self.indices.shape[0] != self.nnz or self.indptr.shape[0] != n_rows + 1):
            raise ValueError("the sparsity plan's indices, indptr and take do not match")
        if self.nnz and (self.take.min() < 0 or self.take.max() >= n_rows * self.n_colours):
            raise ValueError("the sparsity plan's take reads outside the compressed matrix")
        seed.flags.writeable = False
        self.seed = seed
        self._template: Any = None


def _frozen(values: Any, dtype: Any) -> np.ndarray:
    array = np.array(values, dtype=dtype, order="C", copy=True)
    array.flags.writeable = False
    return array


def prepare_plan(plan: Any, n_rows: int, n_dir: int) -> PreparedPlan:
    """``PreparedPlan(plan, n_rows, n_dir)``: n_rows is the number of outputs (Jacobian) or
    n_dir (Hessian), n_dir the number of differentiated elements."""
    return PreparedPlan(plan, n_rows, n_dir)


def plan_seed(plan: PreparedPlan, n_dir: int) -> np.ndarray:
    """A prepared plan's seed matrix (directions, colours), checked when it was prepared:
    C-contiguous float64, read-only (the sweeps read it with no bounds checks)."""
    assert plan.seed.shape[0] == n_dir
    return plan.seed


def _scipy_sparse(what: str) -> Any:
    try:
        sparse = importlib.import_module("scipy.sparse")    # only when asked for
    except ImportError:
        raise ImportError(f"{what} returns a scipy.sparse.csr_array: install SciPy "
                          f"(pip install scipy), or pass out=<float64 array of length nnz> "
                          f"to get the values alone") from None
    return sparse


def sparse_destination(plan: PreparedPlan, out: Any) -> np.ndarray:
    """Where the values of a sparse result go: ``out`` once checked (a writable
    C-contiguous float64 array of length nnz), else a new float64 array."""
    nnz = plan.nnz
    if out is None:
        return np.empty(nnz, dtype=np.float64)
    if type(out) is not np.ndarray or out.dtype != np.float64:
        raise TypeError(f"out must be a float64 numpy array of length {nnz} "
                        f"(the pattern's nnz), got "
                        + (f"an array of dtype {out.dtype}" if isinstance(out, np.ndarray)
                           else type(out).__name__))
    if out.ndim != 1 or out.shape[0] != nnz:
        raise ValueError(f"out must have shape ({nnz},) (the pattern's nnz), got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writable, contiguous array")
    return out


def sparse_array(plan: PreparedPlan, data: np.ndarray, what: str = "this method") -> Any:
    """A new csr_array of the plan's pattern holding ``data`` (float64, length nnz, not
    copied), with index arrays of its own."""
    if plan._template is None:
        sparse = _scipy_sparse(what)
        template = sparse.csr_array((np.zeros(plan.nnz, dtype=np.float64),
                                     np.array(plan.indices, copy=True),
                                     np.array(plan.indptr, copy=True)), shape=plan.shape)
        plan._template = (template, _copier(template))
    template, shallow_copy = plan._template
    result = shallow_copy()             # its attributes, no re-check of the pattern
    result.data = data
    result.indices = template.indices.copy()
    result.indptr = template.indptr.copy()
    return result


def _copier(obj: Any) -> Any:
    """A function returning shallow copies of obj: what copy.copy does for a class with no
    copy or pickle hooks of its own (a new instance with a copy of obj's __dict__), done
    directly; copy.copy otherwise."""
    cls: Any = type(obj)
    state = getattr(obj, "__dict__", None)
    if (cls.__reduce_ex__ is object.__reduce_ex__ and cls.__reduce__ is object.__reduce__
            and not hasattr(cls, "__copy__") and cls.__getstate__ is object.__getstate__
            and state is not None and obj.__getstate__() is state):     # no slots either

        def shallow_copy() -> Any:
            result = cls.__new__(cls)
            result.__dict__.update(state)
            return result
        return shallow_copy
    return lambda: copy.copy(obj)


def sparse_result(plan: PreparedPlan, compressed: np.ndarray, out: Any) -> Any:
    """The values of a compressed sweep gathered into the plan's pattern: a csr_array, or
    written into ``out`` (checked: a writable C-contiguous float64 array of length nnz)."""
    flat = np.ascontiguousarray(compressed, dtype=np.float64).reshape(-1)
    dest = sparse_destination(plan, out)
    np.take(flat, plan.take, out=dest)
    return dest if out is not None else sparse_array(plan, dest)


def sparsity_pattern(plan: PreparedPlan) -> Any:
    """A plan's pattern as a csr_array of ones (float64)."""
    return sparse_array(plan, np.ones(plan.nnz, dtype=np.float64), "the sparsity pattern")
