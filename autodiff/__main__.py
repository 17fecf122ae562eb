"""``python -m autodiff``: the tutorial's examples on both engines, their agreement, a timing.

Exits with status 1 if the compiled engine is not loaded or the engines disagree.
"""
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


def main():
    engines = {"compiled": autodiff, "reference": autodiff.reference}
    print(f"autodiff: import autodiff loaded the {autodiff.ENGINE} engine")
    ok = autodiff.ENGINE == "compiled"
    if not ok:
        print("  the compiled engine is not loaded: build and install it (see README)")
    for example in EXAMPLES:
        print(f"\n{example.__doc__.splitlines()[0]}")
        results = {name: example(ad) for name, ad in engines.items()}
        print(f"  {'':10} {'compiled':>24} {'reference':>24} {'tutorial':>24}  agree")
        for key in results["reference"]:
            c, r = results["compiled"][key], results["reference"][key]
            same = _bits(c) == _bits(r)
            ok &= same
            t = TUTORIAL.get(key)
            print(f"  {key:10} {c!r:>24} {r!r:>24} {'' if t is None else repr(t):>24}"
                  f"  {'bitwise' if same else 'NO'}")
    n = 40_000
    print(f"\nTiming: a chain of {n} operations (sin, exp, log, *, +), ns per operation")
    times = {name: time_engine(ad, n if name == "compiled" else n // 10)
             for name, ad in engines.items()}
    for name, (build, backward) in times.items():
        print(f"  {name:10} build {build:9.1f}   gradients {backward:9.1f}")
    cb, cg = times["compiled"]
    rb, rg = times["reference"]
    print(f"  compiled is {rb / cb:.0f}x faster to build, {rg / cg:.0f}x faster to differentiate")
    print("\nengines agree bit for bit" if ok else "\nFAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
