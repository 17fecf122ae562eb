"""SciPy as a user calls it: optimisers, least squares and a stiff ODE, fed by tapes.

Each test solves a problem whose answer is known independently (the optimum of the
Rosenbrock function, the parameters that generated noiseless data, the analytic covariance
of a normal sample, the solution of a linear ODE) on both engines.
"""
import numpy as np
import pytest

scipy = pytest.importorskip("scipy")
from scipy import integrate, optimize  # noqa: E402


def rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2, 0.9])     # SciPy's example start: leads to (1, ..., 1)


def test_trust_krylov_with_hessian_vector_products(ad):
    tape = ad.record(rosenbrock, X0)
    result = optimize.minimize(tape.value_and_grad, X0, jac=True, hessp=tape.hvp,
                               method="trust-krylov", options={"gtol": 1e-8})
    assert result.success
    np.testing.assert_allclose(result.x, np.ones_like(X0), atol=1e-7)


def test_trust_exact_with_dense_hessians(ad):
    tape = ad.record(rosenbrock, X0)
    result = optimize.minimize(tape.value_and_grad, X0, jac=True, hess=tape.hessian,
                               method="trust-exact", options={"gtol": 1e-8})
    assert result.success
    np.testing.assert_allclose(result.x, np.ones_like(X0), atol=1e-7)


def test_least_squares_with_the_tape_jacobian(ad):
    t = np.linspace(0.0, 4.0, 50)
    truth = np.array([2.5, 1.3, 0.4])
    y = truth[0] * np.exp(-truth[1] * t) + truth[2]

    def residuals(p):
        return p[0] * ad.exp(-p[1] * t) + p[2] - y

    p0 = np.array([1.0, 1.0, 0.0])
    tape = ad.record(residuals, p0)
    result = optimize.least_squares(tape, p0, jac=tape.jacobian)
    np.testing.assert_allclose(result.x, truth, rtol=1e-9)


def test_stiff_ode_with_a_sparse_jacobian(ad):
    # Heat equation by finite differences: dy/dt = k A y, A tridiagonal; exact solution
    # for the first sine mode: y(t) = exp(-k lambda t) sin(pi x).
    n = 30
    h = 1.0 / (n + 1)
    k = 50.0
    xs = np.arange(1, n + 1) * h

    def rhs(t, y):
        left = np.concatenate([[0.0], y[:-1]])
        right = np.concatenate([y[1:], [0.0]])
        return k * (left - 2.0 * y + right) / (h * h)

    y0 = np.sin(np.pi * xs)
    tape = ad.record(rhs, 0.0, y0, argnums=1)
    jac = tape.sparse_jacobian(0.0, y0)
    assert jac.nnz == 3 * n - 2
    result = integrate.solve_ivp(tape, (0.0, 0.01), y0, method="BDF", rtol=1e-8, atol=1e-10,
                                 jac=lambda t, y: tape.sparse_jacobian(t, y))
    assert result.success
    lam = 4.0 / (h * h) * np.sin(np.pi * h / 2.0) ** 2       # the mode's eigenvalue
    np.testing.assert_allclose(result.y[:, -1], np.exp(-k * lam * 0.01) * y0, rtol=1e-5)


def test_covariance_of_a_maximum_likelihood_fit(ad):
    rng = np.random.default_rng(3)
    data = rng.normal(1.5, 0.7, size=400)

    def nll(theta):                     # mean and log standard deviation
        mu, log_s = theta[0], theta[1]
        z = (data - mu) * ad.exp(-log_s)
        return 0.5 * (z * z).sum() + len(data) * log_s

    theta0 = np.array([0.0, 0.0])
    tape = ad.record(nll, theta0)
    fit = optimize.minimize(tape.value_and_grad, theta0, jac=True, hess=tape.hessian,
                            method="trust-exact")
    assert fit.success
    mu, s = data.mean(), data.std()             # the closed-form maximum
    np.testing.assert_allclose(fit.x, [mu, np.log(s)], rtol=1e-7)
    covariance = np.linalg.inv(tape.hessian(fit.x))
    # For a normal sample the inverse observed information at the maximum is diagonal:
    # var(mu) = s^2 / n, var(log s) = 1 / (2 n).
    np.testing.assert_allclose(covariance, np.diag([s * s / len(data), 0.5 / len(data)]),
                               rtol=1e-6, atol=1e-10)
