"""The functional API beyond the gradient: jacobian, hessian, hvp, jvp, vjp, on both engines.

Oracles: analytic derivatives written out below, the other engine (bit for bit), and
PyTorch's double backward where it is installed.  Nothing here calls the tape's methods to
compute an expected value.
"""
import numpy as np
import pytest

import autodiff
import autodiff.reference


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def rosenbrock_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def rosenbrock_hessian(x):
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        h[i, i + 1] = h[i + 1, i] = -400.0 * x[i]
        h[i + 1, i + 1] += 200.0
    return h


def residuals(p, t, y):
    """Least squares: a * exp(-b t) + c - y, and its analytic Jacobian."""
    a, b, c = p[0], p[1], p[2]
    return a * np.exp(-b * t) + c - y


def residuals_jacobian(p, t):
    a, b = p[0], p[1]
    e = np.exp(-b * t)
    return np.stack([e, -a * t * e, np.ones_like(t)], axis=1)


X = np.array([-1.2, 1.0, 0.7, 1.3, -0.4])


def close(got, want, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float),
                               rtol=rtol, atol=atol)


def test_hessian_of_rosenbrock_is_the_analytic_one(ad):
    close(ad.hessian(rosenbrock)(X), rosenbrock_hessian(X))


def test_hvp_is_the_analytic_hessian_times_v(ad):
    v = np.array([0.3, -1.0, 2.0, 0.5, 1.5])
    close(ad.hvp(rosenbrock)(X, v), rosenbrock_hessian(X) @ v)


def test_hessian_with_tuple_argnums_of_numbers_is_nested_blocks(ad):
    h = ad.hessian(lambda x, y: x * x * y, argnums=(0, 1))(3.0, 2.0)
    assert len(h) == 2 and all(len(row) == 2 for row in h)
    close([[float(h[i][j]) for j in range(2)] for i in range(2)], [[4.0, 6.0], [6.0, 0.0]])


def test_jacobian_of_least_squares_residuals(ad):
    t = np.linspace(0.0, 3.0, 40)
    p = np.array([2.0, 0.7, -0.3])
    y = np.sin(t)
    j = ad.jacobian(residuals)(p, t, y)
    assert j.shape == (40, 3) and j.dtype == np.float64
    close(j, residuals_jacobian(p, t))


def test_jacobian_layout_follows_jax(ad):
    j = ad.jacobian(lambda x: x * x)(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert j.shape == (2, 2, 2, 2)
    want = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for k in range(2):
            want[i, k, i, k] = 2.0 * (2 * i + k + 1)
    close(j, want)
    ja, jb = ad.jacobian(lambda x, y: [x * y, x + y, 3.0], argnums=(0, 1))(2.0, 5.0)
    close(ja, [5.0, 1.0, 0.0])
    close(jb, [2.0, 1.0, 0.0])


def test_jvp_and_vjp_are_the_jacobian_products(ad):
    t = np.linspace(0.0, 3.0, 7)
    p = np.array([2.0, 0.7, -0.3])
    y = np.cos(t)
    jac = residuals_jacobian(p, t)
    tangent = np.array([1.0, -2.0, 0.5])
    value, jt = ad.jvp(residuals)(p, t, y, tangent)
    close(value, 2.0 * np.exp(-0.7 * t) - 0.3 - y)
    close(jt, jac @ tangent)
    cot = np.arange(7.0)
    value, ct = ad.vjp(residuals)(p, t, y, cot)
    close(ct, cot @ jac)


def test_keyword_arguments_pass_through(ad):
    def f(x, scale=1.0):
        return (scale * x * x).sum()
    close(ad.hessian(f)(np.array([1.0, 2.0]), scale=3.0), 6.0 * np.eye(2))


def test_engines_agree_bit_for_bit():
    v = np.array([0.3, -1.0, 2.0, 0.5, 1.5])
    for name, args in [("hessian", (X,)), ("hvp", (X, v))]:
        got = getattr(autodiff, name)(rosenbrock)(*args)
        want = getattr(autodiff.reference, name)(rosenbrock)(*args)
        assert np.array_equal(got, want), name
    t = np.linspace(0.0, 3.0, 9)
    p = np.array([2.0, 0.7, -0.3])
    assert np.array_equal(autodiff.jacobian(residuals)(p, t, t),
                          autodiff.reference.jacobian(residuals)(p, t, t))


def test_grad_of_grad_points_to_hessian(ad):
    with pytest.raises(TypeError, match="hessian"):
        ad.grad(ad.grad(lambda x: x * x * x))(2.0)


def test_missing_vector_is_a_type_error(ad):
    with pytest.raises(TypeError):
        ad.hvp(rosenbrock)()


def test_hessian_against_torch(ad):
    torch = pytest.importorskip("torch")

    def g(x):
        return (ad.sin(x[0]) * ad.exp(x[1]) / (1.0 + x[2] * x[2]) + x[0] ** 3 * x[2])

    def g_torch(x):
        return torch.sin(x[0]) * torch.exp(x[1]) / (1.0 + x[2] * x[2]) + x[0] ** 3 * x[2]

    x = np.array([0.4, -0.3, 1.7])
    want = torch.autograd.functional.hessian(g_torch, torch.tensor(x, dtype=torch.float64))
    close(ad.hessian(g)(x), want.numpy())
