"""The tutorial's printed figures and examples, reproduced on both engines.

The expected numbers are the ones printed in the tutorial ("Reverse-mode automatic
differentiation from scratch, in Python"), not values computed by this library.
"""
import numpy as np
import pytest

from autodiff import reference

REL = 1e-12


def test_d_is_a_times_a_plus_b(ad):
    """a = 4, b = 3, c = a + b, d = a * c: d = 28 and d d / d a = 11 (tutorial's Q1)."""
    a = ad.Var(4)
    b = ad.Var(3)
    c = ad.Add(a, b)      # = 4 + 3 = 7
    d = ad.Mul(a, c)      # = 4 * 7 = 28
    gradients = ad.get_gradients(d)
    assert d.value == 28
    assert gradients[a] == 11
    assert gradients[b] == 4
    assert gradients[c] == 4


def test_d_with_operators(ad):
    a, b = ad.Var(4), ad.Var(3)
    d = a * (a + b)
    assert d.value == 28.0
    assert ad.get_gradients(d)[a] == 11.0


def test_rational_function_partials(ad):
    """f(a, b) = (a/b - a) * (b/a + a + b) * (a - b) at (230.3, 33.2), as printed."""
    a = ad.Var(230.3)
    b = ad.Var(33.2)

    def f(a, b):
        return (a / b - a) * (b / a + a + b) * (a - b)

    y = f(a, b)
    gradients = ad.get_gradients(y)
    assert gradients[a] == pytest.approx(-153284.83150602411, rel=REL)
    assert gradients[b] == pytest.approx(3815.0389441500993, rel=REL)
    # The tutorial's numerical estimate, forward difference with delta = 1e-8 (a Var).
    delta = ad.Var(1e-8)
    numerical_a = (f(a + delta, b) - f(a, b)) / delta
    assert numerical_a.value == pytest.approx(-153284.83150602411, rel=1e-4)


def test_log_sin_exp_partials(ad):
    """log(f * f) * c with f = sin(a b) + exp(c - a / b) at (43, 3, 2), class-style API."""
    a = ad.Var(43.)
    b = ad.Var(3.)
    c = ad.Var(2.)

    def f(a, b, c):
        f = ad.Sin(a * b) + ad.Exp(c - (a / b))
        return ad.Log(f * f) * c

    y = f(a, b, c)
    gradients = ad.get_gradients(y)
    assert gradients[a] == pytest.approx(60.85353612046653, rel=REL)
    assert gradients[b] == pytest.approx(872.2331479536114, rel=REL)
    assert gradients[c] == pytest.approx(-3.2853671032530305, rel=REL)
    # The tutorial's numerical estimates (forward differences, delta = 1e-8).
    delta = ad.Var(1e-8)
    for var, estimate in ((a, 60.85352186602222), (b, 872.232160009645),
                          (c, -3.285367089489455)):
        args = [a, b, c]
        args[[a, b, c].index(var)] = var + delta
        numerical = (f(*args) - f(a, b, c)) / delta
        assert numerical.value == pytest.approx(estimate, rel=1e-6)


def _train_linear_layer(ad, steps):
    """The tutorial's single linear layer, trained by gradient descent on object arrays.

    Returns (loss values, final weights as floats, first gradient as a float array, x, y).
    The random numbers are those of the tutorial's ``np.random.seed(0)`` (RandomState(0)
    gives the same stream without touching NumPy's global generator).
    """
    rng = np.random.RandomState(0)
    input_size, output_size, lrate = 50, 10, 0.001
    x = ad.to_var(rng.random_sample(input_size))
    y_true = ad.to_var(rng.random_sample(output_size))
    weights = ad.to_var(rng.random_sample((input_size, output_size)))
    loss_values = []
    first_gradient = None
    for _ in range(steps):
        y_pred = np.dot(x, weights)
        loss = np.sum((y_true - y_pred) * (y_true - y_pred))
        loss_values.append(loss.value)
        gradients = ad.get_gradients(loss)
        if first_gradient is None:
            first_gradient = np.array([[gradients[weights[i, j]] for j in range(output_size)]
                                       for i in range(input_size)])
            first_pred = ad.to_vals(y_pred)
        for i in range(weights.shape[0]):
            for j in range(weights.shape[1]):
                weights[i, j].value -= lrate * gradients[weights[i, j]]
    return (loss_values, ad.to_vals(weights), first_gradient, ad.to_vals(x),
            ad.to_vals(y_true), first_pred)


def test_linear_layer_loss_falls(ad):
    losses, _, gradient, x, y_true, y_pred = _train_linear_layer(ad, steps=5)
    assert all(isinstance(v, float) for v in losses)
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    # The first gradient, against the closed form d/dW sum (y - xW)^2 = -2 x (y - xW)^T.
    expected = -2.0 * np.outer(x, y_true - y_pred)
    np.testing.assert_allclose(gradient, expected, rtol=1e-12, atol=1e-12)


def test_linear_layer_identical_on_both_engines(compiled):
    losses_c, weights_c, _, _, _, _ = _train_linear_layer(compiled, steps=5)
    losses_r, weights_r, _, _, _, _ = _train_linear_layer(reference, steps=5)
    assert losses_c == losses_r
    assert weights_c.tobytes() == weights_r.tobytes()


def test_sixty_doublings_take_linear_time(ad):
    """x = (x + x) * 0.5 sixty times: 2^60 routes, gradient exactly 1.

    The tutorial's route-enumerating walk would never finish; a linear-time sweep does.
    """
    x0 = ad.Var(1.5)
    x = x0
    for _ in range(60):
        x = (x + x) * 0.5
    assert x.value == 1.5
    gradients = ad.get_gradients(x)
    assert gradients[x0] == 1.0
    assert len(gradients) == 120          # 60 Add and 60 Mul nodes below the root, and x0
    assert ad.gradients(x, x0) == 1.0
