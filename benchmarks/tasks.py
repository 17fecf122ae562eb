"""A timed comparison of callables that each produce a checked result: the shape of the
"beyond the gradient" and "many points" workloads.

A ``Task`` collects rows: a name, a zero-argument call (what is timed), a check of the call's
result against an oracle, and a kind (``ours``, ``base`` — our own reference point for a
ratio, such as ``tape.value_and_grad`` —, ``floor`` or ``peer``).  ``add`` runs the call once:

* a planned method that does not exist yet (``AttributeError``, ``NotImplementedError``, or
  the ``TypeError`` a tape raises today for a function returning an array) leaves the row
  "not available", with the reason;
* a result that fails its check leaves the row "WRONG" (not timed, and the workload's
  target for it is missed);
* any other error leaves the row "failed".

``run`` then times every row that passed, interleaved (``timing.compare``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import timing

NOT_AVAILABLE = (AttributeError, NotImplementedError, TypeError)


@dataclass
class Row:
    name: str
    kind: str
    call: object = None
    note: str = ""
    status: str = "ok"              # ok | not available | WRONG | failed
    stat: timing.Stat | None = None
    units: float = 1                # per-unit figures divide by this (points, ops...)

    @property
    def seconds(self):
        return self.stat.best if self.stat else None

    @property
    def per_unit(self):
        return self.stat.best / self.units if self.stat else None


@dataclass
class Task:
    key: str
    title: str
    rows: list = field(default_factory=list)
    compile_s: dict = field(default_factory=dict)   # row name -> seconds to compile (JAX)
    setup_s: float | None = None                    # a one-off set-up cost (sparsity)
    ops: int | None = None                          # operations per point (long tapes)

    def add(self, name, make, check=None, kind="peer", note="", units=1):
        """Add a row.  ``make()`` builds and returns the zero-argument call to time (tape
        recording and peer compilation happen there, untimed); the call runs once and
        ``check(result)`` must not raise."""
        row = Row(name, kind, note=note, units=units)
        self.rows.append(row)
        try:
            call = make()
            result = call()
        except NOT_AVAILABLE as error:
            if kind == "peer":
                row.status, row.note = "failed", _join(note, _why(error))
            else:
                row.status, row.note = "not available", _join(note, "not available: " +
                                                              _why(error))
            return row
        except Exception as error:
            row.status, row.note = "failed", _join(note, "failed: " + _why(error))
            return row
        if check is not None:
            try:
                check(result)
            except Exception as error:
                row.status, row.note = "WRONG", _join(note, "WRONG: " + _why(error))
                print(f"  {self.key} {name}: WRONG {error}", flush=True)
                return row
        row.call = call
        return row

    def skip(self, name, why, kind="peer"):
        self.rows.append(Row(name, kind, note=why, status="not available"))

    def run(self, settings):
        calls = {row.name: row.call for row in self.rows if row.status == "ok"}
        failures = {}
        stats = timing.compare(calls, settings, failures)
        for row in self.rows:
            if row.name in stats:
                row.stat = stats[row.name]
            elif row.name in failures:
                row.status, row.note = "failed", _join(row.note, failures[row.name])
        print(f"  {self.key}: " + ", ".join(f"{r.name} {r.seconds * 1e6:,.1f} µs"
                                            for r in self.rows if r.stat), flush=True)
        return self

    def get(self, name):
        for row in self.rows:
            if row.name == name:
                return row
        return None

    def ratio(self, a, b):
        """Best time of row a over row b (None when either was not timed)."""
        ra, rb = self.get(a), self.get(b)
        if ra is None or rb is None or not ra.stat or not rb.stat:
            return None
        return ra.per_unit / rb.per_unit


def _why(error):
    return f"{type(error).__name__}: {str(error)[:90]}"


def _join(a, b):
    return f"{a}; {b}" if a else b


def check_close(want, rel=1e-12):
    """A check: the result (array-like, or a sparse matrix) equals ``want`` within ``rel``
    of the largest entry (componentwise differences are in the last bits)."""
    import numpy as np

    def check(got):
        got = dense(got)
        w = np.asarray(want, dtype=float)
        if got.shape != w.shape and got.size == w.size and w.ndim == 1:
            got = got.reshape(w.shape)          # a column vector (CasADi DM) for a vector
        if got.shape != w.shape:
            raise AssertionError(f"shape {got.shape}, expected {w.shape}")
        scale = max(float(np.max(np.abs(w))), 1e-300)
        err = float(np.max(np.abs(got - w))) / scale if w.size else 0.0
        if not err <= rel:
            raise AssertionError(f"relative error {err:.2e} > {rel:.0e}")
    return check


def dense(x):
    """A float64 ndarray from an array, a sparse matrix/array or a CasADi DM."""
    import numpy as np
    if hasattr(x, "toarray"):
        return np.asarray(x.toarray(), dtype=float)
    if hasattr(x, "full"):
        return np.asarray(x.full(), dtype=float)
    return np.asarray(x, dtype=float)
