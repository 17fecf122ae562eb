"""The functional API's conventions, shared by ``value_and_grad``, ``grad`` and ``record``.

Arguments are real numbers or arrays of real numbers.  The differentiated ones (``argnums``)
become leaves: a number becomes one ``Var``, an array an object array of ``Var`` of its
shape.  A gradient has the shape of its argument: a float for a number, a float64 array
for an array; for ``argnums`` given as a tuple, a tuple of those.
"""
from __future__ import annotations

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
