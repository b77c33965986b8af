#!/bin/sh
# Runs every CMocka suite given, from the repository root, and closes with one summary line
# ("N passed, N failed") over all of them. Exit 0 only when every suite passed.
#   tests/run.sh BUILD_DIR TEST_BINARY...
build=$1; shift
export DSN_BUILD="$build"
# sanitized builds: Darknet's own leaks (tests/lsan.supp) are not ours to fail on
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
pass=0; fail=0; bad=""
log=$(mktemp)
for t in "$@"; do
    "$t" >"$log" 2>&1; rc=$?
    cat "$log"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
    if [ $rc -ne 0 ]; then
        bad="$bad $(basename "$t")"
        [ -z "$f" ] && fail=$((fail + 1))      # crashed before its summary
    fi
done
rm -f "$log"
echo
[ -n "$bad" ] && echo "failing suites:$bad"
echo "$pass passed, $fail failed"
[ -z "$bad" ]
