"""NumPy's ufunc protocol for a single node, shared by both engines.

``np.sin(x)`` on a node ``x`` gives a node (not a 0-d object array), and a NumPy scalar on
either side of an operator (``np.float64(2.0) * x``) gives a node.  When an array is
involved, NumPy's object loops do the work and call the nodes' operators and methods
element by element.
"""
import numbers
import operator

import numpy as np

_OPERATORS = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "true_divide": operator.truediv, "power": operator.pow,
    "negative": operator.neg, "positive": operator.pos, "absolute": abs,
    "less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
    "greater_equal": operator.ge,
}


def dispatch(functions, node_type, ufunc, method, inputs, kwargs):
    """Apply ``ufunc`` to inputs holding at least one node; ``functions`` maps names to the
    engine's module functions."""
    scalars = [_scalar(i, node_type) for i in inputs]
    if method == "__call__" and not kwargs and None not in scalars:
        op = _OPERATORS.get(ufunc.__name__) or functions.get(ufunc.__name__)
        return NotImplemented if op is None else op(*scalars)
    boxed = []
    for i in inputs:
        if isinstance(i, node_type):
            box = np.empty((), dtype=object)
            box[()] = i
            i = box
        boxed.append(i)
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
