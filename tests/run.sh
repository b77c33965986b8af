#!/bin/sh
# Runs every CMocka suite given, from the repository root, and closes with one summary line
# ("N passed, N failed") over all of them. Exit 0 only when every suite passed.
#   tests/run.sh BUILD_DIR TEST_BINARY...
# TEST_JOBS=N (2 by default) suites run at a time: most are one process on one core, and each
# works in its own temporary directory. Each suite's output is printed whole, in the order given,
# with the seconds it took.
build=$1; shift
export DSN_BUILD="$build"
# sanitized builds: Darknet's own leaks (tests/lsan.supp) are not ours to fail on
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
jobs=${TEST_JOBS:-2}
case $jobs in ''|*[!0-9]*|0) echo "tests/run.sh: TEST_JOBS='$jobs': give a number of suites, 1 or more" >&2; exit 2;; esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
i=0
for t in "$@"; do i=$((i + 1)); printf '%s\n%s\n' "$i" "$t"; done |
    OUT=$out xargs -P "$jobs" -n 2 sh -c 't0=$(date +%s); "$2" >"$OUT/$1.log" 2>&1; echo $? >"$OUT/$1.rc";
        echo $(($(date +%s) - t0)) >"$OUT/$1.sec"' suite
pass=0; fail=0; bad=""; times=""; i=0
for t in "$@"; do
    i=$((i + 1))
    cat "$out/$i.log" 2>/dev/null
    rc=$(cat "$out/$i.rc" 2>/dev/null || echo 127)
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out/$i.log" 2>/dev/null | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out/$i.log" 2>/dev/null | tail -1)
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
    times="$times $(basename "$t") $(cat "$out/$i.sec" 2>/dev/null)s,"
    if [ "$rc" -ne 0 ]; then
        bad="$bad $(basename "$t")"
        [ -z "$f" ] && fail=$((fail + 1))      # crashed before its summary
    fi
done
echo
echo "seconds per suite ($jobs at a time):${times%,}"
[ -n "$bad" ] && echo "failing suites:$bad"
echo "$pass passed, $fail failed"
[ -z "$bad" ]
