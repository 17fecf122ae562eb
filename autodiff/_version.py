"""The version of autodiff (distribution ``cyautodiff``): the one place it is written.

pyproject.toml reads it (``[tool.setuptools.dynamic]``) and ``autodiff.__version__`` is it.
"""
__version__ = "0.1.0"
