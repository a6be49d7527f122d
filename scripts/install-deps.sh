#!/usr/bin/env bash
# Installs what qamp needs on Debian bookworm (DESIGN.md §6): idempotent, quiet when all is there.
# ngtcp2 1.11, nghttp3 1.8, catch2 3 and meson 1.7 come from bookworm-backports.
set -euo pipefail

BACKPORTS=(libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev catch2 meson
           ngtcp2-client ngtcp2-server
           golang-go golang-github-lucas-clemente-quic-go-dev libcurl4-gnutls-dev)
MAIN=(g++ git xz-utils python3 jq libgnutls28-dev nettle-dev gnutls-bin libev-dev ninja-build pkg-config iproute2 nftables
      iputils-ping tcpdump tshark gnuplot-nox clang-14 libclang-rt-14-dev libbpf-dev bpftool)

die() { echo "install-deps: error: $*" >&2; exit 1; }

# A package counts as present when dpkg has it installed; for backports we also need the
# version we build against (the bookworm versions are 0.x and would not do).
missing=()
need_backports=0
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in "${MAIN[@]}"; do have "$p" || missing+=("$p"); done
for p in "${BACKPORTS[@]}"; do
  if ! have "$p"; then missing+=("$p"); need_backports=1; continue; fi
done
if ! pkg-config --atleast-version=1.11 libngtcp2 2>/dev/null; then need_backports=1; missing+=(libngtcp2-dev); fi
if ! pkg-config --atleast-version=1.8 libnghttp3 2>/dev/null; then need_backports=1; missing+=(libnghttp3-dev); fi
if ! pkg-config --atleast-version=3 catch2-with-main 2>/dev/null; then need_backports=1; missing+=(catch2); fi

[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}) and not root: run as root or install them"

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "install-deps: enabling bookworm-backports"
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >/tmp/qamp-apt-update.log 2>&1; then
  cat /tmp/qamp-apt-update.log >&2
  die "cannot reach the Debian package index (apt-get update failed, log above)"
fi
if ! apt-get install -y -q --no-install-recommends "${MAIN[@]}" >/tmp/qamp-apt.log 2>&1 ||
   ! apt-get install -y -q --no-install-recommends -t bookworm-backports "${BACKPORTS[@]}" >>/tmp/qamp-apt.log 2>&1; then
  tail -20 /tmp/qamp-apt.log >&2
  die "apt-get install failed (full log: /tmp/qamp-apt.log)"
fi
pkg-config --atleast-version=1.11 libngtcp2 || die "libngtcp2 >= 1.11 still missing after install"
