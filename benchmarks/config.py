"""What a benchmark run does: one ``Config``, built from the command line or by hand.

    cfg = Config.for_mode("quick", workloads=("f", "beyond"), peers=("jax",))

A mode sets every size and the timer's settings: ``full`` (the figures of RESULTS.md),
``quick`` (small sizes, a minute or two: checks that it all works and gives rough ratios),
``smoke`` (tiny sizes, seconds: checks that every step and the rendering run).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field

from timing import Settings

HERE = os.path.dirname(os.path.abspath(__file__))

# Every workload of the report, in the order it runs and appears in RESULTS.md.
WORKLOADS = ("chain", "linearity", "f", "mlp", "dag", "linear", "memory", "replay", "neuron",
             "beyond", "batch")
PEERS = ("micrograd", "torch", "autograd", "jax", "casadi")
MODES = ("full", "quick", "smoke")


@dataclass
class Config:
    mode: str = "full"
    workloads: tuple = WORKLOADS
    peers: tuple = PEERS
    out: str = HERE
    timer: Settings = field(default_factory=Settings)
    # 1. chain, and the linearity curve
    chain_n: int = 10**5
    jax_chain_n: int = 1000
    curve: tuple = (10**3, 10**4, 10**5, 10**6)
    curve_reference_max: int = 10**5
    # 3. MLP, 4. DAG
    mlp_points: int = 50
    dag_depths: tuple = (10, 20, 30, 40, 50, 60)
    tutorial_dag_max: int = 16
    # 6. memory (fresh processes)
    memory_n: int = 10**6
    memory_n_slow: int = 10**5
    # 7. record and replay (issue 6)
    replay_chain_n: int = 10**5
    replay_scaling: tuple = (10**4, 10**5, 10**6)
    replay_casadi_n: int = 10**4
    # 9. beyond the gradient (issue 12)
    hvp_sizes: tuple = (10**3, 10**4)
    dense_hessian_n: int = 100
    sparse_hessian_n: int = 1000
    lsq_m: int = 200
    lsq_n: int = 4
    bratu_n: int = 1000
    # 10. many points (issue 13)
    batch_points: tuple = (10**5, 10**6)
    batch_loop_points: int = 10**4       # the Python loop over tape.value_and_grad, per point
    batch_long_points: int = 10**4       # the longer tapes (MLP loss, chain), per point-op
    batch_chain_n: int = 200
    batch_workers: tuple = (1, 2)

    @property
    def quick(self):
        """True for the small-size modes (quick and smoke)."""
        return self.mode != "full"

    @classmethod
    def for_mode(cls, mode="full", **overrides):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        values = dict(_MODE_SIZES[mode], mode=mode)
        values.update(overrides)
        return cls(**values)

    def wants(self, workload):
        return workload in self.workloads

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


_MODE_SIZES = {
    "full": {},
    "quick": dict(
        timer=Settings(min_sample=0.01, repeats=3, budget=0.5, compile_repeats=1),
        chain_n=10**4, jax_chain_n=300, curve=(10**3, 10**4, 10**5), curve_reference_max=10**4,
        mlp_points=10, dag_depths=(10, 20, 40, 60), tutorial_dag_max=12,
        memory_n=10**5, memory_n_slow=10**4,
        replay_chain_n=10**4, replay_scaling=(10**3, 10**4, 10**5), replay_casadi_n=2000,
        hvp_sizes=(10**3,), dense_hessian_n=30, sparse_hessian_n=200, lsq_m=50, bratu_n=200,
        batch_points=(10**4,), batch_loop_points=2000, batch_long_points=1000,
        batch_chain_n=100),
    "smoke": dict(
        timer=Settings(min_sample=0.001, repeats=2, budget=0.1, compile_repeats=1),
        chain_n=500, jax_chain_n=50, curve=(100, 500), curve_reference_max=100,
        mlp_points=2, dag_depths=(10, 60), tutorial_dag_max=10,
        memory_n=2000, memory_n_slow=500,
        replay_chain_n=2000, replay_scaling=(1000, 5000), replay_casadi_n=1000,
        hvp_sizes=(100,), dense_hessian_n=10, sparse_hessian_n=50, lsq_m=20, bratu_n=50,
        batch_points=(1000,), batch_loop_points=200, batch_long_points=100,
        batch_chain_n=50),
}


def parse_args(argv=None):
    """(Config, the parsed namespace) from the command line."""
    parser = argparse.ArgumentParser(
        description="Run the benchmark workloads and write RESULTS.md and the charts.")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--quick", dest="mode", action="store_const", const="quick",
                       help="small sizes, short samples (minutes, not tens of minutes)")
    modes.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                       help="tiny sizes: checks that every step and the rendering run")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of: " + ", ".join(WORKLOADS))
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="comma-separated peers to run when installed (none: 'none'); "
                             "of: " + ", ".join(PEERS))
    parser.add_argument("--out", default=None,
                        help="directory for RESULTS.md and the PNGs (default: benchmarks/ "
                             "for a full run of every workload; a quick, smoke or partial "
                             "run writes to a temporary directory, never over the committed "
                             "results)")
    parser.add_argument("--memory-child", nargs=3, metavar=("IMPL", "N", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workloads = _names(args.workloads, WORKLOADS, parser, "workload")
    peers = () if args.peers.strip() == "none" else _names(args.peers, PEERS, parser, "peer")
    mode = args.mode or "full"
    out = args.out
    if out is None:
        if mode == "full" and workloads == WORKLOADS:
            out = HERE
        else:
            import tempfile
            out = os.path.join(tempfile.gettempdir(), f"autodiff-bench-{mode}")
    cfg = Config.for_mode(mode, workloads=workloads, peers=peers, out=out)
    return cfg, args


def _names(text, allowed, parser, what):
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown:
        parser.error(f"unknown {what}(s) {unknown}; choose from {', '.join(allowed)}")
    return tuple(n for n in allowed if n in names)      # the report's order
