#!/usr/bin/env bash
# qamp's demo (./run demo runs it after the build): one sample policy through every spelling,
# then the spelling table. Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: scripts/demo.sh BUILD_DIR}
tp="$build/examples/tp/qamp-tp"
notes=$(mktemp)
trap 'rm -f "$notes"' EXIT

# Handshake address behind a 4-tuple load balancer (none), the preferred IPv4 address behind an
# IP-only load balancer (same-ip), the preferred IPv6 address plain unicast (any).
policy=(--handshake none --spa-v4 198.18.1.10:4433 --spa-v6 '[2001:db8:1::10]:4433'
        --spa-v4-level same-ip --spa-v6-level any)
echo "sample policy: handshake none, SPA IPv4 same-ip, SPA IPv6 any"
for spelling in pr3898 dam-values ext rfc9000; do
  echo
  echo "== $spelling: qamp-tp encode --spelling $spelling ${policy[*]}"
  hex=$("$tp" encode --spelling "$spelling" "${policy[@]}" 2>"$notes")
  echo "$hex"
  cat "$notes"  # levels this spelling cannot carry, and what was sent instead
  echo "-- qamp-tp decode: what a qamp client learns"
  "$tp" decode "$hex" | grep '"policy":'
done
echo
echo "== qamp-tp compare"
"$tp" compare
