"""The frontend on both engines: grad / value_and_grad, check_gradients, to_dot / render, typing.

Oracles: derivatives worked out by hand, the tutorial's printed gradients and figure,
central differences computed here on plain floats, SciPy's own Rosenbrock gradient.
"""
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from test_primitives import DOMAINS

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def central_differences(f, x, h=1e-6):
    """d f / d x by central differences, f a function of a float64 array (plain floats)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape)
    for k in range(x.size):
        up, down = x.copy(), x.copy()
        up.flat[k] += h
        down.flat[k] -= h
        out.flat[k] = (f(up) - f(down)) / (2 * h)
    return out


def net(w, x):
    """A small generic function: runs on float arrays and on object arrays of nodes alike."""
    hidden = np.tanh(w @ x)
    return np.sum(np.exp(-hidden) * hidden) + np.sum(np.sqrt(w * w + 1.0)) / 3.0


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

# --------------------------------------------------------------------------------------
# grad and value_and_grad
# --------------------------------------------------------------------------------------


def test_grad_of_numbers_matches_the_hand_derived_formula(ad):
    def f(x, y):
        return x * y + ad.sin(x) * ad.exp(y)

    x, y = 0.7, -1.3
    dx = ad.grad(f)(x, y)
    dy = ad.grad(f, argnums=1)(x, y)
    assert type(dx) is float and type(dy) is float
    assert dx == pytest.approx(y + math.cos(x) * math.exp(y), rel=1e-14)
    assert dy == pytest.approx(x + math.sin(x) * math.exp(y), rel=1e-14)
    assert ad.grad(f, argnums=(0, 1))(x, y) == (dx, dy)
    assert ad.grad(f, argnums=(-1,))(x, y) == (dy,)


def test_grad_gives_the_tutorials_printed_gradients(ad):
    def f(a, b):
        return (a / b - a) * (b / a + a + b) * (a - b)

    da, db = ad.grad(f, argnums=(0, 1))(230.3, 33.2)
    assert da == pytest.approx(-153284.83150602411, rel=1e-12)
    assert db == pytest.approx(3815.0389441500993, rel=1e-12)


def test_grad_of_arrays_has_the_arguments_shapes(ad):
    c = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])

    def f(v, s):
        return np.sum(v ** 3) + np.sum(c * v) * s

    v = np.array([[0.5, -1.5, 2.0], [1.0, 0.0, -0.25]])
    gv, gs = ad.grad(f, argnums=(0, 1))(v, 2.0)
    assert isinstance(gv, np.ndarray) and gv.dtype == np.float64 and gv.shape == (2, 3)
    np.testing.assert_allclose(gv, 3 * v ** 2 + 2.0 * c, rtol=1e-15)
    assert type(gs) is float and gs == pytest.approx(np.sum(c * v), rel=1e-15)
    # Integer arrays are numbers too; a 0-d array gives a 0-d gradient.
    np.testing.assert_array_equal(ad.grad(lambda v: np.sum(v * v))(np.arange(3)), [0.0, 2.0, 4.0])
    g0 = ad.grad(lambda v: v * v * v)(np.array(2.0))
    assert isinstance(g0, np.ndarray) and g0.shape == () and g0 == 12.0


def test_grad_agrees_with_central_differences(ad):
    rng = np.random.default_rng(3)
    w, x = rng.normal(size=(4, 3)), rng.normal(size=3)
    gw, gx = ad.grad(net, argnums=(0, 1))(w, x)
    np.testing.assert_allclose(gw, central_differences(lambda w_: net(w_, x), w),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(gx, central_differences(lambda x_: net(w, x_), x),
                               rtol=1e-7, atol=1e-9)


def test_value_and_grad_gives_the_plain_value_and_the_same_gradient(ad):
    rng = np.random.default_rng(4)
    w, x = rng.normal(size=(4, 3)), rng.normal(size=3)
    value, (gw, gx) = ad.value_and_grad(net, argnums=(0, 1))(w, x)
    assert type(value) is float
    assert value == pytest.approx(float(net(w, x)), rel=1e-14)
    gw2, gx2 = ad.grad(net, argnums=(0, 1))(w, x)
    np.testing.assert_array_equal(gw, gw2)
    np.testing.assert_array_equal(gx, gx2)


def test_undifferentiated_arguments_and_keywords_pass_through(ad):
    seen = []

    def f(x, label, scale=1.0):
        seen.append((type(x).__name__, label, scale))
        return x * x * scale

    assert ad.grad(f)(3.0, "any object", scale=2.0) == 12.0
    assert seen == [("Var", "any object", 2.0)]
    assert ad.value_and_grad(f)(3.0, None) == (9.0, 6.0)


def test_a_function_that_ignores_its_argument_has_zero_gradient_and_warns(ad):
    # As autograd: the gradient is zero, with a warning naming the argument.
    with pytest.warns(UserWarning, match="does not depend on argument 0"):
        g = ad.grad(lambda v: 3.0)(np.ones((2, 2)))
    np.testing.assert_array_equal(g, np.zeros((2, 2)))
    with pytest.warns(UserWarning, match="does not depend on argument 0"):
        assert ad.value_and_grad(lambda x: np.float64(2.5))(1.0) == (2.5, 0.0)
    with pytest.warns(UserWarning, match="does not depend on argument 0") as record:
        assert ad.grad(lambda x, y: y, argnums=(0, 1))(1.0, 2.0) == (0.0, 1.0)
    assert len(record) == 1                      # argument 1 is used: no warning for it
    with pytest.warns(UserWarning, match="does not depend on argument 0"):
        ad.grad(lambda x: ad.Var(x.value) * 2.0)(1.0)      # .value cuts the derivative


def test_no_warning_for_a_zero_gradient_that_is_a_derivative(ad):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ad.grad(ad.relu)(-1.0) == 0.0             # reached, derivative 0: no warning
        assert ad.grad(lambda x: x * 0.0)(2.0) == 0.0


def test_grad_keeps_the_functions_name(ad):
    def energy(x):
        """The energy."""
        return x * x

    assert ad.grad(energy).__name__ == "grad(energy)"
    assert ad.value_and_grad(energy).__wrapped__ is energy


@pytest.mark.parametrize("bad", ["a", 1j, np.array(["a", "b"]), np.array([1j]), [None],
                                 {"x": 1.0}])
def test_a_bad_differentiated_argument_is_a_type_error(ad, bad):
    with pytest.raises(TypeError):
        ad.grad(lambda x: x)(bad)
    with pytest.raises(TypeError):
        ad.value_and_grad(lambda x: x)(bad)


def test_bad_argnums_and_bad_functions_are_rejected(ad):
    with pytest.raises(TypeError):
        ad.grad(lambda x: x, argnums=1.5)
    with pytest.raises(TypeError):
        ad.value_and_grad(lambda x: x, argnums=[0])
    with pytest.raises(ValueError):
        ad.grad(lambda x: x, argnums=1)(1.0)
    with pytest.raises(TypeError):
        ad.grad(3.0)


@pytest.mark.parametrize("out", [lambda v: v * 2.0, lambda v: [v[0]], lambda v: "loss",
                                 lambda v: None])
def test_a_non_scalar_function_is_a_type_error(ad, out):
    with pytest.raises(TypeError, match="scalar"):
        ad.grad(out)(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="scalar"):
        ad.value_and_grad(out)(np.array([1.0, 2.0]))


def test_both_engines_give_bitwise_the_same_values_and_gradients(compiled, reference):
    rng = np.random.default_rng(5)
    w, x = rng.normal(size=(5, 4)), rng.normal(size=4)
    results = []
    for engine in (compiled, reference):
        value, (gw, gx) = engine.value_and_grad(net, argnums=(0, 1))(w, x)
        results.append((np.float64(value).tobytes(), gw.tobytes(), gx.tobytes()))
    assert results[0] == results[1]


def test_value_and_grad_is_scipys_rosenbrock_and_its_gradient(ad):
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(6)
    for x in [np.array([-1.2, 1.0]), rng.normal(size=5), rng.uniform(-2, 2, size=7)]:
        value, g = ad.value_and_grad(rosenbrock)(x)
        assert value == pytest.approx(optimize.rosen(x), rel=1e-14)
        np.testing.assert_allclose(g, optimize.rosen_der(x), rtol=1e-13, atol=1e-12)


def test_value_and_grad_plugs_into_scipy_minimize(ad):
    optimize = pytest.importorskip("scipy.optimize")
    result = optimize.minimize(ad.value_and_grad(rosenbrock), np.array([-1.2, 1.0]),
                               jac=True, method="BFGS")
    assert result.success, result.message
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-5)
    assert result.fun < 1e-10

# --------------------------------------------------------------------------------------
# check_gradients
# --------------------------------------------------------------------------------------


def square_classes(ad, factor):
    """A user-defined op x**2 whose local derivative is factor * x (right for factor 2)."""
    class Square(ad.Ops):
        def __init__(self, x):
            self.value = x.value * x.value
            self.grad = [(x, factor * x.value)]
    return Square


def test_check_gradients_passes_and_reports_on_correct_code(ad):
    w = np.array([[0.5, -0.3, 1.2], [0.1, 0.7, -0.8]])
    report = ad.check_gradients(net, w, np.array([1.0, -2.0, 0.5]))
    assert isinstance(report, ad.GradientCheckReport) and report.ok and report
    assert len(report.entries) == 6 + 3
    assert [(e.argnum, e.name, e.index) for e in report.entries[:2]] == [
        (0, "w", (0, 0)), (0, "w", (0, 1))]
    assert report.max_rel_error < 1e-6
    assert "all agree" in str(report)
    assert ad.check_gradients(square_classes(ad, 2.0), 1.5).ok


def test_check_gradients_passes_on_every_primitive(ad):
    for name in ad.PRIMITIVES:
        function = getattr(ad, name)
        try:                                            # unary or binary?
            function(0.3)
            args = (0.3,)
        except TypeError:
            args = (0.7, 0.4)
        if not math.isfinite(function(*args)):          # outside its domain (arccosh)
            args = DOMAINS[name].points[0]
        assert ad.check_gradients(function, *args).ok, name


def test_check_gradients_catches_a_user_op_with_a_wrong_local_derivative(ad):
    Square = square_classes(ad, 1.0)                    # d/dx x**2 given as x: wrong

    def f(scale, w):
        return scale * sum(Square(wi) for wi in w) + ad.sin(scale)

    w = np.array([1.5, -0.5, 0.0])                      # at 0, x and 2x agree
    with pytest.raises(ad.GradientCheckError) as caught:
        ad.check_gradients(f, 2.0, w)
    error = caught.value
    assert isinstance(error, AssertionError)
    message = str(error)
    assert "2 disagree, in argument 1 (w)" in message
    assert "argument 1 (w), element (0,): reverse mode 3.0, central difference 6.0" in message
    assert "element (1,)" in message and "element (2,)" not in message
    assert "argument 0" not in message.split("\n", 1)[1]
    bad = error.report.mismatches
    assert sorted((e.argnum, e.index) for e in bad) == [(1, (0,)), (1, (1,))]
    first = [e for e in bad if e.index == (0,)][0]
    assert first.abs_error == pytest.approx(3.0) and first.rel_error == pytest.approx(0.5)
    # Asked not to raise, it returns the false report.
    report = ad.check_gradients(f, 2.0, w, raise_on_mismatch=False)
    assert not report and len(report.mismatches) == 2


def test_check_gradients_catches_a_small_error_within_its_tolerance(ad):
    Square = square_classes(ad, 2.0 * (1 + 1e-3))       # 0.1 % off
    with pytest.raises(ad.GradientCheckError, match=r"argument 0 \(x\)"):
        ad.check_gradients(lambda x: Square(x), 1.5)
    assert ad.check_gradients(lambda x: Square(x), 1.5, rtol=1e-2).ok


def test_check_gradients_checks_only_the_arguments_in_argnums(ad):
    report = ad.check_gradients(lambda x, label, y: x * y, 3.0, "label", 2.0, argnums=(2,))
    assert [(e.argnum, e.name, e.index) for e in report.entries] == [(2, "y", None)]
    assert report.entries[0].reverse == 3.0


def test_check_gradients_rejects_what_grad_rejects(ad):
    with pytest.raises(TypeError):
        ad.check_gradients(lambda x: x, "a")
    with pytest.raises(TypeError, match="scalar"):
        ad.check_gradients(lambda v: v * 2.0, np.ones(2))
    with pytest.raises(ValueError):
        ad.check_gradients(lambda: 1.0)

# --------------------------------------------------------------------------------------
# to_dot and render
# --------------------------------------------------------------------------------------

# The tutorial's figure: d = a * c, c = a + b with a = 4, b = 3; edges carry the local
# derivatives (d -> a: c = 7, d -> c: a = 4, c -> a: 1, c -> b: 1).  Written by hand.
TUTORIAL_DOT = """digraph autodiff {
  node [shape=box];
  n0 [label="d\\nMul\\n28"];
  n1 [label="c\\nAdd\\n7"];
  n2 [label="b\\nVar\\n3"];
  n3 [label="a\\nVar\\n4"];
  n0 -> n3 [label="7"];
  n0 -> n1 [label="4"];
  n1 -> n3 [label="1"];
  n1 -> n2 [label="1"];
}
"""


def test_to_dot_draws_the_tutorials_figure(ad):
    a, b = ad.Var(4), ad.Var(3)
    c = a + b
    d = a * c
    assert ad.to_dot(d, names={a: "a", b: "b", c: "c", d: "d"}) == TUTORIAL_DOT


def test_to_dot_is_deterministic_and_the_same_on_both_engines(compiled, reference):
    texts = []
    for engine in (compiled, reference):
        for _ in range(2):
            x = engine.Var(0.5)
            texts.append(engine.to_dot(engine.sin(x * x) / x, precision=4))
    assert len(set(texts)) == 1
    text = texts[0]
    # Div -> Sin, Div -> x, Sin -> Mul, and Mul(x, x) keeps both of its edges to x.
    assert text.count(" -> ") == 5
    assert text.count("n2 -> n3 [label=\"0.5\"];") == 2
    # d/dx of sin(.)/x through its second edge: -value/x = -sin(0.25)/0.25 = -0.9896
    assert 'n0 -> n3 [label="-0.9896"];' in text
    assert 'n0 [label="Div\\n0.4948"]' in text and '[label="Var\\n0.5"]' in text


def test_to_dot_labels_user_ops_and_escapes_names(ad):
    Square = square_classes(ad, 2.0)
    x = ad.Var(-1.5)
    text = ad.to_dot(Square(x), names={x: 'say "x"\\'})
    assert 'n0 [label="Square\\n2.25"];' in text
    assert 'n1 [label="say \\"x\\"\\\\\\nVar\\n-1.5"];' in text
    assert 'n0 -> n1 [label="-3"];' in text
    with pytest.raises(TypeError):
        ad.to_dot(3.0)


def test_render_without_graphviz_says_what_to_install(ad, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "graphviz", None)      # import graphviz -> ImportError
    with pytest.raises(ImportError, match="pip install graphviz") as caught:
        ad.render(ad.Var(1.0) * 2.0, tmp_path / "g.png")
    assert "dot" in str(caught.value)
    assert not (tmp_path / "g.png").exists()


def fake_graphviz(calls, missing_dot=False):
    module = types.ModuleType("graphviz")

    class ExecutableNotFound(RuntimeError):
        pass

    class Source:
        def __init__(self, source):
            self.source = source

        def pipe(self, format):
            calls.append((self.source, format))
            if missing_dot:
                raise ExecutableNotFound("failed to execute 'dot'")
            return b"picture:" + format.encode()

    module.Source, module.ExecutableNotFound = Source, ExecutableNotFound
    return module


def test_render_hands_the_dot_text_to_graphviz(ad, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setitem(sys.modules, "graphviz", fake_graphviz(calls))
    x = ad.Var(2.0)
    y = x * 3.0
    path = ad.render(y, tmp_path / "graph.svg")
    assert path == str(tmp_path / "graph.svg")
    assert (tmp_path / "graph.svg").read_bytes() == b"picture:svg"
    assert calls == [(ad.to_dot(y), "svg")]
    ad.render(y, str(tmp_path / "graph"), format="PNG", names={x: "x"})
    assert calls[-1] == (ad.to_dot(y, names={x: "x"}), "png")
    with pytest.raises(ValueError, match="png"):
        ad.render(y, tmp_path / "graph.jpg")


def test_render_without_the_dot_program_says_what_to_install(ad, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "graphviz", fake_graphviz([], missing_dot=True))
    with pytest.raises(RuntimeError, match="install Graphviz"):
        ad.render(ad.Var(1.0) * 2.0, tmp_path / "g.png")


def test_render_draws_a_png_with_the_real_graphviz(ad, tmp_path):
    pytest.importorskip("graphviz")
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    a, b = ad.Var(4.0), ad.Var(3.0)
    ad.render(a * (a + b), tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

# --------------------------------------------------------------------------------------
# Names, docstrings, typing
# --------------------------------------------------------------------------------------

FRONTEND = ["grad", "value_and_grad", "check_gradients", "to_dot", "render",
            "GradientCheckError", "GradientCheckReport"]


def test_every_frontend_name_is_exported_with_an_example(ad):
    for name in FRONTEND:
        assert name in ad.__all__, name
        doc = getattr(ad, name).__doc__
        assert doc, name
        if name[0].islower():
            assert ">>>" in doc, name
    assert ad.GradientCheckError is __import__("autodiff.reference").reference.GradientCheckError


def test_the_typing_example_runs(capsys):
    import runpy
    runpy.run_path(os.path.join(HERE, "typing_example.py"), run_name="__main__")
    assert capsys.readouterr().out.splitlines()[-1] == "digraph autodiff {"


MYPY_MUST_REJECT = '''\
import numpy as np
import autodiff as ad
x = ad.Var(1.0)
s: str = x.value
ad.sin("a")
t: str = ad.gradients(x, [x])
u: int = ad.grad(lambda v: v)(1.0)
ad.to_dot(3.0)
float(x)
'''


def test_mypy_accepts_the_typing_example_and_rejects_misuse(tmp_path):
    pytest.importorskip("mypy")
    bad = tmp_path / "misuse.py"
    bad.write_text(MYPY_MUST_REJECT)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
         "--cache-dir", str(tmp_path / "cache"), os.path.join("tests", "typing_example.py"),
         str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert not [line for line in lines if "typing_example" in line], run.stdout
    flagged = sorted({int(line.split(":")[1]) for line in lines if "misuse" in line})
    assert flagged == [4, 5, 6, 7, 8, 9], run.stdout + run.stderr


def test_stubs_match_the_runtime_of_both_engines(tmp_path):
    """mypy's stubtest: every stub (autodiff, the reference engine, the private modules)
    against the objects at run time, with the allowlist's justified entries only."""
    pytest.importorskip("mypy")
    import autodiff
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))
    env = dict(os.environ)
    if "site-packages" not in package_root:      # an in-place build: point mypy at it
        env["MYPYPATH"] = env["PYTHONPATH"] = package_root
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "autodiff", "--mypy-config-file", os.devnull,
         "--allowlist", os.path.join(HERE, "stubtest_allowlist.txt")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Success" in run.stdout, run.stdout
