"""What is written once for both engines, on top of an engine's primitives.

``build(engine)`` takes the engine's public names (``Var``, ``Ops``, ``gradients``,
``to_var``, ...) and returns the functions below bound to them; ``autodiff`` and
``autodiff.reference`` add them to their namespaces.  Nothing here is on the hot path: the
functional API makes the leaves and calls the engine's ``gradients`` once per call.

- ``grad`` / ``value_and_grad``: autograd/JAX-style wrappers of a function of numbers and
  float arrays (conventions in ``_args``).
- ``check_gradients``: reverse mode against central differences, argument by argument.
- ``to_dot`` / ``render``: the graph as Graphviz DOT text (the tutorial's figure), and as a
  picture when the ``graphviz`` package and Graphviz's ``dot`` are installed.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import math
import os
import sys
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from autodiff import _args

ArgNums = Union[int, Tuple[int, ...]]

# --------------------------------------------------------------------------------------
# Gradient checking: what it returns and what it raises (shared by both engines, so that
# ``except GradientCheckError`` works whichever engine produced it).
# --------------------------------------------------------------------------------------


class GradientCheckEntry:
    """One compared derivative: d f / d args[argnum][index], both ways."""
    __slots__ = ("argnum", "name", "index", "reverse", "numeric", "ok")

    def __init__(self, argnum: int, name: Optional[str], index: Optional[Tuple[int, ...]],
                 reverse: float, numeric: float, ok: bool) -> None:
        self.argnum = argnum        # position of the argument in f's call
        self.name = name            # its parameter name, when f's signature tells it
        self.index = index          # the element of an array argument, None for a number
        self.reverse = reverse      # reverse mode (the engine's gradient)
        self.numeric = numeric      # central difference
        self.ok = ok                # within atol + rtol * |numeric|

    @property
    def abs_error(self) -> float:
        """|reverse - numeric| (inf or nan when either is not finite and they differ)."""
        if self.reverse == self.numeric:
            return 0.0
        return abs(self.reverse - self.numeric)

    @property
    def rel_error(self) -> float:
        """abs_error / |numeric| (abs_error itself where numeric is 0)."""
        scale = abs(self.numeric)
        return self.abs_error / scale if scale > 0.0 else self.abs_error

    def where(self) -> str:
        """'argument 0 (x), element (1, 2)' or 'argument 1 (b)'."""
        text = f"argument {self.argnum}" + (f" ({self.name})" if self.name else "")
        if self.index is not None:
            text += f", element {self.index}"
        return text

    def __repr__(self) -> str:
        return (f"{self.where()}: reverse mode {self.reverse!r}, central difference "
                f"{self.numeric!r}, |diff| {self.abs_error:.3g}, relative {self.rel_error:.3g}"
                + ("" if self.ok else "  <-- mismatch"))


class GradientCheckReport:
    """What ``check_gradients`` returns: every compared entry; true when all agree."""

    def __init__(self, entries: List[GradientCheckEntry], eps: float, rtol: float,
                 atol: float) -> None:
        self.entries = entries
        self.eps, self.rtol, self.atol = eps, rtol, atol

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entries)

    @property
    def mismatches(self) -> List[GradientCheckEntry]:
        """The entries that disagree, worst (largest relative error) first."""
        bad = [e for e in self.entries if not e.ok]
        return sorted(bad, key=lambda e: -e.rel_error if e.rel_error == e.rel_error else -math.inf)

    @property
    def max_abs_error(self) -> float:
        return max((e.abs_error for e in self.entries), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((e.rel_error for e in self.entries), default=0.0)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = (f"gradient check of {len(self.entries)} derivative(s) with eps={self.eps:g}, "
                f"rtol={self.rtol:g}, atol={self.atol:g}: ")
        if self.ok:
            return head + (f"all agree (max |diff| {self.max_abs_error:.3g}, max relative "
                           f"{self.max_rel_error:.3g})")
        bad = self.mismatches
        where = sorted({(e.argnum, e.name) for e in bad})
        lines = [head + f"{len(bad)} disagree, in "
                 + ", ".join(f"argument {i}" + (f" ({n})" if n else "") for i, n in where)]
        lines += [f"  {e!r}" for e in bad[:10]]
        if len(bad) > 10:
            lines.append(f"  ... and {len(bad) - 10} more")
        return "\n".join(lines)

    __repr__ = __str__


class GradientCheckError(AssertionError):
    """Raised by ``check_gradients`` on a mismatch; ``.report`` has every entry."""

    def __init__(self, report: GradientCheckReport) -> None:
        super().__init__(str(report))
        self.report = report


# Shown as autodiff.GradientCheckError: both engines export these same classes.
for _cls in (GradientCheckEntry, GradientCheckReport, GradientCheckError):
    _cls.__module__ = "autodiff"
del _cls


def _agree(reverse: float, numeric: float, rtol: float, atol: float) -> bool:
    """|reverse - numeric| <= atol + rtol * |numeric|; non-finite values must be equal."""
    if not (math.isfinite(reverse) and math.isfinite(numeric)):
        return reverse == numeric
    return abs(reverse - numeric) <= atol + rtol * abs(numeric)


def _parameter_names(f: Callable[..., Any]) -> List[Optional[str]]:
    """The names of f's positional parameters, as far as its signature tells."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return []
    names: List[Optional[str]] = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            break
    return names

# --------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------


def _dot_string(text: str) -> str:
    """A DOT double-quoted string; a newline becomes DOT's centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_RENDER_FORMATS = ("png", "svg", "pdf")

_NO_GRAPHVIZ = ("render() needs the 'graphviz' Python package and the Graphviz 'dot' program: "
                "pip install graphviz, and install Graphviz (e.g. apt install graphviz, brew "
                "install graphviz, or https://graphviz.org/download/). to_dot() needs neither: "
                "it returns the DOT text.")


def build(engine: Dict[str, Any]) -> Dict[str, Any]:
    """The frontend's public functions bound to ``engine`` (a dict of the engine's names)."""
    Ops = engine["Ops"]
    engine_gradients = engine["gradients"]

    engine_reached = importlib.import_module(engine_gradients.__module__)._reached

    def _evaluate(f: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any],
                  argnums: Any) -> Tuple[float, Any]:
        call_args, slots, single = _args.make_leaves(engine, args, argnums)
        out = _args.scalar_output(engine, f(*call_args, **kwargs))
        leaves = [leaf for slot in slots for leaf in slot.leaves]
        if isinstance(out, Ops):
            value, flat = out.value, engine_gradients(out, leaves)
        else:                               # f does not depend on its arguments
            value, flat = out, [0.0] * len(leaves)
        _warn_if_independent(f, out, slots, flat, argnums)
        return value, _args.split_gradients(flat, slots, single)

    def _warn_if_independent(f: Callable[..., Any], out: Any, slots: List[Any],
                             flat: List[float], argnums: Any) -> None:
        """Warn, as autograd does, for a differentiated argument the output does not use.

        Its gradient is zero, which is right, but usually a mistake (a float() or .value
        inside f, or the wrong argnums).  Only an argument whose gradient is all zeros is
        looked at, so a walk is made only then.
        """
        indices, _ = _args.normalize_argnums(argnums, sys.maxsize)
        k = 0
        for i, slot in zip(indices, slots):
            n = len(slot.leaves)
            if not any(flat[k:k + n]) and not any(engine_reached(out, slot.leaves)):
                name = getattr(f, "__name__", "f")
                warnings.warn(f"the output of {name} does not depend on argument {i}: its "
                              f"gradient is zero (was the argument turned into a number, "
                              f"e.g. with .value, or is argnums wrong?)", UserWarning,
                              stacklevel=4)
            k += n

    def _check_argnums(argnums: Any) -> None:
        """TypeError now for an argnums that is not an int or a tuple of ints."""
        _args.normalize_argnums(argnums, sys.maxsize)

    def _wrap(f: Callable[..., Any], wrapper: Callable[..., Any], kind: str) -> None:
        if not callable(f):
            raise TypeError(f"{kind}() needs a function, got {type(f).__name__}")
        functools.update_wrapper(wrapper, f)
        name = getattr(f, "__name__", "f")
        wrapper.__name__ = wrapper.__qualname__ = f"{kind}({name})"

    def grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """The gradient of a scalar function of numbers and float arrays, as a function.

        The arguments in ``argnums`` (an int or a tuple of ints) are differentiated: a
        number becomes a ``Var``, an array an object array of ``Var`` of its shape, and ``f``
        runs on them and must return a node or a number.  The result is a float for a
        number argument, a float64 array of the argument's shape for an array, and a tuple
        of those when ``argnums`` is a tuple.  Keyword arguments pass through unchanged.

        >>> grad(lambda x, y: x * y + sin(x), argnums=(0, 1))(0.0, 2.0)
        (3.0, 0.0)
        """
        _check_argnums(argnums)

        def gradient(*args: Any, **kwargs: Any) -> Any:
            return _evaluate(f, args, kwargs, argnums)[1]
        _wrap(f, gradient, "grad")
        return gradient

    def value_and_grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """Like ``grad``, but the function returns ``(value, gradient)``, value a float.

        This is the ``fun`` of ``scipy.optimize.minimize(fun, x0, jac=True)``.

        >>> value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
        (5.0, array([2., 4.]))
        """
        _check_argnums(argnums)

        def value_and_gradient(*args: Any, **kwargs: Any) -> Tuple[float, Any]:
            return _evaluate(f, args, kwargs, argnums)
        _wrap(f, value_and_gradient, "value_and_grad")
        return value_and_gradient

    def check_gradients(f: Callable[..., Any], *args: Any, argnums: Optional[ArgNums] = None,
                        eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-6,
                        raise_on_mismatch: bool = True) -> GradientCheckReport:
        """Compare the reverse-mode gradient of ``f`` at ``args`` with central differences.

        Every element of every differentiated argument (``argnums``; all arguments by
        default) is moved by ``h = eps * max(1, |x|)`` each way, with ``f`` called on nodes
        exactly as ``grad`` calls it, and ``(f(x+h) - f(x-h)) / 2h`` is compared with the
        engine's gradient: they agree when ``|reverse - numeric| <= atol + rtol * |numeric|``
        (non-finite values must be equal).

        Returns a ``GradientCheckReport`` (true, ``.entries``, ``.max_abs_error``, ...) when
        all agree.  On a mismatch raises ``GradientCheckError`` (an ``AssertionError``)
        whose message names each wrong argument and element, both values and how far off;
        its ``.report`` has every entry.  With ``raise_on_mismatch=False`` the report is
        returned instead (false when something disagrees).

        >>> check_gradients(lambda x, y: x * sin(y), 1.5, 0.5).ok
        True
        """
        if not callable(f):
            raise TypeError(f"check_gradients() needs a function, got {type(f).__name__}")
        if argnums is None:
            argnums = tuple(range(len(args)))
        indices, _ = _args.normalize_argnums(argnums, len(args))
        if not indices:
            raise ValueError("check_gradients() needs at least one argument to differentiate")
        _, grads = _evaluate(f, args, {}, indices)
        names = _parameter_names(f)

        def value_at(call: List[Any]) -> float:
            # f runs on nodes, as under grad, so code that reads .value keeps working.
            call_args, _, _ = _args.make_leaves(engine, tuple(call), indices)
            out = _args.scalar_output(engine, f(*call_args))
            return float(out.value) if isinstance(out, Ops) else float(out)

        entries: List[GradientCheckEntry] = []
        for i, g in zip(indices, grads):
            name = names[i] if i < len(names) else None
            shape, values = _args.as_values(args[i])
            reverse = np.reshape(np.asarray(g, dtype=np.float64), -1)
            for k in range(values.size):
                x = float(values[k])
                h = eps * max(1.0, abs(x))
                moved = []
                for step in (h, -h):
                    v = values.copy()
                    v[k] = x + step
                    call = list(args)
                    call[i] = float(v[0]) if shape is None else v.reshape(shape)
                    moved.append((float(v[k]), value_at(call)))
                (x_plus, f_plus), (x_minus, f_minus) = moved
                numeric = (f_plus - f_minus) / (x_plus - x_minus)   # the steps as rounded
                index = None if shape is None else tuple(int(j) for j in np.unravel_index(k, shape))
                rev = float(reverse[k])
                entries.append(GradientCheckEntry(i, name, index, rev, numeric,
                                                  _agree(rev, numeric, rtol, atol)))
        report = GradientCheckReport(entries, eps, rtol, atol)
        if raise_on_mismatch and not report.ok:
            raise GradientCheckError(report)
        return report

    def to_dot(root: Any, names: Optional[Dict[Any, str]] = None, precision: int = 6) -> str:
        """Graphviz DOT text of the graph reachable from ``root`` (the tutorial's figure).

        A node is labelled with its op (class name) and value, preceded by its name when
        ``names`` (a dict node -> str) gives one; an edge goes from a node to each child and
        is labelled with the local derivative.  Values print with ``precision``
        significant digits.  The output depends only on the graph: nodes are numbered
        ``n0`` (the root), ``n1``, ... in a depth-first order that follows edge order.

        >>> a, b = Var(4), Var(3)
        >>> print(to_dot(a * (a + b), names={a: "a", b: "b"}))   # doctest: +ELLIPSIS
        digraph autodiff {...
        """
        if not isinstance(root, Ops):
            raise TypeError(f"to_dot() needs a node, got {type(root).__name__}")
        names = names or {}
        # Iterative depth-first post-order, children in edge order (as get_gradients).
        edges_of = {id(root): root.grad}
        post: List[Any] = []
        stack = [(root, iter(edges_of[id(root)]))]
        while stack:
            node, children = stack[-1]
            for child, _ in children:
                if id(child) not in edges_of:
                    edges_of[id(child)] = child.grad
                    stack.append((child, iter(edges_of[id(child)])))
                    break
            else:
                stack.pop()
                post.append(node)
        order = post[::-1]                  # the root first, each node before its children
        number = {id(node): i for i, node in enumerate(order)}

        def fmt(x: float) -> str:
            return format(float(x), f".{precision}g")

        lines = ["digraph autodiff {", "  node [shape=box];"]
        for node in order:
            label = f"{type(node).__name__}\n{fmt(node.value)}"
            if node in names:
                label = f"{names[node]}\n{label}"
            lines.append(f"  n{number[id(node)]} [label={_dot_string(label)}];")
        for node in order:
            for child, local in edges_of[id(node)]:
                lines.append(f"  n{number[id(node)]} -> n{number[id(child)]} "
                             f"[label={_dot_string(fmt(local))}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(root: Any, filename: Union[str, "os.PathLike[str]"], format: Optional[str] = None,
               names: Optional[Dict[Any, str]] = None) -> str:
        """Draw ``to_dot(root)`` to ``filename`` as PNG, SVG or PDF; returns the path.

        The format is ``format`` or else the file's extension.  Needs the ``graphviz``
        Python package (``pip install graphviz``) and Graphviz's ``dot`` program; without
        them raises ImportError (RuntimeError when only ``dot`` is missing) saying what to
        install.

        >>> render(Var(2.0) * Var(3.0), "graph.svg")            # doctest: +SKIP
        'graph.svg'
        """
        path = os.fspath(filename)
        fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
        if fmt not in _RENDER_FORMATS:
            raise ValueError(f"render() draws {', '.join(_RENDER_FORMATS)}; got "
                             f"{fmt or 'no format'} (pass format= or use a file extension)")
        source = to_dot(root, names=names)
        try:
            import graphviz  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError as error:
            raise ImportError(_NO_GRAPHVIZ) from error
        try:
            picture = graphviz.Source(source).pipe(format=fmt)
        except graphviz.ExecutableNotFound as error:
            raise RuntimeError(_NO_GRAPHVIZ) from error
        with open(path, "wb") as file:
            file.write(picture)
        return path

    return {
        "grad": grad,
        "value_and_grad": value_and_grad,
        "check_gradients": check_gradients,
        "GradientCheckError": GradientCheckError,
        "GradientCheckReport": GradientCheckReport,
        "to_dot": to_dot,
        "render": render,
    }
