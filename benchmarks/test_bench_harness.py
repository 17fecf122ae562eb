"""The harness itself: the configuration from the command line, and the timer's bookkeeping
(no figure is asserted: only that each callable is sampled, failures are kept apart, and
the checks of ``tasks.Task`` classify rows as the report expects)."""
import numpy as np
import pytest

import timing
from config import PEERS, WORKLOADS, Config, parse_args
from tasks import Task, check_close

TINY = timing.Settings(min_sample=0.0001, repeats=2, budget=0.01, collect=False)


def test_full_run_of_everything_writes_beside_the_benchmarks():
    cfg, _ = parse_args([])
    assert cfg.mode == "full" and cfg.workloads == WORKLOADS and cfg.peers == PEERS
    assert cfg.out.endswith("benchmarks") and not cfg.quick


def test_partial_quick_run_writes_elsewhere_in_report_order():
    cfg, _ = parse_args(["--quick", "--workloads", "batch,f", "--peers", "none"])
    assert cfg.workloads == ("f", "batch") and cfg.peers == ()
    assert cfg.quick and not cfg.out.endswith("benchmarks")
    assert cfg.timer.min_sample < Config().timer.min_sample


def test_unknown_workload_is_an_error():
    with pytest.raises(SystemExit):
        parse_args(["--workloads", "nope"])


def test_compare_samples_every_callable_and_keeps_failures_apart():
    calls = {"ok": 0}

    def ok():
        calls["ok"] += 1

    def bad():
        raise ValueError("broken")
    failures = {}
    stats = timing.compare({"ok": ok, "bad": bad}, TINY, failures)
    assert set(stats) == {"ok"} and "ValueError" in failures["bad"]
    assert stats["ok"].samples >= 2 and stats["ok"].best <= stats["ok"].median
    assert calls["ok"] >= 1 + stats["ok"].number * stats["ok"].samples


def test_task_rows_are_classified():
    task = Task("t", "a task")
    task.add("right", lambda: (lambda: np.ones(3)), check_close(np.ones(3)), kind="ours")
    task.add("wrong", lambda: (lambda: np.zeros(3)), check_close(np.ones(3)), kind="ours")
    task.add("missing", lambda: object().hvp, kind="ours")
    task.add("peer error", lambda: 1 / 0)
    assert [r.status for r in task.rows] == ["ok", "WRONG", "not available", "failed"]
    task.run(TINY)
    assert task.get("right").stat is not None and task.get("wrong").stat is None
    assert task.ratio("right", "wrong") is None
