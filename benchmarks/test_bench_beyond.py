"""Issue 12, beyond the gradient: each row of ``beyond_bench``'s tasks, checked then timed.

The rows are checked against analytic derivatives when the task is built (``tasks.Task.add``);
here a row that is WRONG or failed on our side fails, a planned method that does not exist
yet or a missing peer is a skip with the reason.  Under ``--benchmark-disable`` (CI) the sizes
are the smoke sizes and each row runs once.
"""
import pytest

import beyond_bench as B
from config import Config
from timing import Settings

pytest.importorskip("pytest_benchmark")

OURS_AND_BASE = {
    "hvp": ["autodiff: tape.hvp", "autodiff: tape.value_and_grad"],
    "hessian": ["autodiff: tape.hessian", "autodiff: tape.value_and_grad"],
    "sparse hessian": ["autodiff: tape.sparse_hessian", "autodiff: tape.value_and_grad"],
    "jacobian": ["autodiff: tape.jacobian", "autodiff: one tape per row"],
    "sparse jacobian": ["autodiff: tape.sparse_jacobian", "autodiff: tape.vjp",
                        "autodiff: tape.jacobian (dense)"],
}
PEERS = {
    "hvp": ["jax.jit jvp(grad)", "jax.jit value_and_grad", "torch.autograd.functional.hvp",
            "autograd hessian_vector_product", "CasADi SX jtimes"],
    "hessian": ["jax.jit(jax.hessian)", "CasADi SX hessian"],
    "sparse hessian": ["CasADi SX hessian"],
    "jacobian": ["jax.jit(jax.jacfwd)", "CasADi SX jacobian"],
    "sparse jacobian": ["CasADi SX jacobian", "jax.jit(jax.jacfwd)"],
}
CASES = [(k, n) for k, names in OURS_AND_BASE.items() for n in names] + \
        [(k, n) for k, names in PEERS.items() for n in names]


@pytest.fixture(scope="module")
def cfg(quick):
    return Config.for_mode("smoke" if quick else "full")


@pytest.fixture(scope="module")
def tasks(cfg):
    return {"hvp": B.hvp_task(cfg.hvp_sizes[-1]),
            "hessian": B.dense_hessian_task(cfg.dense_hessian_n),
            "sparse hessian": B.sparse_hessian_task(cfg.sparse_hessian_n),
            "jacobian": B.jacobian_task(cfg.lsq_m, cfg.lsq_n),
            "sparse jacobian": B.sparse_jacobian_task(cfg.bratu_n)}


def _have_jax():
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def usable(task, name):
    """The row, checked; a skip for rows that cannot run here, a failure for wrong ones."""
    row = task.get(name)
    if row is None and name.startswith("jax") and not _have_jax():
        pytest.skip(f"{name}: JAX is not installed (its rows are made only when it is)")
    assert row is not None, f"{task.key} has no row {name!r}"
    if row.status == "WRONG" or (row.status == "failed" and row.kind != "peer"):
        pytest.fail(f"{name}: {row.note}")
    if row.status != "ok":
        pytest.skip(f"{name}: {row.note}")
    return row


@pytest.mark.parametrize("key,name", CASES, ids=[f"{k}: {n}" for k, n in CASES])
def test_beyond_row(benchmark, tasks, key, name):
    row = usable(tasks[key], name)
    benchmark.group = f"beyond the gradient: {tasks[key].title}"
    benchmark(row.call)


def test_beyond_section_renders(tasks):
    """Timing, targets and the markdown come out for whatever rows can run today."""
    for task in tasks.values():
        task.run(Settings(min_sample=0.0005, repeats=1, budget=0.01, collect=False))
    r = {"tasks": list(tasks.values())}
    r["targets"] = B.targets(r)
    text = B.beyond_markdown(r)
    assert "## Beyond the gradient" in text and len(r["targets"]) >= 8
