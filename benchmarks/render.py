"""Rendering for the report: number formats, markdown tables and the PNG charts.

Charts need matplotlib; without it each chart function returns False and the report
simply has no picture for that workload.
"""
import math

import numpy as np

import workloads as W

def fmt_time(seconds, unit):
    scale = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}[unit]
    v = seconds * scale
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_seconds(s):
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.1f} ms"


def fmt_ratio(r):
    if r is None or not math.isfinite(r):
        return "–"
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


UNIT_LABEL = {"ns": "ns", "us": "µs", "ms": "ms", "s": "s"}

def timed_table(title, impls, results, unit, per, per_label, base="compiled: gradients"):
    """A markdown table: build, backward, total per ``per`` unit, ratios to floats/compiled."""
    floor = results.get("floats")
    ours = results.get(base)
    lines = [f"| implementation | build {UNIT_LABEL[unit]}/{per_label} | backward "
             f"{UNIT_LABEL[unit]}/{per_label} | total {UNIT_LABEL[unit]}/{per_label} | "
             f"÷ floats | ÷ compiled | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for impl in impls:
        t = results.get(impl.name)
        if t is None:
            continue
        p = per(impl)
        note = impl.note
        if impl.size:
            note = (note + "; " if note else "") + f"at {impl.size:,} ops"
        if t.compile is not None:
            note = (note + "; " if note else "") + f"compile {fmt_seconds(t.compile)}"
        if impl.fused:
            build, back = "–", "–"
        else:
            build = fmt_time(t.build / p, unit)
            back = fmt_time(t.backward / p, unit) if t.backward is not None else "–"
        total = t.total / p
        rf = total / floor_per(floor, per, impls) if floor else None
        rc = total / (ours.total / per(W.by_name(impls, base))) if ours else None
        lines.append(f"| {impl.name} | {build} | {back} | {fmt_time(total, unit)} | "
                     f"{fmt_ratio(rf)} | {fmt_ratio(rc)} | {note} |")
    return f"### {title}\n\n" + "\n".join(lines) + "\n"


def floor_per(floor_timing, per, impls):
    return floor_timing.total / per(W.by_name(impls, "floats"))


def bar_chart(path, title, names, values, xlabel):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(names) + 1.4))
    y = np.arange(len(names))
    colors = ["#2a7ab0" if n.startswith(("compiled", "autodiff", "tape", "replay")) else "#999999" if n == "floats"
              else "#e0a030" if n.startswith("reference") or n.startswith("tutorial")
              else "#c04040" for n in names]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:,.3g}", va="center", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def line_chart(path, title, series, xlabel, ylabel, logx=True):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True



def table(header, rows, align=None):
    """A markdown table: ``header`` a list of column titles, ``rows`` lists of cells; the
    first column left-aligned, the others right-aligned unless ``align`` says."""
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
