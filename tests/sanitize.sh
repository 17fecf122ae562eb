#!/bin/sh
# Run the test suite against the compiled engine built with AddressSanitizer and
# UndefinedBehaviorSanitizer.
#
#   tests/sanitize.sh                       # the default suite
#   tests/sanitize.sh --runslow             # also the slow tests
#   tests/sanitize.sh tests/test_reliability.py -k chain    # any pytest arguments
#
# The sanitized extension is built in a temporary copy of the sources (setup.py reads
# AUTODIFF_SANITIZE=1), so the in-place build of the working tree is left alone; the suite
# runs from that copy.  Python itself is not sanitized, so:
#   - libasan is preloaded (it must be the first library loaded into the process);
#   - PYTHONMALLOC=malloc sends every Python object, nodes included, through malloc, where
#     ASan puts redzones around it and catches use after free (pymalloc would hide them);
#   - detect_leaks=0: the interpreter deliberately does not free everything at exit.
# Any ASan report aborts the process; any UBSan "runtime error" halts it too.  The exit
# status is pytest's, or non-zero if a sanitizer report appears in the output.
# Set KEEP=1 to keep the temporary copy (its path is printed).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/autodiff-sanitize.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$work"' EXIT
fi
echo "sanitize: building in $work"

cp -r "$repo/setup.py" "$repo/pyproject.toml" "$repo/autodiff" "$repo/tests" "$work/"
rm -f "$work"/autodiff/*.so "$work"/autodiff/*.c
find "$work" -name __pycache__ -prune -exec rm -rf {} +

cd "$work"
AUTODIFF_SANITIZE=1 "$python" setup.py -q build_ext --inplace >build.log 2>&1 || {
    cat build.log; exit 1; }
for so in autodiff/*.so; do
    if ! ldd "$so" | grep -q libasan; then
        echo "sanitize: $so is not linked with libasan; is AUTODIFF_SANITIZE read by setup.py?"
        exit 1
    fi
done

libasan=$(gcc -print-file-name=libasan.so)
# libstdc++ too, right after libasan: a C++ extension loaded later (matplotlib's, which the
# corpus test's opfunu imports) would otherwise throw before ASan found __cxa_throw.
libstdcxx=$(gcc -print-file-name=libstdc++.so)
export LD_PRELOAD="$libasan $libstdcxx"
export PYTHONMALLOC=malloc
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:symbolize=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
unset AUTODIFF_PURE || true

"$python" -c 'import autodiff, sys; sys.exit(autodiff.ENGINE != "compiled" or
    not autodiff._engine.__file__.startswith(sys.argv[1]))' "$work" || {
    echo "sanitize: the sanitized engine did not load from $work"; exit 1; }

status=0
"$python" -m pytest -q -p no:cacheprovider --capture=sys "$@" 2>&1 | tee pytest.log || true
# tee hides pytest's status; read it back from the summary and the sanitizer reports
if grep -q -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" pytest.log; then
    echo "sanitize: sanitizer reports above"
    status=1
elif ! tail -n 3 pytest.log | grep -q -E "[0-9]+ passed"; then
    status=1
elif tail -n 3 pytest.log | grep -q -E "[0-9]+ (failed|error)"; then
    status=1
fi
echo "sanitize: done (status $status)"
exit $status
