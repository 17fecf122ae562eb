"""Bad input gets a clear exception, the same type in both engines, and breaks nothing.

One table of cases drives everything: each case is run on each engine (it must raise the
expected type), on both engines side by side (they must agree), and followed by a check
that the graph the case touched still has the right value and gradients.
"""
import math
import operator

import numpy as np
import pytest

import autodiff.reference
from autodiff import _primitives

BAD_OPERANDS = {"str": "a", "None": None, "list": [1, 2]}

BINARY_OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul,
    "/=": operator.itruediv, "**=": operator.ipow,
}

UNARY_NAMES = [p.name for p in _primitives.UNARY]         # the table of primitives
BINARY_NAMES = [p.name for p in _primitives.BINARY]


def _user_node(ad, pairs):
    """Make a tutorial-style user-defined node whose grad is ``pairs``."""
    class User(ad.Ops):
        def __init__(self, value, pairs):
            self.value = value
            self.grad = pairs
    return User(1.0, pairs)


def _set_value(node, v):
    node.value = v


def _cases():
    """(name, expected exception type, case(ad, x, y)) where x, y are Vars of the graph."""
    cases = []
    for label, bad in [("str", "x"), ("None", None), ("list", [1, 2]), ("complex", 1j),
                       ("node", "node")]:
        if bad == "node":
            cases.append(("Var(Var)", TypeError, lambda ad, x, y: ad.Var(x)))
        else:
            cases.append((f"Var({label})", TypeError, lambda ad, x, y, b=bad: ad.Var(b)))
    for label, bad in BAD_OPERANDS.items():
        for sym, op in BINARY_OPERATORS.items():
            if label == "list" and "**" not in sym:
                continue    # broadcast as an array, as with np.float64 (test_numpy_protocol)
            cases.append((f"node {sym} {label}", TypeError,
                          lambda ad, x, y, op=op, b=bad: op(x * y, b)))
            cases.append((f"{label} {sym} node", TypeError,
                          lambda ad, x, y, op=op, b=bad: op(b, x * y)))
        # A module function (and a node's method) takes a list as an array, element by
        # element, as NumPy's ufunc does (test_numpy_protocol); a node class does not.
        functions = label != "list"
        for name in UNARY_NAMES:
            if functions:
                cases.append((f"{name}({label})", TypeError,
                              lambda ad, x, y, n=name, b=bad: getattr(ad, n)(b)))
            cases.append((f"{name} class({label})", TypeError,
                          lambda ad, x, y, n=name, b=bad: ad.PRIMITIVES[n](b)))
        for name in BINARY_NAMES:
            if functions:
                cases.append((f"{name}(node, {label})", TypeError,
                              lambda ad, x, y, n=name, b=bad: getattr(ad, n)(x, b)))
                cases.append((f"{name}({label}, node)", TypeError,
                              lambda ad, x, y, n=name, b=bad: getattr(ad, n)(b, x)))
                cases.append((f"{name}({label}, number)", TypeError,
                              lambda ad, x, y, n=name, b=bad: getattr(ad, n)(b, 2.0)))
                cases.append((f"node.{name}({label})", TypeError,
                              lambda ad, x, y, n=name, b=bad: getattr(x, n)(b)))
            cases.append((f"{name} class(node, {label})", TypeError,
                          lambda ad, x, y, n=name, b=bad: ad.PRIMITIVES[n](x, b)))
    # pow with a modulus has no meaning for nodes; it must not be silently ignored
    cases.append(("pow(node, 2, 5)", TypeError, lambda ad, x, y: pow(x, 2, 5)))
    # gradients of something that is not a node
    for label, bad in [("float", 3.0), ("str", "x"), ("None", None), ("list", "list")]:
        cases.append((f"get_gradients({label})", TypeError,
                      lambda ad, x, y, b=bad: ad.get_gradients([x] if b == "list" else b)))
        cases.append((f"gradients({label}, node)", TypeError,
                      lambda ad, x, y, b=bad: ad.gradients([x] if b == "list" else b, x)))
    for label, wrt in [("float", lambda x: 3.0), ("str", lambda x: "x"), ("None", lambda x: None),
                       ("list with str", lambda x: [x, "a"]),
                       ("list with float", lambda x: [x, 1.0]),
                       ("array with float", lambda x: np.array([x, 1.0], dtype=object))]:
        cases.append((f"gradients(node, {label})", TypeError,
                      lambda ad, x, y, w=wrt: ad.gradients(x * y, w(x))))
    # user-defined nodes with a bad grad, caught at construction
    for label, child in [("str", "a"), ("None", None), ("float", 3.0), ("list", "list")]:
        cases.append((f"user node child {label}", TypeError,
                      lambda ad, x, y, c=child: _user_node(ad, [(x, 1.0), ([x] if c == "list"
                                                                             else c, 1.0)])))
    for label, local in [("str", "d"), ("None", None), ("complex", 1j), ("list", [1.0]),
                         ("node", "node")]:
        cases.append((f"user node derivative {label}", TypeError,
                      lambda ad, x, y, d=local: _user_node(ad, [(y, 2.0), (x, x if d == "node"
                                                                           else d)])))
    cases.append(("user node grad not iterable", TypeError,
                  lambda ad, x, y: _user_node(ad, 5)))
    cases.append(("user node pair not a pair", TypeError,
                  lambda ad, x, y: _user_node(ad, [x])))
    # the value must stay a real number
    for label, bad in [("str", "x"), ("None", None), ("list", [1.0]), ("complex", 1j)]:
        cases.append((f".value = {label}", TypeError,
                      lambda ad, x, y, b=bad: _set_value(x, b)))
    return cases


CASES = _cases()
IDS = [name for name, _, _ in CASES]


def _graph(ad):
    """The graph every case runs next to: f = x * y + sin(x) at (3, 4)."""
    x, y = ad.Var(3.0), ad.Var(4.0)
    return x, y, x * y + ad.sin(x)


def _assert_graph_intact(ad, x, y, f):
    assert x.value == 3.0 and y.value == 4.0
    assert f.value == 12.0 + math.sin(3.0)
    # d f / dx = y + cos x, d f / dy = x: the oracle is the closed form
    assert ad.gradients(f, [x, y]) == [4.0 + math.cos(3.0), 3.0]
    g = ad.get_gradients(f)
    assert g[x] == 4.0 + math.cos(3.0) and g[y] == 3.0
    g2 = ad.get_gradients(f * f)              # the graph also still grows
    assert g2[x] == pytest.approx(2 * f.value * (4.0 + math.cos(3.0)), rel=1e-15)


@pytest.mark.parametrize("name,expected,case", CASES, ids=IDS)
def test_bad_input_raises_and_breaks_nothing(ad, name, expected, case):
    x, y, f = _graph(ad)
    with pytest.raises(expected):
        case(ad, x, y)
    _assert_graph_intact(ad, x, y, f)


def _outcome(ad, case):
    """The exception type a case raises, or "ok" and the result's type."""
    x, y, _ = _graph(ad)
    try:
        result = case(ad, x, y)
    except Exception as error:                # noqa: BLE001 - comparing what is raised
        return type(error)
    return ("ok", type(result).__name__)


# Cases outside the table of required TypeErrors where the two engines must still agree:
# both raise the same exception type, or both succeed.
class _Leaf:
    """Factories of user-defined nodes that forget to set grad or value."""

    @staticmethod
    def no_grad(ad):
        class Leaf(ad.Ops):
            def __init__(self, v):
                self.value = v
        return Leaf(2.0)

    @staticmethod
    def no_value(ad, x):
        class NoValue(ad.Ops):
            def __init__(self, x):
                self.grad = [(x, 1.0)]
        return NoValue(x)


def _delete(node, attribute):
    delattr(node, attribute)


AGREEMENT = CASES + [
    ("Var(10**400)", None, lambda ad, x, y: ad.Var(10**400)),
    ("node + 10**400", None, lambda ad, x, y: x + 10**400),
    ("node // 2", None, lambda ad, x, y: x // 2),
    ("node % 2", None, lambda ad, x, y: x % 2),
    ("node @ node", None, lambda ad, x, y: x @ y),
    ("Var()", None, lambda ad, x, y: ad.Var()),
    ("Var(1, 2)", None, lambda ad, x, y: ad.Var(1.0, 2.0)),
    ("Add(node)", None, lambda ad, x, y: ad.Add(x)),
    ("sin(node, node)", None, lambda ad, x, y: ad.sin(x, y)),
    ("user node pair of one", None, lambda ad, x, y: _user_node(ad, [(x,)])),
    ("user node pair of three", None, lambda ad, x, y: _user_node(ad, [(x, 1.0, 2.0)])),
    ("del node.value", None, lambda ad, x, y: _delete(x, "value")),
    ("del node.grad", None, lambda ad, x, y: _delete(x, "grad")),
    ("node.other = 1", None, lambda ad, x, y: setattr(x * y, "other", 1)),
    ("get_gradients(user node without grad)", None,
     lambda ad, x, y: ad.get_gradients(_Leaf.no_grad(ad) * x)),
    ("value of user node without value", None,
     lambda ad, x, y: _Leaf.no_value(ad, x).value),
]


@pytest.mark.parametrize("name,expected,case", AGREEMENT, ids=[c[0] for c in AGREEMENT])
def test_engines_raise_the_same_exception_type(compiled, reference, name, expected, case):
    assert _outcome(compiled, case) == _outcome(reference, case)


def test_failed_grad_assignment_keeps_the_old_edges(ad):
    x, y, f = _graph(ad)
    node = x * y
    before = node.grad
    with pytest.raises(TypeError):
        node.grad = [(x, 2.0), ("bad", 1.0)]
    assert node.grad == before
    with pytest.raises(TypeError):
        node.value = "bad"
    assert node.value == 12.0
    assert ad.gradients(node, [x, y]) == [4.0, 3.0]
    _assert_graph_intact(ad, x, y, f)


def test_cycle_is_an_error_and_leaves_the_graph_usable(ad):
    x, y, f = _graph(ad)
    a = _user_node(ad, [])
    b = a * 2.0 + f
    a.grad = [(b, 1.0)]                      # a -> b -> a: not a DAG any more
    with pytest.raises(ValueError):
        ad.get_gradients(b)
    with pytest.raises(ValueError):
        ad.gradients(b, [a, x])
    a.grad = []                              # break the cycle: everything works again
    assert ad.gradients(b, [a, x, y]) == [2.0, 4.0 + math.cos(3.0), 3.0]
    _assert_graph_intact(ad, x, y, f)


def test_exception_messages_name_the_bad_type(ad):
    with pytest.raises(TypeError, match="str"):
        ad.Var("x")
    with pytest.raises(TypeError, match="NoneType"):
        ad.get_gradients(None)
    x = ad.Var(1.0)
    with pytest.raises(TypeError, match="str"):
        _user_node(ad, [("a", 1.0)])
    with pytest.raises(TypeError, match="str"):
        _user_node(ad, [(x, "d")])


def test_table_covers_every_primitive():
    assert set(UNARY_NAMES) | set(BINARY_NAMES) == set(autodiff.reference.PRIMITIVES)
