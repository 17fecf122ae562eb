"""Build of the compiled engine.  Metadata lives in pyproject.toml.

Environment switches:
  AUTODIFF_SANITIZE=1   build with AddressSanitizer and UndefinedBehaviorSanitizer (gcc/clang)
  AUTODIFF_ANNOTATE=1   also write Cython's annotated HTML next to each .pyx
"""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Bit-identical results with the reference engine need IEEE arithmetic as written: no
# contraction of a * b + c into a fused multiply-add, no fast-math reassociation.  The flags
# that say so depend on the compiler, so they are chosen in BuildExt below, once the compiler
# is known (gcc, clang and Apple clang are "unix"; MSVC is "msvc"; MinGW is "mingw32").
# -Wall whatever the interpreter's own flags: CI fails on a warning from our sources.
UNIX_FLAGS = ["-O3", "-Wall", "-ffp-contract=off", "-fno-fast-math"]
# MSVC: /fp:precise is its default model and is stated explicitly so that no /fp:fast from
# the environment (CFLAGS, CL) can win silently.  Under /fp:precise MSVC does not contract
# a * b + c into an FMA (it does so only under /fp:fast, or /fp:contract, which we never
# pass), and it keeps the source's order of evaluation, which is what -ffp-contract=off and
# -fno-fast-math say to gcc and clang.
MSVC_FLAGS = ["/O2", "/fp:precise"]
MSVC_FORBIDDEN = ("/fp:fast", "/fp:contract", "-fp:fast", "-fp:contract")

SANITIZE = os.environ.get("AUTODIFF_SANITIZE") == "1"
# The sanitizer build also turns off the engine's free list of nodes, so that
# AddressSanitizer sees every freed node (a reused block would hide a use after free).
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g",
                  "-DAUTODIFF_FREELIST=0"]

# Cython directives, in one place.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,            # x / 0.0 is inf or nan, as IEEE says, not ZeroDivisionError
    "initializedcheck": False,
    "embedsignature": True,
}


class BuildExt(build_ext):
    """build_ext that adds the floating-point flags of the compiler actually used."""

    def build_extensions(self):
        kind = self.compiler.compiler_type
        if kind == "msvc":
            if SANITIZE:
                raise SystemExit("AUTODIFF_SANITIZE=1 needs gcc or clang")
            compile_args, link_args = MSVC_FLAGS, []
            for ext in self.extensions:
                bad = [f for f in ext.extra_compile_args if f.lower() in MSVC_FORBIDDEN]
                if bad:
                    raise SystemExit(f"{ext.name}: {bad} would allow FMA contraction")
        else:                     # "unix" (gcc, clang) and "mingw32"/"cygwin" (gcc)
            compile_args = UNIX_FLAGS + (SANITIZE_FLAGS if SANITIZE else [])
            link_args = SANITIZE_FLAGS if SANITIZE else []
            # An interpreter built with an rpath (pyenv's) passes it on to every extension
            # it links; ours need no library of the build host, so none is recorded.
            linker = getattr(self.compiler, "linker_so", None)
            if linker:
                self.compiler.linker_so = [a for a in linker if not a.startswith("-Wl,-rpath")]
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + ext.extra_compile_args
            ext.extra_link_args = link_args + ext.extra_link_args
        super().build_extensions()


# The rules call sin, exp, log, ... from the C library: link libm explicitly where it is a
# separate library (every POSIX system), instead of relying on the interpreter to have
# loaded it.  On Windows the math functions are in the C runtime.
LIBRARIES = [] if sys.platform == "win32" else ["m"]

extensions = [
    Extension("autodiff._engine", ["autodiff/_engine.pyx"], libraries=LIBRARIES),
    Extension("autodiff._replay", ["autodiff/_replay.pyx"], libraries=LIBRARIES),
    # Test support: the C rules by name, for tests/test_second_order.py.
    Extension("autodiff._rulecheck", ["autodiff/_rulecheck.pyx"], libraries=LIBRARIES),
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES,
                            annotate=os.environ.get("AUTODIFF_ANNOTATE") == "1"),
      cmdclass={"build_ext": BuildExt})
