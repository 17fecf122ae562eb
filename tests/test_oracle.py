"""get_gradients against the tutorial's own algorithm on many small random graphs.

The oracle (``helpers.route_gradients``) is the tutorial's route-enumerating stack walk: it
reads only ``.grad`` and sums every route from the root.  It is exponential but obviously
right; the engines sort the graph and sweep adjoints once.  Both must agree up to rounding:
rel 1e-12, measured against the sum of the absolute route values (the scale of the rounding
error of any order of summation).
"""
import math
import random

import pytest

from helpers import reachable, route_gradients, user_ops

N_GRAPHS = 300
REL = 1e-12


def random_graph(ad, rng, n_leaves, n_ops):
    """A random graph with shared subexpressions, constants and user-defined nodes.

    Every operation picks its operands among all the nodes made so far (so subexpressions
    are shared), and a number operand on either side is a constant.  Operations that would
    leave a well-conditioned range are skipped, to keep values finite.
    Returns (root, leaves).
    """
    leaves = [ad.Var(rng.uniform(-2.0, 2.0)) for _ in range(n_leaves)]
    nodes = list(leaves)
    users = user_ops(ad)

    def pick():
        # Prefer recent nodes, so that graphs are deep as well as wide.
        return nodes[max(0, len(nodes) - 1 - int(rng.expovariate(0.4)))]

    def constant():
        return rng.choice([2.0, -0.5, 3, 1.25, rng.uniform(-3.0, 3.0)])

    while len(nodes) < n_leaves + n_ops:
        a, b = pick(), pick()
        kind = rng.randrange(12)
        if kind == 0:
            new = a + b
        elif kind == 1:
            new = a * b
        elif kind == 2:
            new = a - b
        elif kind == 3:
            if abs(b.value) < 0.3:
                continue
            new = a / b
        elif kind == 4:                       # a constant on the left or the right
            c = constant()
            new = rng.choice([lambda: c * a, lambda: a * c, lambda: c + a, lambda: a - c,
                              lambda: c - a, lambda: a / c])()
        elif kind == 5:
            if abs(a.value) < 0.3:
                continue
            new = constant() / a
        elif kind == 6:
            new = rng.choice([ad.Sin, ad.Cos, ad.Tanh, ad.Arctan, ad.Sigmoid, ad.Neg])(a)
        elif kind == 7:
            if a.value > 3.0:
                continue
            new = ad.Exp(a)
        elif kind == 8:
            if a.value < 0.2:
                continue
            new = rng.choice([ad.Log, ad.Sqrt])(a)
        elif kind == 9:
            new = users["Square"][0](a) if rng.random() < 0.5 else users["Twice"][0](a)
        elif kind == 10:
            new = users["MulAdd"][0](a, b, pick())
        else:
            new = users["SoftPlus"][0](a)
        if not math.isfinite(new.value) or abs(new.value) > 1e6:
            continue
        nodes.append(new)
    # The root ties a few of the last nodes together, so that most of the graph is reached.
    root = nodes[-1]
    for node in nodes[-3:-1]:
        root = root + node
    return root, leaves


def check_against_oracle(ad, root, leaves):
    want, mass = route_gradients(root)
    got = ad.get_gradients(root)
    assert type(got) is dict
    assert set(got) == set(want), "get_gradients must list exactly the nodes below the root"
    for node, value in want.items():
        assert got[node] == pytest.approx(value, rel=REL, abs=REL * mass[node]), node
    listed = ad.gradients(root, leaves)
    for leaf, value in zip(leaves, listed):
        assert value == got.get(leaf, 0.0)


@pytest.mark.parametrize("seed", range(0, N_GRAPHS, 25))
def test_random_graphs_against_route_oracle(ad, seed):
    for s in range(seed, seed + 25):
        rng = random.Random(s)
        root, leaves = random_graph(ad, rng, n_leaves=rng.randint(1, 4),
                                    n_ops=rng.randint(1, 14))
        check_against_oracle(ad, root, leaves)


def test_oracle_graphs_do_share_subexpressions(ad):
    """The random graphs are not trees: many nodes are reached by several routes."""
    shared = 0
    for s in range(50):
        root, _ = random_graph(ad, random.Random(s), n_leaves=3, n_ops=12)
        parents = {}
        for node in reachable(root):
            for child, _ in node.grad:
                parents[id(child)] = parents.get(id(child), 0) + 1
        shared += any(count > 1 for count in parents.values())
    assert shared > 40


def test_tutorial_graph_against_oracle(ad):
    a, b = ad.Var(230.3), ad.Var(33.2)
    y = (a / b - a) * (b / a + a + b) * (a - b)
    check_against_oracle(ad, y, [a, b])


def test_diamond_of_user_nodes_against_oracle(ad):
    """A diamond lattice of user-defined nodes: 2^10 routes, each child listed twice."""
    users = user_ops(ad)
    x = ad.Var(0.7)
    y = x
    for _ in range(10):
        y = users["Twice"][0](y) * 0.5
    want, _ = route_gradients(y)
    assert want[x] == 1.0
    check_against_oracle(ad, y, [x])


def test_leaf_root_has_no_routes(ad):
    x = ad.Var(3.0)
    assert route_gradients(x)[0] == {}
    assert ad.get_gradients(x) == {}
