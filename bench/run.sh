#!/bin/bash
# make bench: images/s of this build's Darknet against stock Darknet and (PEERS=1) PyTorch on the
# MNIST nets, with the machine's sgemm ceiling measured in the same run.
#
#   make bench [ROUNDS=3] [SECS=2] [QUICK=1] [PEERS=1]    (or bench/run.sh from the repository root)
#
# Configurations (bench/bench.c and bench/bench_torch.py say what each mode times):
#   fast  = $BUILD/bench          teacher_train, student_train (batch 500, the student cfg's own
#                                 batch, 64), infer (500, 64, 1), stamp (500, 1 thread), unseal
#                                 (a thief's try of one serial on a sealed file: the second seal's
#                                 key, and the third's at dsn export's cost 14; 1 thread)
#   stock = $STOCK_DIR/bench      teacher_train, infer (stock Darknet: no OpenMP, naive gemm)
#   torch = bench/bench_torch.py  PEERS=1: teacher_train, student_train, infer in Debian's
#                                 python3-torch (make bench PEERS=1 installs it), the same cfgs
#   sgemm                         cblas_sgemm SGEMM_N^3, OPENBLAS_NUM_THREADS=1 and 2
# each at 1 and 2 threads (OMP_NUM_THREADS=T, OPENBLAS_NUM_THREADS=1; PyTorch also calls
# torch.set_num_threads(T): its OpenMP pool splits the work, and a second, OpenBLAS pool of T
# threads under it halved its 2-thread speed here), in ROUNDS rounds that run every
# configuration in the same order, so fast, stock and torch of one configuration are measured
# seconds apart. Values are medians over the rounds (min-max beside them); fast/stock and
# fast/torch are medians of the per-round ratios.
#
# Before each run the script waits until other processes use < QUIET_MAX cores (/proc/stat over
# one second), at most QUIET_WAIT seconds; once a wait has run out it waits at most 2 s per run
# until the machine is quiet again. After each run it records the cores other processes used
# during it (busy jiffies minus the run's own CPU time) and the steal; the table shows the worst.
#
# Knobs (environment): ROUNDS (3), SECS (2: timed seconds per run), QUICK=1 (one round,
# SECS 0.5, SGEMM_N 1024, QUIET_WAIT 5), SGEMM_N (2048), QUIET_MAX (0.15), QUIET_WAIT (60),
# PEERS (0; 1 adds PyTorch), PY (/usr/bin/python3: Debian's, where python3-torch is), OUT (bench/results). Writes OUT/bench.md (the table, also printed), OUT/bench.json (one record
# per configuration), OUT/runs.tsv (every run) and OUT/logs/ (each run's stderr).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
STOCK_DIR=${STOCK_DIR:-build/stock}
if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; SECS=${SECS:-0.5}; SGEMM_N=${SGEMM_N:-1024}; QUIET_WAIT=${QUIET_WAIT:-5}
fi
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-2}
SGEMM_N=${SGEMM_N:-2048}
QUIET_MAX=${QUIET_MAX:-0.15}
QUIET_WAIT=${QUIET_WAIT:-60}
OUT=${OUT:-bench/results}
PEERS=${PEERS:-0}
PY=${PY:-/usr/bin/python3}
fast=$BUILD/bench
stock=$STOCK_DIR/bench
# the student cfg's own batch: the student's speed is measured there too
STUDENT_BATCH=$(awk -F= '/^\[/ { n++ } n == 1 && $1 == "batch" { print $2 + 0; exit }' cfg/mnist_student.cfg)

# the MFLOP per image the issue's figures use for the teacher (the CPU performance study)
TEACHER_TRAIN_MFLOP=12.877
TEACHER_INFER_MFLOP=4.443

die() { echo "bench/run.sh: $*" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: a positive integer"
[[ $SECS =~ ^[0-9]*\.?[0-9]+$ ]] || die "SECS=$SECS: seconds, e.g. 2 or 0.5"

# run standalone: build what is measured (make bench has built it already)
if [ -z "${MAKELEVEL:-}" ]; then make --no-print-directory "$fast" "$stock"; fi
[ -x "$fast" ] && [ -x "$stock" ] || die "$fast and $stock must be built first (make bench builds them)"
[[ $STUDENT_BATCH =~ ^[1-9][0-9]*$ ]] || die "no batch= in cfg/mnist_student.cfg's [net]"
if [ "$PEERS" = 1 ]; then
    "$PY" -c 'import torch' 2>/dev/null || die "PEERS=1: $PY cannot import torch (make bench PEERS=1 installs python3-torch)"
fi

mkdir -p "$OUT/logs"
rm -f "$OUT"/logs/*.log
runs=$OUT/runs.tsv
printf 'round\tbuild\tmode\tbatch\tthreads\tvalue\tmflop_img\tothers\tsteal\n' > "$runs"

# ---- contamination control ------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
# machine-wide busy jiffies (user nice system irq softirq) and steal
cpu_jiffies() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9; exit }' /proc/stat; }
patience=$QUIET_WAIT
wait_quiet() {
    local t0=$SECONDS a b s
    while :; do
        read -r a s < <(cpu_jiffies); sleep 1; read -r b s < <(cpu_jiffies)
        if awk -v d=$((b - a)) -v t="$TCK" -v m="$QUIET_MAX" 'BEGIN { exit !(d / t < m) }'; then
            patience=$QUIET_WAIT; return 0
        fi
        if (( SECONDS - t0 >= patience )); then
            (( patience > 2 )) && echo "  (the machine is busy: others use more than $QUIET_MAX cores after ${patience}s; measuring anyway)"
            patience=2; return 0
        fi
        sleep 1
    done
}

# ---- one measurement --------------------------------------------------------------------------
failed=0
run_one() {   # round build mode batch threads
    local round=$1 build=$2 mode=$3 batch=$4 t=$5 bin envs extra=
    bin=$([ "$build" = stock ] && echo "$stock" || echo "$fast")
    if [ "$mode" = sgemm ]; then envs="OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t"
    elif [ "$build" = torch ]; then envs="OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1"; bin="$PY bench/bench_torch.py"; extra=$t
    else envs="OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=1"; fi
    local log=$OUT/logs/r$round-$build-$mode-b$batch-t$t.log
    wait_quiet
    local b0 s0 b1 s1 wall usr sys
    read -r b0 s0 < <(cpu_jiffies)
    local TIMEFORMAT='%R %U %S'
    # shellcheck disable=SC2086
    if ! { time env $envs $bin "$mode" "$batch" "$SECS" $extra > "$log.out" 2> "$log"; } 2> "$log.time"; then
        echo "  FAILED r$round $build $mode b$batch t$t (log: $log)"; tail -3 "$log" | sed 's/^/    /'
        failed=$((failed + 1)); rm -f "$log.out" "$log.time"; return 0
    fi
    read -r b1 s1 < <(cpu_jiffies)
    read -r wall usr sys < "$log.time"
    local res value mflop others steal
    res=$(grep '^RESULT' "$log.out" | tail -1)
    cat "$log.out" >> "$log"; rm -f "$log.out" "$log.time"
    if [ "$mode" = sgemm ]; then value=$(sed -n 's/.* gflops=\([0-9.]*\).*/\1/p' <<<"$res"); mflop=0
    elif [ "$mode" = unseal ]; then value=$(sed -n 's/.* serials_s=\([0-9.]*\).*/\1/p' <<<"$res"); mflop=0
    else
        value=$(sed -n 's/.* img_s=\([0-9.]*\).*/\1/p' <<<"$res")
        mflop=$(sed -n 's/.* mflop_img=\([0-9.]*\).*/\1/p' <<<"$res")
    fi
    [ -n "$value" ] || { echo "  FAILED r$round $build $mode: no RESULT line (log: $log)"; failed=$((failed + 1)); return 0; }
    others=$(awk -v d=$((b1 - b0)) -v t="$TCK" -v u="$usr" -v s="$sys" -v w="$wall" \
                 'BEGIN { o = (d / t - u - s) / w; printf "%.3f", o < 0 ? 0 : o }')
    steal=$(awk -v d=$((s1 - s0)) -v t="$TCK" -v w="$wall" 'BEGIN { printf "%.3f", d / t / w }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$build" "$mode" "$batch" "$t" "$value" "$mflop" \
        "$others" "$steal" >> "$runs"
    printf '  r%s %-5s %-13s b%-3s t%s  %10.1f %s  (others %s cores, steal %s)\n' "$round" "$build" "$mode" "$batch" "$t" \
        "$value" "$(case $mode in sgemm) echo GFLOP/s ;; unseal) echo serials/s ;; *) echo img/s ;; esac)" "$others" "$steal"
}

# every configuration, in the order each round runs them: fast, stock and torch of one side by side
configs() {
    local t b mode
    for t in 1 2; do echo "fast sgemm $SGEMM_N $t"; done
    for b in $(printf '%s\n' 500 "$STUDENT_BATCH" 64 1 | awk '!seen[$0]++'); do
        for mode in teacher_train student_train infer; do
            [ "$b" = 1 ] && [ "$mode" != infer ] && continue
            [ "$b" = "$STUDENT_BATCH" ] && [ "$b" != 500 ] && [ "$b" != 64 ] && [ "$mode" = infer ] && continue
            for t in 1 2; do
                echo "fast $mode $b $t"
                [ "$mode" != student_train ] && echo "stock $mode $b $t"
                [ "$PEERS" = 1 ] && echo "torch $mode $b $t"
            done
        done
    done
    echo "fast stamp 500 1"
    echo "fast unseal 0 1"
    echo "fast unseal 14 1"
    return 0
}

ncfg=$(configs | wc -l)
echo "make bench: $ncfg configurations x $ROUNDS round(s), $SECS s each; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$PEERS" = 1 ] && echo "peer: PyTorch $("$PY" -c 'import torch; print(torch.__version__)') ($PY)"
start=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS"
    while read -r build mode batch t; do
        run_one "$r" "$build" "$mode" "$batch" "$t"
    done < <(configs)
done
echo "measured in $((SECONDS - start)) s"

# ---- report -----------------------------------------------------------------------------------
# OpenBLAS's kernels set the sgemm ceiling and the GEMM share of every Darknet row: name them
blas_core=$(OPENBLAS_VERBOSE=2 OPENBLAS_NUM_THREADS=1 "$fast" sgemm 64 0 2>&1 >/dev/null | sed -n 's/^Core: //p' | tail -n 1)
{
    echo "# make bench"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)'),"\
         "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); ROUNDS=$ROUNDS SECS=$SECS SGEMM_N=$SGEMM_N$([ "$PEERS" = 1 ] && echo ", PyTorch $("$PY" -c 'import torch; print(torch.__version__)')")."
    echo
    echo "OpenBLAS kernels: ${blas_core:-unknown}$([ -n "${OPENBLAS_CORETYPE:-}" ] && echo " (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE in the environment; unset, OpenBLAS picks the kernels it finds best for this CPU)")."
    echo
} > "$OUT/bench.md"
awk -F'\t' -v md="$OUT/bench.md" -v json="$OUT/bench.json" -v quiet="$QUIET_MAX" -v rounds="$ROUNDS" \
    -v ttrain="$TEACHER_TRAIN_MFLOP" -v tinfer="$TEACHER_INFER_MFLOP" -v sbatch="$STUDENT_BATCH" \
    -f bench/report.awk "$runs"
cat "$OUT/bench.md"
echo
echo "written: $OUT/bench.md, $OUT/bench.json, $OUT/runs.tsv, $OUT/logs/"
if [ "$failed" -gt 0 ]; then echo "bench/run.sh: $failed run(s) failed (logs in $OUT/logs/)" >&2; exit 1; fi
