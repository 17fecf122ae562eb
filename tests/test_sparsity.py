"""The sparsity pass (autodiff._sparsity): patterns, colourings, seed and recovery index.

Oracles, independent of the pass:
- hand-written instruction arrays whose patterns follow from the functions by hand;
- hyper-dual numbers (exact first and second derivatives, evaluated here instruction by
  instruction) on random programs: every nonzero they give must be in the pattern;
- analytic Jacobians and Hessians of Rosenbrock, Bratu, least-squares residuals and a random
  sparse quadratic, recorded with both engines: the pattern must equal theirs;
- colourings checked from their definition (no two columns of one colour share a row; every
  Hessian entry readable from one entry of H @ seed), and recovery checked on random
  matrices with the pattern.

The Hessian pattern depends on the table's ``second`` column.  Where a test needs exact
patterns it sets that column from the mathematics of the few primitives it uses
(``known_second``), so that it checks the pass whatever the table declares today.
"""
import math

import numpy as np
import pytest

from autodiff import _primitives
from autodiff import _sparsity

UNARY = [p.name for p in _primitives.UNARY]
BINARY = [p.name for p in _primitives.BINARY]
POWC = len(UNARY)

# The second partials of a few primitives, from their formulas.
KNOWN_SECOND = {
    "negative": "", "sin": "aa", "cos": "aa", "exp": "aa", "tanh": "aa", "square": "aa",
    "log": "aa", "add": "", "subtract": "", "multiply": "ab", "divide": "ab bb",
    "power": "aa ab bb",
}


def opcode(name):
    if name == "powc":
        return POWC
    if name in UNARY:
        return UNARY.index(name)
    return 1024 + BINARY.index(name)


@pytest.fixture
def known_second(monkeypatch):
    """The pass reads the table's second column through _second_flags(): give it the
    column of KNOWN_SECOND (undeclared for every other primitive)."""
    def rows(group):
        return tuple(p._replace(second=KNOWN_SECOND.get(p.name)) for p in group)
    monkeypatch.setattr(_primitives, "UNARY", rows(_primitives.UNARY))
    monkeypatch.setattr(_primitives, "BINARY", rows(_primitives.BINARY))
    monkeypatch.setattr(_primitives, "BY_NAME",
                        {p.name: p for p in _primitives.UNARY + _primitives.BINARY})


class Program:
    """Instruction arrays written by hand: inputs, then constants, then instructions."""

    def __init__(self, n_inputs, constants=()):
        self.n_inputs = n_inputs
        self.constants = list(constants)
        self.base = n_inputs + len(self.constants)
        self.rows = []

    def const(self, k):
        return self.n_inputs + k

    def __call__(self, name, a, b=None):
        self.rows.append((opcode(name), a, a if b is None else b))
        return self.base + len(self.rows) - 1

    @property
    def code(self):
        return np.array(self.rows, dtype=np.int32).reshape(len(self.rows), 3)

    def jacobian(self, outs, columns):
        return _sparsity.jacobian_plan(self.code, self.base, self.n_inputs, outs, columns)

    def hessian(self, root, columns):
        return _sparsity.hessian_plan(self.code, self.base, self.n_inputs, root, columns)


def dense(plan):
    M = np.zeros(plan.shape, dtype=bool)
    for i in range(plan.shape[0]):
        M[i, plan.indices[plan.indptr[i]:plan.indptr[i + 1]]] = True
    return M


def check_plan(plan, symmetric=False):
    """Structural checks of a plan, and recovery of random matrices with its pattern."""
    n_rows, n_cols = plan.shape
    assert plan.indptr.dtype == plan.indices.dtype == plan.take.dtype == np.int64
    assert plan.colours.dtype == np.int64 and plan.seed.dtype == np.float64
    assert plan.indptr.shape == (n_rows + 1,) and plan.indptr[0] == 0
    assert plan.indptr[-1] == len(plan.indices) == len(plan.take)
    for i in range(n_rows):
        row = plan.indices[plan.indptr[i]:plan.indptr[i + 1]]
        assert (np.diff(row) > 0).all()             # sorted, no repeats
        assert ((row >= 0) & (row < n_cols)).all()
    assert plan.seed.shape == (n_cols, plan.n_colours)
    for x in (plan.indptr, plan.indices, plan.colours, plan.seed, plan.take):
        assert not x.flags.writeable
    P = dense(plan)
    # A column with an entry has a colour in range; an empty one has none (-1).
    has = P.any(axis=0)
    assert (plan.colours[has] >= 0).all() and (plan.colours[has] < plan.n_colours).all()
    assert (plan.colours[~has] == -1).all()
    expected_seed = np.zeros((n_cols, plan.n_colours))
    expected_seed[np.flatnonzero(has), plan.colours[has]] = 1.0
    assert np.array_equal(plan.seed, expected_seed)
    if plan.n_colours:
        assert set(plan.colours[has].tolist()) == set(range(plan.n_colours))
    if symmetric:
        assert n_rows == n_cols and np.array_equal(P, P.T)
        check_symmetric_colouring(P, plan.colours)
    else:
        check_column_colouring(P, plan.colours)
    rng = np.random.default_rng(len(plan.indices))
    for _ in range(3):
        M = np.where(P, rng.standard_normal(P.shape), 0.0)
        if symmetric:
            M = np.where(P, M + M.T, 0.0)
        compressed = M @ plan.seed
        assert compressed.shape == (n_rows, plan.n_colours)
        assert np.array_equal(compressed.ravel()[plan.take], M[P])    # C order == CSR


def check_column_colouring(P, colours):
    """No two columns of one colour have an entry in the same row."""
    for c in set(colours.tolist()) - {-1}:
        assert (P[:, colours == c].sum(axis=1) <= 1).all()


def check_symmetric_colouring(P, colours):
    """Each entry (i, j) is alone with its colour in row i, or (i, j) alone in row j."""
    n = len(P)
    for i in range(n):
        for j in np.flatnonzero(P[i]):
            from_i = (P[i] & (colours == colours[j])).sum() == 1
            from_j = (P[j] & (colours == colours[i])).sum() == 1
            assert from_i or from_j, (i, j)


# --------------------------------------------------------------------------------------
# Hand-written instruction arrays
# --------------------------------------------------------------------------------------

def test_jacobian_pattern_by_hand():
    p = Program(4, constants=[2.0])
    y0 = p("multiply", 0, 1)                    # x0 * x1
    s = p("sin", 2)
    y1 = p("add", s, p.const(0))                # sin(x2) + 2
    y2 = p("subtract", 0, p.const(0))           # x0 - 2
    plan = p.jacobian([y0, y1, y2], [0, 1, 2, 3])
    assert dense(plan).tolist() == [[1, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]]
    assert plan.shape == (3, 4) and plan.n_colours == 2      # x2 joins x0 or x1
    check_plan(plan)
    # Columns in another order, and a subset: x3 and x1 are not differentiated.
    plan = p.jacobian([y0, y1, y2], [2, 0])
    assert dense(plan).tolist() == [[0, 1], [1, 0], [0, 1]]
    check_plan(plan)


def test_no_columns():
    p = Program(2)
    y = p("multiply", 0, 1)
    plan = p.jacobian([y, y], [])
    assert plan.shape == (2, 0) and plan.n_colours == 0 and len(plan.take) == 0
    assert plan.seed.shape == (0, 0) and plan.indptr.tolist() == [0, 0, 0]
    check_plan(plan)
    plan = p.hessian(y, [])
    assert plan.shape == (0, 0) and plan.n_colours == 0 and plan.indptr.tolist() == [0]
    check_plan(plan, symmetric=True)


def test_outputs_that_are_inputs_or_constants():
    p = Program(3, constants=[1.5])
    y = p("exp", 0)
    plan = p.jacobian([p.const(0), 1, 2, y], [0, 1])    # input 2 is not differentiated
    assert dense(plan).tolist() == [[0, 0], [0, 1], [0, 0], [1, 0]]
    assert plan.n_colours == 1
    check_plan(plan)
    # No instruction at all.
    p = Program(2, constants=[1.0])
    plan = p.jacobian([1, 0, p.const(0)], [0, 1])
    assert dense(plan).tolist() == [[0, 1], [1, 0], [0, 0]]
    check_plan(plan)
    for root in (0, p.const(0)):
        plan = p.hessian(root, [0, 1])
        assert plan.n_colours == 0 and not dense(plan).any()
        check_plan(plan, symmetric=True)


def test_input_used_by_nothing(known_second):
    p = Program(3)
    y = p("multiply", 0, 2)
    z = p("sin", y)
    plan = p.jacobian([z], [0, 1, 2])
    assert dense(plan).tolist() == [[1, 0, 1]]
    assert plan.colours[1] == -1 and not plan.seed[1].any()
    check_plan(plan)
    plan = p.hessian(z, [0, 1, 2])
    # sin(x0 x2): d2/dx0^2 = -sin * x2^2, d2/dx0 dx2 = cos - sin x0 x2, x1 nowhere.
    assert dense(plan).tolist() == [[1, 0, 1], [0, 0, 0], [1, 0, 1]]
    assert plan.colours[1] == -1
    check_plan(plan, symmetric=True)


def test_duplicate_operands(known_second):
    p = Program(2)
    sq = p("multiply", 0, 0)                    # x0 * x0
    y = p("add", sq, 1)                         # x0**2 + x1
    plan = p.jacobian([sq, y], [0, 1])
    assert dense(plan).tolist() == [[1, 0], [1, 1]]
    check_plan(plan)
    plan = p.hessian(y, [0, 1])
    assert dense(plan).tolist() == [[1, 0], [0, 0]]         # only d2/dx0^2 = 2
    check_plan(plan, symmetric=True)


def test_power_with_a_constant_exponent(known_second):
    p = Program(2, constants=[3.0])
    cube = p("powc", 0, p.const(0))             # x0 ** 3: b is the constant's slot
    y = p("add", cube, 1)
    plan = p.jacobian([cube, y], [0, 1])
    assert dense(plan).tolist() == [[1, 0], [1, 1]]
    check_plan(plan)
    plan = p.hessian(y, [0, 1])
    assert dense(plan).tolist() == [[1, 0], [0, 0]]
    check_plan(plan, symmetric=True)
    # A constant base: c ** x1 is binary power with a constant a.
    q = Program(2, constants=[2.0])
    y = q("multiply", q("power", q.const(0), 1), 0)     # 2 ** x1 * x0
    assert dense(q.hessian(y, [0, 1])).tolist() == [[0, 1], [1, 1]]


def test_linear_instructions_add_no_second_derivative(known_second):
    p = Program(3, constants=[4.0])
    s = p("add", 0, 1)
    t = p("subtract", s, p("negative", 2))
    y = p("multiply", t, p.const(0))            # 4 (x0 + x1 + x2): linear
    plan = p.hessian(y, [0, 1, 2])
    assert not dense(plan).any() and plan.n_colours == 0
    check_plan(plan, symmetric=True)
    assert dense(p.jacobian([y], [0, 1, 2])).tolist() == [[1, 1, 1]]


def test_product_has_no_diagonal_and_one_colour(known_second):
    p = Program(2)
    y = p("multiply", 0, 1)
    plan = p.hessian(y, [0, 1])
    assert dense(plan).tolist() == [[0, 1], [1, 0]]
    # H @ [1, 1] = [h01, h10]: one colour reads both entries.
    assert plan.n_colours == 1
    check_plan(plan, symmetric=True)


def test_nonlinear_instruction_off_the_path_to_the_root(known_second, column_regime):
    p = Program(2)
    p("multiply", 0, 1)                         # x0 * x1, unused by the root
    e = p("exp", 0)
    y = p("add", e, 1)                          # exp(x0) + x1
    p("sin", y)                                 # after the root: ignored
    assert dense(p.hessian(y, [0, 1])).tolist() == [[1, 0], [0, 0]]


def test_divide_second_partials(known_second):
    p = Program(3)
    y = p("divide", p("add", 0, 1), 2)          # (x0 + x1) / x2: no d2/dx0 dx1
    assert dense(p.hessian(y, [0, 1, 2])).tolist() == [[0, 0, 1], [0, 0, 1], [1, 1, 1]]


def test_undeclared_second_column_means_every_partial(monkeypatch):
    mul = BINARY.index("multiply")
    binary = list(_primitives.BINARY)
    binary[mul] = binary[mul]._replace(second=None)
    monkeypatch.setattr(_primitives, "BINARY", tuple(binary))
    p = Program(2)
    y = p("multiply", 0, 1)
    assert dense(p.hessian(y, [0, 1])).tolist() == [[1, 1], [1, 1]]
    binary[mul] = binary[mul]._replace(second="ab")
    monkeypatch.setattr(_primitives, "BINARY", tuple(binary))
    assert dense(p.hessian(y, [0, 1])).tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize("bad, message", [
    (dict(code=np.array([[0, 5, 5]])), "not written before"),
    (dict(code=np.array([[0, 2, 2]])), "not written before"),       # its own slot
    (dict(code=np.array([[0, -1, 0]])), "not written before"),
    (dict(code=np.array([[999, 0, 0]])), "unknown op"),
    (dict(code=np.zeros((1, 2), dtype=np.int32)), "shape"),
    (dict(code=np.zeros((1, 3))), "integer"),
    (dict(columns=[0, 0]), "repeated"),
    (dict(columns=[2]), "input slots"),
    (dict(n_inputs=3), "n_inputs"),
])
def test_bad_input(bad, message):
    args = dict(code=np.array([[opcode("sin"), 0, 0]], dtype=np.int32), base=2, n_inputs=2,
                columns=[0, 1])
    args.update(bad)
    with pytest.raises(ValueError, match=message):
        _sparsity.jacobian_plan(args["code"], args["base"], args["n_inputs"], [2],
                                args["columns"])
    with pytest.raises(ValueError, match=message):
        _sparsity.hessian_plan(args["code"], args["base"], args["n_inputs"], 2,
                               args["columns"])


def test_bad_output_slots():
    p = Program(1)
    y = p("sin", 0)
    with pytest.raises(ValueError, match="output"):
        p.jacobian([y + 1], [0])
    with pytest.raises(ValueError, match="root"):
        p.hessian(-1, [0])


def test_plan_is_read_only():
    p = Program(2)
    plan = p.jacobian([p("multiply", 0, 1)], [0, 1])
    with pytest.raises(Exception):
        plan.n_colours = 5
    with pytest.raises(ValueError):
        plan.take[0] = 1
    with pytest.raises(ValueError):
        plan.seed[0, 0] = 2.0


# --------------------------------------------------------------------------------------
# Random programs against hyper-dual numbers
# --------------------------------------------------------------------------------------

class HD:
    """A hyper-dual number v + a e1 + b e2 + c e1 e2 (e1**2 = e2**2 = 0): its e1 e2 part
    carries an exact second derivative."""
    __slots__ = ("v", "a", "b", "c")

    def __init__(self, v, a=0.0, b=0.0, c=0.0):
        self.v, self.a, self.b, self.c = v, a, b, c

    def apply(self, f, d1, d2):
        return HD(f, d1 * self.a, d1 * self.b, d1 * self.c + d2 * self.a * self.b)


def hd_unary(name, x, c=None):
    v = x.v
    if name == "sin":
        return x.apply(math.sin(v), math.cos(v), -math.sin(v))
    if name == "cos":
        return x.apply(math.cos(v), -math.sin(v), -math.cos(v))
    if name == "exp":
        return x.apply(math.exp(v), math.exp(v), math.exp(v))
    if name == "tanh":
        t = math.tanh(v)
        return x.apply(t, 1 - t * t, -2 * t * (1 - t * t))
    if name == "square":
        return x.apply(v * v, 2 * v, 2.0)
    if name == "negative":
        return x.apply(-v, -1.0, 0.0)
    if name == "powc":
        return x.apply(v ** c, c * v ** (c - 1), c * (c - 1) * v ** (c - 2))
    raise KeyError(name)


def hd_binary(name, x, y):
    if name == "add":
        return HD(x.v + y.v, x.a + y.a, x.b + y.b, x.c + y.c)
    if name == "subtract":
        return HD(x.v - y.v, x.a - y.a, x.b - y.b, x.c - y.c)
    if name == "multiply":
        return HD(x.v * y.v, x.a * y.v + x.v * y.a, x.b * y.v + x.v * y.b,
                  x.c * y.v + x.a * y.b + x.b * y.a + x.v * y.c)
    raise KeyError(name)


RANDOM_UNARY = ("sin", "cos", "exp", "tanh", "square", "negative", "powc")
RANDOM_BINARY = ("add", "subtract", "multiply")


def random_program(rng, n_inputs, n_ops):
    p = Program(n_inputs, constants=[0.75, 3.0])
    names = []
    for i in range(n_ops):
        top = p.base + i
        # Operands: mostly recent slots, sometimes an input or a constant.
        def pick():
            r = rng.random()
            if r < 0.3:
                return int(rng.integers(0, n_inputs))
            if r < 0.4:
                return p.const(int(rng.integers(0, 2)))
            return int(rng.integers(max(0, top - 4), top))
        if rng.random() < 0.45:
            name = str(rng.choice(RANDOM_UNARY))
            a = pick()
            if name == "powc":
                p(name, a, p.const(1))
            else:
                p(name, a)
        else:
            name = str(rng.choice(RANDOM_BINARY))
            p(name, pick(), pick())
        names.append(name)
    return p, names


def hd_evaluate(p, names, x, e1, e2):
    """All slots of the program at x, in hyper-dual numbers seeded with e1 and e2."""
    vals = [HD(x[k], e1[k], e2[k]) for k in range(p.n_inputs)]
    vals += [HD(c) for c in p.constants]
    for name, (_, a, b) in zip(names, p.rows):
        if name in RANDOM_UNARY:
            vals.append(hd_unary(name, vals[a], vals[b].v))   # powc: b is c's slot
        else:
            vals.append(hd_binary(name, vals[a], vals[b]))
    return vals


@pytest.fixture(params=["few", "many"])
def column_regime(request, monkeypatch):
    """The Hessian pass computes every set for few columns and only the needed ones for
    many (memory): run both ways by moving the threshold."""
    if request.param == "many":
        monkeypatch.setattr(_sparsity, "_NEED_ABOVE", 0)
    return request.param


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_contain_every_nonzero(seed, known_second, column_regime):
    rng = np.random.default_rng(seed)
    n_inputs = int(rng.integers(1, 6))
    p, names = random_program(rng, n_inputs, int(rng.integers(1, 25)))
    x = rng.uniform(-0.9, 0.9, n_inputs)
    columns = [int(c) for c in rng.permutation(n_inputs)[:int(rng.integers(0, n_inputs + 1))]]
    n_slots = p.base + len(names)
    outs = [int(s) for s in rng.integers(0, n_slots, size=int(rng.integers(1, 5)))]
    eye = np.eye(n_inputs)
    zero = np.zeros(n_inputs)
    J = np.zeros((len(outs), len(columns)))
    for k, col in enumerate(columns):
        vals = hd_evaluate(p, names, x, eye[col], zero)
        J[:, k] = [vals[s].a for s in outs]
    plan = p.jacobian(outs, columns)
    P = dense(plan)
    assert not (J[~P] != 0).any(), "a nonzero of the Jacobian outside the pattern"
    check_plan(plan)
    root = outs[0]
    H = np.zeros((len(columns), len(columns)))
    for j, cj in enumerate(columns):
        for k, ck in enumerate(columns):
            H[j, k] = hd_evaluate(p, names, x, eye[cj], eye[ck])[root].c
    plan = p.hessian(root, columns)
    P = dense(plan)
    assert not (H[~P] != 0).any(), "a nonzero of the Hessian outside the pattern"
    check_plan(plan, symmetric=True)


def test_random_program_patterns_are_tight_without_cancellation(known_second):
    """Sums and products of distinct inputs through sin: no cancellation is possible at a
    generic point, so the oracle's nonzeros are the whole pattern."""
    rng = np.random.default_rng(7)
    n = 6
    p = Program(n)
    slots = list(range(n))
    for _ in range(8):
        i, j = rng.choice(n, size=2, replace=False)
        slots.append(p("sin", p(str(rng.choice(["add", "multiply"])), int(i), int(j))))
    root = slots[n]
    for s in slots[n + 1:]:
        root = p("add", root, s)
    x = rng.uniform(0.1, 0.9, n)
    eye = np.eye(n)
    H = np.array([[hd_evaluate(p, ["sin" if op == opcode("sin") else BINARY[op - 1024]
                                   for op, _, _ in p.rows], x, eye[j], eye[k])[root].c
                   for k in range(n)] for j in range(n)])
    assert np.array_equal(dense(p.hessian(root, list(range(n)))), H != 0)


# --------------------------------------------------------------------------------------
# Colourings of known patterns
# --------------------------------------------------------------------------------------

def banded_program(n, half_bandwidth):
    """Outputs y_i = sin(sum of x_j for |i - j| <= w): a banded Jacobian."""
    p = Program(n)
    outs = []
    for i in range(n):
        lo, hi = max(0, i - half_bandwidth), min(n, i + half_bandwidth + 1)
        s = lo
        for j in range(lo + 1, hi):
            s = p("add", s, j)
        outs.append(p("sin", s))
    return p, outs


@pytest.mark.parametrize("n, w", [(2, 1), (3, 1), (10, 1), (50, 1), (30, 2), (40, 3)])
def test_banded_jacobian_colours(n, w):
    p, outs = banded_program(n, w)
    plan = p.jacobian(outs, list(range(n)))
    i, j = np.indices((n, n))
    assert np.array_equal(dense(plan), np.abs(i - j) <= w)
    assert plan.n_colours == min(n, 2 * w + 1)
    check_plan(plan)


@pytest.mark.parametrize("n", [3, 4, 10, 200])
def test_tridiagonal_hessian_colours(n, known_second):
    """sum of (x_i - x_{i+1})**2 and of x_i**3: a tridiagonal Hessian, 3 colours (2 for
    n = 3: the middle row is read through the outer ones, which are alone in theirs)."""
    p = Program(n, constants=[3.0])
    root = p("powc", 0, p.const(0))
    for i in range(n - 1):
        d = p("subtract", i, i + 1)
        root = p("add", root, p("square", d))
        root = p("add", root, p("powc", i + 1, p.const(0)))
    plan = p.hessian(root, list(range(n)))
    i, j = np.indices((n, n))
    assert np.array_equal(dense(plan), np.abs(i - j) <= 1)
    assert plan.n_colours == (2 if n == 3 else 3)
    check_plan(plan, symmetric=True)


def test_arrow_hessian_needs_two_colours(known_second):
    """x0 * (x1 + ... + x_{n-1}) + sum of x_i**2: row and column 0 dense, and the
    diagonal.  A column colouring needs n colours; the symmetric one 2."""
    n = 30
    p = Program(n)
    s = 1
    for j in range(2, n):
        s = p("add", s, j)
    root = p("multiply", 0, s)
    for j in range(n):
        root = p("add", root, p("square", j))
    plan = p.hessian(root, list(range(n)))
    expected = np.eye(n, dtype=bool)
    expected[0] = expected[:, 0] = True
    assert np.array_equal(dense(plan), expected)
    assert plan.n_colours == 2
    check_plan(plan, symmetric=True)
    # The Jacobian of the same sums as outputs: one dense row, n colours.
    jplan = p.jacobian([root], list(range(n)))
    assert jplan.n_colours == n
    check_plan(jplan)


@pytest.mark.parametrize("seed", range(25))
def test_random_sparse_patterns(seed, known_second):
    """Random sparse products x_i * x_j (and squares) summed: the Hessian is the pattern of
    the chosen pairs, and random sparse outputs give random Jacobian patterns."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 40))
    pairs = {(int(i), int(j)) for i, j in rng.integers(0, n, size=(int(rng.integers(0, 3 * n)), 2))}
    p = Program(n)
    root = None
    expected = np.zeros((n, n), dtype=bool)
    for i, j in sorted(pairs):
        term = p("multiply", i, j)
        root = term if root is None else p("add", root, term)
        expected[i, j] = expected[j, i] = True
    if root is None:
        root = 0
    plan = p.hessian(root, list(range(n)))
    assert np.array_equal(dense(plan), expected)
    check_plan(plan, symmetric=True)
    # Compare with the column colouring of the same pattern: never more colours.
    jplan = p.jacobian([p("sin", p("add", i, j)) for i, j in sorted(pairs)] or [0],
                       list(range(n)))
    check_plan(jplan)


# --------------------------------------------------------------------------------------
# Tapes recorded with both engines, against analytic derivatives
# --------------------------------------------------------------------------------------

def plans(tape, columns=None):
    code, base, n_inputs, outs = tape._instructions()
    if columns is None:
        columns = np.arange(n_inputs)
    jplan = _sparsity.jacobian_plan(code, base, n_inputs, outs, columns)
    hplan = (_sparsity.hessian_plan(code, base, n_inputs, outs[0], columns)
             if len(outs) == 1 else None)
    return jplan, hplan


def rosenbrock(x):
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
               for i in range(len(x) - 1))


def rosenbrock_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] += -400.0 * x[i]
        H[i + 1, i] += -400.0 * x[i]
    return H


def bratu(u, lam=1.0):
    n = len(u)
    h2 = (1.0 / (n + 1)) ** 2
    return [((u[i - 1] if i else 0.0) - 2.0 * u[i] + (u[i + 1] if i < n - 1 else 0.0)) / h2
            + lam * np.exp(u[i]) for i in range(n)]


def bratu_jacobian(u, lam=1.0):
    n = len(u)
    h2 = (1.0 / (n + 1)) ** 2
    return (np.diag(-2.0 / h2 + lam * np.exp(u)) + np.diag(np.full(n - 1, 1.0 / h2), 1)
            + np.diag(np.full(n - 1, 1.0 / h2), -1))


T = np.linspace(0.05, 3.0, 200)      # t = 0 would make d r / d p1 zero there
Y = 2.0 * np.exp(-1.3 * T) + 0.5 * T - 0.2


def residuals(p):
    return [Y[i] - (p[0] * np.exp(-p[1] * T[i]) + p[2] * T[i] + p[3]) for i in range(len(T))]


def residuals_jacobian(p):
    e = np.exp(-p[1] * T)
    return np.stack([-e, p[0] * T * e, -T, -np.ones_like(T)], axis=1)


def table_declares(names):
    return all(_primitives.BY_NAME[name].second is not None for name in names)


ROSENBROCK_OPS = ("add", "subtract", "multiply", "power")


@pytest.mark.parametrize("n", [2, 3, 10, 60])
def test_rosenbrock_hessian_pattern(ad, n, known_second, column_regime):
    x = np.random.default_rng(n).uniform(-1.0, 1.0, n)
    _, plan = plans(ad.record(rosenbrock, x))
    H = rosenbrock_hessian(x)
    assert np.array_equal(dense(plan), H != 0)          # tridiagonal
    assert plan.n_colours == (2 if n <= 3 else 3)     # see test_tridiagonal_hessian_colours
    check_plan(plan, symmetric=True)


def test_rosenbrock_hessian_pattern_with_the_table(ad):
    """With the table as it stands: every nonzero is in the pattern; exactly the pattern
    once the rows Rosenbrock uses declare their second partials."""
    n = 12
    x = np.random.default_rng(1).uniform(-1.0, 1.0, n)
    _, plan = plans(ad.record(rosenbrock, x))
    P = dense(plan)
    nonzero = rosenbrock_hessian(x) != 0
    assert P[nonzero].all()
    if table_declares(ROSENBROCK_OPS):
        assert np.array_equal(P, nonzero)
    check_plan(plan, symmetric=True)


@pytest.mark.parametrize("n", [1, 2, 5, 100])
def test_bratu_jacobian_pattern(ad, n):
    u = np.random.default_rng(n).uniform(0.0, 0.5, n)
    plan, _ = plans(ad.record(bratu, u))
    J = bratu_jacobian(u)
    assert np.array_equal(dense(plan), J != 0)
    assert plan.n_colours == min(n, 3)
    check_plan(plan)
    # The compressed Jacobian of the analytic J gives J's CSR data back.
    assert np.array_equal((J @ plan.seed).ravel()[plan.take], J[J != 0])


def test_least_squares_jacobian_pattern(ad):
    p = np.array([1.5, 1.0, 0.3, 0.1])
    plan, _ = plans(ad.record(residuals, p))
    J = residuals_jacobian(p)
    assert plan.shape == (200, 4) and np.array_equal(dense(plan), J != 0)
    assert plan.n_colours == 4
    check_plan(plan)


@pytest.mark.parametrize("seed", range(4))
def test_random_sparse_quadratic(ad, seed, known_second, column_regime):
    rng = np.random.default_rng(seed)
    n = 25
    A = np.where(rng.random((n, n)) < 0.08, rng.standard_normal((n, n)), 0.0)
    A = A + A.T
    nz = list(zip(*np.nonzero(np.triu(A))))
    b = rng.standard_normal(n)

    def f(x):
        total = 0.0
        for i, j in nz:
            total = total + (A[i, j] if i != j else 0.5 * A[i, i]) * x[i] * x[j]
        for i in range(n):
            total = total + b[i] * x[i]
        return total
    x = rng.standard_normal(n)
    _, plan = plans(ad.record(f, x))
    assert np.array_equal(dense(plan), A != 0)          # the Hessian is A
    check_plan(plan, symmetric=True)


def test_columns_of_one_argument(ad, known_second):
    """argnums picks the columns: the pattern over y's elements only."""
    def f(x, y):
        return x[0] * y[1] + np.sin(x[1]) + y[0] * y[2] + y[2] ** 3.0
    tape = ad.record(f, np.ones(2), np.ones(3), argnums=1)
    code, base, n_inputs, outs = tape._instructions()
    columns = [2, 3, 4]                                 # y's slots: after x's two
    _, plan = plans(tape, columns)
    assert dense(plan).tolist() == [[0, 0, 1], [0, 0, 0], [1, 0, 1]]
    jplan = _sparsity.jacobian_plan(code, base, n_inputs, outs, columns)
    assert dense(jplan).tolist() == [[1, 1, 1]]


def test_multi_output_tape_with_constant_and_input_outputs(ad):
    tape = ad.record(lambda x: [x[0] ** 2, x[1] * x[0], 3.0, x[1], np.exp(x[2])], np.ones(3))
    plan, _ = plans(tape)
    assert dense(plan).tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert plan.n_colours == 2
    check_plan(plan)


def test_dense_hessian(ad, known_second):
    """(sum x)**2 + sum sin(x): every entry, one colour per column, read off directly."""
    n = 40
    tape = ad.record(lambda x: np.sum(x) ** 2 + np.sum(np.sin(x)), np.ones(n))
    jplan, hplan = plans(tape)
    assert dense(hplan).all() and hplan.n_colours == n
    check_plan(hplan, symmetric=True)
    assert dense(jplan).all() and jplan.n_colours == n
    check_plan(jplan)


def test_wide_rows(known_second):
    """Rows whose columns are thousands apart (bit sets of many bytes, mostly zero)."""
    n = 6000
    p = Program(n)
    y = p("multiply", 0, n - 1)
    z = p("sin", p("add", 7, 4099))
    root = p("add", y, z)
    plan = p.jacobian([y, z, root, n - 2], list(range(n)))
    assert plan.indices.tolist() == [0, n - 1, 7, 4099, 0, 7, 4099, n - 1, n - 2]
    assert plan.indptr.tolist() == [0, 2, 4, 8, 9]
    assert plan.n_colours == 4
    hplan = p.hessian(root, list(range(n)))
    assert hplan.indptr[-1] == 6 and hplan.n_colours <= 2
    assert hplan.indices[hplan.indptr[0]:hplan.indptr[1]].tolist() == [n - 1]
    assert hplan.indices[hplan.indptr[7]:hplan.indptr[8]].tolist() == [7, 4099]
    assert hplan.indices[hplan.indptr[4099]:hplan.indptr[4100]].tolist() == [7, 4099]
    M = np.zeros((n, n))
    M[0, n - 1] = M[n - 1, 0] = 1.5
    M[7, 7], M[7, 4099], M[4099, 7], M[4099, 4099] = 2.0, -3.0, -3.0, 4.0
    data = (M @ hplan.seed).ravel()[hplan.take]
    assert data.tolist() == [1.5, 2.0, -3.0, -3.0, 4.0, 1.5]
