"""``python -m autodiff``: the tutorial's examples on both engines, their agreement, a timing.

Exits with status 1 if the compiled engine is needed but not loaded, or the engines disagree;
2 on a bad command line.  ``python -m autodiff --help`` lists the options.
"""
import argparse
import struct
import sys
import time

import numpy as np

import autodiff
import autodiff.reference


def _bits(x):
    return struct.pack("<d", x)


def example_product(ad):
    """d = a * (a + b) at a=4, b=3: the tutorial's first example."""
    a, b = ad.Var(4.0), ad.Var(3.0)
    d = a * (a + b)
    g = ad.get_gradients(d)
    return {"d": d.value, "dd/da": g[a], "dd/db": g[b]}


def example_rational(ad):
    """f(a, b) = (a/b - a) * (b/a + a + b) * (a - b) at (230.3, 33.2)."""
    a, b = ad.Var(230.3), ad.Var(33.2)
    y = (a / b - a) * (b / a + a + b) * (a - b)
    g = ad.get_gradients(y)
    return {"f": y.value, "df/da": g[a], "df/db": g[b]}


def example_transcendental(ad):
    """log(f * f) * c with f = sin(a*b) + exp(c - a/b) at (43, 3, 2)."""
    a, b, c = ad.Var(43.0), ad.Var(3.0), ad.Var(2.0)
    f = ad.Sin(a * b) + ad.Exp(c - (a / b))
    y = ad.Log(f * f) * c
    g = ad.get_gradients(y)
    return {"y": y.value, "dy/da": g[a], "dy/db": g[b], "dy/dc": g[c]}


def example_linear_layer(ad, steps=5):
    """The tutorial's single linear layer trained by gradient descent: the losses."""
    rng = np.random.RandomState(0)
    x = ad.to_var(rng.random_sample(50))
    y_true = ad.to_var(rng.random_sample(10))
    weights = ad.to_var(rng.random_sample((50, 10)))
    losses = {}
    for step in range(steps):
        y_pred = np.dot(x, weights)
        loss = np.sum((y_true - y_pred) * (y_true - y_pred))
        losses[f"loss[{step}]"] = loss.value
        grads = ad.gradients(loss, weights)
        for w, g in zip(weights.flat, grads.flat):
            w.value -= 0.001 * g
    return losses


EXAMPLES = [example_product, example_rational, example_transcendental, example_linear_layer]

# The figures the tutorial printed (from its own engine), for comparison.
TUTORIAL = {"d": 28.0, "dd/da": 11.0, "df/da": -153284.83150602411,
            "df/db": 3815.0389441500993, "dy/da": 60.85353612046653,
            "dy/db": 872.2331479536114, "dy/dc": -3.2853671032530305}


def chain(ad, n):
    """A chain of n operations mixing *, +, sin, exp and log; returns (leaf, root)."""
    x0 = ad.Var(0.5)
    x = x0
    for i in range(n // 4):
        x = ad.log(ad.exp(ad.sin(x) * 0.5) + 1.0)
    return x0, x


def time_engine(ad, n):
    t0 = time.perf_counter()
    x0, root = chain(ad, n)
    t1 = time.perf_counter()
    ad.gradients(root, [x0])
    t2 = time.perf_counter()
    return (t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m autodiff",
        description="Run the tutorial's examples on the compiled and the reference engine, "
                    "check that they agree bit for bit, and time a chain of operations.",
        epilog="Exit status: 0 if all is well, 1 if the compiled engine is needed and not "
               "loaded or the engines disagree, 2 on a bad command line.")
    parser.add_argument("--engine", choices=("both", "compiled", "reference"), default="both",
                        help="which engine runs the examples (default: both, compared bit "
                             "for bit)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: fewer training steps and a 4000-operation timing "
                             "chain instead of 40000")
    parser.add_argument("--no-timing", dest="timing", action="store_false",
                        help="skip the timing")
    parser.add_argument("--version", action="version",
                        version=f"autodiff {autodiff.__version__} ({autodiff.ENGINE} engine)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    engines = {"compiled": autodiff, "reference": autodiff.reference}
    if args.engine != "both":
        engines = {args.engine: engines[args.engine]}
    print(f"autodiff {autodiff.__version__}: import autodiff loaded the {autodiff.ENGINE} engine")
    ok = True
    if "compiled" in engines and autodiff.ENGINE != "compiled":
        ok = False
        print("  the compiled engine is not loaded: build and install it (see README)")
    steps = 2 if args.quick else 5
    names = list(engines)
    for example in EXAMPLES:
        print(f"\n{example.__doc__.splitlines()[0]}")
        kwargs = {"steps": steps} if example is example_linear_layer else {}
        results = {name: example(ad, **kwargs) for name, ad in engines.items()}
        header = "".join(f" {name:>24}" for name in names)
        print(f"  {'':10}{header} {'tutorial':>24}  agree")
        for key in results[names[0]]:
            values = [results[name][key] for name in names]
            same = all(_bits(v) == _bits(values[0]) for v in values)
            ok &= same
            t = TUTORIAL.get(key)
            agree = ("bitwise" if same else "NO") if len(values) > 1 else "-"
            row = "".join(f" {v!r:>24}" for v in values)
            print(f"  {key:10}{row} {'' if t is None else repr(t):>24}  {agree}")
    if args.timing:
        n = 4_000 if args.quick else 40_000
        print(f"\nTiming: a chain of {n} operations (sin, exp, log, *, +), ns per operation")
        times = {name: time_engine(ad, n if name == "compiled" else n // 10)
                 for name, ad in engines.items()}
        for name, (build, backward) in times.items():
            print(f"  {name:10} build {build:9.1f}   gradients {backward:9.1f}")
        if len(times) == 2:
            cb, cg = times["compiled"]
            rb, rg = times["reference"]
            print(f"  compiled is {rb / cb:.0f}x faster to build, "
                  f"{rg / cg:.0f}x faster to differentiate")
    if not ok:
        print("\nFAILED: see above")
    elif len(engines) == 2:
        print("\nengines agree bit for bit")
    else:
        print(f"\ndone ({names[0]} engine only)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
