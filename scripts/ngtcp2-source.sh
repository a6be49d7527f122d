#!/usr/bin/env bash
# ngtcp2-source.sh — the ngtcp2 1.11.0 source for the patched build (-Dngtcp2=patched), from
# Debian's source package, verified against a pinned SHA-256, with patches/ngtcp2/ applied.
#
#   fetch          download ngtcp2_1.11.0.orig.tar.xz with `apt-get source --download-only`
#                  (adds a deb-src entry for bookworm-backports when run as root and none is
#                  there) into subprojects/packagecache/, then verify it
#   check          verify the cached tarball: exit 2 when missing, 3 when the SHA-256 differs
#   prepare        check, then extract it to subprojects/ngtcp2-patched/ngtcp2-1.11.0 and apply
#                  the series with `git am` (meson's configure step runs this; it does nothing
#                  when the tree already matches the tarball and the series)
#   verify-series  apply the series one patch at a time to a fresh tree and build + run
#                  ngtcp2's own tests (cmake, munit) after each: the per-patch check
#   path           print where the cached tarball is expected
#
# Environment: NGTCP2_ORIG_TARBALL=/path/to/ngtcp2_1.11.0.orig.tar.xz makes `fetch` copy a local
# copy instead of downloading (it is verified all the same); JOBS (default 2) for verify-series;
# NGTCP2_VERIFY_DIR (default: a new temporary directory) for verify-series' work tree.
set -euo pipefail

# ---- pinned source -------------------------------------------------------------------------
DEB_SOURCE=ngtcp2
DEB_VERSION=1.11.0-1~bpo12+1          # bookworm-backports
UPSTREAM_VERSION=1.11.0
TARBALL=ngtcp2_1.11.0.orig.tar.xz     # upstream release tarball, not repacked (no +dfsg)
TARBALL_SHA256=382c15bf66b630f26021631b25b7eb1feac42c67c1d6826189d61091dfaa4d09
TOPDIR=ngtcp2-1.11.0                  # the tarball's top-level directory
PREPARE_LOGIC=2                       # bump when `prepare` changes what it produces

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
CACHE_DIR=$ROOT/subprojects/packagecache
CACHED=$CACHE_DIR/$TARBALL
PATCH_DIR=$ROOT/patches/ngtcp2
SERIES=$PATCH_DIR/series
SUB_DIR=$ROOT/subprojects/ngtcp2-patched
TREE=$SUB_DIR/$TOPDIR
STAMP=$SUB_DIR/.prepared

say() { echo "ngtcp2-source: $*" >&2; }
die() { local rc=$1; shift; echo "ngtcp2-source: error: $*" >&2; exit "$rc"; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

series_patches() {
  [ -f "$SERIES" ] || die 1 "$SERIES is missing"
  local p
  while IFS= read -r p || [ -n "$p" ]; do
    case "$p" in ''|'#'*) continue ;; esac
    [ -f "$PATCH_DIR/$p" ] || die 1 "patch '$p' listed in $SERIES does not exist"
    echo "$PATCH_DIR/$p"
  done <"$SERIES"
}

check() {
  if [ ! -f "$CACHED" ]; then
    die 2 "$CACHED is missing.
  -Dngtcp2=patched builds ngtcp2 $UPSTREAM_VERSION from Debian's source package; get it with
    scripts/ngtcp2-source.sh fetch
  (apt-get source --download-only $DEB_SOURCE=$DEB_VERSION, needs a deb-src entry for
  bookworm-backports), or configure with -Dngtcp2=system."
  fi
  local got
  got=$(sha256_of "$CACHED")
  if [ "$got" != "$TARBALL_SHA256" ]; then
    die 3 "$CACHED has SHA-256 $got, expected $TARBALL_SHA256 (pinned in scripts/ngtcp2-source.sh).
  Delete it and run scripts/ngtcp2-source.sh fetch."
  fi
}

have_deb_src() {
  # An enabled deb-src entry for bookworm-backports, one-line or deb822 style.
  grep -rqsE '^deb-src .*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""} /Types:[^\n]*deb-src/ && /Suites:[^\n]*bookworm-backports/ && !/Enabled: *no/ {found=1}
         END{exit found?0:1}' "$f" && return 0
  done
  return 1
}

fetch() {
  mkdir -p "$CACHE_DIR"
  if [ -f "$CACHED" ] && [ "$(sha256_of "$CACHED")" = "$TARBALL_SHA256" ]; then
    say "$TARBALL already cached and verified"
    return 0
  fi
  rm -f "$CACHED"
  local tmp
  tmp=$(mktemp -d)
  if [ -n "${NGTCP2_ORIG_TARBALL:-}" ]; then
    [ -f "$NGTCP2_ORIG_TARBALL" ] || die 2 "NGTCP2_ORIG_TARBALL=$NGTCP2_ORIG_TARBALL does not exist"
    cp "$NGTCP2_ORIG_TARBALL" "$tmp/$TARBALL"
  else
    command -v apt-get >/dev/null || die 2 "apt-get not found: this needs Debian (bookworm-backports)"
    if ! have_deb_src; then
      [ "$(id -u)" -eq 0 ] || die 2 "no deb-src entry for bookworm-backports and not root: add one, or set NGTCP2_ORIG_TARBALL"
      say "adding a deb-src entry for bookworm-backports"
      cat >/etc/apt/sources.list.d/bookworm-backports-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
      apt-get update -q >"$tmp/apt-update.log" 2>&1 || { cat "$tmp/apt-update.log" >&2; die 2 "apt-get update failed"; }
    fi
    say "apt-get source --download-only $DEB_SOURCE=$DEB_VERSION"
    # apt-get also fetches the .dsc and the Debian packaging; only the upstream tarball is
    # needed, so its exit status does not decide: the verified tarball does. apt itself checks
    # every file against the signed Sources index.
    (cd "$tmp" && apt-get source -q --download-only "$DEB_SOURCE=$DEB_VERSION") >"$tmp/apt-source.log" 2>&1 || true
    if [ ! -f "$tmp/$TARBALL" ]; then
      cat "$tmp/apt-source.log" >&2
      die 2 "apt-get source did not deliver $TARBALL (is $DEB_SOURCE $DEB_VERSION still in bookworm-backports?)"
    fi
  fi
  local got
  got=$(sha256_of "$tmp/$TARBALL")
  if [ "$got" != "$TARBALL_SHA256" ]; then
    rm -rf "$tmp"
    die 3 "downloaded $TARBALL has SHA-256 $got, expected $TARBALL_SHA256"
  fi
  mv "$tmp/$TARBALL" "$CACHED"
  rm -rf "$tmp"
  say "cached $CACHED (SHA-256 verified)"
}

# What `prepare` produces depends on these only.
prepare_digest() {
  local patches p
  patches=$(series_patches)
  {
    echo "logic $PREPARE_LOGIC"
    echo "tarball $TARBALL_SHA256"
    for p in $patches; do echo "patch $(basename "$p") $(sha256_of "$p")"; done
  } | sha256sum | cut -d' ' -f1
}

# Extracts the verified tarball into $1/$TOPDIR and commits it as the pristine base.
extract_pristine() {
  local dest=$1
  mkdir -p "$dest"
  tar --no-same-owner -C "$dest" -xJf "$CACHED"
  [ -d "$dest/$TOPDIR" ] || die 1 "$TARBALL has no top-level $TOPDIR/"
  (
    cd "$dest/$TOPDIR"
    git init -q -b patched
    git add -A
    git -c user.name=qamp -c user.email=qamp@example.invalid commit -q --no-gpg-sign \
      -m "ngtcp2 $UPSTREAM_VERSION ($TARBALL, SHA-256 $TARBALL_SHA256)"
    git tag pristine
  )
}

git_am() {
  local tree=$1; shift
  (cd "$tree" && git -c user.name=qamp -c user.email=qamp@example.invalid am -q --no-gpg-sign "$@") ||
    { (cd "$tree" && git am --abort) >/dev/null 2>&1 || true; return 1; }
}

prepare() {
  check
  mkdir -p "$SUB_DIR"
  exec 9>"$SUB_DIR/.prepare.lock"
  flock 9
  local want patches
  want=$(prepare_digest)
  patches=$(series_patches)
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -d "$TREE/lib" ]; then
    return 0
  fi
  command -v git >/dev/null || die 1 "git is needed to apply the series (apt-get install git)"
  say "extracting $TARBALL and applying $(echo "$patches" | wc -w) patches from patches/ngtcp2/"
  local tmp
  tmp=$(mktemp -d "$SUB_DIR/.prepare.XXXXXX")
  extract_pristine "$tmp"
  local p
  for p in $patches; do
    git_am "$tmp/$TOPDIR" "$p" || { rm -rf "$tmp"; die 4 "$(basename "$p") does not apply with git am"; }
  done
  rm -rf "$TREE" "$STAMP"
  mv "$tmp/$TOPDIR" "$TREE"
  rm -rf "$tmp"
  echo "$want" >"$STAMP"
  say "ready: $TREE ($(cd "$TREE" && git log --oneline | wc -l) commits)"
}

verify_series() {
  check
  command -v cmake >/dev/null || die 1 "verify-series builds with ngtcp2's CMake: apt-get install cmake"
  local jobs=${JOBS:-2}
  local work=${NGTCP2_VERIFY_DIR:-}
  if [ -z "$work" ]; then work=$(mktemp -d); fi
  rm -rf "$work/src" "$work/build"
  mkdir -p "$work"
  extract_pristine "$work/src"
  local tree=$work/src/$TOPDIR build=$work/build
  cmake -S "$tree" -B "$build" -DENABLE_OPENSSL=OFF -DENABLE_GNUTLS=ON -DENABLE_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log" >&2; die 1 "cmake failed"; }
  local results=() failed=0 n=0 p name patches
  patches=$(series_patches)
  run_one() {  # label
    local label=$1 log=$work/step-$n.log out summary
    if ! make -C "$build" -j"$jobs" ngtcp2 ngtcp2_static ngtcp2_crypto_gnutls main >"$log" 2>&1; then
      results+=("$label | build FAILED (see $log)"); failed=1; return
    fi
    out=$("$build/tests/main" 2>&1) || true
    summary=$(printf '%s\n' "$out" | grep -E 'tests successful' | tail -1)
    if printf '%s\n' "$out" | grep -qE '^[0-9]+ of [0-9]+ \(100%\) tests successful, 0 \(0%\) test skipped' &&
       ! printf '%s\n' "$out" | grep -qE '\[ (ERROR|FAIL) '; then
      results+=("$label | build ok | $summary")
    else
      printf '%s\n' "$out" | grep -E 'ERROR|FAIL|Error' >&2 || true
      results+=("$label | build ok | TESTS FAILED: $summary"); failed=1
    fi
  }
  run_one "pristine $UPSTREAM_VERSION"
  for p in $patches; do
    n=$((n + 1))
    name=$(basename "$p")
    if ! git_am "$tree" "$p"; then
      results+=("$name | does not apply with git am"); failed=1; break
    fi
    run_one "$name"
  done
  printf '%s\n' "${results[@]}"
  [ "$failed" -eq 0 ] || die 1 "verify-series failed (work tree: $work)"
  say "every patch applies with git am, builds and passes ngtcp2's tests (work tree: $work)"
}

cmd=${1:-}
case "$cmd" in
  fetch) fetch ;;
  check) check ;;
  prepare) prepare ;;
  verify-series) verify_series ;;
  path) echo "$CACHED" ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1 ;;
esac
