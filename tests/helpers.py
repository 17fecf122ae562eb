"""Test utilities shared by the core suite: independent oracles and strict float comparison.

Nothing here calls ``get_gradients`` or ``gradients``: the oracles read only ``.value`` and
``.grad``, the tutorial's node interface, so they check the engines instead of repeating them.
"""
import functools
import math
import struct
from collections import defaultdict

import numpy as np

from autodiff import _primitives

BINARY_NAMES = frozenset(p.name for p in _primitives.BINARY)


def arity(name):
    """The number of operands of the primitive called ``name``."""
    return 2 if name in BINARY_NAMES else 1


# ----------------------------------------------------------------------------------------
# Strict comparison of floats
# ----------------------------------------------------------------------------------------


def same_float(a, b):
    """True if a and b are the same double: bit for bit (so 0.0 is not -0.0), any nan = any nan.

    The sign and payload of a nan are not compared: IEEE 754 leaves them unspecified, and the
    C library and Python's ``math`` wrappers produce nans of different signs.
    """
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) is float and struct.pack("<d", a) == struct.pack("<d", b)


def assert_same_floats(got, want, what=""):
    """Assert two sequences of floats are element-wise ``same_float``; say where they differ."""
    got, want = list(got), list(want)
    assert len(got) == len(want), f"{what}: lengths {len(got)} != {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert same_float(g, w), f"{what}[{i}]: {g!r} ({_hex(g)}) != {w!r} ({_hex(w)})"


def _hex(x):
    return struct.pack("<d", x).hex() if isinstance(x, float) else type(x).__name__


# ----------------------------------------------------------------------------------------
# The tutorial's route-enumerating walk, as an oracle
# ----------------------------------------------------------------------------------------


def route_gradients(root, max_routes=200_000):
    """d root / d node for every node below root, by the tutorial's original algorithm.

    Push ``(child, route_value)`` for every route from the root, multiplying the local
    derivatives along the route, and sum the routes into a defaultdict.  Exponential in the
    number of shared subexpressions: use on small graphs only.

    Returns ``(gradients, mass)``: ``mass[node]`` is the sum of the absolute route values,
    the scale against which the rounding error of any summation order is measured.
    """
    gradients = defaultdict(float)
    mass = defaultdict(float)
    stack = [(child, local) for child, local in root.grad]
    routes = 0
    while stack:
        node, route_value = stack.pop()
        routes += 1
        if routes > max_routes:
            raise RuntimeError("too many routes for the oracle: make the graph smaller")
        gradients[node] += route_value
        mass[node] += abs(route_value)
        for child, local in node.grad:
            stack.append((child, local * route_value))
    return dict(gradients), dict(mass)


def reachable(root):
    """The nodes reachable from root (root included), in a fixed depth-first pre-order.

    Two graphs built by the same program on the two engines give lists that correspond
    position by position, so their gradients can be compared node by node.
    """
    seen = {id(root)}
    order = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        for child, _ in reversed(node.grad):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return order


def absolute_gradients(root, wrt):
    """The condition of the reverse sweep: d root / d w with every local derivative replaced
    by its absolute value (linear time, reading only ``.grad``).

    Rounding in any order of accumulation is bounded by about depth * eps times this; where it
    is many orders above the gradient itself, the gradient is a cancellation of huge terms.
    """
    order = []                                   # post-order: children before parents
    state = {id(root): False}
    stack = [(root, iter(root.grad))]
    while stack:
        node, children = stack[-1]
        for child, _ in children:
            if id(child) not in state:
                state[id(child)] = False
                stack.append((child, iter(child.grad)))
                break
        else:
            stack.pop()
            order.append(node)
    adjoint = {id(root): 1.0}
    for node in reversed(order):
        g = adjoint.get(id(node), 0.0)
        for child, local in node.grad:
            adjoint[id(child)] = adjoint.get(id(child), 0.0) + g * abs(local)
    return [adjoint.get(id(w), 0.0) for w in wrt]


# ----------------------------------------------------------------------------------------
# Finite differences
# ----------------------------------------------------------------------------------------


def central_difference(f, point, i, h):
    """(f(point + h e_i) - f(point - h e_i)) / 2h, for f taking floats and returning a float."""
    up, down = list(point), list(point)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2.0 * h)


def step_for(x, relative=1e-5):
    """A central-difference step scaled to x (truncation and rounding both near 1e-10)."""
    return relative * max(1.0, abs(x))


# ----------------------------------------------------------------------------------------
# User-defined nodes in the tutorial's style, for each engine
# ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def user_ops(ad):
    """Python subclasses of ``ad.Ops`` written as the tutorial writes its nodes.

    Returns a dict name -> (class, arity, float function), the float function giving the
    value the node must have (for finite differences and checks).
    """
    class Square(ad.Ops):
        """x ** 2, exactly the tutorial's way of adding a function."""
        def __init__(self, x):
            self.value = x.value * x.value
            self.grad = [(x, 2.0 * x.value)]

    class Twice(ad.Ops):
        """2 x with the same child listed twice: routes must be summed per edge."""
        def __init__(self, x):
            self.value = x.value + x.value
            self.grad = [(x, 1.0), (x, 1.0)]

    class MulAdd(ad.Ops):
        """a * b + c: three children, one node."""
        def __init__(self, a, b, c):
            self.value = a.value * b.value + c.value
            self.grad = [(a, b.value), (b, a.value), (c, 1)]   # an int local derivative

    class SoftPlus(ad.Ops):
        """log(1 + exp(x)), computed with math on the value."""
        def __init__(self, x):
            v = x.value
            self.value = max(v, 0.0) + math.log1p(math.exp(-abs(v)))
            self.grad = [(x, 1.0 / (1.0 + math.exp(-v)) if v >= 0
                          else math.exp(v) / (1.0 + math.exp(v)))]

    return {
        "Square": (Square, 1, lambda x: x * x),
        "Twice": (Twice, 1, lambda x: x + x),
        "MulAdd": (MulAdd, 3, lambda a, b, c: a * b + c),
        "SoftPlus": (SoftPlus, 1, lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x)))),
    }


# Special values for bit-for-bit sweeps of batched and single calls.
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 1e-300, 5e-324, 1e300, np.inf,
                    -np.inf, np.nan, 0.999, 7.0, -7.5, 3.0, 1e-8])


def points(n, seed=0, low=-3.0, high=3.0, shape=()):
    """n uniform points in [low, high), each of the given shape: an array (n,) + shape."""
    return np.random.default_rng(seed).uniform(low, high, (n,) + shape)


def bits(x):
    """A value's exact bits and structure (signed zeros and nan payloads included), for
    bit-for-bit comparisons of results: a float, a float64 array, or tuples of them."""
    if isinstance(x, tuple):
        return ("tuple", tuple(bits(v) for v in x))
    if isinstance(x, float):
        return ("float", np.float64(x).tobytes())
    assert isinstance(x, np.ndarray) and x.dtype == np.float64, type(x)
    return ("array", x.shape, x.tobytes())
