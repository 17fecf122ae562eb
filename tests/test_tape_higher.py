"""Multi-output tapes and the tape's first- and second-order sweeps, on both engines.

Oracles: analytic derivatives (Rosenbrock, least squares, Bratu, products and quotients),
central finite differences of ``tape.grad``, the reference engine (bit for bit), and
JAX / PyTorch / autograd where installed.  The second-order rules used here are the ones
written in the interface skeleton of ``_second`` (add, subtract, multiply, divide,
negative, sin, cos, exp, log, x ** c).
"""
import math
import threading

import numpy as np
import pytest

import autodiff
import autodiff.reference
from helpers import bits


ENGINES = (autodiff, autodiff.reference)


def same_in_both(make, call):
    """call(tape) on a tape of each engine (make(engine)); the results, bit for bit equal."""
    results = [call(make(engine)) for engine in ENGINES]
    assert bits(results[0]) == bits(results[1])
    return results[0]


def close(a, b, rel=1e-12, abs_=0.0):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rel, atol=abs_)


# --------------------------------------------------------------------------------------
# The functions and their analytic derivatives
# --------------------------------------------------------------------------------------

def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def rosenbrock_hessian(x):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] = H[i + 1, i] = -400.0 * x[i]
        H[i + 1, i + 1] += 200.0
    return H


T_DATA = np.linspace(0.0, 2.0, 9)
Y_DATA = 1.5 * np.exp(-0.7 * T_DATA) + 0.05 * np.cos(7.0 * T_DATA)


def residuals(ad):
    def r(p):
        return p[0] * np.exp(-p[1] * T_DATA) + p[2] * np.sin(p[3] * T_DATA) - Y_DATA
    return r


def residuals_jacobian(p):
    e = np.exp(-p[1] * T_DATA)
    return np.stack([e, -p[0] * T_DATA * e, np.sin(p[3] * T_DATA),
                     p[2] * T_DATA * np.cos(p[3] * T_DATA)], axis=1)


def bratu(ad, lam=1.5):
    def F(u):
        n = u.size
        h = 1.0 / (n + 1)
        up = np.concatenate([u[1:], [0.0]])
        um = np.concatenate([[0.0], u[:-1]])
        return (2.0 * u - up - um) / (h * h) - lam * np.exp(u)
    return F


def bratu_jacobian(u, lam=1.5):
    n = u.size
    h = 1.0 / (n + 1)
    J = (np.diag(np.full(n, 2.0)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1))
    return J / (h * h) - lam * np.diag(np.exp(u))


X4 = np.array([1.2, 0.7, -0.3, 2.0])
P4 = np.array([1.4, 0.6, 0.07, 6.5])


# --------------------------------------------------------------------------------------
# Multi-output record
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_multi_output_shapes_and_values(ad):
    x = np.array([1.0, 2.0, 3.0])
    # An object array of nodes, of shape (2, 3).
    tape = ad.record(lambda x: np.stack([x * x, np.sin(x)]), x)
    value = tape(np.array([0.5, -1.0, 2.0]))
    assert value.shape == (2, 3) and value.dtype == np.float64
    close(value, [[0.25, 1.0, 4.0], np.sin([0.5, -1.0, 2.0])], rel=1e-15)
    # A list of nodes and numbers: shape (len,), numbers are constant outputs.
    tape = ad.record(lambda x: [x[0] * x[1], 3, x[2], x[0]], x)
    v = tape(np.array([2.0, 5.0, 7.0]))
    assert v.shape == (4,) and list(v) == [10.0, 3.0, 7.0, 2.0]
    J = tape.jacobian(np.array([2.0, 5.0, 7.0]))
    assert J.shape == (4, 3)
    assert J.tolist() == [[5.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    # A tuple, the same node twice.
    tape = ad.record(lambda x: (x[0] * x[1], x[0] * x[1] + 0.0), x)
    assert tape(x).tolist() == [2.0, 2.0]
    # Numbers only: a constant tape of that shape; a float array.
    tape = ad.record(lambda x: np.array([[1.0, 2.0]]), x)
    assert tape(x).tolist() == [[1.0, 2.0]]
    assert tape.jacobian(x).shape == (1, 2, 3) and not tape.jacobian(x).any()
    # A 0-d object array and a number: scalar tapes (floats).
    assert type(ad.record(lambda x: np.array(x[0] * 2.0, dtype=object), x)(x)) is float
    assert ad.record(lambda x: 4.0, x)(x) == 4.0
    # An output that is an input.
    tape = ad.record(lambda x: [x[1]], x)
    assert tape.jacobian(x).tolist() == [[0.0, 1.0, 0.0]]


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_multi_output_refusals(ad):
    x = np.ones(2)
    with pytest.raises(TypeError, match="str"):
        ad.record(lambda x: [x[0], "a"], x)
    with pytest.raises(TypeError):
        ad.record(lambda x: np.array(["a", "b"]), x)
    with pytest.raises(TypeError, match="scalar"):
        ad.record(lambda x: "x", 1.0)
    tape = ad.record(lambda x: x * 2.0, x)
    for method in (tape.value_and_grad, tape.grad):
        with pytest.raises(TypeError, match="jacobian"):
            method(x)
    with pytest.raises(TypeError, match="scalar function"):
        tape.hvp(x, x)
    with pytest.raises(TypeError, match="scalar function"):
        tape.hessian(x)


def test_multi_output_walk_order_matches_the_reference():
    """Shared subgraphs across outputs: same slots, same instructions, same bits."""
    def make_f(ad):
        def f(x):
            s = x[0] * x[1]
            return [np.exp(s) + x[2], s / x[2], (s - x[0]) * np.exp(s)]
        return f
    x = np.array([0.3, -1.2, 2.5])
    results = []
    for ad in ENGINES:
        tape = ad.record(make_f(ad), x)
        code, base, n_inputs, outs = tape._instructions()
        results.append((code.tolist(), base, n_inputs, outs.tolist(), bits(tape(x)),
                        bits(tape.jacobian(x)), bits(tape.vjp(x, np.array([1.0, -2.0, 0.5])))))
    assert results[0] == results[1]


# --------------------------------------------------------------------------------------
# _instructions
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_instructions_numbering(ad):
    from autodiff import _primitives
    n_unary = len(_primitives.UNARY)
    binary = [p.name for p in _primitives.BINARY]
    unary = [p.name for p in _primitives.UNARY]
    tape = ad.record(lambda x, y: [np.sin(x) * y, x ** 3.0, 2.0 ** x, y], 0.5, 1.5,
                     argnums=(0, 1))
    code, base, n_inputs, outs = tape._instructions()
    assert code.dtype == np.int32 and code.shape == (4, 3) and outs.dtype == np.int64
    assert n_inputs == 2
    ops = code[:, 0].tolist()
    assert ops == [unary.index("sin"), 1024 + binary.index("multiply"), n_unary,
                   1024 + binary.index("power")]
    # Operands: sin(x) reads slot 0; the product reads sin's slot and y's.
    assert code[0, 1] == code[0, 2] == 0
    assert code[1, 1] == base and code[1, 2] == 1
    # x ** 3: a is x, b is the constant 3's slot; 2 ** x: a is the constant, b is x.
    assert code[2, 1] == 0 and n_inputs <= code[2, 2] < base
    assert n_inputs <= code[3, 1] < base and code[3, 2] == 0
    assert outs.tolist() == [base + 1, base + 2, base + 3, 1]


# --------------------------------------------------------------------------------------
# Against analytic derivatives, both engines bit for bit
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 5, 30])
def test_rosenbrock_gradient_hessian_hvp(n):
    rng = np.random.default_rng(n)
    x0 = rng.normal(size=n)
    x = rng.normal(size=n)
    v = rng.normal(size=n)
    make = lambda ad: ad.record(rosenbrock, x0)
    H = same_in_both(make, lambda t: t.hessian(x))
    close(H, rosenbrock_hessian(x), abs_=1e-12 * np.abs(rosenbrock_hessian(x)).max())
    hv = same_in_both(make, lambda t: t.hvp(x, v))
    close(hv, rosenbrock_hessian(x) @ v, rel=1e-11, abs_=1e-11 * np.abs(hv).max())
    g = same_in_both(make, lambda t: t.vjp(x, 1.0))
    assert bits(g) == bits(make(autodiff).value_and_grad(x))     # vjp(1) is the gradient
    close(g[1], rosenbrock_grad(x), rel=1e-12, abs_=1e-12 * np.abs(g[1]).max())
    J = same_in_both(make, lambda t: t.jacobian(x))
    assert bits(J) == bits(g[1])
    value, jv = same_in_both(make, lambda t: t.jvp(x, v))
    close(jv, rosenbrock_grad(x) @ v, rel=1e-11, abs_=1e-11 * np.abs(rosenbrock_grad(x)).sum())
    # Columns of the Hessian are hvps along the basis vectors, bit for bit.
    for ad in ENGINES:
        tape = make(ad)
        for j in range(n):
            e = np.zeros(n)
            e[j] = 1.0
            assert bits(tape.hvp(x, e)) == bits(np.ascontiguousarray(H[:, j]))


def test_least_squares_jacobian_forward_mode():
    """200-ish residuals, 4 parameters: forward vector mode."""
    make = lambda ad: ad.record(residuals(ad), P4)
    p = P4 + 0.1
    J = same_in_both(make, lambda t: t.jacobian(p))
    assert J.shape == (T_DATA.size, 4)
    close(J, residuals_jacobian(p), rel=1e-12, abs_=1e-15)
    for ad in ENGINES:          # columns are jvps, bit for bit
        tape = make(ad)
        for j in range(4):
            e = np.zeros(4)
            e[j] = 1.0
            assert bits(tape.jvp(p, e)[1]) == bits(np.ascontiguousarray(J[:, j]))
    c = np.linspace(-1, 1, T_DATA.size)
    value, vj = same_in_both(make, lambda t: t.vjp(p, c))
    close(vj, c @ residuals_jacobian(p), rel=1e-11, abs_=1e-14)
    close(value, residuals(np)(p), rel=1e-15)


@pytest.mark.parametrize("n", [3, 40])
def test_bratu_jacobian_reverse_mode(n):
    """Square Jacobian: reverse sweeps, one per output."""
    u0 = np.linspace(0.1, 0.5, n)
    make = lambda ad: ad.record(bratu(ad), u0)
    u = np.sin(np.arange(n))
    J = same_in_both(make, lambda t: t.jacobian(u))
    expected = bratu_jacobian(u)
    close(J, expected, rel=1e-12, abs_=1e-12 * np.abs(expected).max())
    for ad in ENGINES:          # rows are vjps along basis vectors (to rounding)
        tape = make(ad)
        for k in (0, n - 1):
            e = np.zeros(n)
            e[k] = 1.0
            close(tape.vjp(u, e)[1], J[k], rel=1e-15)


def test_products_quotients_logs_tuple_argnums():
    """f(x, y, z) with x an array, y a number, z a matrix: JAX's layouts, both engines."""
    def f(x, y, z):
        return np.sum(x * x) * y / (1.0 + y * y) + np.log(x[0] * y) * np.sum(z * x[1])

    def analytic(x, y, z):
        # Gradient and Hessian by hand over w = (x0, x1, y, z00, z01, z10, z11).
        S = np.sum(z)
        q = y / (1.0 + y * y)
        dq = (1.0 - y * y) / (1.0 + y * y) ** 2
        d2q = (2.0 * y ** 3 - 6.0 * y) / (1.0 + y * y) ** 3
        sx = np.sum(x * x)
        L = np.log(x[0] * y)
        H = np.zeros((7, 7))
        H[0, 0] = 2.0 * q - x[1] * S / x[0] ** 2
        H[1, 1] = 2.0 * q
        H[0, 1] = H[1, 0] = S / x[0]
        H[0, 2] = H[2, 0] = 2.0 * x[0] * dq
        H[1, 2] = H[2, 1] = 2.0 * x[1] * dq + S / y
        H[2, 2] = sx * d2q - x[1] * S / y ** 2
        for k in range(4):
            H[0, 3 + k] = H[3 + k, 0] = x[1] / x[0]
            H[1, 3 + k] = H[3 + k, 1] = L
            H[2, 3 + k] = H[3 + k, 2] = x[1] / y
        return H

    x, y, z = np.array([0.8, -1.3]), 0.6, np.array([[0.2, 0.5], [-0.4, 1.1]])
    make = lambda ad: ad.record(f, x, y, z, argnums=(0, 1, 2))
    H = same_in_both(make, lambda t: t.hessian(x, y, z))
    assert len(H) == 3 and all(len(row) == 3 for row in H)
    assert H[0][0].shape == (2, 2) and H[0][1].shape == (2,) and H[0][2].shape == (2, 2, 2)
    assert type(H[1][1]) is float and H[1][2].shape == (2, 2) and H[2][2].shape == (2, 2, 2, 2)
    flat = np.block([[H[0][0], H[0][1][:, None], H[0][2].reshape(2, 4)],
                     [H[1][0][None, :], np.array([[H[1][1]]]), H[1][2].reshape(1, 4)],
                     [H[2][0].reshape(4, 2), H[2][1].reshape(4, 1),
                      H[2][2].reshape(4, 4)]])
    close(flat, analytic(x, y, z), rel=1e-12, abs_=1e-13)
    v = (np.array([0.3, -0.2]), 0.7, np.array([[1.0, 0.0], [0.5, -1.5]]))
    hv = same_in_both(make, lambda t: t.hvp(x, y, z, v))
    wv = np.concatenate([v[0], [v[1]], v[2].ravel()])
    close(np.concatenate([hv[0], [hv[1]], hv[2].ravel()]), analytic(x, y, z) @ wv,
          rel=1e-12, abs_=1e-13)
    J = same_in_both(make, lambda t: t.jacobian(x, y, z))
    g = make(autodiff).grad(x, y, z)
    assert bits(J) == bits(g)
    # A single argnum: one block, float for a number.
    one = lambda ad: ad.record(f, x, y, z, argnums=1)
    assert type(same_in_both(one, lambda t: t.hessian(x, y, z))) is float
    assert type(same_in_both(one, lambda t: t.jacobian(x, y, z))) is float
    assert type(same_in_both(one, lambda t: t.hvp(x, y, z, 2.0))) is float
    close(same_in_both(one, lambda t: t.hessian(x, y, z)), analytic(x, y, z)[2, 2], rel=1e-12)


def test_jacobian_layout_out_shape_plus_arg_shape():
    def make_f(ad):
        return lambda x, y: np.stack([x * y, np.exp(x) - y])       # shape (2, 3)
    x, y = np.array([0.1, 0.2, 0.3]), 1.7
    outs = []
    for ad in ENGINES:
        tape = ad.record(make_f(ad), x, y, argnums=(0, 1))
        Jx, Jy = tape.jacobian(x, y)
        assert Jx.shape == (2, 3, 3) and Jy.shape == (2, 3)
        close(Jx[0], np.diag(np.full(3, y)), rel=1e-15)
        close(Jx[1], np.diag(np.exp(x)), rel=1e-15)
        close(Jy, [x, -np.ones(3)], rel=1e-15)
        value, jv = tape.jvp(x, y, (np.ones(3), 2.0))
        assert jv.shape == (2, 3)
        close(jv, np.einsum("kij,j->ki", Jx, np.ones(3)) + 2.0 * Jy, rel=1e-14)
        value, (gx, gy) = tape.vjp(x, y, np.ones((2, 3)))
        close(gx, Jx.sum(axis=(0, 1)), rel=1e-14)
        outs.append((bits(tape.jacobian(x, y)), bits(tape.jvp(x, y, (np.ones(3), 2.0))),
                     bits(tape.vjp(x, y, np.ones((2, 3))))))
    assert outs[0] == outs[1]


# --------------------------------------------------------------------------------------
# Structural zeros: constants and non-differentiated inputs bring no inf * 0
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_inactive_operands_bring_no_nan(ad):
    # log(y) at y = 0: its derivative is inf, but y is not differentiated.
    tape = ad.record(lambda x, y: x * x + np.log(y), 1.0, 1.0, argnums=0)
    assert tape.jvp(3.0, 0.0, 1.0)[1] == 6.0
    assert tape.jacobian(3.0, 0.0) == 6.0
    assert tape.hessian(3.0, 0.0) == 2.0
    assert tape.hvp(3.0, 0.0, 1.0) == 2.0
    # Reverse Jacobian rows: a node not reaching an output adds nothing to its row.
    tape = ad.record(lambda x: [np.log(x[0]), x[1]], np.array([1.0, 1.0]))
    J = tape.jacobian(np.array([0.0, 2.0]))
    assert J[1].tolist() == [0.0, 1.0] and J[0, 0] == np.inf


# --------------------------------------------------------------------------------------
# Finite differences of the gradient, and the peers where installed
# --------------------------------------------------------------------------------------

def test_hessian_against_finite_differences_of_grad():
    def make_f(ad):
        return lambda x: (np.sum(np.exp(x[:-1] * x[1:]) / (1.0 + x * x)[1:])
                          + np.sin(x[0]) * np.log(x[2]))
    x = np.array([0.3, -0.5, 1.7, 0.9])
    for ad in ENGINES:
        tape = ad.record(make_f(ad), x)
        H = tape.hessian(x)
        h = 1e-5
        fd = np.empty((4, 4))
        for j in range(4):
            e = np.zeros(4)
            e[j] = h
            fd[:, j] = (tape.grad(x + e) - tape.grad(x - e)) / (2 * h)
        close(H, fd, rel=1e-6, abs_=1e-8)
        close(H, H.T, rel=1e-13, abs_=1e-14)


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    x = np.linspace(-0.8, 1.3, 12)
    v = np.cos(np.arange(12.0))
    Hj = np.asarray(jax.hessian(lambda x: jnp.sum(
        100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))(x))
    p = P4 - 0.2
    Jj = np.asarray(jax.jacfwd(lambda p: p[0] * jnp.exp(-p[1] * T_DATA)
                               + p[2] * jnp.sin(p[3] * T_DATA) - Y_DATA)(p))
    for ad in ENGINES:
        tape = ad.record(rosenbrock, x)
        close(tape.hessian(x), Hj, rel=1e-12, abs_=1e-12 * np.abs(Hj).max())
        close(tape.hvp(x, v), Hj @ v, rel=1e-11, abs_=1e-11 * np.abs(Hj @ v).max())
        close(ad.record(residuals(ad), P4).jacobian(p), Jj, rel=1e-12, abs_=1e-15)


def test_against_torch():
    torch = pytest.importorskip("torch")
    u = np.linspace(0.1, 0.9, 7)

    def F(u):
        n = u.shape[0]
        h = 1.0 / (n + 1)
        up = torch.cat([u[1:], torch.zeros(1, dtype=u.dtype)])
        um = torch.cat([torch.zeros(1, dtype=u.dtype), u[:-1]])
        return (2.0 * u - up - um) / (h * h) - 1.5 * torch.exp(u)
    Jt = torch.autograd.functional.jacobian(F, torch.tensor(u, dtype=torch.float64)).numpy()
    for ad in ENGINES:
        J = ad.record(bratu(ad), u).jacobian(u)
        close(J, Jt, rel=1e-12, abs_=1e-12 * np.abs(Jt).max())


def test_against_autograd():
    ag = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")

    def f(x):
        return anp.sum(anp.exp(x[:-1]) * x[1:] / (1.0 + x[1:] * x[1:])) + anp.sin(x[0]) * anp.cos(x[1])

    def g(ad):
        return lambda x: np.sum(np.exp(x[:-1]) * x[1:] / (1.0 + x[1:] * x[1:])) + np.sin(x[0]) * np.cos(x[1])
    x = np.array([0.4, -0.3, 1.1, 0.2, -0.7])
    Ha = ag.hessian(f)(x)
    for ad in ENGINES:
        close(ad.record(g(ad), x).hessian(x), Ha, rel=1e-12, abs_=1e-14)


# --------------------------------------------------------------------------------------
# Bad input: the same exception type in both engines
# --------------------------------------------------------------------------------------

BAD = [
    ("jvp", (X4,), TypeError),                          # no tangent
    ("jvp", (X4, np.ones(3)), ValueError),              # wrong shape
    ("jvp", (X4, "abc"), TypeError),                    # wrong type
    ("jvp", (X4, np.ones(4, dtype=complex)), TypeError),
    ("jvp", (X4, 1.0), ValueError),                     # a number for an array
    ("hvp", (X4, np.ones((4, 1))), ValueError),
    ("hvp", (X4,), TypeError),
    ("hvp", (), TypeError),
    ("vjp", (X4, np.ones(2)), ValueError),              # a scalar tape's cotangent: a number
    ("vjp", (X4, None), TypeError),
    ("jacobian", (), TypeError),                        # no arguments
    ("hessian", (np.ones(5),), ValueError),             # wrong argument shape
    ("jvp", (np.ones(5), np.ones(4)), ValueError),
]


@pytest.mark.parametrize("method,args,error", BAD)
def test_bad_input_same_error_in_both_engines(method, args, error):
    for ad in ENGINES:
        tape = ad.record(rosenbrock, X4)
        with pytest.raises(error):
            getattr(tape, method)(*args)
        assert tape.value_and_grad(X4)[0] == rosenbrock(X4)     # still works


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_bad_tuple_tangents(ad):
    tape = ad.record(lambda x, y: np.sum(x * y), np.ones(2), 3.0, argnums=(0, 1))
    with pytest.raises(TypeError, match="tuple"):
        tape.jvp(np.ones(2), 3.0, np.ones(2))
    with pytest.raises(TypeError, match="one item per"):
        tape.hvp(np.ones(2), 3.0, (np.ones(2),))
    with pytest.raises(ValueError):
        tape.hvp(np.ones(2), 3.0, (np.ones(3), 1.0))
    assert tape.hvp(np.ones(2), 3.0, [np.ones(2), 0.0])[1] == 2.0
    tape = ad.record(lambda x: x * 2.0, np.ones(2))
    with pytest.raises(ValueError):
        tape.vjp(np.ones(2), 1.0)


# --------------------------------------------------------------------------------------
# Threads and re-entrancy
# --------------------------------------------------------------------------------------

def test_hvp_and_jacobian_from_threads():
    n = 300                 # long enough for the sweeps to release the GIL
    rng = np.random.default_rng(1)
    points = [rng.normal(size=n) for _ in range(6)]
    vs = [rng.normal(size=n) for _ in range(6)]
    tape = autodiff.record(rosenbrock, points[0])
    expected = [bits(tape.hvp(x, v)) for x, v in zip(points, vs)]
    expected_value = [tape(x) for x in points]
    failures = []

    def work(k):
        for _ in range(30):
            if bits(tape.hvp(points[k], vs[k])) != expected[k]:
                failures.append(k)
            if tape(points[k]) != expected_value[k]:
                failures.append(-k)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    fwd = autodiff.record(residuals(autodiff), P4)
    J = bits(fwd.jacobian(P4))
    got = []
    threads = [threading.Thread(target=lambda: got.append(bits(fwd.jacobian(P4))))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [J] * 4


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_hvp_reentrant_from_the_vector(ad):
    """The vector's __array__ calls the same tape's hvp and hessian: each call has its own
    workspace, and the outer call's result is unchanged."""
    x = np.array([0.5, -0.4, 1.3])
    tape = ad.record(rosenbrock, x)
    inner = []

    class Sneaky:
        def __array__(self, dtype=None, copy=None):
            inner.append(tape.hvp(x + 1.0, np.ones(3)))
            inner.append(tape.hessian(x - 1.0))
            inner.append(tape.jacobian(x))
            return np.array([1.0, 2.0, 3.0])
    got = tape.hvp(x, Sneaky())
    assert bits(got) == bits(tape.hvp(x, np.array([1.0, 2.0, 3.0])))
    assert bits(inner[0]) == bits(tape.hvp(x + 1.0, np.ones(3)))
    close(inner[1], rosenbrock_hessian(x - 1.0), rel=1e-12)


# --------------------------------------------------------------------------------------
# Long tapes (the GIL-free path) agree with the reference
# --------------------------------------------------------------------------------------

def test_long_tape_value_grad_hvp_bit_for_bit():
    x = np.cos(np.arange(200.0))
    v = np.sin(np.arange(200.0))
    make = lambda ad: ad.record(rosenbrock, x)
    assert make(autodiff).n_ops >= 256
    same_in_both(make, lambda t: t.value_and_grad(x))
    same_in_both(make, lambda t: t(x))
    same_in_both(make, lambda t: t.hvp(x, v))


# --------------------------------------------------------------------------------------
# Sparse Jacobians and Hessians: the compressed sweep and the gather, against a plan
# written here from the documented interface of autodiff._sparsity (so that these tests
# check the sweeps whatever the pattern pass does; the pass itself has its own tests)
# --------------------------------------------------------------------------------------

class _Plan:
    """A plan as autodiff._sparsity documents it, from a known dense pattern: a greedy
    column colouring (columns sharing no row share a colour), seed and take."""

    def __init__(self, pattern):
        pattern = np.asarray(pattern, dtype=bool)
        n_rows, n_cols = pattern.shape
        colour = np.full(n_cols, -1)
        for j in range(n_cols):
            used = {colour[k] for k in range(j) if (pattern[:, k] & pattern[:, j]).any()}
            c = 0
            while c in used:
                c += 1
            colour[j] = c
        self.n_colours = int(colour.max()) + 1 if n_cols else 0
        self.colours = colour
        self.seed = np.zeros((n_cols, self.n_colours))
        self.seed[np.arange(n_cols), colour] = 1.0
        rows, cols = np.nonzero(pattern)          # row-major: CSR order
        self.indptr = np.searchsorted(rows, np.arange(n_rows + 1)).astype(np.int64)
        self.indices = cols.astype(np.int64)
        self.shape = (n_rows, n_cols)
        self.take = (rows * self.n_colours + colour[cols]).astype(np.int64)


class _FakeSparsity:
    def __init__(self, jacobian_pattern=None, hessian_pattern=None):
        self.calls = []
        self.jp, self.hp = jacobian_pattern, hessian_pattern

    def jacobian_plan(self, code, base, n_inputs, outs, columns):
        self.calls.append(("jacobian", code.shape, base, n_inputs, list(outs), list(columns)))
        return _Plan(self.jp)

    def hessian_plan(self, code, base, n_inputs, root, columns):
        self.calls.append(("hessian", code.shape, base, n_inputs, root, list(columns)))
        return _Plan(self.hp)


@pytest.fixture
def fake_sparsity(monkeypatch):
    import sys

    def install(**patterns):
        fake = _FakeSparsity(**patterns)
        monkeypatch.setitem(sys.modules, "autodiff._sparsity", fake)
        monkeypatch.setattr(autodiff, "_sparsity", fake, raising=False)
        return fake
    return install


def _tridiagonal(n):
    return (np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1)


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_sparse_jacobian_bratu(ad, fake_sparsity):
    sparse = pytest.importorskip("scipy.sparse")
    n = 12
    fake = fake_sparsity(jacobian_pattern=_tridiagonal(n))
    u0 = np.linspace(0.0, 1.0, n)
    tape = ad.record(bratu(ad), u0)
    u = np.cos(np.arange(n))
    J = tape.sparse_jacobian(u)
    assert isinstance(J, sparse.csr_array) and J.shape == (n, n) and J.nnz == 3 * n - 2
    dense = tape.jacobian(u)
    np.testing.assert_array_equal(J.toarray(), dense)     # the same bits on the pattern
    close(J.toarray(), bratu_jacobian(u), rel=1e-12, abs_=1e-12 * np.abs(dense).max())
    out = np.empty(3 * n - 2)
    assert tape.sparse_jacobian(u, out=out) is out
    np.testing.assert_array_equal(out, J.data)
    P = tape.jacobian_sparsity()
    assert (P.toarray() == _tridiagonal(n)).all()
    assert len(fake.calls) == 1                           # the plan is built once
    kind, shape, base, n_inputs, outs, columns = fake.calls[0]
    assert n_inputs == n and columns == list(range(n)) and len(outs) == n


def test_sparse_jacobian_bit_for_bit_between_engines(fake_sparsity):
    pytest.importorskip("scipy.sparse")
    n = 9
    fake_sparsity(jacobian_pattern=_tridiagonal(n))
    u = np.sin(np.arange(n) + 0.5)
    results = [ad.record(bratu(ad), u).sparse_jacobian(u) for ad in ENGINES]
    assert bits(results[0].data) == bits(results[1].data)
    assert results[0].indices.tolist() == results[1].indices.tolist()


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_sparse_hessian_rosenbrock(ad, fake_sparsity):
    sparse = pytest.importorskip("scipy.sparse")
    n = 10
    fake = fake_sparsity(hessian_pattern=_tridiagonal(n))
    x = np.linspace(-1.0, 1.5, n)
    tape = ad.record(rosenbrock, x)
    H = tape.sparse_hessian(x)
    assert isinstance(H, sparse.csr_array) and H.shape == (n, n)
    np.testing.assert_array_equal(H.toarray(), tape.hessian(x))
    close(H.toarray(), rosenbrock_hessian(x), rel=1e-12, abs_=1e-12 * 1200.0 * 2.25)
    out = np.zeros(H.nnz)
    tape.sparse_hessian(x, out=out)
    np.testing.assert_array_equal(out, H.data)
    assert (tape.hessian_sparsity().toarray() == _tridiagonal(n)).all()
    assert [c[0] for c in fake.calls] == ["hessian"]
    assert fake.calls[0][4] == tape._instructions()[3][0]      # root: the output's slot


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_sparse_out_is_checked(ad, fake_sparsity):
    n = 6
    fake_sparsity(jacobian_pattern=_tridiagonal(n), hessian_pattern=_tridiagonal(n))
    x = np.linspace(0.1, 0.6, n)
    jt = ad.record(bratu(ad), x)
    ht = ad.record(rosenbrock, x)
    nnz = 3 * n - 2
    for method in (jt.sparse_jacobian, ht.sparse_hessian):
        with pytest.raises(TypeError):
            method(x, out=np.zeros(nnz, dtype=np.float32))
        with pytest.raises(TypeError):
            method(x, out=[0.0] * nnz)
        with pytest.raises(ValueError):
            method(x, out=np.zeros(nnz + 1))
        with pytest.raises(ValueError):
            method(x, out=np.zeros((nnz, 1)))
        with pytest.raises(ValueError):
            method(x, out=np.zeros(2 * nnz)[::2])
        readonly = np.zeros(nnz)
        readonly.flags.writeable = False
        with pytest.raises(ValueError):
            method(x, out=readonly)
    with pytest.raises(TypeError, match="scalar function"):
        jt.sparse_hessian(x)


def test_vector_sweeps_in_several_chunks():
    """More directions than one vector sweep carries (64 lanes): chunks, same bits."""
    n = 70
    x = np.linspace(-0.9, 1.2, n)
    make = lambda ad: ad.record(rosenbrock, x)
    H = same_in_both(make, lambda t: t.hessian(x))
    close(H, rosenbrock_hessian(x), abs_=1e-12 * np.abs(rosenbrock_hessian(x)).max())

    def wide(x):                # 2n outputs, n inputs: forward vector mode
        return np.concatenate([x * x[::-1], np.exp(x) - x[0]])
    J = same_in_both(lambda ad: ad.record(wide, x), lambda t: t.jacobian(x))
    expected = np.zeros((2 * n, n))
    expected[np.arange(n), np.arange(n)] += x[::-1]
    expected[np.arange(n), np.arange(n)[::-1]] += x
    expected[n + np.arange(n), np.arange(n)] = np.exp(x)
    expected[n:, 0] -= 1.0
    close(J, expected, rel=1e-14, abs_=1e-15)


# With the sparsity pass itself (autodiff._sparsity): patterns found from the tape.

@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_sparse_with_the_pattern_pass(ad):
    pytest.importorskip("scipy.sparse")
    pytest.importorskip("autodiff._sparsity")
    n = 30
    u = np.cos(np.arange(n))
    tape = ad.record(bratu(ad), u)
    J = tape.sparse_jacobian(u)
    assert J.nnz == 3 * n - 2
    assert (tape.jacobian_sparsity().toarray() == _tridiagonal(n)).all()
    np.testing.assert_array_equal(J.toarray(), tape.jacobian(u))
    close(J.toarray(), bratu_jacobian(u), rel=1e-12, abs_=1e-12 * np.abs(bratu_jacobian(u)).max())
    x = np.linspace(-1.1, 1.4, n)
    tape = ad.record(rosenbrock, x)
    H = tape.sparse_hessian(x)
    pattern = tape.hessian_sparsity().toarray() != 0
    assert pattern[_tridiagonal(n)].all()           # holds every structural nonzero
    if _second_declared("add", "subtract", "multiply"):
        assert (pattern == _tridiagonal(n)).all()   # and no more once the table says so
    dense = tape.hessian(x)
    # A symmetric colouring may read an entry from its mirror image: each stored value is
    # bit for bit the dense H[i, j] or H[j, i].
    rows = np.repeat(np.arange(n), np.diff(H.indptr))
    for i, j, value in zip(rows, H.indices, H.data):
        assert value == dense[i, j] or value == dense[j, i]
    close(H.toarray(), rosenbrock_hessian(x), rel=1e-12, abs_=1e-12 * 1200 * 1.96)


def _second_declared(*names):
    from autodiff import _primitives
    return all(p.second is not None for p in _primitives.TABLE if p.name in names)


def test_sparse_bit_for_bit_between_engines_with_the_pattern_pass():
    pytest.importorskip("scipy.sparse")
    pytest.importorskip("autodiff._sparsity")
    x = np.linspace(-1.1, 1.4, 17)
    make = lambda ad: ad.record(rosenbrock, x)
    nnz = make(autodiff).hessian_sparsity().nnz
    same_in_both(make, lambda t: t.sparse_hessian(x, out=np.empty(nnz)))
    make = lambda ad: ad.record(bratu(ad), x)
    same_in_both(make, lambda t: t.sparse_jacobian(x, out=np.empty(3 * 17 - 2)))


# --------------------------------------------------------------------------------------
# Every primitive: Hessians through it, both engines bit for bit, against finite
# differences of the gradient (skipped for a primitive whose second-order rule is not
# written yet: the skeleton's nan would fail it)
# --------------------------------------------------------------------------------------

def _primitive_names():
    from autodiff import _primitives
    return [p.name for p in _primitives.TABLE]


@pytest.mark.parametrize("name", _primitive_names())
def test_hessian_through_every_primitive(name):
    from autodiff import _primitives, _second
    from test_primitives import DOMAINS
    binary = any(p.name == name and p.arity == 2 for p in _primitives.TABLE)
    table = _second.BINARY_SECOND if binary else _second.UNARY_SECOND
    if name not in table:
        pytest.skip(f"no second-order rule for {name} yet")
    for point in DOMAINS[name].points:
        if binary:      # the interface skeleton's power row has nan cross partials
            a, b = point
            y, da, db = autodiff.reference.BINARY_RULES[name](a, b)
            if any(math.isnan(v) for v in table[name](a, b, float(y), da, db)):
                pytest.skip(f"the second-order rule for {name} is not complete yet")
        # f(w) = prim(w0[, w1]) * w_last + prim(...) ** 2: second partials of the primitive,
        # its first partials (mixed with w_last) and products of them.
        k = len(point)
        w = np.array(list(point) + [1.3])

        def make(ad):
            def f(w):
                y = ad.PRIMITIVES[name](*[w[i] for i in range(k)])
                return y * w[k] + y * y
            return ad.record(f, w)
        H = same_in_both(make, lambda t: t.hessian(w))
        tape = make(autodiff)
        fd = np.empty_like(H)
        for j in range(k + 1):
            h = 1e-6 * max(1.0, abs(w[j]))
            e = np.zeros(k + 1)
            e[j] = h
            fd[:, j] = (tape.grad(w + e) - tape.grad(w - e)) / (2 * h)
        scale = max(1.0, np.abs(fd).max())
        close(H, fd, rel=1e-5, abs_=1e-5 * scale)
        v = np.linspace(0.5, -0.7, k + 1)
        hv = same_in_both(make, lambda t: t.hvp(w, v))
        close(hv, H @ v, rel=1e-12, abs_=1e-12 * scale)


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_sparse_without_scipy_says_so(ad, fake_sparsity, monkeypatch):
    import sys
    n = 5
    fake_sparsity(jacobian_pattern=_tridiagonal(n))
    u = np.linspace(0.1, 0.5, n)
    tape = ad.record(bratu(ad), u)
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(ImportError, match="install SciPy"):
        tape.sparse_jacobian(u)
    out = np.empty(3 * n - 2)                   # the values alone need no SciPy
    tape.sparse_jacobian(u, out=out)
    close(out[:2], bratu_jacobian(u)[0, :2], rel=1e-12)


@pytest.mark.parametrize("ad", ENGINES, ids=["compiled", "reference"])
def test_sparse_reentrant_and_threads(ad, fake_sparsity):
    """An argument whose __array__ calls the same tape's sparse methods, and threads
    sharing one tape's cached plan: every call has its own workspace and result."""
    pytest.importorskip("scipy.sparse")
    n = 8
    fake_sparsity(jacobian_pattern=_tridiagonal(n), hessian_pattern=_tridiagonal(n))
    x = np.linspace(-0.5, 0.9, n)
    jt = ad.record(bratu(ad), x)
    ht = ad.record(rosenbrock, x)
    inner = []

    class Sneaky:
        def __array__(self, dtype=None, copy=None):
            inner.append(jt.sparse_jacobian(x + 0.25).toarray())
            inner.append(ht.sparse_hessian(x - 0.25).toarray())
            return np.array(x)
    J = jt.sparse_jacobian(Sneaky()).toarray()
    H = ht.sparse_hessian(Sneaky()).toarray()
    np.testing.assert_array_equal(J, jt.jacobian(x))
    np.testing.assert_array_equal(H, ht.hessian(x))
    np.testing.assert_array_equal(inner[0], jt.jacobian(x + 0.25))
    np.testing.assert_array_equal(inner[1], ht.hessian(x - 0.25))
    points = [x + 0.1 * k for k in range(4)]
    expected = [bits(ht.sparse_hessian(p, out=np.empty(3 * n - 2))) for p in points]
    got = {}

    def work(k):
        for _ in range(20):
            value = bits(ht.sparse_hessian(points[k], out=np.empty(3 * n - 2)))
            got.setdefault(k, set()).add(value)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[k] for k in range(4)] == [{e} for e in expected]
