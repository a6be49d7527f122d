#!/usr/bin/env bash
# qamp-server end to end over loopback, with the stock ngtcp2 client (gtlsclient) as the peer
# and reset_probe for stateless-reset checks. Usage: server_e2e.sh BUILD_DIR CASE
# Every download is judged by the bytes saved (size + SHA-256), never by an exit status.
set -euo pipefail
BUILD=$1
CASE=$2
SERVER=$BUILD/examples/server/qamp-server
PROBE=$BUILD/tests/e2e/server/reset_probe
W=$(mktemp -d /tmp/qamp-e2e-server.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

fail() { echo "FAIL [$CASE]: $*"; echo "--- server log"; cat "$W/server.log" 2>/dev/null | tail -30; exit 1; }
command -v gtlsclient >/dev/null || fail "stock gtlsclient missing (package ngtcp2-client)"
command -v certtool >/dev/null || fail "certtool missing (package gnutls-bin)"

# Loopback ports: derived from the case name so parallel runs do not collide.
# QAMP_TEST_PORT_OFFSET: parallel runs from other checkouts pick other ports.
PORT=$(( 20000 + ($(echo "$CASE" | cksum | cut -d' ' -f1) + ${QAMP_TEST_PORT_OFFSET:-0} * 7) % 19990 ))
SPORT=$((PORT + 1))

certtool --generate-privkey --outfile "$W/key.pem" >/dev/null 2>&1
printf 'cn=localhost\nexpiration_days=7\ntls_www_server\nip_address=127.0.0.1\n' > "$W/tmpl"
certtool --generate-self-signed --load-privkey "$W/key.pem" --outfile "$W/cert.pem" --template "$W/tmpl" >/dev/null 2>&1
head -c 32 /dev/urandom > "$W/secret"
mkdir -p "$W/htdocs" "$W/dl"
head -c 3000000 /dev/urandom > "$W/htdocs/file.bin"

# Who enforces the policy: QAMP_ENFORCEMENT=layer (default; qamp's gate on the stock ngtcp2) or
# native (set by meson in a -Dngtcp2=patched build: ngtcp2 drops forbidden path changes itself).
ENF=${QAMP_ENFORCEMENT:-layer}
case $ENF in layer | native) ;; *) fail "QAMP_ENFORCEMENT=$ENF: expected layer or native" ;; esac

start_server() {  # extra flags...
  "$SERVER" -q -d "$W/htdocs" --stats-file "$W/stats.json" --static-secret "$W/secret" --enforcement="$ENF" "$@" \
    127.0.0.1 "$PORT" "$W/key.pem" "$W/cert.pem" 2>"$W/server.log" &
  PIDS+=($!)
  SERVER_PID=$!
  for _ in $(seq 50); do grep -q "listening on 127.0.0.1:$PORT" "$W/server.log" 2>/dev/null && return; sleep 0.1; done
  fail "server did not start"
}

stop_server() {  # SIGTERM, must exit 0 and leave stats
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  [ "$rc" = 0 ] || fail "server exit status $rc after SIGTERM"
  [ -s "$W/stats.json" ] || fail "no stats file after SIGTERM"
  # Who enforced, and (native) ngtcp2 never took a path the policy forbids.
  [ "$(js "d['enforcement']")" = "$ENF" ] || fail "stats say enforcement $(js "d['enforcement']"), want $ENF"
  [ "$(js "d['native_disagreements']")" = 0 ] || fail "ngtcp2 accepted $(js "d['native_disagreements']") forbidden datagram(s)"
}

js() { python3 -c "import json,sys; d=json.load(open('$W/stats.json')); print(eval(sys.argv[1]))" "$1"; }

download() {  # uri [extra gtlsclient flags]
  local uri=$1; shift
  timeout 30 gtlsclient --exit-on-all-streams-close --download "$W/dl" "$@" 127.0.0.1 "$PORT" \
    "https://127.0.0.1:$PORT$uri" >"$W/client.log" 2>&1 || true
}

same_file() {  # saved original
  [ -f "$1" ] || fail "nothing saved at $1"
  local a b
  a=$(sha256sum < "$1"); b=$(sha256sum < "$2")
  [ "$a" = "$b" ] || fail "SHA-256 mismatch: $(stat -c %s "$1" 2>/dev/null) bytes saved vs $(stat -c %s "$2") expected"
}

RELAY=$BUILD/tests/e2e/server/nat_relay
RPORT=$((PORT + 2))

# Download through the NAT relay, which rebinds its outward side 300 ms into the transfer.
# $1: port | ip:ADDR. Sets RELAY_STATS. The relay's outward side starts on 127.0.0.5.
relay_download() {
  head -c 60000000 /dev/zero | tr '\0' 'q' > "$W/htdocs/big.bin"
  head -c 1000 /dev/urandom >> "$W/htdocs/big.bin"
  "$RELAY" 127.0.0.1:$RPORT 127.0.0.1:$PORT 127.0.0.5 300 "$1" 15000 "$W/relay.json" 2>"$W/relay.log" &
  local relay=$!
  sleep 0.2
  timeout 20 gtlsclient -q --timeout=3s --exit-on-all-streams-close --max-data=4M --download "$W/dl" \
    127.0.0.1 "$RPORT" "https://127.0.0.1:$RPORT/big.bin" >"$W/client.log" 2>&1 || true
  kill -TERM $relay 2>/dev/null || true
  wait $relay 2>/dev/null || true
  [ -f "$W/relay.json" ] || fail "relay wrote no stats"
  RELAY_STATS=$W/relay.json
}
rjs() { python3 -c "import json,sys; d=json.load(open('$RELAY_STATS')); print(eval(sys.argv[1]))" "$1"; }

QCLIENT=$BUILD/examples/client/qamp-client
# qamp-client (it sends a :path as given, unlike gtlsclient): summary JSON in $W/sum.json.
qclient() {  # [flags...] -- URIs...
  local flags=()
  while [ "$1" != -- ]; do flags+=("$1"); shift; done
  shift
  rm -f "$W/sum.json"
  timeout 40 "$QCLIENT" --ca-file "$W/cert.pem" --exit-on-all-streams-close --summary "$W/sum.json" "${flags[@]}" 127.0.0.1 "$PORT" "$@" \
    >"$W/qclient.log" 2>&1 || true
  [ -s "$W/sum.json" ] || fail "qamp-client wrote no summary: $(tail -3 "$W/qclient.log")"
}
sjs() { python3 -c "import json,sys; d=json.load(open('$W/sum.json')); print(eval(sys.argv[1]))" "$1"; }
# Waits until gtlsclient's log $1 shows its first request stream (id 0) leave in a packet.
wait_request_sent() {
  for _ in $(seq 100); do grep -aq 'frm tx .* STREAM(0x[0-9a-f]*) id=0x0 ' "$1" 2>/dev/null && return; sleep 0.1; done
  fail "the client never sent its request"
}
# The old server blocked in open() on a FIFO: a writer lets it go, so cleanup can stop it.
unblock_fifo() { timeout 2 sh -c ": > '$W/htdocs/fifo'" 2>/dev/null || true; }

case "$CASE" in
  nat-port-any|nat-port-none|nat-port-same-ip)
    # Port-only rebinding (RFC 9000 §9.3) survives on every level: download byte-exact.
    start_server --handshake-level "${CASE#nat-port-}"
    relay_download port
    grep -q rebound "$W/relay.log" || fail "relay did not rebind (transfer too short?)"
    same_file "$W/dl/big.bin" "$W/htdocs/big.bin"
    stop_server
    [ "$(js "d['path_changes_accepted'].get('port-only-rebinding', 0)")" -ge 1 ] || fail "no port-only change seen"
    [ "$(js "d['resets_sent']")" = 0 ] || fail "resets sent"
    ;;
  nat-ip-any)
    # An IP change at an `any` address: validated and accepted, the download completes.
    start_server --handshake-level any
    relay_download ip:127.0.0.6
    grep -q rebound "$W/relay.log" || fail "relay did not rebind"
    same_file "$W/dl/big.bin" "$W/htdocs/big.bin"
    stop_server
    [ "$(js "d['migrations']")" -ge 1 ] || fail "server validated no new path"
    ;;
  nat-ip-none|nat-ip-same-ip)
    # An IP change at a restricted address: nothing comes back on the new path (no
    # PATH_CHALLENGE, no reset), drops are counted, the connection dies by timeout.
    level=${CASE#nat-ip-}
    start_server --handshake-level "$level" --timeout 3
    relay_download ip:127.0.0.6
    grep -q rebound "$W/relay.log" || fail "relay did not rebind"
    [ "$(rjs "d['client_to_server_after_rebind']")" -gt 0 ] || fail "client sent nothing after the rebind"
    [ "$(rjs "d['server_to_client_after_rebind']")" = 0 ] || fail "server answered on the forbidden path"
    if [ -f "$W/dl/big.bin" ] && cmp -s "$W/dl/big.bin" "$W/htdocs/big.bin"; then fail "download completed across a forbidden IP change"; fi
    stop_server
    [ "$(js "d['dropped_by_reason'].get('ip-change-forbidden-$level', 0)")" -gt 0 ] || fail "drops not counted"
    [ "$(js "d['resets_sent']")" = 0 ] || fail "a reset was sent"
    ;;

  spa-download)
    # The stock client moves to the preferred address and downloads byte-exact.
    start_server --preferred-ipv4-addr=127.0.0.2:$SPORT
    download /file.bin
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    stop_server
    [ "$(js "d['moves_to_preferred_address']")" = 1 ] || fail "server saw no move to the preferred address"
    grep -q 'sent spelling rfc9000' "$W/server.log" || fail "legacy client did not get RFC 9000 parameters"
    ;;
  legacy-client-none)
    # A `none` handshake address: the stock client (a legacy RFC 9000 client honouring 0x0c)
    # must refuse --change-local-addr itself and still complete the download.
    start_server --handshake-level none
    download /file.bin --change-local-addr=200ms
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    grep -q 'disable_active_migration=1' "$W/client.log" || fail "client did not receive disable_active_migration"
    stop_server
    [ "$(js "d['datagrams_dropped']")" = 0 ] || fail "gate dropped datagrams of a legacy client"
    [ "$(js "len(d['path_changes_accepted'])")" = 0 ] || fail "the client changed path despite 0x0c"
    ;;
  generated-bytes)
    # /bytes/N: N bytes, identical across requests (deterministic pattern).
    start_server
    download /bytes/1234567
    [ "$(stat -c %s "$W/dl/1234567")" = 1234567 ] || fail "wrong size $(stat -c %s "$W/dl/1234567")"
    mv "$W/dl/1234567" "$W/first"
    download /bytes/1234567
    same_file "$W/dl/1234567" "$W/first"
    stop_server
    ;;
  client-stream-limits)
    # A client may announce any initial_max_streams_bidi (libcurl, quic-go announce 100-1000):
    # the server's count of client streams must come from its own limit. Two requests on one
    # connection with a client announcing 1000 server-opened streams: both byte-exact, the
    # server alive (it used to abort in nghttp3_conn_set_max_client_streams_bidi).
    start_server
    head -c 200000 /dev/urandom > "$W/htdocs/b.bin"
    timeout 30 gtlsclient --exit-on-all-streams-close --max-streams-bidi=1000 --download "$W/dl" 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/file.bin" "https://127.0.0.1:$PORT/b.bin" >"$W/client.log" 2>&1 || true
    sleep 0.3
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server died with a client announcing 1000 bidi streams"
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    same_file "$W/dl/b.bin" "$W/htdocs/b.bin"
    stop_server
    ;;
  reset-none-address)
    # A probe that reaches the wrong instance of a `none` address draws no reset (RFC 9000 §21.11).
    start_server --handshake-level none
    "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 1200 "$W/secret" expect=none || fail "reset sent on a none address"
    stop_server
    [ "$(js "d['resets_sent']")" = 0 ] || fail "resets_sent != 0"
    [ "$(js "d['resets_suppressed_by_reason'].get('suppress-restricted-address', 0)")" = 1 ] || fail "suppression not counted"
    ;;
  reset-any-address)
    # On an `any` address an unknown CID gets a reset: smaller than the probe, token from the
    # static secret (RFC 9000 §10.3, §10.3.2); a probe too short to answer gets nothing.
    start_server
    "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 1200 "$W/secret" expect=reset || fail "no valid reset"
    "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 30 "$W/secret" expect=reset || fail "no valid reset for 30 bytes"
    "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 21 "$W/secret" expect=none || fail "reset for a 21-byte datagram"
    stop_server
    [ "$(js "d['resets_sent']")" = 2 ] || fail "resets_sent != 2"
    ;;
  reset-restarted-spa-cid)
    # The preferred-address CID's reset token comes from the static secret too (RFC 9000
    # §10.3.2), so a restarted server still resets it correctly (stock: a random token).
    start_server --preferred-ipv4-addr=127.0.0.2:$SPORT
    timeout 10 gtlsclient --no-quic-dump --no-http-dump --exit-on-all-streams-close 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/bytes/10" >"$W/client.log" 2>&1 || true
    cid=$(grep -o 'preferred_address.cid=0x[0-9a-f]*' "$W/client.log" | head -1 | cut -dx -f2)
    tok=$(grep -o 'preferred_address.stateless_reset_token=0x[0-9a-f]*' "$W/client.log" | head -1 | cut -dx -f2)
    [ -n "$cid" ] && [ -n "$tok" ] || fail "client log has no preferred address"
    stop_server
    start_server --preferred-ipv4-addr=127.0.0.2:$SPORT
    "$PROBE" 127.0.0.2:$SPORT "$cid" 1200 "$W/secret" expect=reset 500 "$tok" || fail "restarted server did not reset the preferred-address CID with its advertised token"
    stop_server
    ;;
  reset-always-baseline)
    # --stateless-reset always resets even on a `none` address (the stock behaviour, lab baseline).
    start_server --handshake-level none --stateless-reset always
    "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 1200 "$W/secret" expect=reset || fail "always mode did not reset"
    stop_server
    ;;
  reset-cluster)
    # Cluster mode: byte 1 of the CID is the instance id; only our own CIDs are reset.
    start_server --instance-id 0 --cluster-size 2
    "$PROBE" 127.0.0.1:$PORT 0001223344556677889900aabbccddeeff00 1200 "$W/secret" expect=none || fail "reset for another instance's CID"
    "$PROBE" 127.0.0.1:$PORT 0000223344556677889900aabbccddeeff00 1200 "$W/secret" expect=reset || fail "no reset for own CID"
    stop_server
    [ "$(js "d['resets_suppressed_by_reason'].get('suppress-other-instance', 0)")" = 1 ] || fail "other-instance suppression not counted"
    ;;
  sigterm-closes)
    # SIGTERM with a live connection: CONNECTION_CLOSE (H3_NO_ERROR 0x100) to the client,
    # stats flushed, exit 0.
    start_server
    ( timeout 20 gtlsclient --no-quic-dump --no-http-dump 127.0.0.1 "$PORT" >"$W/client.log" 2>&1 || true ) &
    CLIENT=$!
    for _ in $(seq 100); do grep -q 'frm rx .* 1RTT' "$W/client.log" 2>/dev/null && break; sleep 0.1; done
    stop_server
    wait $CLIENT || true
    grep -q 'frm rx .*CONNECTION_CLOSE(0x1d) error_code=(unknown)(0x100)' "$W/client.log" || fail "client saw no CONNECTION_CLOSE with H3_NO_ERROR"
    [ "$(js "d['connections']")" = 1 ] || fail "stats: connections != 1"
    [ "$(js "d['connections_closed']")" = 1 ] || fail "stats: connections_closed != 1"
    ;;
  reset-rate-limit)
    # 10,000 unknown-CID datagrams in 2 s from one address on an `any` address: the bucket of
    # its /24 (burst 5, 2/s) bounds the resets, each smaller than the 1200-byte trigger.
    start_server
    t0=$(date +%s%N)
    out=$("$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 10000 2 short 1200 from=127.0.0.1)
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "burst: $out (${ms} ms)"
    got=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['received'])" "$out")
    maxlen=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['received_bytes_max'])" "$out")
    # The bucket cannot give more than burst + rate * elapsed, whatever the load.
    most=$(( 5 + 2 * (ms + 999) / 1000 ))
    [ "$got" -ge 5 ] && [ "$got" -le "$most" ] || fail "expected 5..$most resets from one /24 in $ms ms, got $got"
    [ "$maxlen" -lt 1200 ] || fail "reset of $maxlen bytes for 1200-byte datagrams"
    stop_server
    [ "$(js "d['resets_suppressed_by_reason'].get('suppress-prefix-rate-limited', 0)")" -ge 9000 ] || fail "per-prefix suppressions not counted"
    [ "$(js "d['resets_sent']")" = "$got" ] || fail "stats count $(js "d['resets_sent']") resets, the sender got $got"
    ;;
  reset-rate-limit-per-prefix)
    # Issue 10 item 7. A flood from 127.0.0.1 spends the bucket of 127.0.0.0/24 only: a probe
    # from another /24 during the flood still gets a valid reset (the global bucket alone let
    # the flood take every token). Then 2,000 datagrams, each from a new /24: every prefix
    # bucket allows, the global bucket (burst 20, 10/s) stays the outer bound.
    start_server
    "$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 15000 3 short 1200 from=127.0.0.1 > "$W/flood.json" &
    FLOOD=$!
    for _ in $(seq 100); do
      [ "$(grep -c 'suppress-prefix-rate-limited\|suppress-rate-limited' "$W/server.log")" -ge 1 ] && break; sleep 0.02
    done
    grep -q 'suppress-prefix-rate-limited\|suppress-rate-limited' "$W/server.log" || fail "the flood was never rate limited"
    kill -0 $FLOOD 2>/dev/null || fail "the flood ended before the probe"
    "$PROBE" from=127.0.1.9 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 1200 "$W/secret" expect=reset 1000 \
      || fail "a probe from another /24 got no valid reset during a flood from 127.0.0.1"
    kill -0 $FLOOD 2>/dev/null || fail "the flood ended before the probe was answered"
    wait $FLOOD
    echo "flood: $(cat "$W/flood.json")"
    t0=$(date +%s%N)
    out=$("$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 2000 2 short 1200 spread=20)
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "spread: $out (${ms} ms)"
    got=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['received'])" "$out")
    most=$(( 20 + 10 * (ms + 999) / 1000 ))
    [ "$got" -le "$most" ] || fail "expected at most $most resets from 2,000 prefixes in $ms ms, got $got"
    stop_server
    # The lower bound from the server's count (a reset that comes back after udp_burst closed
    # the spoofed socket is lost to it): the flood's burst 5, the probe, then the refilled
    # global bucket's 20 for the 2,000 prefixes.
    [ "$(js "d['resets_sent']")" -ge 26 ] || fail "only $(js "d['resets_sent']") resets sent in all, want >= 26"
    [ "$(js "d['resets_suppressed_by_reason'].get('suppress-rate-limited', 0)")" -ge 1900 ] || fail "global suppressions not counted"
    [ "$(js "d['resets_suppressed_by_reason'].get('suppress-prefix-table-full', 0)")" = 0 ] || fail "the prefix table filled up under the global bound"
    ;;
  spoofed-paths-any|spoofed-paths-none)
    # Under ASan freed blocks sit in its quarantine (RSS grows with every free, not with what
    # the server holds): measure the server's own growth with the quarantine off.
    [ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    # Issue 10 item 6. 10,000 short-header datagrams carrying a live connection's DCID from
    # 10,000 spoofed addresses (127.30.x.y, a new path each) while it downloads, then 10,000 more
    # (127.31.x.y) while it idles, to measure memory. `any`: the gate lets them through and
    # ngtcp2 discards them (they do not decrypt); `none`: the gate drops them. Either way: the
    # download is byte-exact, no accepted path change, nothing sent to the spoofed sources, a
    # bounded number of log lines, bounded memory, and the connection lives on.
    level=${CASE#spoofed-paths-}
    start_server --handshake-level "$level" --qlog-dir "$W/qlog"
    head -c 30000000 /dev/urandom > "$W/htdocs/big.bin"
    ( timeout 60 gtlsclient -q --timeout=40s --download "$W/dl" 127.0.0.1 "$PORT" \
        "https://127.0.0.1:$PORT/big.bin" >"$W/client.log" 2>&1 || true ) &
    CLIENT=$!
    PIDS+=($CLIENT)
    for _ in $(seq 100); do compgen -G "$W/qlog/*.sqlog" >/dev/null && break; sleep 0.05; done
    qlogs=("$W"/qlog/*.sqlog)
    [ -f "${qlogs[0]}" ] && [ "${#qlogs[@]}" = 1 ] || fail "expected one qlog, found ${#qlogs[@]}"
    dcid=$(basename "${qlogs[0]}" .sqlog)  # the server's first SCID: the client's DCID
    for _ in $(seq 100); do [ -s "$W/dl/big.bin" ] && break; sleep 0.02; done  # body flowing
    lines0=$(wc -l < "$W/server.log")
    t0=$(date +%s%N)
    size0=$(stat -c %s "$W/dl/big.bin" 2>/dev/null || echo 0)
    out1=$("$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 10000 2 "dcid=$dcid" 1200 spread=30)
    size1=$(stat -c %s "$W/dl/big.bin" 2>/dev/null || echo 0)
    for _ in $(seq 200); do [ "$(stat -c %s "$W/dl/big.bin" 2>/dev/null || echo 0)" = 30000000 ] && break; sleep 0.1; done
    same_file "$W/dl/big.bin" "$W/htdocs/big.bin"
    rss() { awk '/^RssAnon:/ {print $2}' "/proc/$SERVER_PID/status"; }
    rss0=$(rss)
    out2=$("$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 10000 2 "dcid=$dcid" 1200 spread=31)
    sleep 0.3
    rss1=$(rss); lines1=$(wc -l < "$W/server.log")
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "spoofed during the download ($size0 -> $size1 of 30000000 bytes saved): $out1; while idle: $out2; server RssAnon $rss0 -> $rss1 kB; log +$((lines1 - lines0)) lines in $ms ms"
    for o in "$out1" "$out2"; do
      [ "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['received'])" "$o")" = 0 ] || fail "the server answered spoofed sources: $o"
    done
    # The log budget: a burst of 10 and one line a second per connection (the summaries ride on
    # those lines), plus slack for the lines a download logs.
    most=$(( 12 + (ms + 999) / 1000 ))
    [ $((lines1 - lines0)) -le "$most" ] || fail "$((lines1 - lines0)) log lines for 20,000 spoofed datagrams (at most $most)"
    # 10,000 remembered paths cost about 0.8 MB (a std::set node each); the ring costs nothing.
    [ $((rss1 - rss0)) -lt 400 ] || fail "server RssAnon grew by $((rss1 - rss0)) kB for 10,000 spoofed paths"
    kill -0 "$CLIENT" 2>/dev/null || fail "the client's connection ended during the bursts"
    grep -q "\[${dcid:0:8}\] closing" "$W/server.log" && fail "the server closed the connection"
    kill "$CLIENT" 2>/dev/null || true
    stop_server
    [ "$(js "sum(d['path_changes_accepted'].values())")" = 0 ] || fail "stats count accepted path changes: $(js "d['path_changes_accepted']")"
    [ "$(js "d['migrations']")" = 0 ] || fail "stats count migrations"
    [ "$(js "d['resets_sent']")" = 0 ] || fail "a reset was sent"
    if [ "$level" = none ]; then
      [ "$(js "d['dropped_by_reason'].get('ip-change-forbidden-none', 0)")" -ge 19800 ] || fail "drops not counted per datagram"
      [ "$(js "d['gate_log_lines_suppressed']")" -gt 0 ] || fail "no log line suppressed"
    else
      [ "$(js "d['path_changes_not_taken']")" -ge 19800 ] || fail "datagrams ngtcp2 discarded not counted"
    fi
    ;;
  clienthello-without-tp)
    # RFC 9001 §8.2: a ClientHello without quic_transport_parameters (0x39) is refused with
    # missing_extension, CRYPTO_ERROR 0x16d (issue 10 item 1: it aborted the server). The
    # server stays up and serves a normal download after it.
    start_server
    out=$("$BUILD/tests/e2e/server/initial_client" no-tp 127.0.0.1:$PORT) || fail "no CONNECTION_CLOSE: $out"
    echo "no-tp: $out"
    code=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['error_code'])" "$out")
    [ "$code" = 365 ] || fail "CONNECTION_CLOSE error code $code, want 365 (0x16d, missing_extension)"
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server died"
    download /file.bin
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    stop_server
    ;;
  version-negotiation-long-cids)
    # RFC 8999 §5.1/§6: an unknown version may carry CIDs of up to 255 bytes; the Version
    # Negotiation packet echoes both (it did not fit the server's buffer: found by dispatch_fuzzer).
    start_server
    for len in 8 20 255; do
      "$BUILD/tests/e2e/server/initial_client" vn 127.0.0.1:$PORT $len >/dev/null || fail "no Version Negotiation for $len-byte CIDs"
    done
    stop_server
    ;;
  max-half-open|max-connections)
    # Issue 10 item 2: valid Initials under fresh DCIDs, never completed. The cap holds the
    # connection count, each refusal is a silent drop, one rate-limited log line names the cap.
    if [ "$CASE" = max-half-open ]; then
      start_server --retry=off --max-half-open 20 --max-connections 1000; cap=20; reason=refuse-max-half-open
    else
      start_server --retry=off --max-half-open 1000 --max-connections 10; cap=10; reason=refuse-max-connections
    fi
    out=$("$BUILD/tests/e2e/server/initial_client" burst 127.0.0.1:$PORT 200 2)
    echo "burst: $out"
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server died"
    stop_server
    [ "$(js "d['connections']")" = $cap ] || fail "$(js "d['connections']") connections created, want the cap $cap"
    [ "$(js "d['connections_peak']")" = $cap ] || fail "peak $(js "d['connections_peak']") connections, cap $cap"
    [ "$(js "d['initials_refused_by_reason'].get('$reason', 0)")" = $((200 - cap)) ] || fail "refusals not counted: $(js "d['initials_refused_by_reason']")"
    lines=$(grep -c "refused .*: $reason" "$W/server.log" || true)
    [ "$lines" -ge 1 ] && [ "$lines" -le 6 ] || fail "$lines refusal log lines for $((200 - cap)) refusals (want 1..6)"
    ;;
  retry-on)
    # --retry=on: a burst of Initials gets one Retry each and creates no connection; the stock
    # client follows the Retry (RFC 9000 §8.1.2) and downloads byte-exact.
    start_server --retry=on
    out=$("$BUILD/tests/e2e/server/initial_client" burst 127.0.0.1:$PORT 100 1)
    echo "burst: $out"
    retries=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['retry'])" "$out")
    got=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['received'])" "$out")
    [ "$retries" = 100 ] && [ "$got" = 100 ] || fail "want 100 Retry packets and nothing else, got $retries of $got"
    download /file.bin
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    stop_server
    [ "$(js "d['connections']")" = 1 ] || fail "$(js "d['connections']") connections, want only the client's"
    [ "$(js "d['connections_validated']")" = 1 ] || fail "the download did not go through a Retry token"
    [ "$(js "d['retries_sent']")" -ge 101 ] || fail "retries_sent $(js "d['retries_sent']")"
    ;;
  retry-auto)
    # --retry=auto: no Retry below the threshold, Retry from the threshold on.
    start_server --retry=auto --retry-threshold 10 --max-half-open 1000
    out=$("$BUILD/tests/e2e/server/initial_client" burst 127.0.0.1:$PORT 50 1)
    echo "burst: $out"
    retries=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['retry'])" "$out")
    [ "$retries" = 40 ] || fail "$retries Retry packets, want 40 (50 Initials, threshold 10)"
    download /file.bin
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    stop_server
    [ "$(js "d['connections']")" = 11 ] || fail "$(js "d['connections']") connections, want 10 + the client's"
    [ "$(js "d['connections_validated']")" = 1 ] || fail "the client was not sent through Retry above the threshold"
    ;;
  garbage-during-download)
    # Garbage on every socket while a download runs: nothing crashes, the restricted handshake
    # address answers nothing, the download finishes byte-exact.
    start_server --handshake-level none --preferred-ipv4-addr=127.0.0.2:$SPORT
    head -c 30000000 /dev/urandom > "$W/htdocs/big.bin"
    ( timeout 30 gtlsclient -q --exit-on-all-streams-close --download "$W/dl" 127.0.0.1 "$PORT" \
        "https://127.0.0.1:$PORT/big.bin" >"$W/client.log" 2>&1 || true ) &
    CLIENT=$!
    hs=$("$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 3000 1 garbage 1200)
    "$BUILD/tests/e2e/server/udp_burst" 127.0.0.2:$SPORT 3000 1 garbage 1200 >/dev/null
    "$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 2000 1 short 100 > "$W/short.json"
    wait $CLIENT || true
    echo "handshake-address garbage: $hs"
    # Version Negotiation to long-header garbage is fine; anything with a short header
    # (a Stateless Reset) is not.
    [ "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['received_short_header'])" "$hs")" = 0 ] || fail "restricted address answered garbage with a short header"
    [ "$(python3 -c "import json; print(json.load(open('$W/short.json'))['received'])")" = 0 ] || fail "restricted address sent resets"
    kill -0 "$SERVER_PID" || fail "server died"
    same_file "$W/dl/big.bin" "$W/htdocs/big.bin"
    stop_server
    ;;
  docroot-fifo)
    # A FIFO under --htdocs is refused (403) without blocking: a parallel download on another
    # connection completes byte-exact while nobody ever writes to the FIFO.
    start_server
    mkfifo "$W/htdocs/fifo"
    ( timeout 30 gtlsclient --exit-on-all-streams-close 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/fifo" \
        >"$W/fifo.log" 2>&1 || true ) &
    FIFO_CLIENT=$!
    wait_request_sent "$W/fifo.log"
    download /file.bin
    if ! cmp -s "$W/dl/file.bin" "$W/htdocs/file.bin"; then unblock_fifo; fail "download stalled by a FIFO request"; fi
    wait $FIFO_CLIENT || true
    grep -aq 'stream 0x0 \[:status: 403\]' "$W/fifo.log" || { unblock_fifo; fail "FIFO not refused with 403"; }
    grep -q 'refused GET /fifo -> 403: not a regular file' "$W/server.log" || fail "no log line for the FIFO"
    stop_server
    ;;
  docroot-symlinks)
    # Symlinks out of the document root are refused (403), whatever their form; one that stays
    # beneath the root is served.
    start_server
    echo "outside the document root" > "$W/outside.txt"
    ln -s /etc/passwd "$W/htdocs/passwd"
    ln -s ../outside.txt "$W/htdocs/escape.txt"
    ln -s "$W/outside.txt" "$W/htdocs/absolute.txt"
    ln -s / "$W/htdocs/slash"
    ln -s file.bin "$W/htdocs/alias.bin"
    for uri in /passwd /escape.txt /absolute.txt /slash/etc/passwd; do
      rm -rf "$W/dl"; mkdir -p "$W/dl"
      download "$uri"
      grep -aq 'stream 0x0 \[:status: 403\]' "$W/client.log" || fail "$uri: not refused with 403"
      saved="$W/dl/$(basename "$uri")"
      if [ -f "$saved" ]; then
        if cmp -s "$saved" /etc/passwd || cmp -s "$saved" "$W/outside.txt"; then fail "$uri served a file outside the root"; fi
      fi
    done
    grep -q 'refused GET /passwd -> 403: resolves outside the document root' "$W/server.log" || fail "no log line for the escape"
    rm -rf "$W/dl"; mkdir -p "$W/dl"
    download /alias.bin
    same_file "$W/dl/alias.bin" "$W/htdocs/file.bin"
    stop_server
    ;;
  generated-cap)
    # /bytes/N above --max-generated-bytes is refused with 404 naming the cap; N at the cap is
    # served, its size and SHA-256 matching the server's digest header.
    start_server --max-generated-bytes 1M
    qclient --download "$W/dl" -- /bytes/1048576 /bytes/1048577 /bytes/99999999999999999999999
    [ "$(sjs "d['uris'][0]['status']")" = 200 ] || fail "/bytes/1048576 (the cap): status $(sjs "d['uris'][0]['status']")"
    [ "$(stat -c %s "$W/dl/1048576")" = 1048576 ] || fail "wrong size $(stat -c %s "$W/dl/1048576")"
    [ "$(sjs "d['uris'][0]['sha256_matches_server']")" = True ] || fail "digest header does not match the body"
    [ "$(sjs "d['uris'][0]['sha256']")" = "$(sha256sum < "$W/dl/1048576" | cut -d' ' -f1)" ] || fail "saved bytes differ"
    [ "$(sjs "d['uris'][1]['status']")" = 404 ] || fail "/bytes/1048577 above the cap: status $(sjs "d['uris'][1]['status']")"
    [ "$(sjs "d['uris'][2]['status']")" = 404 ] || fail "/bytes/<overflow>: status $(sjs "d['uris'][2]['status']")"
    grep -q 'generated body too large: /bytes/N takes decimal N up to 1048576' "$W/server.log" || fail "no log line naming the cap"
    stop_server
    # The default cap (1 GiB) refuses 4 GiB.
    start_server
    qclient -- /bytes/4294967296
    [ "$(sjs "d['uris'][0]['status']")" = 404 ] || fail "default cap: /bytes/4294967296 status $(sjs "d['uris'][0]['status']")"
    stop_server
    rc=0; "$SERVER" --max-generated-bytes 12X 127.0.0.1 1 a b 2>"$W/err" || rc=$?
    [ "$rc" = 2 ] && grep -q -- "--max-generated-bytes: bad size '12X'" "$W/err" || fail "bad --max-generated-bytes: exit $rc"
    ;;
  digest-off-loop)
    # The SHA-256 of a 4 GiB generated body is computed off the event loop: a small download on
    # another connection, asked for after the big request reached the server, completes (byte-
    # exact) while the big response still waits for its digest; then the big one completes.
    # Order, not a time threshold: the small one needs ~2 MiB of hashing, the big one 4 GiB.
    start_server --max-generated-bytes 8G
    ( timeout 80 gtlsclient --http-method=HEAD --exit-on-all-streams-close 127.0.0.1 "$PORT" \
        "https://127.0.0.1:$PORT/bytes/4294967296" >"$W/big.log" 2>&1 || true ) &
    BIG=$!
    wait_request_sent "$W/big.log"
    qclient --download "$W/dl" -- /file.bin
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    [ "$(sjs "d['uris'][0]['sha256_matches_server']")" = True ] || fail "small download: digest mismatch"
    if grep -aq 'stream 0x0 response headers started' "$W/big.log"; then
      fail "the 4 GiB response was ready before the small download finished: hashed on the loop?"
    fi
    kill -0 $BIG 2>/dev/null || fail "the big request ended before the small download"
    wait $BIG || true
    grep -aq 'stream 0x0 \[:status: 200\]' "$W/big.log" || fail "big HEAD got no 200"
    grep -aq 'stream 0x0 \[content-length: 4294967296\]' "$W/big.log" || fail "HEAD lacks the GET's content-length"
    grep -aq 'stream 0x0 \[x-qamp-body-sha256: [0-9a-f]\{64\}\]' "$W/big.log" || fail "big HEAD has no digest header"
    stop_server
    ;;
  bad-request)
    # Requests the server refuses get an answer: nghttp3's malformed-request refusal (a space
    # in :path) a stream reset with H3_MESSAGE_ERROR (0x10e), others 400 / 414 / 431 (a 20 kB
    # :authority: the header section is bounded, not only the target); each slot comes back
    # (110 refused streams on a connection allowing 100), and the same connection then serves
    # a file byte-exact. The log lines of refusals are rate-limited.
    start_server
    uris=()
    for i in $(seq 110); do uris+=("/bad $i"); done
    uris+=("/x/../dot-segment.bin" "/q414.bin?$(head -c 10000 /dev/zero | tr '\0' a)" "https://$(head -c 20000 /dev/zero | tr '\0' b)/q431.bin")
    uris+=(/file.bin)
    qclient --download "$W/dl" -- "${uris[@]}"
    kill -0 "$SERVER_PID" || fail "server died"
    n=$(python3 -c "import json; d=json.load(open('$W/sum.json')); print(sum(1 for u in d['uris'][:110] if u['status'] == 0 and '0x10e' in (u['error'] or '')))")
    [ "$n" = 110 ] || fail "only $n of 110 malformed requests were reset with H3_MESSAGE_ERROR: $(sjs "d['uris'][0]['error']")"
    [ "$(sjs "d['uris'][110]['status']")" = 400 ] || fail "dot-segment: status $(sjs "d['uris'][110]['status']")"
    [ "$(sjs "d['uris'][111]['status']")" = 414 ] || fail "10 kB target: status $(sjs "d['uris'][111]['status']")"
    [ "$(sjs "d['uris'][112]['status']")" = 431 ] || fail "20 kB :authority: status $(sjs "d['uris'][112]['status']")"
    same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
    [ "$(sjs "d['uris'][113]['sha256_matches_server']")" = True ] || fail "file.bin: digest mismatch"
    [ "$(sjs "d['connection']['reconnects']")" = 0 ] || fail "the client had to reconnect"
    lines=$(grep -c 'refused' "$W/server.log" || true)
    [ "$lines" -ge 1 ] && [ "$lines" -lt 100 ] || fail "$lines refusal log lines for 113 refusals (want rate-limited)"
    stop_server
    ;;
  bad-flags)
    rc=0; "$SERVER" --bogus 2>"$W/err" || rc=$?
    [ "$rc" = 2 ] || fail "--bogus exit $rc, want 2"
    grep -q 'Usage: qamp-server' "$W/err" || fail "no usage on stderr"
    rc=0; "$SERVER" --handshake-level sometimes 127.0.0.1 1 a b 2>"$W/err" || rc=$?
    [ "$rc" = 2 ] && grep -q "unknown level 'sometimes'" "$W/err" || fail "bad level not reported (exit $rc)"
    rc=0; "$SERVER" 127.0.0.1 "$PORT" /nonexistent.pem /nonexistent.pem 2>"$W/err" || rc=$?
    [ "$rc" = 1 ] && grep -q 'cannot load key' "$W/err" || fail "missing key not reported (exit $rc)"
    "$SERVER" --help | grep -q -- '--stateless-reset' || fail "--help lacks --stateless-reset"
    rc=0; "$SERVER" --enforcement=sometimes 127.0.0.1 1 a b 2>"$W/err" || rc=$?
    [ "$rc" = 2 ] && grep -q "expected layer or native" "$W/err" || fail "bad --enforcement not reported (exit $rc)"
    rc=0; "$SERVER" --retry=maybe 127.0.0.1 1 a b 2>"$W/err" || rc=$?
    [ "$rc" = 2 ] && grep -q "expected off, on or auto" "$W/err" || fail "bad --retry not reported (exit $rc)"
    for f in --max-connections --max-half-open --retry-threshold; do
      rc=0; "$SERVER" $f=0 127.0.0.1 1 a b 2>"$W/err" || rc=$?
      [ "$rc" = 2 ] && grep -q -- "$f: expected a count" "$W/err" || fail "bad $f not reported (exit $rc)"
      "$SERVER" --help | grep -q -- "$f" || fail "--help lacks $f"
    done
    if [ "$ENF" = native ]; then
      # Native enforcement leaves no room for the layer's knobs: refused, not ignored.
      rc=0; "$SERVER" --enforcement=native --gate=off 127.0.0.1 1 a b 2>"$W/err" || rc=$?
      [ "$rc" = 2 ] && grep -q "gate=off needs --enforcement=layer" "$W/err" || fail "native + --gate=off: exit $rc"
      rc=0; "$SERVER" --enforcement=native --policy-spelling=pr3898 127.0.0.1 1 a b 2>"$W/err" || rc=$?
      [ "$rc" = 2 ] && grep -q "ext spelling only" "$W/err" || fail "native + pr3898: exit $rc"
    else
      rc=0; "$SERVER" --enforcement=native 127.0.0.1 1 a b 2>"$W/err" || rc=$?
      [ "$rc" = 2 ] && grep -q "needs the patched ngtcp2" "$W/err" || fail "native on the stock library: exit $rc"
    fi
    ;;
  *) echo "unknown case $CASE"; exit 2 ;;
esac
echo "ok [$CASE]"
