"""Differential fuzzing: random programs on both engines, compared bit for bit and with
central finite differences.

A program is plain data: input values and a list of instructions over every primitive of
``PRIMITIVES`` (in each call form: class, function, method, NumPy ufunc), the operators
``+ - * / **`` and unary ``- + abs`` with numbers on either side, and user-defined
``Ops`` subclasses; operands are drawn among all earlier nodes, so subexpressions are shared.
The same program is run on both engines.

By default a bounded, derandomized profile runs (a few seconds, same examples every run).
The long profile, 20000 examples per test with fresh random seeds and no deadline:

    AUTODIFF_FUZZ=long python3 -m pytest -q tests/test_differential.py
"""
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from autodiff import reference
from helpers import (absolute_gradients, arity, assert_same_floats, reachable, same_float,
                     step_for, user_ops)

LONG = os.environ.get("AUTODIFF_FUZZ") == "long"
FUZZ = settings(
    max_examples=20000 if LONG else 250,
    deadline=None,
    derandomize=not LONG,          # CI runs the same examples every time
    database=None,
    print_blob=LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

PRIMITIVE_NAMES = list(reference.PRIMITIVES)
OPERATORS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "**": lambda a, b: a ** b,
}
UNARY_OPERATORS = {"neg": lambda a: -a, "pos": lambda a: +a, "abs": abs}
USER_NAMES = ["Square", "Twice", "MulAdd", "SoftPlus"]
USER_ARITY = {"Square": 1, "Twice": 1, "MulAdd": 3, "SoftPlus": 1}
FORMS = ["class", "function", "method", "ufunc"]

SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, math.inf, -math.inf, math.nan, 1e308, 5e-324,
            710.0, -745.5]


# ----------------------------------------------------------------------------------------
# Programs
# ----------------------------------------------------------------------------------------


@st.composite
def programs(draw, values, constants, max_ops=10, first=None):
    """(inputs, instructions).  An instruction is (kind, name, form, operands), an operand
    ("node", index into the nodes made so far) or ("const", number).  ``first``, a
    (kind, name) pair, fixes the first instruction's operation."""
    inputs = draw(st.lists(values, min_size=1, max_size=4))
    instructions = []
    for k in range(draw(st.integers(1, max_ops))):
        n_nodes = len(inputs) + k

        def node():
            # Mostly recent nodes (deep graphs), sometimes any earlier one (sharing).
            back = draw(st.integers(0, n_nodes - 1))
            return ("node", n_nodes - 1 - back)

        def node_or_constant():
            if draw(st.integers(0, 3)) == 0:
                return ("const", draw(constants))
            return node()

        if k == 0 and first is not None:
            kind, forced = first
        else:
            kind = draw(st.sampled_from(["primitive"] * 4 + ["operator", "unary", "user"]))
            forced = None

        def pick(names):
            return forced if forced is not None else draw(st.sampled_from(names))

        if kind == "primitive":
            name = pick(PRIMITIVE_NAMES)
            form = draw(st.sampled_from(FORMS))
            if arity(name) == 1:
                operands = [node()]
            else:
                operands = draw(st.sampled_from([[node(), node()], [node(), ("const", None)],
                                                 [("const", None), node()]]))
                operands = [("const", draw(constants)) if o == ("const", None) else o
                            for o in operands]
        elif kind == "operator":
            name, form = pick(sorted(OPERATORS)), ""
            operands = [node_or_constant(), node()]
            if draw(st.booleans()):
                operands.reverse()
        elif kind == "unary":
            name, form = pick(sorted(UNARY_OPERATORS)), ""
            operands = [node()]
        else:
            name, form = pick(USER_NAMES), ""
            operands = [node() for _ in range(USER_ARITY[name])]
        instructions.append((kind, name, form, tuple(operands)))
    return tuple(inputs), tuple(instructions)


def run(ad, program, inputs=None):
    """Build the program's graph on engine ``ad``.

    Returns (leaves, nodes, kink): ``nodes`` are the instructions' results (the last is the
    root), ``kink`` the smallest distance of an operand to a point where its operation is
    not smooth (see ``_distance_to_singularity``).
    """
    program_inputs, instructions = program
    leaves = [ad.Var(v) for v in (program_inputs if inputs is None else inputs)]
    nodes = list(leaves)
    users = user_ops(ad)
    kink = math.inf
    for kind, name, form, operands in instructions:
        args = [nodes[ref] if tag == "node" else ref for tag, ref in operands]
        values = [a.value if isinstance(a, ad.Ops) else float(a) for a in args]
        if kind == "primitive":
            if form == "class":
                new = ad.PRIMITIVES[name](*args)
            elif form == "method" and isinstance(args[0], ad.Ops):
                new = getattr(args[0], name)(*args[1:])
            elif form == "ufunc" and isinstance(getattr(np, name, None), np.ufunc):
                new = getattr(np, name)(*[a if isinstance(a, ad.Ops) else np.float64(a)
                                          for a in args])
            else:
                new = getattr(ad, name)(*args)
        elif kind == "operator":
            new = OPERATORS[name](*args)
        elif kind == "unary":
            new = UNARY_OPERATORS[name](*args)
        else:
            new = users[name][0](*args)
        assert isinstance(new, ad.Ops), (kind, name, form, type(new))
        kink = min(kink, _distance_to_singularity(kind, name, args, values, ad.Ops))
        nodes.append(new)
    return leaves, nodes[len(leaves):] or leaves, kink


def _distance_to_singularity(kind, name, args, values, node_type):
    """How far an operation's operands are from a point where it is not smooth: a kink
    (relu, abs, maximum/minimum ties), a pole or branch point (sqrt, log, 1/x, arcsin at
    +-1, tan at pi/2, arctan2 at the origin), a power's base at 0 or below."""
    v = values[0]
    if name in ("relu", "absolute", "abs", "reciprocal", "sqrt", "log", "log2", "log10"):
        return abs(v)
    if name == "log1p":
        return abs(v + 1.0)
    if name in ("arcsin", "arccos"):
        return 1.0 - abs(v)
    if name == "tan":
        return abs(math.cos(v)) if math.isfinite(v) else 0.0
    if name in ("maximum", "minimum", "fmax", "fmin"):
        return abs(values[0] - values[1])
    if name in ("sign", "fabs", "cbrt"):
        return abs(v)
    if name in ("floor", "ceil", "trunc"):          # jumps at the integers
        return abs(v - round(v)) if math.isfinite(v) else 0.0
    if name == "rint":                              # jumps halfway between integers
        return abs(abs(v - math.floor(v)) - 0.5) if math.isfinite(v) else 0.0
    if name in ("arccosh",):
        return v - 1.0
    if name in ("arctanh",):
        return 1.0 - abs(v)
    if name == "hypot":
        return math.hypot(values[0], values[1])
    if name == "copysign":
        return min(abs(values[0]), abs(values[1]))
    if name in ("fmod", "remainder", "floor_divide"):   # jumps where a / b is an integer
        a, b = values
        if not (math.isfinite(a) and math.isfinite(b)) or b == 0.0:
            return 0.0
        r = abs(math.fmod(a, b))
        return min(r, abs(b) - r, abs(b)) / max(1.0, abs(b))
    if name in ("gammaln", "digamma"):              # poles at 0, -1, -2, ...
        return abs(v - round(v)) if math.isfinite(v) and v < 0.5 else (abs(v) if v == v else 0.0)
    if name == "logit":
        return min(abs(v), abs(1.0 - v))
    if name == "xlogy":
        return abs(values[1])
    if name == "xlog1py":
        return abs(values[1] + 1.0)
    if name == "arctan2":
        return math.hypot(values[0], values[1])
    if name in ("power", "**"):
        return v                             # a base <= 0 is not smooth in general
    if name == "/" and isinstance(args[1], node_type):
        return abs(values[1])
    return math.inf


# ----------------------------------------------------------------------------------------
# Compiled == reference, bit for bit
# ----------------------------------------------------------------------------------------

ANY_VALUE = st.one_of(st.floats(-5.0, 5.0), st.sampled_from(SPECIALS),
                      st.floats(allow_nan=True, allow_infinity=True))
ANY_CONSTANT = st.one_of(st.floats(-5.0, 5.0), st.sampled_from(SPECIALS),
                         st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True))


def snapshot(ad, program):
    """Everything observable about the program's graph on one engine, as floats and names."""
    leaves, nodes, _ = run(ad, program)
    root = nodes[-1]
    graph = reachable(root)
    gradients = ad.get_gradients(root)
    assert type(gradients) is dict
    assert set(gradients) == set(graph[1:]), "get_gradients: the nodes below the root"
    by_position = [gradients[node] for node in graph[1:]]
    listed = ad.gradients(root, leaves)
    array = ad.gradients(root, np.array(leaves, dtype=object).reshape(len(leaves), 1))
    assert array.dtype == np.float64 and array.shape == (len(leaves), 1)
    assert_same_floats([float(v) for v in array[:, 0]], listed, "gradients(array) vs gradients(list)")
    for leaf, g in zip(leaves, listed):
        want = 1.0 if leaf is root else gradients.get(leaf, 0.0)   # d root / d root = 1
        assert same_float(g, want), "gradients vs get_gradients"
    return {
        "values": [node.value for node in nodes],
        "types": [type(node).__name__ for node in graph],
        "edges": [[graph.index(child) for child, _ in node.grad] for node in graph],
        "locals": [local for node in graph for _, local in node.grad],
        "get_gradients": by_position,
        "gradients": listed,
    }


@FUZZ
@given(program=programs(ANY_VALUE, ANY_CONSTANT))
def test_engines_bit_identical(compiled, program):
    assert_engines_agree(compiled, program)


def assert_engines_agree(compiled, program):
    """The same graph shape, values, local derivatives and gradients, bit for bit."""
    got = snapshot(compiled, program)
    want = snapshot(reference, program)
    assert got["types"] == want["types"]
    assert got["edges"] == want["edges"]
    for key in ("values", "locals", "get_gradients", "gradients"):
        assert_same_floats(got[key], want[key], key)


# ----------------------------------------------------------------------------------------
# Both engines against central differences, at smooth well-conditioned points
# ----------------------------------------------------------------------------------------

SMOOTH_VALUE = st.floats(-2.0, 2.0)
SMOOTH_CONSTANT = st.one_of(st.floats(-3.0, 3.0), st.sampled_from([2.0, 0.5, -1.0, 3.0]),
                            st.integers(-3, 3))


def root_value(ad, program, inputs):
    return run(ad, program, inputs)[1][-1].value


@FUZZ
@given(program=programs(SMOOTH_VALUE, SMOOTH_CONSTANT, max_ops=8))
def test_gradients_match_finite_differences(ad, program):
    leaves, nodes, kink = run(ad, program)
    assume(kink > 1e-3)
    values = [node.value for node in nodes]
    assume(all(math.isfinite(v) and abs(v) < 1e4 for v in values))
    root = nodes[-1]
    gradients = ad.gradients(root, leaves)
    assume(all(math.isfinite(g) and abs(g) < 1e6 for g in gradients))
    # A gradient that is the cancellation of huge terms (expm1(x) / x at x = 1e-38) is
    # ill-conditioned in any summation order: not a point to compare with differences.
    for g, mass in zip(gradients, absolute_gradients(root, leaves)):
        assume(mass <= 1e6 * max(abs(g), 1.0))
    scale = max([1.0] + [abs(v) for v in values])
    point = list(program[0])
    for i, g in enumerate(gradients):
        h = step_for(point[i])
        # Rounding in f, divided by the step: the absolute error floor of the difference.
        floor = 1e-13 * scale / h
        fd = []
        for step in (h, h / 4):
            up, down = list(point), list(point)
            up[i] += step
            down[i] -= step
            f_up, f_down = root_value(ad, program, up), root_value(ad, program, down)
            assume(math.isfinite(f_up) and math.isfinite(f_down))
            fd.append((f_up - f_down) / (2 * step))
        # Two step sizes that disagree mean a pole, a kink or bad conditioning nearby.
        assume(abs(fd[0] - fd[1]) <= 1e-4 * max(abs(fd[0]), abs(fd[1])) + 4 * floor)
        note(f"input {i}: gradient {g!r}, central differences {fd}")
        assert abs(g - fd[1]) <= 1e-5 * max(abs(g), abs(fd[1])) + 4 * floor, (i, g, fd)


EVERY_OPERATION = sorted({("primitive", n) for n in PRIMITIVE_NAMES}
                         | {("operator", o) for o in OPERATORS}
                         | {("unary", u) for u in UNARY_OPERATORS}
                         | {("user", u) for u in USER_NAMES})


@pytest.mark.parametrize("first", EVERY_OPERATION, ids="-".join)
@settings(FUZZ, max_examples=60 if LONG else 6)
@given(data=st.data())
def test_every_operation_is_compared_bit_for_bit(compiled, first, data):
    """Each primitive, operator and user node is fuzzed, whatever the random draws: it is
    the first instruction of the program (so it is in the graph; later ones use it or not)."""
    program = data.draw(programs(ANY_VALUE, ANY_CONSTANT, max_ops=4, first=first))
    assert program[1][0][:2] == first
    assert_engines_agree(compiled, program)
