"""THE table of primitives: one row per primitive, the only place a primitive is declared.

Everything per primitive that is not its rule is generated from this table by
``python -m autodiff._generate``: the compiled engine's node classes, module functions,
``Ops`` methods, ``PRIMITIVES`` and opcode enums (``_ops.pxi``, ``_nodes.pxi``,
``_methods.pxi``), the replay's opcode numbering (the same enums), the typing stubs of
both engines and the README's table of functions.  ``tests/test_generated.py`` fails when a
generated file is stale.  What stays written by hand, once per engine, is the rule: the
value and local derivatives, in C (``_rules.pxd``, a case of the switch on ``op``) and in
Python (``reference.py``, an entry of ``UNARY_RULES`` or ``BINARY_RULES``), and the second
derivatives, in C (``_second.pxd``) and in Python (``_second.py``).  Adding a primitive is a
row here (with its ``second`` column), the four rules, and its entry in the tests' domain
table (``tests/test_primitives.py``: ``DOMAINS``).

Rows are in opcode order: the unary primitives, then the binary ones, each group in the
order of its C enum (append new rows at the end of their group).
"""
from typing import NamedTuple, Optional, Tuple


class Primitive(NamedTuple):
    name: str                   # NumPy's name: module function, node method, ufunc bound
    cls: str                    # the node class
    arity: int                  # 1 or 2
    op: str                     # the C enum constant of its rule (UnaryOp or BinaryOp)
    ufuncs: Tuple[str, ...] = ()  # other NumPy ufunc names that call it (np.true_divide)
    notes: str = ""             # domain, and the convention at kinks and poles
    second: Optional[str] = None  # the second partials that are not identically zero:
                                # a space-separated subset of "aa ab bb" ("" for none;
                                # None: not declared, read as all of them).  A partial
                                # left out is 0.0 in both engines' second-order rules
                                # (_second.pxd, _second.py) at every operand, nan too.


TABLE = (
    # Unary: y = f(x).
    Primitive("negative", "Neg", 1, "NEG", second=""),
    Primitive("reciprocal", "Inv", 1, "INV", notes="1/0 = inf; second derivative +-inf at +-0",
              second="aa"),
    Primitive("sin", "Sin", 1, "SIN", second="aa"),
    Primitive("cos", "Cos", 1, "COS", second="aa"),
    Primitive("tan", "Tan", 1, "TAN", second="aa"),
    Primitive("arcsin", "Arcsin", 1, "ARCSIN", notes="[-1, 1]; derivative inf at +-1",
              second="aa"),
    Primitive("arccos", "Arccos", 1, "ARCCOS", notes="[-1, 1]; derivative -inf at +-1",
              second="aa"),
    Primitive("arctan", "Arctan", 1, "ARCTAN", second="aa"),
    Primitive("sinh", "Sinh", 1, "SINH", second="aa"),
    Primitive("cosh", "Cosh", 1, "COSH", second="aa"),
    Primitive("tanh", "Tanh", 1, "TANH", second="aa"),
    Primitive("exp", "Exp", 1, "EXP", second="aa"),
    Primitive("expm1", "Expm1", 1, "EXPM1", second="aa"),
    Primitive("log", "Log", 1, "LOG", notes="x > 0; log(0) = -inf", second="aa"),
    Primitive("log1p", "Log1p", 1, "LOG1P", notes="x > -1", second="aa"),
    Primitive("log2", "Log2", 1, "LOG2", notes="x > 0", second="aa"),
    Primitive("log10", "Log10", 1, "LOG10", notes="x > 0", second="aa"),
    Primitive("sqrt", "Sqrt", 1, "SQRT", notes="x >= 0; derivative inf at 0, second -inf",
              second="aa"),
    Primitive("sigmoid", "Sigmoid", 1, "SIGMOID", second="aa"),
    Primitive("relu", "Relu", 1, "RELU", notes="derivative 0 at 0; second derivative 0",
              second=""),
    Primitive("absolute", "Abs", 1, "ABS", notes="derivative 0 at 0; second derivative 0",
              second=""),
    # Special functions (scipy.special's names, so its ufuncs work on nodes).
    Primitive("erf", "Erf", 1, "ERF", second="aa"),
    Primitive("erfc", "Erfc", 1, "ERFC", second="aa"),
    Primitive("gammaln", "Gammaln", 1, "GAMMALN", ufuncs=("lgamma",),
              notes="log abs Gamma; +inf at the poles 0, -1, -2, ... and at -inf; derivative "
                    "digamma (nan at -1, -2, ...; -inf at +0, +inf at -0); second derivative "
                    "trigamma", second="aa"),
    Primitive("digamma", "Digamma", 1, "DIGAMMA", ufuncs=("psi",),
              notes="nan at -1, -2, ...; -inf at +0, +inf at -0; derivative trigamma "
                    "(+inf at 0, -1, -2, ...); at most 3 ulp from SciPy for x > 0; second "
                    "derivative polygamma(2, x) (-inf at +0, +inf at -0, nan at -1, -2, ...): "
                    "against scipy.special.polygamma(2, x), at most 6 ulp for x > 0 (median 1; "
                    "3 * 10^5 points), for x < 0 median 1 ulp, 99.9% within 80 ulp, at most "
                    "1.6e4 ulp where SciPy is the one off (against mpmath on 3000 points in "
                    "[-50, 0]: ours at most 7 ulp, SciPy's 170)",
              second="aa"),
    Primitive("expit", "Expit", 1, "EXPIT",
              notes="SciPy's 1 / (1 + exp(-x)); sigmoid rounds differently for x < 0",
              second="aa"),
    Primitive("logit", "Logit", 1, "LOGIT",
              notes="[0, 1]; -inf at 0, inf at 1, derivative inf at both", second="aa"),
    Primitive("ndtr", "Ndtr", 1, "NDTR", notes="the standard normal distribution function",
              second="aa"),
    Primitive("log_ndtr", "LogNdtr", 1, "LOG_NDTR",
              notes="log(ndtr(x)), accurate in the far left tail (asymptotic series below "
                    "-20, for the second derivative too: -1 at -inf)", second="aa"),
    # Elementary ufuncs (issue 10).
    Primitive("sign", "Sign", 1, "SIGN", notes="sign(-0) = 0, nan at nan; derivative 0",
              second=""),
    Primitive("floor", "Floor", 1, "FLOOR", notes="derivative 0, 0 at the jumps", second=""),
    Primitive("ceil", "Ceil", 1, "CEIL", notes="derivative 0, 0 at the jumps", second=""),
    Primitive("trunc", "Trunc", 1, "TRUNC", notes="derivative 0, 0 at the jumps", second=""),
    Primitive("rint", "Rint", 1, "RINT", notes="halves to even; derivative 0, 0 at the jumps",
              second=""),
    Primitive("fabs", "Fabs", 1, "FABS", notes="derivative 0 at 0; second derivative 0",
              second=""),
    Primitive("square", "Square", 1, "SQUARE", notes="x * x", second="aa"),
    Primitive("cbrt", "Cbrt", 1, "CBRT", notes="derivative inf at 0, second -inf at +0, "
              "+inf at -0", second="aa"),
    Primitive("exp2", "Exp2", 1, "EXP2", second="aa"),
    Primitive("arcsinh", "Arcsinh", 1, "ARCSINH", second="aa"),
    Primitive("arccosh", "Arccosh", 1, "ARCCOSH", notes="x >= 1; derivative inf at 1",
              second="aa"),
    Primitive("arctanh", "Arctanh", 1, "ARCTANH",
              notes="[-1, 1]; +-inf at +-1, derivative inf there", second="aa"),
    Primitive("deg2rad", "Deg2rad", 1, "DEG2RAD", ufuncs=("radians",), notes="x * (pi / 180)",
              second=""),
    Primitive("rad2deg", "Rad2deg", 1, "RAD2DEG", ufuncs=("degrees",), notes="x * (180 / pi)",
              second=""),
    Primitive("conjugate", "Conjugate", 1, "CONJUGATE",
              notes="the identity on reals (for np.var, np.std)", second=""),
    # Binary: y = f(a, b); a number operand is a constant (no edge).
    Primitive("add", "Add", 2, "ADD", second=""),
    Primitive("multiply", "Mul", 2, "MUL", second="ab"),
    Primitive("power", "Pow", 2, "POW", ufuncs=("float_power",),
              notes="d/db a**b is 0 at a = 0, and so are d2/da db and d2/db2; d2/da2 of "
                    "a**0 and a**1 is 0, of a**2 is 2, everywhere", second="aa ab bb"),
    Primitive("maximum", "Maximum", 2, "MAXIMUM",
              notes="a tie gives 0.5 to each side; second derivatives 0", second=""),
    Primitive("minimum", "Minimum", 2, "MINIMUM",
              notes="a tie gives 0.5 to each side; second derivatives 0", second=""),
    Primitive("arctan2", "Arctan2", 2, "ARCTAN2", second="aa ab bb"),
    Primitive("subtract", "Sub", 2, "SUB", second=""),
    Primitive("divide", "Div", 2, "DIV", ufuncs=("true_divide",), second="ab bb"),
    # Special functions (scipy.special's names).
    Primitive("xlogy", "Xlogy", 2, "XLOGY",
              notes="a log(b); 0 where a == 0 and b is not nan, and then d/db and d2/db2 "
                    "are 0", second="ab bb"),
    Primitive("xlog1py", "Xlog1py", 2, "XLOG1PY",
              notes="a log1p(b); 0 where a == 0 and b is not nan, and then d/db and d2/db2 "
                    "are 0", second="ab bb"),
    # Elementary ufuncs (issue 10).
    Primitive("hypot", "Hypot", 2, "HYPOT",
              notes="derivatives a/h, b/h; 0 and 0 at (0, 0), second derivatives 0 there",
              second="aa ab bb"),
    Primitive("logaddexp", "Logaddexp", 2, "LOGADDEXP",
              notes="NumPy's algorithm; a tie gives 0.5 to each side", second="aa ab bb"),
    Primitive("logaddexp2", "Logaddexp2", 2, "LOGADDEXP2",
              notes="NumPy's algorithm; a tie gives 0.5 to each side", second="aa ab bb"),
    Primitive("fmax", "Fmax", 2, "FMAX",
              notes="ignores a nan; a tie gives a and 0.5 to each side", second=""),
    Primitive("fmin", "Fmin", 2, "FMIN",
              notes="ignores a nan; a tie gives a and 0.5 to each side", second=""),
    Primitive("copysign", "Copysign", 2, "COPYSIGN",
              notes="d/da = +-1 (copysign(1, a) * copysign(1, b)), d/db = 0; "
                    "nan if a or b is nan (a nan's sign is unspecified)", second=""),
    Primitive("fmod", "Fmod", 2, "FMOD",
              notes="C's fmod (sign of a); d/da = 1, d/db = -trunc(a / b)", second=""),
    Primitive("remainder", "Remainder", 2, "REMAINDER",
              notes="Python's % (sign of b; np.mod); d/da = 1, d/db = -floor(a / b)",
              second=""),
    Primitive("floor_divide", "FloorDivide", 2, "FLOOR_DIVIDE",
              notes="Python's //; derivative 0, 0 at the jumps", second=""),
    Primitive("heaviside", "Heaviside", 2, "HEAVISIDE",
              notes="NumPy's: 0 for a < 0, b at a == 0, 1 for a > 0, nan for a nan; d/da = 0 "
                    "(at 0 too), d/db = 1 where a == 0, else 0", second=""),
)

# The ufunc aliases that NumPy's object loops call as methods by that name (np.radians on
# an object array calls x.radians()): nodes have these methods too.
METHOD_ALIASES = frozenset({"radians", "degrees"})

UNARY = tuple(p for p in TABLE if p.arity == 1)
BINARY = tuple(p for p in TABLE if p.arity == 2)
BY_NAME = {p.name: p for p in TABLE}

assert TABLE == UNARY + BINARY, "unary rows first, then binary"
assert len(BY_NAME) == len(TABLE) and len({p.cls for p in TABLE}) == len(TABLE)
