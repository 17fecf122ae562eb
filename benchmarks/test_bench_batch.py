"""Issue 13, many points: each row of ``batch_bench``'s tasks, checked then timed.

The rows are checked when the task is built (``tasks.Task.add``): peers and the C loop
against the analytic partials, the batched tape bit for bit against single calls.  A row of
ours that is WRONG or failed fails; a method not written yet, a missing peer or a missing C
compiler is a skip with the reason.  Under ``--benchmark-disable`` (CI) the sizes are the
smoke sizes and each row runs once.
"""
import numpy as np
import pytest

import batch_bench as B
import workloads as W
from config import Config
from timing import Settings

pytest.importorskip("pytest_benchmark")

F_ROWS = ["C loop by hand", "NumPy, value only", "jax.jit(jax.vmap(jax.value_and_grad))",
          "torch vectorised", "autograd vectorised", "CasADi Function.map",
          "autodiff: Python loop over tape.value_and_grad",
          "autodiff: tape.vmap().value_and_grad, workers=1",
          "autodiff: tape.vmap().value_and_grad, workers=2"]
LONG_ROWS = ["autodiff: single-point replay (Python loop)",
             "autodiff: tape.vmap().value_and_grad, workers=1",
             "autodiff: tape.vmap().value_and_grad, workers=2"]


@pytest.fixture(scope="module")
def cfg(quick):
    return Config.for_mode("smoke" if quick else "full")


@pytest.fixture(scope="module")
def c_loop():
    try:
        return B.CLoop()
    except RuntimeError as error:
        return error


@pytest.fixture(scope="module")
def f_task(cfg, c_loop):
    return B.f_task(cfg.batch_points[-1], cfg,
                    None if isinstance(c_loop, Exception) else c_loop)


@pytest.fixture(scope="module")
def long_tasks(cfg):
    return {task.key.split()[1]: task for task in B.long_tasks(cfg)}


def usable(task, name):
    row = task.get(name)
    assert row is not None, f"{task.key} has no row {name!r}"
    if row.status == "WRONG" or (row.status == "failed" and row.kind != "peer"):
        pytest.fail(f"{name}: {row.note}")
    if row.status != "ok":
        pytest.skip(f"{name}: {row.note}")
    return row


def test_c_loop_matches_the_tutorial(c_loop):
    if isinstance(c_loop, Exception):
        pytest.skip(f"no C loop: {c_loop}")
    v, da, db = c_loop(np.array([W.F_A]), np.array([W.F_B]))
    assert v[0] == pytest.approx(W.tutorial_f(W.F_A, W.F_B), rel=1e-12)
    assert (da[0], db[0]) == pytest.approx((W.F_DA, W.F_DB), rel=1e-12)


@pytest.mark.parametrize("name", F_ROWS)
def test_batch_f_row(benchmark, f_task, name):
    row = usable(f_task, name)
    benchmark.group = f"many points: {f_task.title}"
    benchmark(row.call)


@pytest.mark.parametrize("key", ["mlp", "chain"])
@pytest.mark.parametrize("name", LONG_ROWS)
def test_batch_long_row(benchmark, long_tasks, key, name):
    row = usable(long_tasks[key], name)
    benchmark.group = f"many points: {long_tasks[key].title}"
    benchmark(row.call)


def test_batch_section_renders(f_task, long_tasks, cfg):
    """Timing, targets and the markdown come out for whatever rows can run today."""
    tasks = [f_task] + list(long_tasks.values())
    for task in tasks:
        task.run(Settings(min_sample=0.0005, repeats=1, budget=0.01, collect=False))
    r = {"f": [f_task], "long": list(long_tasks.values()), "c_note": None, "cores": 2}
    r["targets"] = B.targets(r, cfg)
    text = B.batch_markdown(r)
    assert "## Many points at once" in text and len(r["targets"]) >= 5
