"""The reference engine: reverse-mode autodiff in pure Python.

This is the specification of the library.  The compiled engine (``autodiff._engine``)
mirrors it section by section and must agree with it bit for bit; when they disagree,
this file says what is right.

It follows the tutorial "Reverse-mode automatic differentiation from scratch, in Python":
every node has a ``.value`` and a ``.grad``, the list of ``(child, local_derivative)``
pairs, and ``get_gradients(root)`` returns ``{node: d root / d node}``.  Where the
tutorial enumerates every route from the root (exponential on shared subexpressions),
``get_gradients`` sorts the graph once and sweeps adjoints in reverse: linear time.

    >>> a, b = Var(4), Var(3)
    >>> d = a * (a + b)
    >>> d.value, get_gradients(d)[a]
    (28.0, 11.0)
"""
import functools
import math
import numbers
import operator
import sys

import numpy as np

from autodiff import _primitives, _special, _ufunc

ENGINE = "reference"

inf, nan = math.inf, math.nan

# --------------------------------------------------------------------------------------
# Numbers.  Python's ``math`` calls the C library, as the compiled engine does, but it
# raises where C returns inf or nan; these wrappers give the C (IEEE 754) results.
# --------------------------------------------------------------------------------------


def _real(x):
    """``x`` as a float if it is a real number, else TypeError.

    A number is read as C reads it (``PyFloat_AsDouble``, as ``math.sin`` and the compiled
    engine do): a ``float`` subclass gives the double it holds, whatever its ``__float__``
    says; any other real number (int and its subclasses, ``bool``, ``Fraction``, NumPy real
    scalars) gives ``float(x)``, so an int subclass's own ``__float__`` is used.  A NumPy
    bool (not a ``numbers.Real``) is a number too, 0.0 or 1.0, as ``True`` is, as NumPy and
    ``math`` take it, and as ``to_var`` of a bool array needs.
    """
    if issubclass(type(x), float):      # PyFloat_Check: by type, not by __class__
        return float.__float__(x)
    if isinstance(x, (numbers.Real, np.bool_)):
        return float(x)
    raise TypeError(f"expected a real number or a node, got {type(x).__name__}")


_div = _special.div        # a / b with IEEE results for a zero divisor


def _ieee(f, overflow=None, pole=None):
    """Wrap a one-argument ``math`` function: inf on overflow, -inf at a log pole, else nan."""
    def wrapped(x):
        try:
            return f(x)
        except OverflowError:
            return overflow(x)
        except ValueError:
            return -inf if x == pole else nan
    return wrapped


_sin, _cos, _tan = _ieee(math.sin), _ieee(math.cos), _ieee(math.tan)
_asin, _acos, _atan = _ieee(math.asin), _ieee(math.acos), math.atan
_sinh = _ieee(math.sinh, overflow=lambda x: math.copysign(inf, x))
_cosh = _ieee(math.cosh, overflow=lambda x: inf)
_tanh = math.tanh
_exp = _ieee(math.exp, overflow=lambda x: inf)
_expm1 = _ieee(math.expm1, overflow=lambda x: inf)
_log = _ieee(math.log, pole=0.0)
_log1p = _ieee(math.log1p, pole=-1.0)
_log2 = _ieee(math.log2, pole=0.0)
_log10 = _ieee(math.log10, pole=0.0)
_sqrt = _ieee(math.sqrt)


def _odd_integer(b):
    """True if b is an odd integer: then pow keeps the sign of a negative or zero base.

    ``fmod`` is exact, so this is right for non-integers near an odd integer
    (-0.9999999999999999 is not odd, though ``b % 2.0`` rounds to 1.0 there), for negative
    odd integers, and for |b| >= 2**53 (all even), as C99 Annex F defines it.
    """
    return math.isfinite(b) and abs(math.fmod(b, 2.0)) == 1.0


def _pow(a, b):
    """C's pow(a, b) (C99 Annex F).

    ``math.pow`` returns C's result except where it raises: a zero base to a negative power
    (C: inf, with the base's sign if b is an odd integer), a negative base to a non-integer
    power (C: nan) and overflow (C: inf, negative for a negative base and odd integer b).
    NumPy's ``np.power`` is not C's pow: it takes b = 0.5 as sqrt (``(-0.0) ** 0.5`` is -0.0
    there, +0.0 in C) and b = -1 as 1 / a (rounding differently from glibc's pow).
    """
    try:
        return math.pow(a, b)
    except ValueError:
        if a == 0.0:
            return math.copysign(inf, a) if _odd_integer(b) else inf
        return nan
    except OverflowError:
        return -inf if (a < 0.0 and _odd_integer(b)) else inf


def _sigmoid(x):
    if x >= 0.0:
        return _div(1.0, 1.0 + _exp(-x))
    e = _exp(x)
    return _div(e, 1.0 + e)


def _relu(x):
    return 0.0 if x <= 0.0 else x          # relu(nan) is nan


def _step(x):
    """d relu / dx: 1 for x > 0, 0 for x <= 0 (so 0 at x = 0), nan for nan."""
    return 1.0 if x > 0.0 else (0.0 if x <= 0.0 else nan)


def _sign(x):
    """d |x| / dx: -1, 0 at x = 0, 1; nan for nan."""
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x == 0.0 else nan))


def _pick(a, b, larger):
    """maximum (larger=True) or minimum of a and b with its local derivatives.

    The chosen side gets 1, the other 0; a tie gives 0.5 to each; nan gives nan.
    """
    if a == b:
        return a, 0.5, 0.5
    if a != a or b != b:
        return nan, nan, nan
    if (a > b) == larger:
        return a, 1.0, 0.0
    return b, 0.0, 1.0


def _expit(x):
    """SciPy's expit: 1 / (1 + exp(-x)) for every x (sigmoid switches form at 0)."""
    return _div(1.0, 1.0 + _exp(-x))


def _logit(x):
    """log(x / (1 - x)); near 1/2, log1p(s) - log1p(-s) with s = 2x - 1, as SciPy does."""
    if 0.3 <= x <= 0.65:
        s = 2.0 * (x - 0.5)
        return _log1p(s) - _log1p(-s)
    return _log(_div(x, 1.0 - x))


_LN2, _LN10 = 0.6931471805599453, 2.302585092994046   # == math.log(2.0), math.log(10.0)

# --- Elementary ufuncs (issue 10): C's results where math raises or returns an int -------

_LOG2E = 1.4426950408889634                 # NumPy's NPY_LOG2E, 1 / log(2)
_DEG2RAD, _RAD2DEG = 0.017453292519943295, 57.29577951308232  # pi / 180, 180 / pi
_cbrt, _asinh = math.cbrt, math.asinh
_exp2 = _ieee(math.exp2, overflow=lambda x: inf)
_acosh = _ieee(math.acosh)


def _atanh(x):
    """C's atanh: +-inf at +-1, nan outside [-1, 1]."""
    try:
        return math.atanh(x)
    except ValueError:
        return math.copysign(inf, x) if abs(x) == 1.0 else nan


def _integral(f):
    """C's floor, ceil, trunc or rint from ``math.floor``, ``math.ceil``, ``math.trunc`` or
    ``round`` (half to even, as rint in the default rounding mode), which return ints: inf
    and nan as they are, and a zero with the sign of x (C: ceil(-0.5) is -0.0)."""
    def wrapped(x):
        if not math.isfinite(x):
            return x
        r = float(f(x))
        return r if r != 0.0 else math.copysign(0.0, x)
    return wrapped


_floor, _ceil = _integral(math.floor), _integral(math.ceil)
_trunc, _rint = _integral(math.trunc), _integral(round)


def _fmod(a, b):
    """C's fmod: nan for an infinite a or a zero b (where math.fmod raises)."""
    try:
        return math.fmod(a, b)
    except ValueError:
        return nan


def _hypot(a, b):
    """C's hypot, through NumPy's float64 hypot (which calls it): ``math.hypot`` has its own
    algorithm and differs from the C library in the last bit for about 1 point in 200."""
    with np.errstate(all="ignore"):
        return float(np.hypot(a, b))


def _divmod(a, b):
    """NumPy's npy_divmod: (floor quotient, Python's modulo), as ``_divmod`` in _rules.pxd."""
    m = _fmod(a, b)
    if b == 0.0:
        return _div(a, b), m
    div = (a - m) / b
    if m != 0.0:
        if (b < 0.0) != (m < 0.0):
            m += b
            div -= 1.0
    else:
        m = math.copysign(0.0, b)
    if div != 0.0:
        floordiv = _floor(div)
        if div - floordiv > 0.5:
            floordiv += 1.0
    else:
        floordiv = math.copysign(0.0, a / b)
    return floordiv, m


def _pick_number(a, b, larger):
    """fmax (larger=True) or fmin: as _pick, but a nan operand is ignored."""
    if b != b:
        return (a, 1.0, 0.0) if a == a else (a, nan, nan)
    if a != a:
        return b, 0.0, 1.0
    return _pick(a, b, larger)


def _logaddexp(a, b, base2):
    """NumPy's npy_logaddexp (base2: npy_logaddexp2) and the weights as derivatives."""
    if a == b:
        return a + (1.0 if base2 else _LN2), 0.5, 0.5
    t = a - b
    if t > 0.0:
        e = _exp2(-t) if base2 else _exp(-t)
        return (a + (_LOG2E * _log1p(e) if base2 else _log1p(e)),
                1.0 / (1.0 + e), e / (1.0 + e))
    if t <= 0.0:
        e = _exp2(t) if base2 else _exp(t)
        return (b + (_LOG2E * _log1p(e) if base2 else _log1p(e)),
                e / (1.0 + e), 1.0 / (1.0 + e))
    return t, nan, nan

# --------------------------------------------------------------------------------------
# The primitives' rules, by name: the value rule and the local-derivative rule of each row
# of the table (autodiff/_primitives.py, where a primitive's class and names are declared).
# x is the input's value, y the node's value.  The compiled engine has the same rules in
# ``_unary_rule`` and ``_binary_rule`` (_rules.pxd).
# --------------------------------------------------------------------------------------

#   function       value                  d y / d x
UNARY_RULES = {
    "negative":    (lambda x: -x,          lambda x, y: -1.0),
    "reciprocal":  (lambda x: _div(1.0, x), lambda x, y: -(y * y)),
    "sin":         (_sin,                  lambda x, y: _cos(x)),
    "cos":         (_cos,                  lambda x, y: -_sin(x)),
    "tan":         (_tan,                  lambda x, y: 1.0 + y * y),
    "arcsin":      (_asin,                 lambda x, y: _div(1.0, _sqrt(1.0 - x * x))),
    "arccos":      (_acos,                 lambda x, y: -_div(1.0, _sqrt(1.0 - x * x))),
    "arctan":      (_atan,                 lambda x, y: _div(1.0, 1.0 + x * x)),
    "sinh":        (_sinh,                 lambda x, y: _cosh(x)),
    "cosh":        (_cosh,                 lambda x, y: _sinh(x)),
    "tanh":        (_tanh,                 lambda x, y: 1.0 - y * y),
    "exp":         (_exp,                  lambda x, y: y),
    "expm1":       (_expm1,                lambda x, y: y + 1.0),
    "log":         (_log,                  lambda x, y: _div(1.0, x)),
    "log1p":       (_log1p,                lambda x, y: _div(1.0, 1.0 + x)),
    "log2":        (_log2,                 lambda x, y: _div(1.0, x * _LN2)),
    "log10":       (_log10,                lambda x, y: _div(1.0, x * _LN10)),
    "sqrt":        (_sqrt,                 lambda x, y: _div(0.5, y)),
    "sigmoid":     (_sigmoid,              lambda x, y: y * (1.0 - y)),
    "relu":        (_relu,                 lambda x, y: _step(x)),
    "absolute":    (abs,                   lambda x, y: _sign(x)),
    # Special functions (autodiff/_special.py has the algorithms and their accuracy).
    "erf":         (math.erf,              lambda x, y: _special.TWO_OVER_SQRT_PI * _exp(-x * x)),
    "erfc":        (math.erfc,             lambda x, y: -(_special.TWO_OVER_SQRT_PI * _exp(-x * x))),
    "gammaln":     (_special.lgamma,       lambda x, y: _special.digamma(x)),
    "digamma":     (_special.digamma,      lambda x, y: _special.trigamma(x)),
    "expit":       (_expit,                lambda x, y: y * (1.0 - y)),
    "logit":       (_logit,                lambda x, y: _div(1.0, x * (1.0 - x))),
    "ndtr":        (_special.ndtr,         lambda x, y: _special.normal_density(x)),
    "log_ndtr":    (_special.log_ndtr,     lambda x, y: _special.log_ndtr_derivative(x)),
    # Elementary ufuncs (issue 10).  Piecewise constant ones: derivative 0, at the jumps too.
    "sign":        (_sign,                 lambda x, y: 0.0),
    "floor":       (_floor,                lambda x, y: 0.0),
    "ceil":        (_ceil,                 lambda x, y: 0.0),
    "trunc":       (_trunc,                lambda x, y: 0.0),
    "rint":        (_rint,                 lambda x, y: 0.0),
    "fabs":        (math.fabs,             lambda x, y: _sign(x)),
    "square":      (lambda x: x * x,       lambda x, y: 2.0 * x),
    "cbrt":        (_cbrt,                 lambda x, y: _div(1.0, 3.0 * (y * y))),
    "exp2":        (_exp2,                 lambda x, y: y * _LN2),
    "arcsinh":     (_asinh,                lambda x, y: _div(1.0, _sqrt(1.0 + x * x))),
    "arccosh":     (_acosh,                lambda x, y: _div(1.0, _sqrt(x - 1.0) * _sqrt(x + 1.0))),
    "arctanh":     (_atanh,                lambda x, y: (_div(1.0, (1.0 - x) * (1.0 + x))
                                                         if y == y else nan)),
    "deg2rad":     (lambda x: x * _DEG2RAD, lambda x, y: _DEG2RAD),
    "rad2deg":     (lambda x: x * _RAD2DEG, lambda x, y: _RAD2DEG),
    "conjugate":   (lambda x: x,           lambda x, y: 1.0),
}


def _power_const(a, c):
    """(a ** c, d/da): the rule of x ** c for a number c, and the first half of power's.

    c == 2 is a * a (the same double as C's pow(a, 2.0)); the derivative of a ** 0 is 0
    everywhere, as in autograd and JAX (c * a ** (c - 1) would be nan at 0).
    """
    if c == 2.0:
        return a * a, 2.0 * a
    return _pow(a, c), (0.0 if c == 0.0 else c * _pow(a, c - 1.0))


def _power_rule(a, b):
    y, da = _power_const(a, b)
    # d/db a**b = a**b log a, taken as 0 at a = 0 (where a**b is flat or a pole).
    return y, da, (0.0 if a == 0.0 else y * _log(a))


def _arctan2_rule(a, b):
    r = a * a + b * b
    return math.atan2(a, b), _div(b, r), _div(-a, r)


def _divide_rule(a, b):
    y = _div(a, b)
    return y, _div(1.0, b), -_div(y, b)


def _xlog_rule(a, b, r, denominator):
    """xlogy (r = log b, denominator b) and xlog1py (r = log1p b, denominator 1 + b)."""
    if a == 0.0 and b == b:
        return 0.0, r, 0.0
    return a * r, r, _div(a, denominator)

def _hypot_rule(a, b):
    h = _hypot(a, b)
    return (h, 0.0, 0.0) if h == 0.0 else (h, _div(a, h), _div(b, h))


def _copysign_rule(a, b):
    if a != a or b != b:        # a nan's sign bit is unspecified: the engines cannot agree
        return nan, nan, nan
    return math.copysign(a, b), math.copysign(1.0, a) * math.copysign(1.0, b), 0.0


def _fmod_rule(a, b):
    y = _fmod(a, b)
    return y, 1.0, -_rint(_div(a - y, b))       # minus the truncated quotient


def _remainder_rule(a, b):
    q, y = _divmod(a, b)
    return y, 1.0, -q                           # minus the floor quotient


def _heaviside_rule(a, b):
    """NumPy's heaviside: nan for a nan, b at a == 0, else 0 or 1; d/da 0 (at the jump too),
    d/db 1 where a == 0, else 0."""
    y = nan if a != a else (b if a == 0.0 else (0.0 if a < 0.0 else 1.0))
    return y, 0.0, (1.0 if a == 0.0 else 0.0)


#   function     (a, b) -> (value, d y / d a, d y / d b)
BINARY_RULES = {
    "add":       lambda a, b: (a + b, 1.0, 1.0),
    "multiply":  lambda a, b: (a * b, b, a),
    "power":     _power_rule,
    "maximum":   lambda a, b: _pick(a, b, True),
    "minimum":   lambda a, b: _pick(a, b, False),
    "arctan2":   _arctan2_rule,
    "subtract":  lambda a, b: (a - b, 1.0, -1.0),
    "divide":    _divide_rule,
    # Special functions: 0 where a == 0 and b is not nan (as SciPy), and d/db 0 there too.
    "xlogy":     lambda a, b: _xlog_rule(a, b, _log(b), b),
    "xlog1py":   lambda a, b: _xlog_rule(a, b, _log1p(b), 1.0 + b),
    # Elementary ufuncs (issue 10).
    "hypot":     _hypot_rule,
    "logaddexp": lambda a, b: _logaddexp(a, b, False),
    "logaddexp2": lambda a, b: _logaddexp(a, b, True),
    "fmax":      lambda a, b: _pick_number(a, b, True),
    "fmin":      lambda a, b: _pick_number(a, b, False),
    "copysign":  _copysign_rule,
    "fmod":      _fmod_rule,
    "remainder": _remainder_rule,
    "floor_divide": lambda a, b: (_divmod(a, b)[0], 0.0, 0.0),
    "heaviside": _heaviside_rule,
}

# --------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------


_LOST = ("{what} of a node ({cls}) would lose its derivative: use x.value for the number, "
         "or autodiff's functions (or NumPy's ufuncs, which call them) on nodes to keep "
         "differentiating")


def _blank(cls):
    """A node of class cls with value 0.0 and no children."""
    node = object.__new__(cls)
    node._value, node._grad = 0.0, []
    return node


def _check_node_class(cls):
    """Refuse, when it is defined, a node class that the engine would misread or leak.

    Both engines make the same checks: a class attribute ``value`` or ``grad`` would hide
    the node's own (the compiled engine keeps them in C fields), and a class whose
    instances have neither a ``__dict__`` nor a slot would be invisible to the cyclic
    garbage collector of the compiled engine, so a reference cycle through it would leak.
    """
    for name in ("value", "grad"):
        if name in cls.__dict__:
            raise TypeError(
                f"class {cls.__qualname__} defines {name!r}, but a node's value and children "
                f"are kept by the engine: set self.{name} in __init__ instead (a property or "
                f"class attribute named {name!r} would be ignored by gradients and record)")
    for klass in cls.__mro__:
        if klass is Ops or klass in _BUILTIN_CLASSES:
            break
        slots = klass.__dict__.get("__slots__", None)
        if slots is None or (isinstance(slots, str) and slots) or (
                not isinstance(slots, str) and len(tuple(slots))):
            return                      # an instance __dict__ or a slot: a GC-visible class
    raise TypeError(
        f"class {cls.__qualname__} declares __slots__ = () down to {klass.__name__}: the "
        f"garbage collector could not see its nodes, and a reference cycle through one "
        f"would never be freed; remove __slots__ or give it at least one slot")


_defining_builtins = True       # the built-in classes below are not checked
_BUILTIN_CLASSES = frozenset()  # filled once they exist
_PRIMITIVE_CLASSES = ()


class Ops:
    """Base of every node: the operators, comparisons by value, NumPy ufunc methods.

    A node has ``.value`` (a float) and ``.grad``, the list of ``(child, local_derivative)``
    pairs.  Subclass it to add a function, as in the tutorial::

        class Square(Ops):
            def __init__(self, x):
                self.value = x.value ** 2
                self.grad = [(x, 2 * x.value)]

    Until they are set, a node's value is 0.0 and it has no children.  Only nodes of such
    user-defined classes can have their ``.grad`` set; the built-in nodes' edges are fixed
    when they are made.  ``float(node)`` is a TypeError (it would drop the derivative):
    ``node.value`` is the number.  ``bool(node)`` is the truth of its value, as for a float.
    """
    __slots__ = ("_value", "_grad")

    def __new__(cls, *args, **kwargs):
        if issubclass(cls, _PRIMITIVE_CLASSES):
            raise TypeError(f"{__name__}.Ops.__new__({cls.__module__}.{cls.__qualname__}) is "
                            f"not safe, use {cls.__module__}.{cls.__qualname__}.__new__()")
        return _blank(cls)

    def __init_subclass__(cls, **kwargs):
        if not _defining_builtins:
            _check_node_class(cls)
        super().__init_subclass__(**kwargs)

    @property
    def value(self):
        """The node's value, a float; writable (``w.value -= lr * g``)."""
        return self._value

    @value.setter
    def value(self, v):
        self._value = _real(v)

    @property
    def grad(self):
        """The list of ``(child, local_derivative)`` pairs; the setter checks both."""
        return list(self._grad)

    @grad.setter
    def grad(self, pairs):
        if type(self) in _BUILTIN_CLASSES:
            raise TypeError(
                f"the edges of a built-in {type(self).__name__} node are set when it is made "
                f"and cannot be changed; to make a node with children of your own, subclass "
                f"Ops (class Square(Ops): ... self.grad = [(x, 2 * x.value)])")
        checked = []
        for pair in pairs:
            child, local = pair
            if not isinstance(child, Ops):
                raise TypeError(f"a child must be a node, got {type(child).__name__}")
            checked.append((child, _real(local)))
        self._grad = checked

    def __repr__(self):
        return f"{type(self).__name__}({self.value!r})"

    def __float__(self):
        raise TypeError(_LOST.format(what="float()", cls=type(self).__name__))

    def __bool__(self):
        return self.value != 0.0

    def __reduce_ex__(self, protocol):
        raise TypeError(f"a node ({type(self).__name__}) cannot be pickled or copied: it is "
                        f"part of a graph; pickle its .value, or record the function "
                        f"(autodiff.record) and call the tape again where it is needed")

    # Arithmetic: one node per operator (the tutorial made a - b as Add(a, Neg(b)) and a / b
    # as Mul(a, Inv(b)); Sub and Div round once, as float arithmetic does, with fewer nodes).
    # A number on either side is a constant: it makes no node and no edge.
    def __add__(self, other):
        return _binary(Add, self, other)

    def __radd__(self, other):      # other + self
        return _binary(Add, other, self)

    def __mul__(self, other):
        return _binary(Mul, self, other)

    def __rmul__(self, other):      # other * self
        return _binary(Mul, other, self)

    def __sub__(self, other):
        return _binary(Sub, self, other)

    def __rsub__(self, other):      # other - self
        return _binary(Sub, other, self)

    def __truediv__(self, other):
        return _binary(Div, self, other)

    def __rtruediv__(self, other):  # other / self
        return _binary(Div, other, self)

    # % and // are the primitives remainder and floor_divide, as np.float64 has them;
    # divmod(a, b) is (a // b, a % b), as for floats.
    def __mod__(self, other):
        return _binary(Remainder, self, other)

    def __rmod__(self, other):      # other % self
        return _binary(Remainder, other, self)

    def __floordiv__(self, other):
        return _binary(FloorDivide, self, other)

    def __rfloordiv__(self, other):  # other // self
        return _binary(FloorDivide, other, self)

    # What is not a number as % and // take it: a list or tuple as an array, an array by its
    # own reflected divmod (np.divmod, _ufunc.dispatch), anything else NotImplemented.
    def __divmod__(self, other):
        if _operand(other) is None:
            return _ufunc.with_sequence(divmod, self, other)
        return self // other, self % other

    def __rdivmod__(self, other):   # divmod(other, self)
        if _operand(other) is None:
            return _ufunc.with_sequence(divmod, other, self)
        return other // self, other % self

    def __pow__(self, other, mod=None):
        if mod is not None:
            raise TypeError("pow() with a modulus is not defined for nodes")
        return _binary(Pow, self, other)

    def __rpow__(self, other, mod=None):  # other ** self
        if mod is not None:
            raise TypeError("pow() with a modulus is not defined for nodes")
        return _binary(Pow, other, self)

    def __neg__(self):
        return Neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return Abs(self)

    # Numbers made of a node, as of a float: int() truncates, round() is to even, and
    # math.trunc/floor/ceil give ints (OverflowError for inf, ValueError for nan).  Their
    # derivative is 0 almost everywhere, which a number (a constant) has.  No __index__: a
    # node is not an integer (range(x), [1, 2][x] are TypeErrors).
    def __int__(self):
        return int(self.value)

    def __trunc__(self):
        return math.trunc(self.value)

    def __floor__(self):
        return math.floor(self.value)

    def __ceil__(self):
        return math.ceil(self.value)

    def __round__(self, ndigits=None):
        if ndigits is None:
            return round(self.value)
        # As np.float64 rounds to digits, made of primitives: a node whose derivative is
        # rint's 0 and that record replays (a float would be frozen at the example).
        return _ufunc.round_digits(rint, multiply, divide, self, ndigits)

    # A real number is its own real part (np.var, np.std, np.linalg.norm call .real and
    # .conjugate(): the latter is the primitive conjugate, a Conjugate node); imag is 0.
    @property
    def real(self):
        return self

    @property
    def imag(self):
        return 0.0

    # Comparisons compare values and return bool (a bool array with an array, list or
    # tuple, as np.float64 gives); == and hash stay by identity.
    def __lt__(self, other):
        v = _compared(other)
        return _ufunc.compare_other(operator.lt, self, other) if v is None else self.value < v

    def __le__(self, other):
        v = _compared(other)
        return _ufunc.compare_other(operator.le, self, other) if v is None else self.value <= v

    def __gt__(self, other):
        v = _compared(other)
        return _ufunc.compare_other(operator.gt, self, other) if v is None else self.value > v

    def __ge__(self, other):
        v = _compared(other)
        return _ufunc.compare_other(operator.ge, self, other) if v is None else self.value >= v

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # NumPy calls these on the elements of object arrays (np.sin(array) -> x.sin()).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc.dispatch(_UFUNCS, Ops, ufunc, method, inputs, kwargs, globals())

    # np.nan_to_num, np.clip and np.where of a lone node; the rest is NumPy's own.
    def __array_function__(self, func, types, args, kwargs):
        return _ufunc.array_function(globals(), Ops, func, types, args, kwargs)


def _compared(x):
    """The value a comparison reads of x, a node or a number; None for anything else."""
    if isinstance(x, Ops):
        return x.value
    if isinstance(x, (numbers.Real, np.bool_)):
        return _real(x)                 # numbers are read as arithmetic reads them
    return None


def _operand(x):
    """(value, is_node) of an operand; None for what arithmetic does not take."""
    if isinstance(x, Ops):
        return x.value, True
    if isinstance(x, (numbers.Real, np.bool_)):
        return _real(x), False
    return None


def _binary(cls, a, b):
    if _operand(a) is None or _operand(b) is None:
        return _ufunc.with_sequence(_OPERATOR_OF.get(cls, _no_operator), a, b)
    return cls(a, b)


def _no_operator(a, b):
    return NotImplemented


class Var(Ops):
    """A leaf node: a variable, with no children.

    >>> Var(2.0).value
    2.0
    """
    __slots__ = ()

    def __init__(self, value):
        self.value = value
        self._grad = []


# A primitive node is made complete by its class's __new__, and has no __init__ (object's
# ignores the arguments): like a tuple, it cannot be re-initialised once other nodes
# point at it.  The classes themselves, one per row of the table, are in _reference_nodes.
def _unary_new(cls, name, x):
    """A node of class cls, the unary primitive ``name`` of x (a node, or a number)."""
    value_rule, derivative_rule = UNARY_RULES[name]
    if not isinstance(x, Ops):
        self = _blank(cls)
        self._value = value_rule(_real(x))
        return self
    xv = x.value
    y = value_rule(xv)
    self = _blank(cls)
    self._value = y
    self._grad = [(x, derivative_rule(xv, y))]
    return self


def _binary_new(cls, name, a, b):
    """A node of class cls, the binary primitive ``name`` of a and b (nodes or numbers)."""
    a_node, b_node = isinstance(a, Ops), isinstance(b, Ops)
    av = a.value if a_node else _real(a)
    bv = b.value if b_node else _real(b)
    y, da, db = BINARY_RULES[name](av, bv)
    self = _blank(cls)
    self._value = y
    self._grad = ([(a, da)] if a_node else []) + ([(b, db)] if b_node else [])
    # With one number operand, keep it and its side, so that ``record`` can replay it.
    self._number = (bv, False) if a_node and not b_node else (
        (av, True) if b_node and not a_node else None)
    return self


def _sequence(x):
    """Whether x (not a node) is an array, list or tuple."""
    return isinstance(x, (np.ndarray, list, tuple))


def _function1(cls, x):
    """A module function: a node of a node, a float of a number; element by element for an
    array, list or tuple (_ufunc.elementwise)."""
    if _sequence(x):
        return _ufunc.elementwise(functools.partial(_function1, cls), (x,), Ops)
    node = cls(x)
    return node if isinstance(x, Ops) else node.value


def _function2(cls, a, b):
    """A module function: a node if a or b is a node, a float of numbers; element by element
    for an array, list or tuple (_ufunc.elementwise)."""
    if _sequence(a) or _sequence(b):
        return _ufunc.elementwise(functools.partial(_function2, cls), (a, b), Ops)
    node = cls(a, b)
    return node if isinstance(a, Ops) or isinstance(b, Ops) else node.value


# One class, one function and one Ops method per row of the table (generated).
from autodiff._reference_nodes import *  # noqa: E402,F401,F403
from autodiff._reference_nodes import PRIMITIVES, _OPS_METHODS  # noqa: E402

assert set(UNARY_RULES) | set(BINARY_RULES) == set(PRIMITIVES), "a rule for every row, no more"
for _name, _method in _OPS_METHODS.items():
    setattr(Ops, _name, _method)
del _name, _method
_PRIMITIVE_CLASSES = tuple(PRIMITIVES.values())
_BUILTIN_CLASSES = frozenset(_PRIMITIVE_CLASSES) | {Ops, Var}
_defining_builtins = False

# --------------------------------------------------------------------------------------
# Predicates (issue 10): plain bools of a node's value or of a number, as NumPy's on a
# float64.  Not primitives (no node, no derivative); the compiled engine has them in
# _predicates.pxi.
# --------------------------------------------------------------------------------------


def _predicate_value(name, x):
    if isinstance(x, Ops):
        return x.value
    if isinstance(x, (numbers.Real, np.bool_)):
        return _real(x)                 # read as arithmetic reads numbers
    raise TypeError(f"{name}() takes a node or a real number, got {type(x).__name__}")


def isfinite(x):
    """isfinite(x): True if the value of x (a node or a number) is neither inf nor nan."""
    if _sequence(x):                    # a bool array, as np.isfinite of float64
        return _ufunc.elementwise(isfinite, (x,), Ops, bool)
    return math.isfinite(_predicate_value("isfinite", x))


def isnan(x):
    """isnan(x): True if the value of x (a node or a number) is nan."""
    if _sequence(x):                    # a bool array, as np.isnan of float64
        return _ufunc.elementwise(isnan, (x,), Ops, bool)
    return math.isnan(_predicate_value("isnan", x))


def isinf(x):
    """isinf(x): True if the value of x (a node or a number) is inf or -inf."""
    if _sequence(x):                    # a bool array, as np.isinf of float64
        return _ufunc.elementwise(isinf, (x,), Ops, bool)
    return math.isinf(_predicate_value("isinf", x))


def signbit(x):
    """signbit(x): True if the sign bit of the value of x (a node or a number) is set (-0.0
    too).  A nan's sign bit is what made it, which IEEE leaves unspecified."""
    if _sequence(x):                    # a bool array, as np.signbit of float64
        return _ufunc.elementwise(signbit, (x,), Ops, bool)
    return math.copysign(1.0, _predicate_value("signbit", x)) < 0.0


_PREDICATES = ["isfinite", "isnan", "isinf", "signbit"]

# --------------------------------------------------------------------------------------
# Gradients: sort once (iterative depth-first post-order), sweep adjoints in reverse.
# --------------------------------------------------------------------------------------


def _topological_order(root):
    """The nodes reachable from root, each child before its parents, root last.

    Returns (order, position) where position maps id(node) to its index in order.
    """
    if not isinstance(root, Ops):
        raise TypeError(f"expected a node, got {type(root).__name__}")
    ON_STACK = -1
    position = {id(root): ON_STACK}
    order = []
    stack = [(root, iter(root._grad))]
    while stack:
        node, children = stack[-1]
        for child, _ in children:
            state = position.get(id(child))
            if state is None:
                position[id(child)] = ON_STACK
                stack.append((child, iter(child._grad)))
                break
            if state == ON_STACK:
                raise ValueError("the graph has a cycle")
        else:
            stack.pop()
            position[id(node)] = len(order)
            order.append(node)
    return order, position


def _adjoints(root):
    """(order, position, adjoint): adjoint[i] is d root / d order[i]."""
    order, position = _topological_order(root)
    adjoint = [0.0] * len(order)
    adjoint[-1] = 1.0
    for i in range(len(order) - 1, -1, -1):
        g = adjoint[i]
        for child, local in order[i]._grad:
            adjoint[position[id(child)]] += g * local
    return order, position, adjoint


def get_gradients(root):
    """``{node: d root / d node}`` for every node reachable from root (root excluded).

    >>> a, b = Var(4), Var(3)
    >>> get_gradients(a * (a + b))[a]
    11.0
    """
    order, _, adjoint = _adjoints(root)
    return {order[i]: adjoint[i] for i in range(len(order) - 2, -1, -1)}


def gradients(root, wrt):
    """d root / d w for the nodes w in ``wrt`` only; 0.0 for a node not reached.

    ``wrt`` is a node (gives a float), a list or tuple of nodes (gives a list of floats)
    or an object array of nodes (gives a float64 array of its shape).

    >>> x, y = Var(2.0), Var(3.0)
    >>> gradients(x * y, [x, y])
    [3.0, 2.0]
    """
    if isinstance(wrt, Ops):
        return gradients(root, [wrt])[0]
    shape = np.shape(wrt) if isinstance(wrt, np.ndarray) else None
    nodes = _snapshot_wrt(wrt)
    _, position, adjoint = _adjoints(root)
    grads = [adjoint[position[id(w)]] if id(w) in position else 0.0 for w in nodes]
    if shape is None:
        return grads
    return np.array(grads, dtype=np.float64).reshape(shape)


def _snapshot_wrt(wrt):
    """The nodes of ``wrt`` as a plain list, checked once."""
    if isinstance(wrt, np.ndarray):
        nodes = np.asarray(wrt).ravel().tolist()
    elif isinstance(wrt, (list, tuple)):
        nodes = list(wrt)
    else:
        raise TypeError(f"wrt must be a node, a list or tuple of nodes, or an object array "
                        f"of nodes, got {type(wrt).__name__}")
    for node in nodes:
        if not isinstance(node, Ops):
            raise TypeError(f"wrt must hold nodes, got {type(node).__name__}")
    return nodes


def _reached(root, wrt):
    """For each node of the list ``wrt``: whether the walk from root reaches it (frontend)."""
    nodes = _snapshot_wrt(wrt)
    if not isinstance(root, Ops):
        return [False] * len(nodes)
    _, position = _topological_order(root)
    return [id(w) in position for w in nodes]


# --------------------------------------------------------------------------------------
# Arrays (the tutorial's vectorised use) and NumPy ufuncs on single nodes
# --------------------------------------------------------------------------------------


def to_var(array):
    """An object array of ``Var`` of a float array's values, same shape.

    >>> to_var([1.0, 2.0])
    array([Var(1.0), Var(2.0)], dtype=object)
    """
    a = np.asarray(array)
    if a.dtype.kind not in "biufO":
        raise TypeError(f"to_var needs real numbers, got an array of {a.dtype}")
    out = np.empty(a.shape, dtype=object)
    for i, v in enumerate(a.flat):
        out.flat[i] = Var(v)
    return out


def to_vals(array):
    """The float64 array of the values of an object array of nodes (numbers pass through).

    >>> to_vals(to_var([1.0, 2.0]))
    array([1., 2.])
    """
    a = np.asarray(array, dtype=object)
    out = np.empty(a.shape, dtype=np.float64)
    for i, v in enumerate(a.flat):
        out.flat[i] = v.value if isinstance(v, Ops) else _real(v)
    return out


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``np.nan_to_num`` for nodes and object arrays of nodes (NumPy's returns object arrays
    unchanged): a node of value nan, inf or -inf becomes the number NumPy puts there (a
    constant), any other node stays (derivative 1).  Numbers and float arrays: NumPy's."""
    return _ufunc.nan_to_num(Ops, x, copy, nan, posinf, neginf)


def clip(a, a_min, a_max):
    """``np.clip`` for nodes and object arrays of nodes: ``minimum(maximum(a, a_min), a_max)``
    with autodiff's ``maximum`` and ``minimum`` (0.5 to each side where a node touches a
    bound), broadcasting; ``None`` is no bound.  Numbers and float arrays: NumPy's."""
    return _ufunc.clip(globals(), Ops, a, a_min, a_max)


_UFUNCS = {name: globals()[name] for name in PRIMITIVES}
_UFUNCS.update({alias: _UFUNCS[p.name] for p in _primitives.TABLE for alias in p.ufuncs})
# The operators that take lists and tuples as arrays, as np.float64's do: not * (a list
# times a number is repetition, which a float refuses) and not ** (its path is its own).
_OPERATOR_OF = {Add: operator.add, Sub: operator.sub, Div: operator.truediv,
                Remainder: operator.mod, FloorDivide: operator.floordiv}

__all__ = (["ENGINE", "PRIMITIVES", "Ops", "Var", "get_gradients", "gradients", "to_var",
            "to_vals", "nan_to_num", "clip"]
           + [name for name in PRIMITIVES] + [cls.__name__ for cls in PRIMITIVES.values()]
           + _PREDICATES)

# The functional API, gradient checking and pictures are written once for both engines.
from autodiff import _frontend  # noqa: E402
from autodiff._frontend import GradientCheckError, GradientCheckReport  # noqa: E402,F401

_api = _frontend.Frontend(_frontend.Engine("reference", globals(), _reached))
grad = _api.grad
value_and_grad = _api.value_and_grad
jacobian = _api.jacobian
hessian = _api.hessian
hvp = _api.hvp
jvp = _api.jvp
vjp = _api.vjp
check_gradients = _api.check_gradients
to_dot = _api.to_dot
render = _api.render
__all__ += list(_frontend.PUBLIC) + list(_frontend.CLASSES)

# Record once, replay without rebuilding the graph (autodiff/_record_reference.py).
from autodiff import _record_reference  # noqa: E402
from autodiff._record_reference import Tape  # noqa: E402,F401


def record(f, *example_args, argnums=0):
    """Record ``f`` once at example arguments; replay its value and gradients.

    The reference engine's twin of the compiled ``record``: same arguments, results and
    errors (see ``autodiff.record`` for the conventions and the frozen control flow).

    >>> tape = record(lambda x, y: x * y + 1.0, 2.0, 3.0, argnums=(0, 1))
    >>> tape.value_and_grad(4.0, 5.0)
    (21.0, (5.0, 4.0))
    """
    return _record_reference.record(_this_engine, f, example_args, argnums)


def _restore_tape(state):
    """pickle's way back to a reference tape (the state is checked; ValueError if bad)."""
    return _record_reference.restore(_this_engine, state)


_this_engine = sys.modules[__name__]     # the engine value the tapes are made with

__all__ += ["record", "Tape"]
