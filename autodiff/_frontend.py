"""What is written once for both engines, on top of an explicit engine value.

``Frontend(Engine(name, namespace, reached))`` is the functional API bound to one engine;
each engine module makes one and exports its bound methods (``bind``), so ``help()``, the
stubs and mypy see ordinary methods with their signatures and docstrings.  This module
imports no engine: the engines import it.

- ``grad`` / ``value_and_grad``: autograd/JAX-style wrappers of a function of numbers and
  float arrays (conventions in ``_args``).
- ``jacobian`` / ``hessian`` / ``hvp`` / ``jvp`` / ``vjp``: the same conventions, computed
  by recording a tape at the point and running its sweeps (``autodiff/_replay.pyx``).
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


class Engine:
    """An engine as the frontend sees it: its name and its namespace of public names.

    ``namespace`` is the engine module's dict (``Var``, ``Ops``, ``gradients``, ``record``,
    ...), read when a function runs, so a name bound after the frontend (``record``) is
    found.  ``reached(root, leaves)`` is the engine's walk that says which leaves the
    output depends on (used to warn about arguments it does not use).
    """
    __slots__ = ("name", "namespace", "Ops", "gradients", "reached")

    def __init__(self, name: str, namespace: Dict[str, Any],
                 reached: Callable[[Any, List[Any]], List[bool]]) -> None:
        self.name = name
        self.namespace = namespace
        self.Ops = namespace["Ops"]
        self.gradients = namespace["gradients"]
        self.reached = reached

    def __repr__(self) -> str:
        return f"<autodiff engine {self.name!r}>"


class Frontend:
    """The functional API written once, on top of an explicit engine.

    Each engine makes one ``Frontend(Engine(...))`` and exports its bound methods under
    their own names (``autodiff.grad is <Frontend of compiled>.grad``).  Nothing here is on
    the hot path: the gradient functions make the leaves and call the engine's
    ``gradients`` once per call; the Jacobian and Hessian functions record a tape at the
    point and run its sweeps.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.namespace = engine.namespace
        self.Ops = engine.Ops
        self.gradients = engine.gradients
        self.reached = engine.reached

    def __repr__(self) -> str:
        return f"<autodiff frontend of {self.engine!r}>"


    def _evaluate(self, f: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any],
                  argnums: Any) -> Tuple[float, Any]:
        try:
            call_args, slots, single = _args.make_leaves(self.namespace, args, argnums)
        except TypeError:
            self._refuse_nested(args)
            raise
        out = _args.scalar_output(self.namespace, f(*call_args, **kwargs))
        leaves = [leaf for slot in slots for leaf in slot.leaves]
        if isinstance(out, self.Ops):
            value, flat = out.value, self.gradients(out, leaves)
        else:                               # f does not depend on its arguments
            value, flat = out, [0.0] * len(leaves)
        self._warn_if_independent(f, out, slots, flat, argnums)
        return value, _args.split_gradients(flat, slots, single)

    def _refuse_nested(self, args: Tuple[Any, ...]) -> None:
        """TypeError pointing to hessian/hvp when an argument is a node: grad of grad."""
        for i, arg in enumerate(args):
            nodes = isinstance(arg, self.Ops) or (
                isinstance(arg, np.ndarray) and arg.dtype == object
                and any(isinstance(x, self.Ops) for x in arg.flat))
            if nodes:
                raise TypeError(f"argument {i} is a node ({type(arg).__name__}): grad and "
                                f"value_and_grad do not nest (grad(grad(f)) is not "
                                f"supported); for second derivatives use "
                                f"autodiff.hessian(f) or autodiff.hvp(f), which are exact")

    def _warn_if_independent(self, f: Callable[..., Any], out: Any, slots: List[Any],
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
            if not any(flat[k:k + n]) and not any(self.reached(out, slot.leaves)):
                name = getattr(f, "__name__", "f")
                warnings.warn(f"the output of {name} does not depend on argument {i}: its "
                              f"gradient is zero (was the argument turned into a number, "
                              f"e.g. with .value, or is argnums wrong?)", UserWarning,
                              stacklevel=4)
            k += n

    @staticmethod
    def _check_argnums(argnums: Any) -> None:
        """TypeError now for an argnums that is not an int or a tuple of ints."""
        _args.normalize_argnums(argnums, sys.maxsize)

    @staticmethod
    def _wrap(f: Callable[..., Any], wrapper: Callable[..., Any], kind: str) -> None:
        if not callable(f):
            raise TypeError(f"{kind}() needs a function, got {type(f).__name__}")
        functools.update_wrapper(wrapper, f)
        name = getattr(f, "__name__", "f")
        wrapper.__name__ = wrapper.__qualname__ = f"{kind}({name})"

    def grad(self, f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """The gradient of a scalar function of numbers and float arrays, as a function.

        The arguments in ``argnums`` (an int or a tuple of ints) are differentiated: a
        number becomes a ``Var``, an array an object array of ``Var`` of its shape, and ``f``
        runs on them and must return a node or a number.  The result is a float for a
        number argument, a float64 array of the argument's shape for an array, and a tuple
        of those when ``argnums`` is a tuple.  Keyword arguments pass through unchanged.

        >>> grad(lambda x, y: x * y + sin(x), argnums=(0, 1))(0.0, 2.0)
        (3.0, 0.0)
        """
        self._check_argnums(argnums)

        def gradient(*args: Any, **kwargs: Any) -> Any:
            return self._evaluate(f, args, kwargs, argnums)[1]
        self._wrap(f, gradient, "grad")
        return gradient

    def value_and_grad(self, f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """Like ``grad``, but the function returns ``(value, gradient)``, value a float.

        This is the ``fun`` of ``scipy.optimize.minimize(fun, x0, jac=True)``.

        >>> value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
        (5.0, array([2., 4.]))
        """
        self._check_argnums(argnums)

        def value_and_gradient(*args: Any, **kwargs: Any) -> Tuple[float, Any]:
            return self._evaluate(f, args, kwargs, argnums)
        self._wrap(f, value_and_gradient, "value_and_grad")
        return value_and_gradient

    # Beyond the gradient: each call records a tape at the point and runs its sweeps.

    def _tape_at(self, kind: str, f: Callable[..., Any], args: Tuple[Any, ...],
                 kwargs: Dict[str, Any], argnums: Any) -> Any:
        """``record(f, *args, argnums)`` with kwargs bound, refusals named for ``kind``."""
        g = functools.partial(f, **kwargs) if kwargs else f
        try:
            return self.namespace["record"](g, *args, argnums=argnums)
        except TypeError as error:
            if "record" in str(error) and "user-defined class" in str(error):
                raise TypeError(f"{kind}() records f at the point and replays its sweeps, "
                                f"which need the built-in primitives: {error}") from None
            raise

    @staticmethod
    def _split_last(kind: str, args: Tuple[Any, ...], what: str) -> Tuple[Tuple[Any, ...], Any]:
        if not args:
            raise TypeError(f"{kind} needs f's arguments followed by {what}")
        return args[:-1], args[-1]

    def jacobian(self, f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """The Jacobian of a function of numbers and float arrays, as a function.

        ``f`` returns a number, a float array of any shape or a sequence of numbers
        (nodes under differentiation).  The result has JAX's layout: for ``argnums`` an
        int, a float64 array of shape ``out_shape + arg_shape`` (``()`` for a number);
        for a tuple, a tuple of those.  Computed by the tape's forward vector mode when
        the differentiated inputs are fewer than the outputs, by reverse sweeps otherwise.

        >>> jacobian(lambda x: x * x)(np.array([1.0, 2.0]))
        array([[2., 0.],
               [0., 4.]])
        """
        self._check_argnums(argnums)

        def jacobian_(*args: Any, **kwargs: Any) -> Any:
            return self._tape_at("jacobian", f, args, kwargs, argnums).jacobian(*args)
        self._wrap(f, jacobian_, "jacobian")
        return jacobian_

    def hessian(self, f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """The Hessian of a scalar function of numbers and float arrays, as a function.

        For ``argnums`` an int, a float64 array of shape ``arg_shape + arg_shape`` (a
        float for a number); for a tuple, JAX's nested tuple of blocks ``[i][j]``.
        Exact second derivatives (forward over reverse on a tape recorded at the point).

        >>> hessian(lambda x, y: x * x * y, argnums=(0, 1))(3.0, 2.0)
        ((4.0, 6.0), (6.0, 0.0))
        """
        self._check_argnums(argnums)

        def hessian_(*args: Any, **kwargs: Any) -> Any:
            return self._tape_at("hessian", f, args, kwargs, argnums).hessian(*args)
        self._wrap(f, hessian_, "hessian")
        return hessian_

    def hvp(self, f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """The Hessian-vector product of a scalar function, as a function of ``(*args, v)``.

        ``v`` is shaped like the gradient (one array or number per differentiated
        argument, a tuple of them for tuple ``argnums``); the result is ``H v``, shaped
        like the gradient too.  One forward-over-reverse sweep: no Hessian is formed.

        >>> hvp(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
        array([ 6., 12.])
        """
        self._check_argnums(argnums)

        def hvp_(*args: Any, **kwargs: Any) -> Any:
            primals, v = self._split_last("hvp(f)(*args, v)", args, "the vector v")
            return self._tape_at("hvp", f, primals, kwargs, argnums).hvp(*primals, v)
        self._wrap(f, hvp_, "hvp")
        return hvp_

    def jvp(self, f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """Forward mode, as a function of ``(*args, tangent)``: ``(value, J tangent)``.

        ``tangent`` is shaped like the differentiated arguments (a tuple of them for
        tuple ``argnums``); value and ``J tangent`` are shaped like ``f``'s output.

        >>> jvp(lambda x, y: x * y, argnums=(0, 1))(2.0, 3.0, (1.0, 0.0))
        (6.0, 3.0)
        """
        self._check_argnums(argnums)

        def jvp_(*args: Any, **kwargs: Any) -> Any:
            primals, t = self._split_last("jvp(f)(*args, tangent)", args, "the tangent")
            return self._tape_at("jvp", f, primals, kwargs, argnums).jvp(*primals, t)
        self._wrap(f, jvp_, "jvp")
        return jvp_

    def vjp(self, f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
        """Reverse mode, as a function of ``(*args, cotangent)``: ``(value, cotangent J)``.

        ``cotangent`` is shaped like ``f``'s output; ``cotangent J`` is shaped like the
        gradient (a tuple for tuple ``argnums``).

        >>> vjp(lambda x: x * x)(np.array([1.0, 2.0]), np.array([1.0, 10.0]))
        (array([1., 4.]), array([ 2., 40.]))
        """
        self._check_argnums(argnums)

        def vjp_(*args: Any, **kwargs: Any) -> Any:
            primals, c = self._split_last("vjp(f)(*args, cotangent)", args, "the cotangent")
            return self._tape_at("vjp", f, primals, kwargs, argnums).vjp(*primals, c)
        self._wrap(f, vjp_, "vjp")
        return vjp_

    def check_gradients(self, f: Callable[..., Any], *args: Any, argnums: Optional[ArgNums] = None,
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
        _, grads = self._evaluate(f, args, {}, indices)
        names = _parameter_names(f)

        def value_at(call: List[Any]) -> float:
            # f runs on nodes, as under grad, so code that reads .value keeps working.
            call_args, _, _ = _args.make_leaves(self.namespace, tuple(call), indices)
            out = _args.scalar_output(self.namespace, f(*call_args))
            return float(out.value) if isinstance(out, self.Ops) else float(out)

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

    def to_dot(self, root: Any, names: Optional[Dict[Any, str]] = None, precision: int = 6) -> str:
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
        if not isinstance(root, self.Ops):
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

    def render(self, root: Any, filename: Union[str, "os.PathLike[str]"], format: Optional[str] = None,
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
        source = self.to_dot(root, names=names)
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


# The names each engine exports from its Frontend.
PUBLIC = ("grad", "value_and_grad", "jacobian", "hessian", "hvp", "jvp", "vjp",
          "check_gradients", "to_dot", "render")
CLASSES = {"GradientCheckError": GradientCheckError, "GradientCheckReport": GradientCheckReport}


def bind(frontend: Frontend) -> Dict[str, Any]:
    """The public names of ``frontend``'s engine: its bound methods and the shared classes."""
    names: Dict[str, Any] = {name: getattr(frontend, name) for name in PUBLIC}
    names.update(CLASSES)
    return names
