#!/bin/sh
# Fetches pjreddie Darknet as Debian packages it (source package `darknet`, the version pinned
# below), checks every downloaded file against darknet_patch/SHA256SUMS, unpacks it with Debian's
# own patches (OpenCV 4 port) and applies darknet_patch/*.patch in order.
#
#   darknet_patch/fetch.sh OUTDIR        (the Makefile calls it as build/darknet-src)
#   DSN_PATCHES="0001-build-fixes.patch" darknet_patch/fetch.sh build/darknet-stock
#                                        only the patches named (make stock: the baseline of make bench)
#
# apt-get runs against a deb-src list written into OUTDIR's parent (build/apt/), built from the
# mirrors the system's own apt sources already use; the system's apt configuration is never touched.
# The patched tree is complete only when OUTDIR/.dsn-patched exists; a failure leaves no such
# marker, so the next `make` starts again from the download.
set -eu

PKG=darknet
VERSION=0.0.0+git20180914.61c9d02e-2
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: fetch.sh OUTDIR}
mkdir -p "$(dirname "$out")"
top=$(cd "$(dirname "$out")" && pwd)
apt=$top/apt
dl=$top/darknet-download

die() { printf 'darknet_patch/fetch.sh: %s\n' "$*" >&2; exit 1; }

command -v apt-get >/dev/null || die "apt-get not found: this build needs a Debian (12) machine."
command -v dpkg-source >/dev/null || die "dpkg-source not found: run 'make deps' (package dpkg-dev)."

# Mirror URIs of the system's Debian main archive (deb822 .sources files or one-line lists).
mirrors() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN{RS=""; IGNORECASE=1} /Suites:[^\n]*bookworm/ && !/security/ {
                 if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { u = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u } }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" && $0 ~ /bookworm/ && $0 !~ /security/ {
                 for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
    done
}

if [ ! -f "$dl/.verified" ]; then
    rm -rf "$apt" "$dl"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$dl"
    uris=$(mirrors | awk '!seen[$0]++')
    [ -n "$uris" ] || die "no Debian bookworm mirror found in /etc/apt/sources.list*: add one, then run make again."
    for u in $uris; do echo "deb-src $u bookworm main"; done > "$apt/sources.list"
    opts="-o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -o Debug::NoLocking=1
          -o APT::Sandbox::User=root"
    echo "darknet_patch/fetch.sh: fetching source package $PKG $VERSION with apt-get source"
    # shellcheck disable=SC2086
    apt-get -q $opts update >"$apt/update.log" 2>&1 ||
        die "apt-get update on $apt/sources.list failed (see $apt/update.log): check the network, then run make again."
    # shellcheck disable=SC2086
    (cd "$dl" && apt-get -q $opts source --download-only "$PKG=$VERSION") >"$apt/source.log" 2>&1 ||
        die "apt-get source $PKG=$VERSION failed (see $apt/source.log). The pinned version may have left the mirror; see darknet_patch/README."
    (cd "$dl" && sha256sum -c "$here/SHA256SUMS") >"$apt/sha256.log" 2>&1 || {
        cat "$apt/sha256.log" >&2
        die "checksum mismatch in $dl: the downloaded Darknet source is not the pinned one. Nothing was unpacked; delete $dl and retry, or report it."
    }
    touch "$dl/.verified"
fi

rm -rf "$out" "$out.tmp"
mkdir -p "$apt"     # its logs: a verified download may have been copied in without build/apt/
dpkg-source --no-check -x "$dl/${PKG}_$VERSION.dsc" "$out.tmp" >"$apt/unpack.log" 2>&1 ||
    die "dpkg-source -x failed (see $apt/unpack.log)."
rm -f "$top/${PKG}_"*.orig.tar.*   # dpkg-source links the tarball beside its output
for n in ${DSN_PATCHES:-$(cd "$here" && echo [0-9]*.patch)}; do
    p=$here/$n
    [ -f "$p" ] || { [ -n "${DSN_PATCHES:-}" ] && die "DSN_PATCHES: there is no $n in darknet_patch/."; continue; }
    patch -d "$out.tmp" -p1 --quiet --forward --no-backup-if-mismatch < "$p" ||
        die "patch $(basename "$p") does not apply to $PKG $VERSION."
done
# fresh mtimes: a changed patch set rebuilds the whole tree, never a stale object
find "$out.tmp" -type f -exec touch {} +
touch "$out.tmp/.dsn-patched"
mv "$out.tmp" "$out"
echo "darknet_patch/fetch.sh: $PKG $VERSION unpacked and patched in $out"
