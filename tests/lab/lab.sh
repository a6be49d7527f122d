#!/usr/bin/env bash
# tests/lab/lab.sh BUILD_DIR COMMAND [ARGS] — the qamp network lab (issue 5).
#
#   list                 the scenario matrix (scenarios.sh): name, topology, client, server,
#                        policy, event, expected outcome
#   run NAME...          run scenarios; each builds its topology (netlab.sh), captures with
#                        tcpdump, runs the peers, tears everything down and writes
#                        BUILD_DIR/lab/NAME/result.json; exit 1 unless all passed
#   report               BUILD_DIR/lab/results.md, results.json and the plot from every
#                        result.json; exit 1 when a scenario failed, did not run or has no result
#   all                  run every scenario, then report
#
# Needs root (network namespaces), iproute2, nftables, tcpdump, tshark, gnuplot, certtool, the
# stock ngtcp2 peers (gtlsclient, gtlsserver) and the qamp binaries in BUILD_DIR. A scenario
# whose prerequisites are missing is recorded as `not-run` with the reason and fails.
# Namespaces are always torn down (trap on EXIT); the evidence stays in BUILD_DIR/lab/NAME/.
set -uo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:?usage: lab.sh BUILD_DIR list|run NAME...|report|all}" && pwd) || exit 2
shift
OUT=$BUILD/lab
# shellcheck source=netlab.sh
source "$LAB_DIR/netlab.sh"
# shellcheck source=scenarios.sh
source "$LAB_DIR/scenarios.sh"

SERVER_BIN=$BUILD/examples/server/qamp-server
CLIENT_BIN=$BUILD/examples/client/qamp-client
GTLSCLIENT=${GTLSCLIENT:-/usr/bin/gtlsclient}
GTLSSERVER=${GTLSSERVER:-/usr/sbin/gtlsserver}
# Who enforces the policy in qamp-server and qamp-client: layer (qamp's gate and Migrator, the
# stock ngtcp2) or native (ngtcp2 itself; meson sets it in a -Dngtcp2=patched build).
ENF=${QAMP_ENFORCEMENT:-layer}
case $ENF in layer | native) ;; *) echo "lab: QAMP_ENFORCEMENT=$ENF: expected layer or native" >&2; exit 2 ;; esac
PROC_LIMIT=60        # seconds any one lab process may live (timeout -k)
CAPTURE_PACKETS=60000  # tcpdump -c per capture point
# UDP, minus lbprobe.py's datagrams (payload "qlab-lb-probe": the lab reading the LB's hash).
CAPTURE_FILTER='udp and not (udp[8:4] = 0x716c6162 and udp[12:4] = 0x2d6c622d)'


# ---- the table ----

# row NAME: sets ROW_TOPO ROW_CLIENT ROW_SERVER ROW_POLICY ROW_EVENT ROW_EXPECTED; 1 if unknown.
row() {
  local line
  line=$(scenario_table | awk -F'|' -v n="$1" '$1 == n')
  [ -n "$line" ] || return 1
  IFS='|' read -r _ ROW_TOPO ROW_CLIENT ROW_SERVER ROW_POLICY ROW_EVENT ROW_EXPECTED _ <<<"$line"
}

scenario_names() { scenario_table | cut -d'|' -f1; }

# ---- shared material (once per build dir) ----

prepare_shared() {
  SHARED=$OUT/shared
  mkdir -p "$SHARED/htdocs"
  if [ ! -s "$SHARED/cert.pem" ]; then
    certtool --generate-privkey --outfile "$SHARED/key.pem" >/dev/null 2>&1 || return 1
    printf 'cn=qamp-lab\nexpiration_days=3650\ntls_www_server\nip_address=198.18.10.1\n' >"$SHARED/tmpl"
    certtool --generate-self-signed --load-privkey "$SHARED/key.pem" --outfile "$SHARED/cert.pem" \
      --template "$SHARED/tmpl" >/dev/null 2>&1 || return 1
  fi
  [ -s "$SHARED/secret" ] || head -c 32 /dev/urandom >"$SHARED/secret"
  [ -s "$SHARED/secret-b" ] || head -c 32 /dev/urandom >"$SHARED/secret-b"
  # Random bodies: a byte-exact download cannot be faked by a pattern.
  [ "$(stat -c %s "$SHARED/htdocs/f8m" 2>/dev/null)" = 8000000 ] || head -c 8000000 /dev/urandom >"$SHARED/htdocs/f8m"
  KEY=$SHARED/key.pem CERT=$SHARED/cert.pem HTDOCS=$SHARED/htdocs
}

# ---- process helpers (scenario functions use these) ----

declare -A PIDS=()
now() { echo "$EPOCHREALTIME"; }
meta() { printf '%s=%s\n' "$1" "$2" >>"$W/meta.env"; }
note() { echo "lab[$NAME]: $*" >&2; }

# spawn TAG NS CMD...: CMD in namespace NS, bounded by PROC_LIMIT seconds, output in W/TAG.log.
spawn() {
  local tag=$1 ns=$2
  shift 2
  (exec ip netns exec "$ns" timeout -k 3 "$PROC_LIMIT" "$@") >"$W/$tag.log" 2>&1 &
  PIDS[$tag]=$!
}

stop() {  # stop TAG...: SIGTERM (timeout forwards it), wait
  local tag
  for tag in "$@"; do
    [ -n "${PIDS[$tag]:-}" ] || continue
    kill -TERM "${PIDS[$tag]}" 2>/dev/null
  done
  for tag in "$@"; do
    [ -n "${PIDS[$tag]:-}" ] || continue
    wait "${PIDS[$tag]}" 2>/dev/null
    unset "PIDS[$tag]"
  done
}

wait_for() {  # wait_for SECONDS CMD...: poll CMD every 50 ms
  local n=$(($1 * 20))
  shift
  while ((n-- > 0)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

udp_listening() { ip netns exec "$1" ss -Huln "sport = :$2" | grep -q .; }

# qamp_server INST ADDR [FLAGS...]: qamp-server on instance INST (a|b) with handshake ADDR.
qamp_server() {
  local inst=$1 addr=$2 a prev= args=()
  shift 2
  # Natively ngtcp2 speaks the ext spelling only: a spelling preference is the layer's business.
  for a in "$@"; do
    if [ "$ENF" = native ] && [ "$prev" = --policy-spelling ] && [ -n "$a" ]; then
      unset 'args[${#args[@]}-1]'
      note "native enforcement: $prev $a dropped (ngtcp2 sends ext)"
    else
      args+=("$a")
    fi
    prev=$a
  done
  set -- --enforcement="$ENF" "${args[@]}"
  meta ENFORCEMENT_SERVER "$ENF"
  SERVERS+=("server-$inst")
  spawn "server-$inst" "qlab-$inst" "$SERVER_BIN" -q -d "$HTDOCS" --timeout 5 --stats-file "$W/stats-$inst.json" \
    --qlog-dir "$W/qlog-$inst" "$@" "$addr" "$LAB_PORT" "$KEY" "$CERT"
  wait_for 5 grep -qs "listening on $addr:$LAB_PORT" "$W/server-$inst.log" ||
    setup_fail "qamp-server on $inst did not start: $(tail -3 "$W/server-$inst.log")"
}

# gtls_server INST ADDR [FLAGS...]: the stock ngtcp2 server.
gtls_server() {
  local inst=$1 addr=$2
  shift 2
  SERVERS+=("server-$inst")
  mkdir -p "$W/qlog-$inst"
  spawn "server-$inst" "qlab-$inst" "$GTLSSERVER" -q -d "$HTDOCS" --timeout=5s --qlog-dir="$W/qlog-$inst" "$@" \
    "$addr" "$LAB_PORT" "$KEY" "$CERT"
  wait_for 5 udp_listening "qlab-$inst" "$LAB_PORT" || setup_fail "gtlsserver on $inst did not start: $(tail -3 "$W/server-$inst.log")"
}

# client qamp|gtls HOST PATH [FLAGS...]: start the download in the client namespace; T0 is now.
client() {
  local kind=$1 host=$2 path=$3
  shift 3
  mkdir -p "$W/dl"
  SAVED=$W/dl/$(basename "$path")
  meta CLIENT_KIND "$kind"
  meta EXPECTED_FILE "$HTDOCS/$(basename "$path")"
  meta SAVED_FILE "$SAVED"
  local url="https://$host:$LAB_PORT$path"
  [[ $host == *:* ]] && url="https://[$host]:$LAB_PORT$path"
  T0=$(now)
  meta T0 "$T0"
  if [ "$kind" = qamp ]; then
    # A native client runs per-address semantics only; --semantics ignore (a misbehaving client
    # for the Anycast and LB probes) stays with the layer, and says so.
    local enf=$ENF
    if [ "$ENF" = native ] && [[ " $* " == *" --semantics "* ]] && [[ " $* " != *" --semantics per-address "* ]]; then
      enf=layer
      note "qamp-client stays --enforcement=layer: --semantics other than per-address is layer-only"
    fi
    meta ENFORCEMENT_CLIENT "$enf"
    set -- --enforcement="$enf" "$@"
    # Rows about the system's network events say --follow-network=on; the others keep their
    # subject alone (a scripted --network-change, a NAT rebinding) without it.
    [[ " $* " == *" --follow-network"* ]] || set -- --follow-network=off "$@"
    SSLKEYLOGFILE=$W/keys.log spawn client qlab-c "$CLIENT_BIN" -q --insecure --timeout 3s --exit-on-all-streams-close \
      --download "$W/dl" --summary "$W/summary.json" --qlog-file "$W/client.sqlog" "$@" "$host" "$LAB_PORT" "$url"
  else
    SSLKEYLOGFILE=$W/keys.log spawn client qlab-c "$GTLSCLIENT" -q --timeout=3s --exit-on-all-streams-close \
      --download "$W/dl" --qlog-file="$W/client.sqlog" "$@" "$host" "$LAB_PORT" "$url"
  fi
  CLIENT_PID=${PIDS[client]}
  (
    while kill -0 "$CLIENT_PID" 2>/dev/null; do
      echo "$EPOCHREALTIME $(saved_bytes)"
      sleep 0.05
    done
    echo "$EPOCHREALTIME $(saved_bytes)"
  ) >"$W/progress.tsv" &
  PIDS[sampler]=$!
}

# at SECONDS LABEL CMD...: run CMD (a lab_* event) SECONDS after the client started.
at() {
  local delay=$1 label=$2
  shift 2
  (
    sleep "$delay"
    if "$@" >>"$W/events.log" 2>&1; then
      printf '%s\t%s\n' "$EPOCHREALTIME" "$label" >>"$W/events.tsv"
    else
      printf '%s\t%s (FAILED)\n' "$EPOCHREALTIME" "$label" >>"$W/events.tsv"
    fi
  ) &
  PIDS[event-$label]=$!
}

# at_bytes BYTES LABEL CMD...: run CMD once the client has saved BYTES of the body (polled every
# 20 ms, at most PROC_LIMIT s): an event "during the download" that a slow start on a loaded
# machine cannot move before the body or after its end. The event time is in events.tsv.
at_bytes() {
  local bytes=$1 label=$2
  shift 2
  (
    local n=$((PROC_LIMIT * 50))
    while ((n-- > 0)) && [ "$(saved_bytes)" -lt "$bytes" ]; do
      kill -0 "$CLIENT_PID" 2>/dev/null || { printf '%s\t%s (NOT FIRED: client ended)\n' "$EPOCHREALTIME" "$label" >>"$W/events.tsv"; exit 0; }
      sleep 0.02
    done
    # The event's time is when its command starts (the kernel applies it within the command,
    # which takes some ms through ip netns exec): the figures measured from it are not flattered.
    local t=$EPOCHREALTIME
    if "$@" >>"$W/events.log" 2>&1; then
      printf '%s\t%s\n' "$t" "$label" >>"$W/events.tsv"
    else
      printf '%s\t%s (FAILED)\n' "$t" "$label" >>"$W/events.tsv"
    fi
    echo "event $label: command from $t to $EPOCHREALTIME" >>"$W/events.log"
  ) &
  PIDS[event-$label]=$!
}

# client_port: the local port of the client's (first) UDP socket on network 1: the client
# process owns the only UDP sockets of the client host.
client_port() {
  ip netns exec qlab-c ss -Huan "src $LAB_C1" 2>/dev/null | awk '{print $4}' | sed 's/.*://' | head -1
}

# wait_client: wait for the client (bounded by PROC_LIMIT); records its exit status and time.
wait_client() {
  wait "$CLIENT_PID"
  local rc=$?
  unset "PIDS[client]"
  meta CLIENT_RC "$rc"
  meta CLIENT_ELAPSED "$(awk -v a="$T0" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}')"
  wait "${PIDS[sampler]}" 2>/dev/null
  unset "PIDS[sampler]"
}

# expect DESCRIPTION PYTHON_EXPR: one assertion over the facts (analyze.py: f.cap(), f.path(),
# f.stat(), f.drops(), f.summ(), f.qlog(), f.log_has() ...), evaluated after the run.
expect() { printf '%s\t%s\n' "$1" "$2" >>"$W/expect.tsv"; }

# not_run REASON: the scenario cannot run here (missing binary or feature). Recorded, fails.
not_run() {
  meta STATUS_OVERRIDE not-run
  meta REASON "$*"
  note "NOT RUN: $*"
  exit 3
}
setup_fail() {
  meta STATUS_OVERRIDE fail
  meta REASON "$*"
  note "FAIL (setup): $*"
  exit 4
}

need_bin() { [ -x "$1" ] || not_run "missing $1${2:+ ($2)}"; }

# saved_bytes: bytes of the body saved so far. qamp-client writes into DIR/.<name>.qamp-XXXXXX and
# renames it over DIR/<name> only once complete and verified: count the larger of the two.
# Body bytes on disk: the largest of the saved file and qamp-client's temporary files (a
# restart truncates one, a race writes a second), each counted by its allocated blocks when
# that is less than its size: a split writes tail chunks at their offsets, so the file's size
# jumps to the end of the body while its holes are not yet received.
saved_bytes() {
  local best=0 f n size alloc
  for f in "$SAVED" "${SAVED%/*}/.${SAVED##*/}".qamp-*; do
    read -r size alloc < <(stat -c '%s %b*%B' "$f" 2>/dev/null) || continue
    alloc=$((alloc))
    n=$((alloc < size ? alloc : size))
    [ "$n" -gt "$best" ] && best=$n
  done
  echo "$best"
}

# need_client_flag FLAG...: qamp-client must exist and list FLAG in --help.
need_client_flag() {
  need_bin "$CLIENT_BIN" "qamp-client not built"
  local help flag
  help=$("$CLIENT_BIN" --help 2>&1)
  for flag in "$@"; do grep -q -- "$flag" <<<"$help" || not_run "qamp-client has no $flag yet"; done
}

# ---- one scenario ----

start_captures() {
  # --immediate-mode: every packet reaches the file before tcpdump is stopped (without it the
  # last ring-buffer block is lost).
  spawn cap-client qlab-c tcpdump -Z root -n -U --immediate-mode -B 65536 -s 0 -c "$CAPTURE_PACKETS" -i any -w "$W/client.pcap" "$CAPTURE_FILTER"
  local inst
  for inst in a b; do
    ip netns list | grep -q "^qlab-$inst\b" || continue
    # Headers suffice at the instances (who sent what to whom); the client capture is full
    # (tshark decrypts it with the TLS keys).
    spawn "cap-$inst" "qlab-$inst" tcpdump -Z root -n -U --immediate-mode -B 16384 -s 256 -c "$CAPTURE_PACKETS" -i e0 \
      -w "$W/$inst.pcap" "$CAPTURE_FILTER"
  done
  for inst in client a b; do
    [ -n "${PIDS[cap-$inst]:-}" ] || continue
    wait_for 5 grep -qs "listening on" "$W/cap-$inst.log" || setup_fail "tcpdump ($inst) did not start"
  done
}

finish() {
  local tag
  # The router's counters (loss, cut, rebinding rules) are evidence too.
  ip netns exec qlab-r nft list table inet qlab_r >"$W/router-nft.txt" 2>&1
  # The load balancer's rules with their counters (c, d, e): which rule took each new flow.
  ip netns list | grep -q '^qlab-l\b' && ip netns exec qlab-l nft list table ip qlab_lb >"$W/lb-nft.txt" 2>&1
  for tag in "${!PIDS[@]}"; do [[ $tag == event-* ]] && { kill "${PIDS[$tag]}" 2>/dev/null; wait "${PIDS[$tag]}" 2>/dev/null; unset "PIDS[$tag]"; }; done
  [ -n "${PIDS[client]:-}" ] && stop client
  stop sampler "${SERVERS[@]}"
  sleep 0.3
  stop cap-client cap-a cap-b
  # analyze.py checks that every packet the filter took is in the file (cap-*.log).
}

scenario_cleanup() {
  local tag
  for tag in "${!PIDS[@]}"; do kill -TERM "${PIDS[$tag]}" 2>/dev/null; done
  wait 2>/dev/null
  lab_down
}

# run_scenario NAME (in a subshell: its own traps, PIDs and lock).
run_scenario() {
  local rc
  NAME=$1
  row "$NAME" || { echo "lab: unknown scenario '$NAME' (lab.sh BUILD list)" >&2; return 2; }
  W=$OUT/$NAME
  rm -rf "$W"
  mkdir -p "$W"
  : >"$W/meta.env"
  meta NAME "$NAME"
  meta TOPO "$ROW_TOPO"
  meta CLIENT "$ROW_CLIENT"
  meta SERVER "$ROW_SERVER"
  meta POLICY "$ROW_POLICY"
  meta EVENT "$ROW_EVENT"
  meta EXPECTED "$ROW_EXPECTED"
  SERVERS=()
  (
    trap scenario_cleanup EXIT
    trap 'exit 143' TERM INT HUP  # a meson timeout or ^C still tears the lab down
    [ "$(id -u)" = 0 ] || not_run "needs root (network namespaces)"
    for tool in ip nft tc tcpdump tshark certtool python3; do command -v "$tool" >/dev/null || not_run "missing tool $tool"; done
    need_bin "$SERVER_BIN" "qamp-server not built"
    prepare_shared || setup_fail "cannot create certificate / bodies"
    lab_lock 900 || setup_fail "lab lock"
    lab_down  # a crashed run's leftovers
    lab_up "$ROW_TOPO" 2>"$W/netlab.log" || setup_fail "topology ($ROW_TOPO) could not be built: $(tail -2 "$W/netlab.log" | tr '\n' ' ')"
    start_captures
    "sc_${NAME//-/_}"
    finish
    exit 0
  )
  rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || [ "$rc" = 4 ] || { grep -q STATUS_OVERRIDE "$W/meta.env" || meta REASON "runner exited with status $rc"; }
  python3 "$LAB_DIR/analyze.py" "$W"
  rc=$?
  # A complete body is recorded by its size and SHA-256 (facts.json); keep only partial ones.
  if python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["download"]["complete"] else 1)' "$W/facts.json" 2>/dev/null; then
    rm -rf "$W/dl"
  fi
  return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  list)
    printf '%-34s %-4s %-28s %-30s %s\n' SCENARIO TOPO CLIENT SERVER EXPECTED
    scenario_table | while IFS='|' read -r n t c s _ _ e; do printf '%-34s %-4s %-28s %-30s %s\n' "$n" "$t" "$c" "$s" "$e"; done
    ;;
  run)
    [ $# -gt 0 ] || { echo "lab.sh: run needs scenario names" >&2; exit 2; }
    fails=0
    for n in "$@"; do run_scenario "$n" || fails=$((fails + 1)); done
    [ "$fails" = 0 ]
    ;;
  report)
    mapfile -t names < <(scenario_names)
    python3 "$LAB_DIR/report.py" "$OUT" "${names[@]}"
    ;;
  all)
    mapfile -t names < <(scenario_names)
    for n in "${names[@]}"; do run_scenario "$n"; done
    python3 "$LAB_DIR/report.py" "$OUT" "${names[@]}"
    ;;
  *)
    sed -n '2,17p' "$0" >&2
    exit 2
    ;;
esac
