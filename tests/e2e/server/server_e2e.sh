#!/usr/bin/env bash
# qamp-server end to end over loopback, with the stock ngtcp2 client (gtlsclient) as the peer
# and reset_probe for stateless-reset checks. Usage: server_e2e.sh BUILD_DIR CASE | --check
# The cases are the lines of cases.txt, each run by its case_<name> function below.
# Every download is judged by the bytes saved (size + SHA-256), never by an exit status.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

# Set up after e2e_select has vetted the case.
setup() {
  SERVER=$BUILD/examples/server/qamp-server
  PROBE=$BUILD/tests/e2e/server/reset_probe
  RELAY=$BUILD/tests/e2e/server/nat_relay
  QCLIENT=$BUILD/examples/client/qamp-client
  TP=$BUILD/examples/tp/qamp-tp
  e2e_init server
  W=$E2E_DIR
  E2E_CONTEXT=("$W/server.log")
  command -v "$GTLSCLIENT" >/dev/null || fail "stock gtlsclient missing (package ngtcp2-client)"
  command -v certtool >/dev/null || fail "certtool missing (package gnutls-bin)"
  command -v jq >/dev/null || fail "jq missing (package jq)"

  # Loopback ports: derived from the case name so parallel runs do not collide.
  # QAMP_TEST_PORT_OFFSET: parallel runs from other checkouts pick other ports.
  PORT=$(( 20000 + ($(echo "$CASE" | cksum | cut -d' ' -f1) + ${QAMP_TEST_PORT_OFFSET:-0} * 7) % 19990 ))
  SPORT=$((PORT + 1))
  RPORT=$((PORT + 2))

  gen_cert "$W"
  head -c 32 /dev/urandom > "$W/secret"
  mkdir -p "$W/htdocs" "$W/dl"
  head -c 3000000 /dev/urandom > "$W/htdocs/file.bin"
}

# Who enforces the policy (lib.sh's $ENF): layer, qamp's gate on the stock ngtcp2, or native
# (a -Dngtcp2=patched build: ngtcp2 drops forbidden path changes itself).
start_server() {  # extra flags...
  bg_start "$W/server.log" "$SERVER" -q -d "$W/htdocs" --stats-file "$W/stats.json" --static-secret "$W/secret" \
    --enforcement="$ENF" "$@" 127.0.0.1 "$PORT" "$W/key.pem" "$W/cert.pem"
  SERVER_PID=$BG_PID
  wait_grep 5 "listening on 127.0.0.1:$PORT" "$W/server.log" || fail "server did not start"
}

stop_server() {  # SIGTERM, must exit 0 and leave stats
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  [ "$rc" = 0 ] || fail "server exit status $rc after SIGTERM"
  [ -s "$W/stats.json" ] || fail "no stats file after SIGTERM"
  # Who enforced, and (native) ngtcp2 never took a path the policy forbids.
  [ "$(stats_get .enforcement)" = "$ENF" ] || fail "stats say enforcement $(stats_get .enforcement), want $ENF"
  [ "$(stats_get .native_disagreements)" = 0 ] || fail "ngtcp2 accepted $(stats_get .native_disagreements) forbidden datagram(s)"
}

# [OPTS] FILTER: a jq filter on the server's stats, the relay's stats, qamp-client's summary.
stats_get() { json_get "$W/stats.json" "$@"; }
relay_get() { json_get "$W/relay.json" "$@"; }
sum_get() { json_get "$W/sum.json" "$@"; }

download() {  # uri [extra gtlsclient flags]
  local uri=$1; shift
  gtlsclient_get 30 "$W/client.log" "$W/dl" "$PORT" "https://127.0.0.1:$PORT$uri" "$@" || true
}

# Download through the NAT relay, which rebinds its outward side 300 ms into the transfer.
# $1: port | ip:ADDR. The relay's outward side starts on 127.0.0.5; its stats: relay_get.
relay_download() {
  head -c 60000000 /dev/zero | tr '\0' 'q' > "$W/htdocs/big.bin"
  head -c 1000 /dev/urandom >> "$W/htdocs/big.bin"
  bg_start "$W/relay.log" "$RELAY" 127.0.0.1:$RPORT 127.0.0.1:$PORT 127.0.0.5 300 "$1" 15000 "$W/relay.json"
  local relay=$BG_PID
  sleep 0.2
  gtlsclient_get 20 "$W/client.log" "$W/dl" "$RPORT" "https://127.0.0.1:$RPORT/big.bin" -q --timeout=3s --max-data=4M || true
  kill -TERM $relay 2>/dev/null || true
  wait $relay 2>/dev/null || true
  [ -f "$W/relay.json" ] || fail "relay wrote no stats"
}

# qamp-client (it sends a :path as given, unlike gtlsclient): summary JSON in $W/sum.json.
qclient() {  # [flags...] -- URIs...
  local flags=()
  while [ "$1" != -- ]; do flags+=("$1"); shift; done
  shift
  rm -f "$W/sum.json"
  # Not about following the system's network: without it (a stalled loaded host is no event).
  timeout 40 "$QCLIENT" --ca-file "$W/cert.pem" --follow-network=off --exit-on-all-streams-close --summary "$W/sum.json" "${flags[@]}" 127.0.0.1 "$PORT" "$@" \
    >"$W/qclient.log" 2>&1 || true
  [ -s "$W/sum.json" ] || fail "qamp-client wrote no summary: $(tail -3 "$W/qclient.log")"
}
# Waits until gtlsclient's log $1 shows its first request stream (id 0) leave in a packet.
wait_request_sent() {
  wait_grep 10 'frm tx .* STREAM(0x[0-9a-f]*) id=0x0 ' "$1" || fail "the client never sent its request"
}
# The old server blocked in open() on a FIFO: a writer lets it go, so cleanup can stop it.
unblock_fifo() { timeout 2 sh -c ": > '$W/htdocs/fifo'" 2>/dev/null || true; }

nat_port() {
  # Port-only rebinding (RFC 9000 §9.3) survives on every level: download byte-exact.
  start_server --handshake-level "${CASE#nat-port-}"
  relay_download port
  grep -q rebound "$W/relay.log" || fail "relay did not rebind (transfer too short?)"
  same_file "$W/dl/big.bin" "$W/htdocs/big.bin"
  stop_server
  [ "$(stats_get '.path_changes_accepted["port-only-rebinding"] // 0')" -ge 1 ] || fail "no port-only change seen"
  [ "$(stats_get '.resets_sent')" = 0 ] || fail "resets sent"
}
case_nat_port_any() { nat_port; }
case_nat_port_none() { nat_port; }
case_nat_port_same_ip() { nat_port; }
case_nat_ip_any() {
  # An IP change at an `any` address: validated and accepted, the download completes.
  start_server --handshake-level any
  relay_download ip:127.0.0.6
  grep -q rebound "$W/relay.log" || fail "relay did not rebind"
  same_file "$W/dl/big.bin" "$W/htdocs/big.bin"
  stop_server
  [ "$(stats_get '.migrations')" -ge 1 ] || fail "server validated no new path"
}
nat_ip_restricted() {
  # An IP change at a restricted address: nothing comes back on the new path (no
  # PATH_CHALLENGE, no reset), drops are counted, the connection dies by timeout.
  level=${CASE#nat-ip-}
  start_server --handshake-level "$level" --timeout 3
  relay_download ip:127.0.0.6
  grep -q rebound "$W/relay.log" || fail "relay did not rebind"
  [ "$(relay_get '.client_to_server_after_rebind')" -gt 0 ] || fail "client sent nothing after the rebind"
  [ "$(relay_get '.server_to_client_after_rebind')" = 0 ] || fail "server answered on the forbidden path"
  if [ -f "$W/dl/big.bin" ] && cmp -s "$W/dl/big.bin" "$W/htdocs/big.bin"; then fail "download completed across a forbidden IP change"; fi
  stop_server
  [ "$(stats_get --arg level "$level" '.dropped_by_reason["ip-change-forbidden-\($level)"] // 0')" -gt 0 ] || fail "drops not counted"
  [ "$(stats_get '.resets_sent')" = 0 ] || fail "a reset was sent"
}
case_nat_ip_none() { nat_ip_restricted; }
case_nat_ip_same_ip() { nat_ip_restricted; }

case_spa_download() {
  # The stock client moves to the preferred address and downloads byte-exact.
  start_server --preferred-ipv4-addr=127.0.0.2:$SPORT
  download /file.bin
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  stop_server
  [ "$(stats_get '.moves_to_preferred_address')" = 1 ] || fail "server saw no move to the preferred address"
  grep -q 'sent spelling rfc9000' "$W/server.log" || fail "legacy client did not get RFC 9000 parameters"
}
case_legacy_client_none() {
  # A `none` handshake address: the stock client (a legacy RFC 9000 client honouring 0x0c)
  # must refuse --change-local-addr itself and still complete the download.
  start_server --handshake-level none
  download /file.bin --change-local-addr=200ms
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  grep -q 'disable_active_migration=1' "$W/client.log" || fail "client did not receive disable_active_migration"
  stop_server
  [ "$(stats_get '.datagrams_dropped')" = 0 ] || fail "gate dropped datagrams of a legacy client"
  [ "$(stats_get '.path_changes_accepted | length')" = 0 ] || fail "the client changed path despite 0x0c"
}
case_generated_bytes() {
  # /bytes/N: N bytes, identical across requests (deterministic pattern).
  start_server
  download /bytes/1234567
  [ "$(stat -c %s "$W/dl/1234567")" = 1234567 ] || fail "wrong size $(stat -c %s "$W/dl/1234567")"
  mv "$W/dl/1234567" "$W/first"
  download /bytes/1234567
  same_file "$W/dl/1234567" "$W/first"
  stop_server
}
case_client_stream_limits() {
  # A client may announce any initial_max_streams_bidi (libcurl, quic-go announce 100-1000):
  # the server's count of client streams must come from its own limit. Two requests on one
  # connection with a client announcing 1000 server-opened streams: both byte-exact, the
  # server alive (it used to abort in nghttp3_conn_set_max_client_streams_bidi).
  start_server
  head -c 200000 /dev/urandom > "$W/htdocs/b.bin"
  timeout 30 "$GTLSCLIENT" --exit-on-all-streams-close --max-streams-bidi=1000 --download "$W/dl" 127.0.0.1 "$PORT" \
    "https://127.0.0.1:$PORT/file.bin" "https://127.0.0.1:$PORT/b.bin" >"$W/client.log" 2>&1 || true
  sleep 0.3
  kill -0 "$SERVER_PID" 2>/dev/null || fail "server died with a client announcing 1000 bidi streams"
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  same_file "$W/dl/b.bin" "$W/htdocs/b.bin"
  stop_server
}
case_reset_none_address() {
  # A probe that reaches the wrong instance of a `none` address draws no reset (RFC 9000 §21.11).
  start_server --handshake-level none
  "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 1200 "$W/secret" expect=none || fail "reset sent on a none address"
  stop_server
  [ "$(stats_get '.resets_sent')" = 0 ] || fail "resets_sent != 0"
  [ "$(stats_get '.resets_suppressed_by_reason["suppress-restricted-address"] // 0')" = 1 ] || fail "suppression not counted"
}
case_reset_any_address() {
  # On an `any` address an unknown CID gets a reset: smaller than the probe, token from the
  # static secret (RFC 9000 §10.3, §10.3.2); a probe too short to answer gets nothing.
  start_server
  "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 1200 "$W/secret" expect=reset || fail "no valid reset"
  "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 30 "$W/secret" expect=reset || fail "no valid reset for 30 bytes"
  "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 21 "$W/secret" expect=none || fail "reset for a 21-byte datagram"
  stop_server
  [ "$(stats_get '.resets_sent')" = 2 ] || fail "resets_sent != 2"
}
case_reset_restarted_spa_cid() {
  # The preferred-address CID's reset token comes from the static secret too (RFC 9000
  # §10.3.2), so a restarted server still resets it correctly (stock: a random token).
  start_server --preferred-ipv4-addr=127.0.0.2:$SPORT
  timeout 10 "$GTLSCLIENT" --no-quic-dump --no-http-dump --exit-on-all-streams-close 127.0.0.1 "$PORT" \
    "https://127.0.0.1:$PORT/bytes/10" >"$W/client.log" 2>&1 || true
  cid=$(grep -o 'preferred_address.cid=0x[0-9a-f]*' "$W/client.log" | head -1 | cut -dx -f2)
  tok=$(grep -o 'preferred_address.stateless_reset_token=0x[0-9a-f]*' "$W/client.log" | head -1 | cut -dx -f2)
  [ -n "$cid" ] && [ -n "$tok" ] || fail "client log has no preferred address"
  stop_server
  start_server --preferred-ipv4-addr=127.0.0.2:$SPORT
  "$PROBE" 127.0.0.2:$SPORT "$cid" 1200 "$W/secret" expect=reset 500 "$tok" || fail "restarted server did not reset the preferred-address CID with its advertised token"
  stop_server
}
case_reset_always_baseline() {
  # --stateless-reset always resets even on a `none` address (the stock behaviour, lab baseline).
  start_server --handshake-level none --stateless-reset always
  "$PROBE" 127.0.0.1:$PORT 0011223344556677889900aabbccddeeff00 1200 "$W/secret" expect=reset || fail "always mode did not reset"
  stop_server
}
case_reset_cluster() {
  # Cluster mode: every CID is a QUIC-LB CID (plaintext by default: config rotation 0, the
  # server ID in octet 1); only our own CIDs are reset, 0b111 (unroutable) CIDs are not ours.
  start_server --instance-id 0 --cluster-size 2
  "$PROBE" 127.0.0.1:$PORT 1101223344556677889900aabbccddeeff00 1200 "$W/secret" expect=none || fail "reset for another instance's CID"
  "$PROBE" 127.0.0.1:$PORT 1100223344556677889900aabbccddeeff00 1200 "$W/secret" expect=reset || fail "no reset for own CID"
  "$PROBE" 127.0.0.1:$PORT f100223344556677889900aabbccddeeff00 1200 "$W/secret" expect=none || fail "reset for an unroutable CID"
  stop_server
  [ "$(stats_get '.resets_suppressed_by_reason["suppress-other-instance"] // 0')" = 2 ] || fail "other-instance suppressions not counted"
  # Encrypted: the server ID is only visible to the key's holders; qamp-tp encodes as the server.
  printf '8f95f09245765f80256934e50c66207f\n' > "$W/lbkey"
  # The default with a key: 15-octet nonces, one AES block; 16 octets: the four-pass algorithm.
  local other own nonce
  for nonce in 223344556677889900aabbccddeeff 223344556677889900aabbccddeeff00; do
    other=$("$TP" cid encode --server-id 01 --nonce $nonce --key 8f95f09245765f80256934e50c66207f)
    own=$("$TP" cid encode --server-id 00 --nonce $nonce --key 8f95f09245765f80256934e50c66207f)
    if [ ${#nonce} = 30 ]; then
      start_server --instance-id 0 --cluster-size 2 --quic-lb-key "$W/lbkey"
      grep -q 'QUIC-LB server ID 00, config rotation 0, 17-octet CIDs, encrypted (one AES-128 block)' "$W/server.log" ||
        fail "a key without --quic-lb-nonce-len is not single-pass: $(grep QUIC-LB "$W/server.log")"
    else
      start_server --instance-id 0 --cluster-size 2 --quic-lb-key "$W/lbkey" --quic-lb-nonce-len 16
      grep -q '18-octet CIDs, encrypted (four-pass AES-128)' "$W/server.log" || fail "no four-pass line: $(grep QUIC-LB "$W/server.log")"
    fi
    "$PROBE" 127.0.0.1:$PORT "$other" 1200 "$W/secret" expect=none || fail "reset for another instance's encrypted CID (nonce ${#nonce} hex digits)"
    "$PROBE" 127.0.0.1:$PORT "$own" 1200 "$W/secret" expect=reset || fail "no reset for own encrypted CID (nonce ${#nonce} hex digits)"
    stop_server
    [ "$(stats_get '.resets_suppressed_by_reason["suppress-other-instance"] // 0')" = 1 ] || fail "other-instance suppression not counted"
  done
}
case_sigterm_closes() {
  # SIGTERM with a live connection: CONNECTION_CLOSE (H3_NO_ERROR 0x100) to the client,
  # stats flushed, exit 0.
  start_server
  ( timeout 20 "$GTLSCLIENT" --no-quic-dump --no-http-dump 127.0.0.1 "$PORT" >"$W/client.log" 2>&1 || true ) &
  CLIENT=$!
  wait_grep 10 'frm rx .* 1RTT' "$W/client.log" || true
  stop_server
  wait $CLIENT || true
  grep -q 'frm rx .*CONNECTION_CLOSE(0x1d) error_code=(unknown)(0x100)' "$W/client.log" || fail "client saw no CONNECTION_CLOSE with H3_NO_ERROR"
  [ "$(stats_get '.connections')" = 1 ] || fail "stats: connections != 1"
  [ "$(stats_get '.connections_closed')" = 1 ] || fail "stats: connections_closed != 1"
}
case_reset_rate_limit() {
  # 10,000 unknown-CID datagrams in 2 s from one address on an `any` address: the bucket of
  # its /24 (burst 5, 2/s) bounds the resets, each smaller than the 1200-byte trigger.
  start_server
  t0=$(date +%s%N)
  out=$("$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 10000 2 short 1200 from=127.0.0.1)
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "burst: $out (${ms} ms)"
  got=$(json_text_get "$out" .received)
  maxlen=$(json_text_get "$out" .received_bytes_max)
  # The bucket cannot give more than burst + rate * elapsed, whatever the load.
  most=$(( 5 + 2 * (ms + 999) / 1000 ))
  [ "$got" -ge 5 ] && [ "$got" -le "$most" ] || fail "expected 5..$most resets from one /24 in $ms ms, got $got"
  [ "$maxlen" -lt 1200 ] || fail "reset of $maxlen bytes for 1200-byte datagrams"
  stop_server
  [ "$(stats_get '.resets_suppressed_by_reason["suppress-prefix-rate-limited"] // 0')" -ge 9000 ] || fail "per-prefix suppressions not counted"
  [ "$(stats_get '.resets_sent')" = "$got" ] || fail "stats count $(stats_get '.resets_sent') resets, the sender got $got"
}
case_reset_rate_limit_per_prefix() {
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
  got=$(json_text_get "$out" .received)
  most=$(( 20 + 10 * (ms + 999) / 1000 ))
  [ "$got" -le "$most" ] || fail "expected at most $most resets from 2,000 prefixes in $ms ms, got $got"
  stop_server
  # The lower bound from the server's count (a reset that comes back after udp_burst closed
  # the spoofed socket is lost to it): the flood's burst 5, the probe, then the refilled
  # global bucket's 20 for the 2,000 prefixes.
  [ "$(stats_get '.resets_sent')" -ge 26 ] || fail "only $(stats_get '.resets_sent') resets sent in all, want >= 26"
  [ "$(stats_get '.resets_suppressed_by_reason["suppress-rate-limited"] // 0')" -ge 1900 ] || fail "global suppressions not counted"
  [ "$(stats_get '.resets_suppressed_by_reason["suppress-prefix-table-full"] // 0')" = 0 ] || fail "the prefix table filled up under the global bound"
}
spoofed_paths() {
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
  ( timeout 60 "$GTLSCLIENT" -q --timeout=40s --download "$W/dl" 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/big.bin" >"$W/client.log" 2>&1 || true ) &
  CLIENT=$!
  E2E_PIDS+=("$CLIENT")
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
    [ "$(json_text_get "$o" .received)" = 0 ] || fail "the server answered spoofed sources: $o"
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
  [ "$(stats_get '[.path_changes_accepted[]] | add // 0')" = 0 ] || fail "stats count accepted path changes: $(stats_get '.path_changes_accepted')"
  [ "$(stats_get '.migrations')" = 0 ] || fail "stats count migrations"
  [ "$(stats_get '.resets_sent')" = 0 ] || fail "a reset was sent"
  if [ "$level" = none ]; then
    [ "$(stats_get '.dropped_by_reason["ip-change-forbidden-none"] // 0')" -ge 19800 ] || fail "drops not counted per datagram"
    [ "$(stats_get '.gate_log_lines_suppressed')" -gt 0 ] || fail "no log line suppressed"
  else
    [ "$(stats_get '.path_changes_not_taken')" -ge 19800 ] || fail "datagrams ngtcp2 discarded not counted"
  fi
}
case_spoofed_paths_any() { spoofed_paths; }
case_spoofed_paths_none() { spoofed_paths; }
case_clienthello_without_tp() {
  # RFC 9001 §8.2: a ClientHello without quic_transport_parameters (0x39) is refused with
  # missing_extension, CRYPTO_ERROR 0x16d (issue 10 item 1: it aborted the server). The
  # server stays up and serves a normal download after it.
  start_server
  out=$("$BUILD/tests/e2e/server/initial_client" no-tp 127.0.0.1:$PORT) || fail "no CONNECTION_CLOSE: $out"
  echo "no-tp: $out"
  code=$(json_text_get "$out" .error_code)
  [ "$code" = 365 ] || fail "CONNECTION_CLOSE error code $code, want 365 (0x16d, missing_extension)"
  kill -0 "$SERVER_PID" 2>/dev/null || fail "server died"
  download /file.bin
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  stop_server
}
case_version_negotiation_long_cids() {
  # RFC 8999 §5.1/§6: an unknown version may carry CIDs of up to 255 bytes; the Version
  # Negotiation packet echoes both (it did not fit the server's buffer: found by dispatch_fuzzer).
  start_server
  for len in 8 20 255; do
    "$BUILD/tests/e2e/server/initial_client" vn 127.0.0.1:$PORT $len >/dev/null || fail "no Version Negotiation for $len-byte CIDs"
  done
  stop_server
}
initial_caps() {
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
  [ "$(stats_get '.connections')" = $cap ] || fail "$(stats_get '.connections') connections created, want the cap $cap"
  [ "$(stats_get '.connections_peak')" = $cap ] || fail "peak $(stats_get '.connections_peak') connections, cap $cap"
  [ "$(stats_get --arg reason "$reason" '.initials_refused_by_reason[$reason] // 0')" = $((200 - cap)) ] || fail "refusals not counted: $(stats_get '.initials_refused_by_reason')"
  lines=$(grep -c "refused .*: $reason" "$W/server.log" || true)
  [ "$lines" -ge 1 ] && [ "$lines" -le 6 ] || fail "$lines refusal log lines for $((200 - cap)) refusals (want 1..6)"
}
case_max_half_open() { initial_caps; }
case_max_connections() { initial_caps; }
case_retry_on() {
  # --retry=on: a burst of Initials gets one Retry each and creates no connection; the stock
  # client follows the Retry (RFC 9000 §8.1.2) and downloads byte-exact.
  start_server --retry=on
  out=$("$BUILD/tests/e2e/server/initial_client" burst 127.0.0.1:$PORT 100 1)
  echo "burst: $out"
  retries=$(json_text_get "$out" .retry)
  got=$(json_text_get "$out" .received)
  [ "$retries" = 100 ] && [ "$got" = 100 ] || fail "want 100 Retry packets and nothing else, got $retries of $got"
  download /file.bin
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  stop_server
  [ "$(stats_get '.connections')" = 1 ] || fail "$(stats_get '.connections') connections, want only the client's"
  [ "$(stats_get '.connections_validated')" = 1 ] || fail "the download did not go through a Retry token"
  [ "$(stats_get '.retries_sent')" -ge 101 ] || fail "retries_sent $(stats_get '.retries_sent')"
}
case_retry_auto() {
  # --retry=auto: no Retry below the threshold, Retry from the threshold on.
  start_server --retry=auto --retry-threshold 10 --max-half-open 1000
  out=$("$BUILD/tests/e2e/server/initial_client" burst 127.0.0.1:$PORT 50 1)
  echo "burst: $out"
  retries=$(json_text_get "$out" .retry)
  [ "$retries" = 40 ] || fail "$retries Retry packets, want 40 (50 Initials, threshold 10)"
  download /file.bin
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  stop_server
  [ "$(stats_get '.connections')" = 11 ] || fail "$(stats_get '.connections') connections, want 10 + the client's"
  [ "$(stats_get '.connections_validated')" = 1 ] || fail "the client was not sent through Retry above the threshold"
}
case_garbage_during_download() {
  # Garbage on every socket while a download runs: nothing crashes, the restricted handshake
  # address answers nothing, the download finishes byte-exact.
  start_server --handshake-level none --preferred-ipv4-addr=127.0.0.2:$SPORT
  head -c 30000000 /dev/urandom > "$W/htdocs/big.bin"
  ( timeout 30 "$GTLSCLIENT" -q --exit-on-all-streams-close --download "$W/dl" 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/big.bin" >"$W/client.log" 2>&1 || true ) &
  CLIENT=$!
  hs=$("$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 3000 1 garbage 1200)
  "$BUILD/tests/e2e/server/udp_burst" 127.0.0.2:$SPORT 3000 1 garbage 1200 >/dev/null
  "$BUILD/tests/e2e/server/udp_burst" 127.0.0.1:$PORT 2000 1 short 100 > "$W/short.json"
  wait $CLIENT || true
  echo "handshake-address garbage: $hs"
  # Version Negotiation to long-header garbage is fine; anything with a short header
  # (a Stateless Reset) is not.
  [ "$(json_text_get "$hs" .received_short_header)" = 0 ] || fail "restricted address answered garbage with a short header"
  [ "$(json_get "$W/short.json" .received)" = 0 ] || fail "restricted address sent resets"
  kill -0 "$SERVER_PID" || fail "server died"
  same_file "$W/dl/big.bin" "$W/htdocs/big.bin"
  stop_server
}
case_docroot_fifo() {
  # A FIFO under --htdocs is refused (403) without blocking: a parallel download on another
  # connection completes byte-exact while nobody ever writes to the FIFO.
  start_server
  mkfifo "$W/htdocs/fifo"
  ( timeout 30 "$GTLSCLIENT" --exit-on-all-streams-close 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/fifo" \
      >"$W/fifo.log" 2>&1 || true ) &
  FIFO_CLIENT=$!
  wait_request_sent "$W/fifo.log"
  download /file.bin
  if ! cmp -s "$W/dl/file.bin" "$W/htdocs/file.bin"; then unblock_fifo; fail "download stalled by a FIFO request"; fi
  wait $FIFO_CLIENT || true
  grep -aq 'stream 0x0 \[:status: 403\]' "$W/fifo.log" || { unblock_fifo; fail "FIFO not refused with 403"; }
  grep -q 'refused GET /fifo -> 403: not a regular file' "$W/server.log" || fail "no log line for the FIFO"
  stop_server
}
case_docroot_symlinks() {
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
}
case_generated_cap() {
  # /bytes/N above --max-generated-bytes is refused with 404 naming the cap; N at the cap is
  # served, its size and SHA-256 matching the server's digest header.
  start_server --max-generated-bytes 1M
  qclient --download "$W/dl" -- /bytes/1048576 /bytes/1048577 /bytes/99999999999999999999999
  [ "$(sum_get '.uris[0].status')" = 200 ] || fail "/bytes/1048576 (the cap): status $(sum_get '.uris[0].status')"
  [ "$(stat -c %s "$W/dl/1048576")" = 1048576 ] || fail "wrong size $(stat -c %s "$W/dl/1048576")"
  [ "$(sum_get '.uris[0].sha256_matches_server')" = true ] || fail "digest header does not match the body"
  [ "$(sum_get '.uris[0].sha256')" = "$(sha256_of "$W/dl/1048576")" ] || fail "saved bytes differ"
  [ "$(sum_get '.uris[1].status')" = 404 ] || fail "/bytes/1048577 above the cap: status $(sum_get '.uris[1].status')"
  [ "$(sum_get '.uris[2].status')" = 404 ] || fail "/bytes/<overflow>: status $(sum_get '.uris[2].status')"
  grep -q 'generated body too large: /bytes/N takes decimal N up to 1048576' "$W/server.log" || fail "no log line naming the cap"
  stop_server
  # The default cap (1 GiB) refuses 4 GiB.
  start_server
  qclient -- /bytes/4294967296
  [ "$(sum_get '.uris[0].status')" = 404 ] || fail "default cap: /bytes/4294967296 status $(sum_get '.uris[0].status')"
  stop_server
  rc=0; "$SERVER" --max-generated-bytes 12X 127.0.0.1 1 a b 2>"$W/err" || rc=$?
  [ "$rc" = 2 ] && grep -q -- "--max-generated-bytes: bad size '12X'" "$W/err" || fail "bad --max-generated-bytes: exit $rc"
}
case_digest_off_loop() {
  # The SHA-256 of a 4 GiB generated body is computed off the event loop: a small download on
  # another connection, asked for after the big request reached the server, completes (byte-
  # exact) while the big response still waits for its digest; then the big one completes.
  # Order, not a time threshold: the small one needs ~2 MiB of hashing, the big one 4 GiB.
  start_server --max-generated-bytes 8G
  ( timeout 80 "$GTLSCLIENT" --http-method=HEAD --exit-on-all-streams-close 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/bytes/4294967296" >"$W/big.log" 2>&1 || true ) &
  BIG=$!
  wait_request_sent "$W/big.log"
  qclient --download "$W/dl" -- /file.bin
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  [ "$(sum_get '.uris[0].sha256_matches_server')" = true ] || fail "small download: digest mismatch"
  if grep -aq 'stream 0x0 response headers started' "$W/big.log"; then
    fail "the 4 GiB response was ready before the small download finished: hashed on the loop?"
  fi
  kill -0 $BIG 2>/dev/null || fail "the big request ended before the small download"
  wait $BIG || true
  grep -aq 'stream 0x0 \[:status: 200\]' "$W/big.log" || fail "big HEAD got no 200"
  grep -aq 'stream 0x0 \[content-length: 4294967296\]' "$W/big.log" || fail "HEAD lacks the GET's content-length"
  grep -aq 'stream 0x0 \[x-qamp-body-sha256: [0-9a-f]\{64\}\]' "$W/big.log" || fail "big HEAD has no digest header"
  stop_server
}
case_bad_request() {
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
  n=$(sum_get '[.uris[:110][] | select(.status == 0 and ((.error // "") | contains("0x10e")))] | length')
  [ "$n" = 110 ] || fail "only $n of 110 malformed requests were reset with H3_MESSAGE_ERROR: $(sum_get '.uris[0].error')"
  [ "$(sum_get '.uris[110].status')" = 400 ] || fail "dot-segment: status $(sum_get '.uris[110].status')"
  [ "$(sum_get '.uris[111].status')" = 414 ] || fail "10 kB target: status $(sum_get '.uris[111].status')"
  [ "$(sum_get '.uris[112].status')" = 431 ] || fail "20 kB :authority: status $(sum_get '.uris[112].status')"
  same_file "$W/dl/file.bin" "$W/htdocs/file.bin"
  [ "$(sum_get '.uris[113].sha256_matches_server')" = true ] || fail "file.bin: digest mismatch"
  [ "$(sum_get '.connection.reconnects')" = 0 ] || fail "the client had to reconnect"
  lines=$(grep -c 'refused' "$W/server.log" || true)
  [ "$lines" -ge 1 ] && [ "$lines" -lt 100 ] || fail "$lines refusal log lines for 113 refusals (want rate-limited)"
  stop_server
}
# --workers N (README "Workers"): the supervisor's exit status, each worker's stats file and the
# steering counters it logs on exit.
stop_workers() {  # N
  kill -TERM "$SERVER_PID"
  local rc=0 k
  wait "$SERVER_PID" || rc=$?
  [ "$rc" = 0 ] || fail "supervisor exit status $rc after SIGTERM"
  for k in $(seq 0 $(($1 - 1))); do
    [ -s "$W/stats.json.worker$k" ] || fail "worker $k left no stats file"
  done
}
worker_get() { json_get "$W/stats.json.worker$1" "$2"; }  # K FILTER
case_workers_migrate() {
  # --workers 2: a client that migrates to a new local address mid-download still reaches the
  # worker that holds its connection (the kernel steers short headers by the CID's server ID):
  # the other worker receives not one datagram; byte-exact.
  # It first moves to the preferred address (another SO_REUSEPORT group, steered the same way).
  start_server --workers 2 --preferred-ipv4-addr=127.0.0.2:$SPORT
  qclient --download "$W/dl" --network-change 30%=127.0.0.3:0 --limit-rate=16M -- /bytes/33554432
  [ "$(sum_get '.complete')" = true ] || fail "download incomplete: $(tail -3 "$W/qclient.log")"
  [ "$(sum_get '.uris[0].sha256_matches_server')" = true ] || fail "digest header does not match the body"
  [ "$(sum_get '.uris[0].sha256')" = "$(sha256_of "$W/dl/33554432")" ] || fail "saved bytes differ"
  [ "$(stat -c %s "$W/dl/33554432")" = 33554432 ] || fail "wrong size $(stat -c %s "$W/dl/33554432")"
  [ "$(sum_get '.connection.migrations')" = '{"attempted":1,"refused":0,"succeeded":1,"failed":0}' ] ||
    fail "client migrations $(sum_get '.connection.migrations')"
  sum_get '.connection.local_address' | grep -q '^127\.0\.0\.3:' || fail "client not on 127.0.0.3 at the end"
  [ "$(sum_get '.connection.moved_to_preferred_address')" = true ] || fail "client did not move to the preferred address"
  stop_workers 2
  local serving other
  if [ "$(worker_get 0 .connections)" = 1 ]; then serving=0 other=1; else serving=1 other=0; fi
  [ "$(worker_get $serving .connections)" = 1 ] || fail "no worker served the connection"
  [ "$(worker_get $other .connections)" = 0 ] || fail "worker $other has a connection too"
  [ "$(worker_get $other .datagrams_received)" = 0 ] ||
    fail "worker $other received $(worker_get $other .datagrams_received) datagram(s) of a connection it does not hold"
  [ "$(worker_get $serving .migrations)" -ge 1 ] || fail "worker $serving validated no new path"
  grep -Eq "steering on 127\.0\.0\.1:$PORT \(handshake\): [0-9]+ by-cid, [1-9][0-9]* long-header, 0 not-ours, 0 worker-gone" \
    "$W/server.log" || fail "handshake steering counters: $(grep 'steering on' "$W/server.log")"
  grep -Eq "steering on 127\.0\.0\.2:$SPORT \(spa-v4\): [1-9][0-9]{2,} by-cid, 0 long-header, 0 not-ours, 0 worker-gone" \
    "$W/server.log" || fail "preferred-address steering counters: $(grep 'steering on' "$W/server.log")"
}
case_workers_reset_steering() {
  # --workers 2, plaintext QUIC-LB CIDs: each worker's CIDs reach that worker, whatever the
  # source port (the kernel's hash would scatter them): an unknown CID of worker k is reset by
  # worker k alone; a CID naming no worker (server ID 7) is hashed to one and never reset.
  start_server --workers 2
  local i
  for i in 1 2 3 4; do
    "$PROBE" 127.0.0.1:$PORT 1100223344556677889900aabbccddeeff0$i 1200 "$W/secret" expect=reset || fail "no reset for worker 0's CID"
    "$PROBE" 127.0.0.1:$PORT 1101223344556677889900aabbccddeeff0$i 1200 "$W/secret" expect=reset || fail "no reset for worker 1's CID"
    "$PROBE" 127.0.0.1:$PORT 1107223344556677889900aabbccddeeff0$i 1200 "$W/secret" expect=none || fail "reset for server ID 7 (no such worker)"
  done
  stop_workers 2
  [ "$(worker_get 0 .resets_sent)" = 4 ] || fail "worker 0 sent $(worker_get 0 .resets_sent) resets, want its 4"
  [ "$(worker_get 1 .resets_sent)" = 4 ] || fail "worker 1 sent $(worker_get 1 .resets_sent) resets, want its 4"
  local q='.resets_suppressed_by_reason["suppress-other-instance"] // 0'
  [ $(( $(worker_get 0 "$q") + $(worker_get 1 "$q") )) = 4 ] || fail "other-instance suppressions: $(worker_get 0 "$q") + $(worker_get 1 "$q"), want 4"
  grep -q "steering on 127.0.0.1:$PORT (handshake): 8 by-cid, 0 long-header, 4 not-ours, 0 worker-gone, 0 too-short" "$W/server.log" ||
    fail "steering counters: $(grep 'steering on' "$W/server.log")"
}
case_workers_bpf_refused() {
  # Without the privilege to load BPF the supervisor names the refusal and exits 1: it never
  # runs workers on the kernel's hash alone (no socket is left listening).
  command -v setpriv >/dev/null || fail "setpriv missing (package util-linux)"
  # Root without capabilities (an empty bounding set): the files stay readable (root owns them,
  # also in a CI's private scratch directory), the bpf() syscall is refused.
  rc=0; setpriv --bounding-set=-all --inh-caps=-all -- "$SERVER" -q -d / --workers 2 127.0.0.1 "$PORT" \
    "$W/key.pem" "$W/cert.pem" 2>"$W/err" || rc=$?
  [ "$rc" = 1 ] || fail "unprivileged --workers: exit $rc, want 1"
  grep -q 'the kernel refused the SK_REUSEPORT steering program (load: Operation not permitted)' "$W/err" ||
    fail "no message naming the refusal: $(tail -2 "$W/err")"
  ! grep -q 'listening on' "$W/err" || fail "a worker started without steering"
}

case_bad_flags() {
  rc=0; "$SERVER" --bogus 2>"$W/err" || rc=$?
  [ "$rc" = 2 ] || fail "--bogus exit $rc, want 2"
  grep -q 'Usage: qamp-server' "$W/err" || fail "no usage on stderr"
  rc=0; "$SERVER" --handshake-level sometimes 127.0.0.1 1 a b 2>"$W/err" || rc=$?
  [ "$rc" = 2 ] && grep -q "unknown level 'sometimes'" "$W/err" || fail "bad level not reported (exit $rc)"
  rc=0; "$SERVER" 127.0.0.1 "$PORT" /nonexistent.pem /nonexistent.pem 2>"$W/err" || rc=$?
  [ "$rc" = 1 ] && grep -q 'cannot load key' "$W/err" || fail "missing key not reported (exit $rc)"
  # Into a file, not a pipe: `grep -q` would stop reading at the first match and the server's
  # next write of a help text longer than one stdio buffer would die of SIGPIPE (pipefail).
  "$SERVER" --help >"$W/help" || fail "--help exit $?"
  grep -q -- '--stateless-reset' "$W/help" || fail "--help lacks --stateless-reset"
  for f in --quic-lb-config-rotation --quic-lb-nonce-len --quic-lb-key --workers; do
    grep -q -- "$f" "$W/help" || fail "--help lacks $f"
  done
  rc=0; "$SERVER" --workers=0 127.0.0.1 1 a b 2>"$W/err" || rc=$?
  [ "$rc" = 2 ] && grep -q -- "--workers: expected 1..64, got '0'" "$W/err" || fail "bad --workers not reported (exit $rc)"
  rc=0; "$SERVER" --workers=2 --quic-lb-key=k 127.0.0.1 1 a b 2>"$W/err" || rc=$?
  [ "$rc" = 2 ] && grep -q -- "encrypted CIDs (--quic-lb-key) need a balancer" "$W/err" || fail "--workers with a key: exit $rc"
  rc=0; "$SERVER" --enforcement=sometimes 127.0.0.1 1 a b 2>"$W/err" || rc=$?
  [ "$rc" = 2 ] && grep -q "expected layer or native" "$W/err" || fail "bad --enforcement not reported (exit $rc)"
  rc=0; "$SERVER" --retry=maybe 127.0.0.1 1 a b 2>"$W/err" || rc=$?
  [ "$rc" = 2 ] && grep -q "expected off, on or auto" "$W/err" || fail "bad --retry not reported (exit $rc)"
  for f in --max-connections --max-half-open --retry-threshold; do
    rc=0; "$SERVER" $f=0 127.0.0.1 1 a b 2>"$W/err" || rc=$?
    [ "$rc" = 2 ] && grep -q -- "$f: expected a count" "$W/err" || fail "bad $f not reported (exit $rc)"
    grep -q -- "$f" "$W/help" || fail "--help lacks $f"
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
}

e2e_select "$HERE/cases.txt" "$@"
setup
"case_${CASE//-/_}"
echo "ok [$CASE]"
