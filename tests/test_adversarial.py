"""Hostile but legal Python code against both engines (issue 9), one case per test.

Each case runs in a forked child process, so that a crash (a segfault, or an AddressSanitizer
report under tests/sanitize.sh) fails that case instead of killing the run.  The families
follow the issue: re-entrancy through user objects, finalizers during C work, internal
types built directly, hand-set edges, reference cycles, freeing across threads, user
classes the engine could misread, clear errors, and silent loss of a derivative.  The
tape's own cases (threads, re-entrant replay) are in test_tape_safety.py.
"""
import copy
import gc
import math
import os
import pickle
import sys
import threading
import traceback
import weakref

import numpy as np
import pytest

from helpers import arity

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def run_isolated(fn, ad):
    """Run fn(ad) in a forked child; fail on an exception, a crash or a time-out."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                        # the child
        os.close(r)
        status = 0
        try:
            fn(ad)
        except BaseException:
            os.write(w, traceback.format_exc().encode()[-6000:])
            status = 1
        os.close(w)
        os._exit(status)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        pytest.fail(f"the case crashed the process (signal {os.WTERMSIG(status)})\n{report}")
    assert os.WEXITSTATUS(status) == 0, report


def make_user_class(ad, slots=None):
    """A tutorial-style user node: User(value, pairs) sets .value and .grad."""
    class User(ad.Ops):
        def __init__(self, value=0.0, pairs=()):
            self.value = value
            self.grad = list(pairs)
    return User

# --------------------------------------------------------------------------------------
# 1. Re-entrancy through user objects
# --------------------------------------------------------------------------------------


@case
def wrt_list_subclass_whose_getitem_lies(ad):
    x, y = ad.Var(2.0), ad.Var(3.0)
    f = x * y + ad.sin(x)

    class Liar(list):
        def __getitem__(self, i):
            return "not a node"
    assert ad.gradients(f, Liar([x, y])) == [3.0 + math.cos(2.0), 2.0]


@case
def wrt_iterator_that_raises_leaves_no_marks(ad):
    x, y = ad.Var(2.0), ad.Var(3.0)
    f = x * y

    class Boom(list):
        def __iter__(self):
            yield x
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        ad.gradients(f, Boom([x, y]))
    assert ad.get_gradients(x * 3.0) == {x: 3.0}
    assert ad.gradients(f, [x, y]) == [3.0, 2.0]


@case
def wrt_iterator_that_drops_the_graph(ad):
    holder = {}

    def build():
        x = ad.Var(1.5)
        holder["x"] = x
        holder["f"] = ad.exp(x) * x

    build()

    class Dropper(list):
        def __iter__(self):
            yield holder["x"]
            holder.clear()              # the caller's root is the only owner left
            gc.collect()
    x, f = holder["x"], holder["f"]
    del holder["f"]
    got = ad.gradients(f, Dropper([x]))
    assert got == [math.exp(1.5) * 1.5 + math.exp(1.5)]


@case
def hash_that_frees_nodes_during_get_gradients(ad):
    User = make_user_class(ad)
    victims = []

    class Hasher(User):
        def __hash__(self):
            for v in victims:           # drop the edges that own the inner nodes
                v.grad = []
            gc.collect()
            return id(self)

        def __eq__(self, other):
            return self is other

    x = ad.Var(0.5)
    inner = [ad.sin(x) * float(i) for i in range(50)]
    holder = User(1.0, [(n, 1.0) for n in inner])
    victims.append(holder)
    del inner
    root = Hasher(2.0, [(holder, 2.0)]) * 1.0
    grads = ad.get_gradients(root)
    assert grads[x] == pytest.approx(2.0 * sum(range(50)) * math.cos(0.5))
    for node, g in grads.items():       # every key is a live node with its value
        assert isinstance(node, ad.Ops) and isinstance(g, float)


@case
def hash_that_runs_a_nested_walk(ad):
    User = make_user_class(ad)
    seen = []

    class Walker(User):
        def __hash__(self):
            seen.append(ad.get_gradients(shared * 2.0)[x])   # a walk inside the dict build
            return id(self)

    x = ad.Var(3.0)
    shared = x * x
    root = Walker(1.0, [(shared, 1.0)]) + shared
    grads = ad.get_gradients(root)
    assert grads[x] == 12.0 and seen and all(s == 12.0 for s in seen)


@case
def object_matrix_and_tuple_subclass_as_wrt(ad):
    x, y = ad.Var(2.0), ad.Var(3.0)
    f = x * y
    m = np.matrix([[x, y]], dtype=object)
    got = ad.gradients(f, m)
    assert type(got) is np.ndarray and got.shape == (1, 2) and got.tolist() == [[3.0, 2.0]]

    class T(tuple):
        pass
    assert ad.gradients(f, T((y, x))) == [2.0, 3.0]

# --------------------------------------------------------------------------------------
# 2. Garbage-collector finalizers and __del__ during C work
# --------------------------------------------------------------------------------------


def _finalizer_storm(action, count=200):
    """Garbage cycles whose finalizer runs action(), and a GC that runs on every allocation."""
    class Bomb:
        def __del__(self):
            action()
    for _ in range(count):
        b = Bomb()
        b.me = b                        # a cycle: freed only by the cyclic GC
    del b
    gc.set_threshold(1, 1, 1)


@case
def grad_getter_while_finalizers_reset_the_same_node(ad):
    User = make_user_class(ad)
    xs = [ad.Var(float(i)) for i in range(5)]
    node = User(1.0, [(x, 1.0) for x in xs])       # five edges: a heap array

    def reset():
        node.grad = [(x, 2.0) for x in xs[::-1]]
    _finalizer_storm(reset)
    for _ in range(200):
        pairs = node.grad
        assert len(pairs) == 5
        assert all(isinstance(c, ad.Ops) and d in (1.0, 2.0) for c, d in pairs)
    gc.set_threshold(700, 10, 10)


@case
def grad_setter_interrupted_by_a_finalizer_setting_it_too(ad):
    User = make_user_class(ad)
    node = User(1.0, [])
    refs = []

    def child():
        c = User(0.5, [])
        refs.append(weakref.ref(c))
        return c

    def reset():
        node.grad = [(child(), 1.0) for _ in range(3)]
    _finalizer_storm(reset)
    for _ in range(50):
        node.grad = [(child(), 1.0) for _ in range(4)]
    gc.set_threshold(700, 10, 10)
    node.grad = []
    gc.collect()
    alive = [r for r in refs if r() is not None]
    assert not alive, f"{len(alive)} children of replaced edges were never freed"


@case
def init_again_does_not_touch_a_node(ad):
    x, y, z = ad.Var(2.0), ad.Var(3.0), ad.Var(5.0)
    m = x * y
    s = ad.sin(x)
    _finalizer_storm(lambda: gc.collect(0), count=20)
    for _ in range(20):
        type(m).__init__(m, z, z)       # object.__init__: nothing is re-initialised
        type(s).__init__(s, z)
    gc.set_threshold(700, 10, 10)
    assert m.grad == [(x, 3.0), (y, 2.0)] and m.value == 6.0
    assert s.grad == [(x, math.cos(2.0))]
    assert ad.gradients(m * s, [x, y, z])[2] == 0.0


@case
def finalizer_walks_during_the_freeing_of_a_chain(ad):
    User = make_user_class(ad)
    results = []
    other = ad.Var(2.0)
    other_f = other * other

    class Walker(User):
        def __del__(self):
            results.append(ad.gradients(other_f, other))

    x = ad.Var(1.0)
    y = Walker(1.0, [(x, 1.0)])
    for _ in range(20000):
        y = y * 1.0 + 0.0
    del y                               # frees the chain, then runs Walker.__del__
    assert results == [4.0]

# --------------------------------------------------------------------------------------
# 3. Internal types built directly
# --------------------------------------------------------------------------------------


@case
def primitive_classes_refuse_to_be_made_empty(ad):
    x = ad.Var(2.0)
    for name, cls in ad.PRIMITIVES.items():
        operands = (x,) * arity(name)
        with pytest.raises(TypeError, match="argument"):
            cls.__new__(cls)
        with pytest.raises(TypeError, match="not safe"):
            ad.Ops.__new__(cls)
        with pytest.raises(TypeError, match="argument"):
            cls(x, x, x)
        with pytest.raises(TypeError, match="keyword"):
            cls(*operands, bad=1)
        assert cls(*operands).grad != []
    n = ad.Sin(x)
    assert type(n)(x).value == math.sin(2.0)        # the class of a node makes a node


@case
def bare_ops_and_var_are_leaves(ad):
    o = ad.Ops()
    v = ad.Var.__new__(ad.Var)
    assert o.value == 0.0 and o.grad == [] and v.value == 0.0 and v.grad == []
    with pytest.raises(TypeError, match="subclass Ops"):
        o.grad = [(v, 1.0)]
    ad.Var.__init__(v, 5.0)             # a Var's value may be set again: it has no edges
    assert v.value == 5.0 and ad.gradients(v * v, v) == 10.0


@case
def twin_classes_behave_as_their_class(ad):
    User = make_user_class(ad)
    x = ad.Var(2.0)
    u = User(4.0, [(x, 4.0)])
    m = u * 3.0                          # a node above a user node
    assert isinstance(m, ad.Mul) and type(m).__name__ == "Mul" and repr(m) == "Mul(12.0)"
    assert type(m)(x, 2.0).grad == [(x, 2.0)]
    assert ad.gradients(ad.sin(m), x) == math.cos(12.0) * 12.0
    with pytest.raises(TypeError, match="built-in"):
        m.grad = [(x, 1.0)]


@case
def subclass_of_a_primitive_is_a_user_class(ad):
    class MyMul(ad.Mul):
        pass
    x, y = ad.Var(2.0), ad.Var(3.0)
    m = MyMul(x, y)
    assert m.value == 6.0 and m.grad == [(x, 3.0), (y, 2.0)]
    m.grad = [(x, 5.0)]                 # a user class: its edges are its own business
    assert ad.gradients(m, [x, y]) == [5.0, 0.0]
    with pytest.raises(TypeError, match="MyMul"):
        ad.record(lambda a: MyMul(a, a), 1.0)

# --------------------------------------------------------------------------------------
# 4. Hand-set edges on built-in nodes, and record
# --------------------------------------------------------------------------------------


@case
def built_in_edges_cannot_be_set(ad):
    x = ad.Var(2.0)
    for node in (x, x * 3.0, ad.sin(x), x * x, 3.0 - x, ad.Ops()):
        before = node.grad
        for pairs in ([(x, 1.0)], [], [(x, 1.0)] * 3):
            with pytest.raises(TypeError, match="built-in|subclass Ops"):
                node.grad = pairs
        assert node.grad == before


@case
def tape_replays_what_get_gradients_computes(ad):
    def f(x):
        return ad.sin(x) * x - x / 3.0 + 2.0 ** x
    tape = ad.record(f, 0.3)
    for v in (0.3, -1.0, 2.5):
        x = ad.Var(v)
        out = f(x)
        value, g = tape.value_and_grad(v)
        assert value == out.value and g == ad.get_gradients(out)[x]

# --------------------------------------------------------------------------------------
# 5. Reference cycles are collected
# --------------------------------------------------------------------------------------


def _assert_freed(refs):
    gc.collect()
    alive = [r for r in refs if r() is not None]
    assert not alive, f"{len(alive)} of {len(refs)} nodes in reference cycles were not freed"


@case
def consumer_lists_make_collectable_cycles(ad):
    class Leaf(ad.Var):
        def __init__(self, value):
            super().__init__(value)
            self.consumers = []

    class Square(ad.Ops):
        def __init__(self, x):
            self.value = x.value ** 2
            self.grad = [(x, 2 * x.value)]
            if hasattr(x, "consumers"):
                x.consumers.append(self)      # Square -> x -> list -> Square
    refs = []
    for _ in range(100):
        x = Leaf(1.5)
        y = Square(x)
        z = Square(ad.sin(y) * 2.0 + y)
        u = 2.0 * math.sin(2.25) + 2.25                  # z = (2 sin(x^2) + x^2)^2
        assert ad.gradients(z, x) == pytest.approx(2 * u * (2 * math.cos(2.25) + 1) * 3.0)
        refs += [weakref.ref(x), weakref.ref(y), weakref.ref(z)]
    del x, y, z
    _assert_freed(refs)


@case
def cycles_through_grad_and_through_built_in_nodes(ad):
    User = make_user_class(ad)
    refs = []
    for _ in range(100):
        a = User(1.0, [])
        b = a * 2.0 + ad.Var(1.0)           # built-in nodes above a user node
        a.grad = [(b, 1.0)]                 # a -> b -> a
        c = User(1.0, [])
        d = ad.exp(c) * 3.0
        c.keep = [d]                        # c -> dict -> list -> d -> c
        refs += [weakref.ref(a), weakref.ref(c)]
    del a, b, c, d
    _assert_freed(refs)


@case
def a_cycle_found_by_the_walk_is_an_error_then_collectable(ad):
    User = make_user_class(ad)
    a = User(1.0, [])
    b = a * 2.0
    a.grad = [(b, 1.0)]
    with pytest.raises(ValueError, match="cycle"):
        ad.get_gradients(b)
    assert ad.get_gradients(ad.Var(1.0) * 2.0)      # no marks left behind
    ref = weakref.ref(a)
    del a, b
    _assert_freed([ref])

# --------------------------------------------------------------------------------------
# 7. Freeing across threads
# --------------------------------------------------------------------------------------


@case
def each_thread_frees_its_own_nodes_promptly(ad):
    User = make_user_class(ad)
    blocked = threading.Event()
    release = threading.Event()
    freed_in_b = threading.Event()

    class Slow(User):
        def __del__(self):
            blocked.set()
            release.wait(20)                # holds thread A inside a finalizer

    class Watched(User):
        pass

    def thread_a():
        y = Slow(1.0, [(ad.Var(1.0), 1.0)])
        for _ in range(1000):
            y = y * 1.0
        del y

    def thread_b():
        blocked.wait(20)
        w = Watched(1.0, [])
        ref = weakref.ref(w, lambda r: freed_in_b.set())
        y = w
        for _ in range(1000):
            y = y + 1.0
        del w, y                            # B drops the last reference: B frees it now
        gc.collect()
        assert ref() is None
        release.set()

    errors = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as e:      # noqa: BLE001 - reported below
                errors.append(e)
                release.set()
        return run
    ta, tb = threading.Thread(target=guarded(thread_a)), threading.Thread(target=guarded(thread_b))
    ta.start(); tb.start()
    ta.join(30); tb.join(30)
    assert not ta.is_alive() and not tb.is_alive(), "deadlock"
    assert not errors, errors
    assert freed_in_b.is_set(), "thread B's node was not freed when B dropped it"


@case
def long_chains_free_without_recursion_in_threads(ad):
    def work():
        x = ad.Var(1.0)
        y = x
        for _ in range(200_000 if ad.ENGINE == "compiled" else 20_000):
            y = y * 1.0 + 0.0
        assert ad.gradients(y, x) == 1.0
        del y
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

# --------------------------------------------------------------------------------------
# 8. User node classes the engine could misread: refused when defined, in both engines
# --------------------------------------------------------------------------------------


@case
def classes_that_redefine_value_or_grad_are_refused(ad):
    with pytest.raises(TypeError, match="defines 'value'"):
        class A(ad.Ops):
            @property
            def value(self):
                return 3.0
    with pytest.raises(TypeError, match="defines 'value'"):
        class B(ad.Ops):
            value = 0.0
    with pytest.raises(TypeError, match="defines 'grad'"):
        class C(ad.Var):
            grad = []


@case
def slot_less_classes_are_refused_and_slotted_ones_work(ad):
    with pytest.raises(TypeError, match="__slots__"):
        class A(ad.Ops):
            __slots__ = ()
    with pytest.raises(TypeError, match="__slots__"):
        class B(ad.Var):
            __slots__ = ()

    class C(ad.Ops):
        __slots__ = ("tag",)

        def __init__(self, x):
            self.value = 2.0 * x.value
            self.grad = [(x, 2.0)]
            self.tag = "ok"
    x = ad.Var(1.0)
    assert ad.gradients(C(x) * C(x), x) == 8.0

# --------------------------------------------------------------------------------------
# 10. Clear errors
# --------------------------------------------------------------------------------------


@case
def read_only_arrays_pickling_and_bad_wrt(ad):
    a = np.array([1.0, 2.0])
    a.flags.writeable = False
    v = ad.to_var(a)
    assert [n.value for n in v] == [1.0, 2.0]
    node = v[0] * v[1]
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="cannot be pickled or copied"):
            attempt(node)
    with pytest.raises(TypeError, match="wrt must be .* got dict"):
        ad.gradients(node, {"a": v[0]})
    with pytest.raises(TypeError, match="wrt must hold nodes, got float"):
        ad.gradients(node, np.array([1.0, 2.0]))

# --------------------------------------------------------------------------------------
# Silent loss of a derivative: converting a node to a float is an error
# --------------------------------------------------------------------------------------


@case
def float_conversions_of_nodes_raise(ad):
    x = ad.Var(2.0)
    arr = ad.to_var([1.0, 2.0])
    conversions = [
        lambda: float(x),
        lambda: math.sin(x),
        lambda: math.exp(x * 1.5),     # (math.floor(x) is an int, as of a float)
        lambda: np.asarray(arr, dtype=float),
        lambda: arr.astype(float),
        lambda: np.array([x, x], dtype=np.float64),
    ]

    def assign():
        z = np.zeros(2)
        z[:] = arr
    conversions.append(assign)
    for convert in conversions:
        with pytest.raises(TypeError, match="derivative"):
            convert()
    with pytest.raises(TypeError, match="derivative"):
        ad.grad(lambda w: np.sum(np.asarray(w, dtype=float) ** 2))(np.ones(3))


@case
def bool_is_by_value(ad):
    assert bool(ad.Var(0.0)) is False and bool(ad.Var(-0.0)) is False
    assert bool(ad.Var(2.0)) is True and bool(ad.Var(math.nan)) is True
    x = ad.Var(1.0)
    assert bool(x - 1.0) is False and (1 if x else 0) == 1


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_adversarial(fn, ad):
    run_isolated(fn, ad)
