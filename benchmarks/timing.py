"""The one timer of the benchmarks: interleaved rounds, min and median, ratios from one run.

Every figure in the report comes from here.  The implementations compared in one table are
first calibrated (a warm-up call, discarded, sets how many calls make one sample of at least
``Settings.min_sample`` seconds), then sampled in rounds, round-robin: round r takes sample r
of every implementation before any takes sample r + 1, so all of them see the same machine
load and the ratios between them come from the same run.  ``gc.collect()`` runs before each
sample; the cyclic GC stays enabled (building graphs of GC-tracked objects pays for it).

Two samplers share that loop:

* ``compare({name: fn})``: seconds per call of plain callables (``Stat``: best, median);
* ``measure_impls(impls)``: graph workloads (``workloads.Impl``), with build and backward
  timed apart (``Timing``).

A callable that raises while being sampled drops out of the comparison with its error kept
(``failures``); it never stops the others.
"""
from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    """How long to time: ``min_sample`` seconds per sample at least, at most ``repeats``
    samples, about ``budget`` seconds per implementation in all."""
    min_sample: float = 0.1
    repeats: int = 7
    budget: float = 5.0
    compile_repeats: int = 2        # jitted peers: fresh compiles timed, the best kept
    collect: bool = True            # gc.collect() before each sample (tests turn it off:
                                    # with JAX and torch loaded it costs ~0.1 s a time)


@dataclass
class Stat:
    """Seconds per call of one callable: the best and the median sample."""
    best: float
    median: float
    number: int                     # calls per sample
    samples: int

    def per(self, units):
        """The best time divided by ``units`` (points, ops...)."""
        return self.best / units


@dataclass
class Timing:
    """Seconds per call of a graph workload: build, backward, total = build + backward."""
    build: float
    backward: float | None
    number: int
    samples: int
    compile: float | None = None
    total: float = field(init=False)

    def __post_init__(self):
        self.total = self.build + (self.backward or 0.0)


def ratio(a, b):
    """a / b for two Stats, Timings or floats (None if either is missing)."""
    if a is None or b is None:
        return None
    a = getattr(a, "best", getattr(a, "total", a))
    b = getattr(b, "best", getattr(b, "total", b))
    return a / b if b else None


def plan(fn, settings):
    """Warm up ``fn`` once; (calls per sample, samples, seconds of the warm-up call)."""
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(math.ceil(settings.min_sample / one)))
    samples = int(max(2, min(settings.repeats, settings.budget // max(one * number, 1e-9))))
    return number, samples, one


def rounds(samplers, plans, failures, collect=True):
    """Interleaved rounds: {name: [sample, ...]}; ``samplers[name](number)`` takes one sample.
    A sampler that raises is dropped, its error stored in ``failures[name]``."""
    runs = {name: [] for name in samplers}
    for r in range(max((p[1] for p in plans.values()), default=0)):
        for name, sample in samplers.items():
            number, samples = plans[name][:2]
            if r < samples and name not in failures:
                if collect:
                    gc.collect()
                try:
                    runs[name].append(sample(number))
                except Exception as error:      # reported, not fatal
                    failures[name] = f"{type(error).__name__}: {str(error)[:100]}"
                    print(f"  {name}: FAILED {error!r}", flush=True)
    return runs


def compare(fns, settings, failures=None):
    """{name: Stat} for callables taking no argument, sampled in interleaved rounds."""
    failures = {} if failures is None else failures
    plans = {}
    for name, fn in fns.items():
        try:
            plans[name] = plan(fn, settings)
        except Exception as error:
            failures[name] = f"{type(error).__name__}: {str(error)[:100]}"
            print(f"  {name}: FAILED {error!r}", flush=True)

    def sampler(fn):
        def sample(number):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            return (time.perf_counter() - t0) / number
        return sample
    runs = rounds({name: sampler(fns[name]) for name in plans}, plans, failures,
                  settings.collect)
    return {name: Stat(min(rs), statistics.median(rs), plans[name][0], len(rs))
            for name, rs in runs.items() if rs and name not in failures}


def time_one(fn, settings):
    """The Stat of one callable (no comparison: prefer ``compare`` for ratios)."""
    return compare({"fn": fn}, settings)["fn"]


# --------------------------------------------------------------------------------------
# Graph workloads: build and backward apart.
# --------------------------------------------------------------------------------------

def _graph_sample(impl, number, apart):
    """(build, backward, build + backward) seconds per call for one sample.

    Large graphs (``apart``: a call takes a millisecond or more): ``number`` builds, then
    the backward pass on each, timed apart; freeing is not timed.  Small graphs: a loop of
    builds, then a loop of build + backward, each graph dropped before the next (keeping
    thousands alive would make the GC of GC-tracked peers scan them all); backward is then
    the difference, freeing included in both loops.
    """
    if apart or impl.backward is None:
        t0 = time.perf_counter()
        states = [impl.build() for _ in range(number)]
        t1 = time.perf_counter()
        if impl.backward is not None:
            for s in states:
                impl.backward(s)
        t2 = time.perf_counter()
        del states
        gc.collect()
        return (t1 - t0) / number, (t2 - t1) / number, None
    build, backward = impl.build, impl.backward
    t0 = time.perf_counter()
    for _ in range(number):
        build()
    t1 = time.perf_counter()
    for _ in range(number):
        backward(build())
    t2 = time.perf_counter()
    return (t1 - t0) / number, None, (t2 - t1) / number


def measure_impls(impls, settings, apart=None):
    """{name: Timing} of ``workloads.Impl``s, interleaved.  ``apart=True`` times build and
    backward apart whatever the graph size.  A failing implementation gets a note."""
    plans, compiles = {}, {}
    for impl in impls:
        if impl.compile is not None:
            times = []
            for _ in range(settings.compile_repeats):
                t0 = time.perf_counter()
                impl.compile()
                times.append(time.perf_counter() - t0)
            compiles[impl.name] = min(times)
        number, samples, one = plan(impl.run, settings)
        plans[impl.name] = (number, samples, one >= 1e-3 if apart is None else apart)
    failures = {}
    runs = rounds({impl.name: (lambda number, impl=impl:
                               _graph_sample(impl, number, plans[impl.name][2]))
                   for impl in impls}, plans, failures, settings.collect)
    out = {}
    for impl in impls:
        if impl.name in failures:
            impl.note = (impl.note + "; " if impl.note else "") + \
                f"failed: {failures[impl.name][:80]}"
            continue
        rs = runs[impl.name]
        build = min(r[0] for r in rs)
        if impl.backward is None:
            backward = None
        elif rs[0][2] is None:                       # timed apart
            backward = min(r[1] for r in rs)
        else:                                        # min(build + backward) - min(build)
            backward = max(min(r[2] for r in rs) - build, 0.0)
        out[impl.name] = Timing(build, backward, plans[impl.name][0], len(rs),
                                compiles.get(impl.name))
    return out
