"""Build of the compiled engine.  Metadata lives in pyproject.toml."""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

# Bit-identical results with the reference engine need IEEE arithmetic as written:
# no contraction of a * b + c into a fused multiply-add, no fast-math reassociation.
FLOAT_FLAGS = ["-ffp-contract=off", "-fno-fast-math"]
# AUTODIFF_SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer.
SANITIZE = os.environ.get("AUTODIFF_SANITIZE") == "1"
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]

# Cython directives, in one place.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,            # x / 0.0 is inf or nan, as IEEE says, not ZeroDivisionError
    "initializedcheck": False,
    "embedsignature": True,
}

extensions = [
    Extension(
        "autodiff._engine",
        ["autodiff/_engine.pyx"],
        extra_compile_args=["-O3"] + FLOAT_FLAGS + (SANITIZE_FLAGS if SANITIZE else []),
        extra_link_args=SANITIZE_FLAGS if SANITIZE else [],
    ),
    Extension(
        "autodiff._replay",
        ["autodiff/_replay.pyx"],
        extra_compile_args=["-O3"] + FLOAT_FLAGS + (SANITIZE_FLAGS if SANITIZE else []),
        extra_link_args=SANITIZE_FLAGS if SANITIZE else [],
    ),
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES,
                            annotate=os.environ.get("AUTODIFF_ANNOTATE") == "1"))
