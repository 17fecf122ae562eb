"""Release checks: version, metadata, the engine fallback, the test configuration, and (when
.ci/run hands them over) the contents of a built sdist and wheel.

Building an sdist or a wheel is too slow for the unit suite: ``.ci/run`` builds them, sets
``AUTODIFF_SDIST`` / ``AUTODIFF_WHEEL`` to their paths and runs the ``*_contents`` tests below.
"""
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

import autodiff
import autodiff.reference

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(HERE)             # a clone or an unpacked sdist
PYPROJECT = os.path.join(SOURCE_ROOT, "pyproject.toml")
PYTHONS = ("3.11", "3.12", "3.13")              # what the classifiers promise and CI runs
WHEEL_PYTHONS = PYTHONS + ("3.14",)             # what cibuildwheel builds


def _pyproject():
    if not os.path.exists(PYPROJECT):
        pytest.skip("no pyproject.toml next to tests/ (not run from a source tree)")
    import tomllib
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f)


def _installed_distribution():
    """The installed cyautodiff, if it is the one imported; else skip."""
    try:
        dist = importlib.metadata.distribution("cyautodiff")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("cyautodiff is not installed (an in-place build)")
    init = os.path.realpath(autodiff.__file__)
    if not any(os.path.realpath(dist.locate_file(f)) == init for f in dist.files or ()):
        pytest.skip("the imported autodiff is not the installed cyautodiff")
    return dist


# ----------------------------------------------------------------------------------------
# Version and metadata
# ----------------------------------------------------------------------------------------


def test_version_is_single_sourced():
    from autodiff._version import __version__
    assert autodiff.__version__ is __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", __version__)
    assert "__version__" not in autodiff.__all__       # the engines' API is unchanged


def test_pyproject_reads_the_version_from_the_package():
    project = _pyproject()
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "autodiff._version.__version__"


def test_pyproject_python_range_classifiers_and_wheels_agree():
    config = _pyproject()
    project = config["project"]
    assert project["requires-python"] == ">=3.11"
    classifiers = set(project["classifiers"])
    for version in WHEEL_PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert not any(c.endswith((":: 3.9", ":: 3.10")) for c in classifiers)
    assert "Typing :: Typed" in classifiers
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    wheels = config["tool"]["cibuildwheel"]
    assert sorted(wheels["build"]) == [f"cp{v.replace('.', '')}-*" for v in WHEEL_PYTHONS]
    assert wheels["test-extras"] == ["test"] and "pytest" in wheels["test-command"]
    assert set(wheels["linux"]["archs"]) == {"x86_64", "aarch64"}
    assert "macos" in wheels and "windows" in wheels


def test_installed_metadata():
    dist = _installed_distribution()
    meta = dist.metadata
    assert dist.version == autodiff.__version__
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in meta.get_all("License-File")
    assert "the autodiff developers" in meta["Author"]
    assert "automatic differentiation" in meta["Keywords"]
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    for version in PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    licence = [f for f in dist.files if f.name == "LICENSE"]
    assert licence, "no LICENSE among the installed files"
    assert "MIT License" in licence[0].read_text()


def test_the_typing_files_are_installed():
    package = os.path.dirname(autodiff.__file__)
    for name in ("py.typed", "__init__.pyi", "_engine.pyi"):
        assert os.path.exists(os.path.join(package, name)), name


# ----------------------------------------------------------------------------------------
# setup.py: floating-point flags by compiler
# ----------------------------------------------------------------------------------------


def _build_ext_class():
    """setup.py's build_ext subclass, loaded without building anything."""
    setup_py = os.path.join(SOURCE_ROOT, "setup.py")
    if not os.path.exists(setup_py):
        pytest.skip("no setup.py next to tests/")
    pytest.importorskip("Cython")
    import Cython.Build
    import setuptools
    captured = {}
    saved = setuptools.setup, Cython.Build.cythonize
    setuptools.setup = lambda **kw: captured.update(kw)
    Cython.Build.cythonize = lambda extensions, **kw: extensions
    try:
        namespace = {"__file__": setup_py, "__name__": "setup"}
        with open(setup_py) as f:
            exec(compile(f.read(), setup_py, "exec"), namespace)
    finally:
        setuptools.setup, Cython.Build.cythonize = saved
    return captured["cmdclass"]["build_ext"], captured["ext_modules"]


@pytest.mark.parametrize("compiler_type, wanted, unwanted", [
    ("unix", ["-ffp-contract=off", "-fno-fast-math"], ["/fp:precise"]),
    ("mingw32", ["-ffp-contract=off", "-fno-fast-math"], ["/fp:precise"]),
    ("msvc", ["/fp:precise"], ["-ffp-contract=off", "/fp:fast"]),
])
def test_setup_py_chooses_the_float_flags_by_compiler(compiler_type, wanted, unwanted,
                                                      monkeypatch):
    monkeypatch.delenv("AUTODIFF_SANITIZE", raising=False)
    build_ext, extensions = _build_ext_class()
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext as base
    monkeypatch.setattr(base, "build_extensions", lambda self: None)
    command = build_ext(Distribution({"ext_modules": extensions}))
    command.extensions = extensions
    command.compiler = type("Compiler", (), {"compiler_type": compiler_type})()
    command.build_extensions()
    assert {e.name for e in extensions} == {"autodiff._engine", "autodiff._replay", "autodiff._rulecheck"}
    for ext in extensions:
        for flag in wanted:
            assert flag in ext.extra_compile_args, (ext.name, ext.extra_compile_args)
        for flag in unwanted:
            assert flag not in ext.extra_compile_args
        assert ext.libraries == ([] if sys.platform == "win32" else ["m"])


# ----------------------------------------------------------------------------------------
# Engine fallback: either extension missing -> one warning with the cause, reference whole
# ----------------------------------------------------------------------------------------

_REPORT = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import autodiff
    import autodiff.reference as reference
    import autodiff               # a second import warns no more
mixed = [n for n in reference.__all__ if getattr(autodiff, n) is not getattr(reference, n)]
print(autodiff.ENGINE, len(caught), mixed, autodiff.record is reference.record,
      autodiff.Var(2.0) * 3)
for w in caught:
    print(w.category.__name__, w.message)
"""


def _python(prelude, cwd=None, path=None):
    """Run prelude + _REPORT in a fresh interpreter (-P, this process's sys.path)."""
    env = dict(os.environ)
    env.pop("AUTODIFF_PURE", None)
    env["PYTHONPATH"] = os.pathsep.join(path if path is not None else [p for p in sys.path if p])
    done = subprocess.run([sys.executable, "-P", "-c", textwrap.dedent(prelude) + _REPORT],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return lines[0], lines[1:]


def _assert_reference_whole(summary, warnings, cause):
    assert summary == "reference 1 [] True Mul(6.0)", (summary, warnings)
    assert len(warnings) == 1 and warnings[0].startswith("RuntimeWarning"), warnings
    assert cause in warnings[0], warnings[0]
    assert "circular import" not in warnings[0]


def test_replay_failing_alone_falls_back_to_the_reference_engine_whole():
    summary, warnings = _python("""
        import sys
        sys.modules["autodiff._replay"] = None      # the engine imports, the tape does not
    """)
    _assert_reference_whole(summary, warnings, "autodiff._replay")


def test_a_broken_extension_is_reported_with_its_own_error():
    summary, warnings = _python("""
        import importlib.abc, importlib.util, sys

        class Broken(importlib.abc.MetaPathFinder, importlib.abc.Loader):
            def find_spec(self, name, path=None, target=None):
                if name == "autodiff._replay":
                    return importlib.util.spec_from_loader(name, self)
            def create_module(self, spec):
                raise ImportError("_replay.so: undefined symbol: PyFoo_Bar")
            def exec_module(self, module):
                pass

        sys.meta_path.insert(0, Broken())
    """)
    _assert_reference_whole(summary, warnings, "undefined symbol: PyFoo_Bar")


def test_a_package_without_its_extensions_names_the_missing_module(tmp_path):
    # the pure-Python files of the package, as an install whose build left no extension
    copy = tmp_path / "autodiff"
    copy.mkdir()
    for name in os.listdir(os.path.dirname(autodiff.__file__)):
        if name.endswith((".py", ".pyi", ".typed")):
            shutil.copy(os.path.join(os.path.dirname(autodiff.__file__), name), copy)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))
    path = [str(tmp_path)] + [p for p in sys.path
                              if p and os.path.abspath(p) != package_root]
    summary, warnings = _python("", cwd=tmp_path, path=path)
    _assert_reference_whole(summary, warnings, "No module named 'autodiff._engine'")


# ----------------------------------------------------------------------------------------
# The test configuration without pytest-benchmark
# ----------------------------------------------------------------------------------------


def test_the_suite_runs_without_pytest_benchmark(tmp_path):
    if not os.path.isdir(os.path.join(SOURCE_ROOT, "benchmarks")):
        pytest.skip("no benchmarks/ next to tests/")
    _pyproject()
    # pytest_benchmark made unimportable, as if not installed, and its plugin not loaded
    shadow = tmp_path / "pytest_benchmark"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pytest_benchmark'\", name='pytest_benchmark')")
    env = dict(os.environ)
    env.pop("AUTODIFF_PURE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path)] + [p for p in sys.path if p])
    done = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-p", "no:benchmark", "-p", "no:cacheprovider",
         "-p", "no:randomly", "-q", "-rs", "tests/test_main.py", "benchmarks/test_bench_f.py", "-k", "test_tutorial_f or test_the_default_is_the_full"],
        cwd=SOURCE_ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert re.search(r"\b1 passed\b", out) and re.search(r"\b\d+ skipped\b", out), out
    assert "No module named 'pytest_benchmark'" in out or "pytest-benchmark is not" in out, out
    assert not re.search(r"\b\d+ errors?\b|warning", out), out


# ----------------------------------------------------------------------------------------
# A built sdist and wheel (.ci/run sets AUTODIFF_SDIST and AUTODIFF_WHEEL)
# ----------------------------------------------------------------------------------------

# Build products.  (setuptools always writes its metadata, PKG-INFO and the .egg-info
# folder, into an sdist: that is packaging metadata, not generated code.)
GENERATED = re.compile(r"(\.c|\.so|\.pyd|\.html|\.pyc)$|__pycache__")


def _built(variable):
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set (.ci/run sets it after building)")
    assert os.path.isfile(path), f"{variable}={path} does not exist"
    return path


def _readme_links(readme):
    """The local files README.md links to or shows (images), e.g. benchmarks/chain.png."""
    links = re.findall(r"\]\(([^)#\s]+)\)", readme)
    return sorted({link for link in links if not re.match(r"[a-z]+:", link)})


def test_sdist_contents():
    path = _built("AUTODIFF_SDIST")
    with tarfile.open(path) as sdist:
        names = sdist.getnames()
        top = names[0].split("/")[0]
        files = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}
        readme = sdist.extractfile(f"{top}/README.md").read().decode()
        pkg_info = sdist.extractfile(f"{top}/PKG-INFO").read().decode()
    needed = {"LICENSE", "README.md", "pyproject.toml", "setup.py", "PKG-INFO",
              "autodiff/__init__.py", "autodiff/__init__.pyi", "autodiff/_version.py",
              "autodiff/_engine.pyx", "autodiff/_engine.pxd", "autodiff/_engine.pyi",
              "autodiff/_replay.pyx", "autodiff/_rules.pxd", "autodiff/py.typed",
              "tests/conftest.py", "tests/helpers.py", "tests/typing_example.py",
              "benchmarks/conftest.py", "benchmarks/workloads.py"}
    needed |= set(_readme_links(readme))
    assert not needed - files, f"missing from the sdist: {sorted(needed - files)}"
    generated = sorted(f for f in files if GENERATED.search(f))
    assert not generated, f"generated files in the sdist: {generated}"
    assert "License-File: LICENSE" in pkg_info


def test_wheel_contents():
    path = _built("AUTODIFF_WHEEL")
    with zipfile.ZipFile(path) as wheel:
        files = set(wheel.namelist())
        licences = [f for f in files if f.endswith(".dist-info/licenses/LICENSE")]
        assert licences, "no LICENSE in the wheel's .dist-info/licenses/"
        assert b"MIT License" in wheel.read(licences[0])
    for name in ("autodiff/py.typed", "autodiff/__init__.pyi", "autodiff/_version.py"):
        assert name in files, name
    for module in ("_engine", "_replay"):
        assert any(re.fullmatch(rf"autodiff/{module}\..*(\.so|\.pyd)", f) for f in files), module
    assert not [f for f in files if f.endswith((".c", ".html", ".pyc"))]
    assert not [f for f in files if f.startswith(("tests/", "benchmarks/"))]


# ----------------------------------------------------------------------------------------
# .ci/check_warnings.py: which compiler warnings are ours
# ----------------------------------------------------------------------------------------

_WARNINGS_LOG = """\
gcc -c autodiff/_engine.c -o build/_engine.o
autodiff/_engine.c:22217:30: warning: '__pyx_v_e' may be used uninitialized [-Wmaybe-uninitialized]
22217 |     __pyx_v_node->edges.many = __pyx_v_e;
In file included from /usr/include/python3.11/Python.h:44,
                 from /tmp/pip-req-build-x/autodiff/_replay.c:37:
In function 'Py_SIZE',
    inlined from '__Pyx_Compare' at /tmp/pip-req-build-x/autodiff/_replay.c:32852:19:
/usr/include/python3.11/object.h:142:18: warning: array subscript is partly outside array bounds [-Warray-bounds]
  142 |     return var_ob->ob_size;
In file included from /usr/include/python3.11/Python.h:44,
                 from autodiff/_replay.c:37:
/usr/include/python3.11/object.h:10:1: warning: 'foo' is deprecated [-Wdeprecated-declarations]
autodiff\\_engine.c(123): warning C4244: '=': conversion from 'double' to 'float'
warning: autodiff/_replay.pyx:12:4: Unused entry 'x'
numpy/core/include/numpy/npy_1_7_deprecated_api.h:17:2: warning: "Using deprecated NumPy API"
"""


def test_check_warnings_counts_warnings_reached_from_our_sources(tmp_path):
    script = os.path.join(SOURCE_ROOT, ".ci", "check_warnings.py")
    if not os.path.exists(script):
        pytest.skip("no .ci/ (an sdist)")
    log = tmp_path / "build.log"
    log.write_text(_WARNINGS_LOG)
    done = subprocess.run([sys.executable, script, str(log)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "from our sources (autodiff/): 4; elsewhere: 2" in done.stdout, done.stdout
    log.write_text("gcc -c autodiff/_engine.c\n" + _WARNINGS_LOG.splitlines()[-1] + "\n")
    done = subprocess.run([sys.executable, script, str(log)], capture_output=True, text=True)
    assert done.returncode == 0 and "our sources (autodiff/): 0; elsewhere: 1" in done.stdout
