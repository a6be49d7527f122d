#!/usr/bin/env bash
# tests/lab/demo.sh BUILD_DIR — the lab in under two minutes: a representative subset of the
# matrix (matrix.txt), then its table and the plot's path. Needs root (network namespaces).
# The full matrix: meson test -C BUILD_DIR --suite lab (or ./run test lab).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: tests/lab/demo.sh BUILD_DIR}" && pwd) || exit 2
SUBSET=(
  a-spa-v4                       # move to the preferred address: PATH_CHALLENGE first, validated
  a-forbidden-change-stay        # a change the policy forbids: stay ...
  a-forbidden-change-reconnect   # ... or reconnect with Range ...
  a-forbidden-change-auto        # ... or let the planner choose (the plot)
  a-split                        # both networks at once, measured (the stacked plot)
  b-stock-gtls-anycast           # stock client + stock servers at Anycast: partial body, exit 0
  b-qamp-client-spa-migrate      # qamp: move to the unicast SPA first, then migrate: complete
  b-ignore-probe-no-reset        # a probe reaches the wrong instance: no reset, download survives
  b-ignore-probe-reset-baseline  # the same with resets: the healthy connection dies
  c-ignore-probe-no-reset        # 4-tuple LB, cluster CIDs: the other instance stays silent
  d-nat-port-rebind              # 2-tuple LB: port-only NAT rebinding survives
  d-nat-ip-rebind                # 2-tuple LB: an IP rebinding breaks as it must
)
start=$SECONDS
echo "qamp lab demo: ${#SUBSET[@]} scenarios in network namespaces (tcpdump + tshark evidence per scenario)"
for s in "${SUBSET[@]}"; do
  out=$(bash "$HERE/lab.sh" "$BUILD" run "$s" 2>&1)
  echo "$out" | tail -1
done
echo
python3 "$HERE/report.py" --name demo "$BUILD/lab" "${SUBSET[@]}"
rc=$?
echo "demo took $((SECONDS - start)) s; evidence per scenario in $BUILD/lab/<scenario>/ (pcaps, keys, qlogs, stats)"
exit $rc
