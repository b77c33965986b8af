#!/bin/bash
# GPU check for the DSN layers (issue: CPU and GPU must agree). Needs a machine with a GPU.
#   tests/gpu/check.sh
# 1. builds GPU=1 (CUDNN=1 when cuDNN's header exists) and the CPU build;
# 2. every layer's forward and backward on CPU and GPU on the same inputs (max abs diff < 1e-4);
# 3. trains the same small student for 20 iterations on CPU and on GPU and compares the losses.
set -euo pipefail
cd "$(dirname "$0")/../.."
cudnn=$([ -f /usr/local/cuda/include/cudnn.h ] && echo 1 || echo 0)
make -j"$(nproc)" all >/dev/null
make -j"$(nproc)" GPU=1 CUDNN=$cudnn all >/dev/null
make GPU=1 CUDNN=$cudnn build/gpu/layer_check >/dev/null
nvidia-smi -L || true

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# a small generated data set and a teacher, through the CPU build's own test helpers
make build/tests/test_train >/dev/null
TMPDIR="$work" DSN_KEEP_TMP=1 build/tests/test_train >/dev/null 2>&1 || true
data=$(ls "$work"/*/set.data 2>/dev/null | head -1 || true)
student=$(ls "$work"/*/student.cfg 2>/dev/null | head -1 || true)
if [ -z "$data" ] || [ -z "$student" ]; then echo "check.sh: could not prepare the student"; exit 1; fi
dir=$(dirname "$student")

echo "== layers, CPU against GPU"
(cd "$dir" && "$OLDPWD/build/gpu/layer_check" student.cfg) | grep -v "^ *[0-9]* \|Using default"

echo "== 20 training iterations, CPU against GPU"
sed -i 's/^max_batches=.*/max_batches=20/' "$student"
serial=$(cat "$dir/serial.txt")
(cd "$dir" && "$OLDPWD/build/darknet" classifier train set.data student.cfg -seed 3 -serial "$serial" -nogpu > cpu.log 2>&1)
(cd "$dir" && "$OLDPWD/build/gpu/darknet" classifier train set.data student.cfg -seed 3 -serial "$serial" -i 0 > gpu.log 2>&1)
awk -F'kd ' '/^dsn: rows/{split($2,a," "); s+=a[1]; n++} END{printf "cpu: mean kd %.4f over %d iterations\n", s/n, n}' "$dir/cpu.log"
awk -F'kd ' '/^dsn: rows/{split($2,a," "); s+=a[1]; n++} END{printf "gpu: mean kd %.4f over %d iterations\n", s/n, n}' "$dir/gpu.log"
c=$(awk -F'kd ' '/^dsn: rows/{split($2,a," "); s+=a[1]; n++} END{print s/n}' "$dir/cpu.log")
g=$(awk -F'kd ' '/^dsn: rows/{split($2,a," "); s+=a[1]; n++} END{print s/n}' "$dir/gpu.log")
# the loader's threads order the batches differently, so only the trend can match
awk -v c="$c" -v g="$g" 'BEGIN{ r = (c > g ? c - g : g - c) / c; printf "relative difference %.3f\n", r; exit (r < 0.15 ? 0 : 1) }'
echo "check.sh: CPU and GPU agree"
