#!/bin/bash
# GPU check for the DSN layers (issue: CPU and GPU must agree). Needs a machine with a GPU.
#   tests/gpu/check.sh        (tests/gpu/device.sh runs it on a GPU machine without our Debian packages)
# 1. builds the CPU and the GPU=1 binaries it uses (CUDNN=1 when cuDNN's header exists);
# 2. every layer's forward and backward on CPU and GPU on the same inputs (max abs diff < 1e-4);
# 3. trains the same small student for 20 iterations on CPU and on GPU and compares the losses.
# MAKE (default: make) and CUDNN (0 or 1) may be set by the caller. Exit 1 when a stage fails.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
cudnn=${CUDNN:-$([ -f /usr/local/cuda/include/cudnn.h ] && echo 1 || echo 0)}
MAKE=${MAKE:-make}
$MAKE -j"$(nproc)" build/darknet build/tests/test_train >/dev/null || exit 1
$MAKE -j"$(nproc)" GPU=1 CUDNN="$cudnn" build/gpu/darknet build/gpu/layer_check >/dev/null || exit 1
nvidia-smi -L || true

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# a small generated data set, a teacher and a student cfg, through the CPU build's own test helpers
TMPDIR="$work" DSN_KEEP_TMP=1 build/tests/test_train >/dev/null 2>&1 || true
data=$(ls "$work"/*/set.data 2>/dev/null | head -1 || true)
student=$(ls "$work"/*/student.cfg 2>/dev/null | head -1 || true)
if [ -z "$data" ] || [ -z "$student" ]; then echo "check.sh: could not prepare the student"; exit 1; fi
dir=$(dirname "$student")
serial=$(cat "$dir/serial.txt")
bad=0

echo "== layers, CPU against GPU (cuDNN $cudnn; TF32 off: cuDNN may use it on Ampere and later, far above 1e-4)"
(cd "$dir" && DSN_SERIAL="$serial" NVIDIA_TF32_OVERRIDE=0 "$OLDPWD/build/gpu/layer_check" student.cfg > layers.log 2>&1) || bad=1
grep -v "^ *[0-9]* \|Using default\|^dsn: rows" "$dir/layers.log"

echo "== 20 training iterations, CPU against GPU"
sed -i 's/^max_batches=.*/max_batches=20/' "$student"
(cd "$dir" && "$OLDPWD/build/darknet" classifier train set.data student.cfg -seed 3 -serial "$serial" -nogpu > cpu.log 2>&1) || bad=1
(cd "$dir" && "$OLDPWD/build/gpu/darknet" classifier train set.data student.cfg -seed 3 -serial "$serial" -gpus 0 > gpu.log 2>&1) || bad=1
kd() { awk -F'kd ' '/^dsn: rows/{split($2,a," "); print a[1]}' "$1"; }
echo "iteration: G_y kd on CPU, on GPU"
paste <(kd "$dir/cpu.log") <(kd "$dir/gpu.log") | awk '{printf "  %2d: %s %s\n", NR, $1, $2}'
c=$(kd "$dir/cpu.log" | awk '{s+=$1; n++} END{if(n) print s/n}')
g=$(kd "$dir/gpu.log" | awk '{s+=$1; n++} END{if(n) print s/n}')
if [ -z "$c" ] || [ -z "$g" ]; then
    echo "check.sh: a training printed no dsn: rows lines"; tail -5 "$dir/cpu.log" "$dir/gpu.log"; exit 1
fi
echo "mean kd: cpu $c, gpu $g"
# the same seed draws the same batches and roles on both; only float rounding may differ
awk -v c="$c" -v g="$g" 'BEGIN{ r = (c > g ? c - g : g - c) / c; printf "relative difference %.3f\n", r; exit (r < 0.15 ? 0 : 1) }' || bad=1
[ "$bad" = 0 ] && echo "check.sh: CPU and GPU agree" || echo "check.sh: CPU and GPU DIFFER (see above)"
exit "$bad"
