"""NumPy's protocols for a single node, shared by both engines.

``np.sin(x)`` on a node ``x`` gives a node (not a 0-d object array), and a NumPy scalar on
either side of an operator (``np.float64(2.0) * x``) gives a node.  When an array is
involved, NumPy's object loops do the work and call the nodes' operators and methods
element by element.  A ufunc that autodiff does not support on a lone node is a
``TypeError`` that names it.  Where NumPy has no object loop (``np.logaddexp``,
``np.copysign``, the predicates, ``np.modf``, SciPy's special ufuncs), the module function
of that name takes arrays and applies itself element by element (``elementwise``).

The rest is what ``np.float64`` does and a node should do the same: lists and tuples on
either side of an operator broadcast as arrays (``x - [3, 5]`` is an object array of
nodes); ``np.nan_to_num``, ``np.clip``, ``np.where`` and ``np.sinc`` of lone nodes (through
``__array_function__``), and ``nan_to_num``/``clip`` for object arrays of nodes, which
NumPy's own cannot handle (``np.nan_to_num`` returns object arrays unchanged).
"""
import math
import numbers
import operator

import numpy as np

_OPERATORS = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "true_divide": operator.truediv, "power": operator.pow,
    "negative": operator.neg, "positive": operator.pos, "absolute": abs,
    "less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
    "greater_equal": operator.ge,
    # == is by identity for nodes: np.equal on a lone node says what it says on an
    # object array of nodes (whose loop calls ==).
    "equal": operator.eq, "not_equal": operator.ne,
    # The operators call the primitives remainder and floor_divide.
    "remainder": operator.mod, "floor_divide": operator.floordiv, "divmod": divmod,
    "conjugate": operator.methodcaller("conjugate"),
}

_COMPARISONS = frozenset(("less", "less_equal", "greater", "greater_equal"))

# Module functions that return a bool of a node (added with the primitives), by ufunc name.
PREDICATES = ("isfinite", "isnan", "isinf", "signbit")

# Ufuncs of a lone node made of primitives here, by name (no module function of theirs).
COMPOSED = ("modf",)


def dispatch(functions, node_type, ufunc, method, inputs, kwargs, namespace=None):
    """Apply ``ufunc`` to inputs holding at least one node; ``functions`` maps names to the
    engine's module functions, ``namespace`` is the engine module's dict (for the
    predicates, looked up when called, and the functions ``modf`` is made of)."""
    scalars = [_scalar(i, node_type) for i in inputs]
    if method == "__call__" and not kwargs and None not in scalars:
        name = ufunc.__name__
        op = _OPERATORS.get(name) or functions.get(name)
        if op is None and name in PREDICATES and namespace is not None:
            op = namespace.get(name)
        if op is None and name in COMPOSED and namespace is not None:
            return modf(namespace, node_type, *scalars)
        if op is None:
            raise TypeError(f"autodiff has no {name!r} for nodes (np.{name} of a node); "
                            f"see autodiff.PRIMITIVES for the functions it differentiates")
        return op(*scalars)
    if method == "__call__" and not kwargs and ufunc is np.divmod:
        # NumPy has no object loop for divmod: divmod(a, b) is (a // b, a % b) as for floats.
        return np.floor_divide(*inputs), np.remainder(*inputs)
    boxed = [_boxed(i, node_type) for i in inputs]
    if ufunc.__name__ in _COMPARISONS:
        # The object loop compares floats in C, which raises the invalid flag on nan (NumPy
        # would warn, where its float64 loop does not).
        with np.errstate(invalid="ignore"):
            return getattr(ufunc, method)(*boxed, **kwargs)
    return getattr(ufunc, method)(*boxed, **kwargs)


def _scalar(x, node_type):
    """A node as it is; a real number, NumPy scalar or 0-d real array as a Python float (so
    that the operators do not come back here, and ``np.float64(2) < x`` is a bool); else None.
    """
    if isinstance(x, node_type):
        return x
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, np.ndarray) and x.shape == () and x.dtype.kind in "biuf":
        return float(x)
    return None

# --------------------------------------------------------------------------------------
# Operators with what is not a number: arrays, lists and tuples
# --------------------------------------------------------------------------------------


def with_sequence(op, a, b):
    """``op(a, b)`` where a or b is a list or tuple (else NotImplemented): as an array, as
    ``np.float64`` takes it, so that ``x - [3, 5]`` broadcasts into an object array.

    The node's operator then returns NotImplemented for the array and Python calls the
    array's reflected operator, whose ufunc comes back to ``dispatch`` with the node boxed.
    """
    if isinstance(a, (list, tuple)):
        return op(_as_array(a), b)
    if isinstance(b, (list, tuple)):
        return op(a, _as_array(b))
    return NotImplemented


def _as_array(seq):
    """``np.asarray(seq)``; a ragged sequence is an error, as for ``np.float64``: NumPy 2
    raises ValueError itself, NumPy 1.x makes an object array of sequences, whose elements
    np.float64 then fails on with a TypeError, as this does."""
    array = np.asarray(seq)
    if array.dtype == object and any(isinstance(e, (list, tuple, np.ndarray))
                                     for e in array.flat):
        raise TypeError("unsupported operand: a ragged sequence (its rows differ in length)")
    return array


def compare_other(op, node, other):
    """A comparison of a node with what is not a number: an array gives NotImplemented
    (the array's reflected comparison gives the bool array), a list or tuple is taken as an
    array, anything else is a TypeError."""
    if isinstance(other, np.ndarray):
        if other.dtype.kind in "biuf":      # NumPy's own loop, quiet on nan as for float64
            return op(node.value, float(other) if other.ndim == 0 else other)
        return NotImplemented
    if isinstance(other, (list, tuple)):
        return op(node, np.asarray(other))
    raise TypeError(f"cannot compare a node with {type(other).__name__}")


# --------------------------------------------------------------------------------------
# Rounding to digits: NumPy's algorithm (np.round of a float64), through primitives
# --------------------------------------------------------------------------------------


def _power_of_ten(n):
    """10.0 ** n as NumPy's ``power_of_ten`` computes it (np.round), for n >= 0."""
    if n < 9:
        return (1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)[n]
    ret = 1e9
    while n > 9 and ret != math.inf:    # once inf, the rest of NumPy's loop keeps inf
        ret *= 10.0
        n -= 1
    return ret


def round_digits(rint, multiply, divide, node, ndigits):
    """``round(node, ndigits)`` as ``round(np.float64, ndigits)``: ``rint(x * 10**n) / 10**n``
    (``rint(x / 10**-n) * 10**-n`` for n < 0), a node made of the engine's primitives
    ``rint``, ``multiply`` and ``divide`` (its module functions), so its derivative is
    rint's (0) and ``record`` replays it."""
    n = operator.index(ndigits)
    if n >= 0:
        f = _power_of_ten(n)
        return divide(rint(multiply(node, f)), f)
    f = _power_of_ten(-n)
    return multiply(rint(divide(node, f)), f)

# --------------------------------------------------------------------------------------
# Ufuncs without a NumPy object loop: modf and sinc of a lone node, made of primitives;
# the module functions element by element on arrays
# --------------------------------------------------------------------------------------


def modf(namespace, node_type, x):
    """``np.modf`` of a node: (fractional part, integral part), NumPy's values.

    The fractional part is ``fmod(x, 1.0)`` (exact, the sign of x, as C's modf), derivative
    1; the integral part ``trunc(x)``, derivative 0.  At +-inf, where fmod is nan, modf's
    fractional part is +-0.0: ``copysign(0.0, x)``, derivative 0.  All primitives, so
    ``record`` replays them (the inf case is the example's branch, as any branch on a value).
    """
    frac = (namespace["copysign"](0.0, x) if math.isinf(x.value)
            else namespace["fmod"](x, 1.0))
    return frac, namespace["trunc"](x)


def sinc(namespace, x):
    """``np.sinc`` of a node: ``sin(pi x) / (pi x)`` as NumPy computes it (``y = pi * x``,
    then ``sin(y) / y``), with sinc's derivative.

    Where ``|y| < 1e-3`` it is the series ``1 + y**2 (-1/6 + y**2 / 120)`` instead (its
    truncation error, ``y**6 / 5040``, is below an ulp): ``sin(y) / y`` there has the value
    but not the derivative, whose two terms ``cos(y) / y`` and ``sin(y) / y**2`` cancel (to
    0 instead of ``-pi**2 x / 3`` once ``cos(y)`` rounds to 1, to ``inf - inf = nan`` for
    subnormal x, and to 0 / 0 at 0).  The series is 1.0 where ``|y| < 1e-8`` (NumPy's value,
    0 included) and within an ulp of NumPy's value up to 1e-3; its derivative is 0 at 0.
    """
    multiply, add = namespace["multiply"], namespace["add"]
    y = multiply(math.pi, x)
    if abs(y.value) < 1e-3:
        y2 = multiply(y, y)
        return add(1.0, multiply(y2, add(-1.0 / 6.0, namespace["divide"](y2, 120.0))))
    return namespace["divide"](namespace["sin"](y), y)


def elementwise(function, args, node_type, dtype=np.float64):
    """``function`` (a module function or predicate of numbers and nodes) applied element by
    element to its arguments taken as arrays, broadcasting as a ufunc does.

    An object array of nodes where any element is a node; else an array of ``dtype``
    (float64, bool for a predicate), as the NumPy ufunc of that name gives on float64.  A
    0-d result is the element itself.  This is what ``autodiff.logaddexp(v, w)`` does for
    object arrays, for which NumPy's ``np.logaddexp`` has no loop.
    """
    with np.errstate(all="ignore"):     # quiet, as the module functions are on numbers
        out = np.frompyfunc(function, len(args), 1)(*args)
    if not isinstance(out, np.ndarray):
        return out
    flat = out.reshape(-1).tolist()
    if dtype is np.float64 and any(isinstance(v, node_type) for v in flat):
        return out
    return out.astype(dtype)

# --------------------------------------------------------------------------------------
# nan_to_num, clip and where, of lone nodes and of object arrays of nodes
# --------------------------------------------------------------------------------------


def _has_node(x, node_type):
    return isinstance(x, node_type) or (isinstance(x, np.ndarray) and x.dtype == object)


def nan_to_num(node_type, x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NumPy's ``nan_to_num`` for nodes and object arrays of nodes.

    A node whose value is nan, inf or -inf is replaced by the number NumPy puts there (a
    constant: derivative 0); any other node is kept as it is (derivative 1).
    """
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)               # a list of nodes is an object array
    if not _has_node(x, node_type):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    big = float(np.finfo(np.float64).max)
    nan = float(nan)
    posinf = big if posinf is None else float(posinf)
    neginf = -big if neginf is None else float(neginf)

    def one(v):
        value = v.value if isinstance(v, node_type) else v
        if isinstance(value, (numbers.Real, np.bool_)):
            value = float(value)
            if value != value:
                return nan
            if value == math.inf:
                return posinf
            if value == -math.inf:
                return neginf
        return v

    if isinstance(x, node_type):
        return one(x)
    a = np.asarray(x, dtype=object)
    out = a if not copy else np.empty(a.shape, dtype=object)
    flat = a.reshape(-1).tolist()
    out.reshape(-1)[:] = [one(v) for v in flat] if flat else []
    return out


def clip(namespace, node_type, a, a_min, a_max):
    """NumPy's ``clip`` made of the primitives ``maximum`` and ``minimum`` for nodes:
    ``minimum(maximum(a, a_min), a_max)``, element by element with broadcasting.

    NumPy's own clip of an object array picks an element by comparison (the bound, a
    constant, or the node): its derivative at a bound is 1, and a recorded tape keeps the
    choice.  Here a bound that a node touches shares the derivative as ``maximum`` does (0.5
    each side), and ``record`` replays the choice.  ``None`` is no bound.
    """
    if not (_has_node(a, node_type) or _has_node(a_min, node_type)
            or _has_node(a_max, node_type)):
        return np.clip(a, a_min, a_max)
    maximum, minimum = namespace["maximum"], namespace["minimum"]

    def one(x, lo, hi):
        if lo is not None:
            x = maximum(x, lo)
        if hi is not None:
            x = minimum(x, hi)
        return x

    return np.frompyfunc(one, 3, 1)(*(_boxed(v, node_type) for v in (a, a_min, a_max)))


def _boxed(x, node_type):
    """A node as a 0-d object array (so that a ufunc does not ask the node), else x."""
    if isinstance(x, node_type):
        box = np.empty((), dtype=object)
        box[()] = x
        return box
    return x


def _clip_arguments(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    return a, (a_min if min is None else min), (a_max if max is None else max), out, kwargs


def array_function(namespace, node_type, func, types, args, kwargs):
    """``__array_function__`` of a node: ``np.nan_to_num``, ``np.clip``, ``np.where`` and
    ``np.sinc`` with a lone node as an argument go to autodiff's; everything else to
    NumPy's own."""
    if func is np.sinc and len(args) == 1 and not kwargs and isinstance(args[0], node_type):
        return sinc(namespace, args[0])
    if func is np.nan_to_num:
        return namespace["nan_to_num"](*args, **kwargs)
    if func is np.clip:
        a, lo, hi, out, extra = _clip_arguments(*args, **kwargs)
        if out is None and not extra:
            return namespace["clip"](a, lo, hi)
    if func is np.where and len(args) == 3 and not kwargs:
        # A scalar condition picks one of two scalars: that one, not a 0-d object array.
        if all(_scalar(v, node_type) is not None or isinstance(v, np.bool_) for v in args):
            condition, x, y = args
            return x if condition else y
    return func._implementation(*args, **kwargs)
