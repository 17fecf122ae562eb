"""Pickling and copying tapes, on both engines (issue 13).

Oracles: the original tape's single calls (bit for bit), here and in another process; the
other engine restoring the same state.  A malformed or foreign state is refused with
ValueError, never replayed.
"""
import copy
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autodiff

from autodiff import _batch_reference

from helpers import assert_same_floats

# Where the autodiff under test was imported from (an in-place build in the source tree, or
# an installed package): the child process must import the same one.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(autodiff.__file__)))


def tutorial(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)


def flat(x):
    if isinstance(x, tuple):
        return [v for part in x for v in flat(part)]
    return [float(v) for v in np.asarray(x, dtype=np.float64).reshape(-1)]


def tapes(ad):
    """Tapes with every kind of slot and instruction: inputs of every shape, constants,
    x ** c (the compiled engine's own opcode), unary and binary rules, one or more argnums."""
    def mixed(x, v, c):
        return ad.sin(x) * v[0] + v[1] ** 2 + x ** 3.5 + 2.0 ** c - ad.arctan2(c, x) / 3.0
    return {
        "tutorial": (ad.record(tutorial, 230.3, 33.2, argnums=(0, 1)), (1.5, -2.25)),
        "mixed": (ad.record(mixed, 0.3, np.array([1.0, 2.0]), 0.5, argnums=(0, 1, 2)),
                  (0.7, np.array([-1.0, 3.0]), 1.25)),
        "matrix": (ad.record(lambda w, x: np.tanh(w @ x).sum(), np.ones((2, 3)),
                             np.arange(3.0), argnums=1),
                   (np.arange(6.0).reshape(2, 3) / 7, np.array([0.1, -0.2, 0.3]))),
        "identity": (ad.record(lambda x: x, 1.0), (4.0,)),
        "constant": (ad.record(lambda x: 2.5, 1.0), (4.0,)),
        "zero-d": (ad.record(lambda x: x * x, np.array(3.0)), (np.array(-1.5),)),
    }


def results(tape, args):
    return flat((tape(*args),) + tuple(np.atleast_1d(g) for g in
                                      ((tape.grad(*args),) if not isinstance(tape.argnums, tuple)
                                       else tape.grad(*args))))


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"] +
                         [f"protocol {p}" for p in range(pickle.HIGHEST_PROTOCOL + 1)])
def test_a_pickled_or_copied_tape_replays_bit_for_bit(ad, how):
    for name, (tape, args) in tapes(ad).items():
        if how == "copy":
            again = copy.copy(tape)
        elif how == "deepcopy":
            again = copy.deepcopy(tape)
        elif how == "pickle":
            again = pickle.loads(pickle.dumps(tape))
        else:
            again = pickle.loads(pickle.dumps(tape, protocol=int(how.split()[1])))
        assert type(again) is type(tape) and again is not tape
        assert repr(again) == repr(tape) and again.argnums == tape.argnums
        assert again.n_ops == tape.n_ops and again.n_inputs == tape.n_inputs
        assert_same_floats(results(again, args), results(tape, args), name)
        v1, g1 = tape.value_and_grad(*args)
        v2, g2 = again.value_and_grad(*args)
        assert type(v1) is type(v2) and type(g1) is type(g2)


def test_a_deepcopy_inside_a_container_keeps_sharing(ad):
    tape = ad.record(tutorial, 2.0, 3.0)
    box = copy.deepcopy({"a": tape, "b": tape})
    assert box["a"] is box["b"] and box["a"] is not tape


CHILD = """
    import pickle, sys
    import numpy as np
    tapes = pickle.load(sys.stdin.buffer)
    for tape, args in tapes:
        value, grads = tape.value_and_grad(*args)
        grads = grads if isinstance(grads, tuple) else (grads,)
        out = [value] + [float(v) for g in grads for v in np.ravel(g)]
        print(" ".join(float(v).hex() for v in out))
    """


def test_a_pickled_tape_replays_bit_for_bit_in_another_process(ad):
    cases = list(tapes(ad).values())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    env.pop("AUTODIFF_PURE", None)
    prelude = f"import importlib; ad = importlib.import_module({ad.__name__!r})\n"
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(CHILD)],
                          input=pickle.dumps(cases), capture_output=True, env=env,
                          cwd=PACKAGE_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-5000:]
    lines = proc.stdout.decode().split("\n")
    for (tape, args), line in zip(cases, lines):
        value, grads = tape.value_and_grad(*args)
        grads = grads if isinstance(grads, tuple) else (grads,)
        want = [value] + [float(v) for g in grads for v in np.ravel(g)]
        assert line.split() == [float(v).hex() for v in want]


def test_the_other_engine_restores_the_same_state(compiled, reference):
    for name, (tape, args) in tapes(compiled).items():
        state = tape.__reduce__()[1][0]
        assert state["engine"] == "compiled"
        again = reference._restore_tape(state)
        assert type(again) is reference.Tape
        assert_same_floats(results(again, args), results(tape, args), name)
    for name, (tape, args) in tapes(reference).items():
        restore, (state,) = tape.__reduce__()
        assert restore is reference._restore_tape
        again = compiled.Tape.__reduce__(compiled.record(tutorial, 1.0, 2.0))[0](state)
        assert type(again) is compiled.Tape
        assert_same_floats(results(again, args), results(tape, args), name)


def test_a_batched_tape_of_a_pickled_tape(ad):
    tape = pickle.loads(pickle.dumps(ad.record(tutorial, 2.0, 3.0, argnums=(0, 1))))
    a, b = np.linspace(0.5, 2, 100), np.linspace(3, 1, 100)
    values, (da, db) = tape.vmap().value_and_grad(a, b, workers=2)
    for i in range(100):
        assert (values[i], (da[i], db[i])) == tape.value_and_grad(a[i], b[i])


# --------------------------------------------------------------------------------------
# Refusals: every malformed state raises ValueError, in both engines
# --------------------------------------------------------------------------------------

def state_of(ad, f=tutorial, *args):
    tape = ad.record(f, *(args or (2.0, 3.0)))
    restore, (state,) = tape.__reduce__()
    return restore, dict(state)


def code_of(state):
    return np.frombuffer(state["code"], dtype="<i4").reshape(-1, 3).copy()


def with_code(state, code):
    state = dict(state)
    state["code"] = np.asarray(code, dtype="<i4").tobytes()
    return state


def test_another_format_version_is_refused_naming_both(ad):
    restore, state = state_of(ad)
    state["format"] = 999
    with pytest.raises(ValueError, match=r"format 999.*reads format 1"):
        restore(state)
    state["format"] = "1"
    with pytest.raises(ValueError, match="format"):
        restore(state)


def test_another_table_of_primitives_is_refused(ad):
    restore, state = state_of(ad)
    state["table"] = _batch_reference.table_fingerprint(["add", "negative"])
    state["autodiff"] = "0.0.1"
    with pytest.raises(ValueError, match=r"another table of primitives.*0\.0\.1"):
        restore(state)


def bad_states(ad):
    """(why, state) pairs, each malformed in one way."""
    restore, good = state_of(ad, lambda x, y: ad.sin(x) * y + x ** 2.5 - 3.0, 2.0, 3.0)
    code = code_of(good)
    n_ops, n_inputs = len(code), good["n_inputs"]
    n_constants = len(good["constants"]) // 8
    base = n_inputs + n_constants
    out = []

    def change(why, **fields):
        state = dict(good)
        state.update(fields)
        out.append((why, state))

    def change_code(why, i, col, value):
        c = code.copy()
        c[i, col] = value
        out.append((why, with_code(good, c)))

    change_code("unknown opcode", 0, 0, 10_000)
    change_code("negative opcode", 1, 0, -1)
    change_code("operand after the instruction", 0, 1, base)
    change_code("operand far out", n_ops - 1, 2, 1 << 30)
    change_code("negative operand", 2, 1, -5)
    change_code("unary with two operands", 0, 2, (code[0, 1] + 1) % base)
    change("truncated code", code=good["code"][:-1])
    change("code not a whole triple", code=good["code"][:-4])
    change("code not bytes", code=list(code.ravel()))
    change("constants not bytes", constants=[1.0])
    change("constants truncated", constants=good["constants"][:-3])
    change("n_inputs too large", n_inputs=n_inputs + 1)
    change("n_inputs negative", n_inputs=-1)
    change("n_inputs a float", n_inputs=float(n_inputs))
    change("n_inputs a bool", n_inputs=True)
    change("shapes not a tuple", shapes=[None, None])
    change("a negative dimension", shapes=((-2,), None), n_inputs=n_inputs)
    change("a huge shape", shapes=((1 << 20, 1 << 20), None))
    change("argnum out of range", argnums=(5,))
    change("argnum negative", argnums=(-1,))
    change("argnums not a tuple", argnums=0)
    change("single with two argnums", argnums=(0, 1), single=True)
    change("single not a bool", single=1)
    change("name not a str", name=b"f")
    change("name a str subclass", name=type("S", (str,), {})("f"))
    change("shapes a tuple subclass", shapes=type("T", (tuple,), {})((None, None)))
    change("an int subclass", n_inputs=type("I", (int,), {})(n_inputs))
    change("no output", outs=b"")
    change("output out of range", outs=np.array([base + n_ops], "<i8").tobytes())
    change("output negative", outs=np.array([-1], "<i8").tobytes())
    change("out_shape that is not the outputs'", out_shape=(3,))
    change("out_shape not a tuple", out_shape=[1])
    change("too many slots", shapes=((0x3ffffffa,), None), n_inputs=0x3ffffffb)
    missing = dict(good)
    del missing["code"]
    out.append(("a missing field", missing))
    out.append(("an extra field", dict(good, extra=1)))
    out.append(("not a dict", list(good.items())))
    out.append(("None", None))
    return restore, out


def test_malformed_states_are_refused_with_valueerror(ad):
    restore, cases = bad_states(ad)
    for why, state in cases:
        with pytest.raises(ValueError, match="cannot unpickle this Tape"):
            restore(state)
            pytest.fail(f"accepted: {why}")


def test_a_tampered_pickle_is_refused(ad):
    tape = ad.record(tutorial, 2.0, 3.0)
    data = pickle.dumps(tape, protocol=4).replace(b"tutorial", b"other___")
    assert pickle.loads(data).value_and_grad(1.0, 2.0) == tape.value_and_grad(1.0, 2.0)
    restore, state = tape.__reduce__()[0], dict(tape.__reduce__()[1][0])
    state["code"] = state["code"][:12] + np.array([7, 99, 0], "<i4").tobytes() + state["code"][24:]
    with pytest.raises(ValueError, match="instruction 1"):
        pickle.loads(pickle.dumps(_Call(restore, state)))


class _Call:
    """An object whose pickle calls restore(state): a pickle written by someone else."""
    def __init__(self, restore, state):
        self.restore, self.state = restore, state

    def __reduce__(self):
        return self.restore, (self.state,)


def test_random_corruption_never_crashes(ad):
    """Any change to the code's bytes is refused or gives a tape that replays to floats."""
    rng = np.random.default_rng(0)
    tape = ad.record(lambda x, y: ad.exp(x) * y - x / y + y ** 2, 0.5, 2.0)
    restore, (state,) = tape.__reduce__()
    raw = bytearray(state["code"])
    refused = 0
    for _ in range(300):
        corrupt = bytearray(raw)
        for _ in range(rng.integers(1, 4)):
            corrupt[rng.integers(len(corrupt))] = rng.integers(256)
        try:
            again = restore(dict(state, code=bytes(corrupt)))
        except ValueError:
            refused += 1
            continue
        with np.errstate(all="ignore"):
            value, grad = again.value_and_grad(0.25, 1.5)
        assert isinstance(value, float) and isinstance(grad, float)
    assert refused > 0
