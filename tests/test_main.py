"""``python -m autodiff``: its command line, and that the demo runs."""
import os
import subprocess
import sys

import pytest

import autodiff
from autodiff import __main__ as demo


def _run(*args):
    """``python -m autodiff ARGS`` in a fresh interpreter that imports this package."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.pop("AUTODIFF_PURE", None)
    return subprocess.run([sys.executable, "-m", "autodiff", *args], cwd=package_root,
                          env=env, capture_output=True, text=True, timeout=120)


def test_help_prints_usage_and_exits_0_without_running_the_demo():
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m autodiff")
    for option in ("--quick", "--engine", "--no-timing"):
        assert option in done.stdout
    assert "Timing" not in done.stdout and "bitwise" not in done.stdout


def test_an_unknown_flag_exits_2_with_usage():
    done = _run("--no-such-flag")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "usage: python -m autodiff" in done.stderr
    assert "unrecognized arguments: --no-such-flag" in done.stderr


def test_a_bad_engine_exits_2():
    with pytest.raises(SystemExit) as stop:
        demo.parse_args(["--engine", "jax"])
    assert stop.value.code == 2


def test_version_flag():
    with pytest.raises(SystemExit) as stop:
        demo.parse_args(["--version"])
    assert stop.value.code == 0


def test_quick_run_on_both_engines_agrees(capsys):
    if autodiff.ENGINE != "compiled":
        pytest.fail("the compiled engine did not load")
    assert demo.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "engines agree bit for bit" in out
    assert "a chain of 4000 operations" in out
    assert " NO" not in out


def test_reference_engine_alone_without_timing(capsys):
    assert demo.main(["--engine", "reference", "--quick", "--no-timing"]) == 0
    out = capsys.readouterr().out
    assert "Timing" not in out
    assert "done (reference engine only)" in out
    assert "28.0" in out                       # the tutorial's d = a * (a + b)


def test_the_default_is_the_full_demo():
    args = demo.parse_args([])
    assert (args.engine, args.quick, args.timing) == ("both", False, True)
