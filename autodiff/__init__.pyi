"""Typing stub of ``autodiff``: the compiled engine's names and the frontend's functions.

``autodiff.reference`` has the same API; at run time ``autodiff`` may load it instead
(``AUTODIFF_PURE=1``), which changes no type.
"""
from os import PathLike
from typing import Any, Callable, Optional, Union, overload

import numpy as np
from numpy.typing import NDArray

from autodiff._engine import *
from autodiff._engine import Ops
from autodiff._frontend import GradientCheckEntry as GradientCheckEntry
from autodiff._frontend import GradientCheckError as GradientCheckError
from autodiff._frontend import GradientCheckReport as GradientCheckReport
from autodiff._replay import Tape as Tape
from autodiff._replay import record as record

__all__: list[str]
__version__: str

# A gradient: a float for a number argument, a float64 array of an array argument's shape.
_Gradient = Union[float, NDArray[np.float64]]

@overload
def grad(f: Callable[..., Any], argnums: int = 0) -> Callable[..., _Gradient]: ...
@overload
def grad(f: Callable[..., Any], argnums: tuple[int, ...]) -> Callable[..., tuple[_Gradient, ...]]: ...
@overload
def value_and_grad(f: Callable[..., Any],
                   argnums: int = 0) -> Callable[..., tuple[float, _Gradient]]: ...
@overload
def value_and_grad(f: Callable[..., Any],
                   argnums: tuple[int, ...]) -> Callable[..., tuple[float, tuple[_Gradient, ...]]]: ...
def check_gradients(f: Callable[..., Any], *args: Any,
                    argnums: Union[int, tuple[int, ...], None] = None, eps: float = 1e-6,
                    rtol: float = 1e-5, atol: float = 1e-6,
                    raise_on_mismatch: bool = True) -> GradientCheckReport: ...
def to_dot(root: Ops, names: Optional[dict[Ops, str]] = None, precision: int = 6) -> str: ...
def render(root: Ops, filename: Union[str, PathLike[str]], format: Optional[str] = None,
           names: Optional[dict[Ops, str]] = None) -> str: ...
