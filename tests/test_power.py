"""x ** c for a number c: the power-by-constant rule (issue 10), on both engines.

Values equal Python's float ``x ** c`` wherever Python gives a float; the derivative is
c * x ** (c - 1), and 0 everywhere for c == 0 (as autograd and JAX give, where the formula
would give nan at 0); the graph, the replay and the two engines agree bit for bit.
"""
import itertools
import math
import random

import pytest

from helpers import central_difference, same_float, step_for

EXPONENTS = [0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 2.5, 1.0 / 3.0, 10.0, 1e-300, -7.0,
             2.0000000000000004, 1.9999999999999998]
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 1e-308, 5e-324, 1e308, -1e308, math.inf,
           -math.inf, math.nan, 3.0, -3.0, 0.1]


def _points(n=400, seed=7):
    rng = random.Random(seed)
    out = list(SPECIAL)
    for _ in range(n):
        out.append(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-30, 30))
    return out


def _python_pow(x, c):
    try:
        y = x ** c
    except (ZeroDivisionError, OverflowError):
        return None                         # Python raises where C returns inf
    return y if isinstance(y, float) else None   # complex for a negative base


@pytest.mark.parametrize("c", EXPONENTS)
def test_values_equal_python_float_power(ad, c):
    for x in _points():
        want = _python_pow(x, c)
        for node in (ad.Var(x) ** c, ad.power(ad.Var(x), c), ad.Pow(ad.Var(x), c)):
            if want is not None:
                assert same_float(node.value, want), (x, c, node.value, want)


@pytest.mark.parametrize("c", [2, 2.0, 0, 0.0, 3])
def test_int_and_float_exponents_agree(ad, c):
    x = ad.Var(1.7)
    assert same_float((x ** c).value, 1.7 ** float(c))
    assert same_float((x ** c).grad[0][1], (x ** float(c)).grad[0][1])


def test_derivative_of_x_to_the_zero_is_zero_everywhere(ad):
    for x in SPECIAL:
        node = ad.Var(x) ** 0
        assert node.value == 1.0
        assert same_float(node.grad[0][1], 0.0), x
        assert same_float(ad.grad(lambda v: v ** 0.0)(x), 0.0), x


@pytest.mark.parametrize("c", [1.0, 2.0, 3.0, -1.0, 0.5, 2.5, -0.5, 1.0 / 3.0])
def test_derivative_matches_central_differences(ad, c):
    for x in [0.3, 1.7, 4.0, 25.0]:
        got = (ad.Var(x) ** c).grad[0][1]
        want = central_difference(lambda v: v ** c, [x], 0, step_for(x))
        assert got == pytest.approx(want, rel=1e-6), (x, c)


def test_engines_graph_and_replay_agree_bit_for_bit(compiled, reference):
    for c, x in itertools.product(EXPONENTS, _points(60)):
        nodes = [ad.Var(x) ** c for ad in (compiled, reference)]
        assert same_float(nodes[0].value, nodes[1].value), (x, c)
        assert same_float(nodes[0].grad[0][1], nodes[1].grad[0][1]), (x, c)
    for c in EXPONENTS:
        tapes = [ad.record(lambda v: v ** c, 1.5) for ad in (compiled, reference)]
        for x in _points(40):
            (v0, g0), (v1, g1) = (t.value_and_grad(x) for t in tapes)
            leaf = compiled.Var(x)
            node = leaf ** c
            assert same_float(v0, v1) and same_float(g0, g1), (x, c)
            assert same_float(v0, node.value), (x, c)
            assert same_float(g0, compiled.gradients(node, leaf)), (x, c)
