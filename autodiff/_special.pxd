# Special functions of the compiled engine: the algorithms of autodiff/_special.py, operation
# for operation (the same IEEE operations and C library calls in the same order), so that both
# engines get the same doubles.  See autodiff/_special.py for the methods, their measured
# accuracy and the conventions at poles.  Cimported by _rules.pxd.

from libc cimport math as libm
from libc.math cimport INFINITY, NAN

cdef extern from *:
    # The coefficient tables, as the same decimals as in _special.py (shortest round-trip
    # reprs: each names exactly one double in C and in Python).
    """
    static const double AD_ROOT_SERIES[41] = {
        -9.241265521729427e-17, 0.9676722454476212, -0.4427631689835922,
        0.2584997609556511, -0.16394270544240658, 0.10782405069126241,
        -0.07219956125645474, 0.04880428816414313, -0.033161126474847376,
        0.022597648232218118, -0.01542476590494897, 0.010538791616612184,
        -0.007204534386356875, 0.004926781395729858, -0.0033698016554393312,
        0.00230512632673493, -0.001576936771430199, 0.0010788252019162978,
        -0.000738070938996006, 0.0005049532658346027, -0.0003454680251063082,
        0.00023635601564027086, -0.00016170622091974827, 0.00011063372768747428,
        -7.569179582195078e-05, 5.17857579522209e-05, -3.543007094765967e-05,
        2.4240066118601362e-05, -1.6584242271854165e-05, 1.1346384584663872e-05,
        -7.76281766846211e-06, 5.3110609208898746e-06, -3.6336507898010536e-06,
        2.4860227331295433e-06, -1.7008538854332646e-06, 1.163667536354887e-06,
        -7.96142543124199e-07, 5.446941930669458e-07, -3.726616128343832e-07,
        2.549626552021561e-07, -1.7443695117727793e-07
    };
    static const double AD_DIGAMMA_ASYMPTOTIC[9] = {
        0.08333333333333333, -0.008333333333333333, 0.003968253968253968,
        -0.004166666666666667, 0.007575757575757576, -0.021092796092796094,
        0.08333333333333333, -0.4432598039215686, 3.0539543302701198
    };
    static const double AD_TRIGAMMA_ASYMPTOTIC[9] = {
        0.16666666666666666, -0.03333333333333333, 0.023809523809523808,
        -0.03333333333333333, 0.07575757575757576, -0.2531135531135531,
        1.1666666666666667, -7.092156862745098, 54.971177944862156
    };
    """
    const double AD_ROOT_SERIES[41]
    const double AD_DIGAMMA_ASYMPTOTIC[9]
    const double AD_TRIGAMMA_ASYMPTOTIC[9]

cdef extern from *:
    """
    static const double AD_TETRAGAMMA_ASYMPTOTIC[9] = {
        0.5, -0.16666666666666666, 0.16666666666666666, -0.3, 0.8333333333333334,
        -3.2904761904761903, 17.5, -120.56666666666666, 1044.452380952381
    };
    """
    const double AD_TETRAGAMMA_ASYMPTOTIC[9]

cdef extern from *:
    const double PI "3.141592653589793"
    const double PI_SQUARED "9.869604401089358"
    const double TWO_PI_CUBED "62.01255336059964"
    const double SQRT1_2 "0.7071067811865476"
    const double TWO_OVER_SQRT_PI "1.1283791670955126"
    const double INV_SQRT_2PI "0.3989422804014327"
    const double HALF_LOG_2PI "0.9189385332046728"
    const double DBL_EPSILON_ "2.220446049250313e-16"
    const double ROOT "1.4616321449683622"


cdef inline double _horner(const double* c, int n, double z) noexcept nogil:
    cdef double p = c[n - 1]
    cdef int k
    for k in range(n - 2, -1, -1):
        p = p * z + c[k]
    return p


cdef inline double _reduce(double x) noexcept nogil:
    cdef double r
    if -0.5 <= x <= 0.5:
        return x
    r = x - libm.floor(x)
    return r if r <= 0.5 else r - 1.0


cdef inline double _digamma_positive(double x) noexcept nogil:
    cdef double z, acc
    if x >= 10.0:
        z = 1.0 / (x * x)
        return (libm.log(x) - 0.5 / x) - _horner(AD_DIGAMMA_ASYMPTOTIC, 9, z) * z
    if x < 1.0:
        return _digamma_positive(x + 1.0) - 1.0 / x
    acc = 0.0
    while x >= 2.0:
        x = x - 1.0
        acc = acc + 1.0 / x
    return _horner(AD_ROOT_SERIES, 41, x - ROOT) + acc


cdef inline double _digamma(double x) noexcept nogil:
    if x != x:
        return NAN
    if x > 0.0:
        return INFINITY if x == INFINITY else _digamma_positive(x)
    if x == 0.0:
        return libm.copysign(INFINITY, -x)
    if x == -INFINITY or x == libm.floor(x):
        return NAN
    return _digamma_positive(1.0 - x) - PI / libm.tan(PI * _reduce(x))


cdef inline double _trigamma_positive(double x) noexcept nogil:
    cdef double acc = 0.0, xx, w, z
    while x < 10.0:
        xx = x * x
        acc = acc + 1.0 / xx
        x = x + 1.0
    w = 1.0 / x
    z = w * w
    return acc + ((w + 0.5 * z) + w * z * _horner(AD_TRIGAMMA_ASYMPTOTIC, 9, z))


cdef inline double _trigamma(double x) noexcept nogil:
    cdef double s
    if x != x:
        return NAN
    if x > 0.0:
        return 0.0 if x == INFINITY else _trigamma_positive(x)
    if x == -INFINITY:
        return NAN
    if x == libm.floor(x):
        return INFINITY
    s = libm.sin(PI * _reduce(x))
    return PI_SQUARED / (s * s) - _trigamma_positive(1.0 - x)


cdef inline double _tetragamma_positive(double x) noexcept nogil:
    cdef double acc = 0.0, xxx, w, z
    while x < 10.0:
        xxx = x * x * x
        acc = acc + 2.0 / xxx
        x = x + 1.0
    w = 1.0 / x
    z = w * w
    return -(acc + ((z + w * z) + z * z * _horner(AD_TETRAGAMMA_ASYMPTOTIC, 9, z)))


cdef inline double _tetragamma(double x) noexcept nogil:
    cdef double r, s, c, sss
    if x != x:
        return NAN
    if x > 0.0:
        return _tetragamma_positive(x)
    if x == 0.0:
        return libm.copysign(INFINITY, -x)
    if x == -INFINITY or x == libm.floor(x):
        return NAN
    r = _reduce(x)
    s = libm.sin(PI * r)
    c = libm.sin(PI * (0.5 - libm.fabs(r)))
    sss = s * s * s
    return _tetragamma_positive(1.0 - x) - TWO_PI_CUBED * c / sss


cdef inline double _ndtr(double a) noexcept nogil:
    cdef double x = a * SQRT1_2, z, y
    z = libm.fabs(x)
    if z < SQRT1_2:
        return 0.5 + 0.5 * libm.erf(x)
    y = 0.5 * libm.erfc(z)
    return 1.0 - y if x > 0.0 else y


cdef inline double _normal_density(double x) noexcept nogil:
    return INV_SQRT_2PI * libm.exp(-0.5 * x * x)


cdef inline double _log_ndtr_series(double a, double* series) noexcept nogil:
    cdef double z = 1.0 / (a * a), total = 1.0, term = 1.0, odd = -1.0, last = 0.0
    while libm.fabs(last - total) > DBL_EPSILON_:
        last = total
        odd = odd + 2.0
        term = term * (-odd * z)
        total = total + term
    series[0] = total
    return ((-0.5 * a * a - libm.log(-a)) - HALF_LOG_2PI) + libm.log(total)


cdef inline double _log_ndtr(double x) noexcept nogil:
    cdef double t, series
    if x < -20.0:
        return _log_ndtr_series(x, &series)
    t = x * SQRT1_2
    if x < -1.0:
        return libm.log(0.5 * libm.erfc(-t))
    return libm.log1p(-0.5 * libm.erfc(t))


cdef inline double _log_ndtr_second(double x, double d) noexcept nogil:
    cdef double z, total, term, odd, last, s
    if x < -20.0:
        z = 1.0 / (x * x)
        total = -1.0; term = -1.0; odd = 1.0; last = 0.0
        while libm.fabs(last - total) > DBL_EPSILON_:
            last = total
            odd = odd + 2.0
            term = term * (-odd * z)
            total = total + term
        s = 1.0 + z * total
        return total / (s * s)
    return -d * (x + d)


cdef inline double _log_ndtr_derivative(double x) noexcept nogil:
    cdef double series
    if x < -20.0:
        _log_ndtr_series(x, &series)
        return -x / series
    return _normal_density(x) / _ndtr(x)
