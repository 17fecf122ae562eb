"""Fail on a compiler warning from our sources, read from a build log.

    python .ci/check_warnings.py BUILD_LOG [--package autodiff]

A warning is "ours" when the compiler (or Cython) locates it in a file of the package
directory (``autodiff/*.c``, which Cython generates from our ``.pyx``/``.pxd``, or the
``.pyx``/``.pxd`` themselves), or when gcc/clang says it was inlined from such a file: a
warning reported inside a Python or NumPy header (``object.h``) but reached through
``... inlined from 'f' at autodiff/_replay.c:123`` is caused by our code.  A warning whose
location and inlining chain lie only in other files (a deprecation inside a header included
by ``Python.h``, ``In file included from autodiff/_engine.c`` alone does not count) is not
ours, and is printed as a notice.  Formats: gcc/clang (``path:line:col: warning: ...``,
``inlined from ... at path:line:col``), MSVC (``path(line): warning C1234: ...``), and
Cython (``warning: path:line:col: ...``).

Exit status 0 if none of ours, 1 otherwise (each printed with its context).
"""
import argparse
import re
import sys

# path:line[:col]: warning:   (gcc, clang)    path(line[,col]): warning Cnnnn:   (MSVC)
COMPILER = re.compile(r"^(?P<path>[^\s:()][^:()]*?)(?::\d+(?::\d+)?:|\(\d+(?:,\d+)?\)\s*:)"
                      r"\s*warning\b")
CYTHON = re.compile(r"^warning:\s*(?P<path>[^:\s]+):\d+:\d+:")
INLINED = re.compile(r"^\s+inlined from .* at (?P<path>[^:\s]+):\d+(?::\d+)?[:,]?\s*$")
CONTEXT = re.compile(r"^(In function|In member function|\s+inlined from|In file included from"
                     r"|\s+from )|: In function ")


def is_ours(path, package):
    path = path.replace("\\", "/")
    return re.search(rf"(^|/){re.escape(package)}/[^/]+\.(c|h|pyx|pxd|pxi)$", path) is not None


def scan(lines, package):
    """(ours, theirs): lists of warnings, each a list of lines (context + the warning)."""
    ours, theirs, context = [], [], []
    for line in lines:
        line = line.rstrip("\n")
        warning = COMPILER.match(line) or CYTHON.match(line)
        if warning:
            inlined = [m.group("path") for m in map(INLINED.match, context) if m]
            block = context + [line]
            mine = is_ours(warning.group("path"), package) or any(
                is_ours(p, package) for p in inlined)
            (ours if mine else theirs).append(block)
            context = []
        elif CONTEXT.search(line):
            context.append(line)      # "In function", "inlined from", "In file included from"
        else:
            context = []              # source excerpts, notes, commands: a block ended
    return ours, theirs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--package", default="autodiff")
    args = parser.parse_args(argv)
    with open(args.log, errors="replace") as f:
        ours, theirs = scan(f, args.package)
    for block in theirs:
        print("notice: a warning outside our sources (not counted):\n  " + "\n  ".join(block))
    for block in ours:
        print("\n".join(block))
    print(f"compiler warnings from our sources ({args.package}/): {len(ours)}; "
          f"elsewhere: {len(theirs)}")
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
