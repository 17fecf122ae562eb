"""Special functions of the reference engine, operation for operation as in ``_special.pxd``.

The compiled engine has the same algorithms in C (``autodiff/_special.pxd``).  Both use only
IEEE arithmetic (+ - * /, which round alike in C built with ``-ffp-contract=off`` and in
Python) and C library functions that Python's ``math`` module calls directly (``log``,
``log1p``, ``exp``, ``sin``, ``tan``, ``erf``, ``erfc``, ``floor``), in the same order, so
both engines get the same doubles.  The one exception is ``lgamma``: ``math.lgamma`` is
CPython's own algorithm, not the C library's, so the reference engine calls the C
library's ``lgamma`` through ``ctypes`` (the same function the compiled engine links).

``digamma`` and ``trigamma`` have no C library function; they are written here:

- ``digamma(x)``: for x >= 10 the asymptotic series (9 terms); for 1 <= x < 2 the Taylor
  series (41 terms) around the positive zero x0 = 1.4616321449683622 (so its relative
  error stays small at the zero); for 2 <= x < 10 the recurrence up from [1, 2); for
  0 < x < 1, digamma(x + 1) - 1/x; for x < 0 the reflection
  digamma(1 - x) - pi / tan(pi x), with pi x reduced exactly to [-pi/2, pi/2].
  Measured against ``scipy.special.digamma`` (``python -m autodiff._special``) on 10^5
  uniform points in [-50, 50], 10^5 in [0, 12] and 10^5 log-uniform in [1e-300, 1e300]:
  for x > 0 at most 3 ulp (median 0; against mpmath at 120 bits, at most 2 ulp).  For
  x < 0 the median is 0 ulp, but near the zeros of digamma between the poles the
  reflection cancels and the relative error grows as the value goes to 0: against mpmath
  on 4000 points in [-50, 0], median 1 ulp, 99% within 20 ulp, at most ~6000 ulp (SciPy's
  own: 75 and ~6300 ulp); the absolute error there stays below 1e-14 * max(1, |psi|).
  Near the poles ours is within 1 ulp of mpmath where SciPy's loses up to 1e-11.
  trigamma: at most 8 ulp from ``scipy.special.polygamma(1, x)`` on the same samples.
- ``trigamma(x)``: for x >= 10 the asymptotic series (9 terms), below it the recurrence
  trigamma(x) = trigamma(x + 1) + 1/x^2, and for x < 0 the reflection
  pi^2 / sin^2(pi x) - trigamma(1 - x).
- ``tetragamma(x)`` = polygamma(2, x), the second derivative of digamma: for x >= 10 the
  asymptotic series -1/x^2 - 1/x^3 - sum_k (2k + 1) B_2k / x^(2k+2) (9 terms), below it the
  recurrence tetragamma(x) = tetragamma(x + 1) - 2/x^3, and for x < 0 the reflection
  tetragamma(1 - x) - 2 pi^3 cos(pi x) / sin^3(pi x) (pi x reduced exactly, as above).
  Measured against ``scipy.special.polygamma(2, x)`` by ``python -m autodiff._special``
  (figures in the ``digamma`` row of the primitive table).

Conventions at poles: tetragamma(+0) = -inf, tetragamma(-0) = +inf, nan at -1, -2, ... (the
two sides go to -inf and +inf, as for digamma), tetragamma(inf) = -0.0, tetragamma(-inf) = nan.
digamma(+0) = -inf, digamma(-0) = +inf (the side the zero's sign
picks, as C's lgamma and tgamma do), digamma(-n) = nan for integers n >= 1 (the two sides
go to +inf and -inf), digamma(inf) = inf, digamma(-inf) = nan; trigamma is +inf at every
non-positive integer (both sides go to +inf), trigamma(inf) = 0, trigamma(-inf) = nan.
"""
import ctypes
import ctypes.util
import math
import sys

inf, nan = math.inf, math.nan

PI = 3.141592653589793
PI_SQUARED = 9.869604401089358
TWO_PI_CUBED = 62.01255336059964       # 2 pi^3
SQRT1_2 = 0.7071067811865476            # 1 / sqrt(2)
TWO_OVER_SQRT_PI = 1.1283791670955126   # 2 / sqrt(pi): erf'(0)
INV_SQRT_2PI = 0.3989422804014327       # 1 / sqrt(2 pi): the normal density at 0
HALF_LOG_2PI = 0.9189385332046728       # log(2 pi) / 2
DBL_EPSILON = 2.220446049250313e-16

# --------------------------------------------------------------------------------------
# lgamma: the C library's, through ctypes (math.lgamma is CPython's own).
# --------------------------------------------------------------------------------------


def div(a, b):
    """a / b with C's (IEEE) result for a zero divisor, where Python raises.

    Shared by the Python rules (reference.py) and second-order rules (_second.py)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return nan
        return math.copysign(inf, a) * math.copysign(1.0, b)


def _c_library_lgamma():
    """The C library's ``double lgamma(double)``, the function the compiled engine links.

    Windows: the Universal CRT (``ucrtbase.dll``), which extensions built with MSVC use.
    Elsewhere: the symbol the running process already resolves (``dlopen(NULL)``: the
    interpreter's libm, which the extension's ``-lm`` resolves to as well), else libm by
    name.
    """
    if sys.platform == "win32":
        candidates = ["ucrtbase"]
    else:
        candidates = [None, ctypes.util.find_library("m")]
    for name in candidates:
        try:
            function = ctypes.CDLL(name).lgamma
        except (OSError, AttributeError, TypeError):
            continue
        function.restype, function.argtypes = ctypes.c_double, [ctypes.c_double]
        return function
    raise ImportError("autodiff.reference: the C library's lgamma cannot be loaded")


lgamma = _c_library_lgamma()

# --------------------------------------------------------------------------------------
# digamma and trigamma
# --------------------------------------------------------------------------------------

# The positive zero of digamma, rounded to a double, and the Taylor coefficients of
# digamma around that double: c[0] = digamma(ROOT), c[n] = (-1)**(n+1) zeta(n+1, ROOT)
# (computed with mpmath at 300 bits).
ROOT = 1.4616321449683622
ROOT_SERIES = (
    -9.241265521729427e-17, 0.9676722454476212, -0.4427631689835922, 0.2584997609556511,
    -0.16394270544240658, 0.10782405069126241, -0.07219956125645474, 0.04880428816414313,
    -0.033161126474847376, 0.022597648232218118, -0.01542476590494897, 0.010538791616612184,
    -0.007204534386356875, 0.004926781395729858, -0.0033698016554393312, 0.00230512632673493,
    -0.001576936771430199, 0.0010788252019162978, -0.000738070938996006, 0.0005049532658346027,
    -0.0003454680251063082, 0.00023635601564027086, -0.00016170622091974827,
    0.00011063372768747428, -7.569179582195078e-05, 5.17857579522209e-05,
    -3.543007094765967e-05, 2.4240066118601362e-05, -1.6584242271854165e-05,
    1.1346384584663872e-05, -7.76281766846211e-06, 5.3110609208898746e-06,
    -3.6336507898010536e-06, 2.4860227331295433e-06, -1.7008538854332646e-06,
    1.163667536354887e-06, -7.96142543124199e-07, 5.446941930669458e-07,
    -3.726616128343832e-07, 2.549626552021561e-07, -1.7443695117727793e-07,
)
# B_2k / (2k), k = 1..9: digamma(x) ~ log(x) - 1/(2x) - sum_k B_2k / (2k x^2k).
DIGAMMA_ASYMPTOTIC = (
    0.08333333333333333, -0.008333333333333333, 0.003968253968253968, -0.004166666666666667,
    0.007575757575757576, -0.021092796092796094, 0.08333333333333333, -0.4432598039215686,
    3.0539543302701198,
)
# B_2k, k = 1..9: trigamma(x) ~ 1/x + 1/(2x^2) + sum_k B_2k / x^(2k+1).
TRIGAMMA_ASYMPTOTIC = (
    0.16666666666666666, -0.03333333333333333, 0.023809523809523808, -0.03333333333333333,
    0.07575757575757576, -0.2531135531135531, 1.1666666666666667, -7.092156862745098,
    54.971177944862156,
)
# (2k + 1) B_2k, k = 1..9: tetragamma(x) ~ -1/x^2 - 1/x^3 - sum_k (2k + 1) B_2k / x^(2k+2).
TETRAGAMMA_ASYMPTOTIC = (
    0.5, -0.16666666666666666, 0.16666666666666666, -0.3, 0.8333333333333334,
    -3.2904761904761903, 17.5, -120.56666666666666, 1044.452380952381,
)


def _horner(coefficients, z):
    """sum(c[k] z**k), from the highest k down (as the C loop does)."""
    p = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        p = p * z + c
    return p


def _reduce(x):
    """x minus a nearest integer, exactly, in [-0.5, 0.5] (x finite)."""
    if -0.5 <= x <= 0.5:
        return x                        # x - floor(x) would round for -0.5 < x < 0
    r = x - math.floor(x)               # in [0, 1), exact for |x| > 0.5
    return r if r <= 0.5 else r - 1.0   # exact (Sterbenz)


def _digamma_positive(x):
    """digamma(x) for finite x > 0."""
    if x >= 10.0:
        z = 1.0 / (x * x)               # 0.0 once x * x overflows
        return (math.log(x) - 0.5 / x) - _horner(DIGAMMA_ASYMPTOTIC, z) * z
    if x < 1.0:                         # 1 / x is inf for x < 2**-1024 (no exception)
        return _digamma_positive(x + 1.0) - 1.0 / x
    acc = 0.0
    while x >= 2.0:                     # x - 1 is exact here
        x = x - 1.0
        acc = acc + 1.0 / x
    return _horner(ROOT_SERIES, x - ROOT) + acc


def digamma(x):
    """The digamma function, psi(x) = d/dx log|Gamma(x)| (conventions: module docstring)."""
    if x != x:
        return nan
    if x > 0.0:
        return inf if x == inf else _digamma_positive(x)
    if x == 0.0:
        return math.copysign(inf, -x)
    if x == -inf or x == math.floor(x):
        return nan
    return _digamma_positive(1.0 - x) - PI / math.tan(PI * _reduce(x))


def _trigamma_positive(x):
    """trigamma(x) for finite x > 0."""
    acc = 0.0
    while x < 10.0:
        xx = x * x
        acc = acc + (1.0 / xx if xx != 0.0 else inf)
        x = x + 1.0
    w = 1.0 / x
    z = w * w
    return acc + ((w + 0.5 * z) + w * z * _horner(TRIGAMMA_ASYMPTOTIC, z))


def trigamma(x):
    """The trigamma function, d/dx digamma(x) (conventions: module docstring)."""
    if x != x:
        return nan
    if x > 0.0:
        return 0.0 if x == inf else _trigamma_positive(x)
    if x == -inf:
        return nan
    if x == math.floor(x):
        return inf                      # every non-positive integer, and -0.0
    s = math.sin(PI * _reduce(x))
    ss = s * s                          # 0.0 for |x| < 1e-162: then inf, as in C
    return (PI_SQUARED / ss if ss != 0.0 else inf) - _trigamma_positive(1.0 - x)


def _tetragamma_positive(x):
    """tetragamma(x) for x > 0 (x = inf gives -0.0)."""
    acc = 0.0
    while x < 10.0:
        xxx = x * x * x
        acc = acc + (2.0 / xxx if xxx != 0.0 else inf)  # C: 2 / 0 = inf
        x = x + 1.0
    w = 1.0 / x
    z = w * w
    return -(acc + ((z + w * z) + z * z * _horner(TETRAGAMMA_ASYMPTOTIC, z)))


def tetragamma(x):
    """polygamma(2, x), d/dx trigamma(x) (conventions: module docstring)."""
    if x != x:
        return nan
    if x > 0.0:
        return _tetragamma_positive(x)
    if x == 0.0:
        return math.copysign(inf, -x)
    if x == -inf or x == math.floor(x):
        return nan
    r = _reduce(x)
    s = math.sin(PI * r)
    c = math.sin(PI * (0.5 - abs(r)))   # cos(pi r) > 0, accurate near |r| = 1/2 too
    sss = s * s * s
    # c / sss: sss is 0.0 or -0.0 only for |x| < 1e-108 (then +-inf, as in C)
    return _tetragamma_positive(1.0 - x) - (TWO_PI_CUBED * c / sss if sss != 0.0
                                            else math.copysign(inf, sss))

# --------------------------------------------------------------------------------------
# The normal distribution function and its logarithm
# --------------------------------------------------------------------------------------


def ndtr(a):
    """The standard normal distribution function, from the C library's erf and erfc."""
    x = a * SQRT1_2
    z = abs(x)
    if z < SQRT1_2:
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(z)
    return 1.0 - y if x > 0.0 else y


def normal_density(x):
    """exp(-x^2 / 2) / sqrt(2 pi): the derivative of ndtr."""
    return INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _log_ndtr_series(a):
    """(log ndtr(a), S) for a < -20, from ndtr(a) = pdf(a) / (-a) * S, with the asymptotic
    series S = 1 - 1/a^2 + 3/a^4 - 15/a^6 + ... summed until it stops changing."""
    z = 1.0 / (a * a)
    total, term, odd, last = 1.0, 1.0, -1.0, 0.0
    while abs(last - total) > DBL_EPSILON:
        last = total
        odd = odd + 2.0
        term = term * (-odd * z)
        total = total + term
    return ((-0.5 * a * a - math.log(-a)) - HALF_LOG_2PI) + math.log(total), total


def log_ndtr(x):
    """log(ndtr(x)), accurate in the far left tail: log(erfc) down to x = -20, the
    asymptotic series below (where erfc would underflow)."""
    if x < -20.0:
        return _log_ndtr_series(x)[0]
    t = x * SQRT1_2
    if x < -1.0:
        return math.log(0.5 * math.erfc(-t))
    return math.log1p(-0.5 * math.erfc(t))


def log_ndtr_derivative(x):
    """pdf(x) / ndtr(x); below -20, -x / S (the same series as log_ndtr)."""
    if x < -20.0:
        return -x / _log_ndtr_series(x)[1]
    return normal_density(x) / ndtr(x)


def log_ndtr_second(x, d):
    """The second derivative of log_ndtr at x, given its first derivative d there.

    -d (x + d) for x >= -20.  Below -20, where x + d cancels (d ~ -x), from the series:
    with d = -x / S and S = 1 + U / x^2, U = -1 + 3/x^2 - 15/x^4 + ..., the second
    derivative is x^2 (S - 1) / S^2 = U / S^2 (-1 at -inf), summed until U stops changing.
    """
    if x < -20.0:
        z = 1.0 / (x * x)
        total, term, odd, last = -1.0, -1.0, 1.0, 0.0
        while abs(last - total) > DBL_EPSILON:
            last = total
            odd = odd + 2.0
            term = term * (-odd * z)
            total = total + term
        s = 1.0 + z * total
        return total / (s * s)
    return -d * (x + d)


def _ulp_report():                                                  # pragma: no cover
    """Print the error of digamma and trigamma against SciPy, in ulp of SciPy's value."""
    import numpy as np
    import scipy.special as sc  # type: ignore[import-untyped, unused-ignore]

    def ulps(got, want):
        got, want = np.asarray(got), np.asarray(want)
        ok = np.isfinite(want) & (want != 0)
        return np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want[ok]))

    rng = np.random.default_rng(10)
    samples = {
        "[-50, 50] uniform": rng.uniform(-50, 50, 100_000),
        "[0, 12] uniform": rng.uniform(0, 12, 100_000),
        "x in [1e-300, 1e300]": 10.0 ** rng.uniform(-300, 300, 100_000),
    }
    for name, xs in samples.items():
        for side, keep in (("x > 0", xs > 0), ("x < 0", xs < 0)):
            x = xs[keep]
            if x.size == 0:
                continue
            d = ulps([digamma(float(v)) for v in x], sc.digamma(x))
            t = ulps([trigamma(float(v)) for v in x], sc.polygamma(1, x))
            g = ulps([tetragamma(float(v)) for v in x], sc.polygamma(2, x))
            print(f"{name:24s} {side}: digamma max {d.max():.3g} ulp (99.9% <= "
                  f"{np.quantile(d, 0.999):.3g}, median {np.median(d):.3g}); "
                  f"trigamma max {t.max():.3g} ulp (99.9% <= {np.quantile(t, 0.999):.3g}); "
                  f"tetragamma max {g.max():.3g} ulp (99.9% <= {np.quantile(g, 0.999):.3g}, "
                  f"median {np.median(g):.3g})")


if __name__ == "__main__":                                          # pragma: no cover
    _ulp_report()
