#!/bin/bash
# tests/gpu/device_deps.sh [DIR]: gathers here (Debian 12, with its archive reachable) what
# tests/gpu/device.sh needs on a GPU machine that has neither our Debian packages nor a network,
# into DIR (default .gpudeps; keep it out of git: echo /.gpudeps/ >> .git/info/exclude):
#   root.tar.xz            libssl-dev libssl3 libjansson-dev libjansson4 libicu-dev libicu72
#                          libcmocka-dev libcmocka0 make, unpacked with dpkg -x, static libraries,
#                          documentation and the unused ICU libraries removed (11 MB)
#   mnist_teacher.weights  the MNIST teacher (TEACHER=FILE; default: make demo's seed 0)
# build/darknet-src (make fetch) and data/mnist (make demo) travel as they are.
set -euo pipefail
cd "$(dirname "$0")/../.." || exit 2
dir=${1:-.gpudeps}
teacher=${TEACHER:-build/demo/mnist/seed0/backup/mnist_teacher.weights}
[ -f "$teacher" ] || { echo "device_deps.sh: no $teacher (make demo trains it, or set TEACHER=FILE)" >&2; exit 2; }
[ -f build/darknet-src/.dsn-patched ] || { echo "device_deps.sh: no patched build/darknet-src (run make fetch)" >&2; exit 2; }
[ -d data/mnist ] || echo "device_deps.sh: no data/mnist yet (make demo fetches it); device.sh needs it" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q libssl-dev libssl3 libjansson-dev libjansson4 libicu-dev libicu72 \
    libcmocka-dev libcmocka0 make > download.log 2>&1) || { cat "$tmp/download.log" >&2; exit 1; }
mkdir "$tmp/root"
for f in "$tmp"/*.deb; do dpkg -x "$f" "$tmp/root"; done
r=$tmp/root/usr
rm -rf "$r"/lib/x86_64-linux-gnu/*.a "$r"/lib/x86_64-linux-gnu/libicu{tu,test,io,i18n}* "$r"/lib/icu \
    "$r"/share/{doc,man,info,locale} "$r"/bin/icu* "$r"/sbin
mkdir -p "$dir"
tar -cJf "$dir/root.tar.xz" -C "$tmp/root" .
cp "$teacher" "$dir/mnist_teacher.weights"
echo "device_deps.sh: $dir is ready ($(du -sh "$dir" | cut -f1)); carry $dir, build/darknet-src and data/mnist"
