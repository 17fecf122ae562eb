"""The table of primitives (autodiff/_primitives.py) is the one source: what is generated
from it is up to date, and the engines' names, stubs and README follow it."""
import os
import re

import pytest

import autodiff
import autodiff.reference
from autodiff import _generate, _primitives

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(_generate.__file__)))


def test_generated_files_are_up_to_date():
    if not os.path.exists(os.path.join(ROOT, "README.md")):
        pytest.skip("an installed package: the generated files are checked in the source tree")
    stale = [os.path.relpath(p, ROOT) for p in _generate.stale()]
    assert not stale, f"stale generated files {stale}: run python -m autodiff._generate"


@pytest.mark.parametrize("engine", [autodiff, autodiff.reference], ids=["compiled", "reference"])
def test_engines_follow_the_table(engine):
    assert list(engine.PRIMITIVES) == [p.name for p in _primitives.TABLE]
    for p in _primitives.TABLE:
        cls = engine.PRIMITIVES[p.name]
        assert cls.__name__ == p.cls and getattr(engine, p.cls) is cls
        assert p.name in engine.__all__ and p.cls in engine.__all__
        assert callable(getattr(engine, p.name)) and hasattr(engine.Ops, p.name)
        x = engine.Var(0.5)
        node = getattr(engine, p.name)(*[x] * p.arity)
        assert type(node).__name__ == p.cls
        assert len(node.grad) == p.arity


def test_stubs_and_readme_name_every_primitive():
    with open(os.path.join(os.path.dirname(_generate.__file__), "_engine.pyi")) as f:
        stub = f.read()
    with open(os.path.join(os.path.dirname(_generate.__file__), "reference.pyi")) as f:
        ref_stub = f.read()
    for p in _primitives.TABLE:
        for text in (stub, ref_stub):
            assert re.search(rf"^class {p.cls}\(Ops\):", text, re.M), p.cls
            assert re.search(rf"^def {p.name}\(", text, re.M), p.name
            assert re.search(rf"^    def {p.name}\(self", text, re.M), p.name
    readme = os.path.join(ROOT, "README.md")
    if os.path.exists(readme):
        with open(readme) as f:
            text = f.read()
        for p in _primitives.TABLE:
            assert f"| `{p.name}(" in text and f"| `{p.cls}` |" in text, p.name
