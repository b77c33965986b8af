#!/bin/bash
# tests/gpu/device.sh OUTDIR: the GPU check in one go on a GPU machine that is not our Debian 12 and
# has no network (a lent CUDA machine). From the repository root, with these ignored paths present:
#   build/darknet-src            the patched Darknet tree (make fetch), not fetched again here
#   data/mnist                   make demo's MNIST images
#   $DEPS (.gpudeps)/root.tar.xz Debian 12's libssl-dev libssl3 libjansson-dev libjansson4 libicu-dev
#                                libicu72 libcmocka-dev libcmocka0 make, unpacked with dpkg -x (static
#                                libraries and documentation removed), put on CPATH/LIBRARY_PATH
#   $DEPS/mnist_teacher.weights  cfg/mnist_teacher.cfg as make demo trains it
# Steps: the CPU and GPU=1 builds (OPENCV=0 OPENBLAS=0, tests/gpu/device.mk; CUDNN=1 when cuDNN's
# header is found); tests/gpu/check.sh (every DSN layer CPU against GPU, 20 iterations of a small
# student on both); the MNIST student (cfg/mnist_student.cfg, alice's serial) trained on the GPU for
# at most TRAIN_SECS (180), the same on the CPU for at most CPU_SECS (90: speed, losses), and each
# student's customer model exported and evaluated with and without the serial (dsn eval EVAL_OPTS;
# darknet classifier valid on the GPU). OUTDIR gets summary.txt, eval_gpu_trained.md,
# eval_cpu_trained.md and logs.tar.gz (refreshed after every step). tests/gpu/device_deps.sh
# gathers $DEPS here; on the lent machine (device tool): carry .gpudeps, build/darknet-src and
# data/mnist and run `tests/gpu/device.sh "$OUT"` (about 100 s there on an H200 with 16 CPUs).
# SKIP_GPU=1: everything but the GPU (a dry run on a machine without one; CPU_BUILD picks the dir).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
out=${1:?usage: tests/gpu/device.sh OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
deps=$(cd "${DEPS:-.gpudeps}" && pwd)
TRAIN_SECS=${TRAIN_SECS:-180} CPU_SECS=${CPU_SECS:-90} SKIP_GPU=${SKIP_GPU:-0}
EVAL_OPTS=${EVAL_OPTS:---forged 100 --near2 50 --near4 50 --images-per-serial 200}
cb=${CPU_BUILD:-build} gb=build/gpu
logs=$(mktemp -d) work=$(mktemp -d)
t0=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - t0)) "$*" | tee -a "$out/summary.txt"; }
snap() { tar -czf "$out/logs.tar.gz" -C "$logs" . 2>/dev/null; }

# ---- the machine and the libraries ----------------------------------------------------------
root=$work/root && mkdir -p "$root"
tar -xJf "$deps/root.tar.xz" -C "$root" 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$deps/root.tar.xz" "$root"
lib=$root/usr/lib/x86_64-linux-gnu
export CPATH=$root/usr/include:$root/usr/include/x86_64-linux-gnu LIBRARY_PATH=$lib
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
command -v make >/dev/null || export PATH=$PATH:$root/usr/bin
nvcc=/usr/local/cuda/bin/nvcc
[ -x "$nvcc" ] || nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
CPATH=$CPATH:$cuda/include LIBRARY_PATH=$LIBRARY_PATH:$cuda/lib64:$cuda/lib
LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$cuda/lib64:$cuda/lib
cudnn=0
if [ -f "$cuda/include/cudnn.h" ]; then cudnn=1
elif p=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null) && [ -f "$p/include/cudnn.h" ]; then
    cudnn=1 CPATH=$CPATH:$p/include LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$p/lib
    ln -sf "$(ls "$p"/lib/libcudnn.so* | head -1)" "$lib/libcudnn.so"   # pip ships libcudnn.so.9 only
fi
say "machine: $( (. /etc/os-release && echo "$PRETTY_NAME") ), $(nproc) CPUs, gcc $(gcc -dumpfullversion)," \
    "$("$nvcc" --version | tail -1), cuDNN header: $cudnn, make $(make --version | head -1)"
[ "$SKIP_GPU" = 1 ] || say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"

# make does not fetch here: the carried tree must hold exactly this darknet_patch/ (undo the
# patches, last first, in a copy; one that does not undo was not applied)
if command -v patch >/dev/null; then
    mkdir "$work/dk" && cp -r build/darknet-src/. "$work/dk"     # /.: the tree, also through a link
    patches=(darknet_patch/[0-9]*.patch)
    for ((i = ${#patches[@]} - 1; i >= 0; --i)); do
        p=${patches[i]}
        patch -d "$work/dk" -p1 -R -f -s --no-backup-if-mismatch --reject-file=- < "$p" > /dev/null 2>&1 ||
            { say "build/darknet-src lacks $(basename "$p") (or differs): run make fetch where it was made, carry it again"; exit 1; }
    done
    say "build/darknet-src: every darknet_patch/*.patch applied"
else
    say "no patch(1) here: build/darknet-src not checked against darknet_patch/"
fi

# ---- builds: strict first; on failure once more with warnings as warnings (another gcc) --------
MK="make -f tests/gpu/device.mk OPENCV=0 OPENBLAS=0 NVCC=$nvcc"
printf '#!/bin/sh\nexec gcc "$@" -Wno-error\n' > "$work/cc"
printf '#!/bin/sh\nexec g++ "$@" -Wno-error\n' > "$work/cxx"
chmod +x "$work/cc" "$work/cxx"
build() {   # NAME MAKE-ARGS...
    local name=$1 s
    shift
    s=$(date +%s)
    if $MK -j"$(nproc)" "$@" > "$logs/build_$name.log" 2>&1; then say "build $name: ok ($(($(date +%s) - s))s)"; return 0; fi
    say "build $name: FAILED with -Werror ($(($(date +%s) - s))s):"
    grep -m 15 -E 'error|undefined' "$logs/build_$name.log" | tee -a "$out/summary.txt"
    $MK -j"$(nproc)" CC="$work/cc" CXX="$work/cxx" "$@" > "$logs/build_${name}_relaxed.log" 2>&1 &&
        { say "build $name: ok with -Wno-error"; return 0; }
    say "build $name: FAILED"; grep -m 15 -E 'error|undefined' "$logs/build_${name}_relaxed.log" | tee -a "$out/summary.txt"
    return 1
}
build cpu BUILD="$cb" "$cb/darknet" "$cb/dsn" "$cb/tests/test_train" || { snap; exit 1; }
if [ "$SKIP_GPU" != 1 ]; then
    gpu_targets="$gb/darknet $gb/dsn $gb/layer_check"
    # shellcheck disable=SC2086
    build "gpu_cudnn$cudnn" GPU=1 CUDNN=$cudnn $gpu_targets ||
        { [ "$cudnn" = 1 ] && rm -rf "$gb" && cudnn=0 && build gpu_cudnn0 GPU=1 CUDNN=0 $gpu_targets; } ||
        { snap; exit 1; }
    ldd "$gb/darknet" | grep -E 'libcu|not found' > "$logs/ldd_gpu.txt"
    snap

    # ---- check.sh: layers and 20 iterations, CPU against GPU --------------------------------
    s=$(date +%s)
    MAKE="$MK" CUDNN=$cudnn timeout 150 tests/gpu/check.sh > "$logs/check.log" 2>&1
    say "tests/gpu/check.sh: exit $? ($(($(date +%s) - s))s)"
    grep -v '^ *[0-9]*: ' "$logs/check.log" | tee -a "$out/summary.txt"
    grep '^ *[0-9]*: ' "$logs/check.log" | sed -n '1p;5p;10p;15p;20p' | tee -a "$out/summary.txt"
    snap
fi

# ---- the MNIST student: GPU training, CPU speed, export, evaluation -----------------------------
# train_stats LOG: iterations, Darknet's avg loss first -> last, img/s over the training step alone
train_stats() {
    awk -F', ' '/ avg, .* rate, .* seconds, /{ n++; split($3, a, " "); split($5, c, " "); split($6, im, " ");
        if(n == 1){ first = a[1]; i0 = im[1] } last = a[1]; if(n > 10){ t += c[1]; k++ } }
        END{ B = n > 1 ? (im[1] - i0)/(n - 1) : 0;
             printf "%d iterations (batch %d), avg loss %.4f -> %.4f, %.0f img/s in train_network", n, B, first, last, k ? B*k/t : 0 }' "$1"
}
# head_tail LOG KEY: mean of the value after KEY on the first and the last 20 dsn: rows lines
head_tail() {
    awk -v key="$2 " '/^dsn: rows/{ i = index($0, key); if(i){ v[++n] = substr($0, i + length(key)) + 0 } }
        END{ k = n < 20 ? n : 20; for(j = 1; j <= k; ++j){ h += v[j]/k; t += v[n - k + j]/k }
             printf "%s %.4f -> %.4f", key, h, t }' "$1"
}
loss_at() { awk -F', ' -v i="$2" '$1 == i && / avg, /{ split($2, a, ": "); print a[2]; exit }' "$1"; }
serial=$("$cb/dsn" serial --cert weights/alice.sn)
m=$work/mnist && mkdir -p "$m/backup"
sed "s|^backup=.*|backup=$m/backup/|" cfg/mnist.data > "$m/mnist.data"
sed "s|^teacher_weights=.*|teacher_weights=$deps/mnist_teacher.weights|" cfg/mnist_student.cfg > "$m/mnist_student.cfg"
sed "s|^backup=.*|backup=$m/cpu/|" cfg/mnist.data > "$m/cpu.data" && mkdir -p "$m/cpu"
# line-buffered stdout: Darknet's per-iteration lines stay whole between the layers' stderr lines
lb=$(command -v stdbuf >/dev/null && echo "stdbuf -oL")
train_bin=$gb/darknet train_dev="-gpus 0"
[ "$SKIP_GPU" = 1 ] && train_bin=$cb/darknet train_dev=-nogpu
s=$(date +%s)
# shellcheck disable=SC2086
timeout "$TRAIN_SECS" $lb "$train_bin" classifier train "$m/mnist.data" "$m/mnist_student.cfg" $train_dev -seed 1 -serial "$serial" \
    > "$logs/mnist_gpu.log" 2>&1
say "MNIST student on the GPU: exit $? after $(($(date +%s) - s))s (cap ${TRAIN_SECS}s): $(train_stats "$logs/mnist_gpu.log")"
say "  dsn: rows, first 20 -> last 20: $(head_tail "$logs/mnist_gpu.log" kd), $(head_tail "$logs/mnist_gpu.log" push), $(head_tail "$logs/mnist_gpu.log" 'G_d ce')"
snap
# the same cfg and seed on the CPU for CPU_SECS: the same batches and roles (the gradient reversal's
# ramp follows max_batches, so the cfg is the same), so the losses should follow the GPU's closely
s=$(date +%s)
# shellcheck disable=SC2086
timeout "$CPU_SECS" $lb "$cb/darknet" classifier train "$m/cpu.data" "$m/mnist_student.cfg" -seed 1 -serial "$serial" \
    > "$logs/mnist_cpu.log" 2>&1
rc=$?
say "the same student on the CPU ($(nproc) threads, no OpenBLAS): exit $rc after $(($(date +%s) - s))s (cap ${CPU_SECS}s): $(train_stats "$logs/mnist_cpu.log")"
for i in 1 10 100 500 1000 2000; do
    say "  iteration $i: loss gpu $(loss_at "$logs/mnist_gpu.log" $i) cpu $(loss_at "$logs/mnist_cpu.log" $i)"
done
snap

# evaluate NAME WEIGHTS: the customer model (sealed to alice's serial, and in the clear) exported
# from the student's weights, dsn eval on the CPU build (OUTDIR/eval_NAME.md), and darknet
# classifier valid on the GPU with the serial (sealed model) and without one (open model)
evaluate() {
    local name=$1 w=$2 c=$m/$1 s rc
    [ -f "$w" ] || w=${w%.weights}.backup     # a training stopped by its cap: the last epoch
    [ -f "$w" ] || { say "$name: no weights to evaluate"; return; }
    "$cb/dsn" export "$m/mnist_student.cfg" "$w" -o "$c/customer" --name mnist_customer --cert weights/alice.sn --force \
        > "$logs/export_$name.log" 2>&1 &&
    "$cb/dsn" export "$m/mnist_student.cfg" "$w" -o "$c/open" --name mnist_customer --no-seal --force \
        >> "$logs/export_$name.log" 2>&1
    rc=$?
    say "$name: dsn export of $(basename "$w"): exit $rc"
    s=$(date +%s)
    # shellcheck disable=SC2086
    timeout 120 "$cb/dsn" eval --cfg "$c/customer/mnist_customer.cfg" --weights "$c/customer/mnist_customer.weights" \
        --cert weights/alice.sn --pub weights/owner.pub.pem --data "$m/mnist.data" --teacher-cfg cfg/mnist_teacher.cfg \
        --teacher-weights "$deps/mnist_teacher.weights" --seed 0 --dataset mnist $EVAL_OPTS -q \
        --md "$out/eval_$name.md" --json "$logs/eval_$name.json" > "$logs/eval_$name.log" 2>&1
    say "$name: dsn eval (CPU build, $EVAL_OPTS): exit $? ($(($(date +%s) - s))s)"
    grep -E '^\| (teacher|valid|no serial|forged|Hamming distance 1, mean)' "$out/eval_$name.md" | tee -a "$out/summary.txt"
    [ "$SKIP_GPU" = 1 ] && return
    valid() { "$gb/darknet" classifier valid "$m/mnist.data" "$@" 2>/dev/null | grep 'top 1' | tail -1; }
    say "$name: darknet classifier valid on the GPU, sealed model with -serial: $(valid "$c/customer/mnist_customer.cfg" "$c/customer/mnist_customer.weights" -serial "$serial")"
    say "$name: darknet classifier valid on the GPU, open model, no serial: $(valid "$c/open/mnist_customer.cfg" "$c/open/mnist_customer.weights")"
}
evaluate gpu_trained "$m/backup/mnist_student.weights"
snap
evaluate cpu_trained "$m/cpu/mnist_student.weights"
snap
say "done"
