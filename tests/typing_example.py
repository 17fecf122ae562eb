"""A small program on the public API that ``mypy --strict`` must accept (tests/test_frontend.py).

``assert_type`` makes mypy fail if a stub gives a looser or a wrong type; at run time it does
nothing, so the file also runs as an ordinary script.
"""
from typing import Any, assert_type

import numpy as np
from numpy.typing import NDArray

import autodiff as ad


class Square(ad.Ops):
    """A user-defined node, as in the tutorial."""

    def __init__(self, x: ad.Ops) -> None:
        self.value = x.value ** 2
        self.grad = [(x, 2 * x.value)]


def f(a: ad.Ops, b: ad.Ops) -> ad.Ops:
    return (a / b - a) * (b / a + a + b) * (a - b)


def loss(w: NDArray[np.object_], x: NDArray[np.float64]) -> ad.Ops:
    total: ad.Ops = ad.Var(0.0)
    for wi, xi in zip(w, x):
        total = total + Square(wi * xi - 1.0) + ad.relu(ad.tanh(wi))
    return total


def main() -> None:
    a, b = ad.Var(230.3), ad.Var(33.2)
    y = f(a, b)
    assert_type(y.value, float)
    assert_type(ad.get_gradients(y), dict[ad.Ops, float])
    assert_type(ad.gradients(y, a), float)
    assert_type(ad.gradients(y, [a, b]), list[float])
    assert_type(ad.sin(a), ad.Ops)
    assert_type(ad.sin(0.5), float)
    assert_type(ad.maximum(1.0, b), ad.Ops)
    assert_type(ad.arctan2(1.0, 2.0), float)
    assert_type(2 ** a, ad.Ops)
    assert_type(a < 3, bool)
    assert_type(ad.PRIMITIVES["sin"], type[ad.Ops])

    w = ad.to_var(np.array([0.5, -1.0, 2.0]))
    assert_type(w, NDArray[np.object_])
    assert_type(ad.gradients(loss(w, np.ones(3)), w), NDArray[np.float64])
    assert_type(ad.to_vals(w), NDArray[np.float64])

    g = ad.grad(f)(230.3, 33.2)
    assert_type(g, float | NDArray[np.float64])
    ga, gb = ad.grad(f, argnums=(0, 1))(230.3, 33.2)
    value, gw = ad.value_and_grad(loss)(np.array([0.5, -1.0, 2.0]), np.ones(3))
    assert_type(value, float)
    print(g, ga, gb, value, gw)

    report = ad.check_gradients(f, 230.3, 33.2)
    assert_type(report, ad.GradientCheckReport)
    assert_type(report.ok, bool)
    try:
        ad.check_gradients(lambda x: Square(x), 1.5, rtol=1e-6)
    except ad.GradientCheckError as error:
        assert_type(error.report, ad.GradientCheckReport)

    tape = ad.record(f, 230.3, 33.2, argnums=(0, 1))
    assert_type(tape, ad.Tape)
    assert_type(tape(1.0, 2.0), Any)        # a float, or an array for an array-valued f
    tape_value, tape_grads = tape.value_and_grad(230.3, 33.2)
    assert_type(tape_value, float)
    print(tape.n_ops, tape_grads, tape.grad(1.0, 2.0))

    dot = ad.to_dot(y, names={a: "a", b: "b"})
    assert_type(dot, str)
    print(dot.splitlines()[0])


if __name__ == "__main__":
    main()
