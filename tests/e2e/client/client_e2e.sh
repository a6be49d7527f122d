#!/usr/bin/env bash
# tests/e2e/client/client_e2e.sh BUILD_ROOT CASE | --check — qamp-client over loopback against the
# stock ngtcp2 server (gtlsserver 1.11, a legacy RFC 9000 server: no qamp TPs, and no flag to send
# 0x0c) and against qamp-server (its policy levels, its legacy RFC 9000 mode, a throttled old
# network). The cases are the lines of cases.txt, each run by its case_<name> function below.
# Every case judges by the saved bytes (size + SHA-256) and the summary, never by exit status
# alone.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

SERVER_ENF=(--enforcement="$ENF")
# The spelling qamp-server answers a client announcing every spelling in: its first default
# preference, ext (also the only one the patched ngtcp2 speaks natively).
SPELLING=ext
# The client's log line for a migration the server's policy forbids: qamp's Migrator refuses it
# (layer), or ngtcp2_conn_initiate_migration does (native).
REFUSED_BY=refused-by-policy
[ "$ENF" = native ] && REFUSED_BY=refused-by-ngtcp2

# allowed_reason SEMANTICS RULE: the reason on a start-path-validation line: the client_may()
# rule, or ngtcp2-decides for a native client (which runs per-address semantics only).
allowed_reason() {
  if [ "$ENF" = native ] && [ "$1" = per-address ]; then echo ngtcp2-decides; else echo "$2"; fi
}

# client_enf ARGS...: prints the --enforcement flag for a qamp-client run with ARGS. A run that
# needs a layer-only feature (--semantics other than per-address, the malformed-TP testing knob)
# keeps the layer client; it says so on stderr, and the server side stays native.
client_enf() {
  local a prev=
  if [ "$ENF" = native ]; then
    for a in "$@"; do
      if { [ "$prev" = --semantics ] && [ "$a" != per-address ]; } ||
        [[ $a == --semantics=* && $a != --semantics=per-address ]] || [[ $a == --send-policy-support-raw* ]]; then
        echo "note: qamp-client stays --enforcement=layer for ${prev:+$prev }$a (layer-only feature)" >&2
        echo "--enforcement=layer"
        return
      fi
      prev=$a
    done
  fi
  echo "--enforcement=$ENF"
}

# jq: where the resumed (second) response of the first URI starts, from its "206 range FROM-".
RESUMED_FROM='(.uris[0].responses[1] | split(" ")[2] | rtrimstr("-") | tonumber)'

# Set up after e2e_select has vetted the case: the working directory is the case's temp dir.
setup() {
  CLIENT=$BUILD/examples/client/qamp-client
  QAMP_SERVER=$BUILD/examples/server/qamp-server
  LB4_RELAY=$BUILD/tests/e2e/client/lb4_relay
  THROTTLE_RELAY=$BUILD/tests/e2e/client/throttle_relay
  GTLSSERVER=${GTLSSERVER:-/usr/sbin/gtlsserver}
  [ -x "$CLIENT" ] || fail "no $CLIENT"
  [ -x "$GTLSSERVER" ] || fail "no $GTLSSERVER (apt-get install ngtcp2-server)"
  command -v jq >/dev/null || fail "jq missing (package jq)"

  e2e_init client
  cd "$E2E_DIR" || exit 1
  E2E_CONTEXT=(server.log client.log)
  gen_cert "$E2E_DIR"
  mkdir -p htdocs dl
  # qamp-client verifies the server certificate: the self-signed test certificate is its own CA.
  CLIENT_TLS=(--ca-file "$E2E_DIR/cert.pem")
}

# start_gtlsserver [extra args]: serves htdocs on 127.0.0.1:$PORT with a preferred IPv4 address
# 127.0.0.2:$SPA_PORT.
start_gtlsserver() {
  PORT=$(free_udp_port 127.0.0.1)
  SPA_PORT=$(free_udp_port 127.0.0.2)
  bg_start server.log "$GTLSSERVER" -q -d htdocs --timeout=30s 127.0.0.1 "$PORT" key.pem cert.pem \
    --preferred-ipv4-addr=127.0.0.2:"$SPA_PORT" "$@"
  SERVER_PID=$BG_PID
  wait_udp_port 127.0.0.1 "$PORT"
}

# start_qampserver [extra args]: qamp-server on 127.0.0.1:$PORT with a preferred IPv4 address
# 127.0.0.2:$SPA_PORT; /bytes/N is resumable (ETag, Accept-Ranges) and carries x-qamp-body-sha256.
start_qampserver() {
  [ -x "$QAMP_SERVER" ] || fail "no $QAMP_SERVER"
  PORT=$(free_udp_port 127.0.0.1)
  SPA_PORT=$(free_udp_port 127.0.0.2)
  bg_start server.log "$QAMP_SERVER" -q "${SERVER_ENF[@]}" 127.0.0.1 "$PORT" key.pem cert.pem \
    --preferred-ipv4-addr=127.0.0.2:"$SPA_PORT" "$@"
  SERVER_PID=$BG_PID
  wait_udp_port 127.0.0.1 "$PORT"
}

# reference_download URL FILE [PORT]: the same body fetched by the stock client (an independent
# implementation), so byte-exactness is not judged by qamp-client alone.
reference_download() {
  mkdir -p ref
  gtlsclient_get 60 ref.log ref "${3:-$PORT}" "$1" -q || fail "gtlsclient reference download failed (ref.log)"
  [ -f "ref/$2" ] || fail "gtlsclient saved no ref/$2"
}

# The cases that are not about following the system's network run without it (a loaded CI host
# stalling for four PTOs would otherwise be a degrading path): --follow-network=off unless the
# case says otherwise.
follow_off() { [[ " $* " == *" --follow-network"* ]] || echo --follow-network=off; }

run_client() {  # run_client LOG ARGS... ; sets RC
  local log=$1
  shift
  # shellcheck disable=SC2046
  timeout 60 "$CLIENT" "$(client_enf "$@")" $(follow_off "$@") "${CLIENT_TLS[@]}" "$@" >"$log.out" 2>"$log"
  RC=$?
}

# run_client_tls LOG TLS-FLAGS-WORD ARGS...: as run_client with other TLS flags ("" for none,
# i.e. the system trust store). Sets RC.
run_client_tls() {
  local log=$1 tls=$2
  shift 2
  # shellcheck disable=SC2086
  # shellcheck disable=SC2046
  timeout 60 "$CLIENT" "$(client_enf "$@")" $(follow_off "$@") $tls "$@" >"$log.out" 2>"$log"
  RC=$?
}

# no_temp_files DIR: qamp-client left none of its DIR/.NAME.qamp-XXXXXX files behind.
no_temp_files() {
  local left
  left=$(find "$1" -maxdepth 1 -name '.*.qamp-*' | head -1)
  [ -z "$left" ] || fail "temporary file $left left behind"
}

# assert_legacy_no_dam SUMMARY: the server spoke plain RFC 9000 without 0x0c: no echo of 0x2d50,
# nothing learnt but the RFC 9000 default, every address `any`.
# wait_partial GLOB MIN TRIES: sets tmp to qamp-client's temporary file dl/GLOB (the body before
# it is complete and renamed) once it holds at least MIN bytes, polling TRIES times 50 ms; tmp
# is whatever was found (possibly empty) when the time is up.
wait_partial() {
  local i
  tmp=
  for ((i = 0; i < $3; i++)); do
    tmp=$(find dl -maxdepth 1 -name "$1" | head -1)
    [ -n "$tmp" ] && [ "$(file_size "$tmp")" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 0
}

assert_legacy_no_dam() {
  assert_jsons "$1" \
    '.connection.policy.spelling == "rfc9000" and .connection.policy.echoed == 0' \
    '.connection.policy.disable_active_migration == false' \
    '.connection.policy.levels == {"handshake": "any", "spa_v4": "any", "spa_v6": "any"}'
}

case_stock_spa_download() {
  # (1) 3 MB byte-exact from the stock server, moving to its preferred IPv4 address.
  make_file htdocs/f3m 3145728
  start_gtlsserver
  run_client client.log --download dl --exit-on-all-streams-close --summary sum.json -q \
    --qlog-file client.sqlog 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/f3m"
  same_file dl/f3m htdocs/f3m
  assert_jsons sum.json --arg sha "$(sha256_of htdocs/f3m)" --arg spa "127.0.0.2:$SPA_PORT" \
    '.complete and .uris[0].complete and .uris[0].bytes == 3145728' \
    '.uris[0].sha256 == $sha' \
    '.uris[0].sha256_matches_server == null' \
    '.connection.moved_to_preferred_address == true' \
    '.connection.server_address == $spa' \
    '.connection.server_family == "ipv4"' \
    '.connection.policy.spelling == "rfc9000"'
  assert_legacy_no_dam sum.json
  assert_grep '^qamp: migration: start-preferred-address-validation .*"family":"same-family"' client.log
  assert_grep '^qamp: migration: moved-to-preferred-address' client.log
  assert_grep '"name":"qamp:migration".*"outcome":"moved-to-preferred-address"' client.sqlog
  [ "$RC" = 0 ] || fail "exit status $RC for a complete download"
  pass "3 MB from gtlsserver, byte-exact, moved to 127.0.0.2:$SPA_PORT"
}

case_legacy_policy_support() {
  # (2) --policy-support '' is a legacy RFC 9000 client: it announces nothing, still downloads.
  make_file htdocs/f1m 1048576
  start_gtlsserver
  run_client client.log --policy-support '' --download dl --exit-on-all-streams-close \
    --summary sum.json 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/f1m"
  same_file dl/f1m htdocs/f1m
  assert_jsons sum.json \
    '.complete == true' \
    '.connection.policy.announced == []' \
    '.connection.policy.echoed == 0' \
    '.connection.policy.spelling == "rfc9000"' \
    '.connection.moved_to_preferred_address == true'
  [ "$RC" = 0 ] || fail "exit status $RC"
  # The same against qamp-server, which would answer an announcing client in ext: a client
  # that sent no 0x2d50 gets plain RFC 9000 parameters (no echo), a default one gets ext.
  bg_stop "$SERVER_PID"
  start_qampserver --spa-level none
  for mode in legacy default; do
    flag=()
    [ "$mode" = legacy ] && flag=(--policy-support '')
    rm -rf dl && mkdir dl
    run_client "client-$mode.log" "${flag[@]}" --download dl --exit-on-all-streams-close \
      --summary "sum-$mode.json" 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/1048576"
    [ "$RC" = 0 ] || fail "$mode vs qamp-server: exit status $RC"
    assert_jsons "sum-$mode.json" '.complete == true and .uris[0].sha256_matches_server == true'
  done
  assert_jsons sum-legacy.json \
    '.connection.policy.spelling == "rfc9000"' \
    '.connection.policy.echoed == 0' \
    '.connection.policy.announced == []'
  assert_jsons sum-default.json --arg spelling "$SPELLING" \
    '.connection.policy.spelling == $spelling' \
    '.connection.policy.levels.spa_v4 == "none"'
  pass "legacy client (no 0x2d50) downloads byte-exact; qamp-server answers it in plain RFC 9000"
}

case_network_change_after_spa() {
  # (3) a legacy server (no qamp TPs) handled per RFC 9000: gtlsserver sends no 0x0c (1.11 has
  # no flag for it), so the client learns any/any/any in plain RFC 9000 form; after the move to
  # the SPA the client's IP change is allowed under every semantics, attempted, validated, and
  # the body is still byte-exact. (A legacy server that does send 0x0c: legacy-server-dam.)
  # 32 MiB at --limit-rate=16M: ~1.8 s after the 10 % change to validate, on any machine (unpaced,
  # 64 MiB left ~0.12 s, which a loaded machine sometimes missed).
  make_file htdocs/f32m 33554432
  start_gtlsserver
  for sem in per-address rfc9000 draft28; do
    rm -rf dl && mkdir dl
    run_client "client-$sem.log" --semantics "$sem" --network-change 10%=127.0.0.3:0 --limit-rate=16M --download dl \
      --exit-on-all-streams-close --summary "sum-$sem.json" --qlog-file "client-$sem.sqlog" \
      127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/f32m"
    [ "$RC" = 0 ] || fail "$sem: exit status $RC"
    same_file dl/f32m htdocs/f32m
    assert_jsons "sum-$sem.json" \
      '.complete == true' \
      '.connection.moved_to_preferred_address == true' \
      '.connection.migrations == {"attempted": 1, "refused": 0, "succeeded": 1, "failed": 0}' \
      '(.connection.local_address | startswith("127.0.0.3:"))'
    assert_legacy_no_dam "sum-$sem.json"
    case "$sem" in  # the client_may() rule that allowed it
      per-address) rule=level-any ;;
      rfc9000) rule=rfc9000-after-move-to-preferred-address ;;
      draft28) rule=no-disable-active-migration ;;
    esac
    rule=$(allowed_reason "$sem" "$rule")
    assert_grep "^qamp: migration: start-path-validation \\(reason: $rule\\) .*\"change\":\"ip-change\".*\"state\":\"on-preferred-address -> validating-migration\"" "client-$sem.log"
    assert_grep '^qamp: migration: migrated' "client-$sem.log"
    assert_grep '"name":"qamp:migration".*"outcome":"start-path-validation"' "client-$sem.sqlog"
  done
  pass "gtlsserver (rfc9000, no 0x0c): migration to 127.0.0.3 after the SPA move under per-address, rfc9000 and draft28, byte-exact"
}

# Issue 14: the system's network events, from a fake event source (--network-event, the same
# MigrationTrigger as rtnetlink's), gated by the server's per-address policy. lo (ifindex 1)
# gains 127.0.0.3, then loses 127.0.0.1 (the connection's address): network-disconnected.
network_event() {
  local lo_added=10%=address-added:1:127.0.0.3
  case "$CASE" in
    network-event-any)  # handshake any, no preferred address move: migrate to 127.0.0.3
      start_qampserver --handshake-level any
      run_client client.log --no-preferred-addr --network-event "$lo_added" --network-event 30%=address-removed:1:127.0.0.1 \
        --limit-rate=16M --download dl --exit-on-all-streams-close --summary sum.json --qlog-file client.sqlog \
        127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/33554432"
      assert_grep '^qamp: network-event: migrate \(reason: allowed-by-policy\) \{"cause":"network-disconnected","event":"script: address-removed if 1 127.0.0.1:0","target":"new-network 127.0.0.3:0 if 1","policy_rule":"level-any"' client.log
      # The old address is gone: an immediate migration (the planner would be told the same).
      assert_grep "^qamp: migration: start-immediate-migration \\(reason: $(allowed_reason per-address level-any)\\) .*\"cause\":\"network-disconnected\"" client.log
      assert_grep '"name":"qamp:network-event"' client.sqlog
      assert_jsons sum.json \
        '.connection.migrations == {"attempted": 1, "refused": 0, "succeeded": 1, "failed": 0}' \
        '(.connection.local_address | startswith("127.0.0.3:"))' \
        '[.network.decisions[] | [.cause, .action, .rule]] == [["network-disconnected", "migrate", "allowed-by-policy"]]' \
        '.network.event_to_first_byte_ms > 0 and .network.event_to_first_byte_ms < 2000'
      ;;
    network-event-none)  # handshake none: forbidden, to the planner, which resumes from 127.0.0.3
      start_qampserver --handshake-level none
      run_client client.log --no-preferred-addr --strategy reconnect --network-event "$lo_added" \
        --network-event 30%=write-error:EADDRNOTAVAIL --limit-rate=16M --download dl --exit-on-all-streams-close \
        --summary sum.json 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/33554432"
      assert_grep '^qamp: network-event: to-planner \(reason: forbidden-by-policy\) \{"cause":"write-error","event":"script: write-error' client.log
      assert_grep '^qamp: planner: ' client.log
      assert_jsons sum.json \
        '.connection.migrations.attempted == 0 and .connection.migrations.refused == 1' \
        '.connection.reconnects == 1' \
        '(.connection.local_address | startswith("127.0.0.3:"))' \
        '[.network.decisions[] | [.cause, .action, .rule]] == [["write-error", "to-planner", "forbidden-by-policy"]]' \
        '.network.event_to_first_byte_ms > 0'
      ;;
    network-event-limit)  # --max-migrations 0: refused by the limit, finishes on 127.0.0.1
      start_qampserver --handshake-level any
      run_client client.log --no-preferred-addr --max-migrations 0 --network-event "$lo_added" \
        --network-event 30%=address-removed:1:127.0.0.1 --limit-rate=16M --download dl --exit-on-all-streams-close \
        --summary sum.json 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/33554432"
      assert_grep '^qamp: network-event: refused \(reason: max-migrations\) \{"cause":"network-disconnected"' client.log
      assert_jsons sum.json \
        '.connection.migrations.attempted == 0' \
        '(.connection.local_address | startswith("127.0.0.1:"))' \
        '.network.event_to_first_byte_ms == null'
      ;;
  esac
  assert_jsons sum.json '.complete == true and .uris[0].sha256_matches_server == true'
  [ "$(sha256_of dl/33554432)" = "$(jq -r '.uris[0].sha256' sum.json)" ] || fail "saved bytes differ from the summary's digest"
  [ "$(stat -c %s dl/33554432)" = 33554432 ] || fail "wrong size"
  [ "$RC" = 0 ] || fail "exit status $RC"
  pass "$CASE: network event handled by the policy, body byte-exact"
}
case_network_event_any() { network_event; }
case_network_event_none() { network_event; }
case_network_event_limit() { network_event; }

case_bad_flags() {
  # (4) misuse exits 2 with usage on stderr; --help exits 0 with usage on stdout.
  for args in "--bogus 127.0.0.1 4433" "127.0.0.1" "" "--semantics nope 127.0.0.1 4433" \
    "--network-change 40%%=nowhere 127.0.0.1 4433 /x" "--policy-support ext,bogus 127.0.0.1 4433" \
    "--timeout 127.0.0.1 4433 --strategy" "--spa-family v5 127.0.0.1 4433" \
    "--send-policy-support-raw 0g 127.0.0.1 4433" "--send-policy-support-raw abc 127.0.0.1 4433" \
    "--enforcement sometimes 127.0.0.1 4433" \
    "--network-event 40%%=address-removed:x:127.0.0.1 127.0.0.1 4433 /x" "--network-event 40%%=flood:1 127.0.0.1 4433 /x" \
    "--network-event 40%%=link-down:1 127.0.0.1 4433" "--follow-network maybe 127.0.0.1 4433" \
    "--max-migrations -1 127.0.0.1 4433" "--migrate-idle yes 127.0.0.1 4433" \
    "$(if [ "$ENF" = native ]; then
      echo "--enforcement native --semantics draft28 127.0.0.1 4433"
    else
      echo "--enforcement native 127.0.0.1 4433"
    fi)"; do
    # shellcheck disable=SC2086
    "$CLIENT" $(printf "$args") >out.txt 2>err.txt
    rc=$?
    [ "$rc" = 2 ] || fail "'$args' exited $rc, expected 2"
    grep -q '^Usage: qamp-client' err.txt || fail "'$args': no usage on stderr"
    [ -s out.txt ] && fail "'$args': wrote to stdout"
  done
  "$CLIENT" --help >out.txt 2>err.txt
  rc=$?
  [ "$rc" = 0 ] || fail "--help exited $rc"
  grep -q '^Usage: qamp-client' out.txt || fail "--help: no usage on stdout"
  for f in --follow-network --network-event --max-migrations --max-migrations-per-cause --max-port-migrations \
    --max-time-on-non-default --migrate-idle --degrading-pto; do
    grep -q -- "$f" out.txt || fail "--help lacks $f"
  done
  pass "bad flags exit 2, --help exits 0"
}

case_truncated_download() {
  # (5) the server dies mid-transfer: the client must report failure (exit 1, complete=false)
  # and say why. A sparse 1 GiB file keeps the transfer running long enough.
  truncate -s 1G htdocs/big
  start_gtlsserver
  bg_start client.log timeout 60 "$CLIENT" "$(client_enf)" --follow-network=off "${CLIENT_TLS[@]}" --timeout 2s --download dl --exit-on-all-streams-close --summary sum.json \
    127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/big"
  CLIENT_PID=$BG_PID
  # Wait for body bytes to arrive (in qamp-client's temporary file), then kill the server
  # without a goodbye.
  wait_partial '.big.qamp-*' 1000001 200
  [ -n "$tmp" ] && [ "$(file_size "$tmp")" -gt 0 ] || fail "no body bytes arrived"
  [ -e dl/big ] && fail "dl/big exists before the download is complete"
  { kill -KILL "$SERVER_PID" && wait "$SERVER_PID"; } 2>/dev/null
  wait "$CLIENT_PID"
  RC=$?
  [ "$RC" = 1 ] || fail "exit status $RC for an incomplete download, expected 1"
  assert_jsons sum.json \
    '.complete == false and .uris[0].complete == false' \
    '.uris[0].bytes < 1073741824 and .uris[0].expected_bytes == 1073741824' \
    '.uris[0].error != null' \
    '.exit_code == 1'
  assert_grep 'incomplete' client.log
  [ "$(json_get sum.json '.uris[0].bytes')" -lt 1073741824 ] || fail "the whole file arrived before the kill"
  # An incomplete body is never saved under the target name, and its temporary file is gone.
  [ -e dl/big ] && fail "an incomplete download was saved as dl/big"
  no_temp_files dl
  assert_jsons sum.json '.uris[0].saved == false'
  pass "truncated download reported as failure"
}

case_network_change_before_spa() {
  # RFC 9000 §9.6.3: the network changes as the handshake completes (--network-change 0s),
  # before the client could use the preferred address, and the old network is gone
  # (--old-path-after-change drop). The handshake address forbids migration (none), yet no new
  # connection is needed: the client validates the preferred address from its new local
  # address, and that one path validation is both the move and the network change.
  start_qampserver --handshake-level none --spa-level any --stats-file srv.json
  URL="https://127.0.0.1:$PORT/bytes/16777216"
  run_client client.log --network-change 0s=127.0.0.3:0 --old-path-after-change drop --download dl \
    --exit-on-all-streams-close --summary sum.json --qlog-file client.sqlog 127.0.0.1 "$PORT" "$URL"
  bg_stop "$SERVER_PID"
  [ "$RC" = 0 ] || fail "exit status $RC"
  assert_jsons sum.json --arg spa "127.0.0.2:$SPA_PORT" \
    '.complete == true and .uris[0].sha256_matches_server == true' \
    '.uris[0].bytes == 16777216 and .uris[0].attempts == 1' \
    '.connection.moved_to_preferred_address == true' \
    '(.connection.local_address | startswith("127.0.0.3:"))' \
    '.connection.server_address == $spa' \
    '.connection.reconnects == 0' \
    '.connection.migrations == {"attempted": 1, "refused": 0, "succeeded": 1, "failed": 0}'
  assert_grep '^qamp: migration: validate-preferred-address-from-new-local \(reason: move-to-preferred-address-once\) .*"cause":"network-change".*"state":"on-handshake-address -> validating-preferred-address"' client.log
  assert_grep '^qamp: migration: moved-to-preferred-address' client.log
  assert_grep 'old network dropped: closing 127\.0\.0\.1:' client.log
  assert_grep '"name":"qamp:migration".*"outcome":"validate-preferred-address-from-new-local"' client.sqlog
  assert_jsons srv.json '.moves_to_preferred_address == 1' '.migrations == 0' \
    '(.dropped_by_reason | keys) - ["second-server-address"] == []'
  pass "network change before the move: the SPA validated from 127.0.0.3 (§9.6.3), old network gone, one connection, byte-exact"
}

qamp_refused() {
  # qamp-server forbids migration on its preferred address (--spa-level none, default
  # spelling ext): the client's IP change after the move is refused by the Migrator; the planner
  # then stays, or reconnects from the new address and resumes with Range + If-Range.
  start_qampserver --spa-level none
  # --limit-rate=8M: ~1.4 s after the change for the refusal and the planner's answer to be
  # carried out (unpaced, ~30 ms at loopback speed).
  URL="https://127.0.0.1:$PORT/bytes/16777216"
  reference_download "$URL" 16777216
  case "$CASE" in
    qamp-refused-reconnect-resume) extra=(--strategy reconnect) ;;
    qamp-refused-stay) extra=(--strategy stay) ;;
    qamp-refused-drop) extra=(--old-path-after-change drop) ;;
  esac
  run_client client.log --network-change 30%=127.0.0.3:0 --limit-rate=8M "${extra[@]}" --download dl \
    --exit-on-all-streams-close --summary sum.json --qlog-file client.sqlog 127.0.0.1 "$PORT" "$URL"
  same_file dl/16777216 ref/16777216
  assert_jsons sum.json --arg spelling "$SPELLING" \
    '.complete == true and .uris[0].sha256_matches_server == true' \
    '.connection.policy.spelling == $spelling' \
    '.connection.policy.levels.spa_v4 == "none"' \
    '.connection.moved_to_preferred_address == true' \
    '.connection.migrations.refused == 1' \
    '.connection.migrations.attempted == 0'
  assert_grep "^qamp: migration: $REFUSED_BY \\(reason: level-none\\)" client.log
  assert_grep '^qamp: planner: ' client.log
  assert_grep '"name":"qamp:planner"' client.sqlog
  if [ "$CASE" = qamp-refused-stay ]; then
    assert_jsons sum.json \
      '.connection.planner.decision == "stay"' \
      '.connection.planner.reason == "forced-stay"' \
      '.connection.reconnects == 0 and .uris[0].attempts == 1' \
      '(.connection.local_address | startswith("127.0.0.1:"))'
  else
    assert_jsons sum.json \
      '.connection.planner.decision == "resume"' \
      '.connection.reconnects == 1 and .uris[0].attempts == 2' \
      '.uris[0].responses[0] == "200 whole"' \
      '(.uris[0].responses[1] | startswith("206 range "))' \
      "$RESUMED_FROM > 0" \
      '(.connection.local_address | startswith("127.0.0.3:"))'
    [ "$CASE" = qamp-refused-drop ] &&
      assert_jsons sum.json '.connection.planner.reason == "old-path-gone-resume"'
  fi
  [ "$RC" = 0 ] || fail "exit status $RC"
  pass "$CASE: refused migration handled, body byte-exact"
}
case_qamp_refused_reconnect_resume() { qamp_refused; }
case_qamp_refused_stay() { qamp_refused; }
case_qamp_refused_drop() { qamp_refused; }

migrate_after_move() {
  # Migrate after the move to the preferred address. qamp-server: handshake address `none`,
  # preferred address `any`. semantics-draft28: the server speaks ext (its default; the client
  # announced every spelling); legacy-server-dam: --policy-spelling= makes it a legacy RFC 9000 server (no 0x2d50
  # echo, no 0x2d51) that says the same with a plain 0x0c, which the client must read per
  # RFC 9000 §18.2: handshake `none`, preferred addresses `any`.
  #   per-address: level of the SPA is any          -> migrates (rule level-any)
  #   rfc9000:     0x0c covers the handshake address -> migrates (rfc9000-after-move-...)
  #   draft28:     0x0c forbids it for the whole connection -> refused, exactly what stock
  #                ngtcp2 does: gtlsclient, given the same parameters, fails its
  #                --change-local-addr with ERR_INVALID_STATE after the move (control: the
  #                same gtlsclient run migrates when the server sends no 0x0c).
  # Each run gets a fresh server, whose stats must show the move and the migration (or none).
  spelling=()
  want_spelling=$SPELLING
  if [ "$CASE" = legacy-server-dam ]; then
    spelling=(--policy-spelling=)
    want_spelling=rfc9000
  fi
  # 32 MiB at --limit-rate=16M (the client paces its MAX_DATA credit), the change at 10 %: ~1.8 s
  # to validate the new path before the body ends, however fast or loaded the machine is (at
  # loopback speed an unpaced body left ~0.25 s, which a loaded machine sometimes missed).
  N=33554432
  for sem in per-address rfc9000 draft28; do
    start_qampserver --handshake-level none --spa-level any "${spelling[@]}" --stats-file "srv-$sem.json"
    rm -rf dl && mkdir dl
    run_client "client-$sem.log" --semantics "$sem" --strategy stay --network-change 10%=127.0.0.3:0 --limit-rate=16M \
      --download dl --exit-on-all-streams-close --summary "sum-$sem.json" 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/bytes/$N"
    bg_stop "$SERVER_PID"
    [ "$RC" = 0 ] || fail "$sem: exit status $RC"
    checks=(
      '.complete == true and .uris[0].sha256_matches_server == true'
      '.uris[0].bytes == $N and .uris[0].server_sha256 == $sha'
      '.connection.policy.spelling == $spelling'
      '.connection.policy.levels == {"handshake": "none", "spa_v4": "any", "spa_v6": "any"}'
      '.connection.policy.disable_active_migration == true'
      '.connection.moved_to_preferred_address == true'
    )
    srv_checks=('.moves_to_preferred_address == 1 and .datagrams_dropped == 0')
    if [ "$CASE" = legacy-server-dam ]; then
      checks+=('.connection.policy.echoed == 0')
      srv_checks+=('.spellings == {"rfc9000": 1}')
    fi
    if [ "$sem" = draft28 ]; then
      checks+=('.connection.migrations == {"attempted": 0, "refused": 1, "succeeded": 0, "failed": 0}'
        '(.connection.local_address | startswith("127.0.0.1:"))')
      srv_checks+=('.migrations == 0')
      assert_grep '^qamp: migration: refused-by-policy \(reason: draft28-disable-active-migration\) .*"state":"on-preferred-address -> on-preferred-address"' "client-$sem.log"
    else
      rule=level-any
      [ "$sem" = rfc9000 ] && rule=rfc9000-after-move-to-preferred-address
      rule=$(allowed_reason "$sem" "$rule")
      checks+=('.connection.migrations == {"attempted": 1, "refused": 0, "succeeded": 1, "failed": 0}'
        '(.connection.local_address | startswith("127.0.0.3:"))')
      srv_checks+=('.migrations == 1')
      assert_grep "^qamp: migration: start-path-validation \\(reason: $rule\\) .*\"state\":\"on-preferred-address -> validating-migration\"" "client-$sem.log"
    fi
    assert_jsons "sum-$sem.json" --argjson N "$N" --arg sha "$(sha256_of "dl/$N")" --arg spelling "$want_spelling" \
      "${checks[@]}"
    assert_jsons "srv-$sem.json" "${srv_checks[@]}"
  done
  # Stock ngtcp2 (gtlsclient) against the same parameters, and against a server without 0x0c.
  # gtlsclient is a legacy client, so it gets plain RFC 9000 parameters in both cases.
  if [ "$CASE" = semantics-draft28 ]; then
    for hs in none any; do
      start_qampserver --handshake-level "$hs" --spa-level any --stats-file "srv-stock-$hs.json"
      rm -rf dl && mkdir dl
      timeout 60 "$GTLSCLIENT" -q --exit-on-all-streams-close --download=dl --change-local-addr=150ms \
        127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/104857600" >"stock-$hs.out" 2>"stock-$hs.log"
      rc=$?
      bg_stop "$SERVER_PID"
      [ "$rc" = 0 ] || fail "gtlsclient (handshake $hs): exit status $rc"
      [ "$(file_size dl/104857600)" = 104857600 ] || fail "gtlsclient (handshake $hs): incomplete body"
      if [ "$hs" = none ]; then
        assert_grep 'ngtcp2_conn_initiate_(immediate_)?migration: ERR_INVALID_STATE' "stock-$hs.log"
        assert_jsons "srv-stock-$hs.json" '.moves_to_preferred_address == 1' '.migrations == 0'
      else
        grep -q ERR_INVALID_STATE "stock-$hs.log" && fail "gtlsclient refused to migrate without 0x0c"
        assert_jsons "srv-stock-$hs.json" '.moves_to_preferred_address == 1' '.migrations == 1'
      fi
    done
  fi
  pass "$CASE ($want_spelling): after the move per-address and rfc9000 migrate, draft28 refuses$([ "$CASE" = semantics-draft28 ] && echo ', as stock gtlsclient does')"
}
case_semantics_draft28() { migrate_after_move; }
case_legacy_server_dam() { migrate_after_move; }

case_malformed_policy_support() {
  # A client whose migration_policy_support (0x2d50) is malformed: qamp-server must close the
  # handshake with TRANSPORT_PARAMETER_ERROR (0x8, DESIGN.md §3, RFC 9000 §7.4), seen by the
  # client (stderr and summary) and counted by the server. Control: a well-formed raw value.
  #   0a0b  a 1-byte varint followed by a stray byte (2 bytes where one varint is expected)
  #   ""    an empty value
  #   c0    an 8-byte varint cut after its first byte
  for raw in 0a0b "" c0 07; do
    start_qampserver --stats-file "srv-$raw.json"
    rm -rf dl && mkdir dl
    run_client "client-$raw.log" --send-policy-support-raw "$raw" --download dl --exit-on-all-streams-close \
      --summary "sum-$raw.json" 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/65536"
    bg_stop "$SERVER_PID"
    s="sum-$raw.json"
    assert_grep "^qamp: policy: send-raw-support .*\"value_hex\":\"$raw\"" "client-$raw.log"
    if [ "$raw" = 07 ]; then
      [ "$RC" = 0 ] || fail "raw 07 (all spellings, well formed): exit status $RC"
      assert_jsons "$s" --arg spelling "$SPELLING" '.complete == true and .connection.policy.spelling == $spelling'
      assert_jsons "srv-$raw.json" '.transport_parameter_errors == 0'
      continue
    fi
    [ "$RC" != 0 ] || fail "raw '$raw': exit status 0 for a refused handshake"
    [ "$RC" = 1 ] || fail "raw '$raw': exit status $RC, expected 1"
    assert_grep '^qamp-client: error: the server closed the connection with transport error code 0x8 TRANSPORT_PARAMETER_ERROR' "client-$raw.log"
    assert_jsons "$s" --arg raw "$raw" '.complete == false and .exit_code == 1' \
      '.connection.close.by == "server" and .connection.close.kind == "transport"' \
      '.connection.close.error_code == 8 and .connection.close.error_code_hex == "0x8"' \
      '.connection.close.error_name == "TRANSPORT_PARAMETER_ERROR"' \
      '.connection.policy.raw_support_sent == $raw'
    assert_jsons "srv-$raw.json" '.transport_parameter_errors == 1 and .connections == 1'
    assert_grep 'closing: ERR_(MALFORMED_)?TRANSPORT_PARAM \(error code 0x8\)' server.log
  done
  pass "malformed 0x2d50 (0a0b, empty, c0): TRANSPORT_PARAMETER_ERROR 0x8 seen by client and server"
}

# throttled_server QUEUE [RELAY ARGS...]: qamp-server on 127.0.0.1:$SPORT forbidding every
# migration (--handshake-level none, stats in srv.json), the stock client's reference download of
# /bytes/$N into ref/, and throttle_relay on 127.0.0.1:$PORT in front of it at $RATE (the old
# network) with a QUEUE-byte queue; RELAY ARGS go after its stats file (new rate, old death).
throttled_server() {
  local queue=$1
  shift
  SPORT=$(free_udp_port 127.0.0.1)
  bg_start server.log "$QAMP_SERVER" -q "${SERVER_ENF[@]}" 127.0.0.1 "$SPORT" key.pem cert.pem --handshake-level none \
    --stats-file srv.json
  SERVER_PID=$BG_PID
  wait_udp_port 127.0.0.1 "$SPORT"
  reference_download "https://127.0.0.1:$SPORT/bytes/$N" "$N" "$SPORT"
  PORT=$(free_udp_port 127.0.0.1)
  bg_start relay.log "$THROTTLE_RELAY" 127.0.0.1:"$PORT" 127.0.0.1:"$SPORT" "$RATE" "$queue" 60000 relay.json "$@"
  RELAY_PID=$BG_PID
  wait_udp_port 127.0.0.1 "$PORT"
}

planner() {
  # A forbidden network change at AT % of a resumable and of a non-resumable body: the
  # decision the planner promises, carried out, and a byte-exact body.
  #
  # Topology: client -> throttle_relay 127.0.0.1:PORT -> qamp-server 127.0.0.1:SPORT, which
  # forbids every migration on its only address (--handshake-level none, no preferred
  # address). The relay rate-limits the client's first address (127.0.0.1, the old network)
  # to RATE = 4 MiB/s (token bucket, 128 KiB tail-drop queue) and forwards any other client
  # address unthrottled. At AT % the client's network becomes 127.0.0.3: the Migrator refuses
  # (level-none), the planner decides, and a new connection from 127.0.0.3 (if any) runs at
  # loopback speed. The client is told --new-path-rate 20M (5 x RATE).
  #
  # Figures (body B = 32 MiB, p = AT/100, old rate r ~ 4 MiB/s, new rate R = 20 MiB/s, setup
  # s = 2 x the old path's smoothed RTT, tens of ms):
  #   stay    = (1-p) B / r       5 %: 7.6 s   50 %: 4.0 s   95 %: 0.40 s
  #   resume  = s + (1-p) B / R   5 %: 1.5 s   50 %: 0.8 s   95 %: 0.08 s + s   (resumable only)
  #   restart = s + B / R              1.6 s         1.6 s          1.6 s
  # so resumable -> resume at 5, 50 and 95 % (at 95 % as long as s < 0.3 s, i.e. RTT < 150 ms);
  # non-resumable -> restart at 5 % and 50 % (stay would need r > 8 MiB/s, twice the
  # throttle), and at 95 % stay with reason non-resumable-near-end-stay: a resume would be
  # quickest but cannot be had, and starting over (1.6 s) costs more than finishing slowly
  # (0.4 s); that holds while the measured r > 1 MiB/s.
  # Besides the fixed answer, every case checks that the decision is the candidate with the
  # least time in the summary's own figures (the planner's promise).
  [ -x "$QAMP_SERVER" ] || fail "no $QAMP_SERVER"
  [ -x "$THROTTLE_RELAY" ] || fail "no $THROTTLE_RELAY"
  RATE=4194304
  QUEUE=131072
  N=33554432
  #          case                       query           AT  decision  reason
  while read -r name query at want reason; do
    [ "$name" = "$CASE" ] && break
  done <<'TABLE'
planner-resumable-5        -              5   resume    resume-faster
planner-resumable-50       -              50  resume    resume-faster
planner-resumable-95       -              95  resume    resume-faster
planner-nonresumable-5     ?resumable=0   5   restart   restart-faster
planner-nonresumable-50    ?resumable=0   50  restart   restart-faster
planner-nonresumable-95    ?resumable=0   95  stay      non-resumable-near-end-stay
TABLE
  [ "$name" = "$CASE" ] || fail "no table row for $CASE"
  [ "$query" = - ] && query=""
  throttled_server "$QUEUE"
  URL="https://127.0.0.1:$PORT/bytes/$N$query"
  t0=$(date +%s.%N)
  # Flow-control windows of 2 MiB (default 16/24 MiB): on the unthrottled new path server and
  # relay outrun a client that shares two cores with them (and writes a qlog), and with 16 MiB
  # in flight its socket (4 MiB, the rmem_max here) overflowed in most runs; the retransmissions
  # pushed the new flow's bytes past the "only the rest" bound below (+8 to +26 %, baseline
  # client too). 2 MiB in flight fits the socket buffer; the new path still runs at 75-180 MB/s.
  run_client client.log --network-change "$at%=127.0.0.3:0" --split=off --new-path-rate 20M --download dl \
    --max-data 2M --max-stream-data-bidi-local 2M \
    --exit-on-all-streams-close --summary sum.json --qlog-file client.sqlog 127.0.0.1 "$PORT" "$URL"
  t1=$(date +%s.%N)
  bg_stop "$RELAY_PID"
  bg_stop "$SERVER_PID"
  [ "$RC" = 0 ] || fail "exit status $RC (client.log)"
  # Byte-exact: size and SHA-256 against the stock client's download, and against the
  # server's x-qamp-body-sha256, hashed here (not by qamp-client).
  same_file "dl/$N" "ref/$N"
  resumable=true
  [ -n "$query" ] && resumable=false
  # $p: the planner's decision, $f: its figures.
  checks=(
    '.complete == true and .uris[0].sha256_matches_server == true'
    '.uris[0].server_sha256 == $sha'
    # The change was forbidden, and refused by the client itself: nothing was probed.
    '.connection.policy.levels.handshake == "none"'
    '.connection.policy.preferred_address == null'
    '.connection.migrations == {"attempted": 0, "refused": 1, "succeeded": 0, "failed": 0}'
    # The planner's inputs are what the test set up.
    '.uris[0].resumable == $resumable and $f.resumable == $resumable'
    '$f.body_size == $N'
    '(100 * $f.received / $N) as $pct | $at <= $pct and $pct < $at + 3'
    '0.5 * $RATE <= $f.old_rate and $f.old_rate <= 1.2 * $RATE'
    '$f.new_rate == 20 * 1024 * 1024'
    # The table's answer, and the planner's promise: the candidate with the least time (a
    # candidate without a figure, null, cannot be had).
    '$p.decision == $want and $p.reason == $reason'
    '["stay", "resume", "restart"] | min_by($f[. + "_s"] // infinite) == $p.decision'
  )
  case "$want" in
    stay)
      checks+=('.connection.reconnects == 0 and .uris[0].responses == ["200 whole"]'
        '(.connection.local_address | startswith("127.0.0.1:"))') ;;
    resume)
      checks+=('.connection.reconnects == 1 and .uris[0].attempts == 2'
        '(.connection.local_address | startswith("127.0.0.3:"))'
        '(.uris[0].responses[1] | startswith("206 range "))'
        "$RESUMED_FROM"' >= $f.received') ;;
    restart)
      checks+=('.connection.reconnects == 1 and .uris[0].attempts == 2'
        '(.connection.local_address | startswith("127.0.0.3:"))'
        '.uris[0].responses == ["200 whole", "200 whole"]') ;;
  esac
  assert_jsons sum.json --arg sha "$(sha256_of "dl/$N")" --argjson resumable "$resumable" --argjson N "$N" \
    --argjson at "$at" --argjson RATE "$RATE" --arg want "$want" --arg reason "$reason" \
    --argjson p "$(json_get sum.json .connection.planner)" --argjson f "$(json_get sum.json .connection.planner.figures)" \
    "${checks[@]}"
  assert_jsons srv.json '.datagrams_dropped == 0 and .migrations == 0 and .transport_parameter_errors == 0'
  assert_grep "^qamp: migration: $REFUSED_BY \\(reason: level-none\\)" client.log
  assert_grep '"name":"qamp:planner"' client.sqlog
  # ... and it was carried out. The relay's first flow is the throttled old network; a second
  # flow exists only when the client reconnected from 127.0.0.3, and it is fast.
  relay_checks=(
    '.flows[0].throttled and (.flows[0].client | startswith("127.0.0.1:"))'
    '.flows[0].down_rate <= 1.1 * $RATE'
  )
  from=-1
  if [ "$want" = stay ]; then
    relay_checks+=('.flows | length == 1')
  else
    relay_checks+=('(.flows | length == 2) and (.flows[1].throttled | not) and (.flows[1].client | startswith("127.0.0.3:"))'
      '.flows[1].down_rate >= 3 * $RATE')
    if [ "$want" = resume ]; then
      # Only the rest crossed the new network: its bytes plus QUIC's per-packet overhead
      # (short header + AEAD tag, ~4 % of 1452-byte packets) and the handshake.
      from=$(json_get sum.json "$RESUMED_FROM")
      relay_checks+=('.flows[1].down_bytes as $b | $N - $from <= $b and $b < ($N - $from) * 1.06 + 262144')
    else
      relay_checks+=('.flows[1].down_bytes >= $N')
    fi
  fi
  assert_jsons relay.json --argjson RATE "$RATE" --argjson N "$N" --argjson from "$from" "${relay_checks[@]}"
  secs=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", t1 - t0 }')
  # A candidate without a figure (null) prints as inf.
  local stay_s resume_s restart_s received body_size old_rate old_rtt_ms done_s figures rate new_rate=-
  read -r stay_s resume_s restart_s received body_size old_rate old_rtt_ms done_s < <(json_get sum.json \
    '. as $top | .connection.planner.figures as $f | [$f.stay_s, $f.resume_s, $f.restart_s] | map(. // "inf")
     + [$f.received, $f.body_size, $f.old_rate, $f.old_rtt_ms, $top.connection.completion_time_s] | @tsv' )
  printf -v figures 'stay %.2f resume %.2f restart %.2f s; received %d of %d at %.0f B/s; old rtt %.1f ms; done in %.2f s' \
    "$stay_s" "$resume_s" "$restart_s" "$received" "$body_size" "$old_rate" "$old_rtt_ms" "$done_s"
  rate=$(json_get relay.json 'if (.flows | length) > 1 then .flows[1].down_rate / 1e6 else "-" end')
  [ "$rate" = - ] || printf -v new_rate '%.1f MB/s' "$rate"
  pass "$CASE: $want ($reason): $figures; new path $new_rate; client ran ${secs}s"
}
case_planner_resumable_5() { planner; }
case_planner_resumable_50() { planner; }
case_planner_resumable_95() { planner; }
case_planner_nonresumable_5() { planner; }
case_planner_nonresumable_50() { planner; }
case_planner_nonresumable_95() { planner; }

split() {
  # Issue 13: a forbidden network change with no hint (no --new-path-rate); the split planner
  # measures both networks and uses them at once. The planner() topology, with the relay's new
  # network given a rate of its own (NEW: bytes/s, 0 unthrottled, -1 a black hole) and, for
  # split-old-dies, the old network dying 500 ms after the new flow appeared. The body is
  # byte-exact in every case (size and SHA-256 against the stock client's download); the
  # summary's ranges say which network carried which bytes, and the relay's per-flow counts
  # (not the client's own figures) show those bytes crossed that network.
  [ -x "$QAMP_SERVER" ] || fail "no $QAMP_SERVER"
  [ -x "$THROTTLE_RELAY" ] || fail "no $THROTTLE_RELAY"
  RATE=4194304
  N=16777216  # 16 MiB: 3.2 s on the old network after a change at 20 %
  #        case                  query          AT  NEW      DIE   file_from            action     reason
  while read -r name query at new die from action reason; do
    [ "$name" = "$CASE" ] && break
  done <<'TABLE'
split-equal            -              20  4194304  -     ranges               stop-old-at  meeting-point
split-new-fast         -              20  0        -     ranges               drop-old     old-contribution-small
split-new-slow         -              20  838861   -     ranges               stop-old-at  meeting-point
split-old-dies         -              20  4194304  500   ranges               drop-old     old-path-failed
split-new-black-hole   -              20  -1       -     ranges               drop-new     new-handshake-failed
split-race-old-wins    ?resumable=0   50  4194304  -     ranges               drop-new     race-old-wins
split-race-new-wins    ?resumable=0   20  0        -     new-connection-copy  drop-old     race-new-wins
split-ignored-range    ?ranges=ignored 20 4194304  -     ranges               drop-new     race-old-wins
split-new-version      ?etag=changes  20  0        -     new-connection-copy  start-over   validator-changed
split-unknown-length   ?length=unknown 1s 0        -     ranges               drop-old     race-new-wins
TABLE
  [ "$name" = "$CASE" ] || fail "no table row for $CASE"
  [ "$query" = - ] && query=""
  local relay_extra=("$new")
  [ "$die" = - ] || relay_extra+=("$die")
  throttled_server 131072 "${relay_extra[@]}"
  # --timeout: a black-holed new network fails its handshake (2 s, before the old connection is
  # done), a dead old network its connection (1 s, while the new one still fetches holes).
  # Windows of 2 MiB as in planner().
  local timeout=2s
  [ "$die" = - ] || timeout=1s
  # AT: a share of the body ("20" = 20 %), or a time ("1s": with no content-length there is no share).
  local change="$at%"
  [[ $at == *s ]] && change=$at
  run_client client.log --network-change "$change=127.0.0.3:0" --timeout "$timeout" --download dl \
    --max-data 2M --max-stream-data-bidi-local 2M \
    --exit-on-all-streams-close --summary sum.json --qlog-file client.sqlog 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/$N$query"
  bg_stop "$RELAY_PID"
  bg_stop "$SERVER_PID"
  [ "$RC" = 0 ] || fail "exit status $RC (client.log)"
  same_file "dl/$N" "ref/$N"
  local s='.connection.split'
  checks=(
    '.complete == true and .uris[0].sha256_matches_server == true and .uris[0].server_sha256 == $sha'
    '.connection.migrations.refused == 1 and .connection.migrations.attempted == 0'
    '.connection.planner.decision == "split" and .connection.planner.figures.new_rate == null'
    "$s"'.completed == true and '"$s"'.mode == "complete" and '"$s"'.file_from == $from'
    # The planner's action and reason this row is about (one of $pairs, "action/reason,...").
    "[$s"'.actions[] | "\(.action)/\(.reason)"] as $seen | [$pairs | split(",")[] | . as $p | $seen | index($p)] | any'
  )
  # The change came at AT % of the body.
  [[ $at == *s ]] || checks+=("(100 * $s"'.received_at_change / ($N)) as $p | ($at | tonumber) <= $p and $p < ($at | tonumber) + 3')
  if [ "$from" = ranges ]; then
    checks+=(
      # The ranges tile the body: contiguous from 0 to N, each named by its network.
      "$s"'.ranges as $r | $r[0].begin == 0 and $r[-1].end == $N and
         ([range(1; $r | length) | $r[.].begin == $r[. - 1].end] | all) and
         ([$r[].network] - ["old", "new"] | length == 0)'
      "$s"'.file_bytes_old + '"$s"'.file_bytes_new == $N'
    )
  else
    checks+=("$s"'.ranges == [{"begin": 0, "end": $N, "network": "new"}]')
  fi
  # What the rest (the bytes left at the change) came over.
  local rest="($N - $s.received_at_change)" new_share="($s.file_bytes_new / ($N - $s.received_at_change))"
  case "$CASE" in
    split-equal) checks+=("$new_share >= 0.33 and $new_share <= 0.67") ;;
    # Unthrottled means as fast as the CPU moves it: under ASan the new connection's start cost
    # 0.37 s of the old network's 4 MiB/s once (a share of 0.885). The row's point is the
    # contrast with split-equal (at most 0.67), not a speed (bench/ measures those).
    split-new-fast) checks+=("$new_share >= 0.7") ;;
    split-new-slow) checks+=("$new_share >= 0.05 and $new_share <= 0.35") ;;
    split-old-dies) checks+=("$new_share >= 0.5") ;;
    split-new-black-hole) checks+=("$s.file_bytes_new == 0 and $s.new_handshake_s == null") ;;
    split-race-old-wins) checks+=("$s.file_bytes_new == 0 and $s.bytes_not_kept <= 8388608 + 1048576") ;;
    split-race-new-wins) checks+=("$s.request_bytes_new == $N") ;;
    # The server answered the tail chunk with 200 (Range ignored): raced, never written at an
    # offset; the old connection, 3.2 s from done against 4 s for the whole body, wins.
    split-ignored-range) checks+=("$s.responses[\"200\"] >= 1 and $s.responses[\"206\"] == 0 and $s.file_bytes_new == 0") ;;
    # If-Range failed (another ETag): the new version from byte 0, nothing of the old one kept.
    # No content-length: no tail to split, so an open-ended resume (bytes=Y-) races the old
    # stream; the new network is faster and ahead: its range after the old prefix is the rest.
    split-unknown-length) checks+=('.connection.planner.figures.body_size == null' "$s.responses[\"206\"] == 1"
      "$s.ranges | length == 2 and .[1].network == \"new\"") ;;
    split-new-version) checks+=("$s.responses[\"200\"] >= 1 and $s.responses[\"206\"] == 0"
      '[.connection.split.actions[] | select(.action == "drop-old") | .reason] == ["validator-changed"]') ;;
  esac
  local pairs="$action/$reason"
  # A new network far faster than the old: the old stream's part is small either way. Whether the
  # planner drops it (old-contribution-small) or the tail chunks reach its offset first
  # (meeting-point) depends on how far the old stream got by then: under ASan, with its CPU cost
  # on 2 cores, CI saw the meeting point win once. What this row is about, the new network
  # carrying most of the rest (>= 70 %, above split-equal's band), is checked by the share above.
  [ "$CASE" = split-new-fast ] && pairs+=",stop-old-at/meeting-point"
  assert_jsons sum.json --arg sha "$(sha256_of "dl/$N")" --argjson N "$N" --arg at "$at" --arg from "$from" \
    --arg pairs "$pairs" "${checks[@]}"
  assert_grep '^qamp: planner: split \(reason: measure-both-networks\)' client.log
  assert_grep '"name":"qamp:split"' client.sqlog
  assert_jsons srv.json '.datagrams_dropped == 0 and .migrations == 0'
  # The relay's own counts: the old network is the first flow, the new network the second; each
  # carried at least the body bytes the file took from it (QUIC adds headers, never removes).
  local fo fn
  fo=$(json_get sum.json "$s.file_bytes_old")
  fn=$(json_get sum.json "$s.file_bytes_new")
  relay_checks=(
    '.flows[0].throttled and (.flows[0].client | startswith("127.0.0.1:"))'
    '(.flows | length == 2) and (.flows[1].client | startswith("127.0.0.3:"))'
    '.flows[0].down_bytes >= $fo and .flows[1].down_bytes >= $fn'
  )
  case "$CASE" in
    split-old-dies) relay_checks+=('.flows[0].dead_dropped > 0') ;;
    split-new-black-hole) relay_checks+=('.flows[1].down_bytes == 0') ;;
    split-race-new-wins | split-new-version) relay_checks+=('.flows[1].down_bytes >= $N') ;;
  esac
  assert_jsons relay.json --argjson fo "$fo" --argjson fn "$fn" --argjson N "$N" "${relay_checks[@]}"
  pass "$CASE: $action ($reason); the file: $fo bytes over the old network, $fn over the new; $(json_get sum.json \
    "$s | \"not kept \\(.bytes_not_kept), old \\(.old_rate // 0 | floor) B/s, new \\(.new_rate // 0 | floor) B/s\"")"
}
case_split_equal() { split; }
case_split_new_fast() { split; }
case_split_new_slow() { split; }
case_split_old_dies() { split; }
case_split_new_black_hole() { split; }
case_split_race_old_wins() { split; }
case_split_race_new_wins() { split; }
case_split_ignored_range() { split; }
case_split_new_version() { split; }
case_split_unknown_length() { split; }

case_resume_corrupt_prefix() {
  # The verdict is about the saved file, not the bytes received: a resumed download whose
  # already-saved prefix changed on disk before the resume must not be reported complete.
  # The planner-resumable-50 set-up (throttled old network, forbidden change at 50 %, resume
  # with Range from 127.0.0.3); at >= 4 MiB saved, one byte at 1 MiB is flipped in the file.
  # qamp-client hashes the file as it is written (in a helper thread); on a resume it must
  # hash the kept prefix again from the file, so the flip shows as a SHA-256 mismatch with
  # the server's x-qamp-body-sha256. (A digest of the received bytes would miss it.)
  [ -x "$QAMP_SERVER" ] || fail "no $QAMP_SERVER"
  [ -x "$THROTTLE_RELAY" ] || fail "no $THROTTLE_RELAY"
  N=33554432
  FLIP=1048576
  SPORT=$(free_udp_port 127.0.0.1)
  bg_start server.log "$QAMP_SERVER" -q "${SERVER_ENF[@]}" 127.0.0.1 "$SPORT" key.pem cert.pem --handshake-level none
  SERVER_PID=$BG_PID
  wait_udp_port 127.0.0.1 "$SPORT"
  reference_download "https://127.0.0.1:$SPORT/bytes/$N" "$N" "$SPORT"
  PORT=$(free_udp_port 127.0.0.1)
  bg_start relay.log "$THROTTLE_RELAY" 127.0.0.1:"$PORT" 127.0.0.1:"$SPORT" 4194304 131072 60000 relay.json
  RELAY_PID=$BG_PID
  wait_udp_port 127.0.0.1 "$PORT"
  bg_start client.log timeout 60 "$CLIENT" "$(client_enf)" --follow-network=off "${CLIENT_TLS[@]}" --network-change 50%=127.0.0.3:0 --split=off --new-path-rate 20M \
    --download dl --max-data 2M --max-stream-data-bidi-local 2M --exit-on-all-streams-close \
    --summary sum.json 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/$N"
  CLIENT_PID=$BG_PID
  # The body is written to a temporary dl/.$N.qamp-XXXXXX until it is complete; a hard link
  # ("kept") lets the test judge those bytes after qamp-client removed the failed download.
  wait_partial ".$N.qamp-*" 4194304 400
  [ -n "$tmp" ] || fail "no temporary file dl/.$N.qamp-* appeared"
  # Flip the byte in place (the client keeps the file open); note how much was saved by then.
  ln "$tmp" kept || fail "cannot link dl/$N"
  byte=$(od -An -tu1 -j "$FLIP" -N1 "$tmp" | tr -d ' ')
  [ -n "$byte" ] && printf "\\$(printf %03o $((byte ^ 255)))" | dd of="$tmp" bs=1 seek="$FLIP" conv=notrunc status=none ||
    fail "cannot flip a byte of dl/$N"
  flipped_at=$(file_size "$tmp")
  wait "$CLIENT_PID"
  RC=$?
  bg_stop "$RELAY_PID"
  bg_stop "$SERVER_PID"
  from=$(json_get sum.json "if (.uris[0].responses | length) > 1 then $RESUMED_FROM else -1 end")
  [ "$from" -gt "$flipped_at" ] ||
    fail "the flip (at $flipped_at bytes saved) did not come before the resume (from $from): machine too slow?"
  [ -e "dl/$N" ] && fail "a body that differs from the server's was saved as dl/$N"
  no_temp_files dl
  [ "$(file_size kept)" = "$N" ] || fail "the temporary file had $(file_size kept) bytes, expected $N"
  [ "$(sha256_of kept)" != "$(sha256_of "ref/$N")" ] || fail "the flipped byte did not stay in the file"
  [ "$RC" = 1 ] || fail "exit status $RC for a saved file that differs from the server's body, expected 1"
  assert_jsons sum.json --argjson N "$N" --arg server_sha "$(sha256_of "ref/$N")" --arg kept_sha "$(sha256_of kept)" \
    '.complete == false and .uris[0].complete == false' \
    '.connection.reconnects == 1 and (.uris[0].responses[1] | startswith("206 range "))' \
    '.uris[0].bytes == $N' \
    '.uris[0].sha256_matches_server == false' \
    '.uris[0].server_sha256 == $server_sha' \
    '.uris[0].sha256 == $kept_sha' \
    '.uris[0].error | contains("SHA-256 mismatch")'
  assert_grep 'SHA-256 mismatch' client.log
  pass "a byte flipped in the saved prefix before the resume (at $flipped_at bytes, resumed from $from) is caught: SHA-256 of the saved file reported, exit 1"
}

case_reset_on_probe() {
  # A 4-tuple load balancer (lb4_relay) sends the client's probe from its new address to a
  # second instance that does not know the connection and resets it (same static secret, so
  # the token is the one the first instance advertised). Without the hardening the reset kills
  # the healthy connection; with --ignore-reset-on-probe the download finishes on the old path.
  [ -x "$QAMP_SERVER" ] || fail "no $QAMP_SERVER"
  [ -x "$LB4_RELAY" ] || fail "no $LB4_RELAY"
  head -c 32 /dev/urandom >secret.bin
  PA=$(free_udp_port 127.0.0.1)
  bg_start a.log "$QAMP_SERVER" -q "${SERVER_ENF[@]}" 127.0.0.1 "$PA" key.pem cert.pem --static-secret=secret.bin
  wait_udp_port 127.0.0.1 "$PA"
  PB=$(free_udp_port 127.0.0.1)
  bg_start b.log "$QAMP_SERVER" -q "${SERVER_ENF[@]}" 127.0.0.1 "$PB" key.pem cert.pem --static-secret=secret.bin
  wait_udp_port 127.0.0.1 "$PB"
  for mode in plain hardened; do
    PORT=$(free_udp_port 127.0.0.1)
    bg_start "relay-$mode.log" "$LB4_RELAY" 127.0.0.1:"$PORT" 127.0.0.1:"$PA" 127.0.0.1:"$PB" 60000 "relay-$mode.json"
    RELAY_PID=$BG_PID
    wait_udp_port 127.0.0.1 "$PORT"
    flag=()
    [ "$mode" = hardened ] && flag=(--ignore-reset-on-probe)
    rm -rf dl && mkdir dl
    run_client "client-$mode.log" "${flag[@]}" --network-change 30%=127.0.0.3:0 --download dl \
      --exit-on-all-streams-close --summary "sum-$mode.json" 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/bytes/8388608"
    bg_stop "$RELAY_PID"
    jq -e '.from_b >= 1' "relay-$mode.json" >/dev/null ||
      fail "$mode: the second instance answered nothing (relay-$mode.json)"
    if [ "$mode" = plain ]; then
      [ "$RC" = 1 ] || fail "plain: exit status $RC, expected 1 (connection reset)"
      assert_jsons sum-plain.json \
        '.complete == false' \
        'any(.connection.errors[]; contains("stateless reset"))'
    else
      [ "$RC" = 0 ] || fail "hardened: exit status $RC"
      assert_jsons sum-hardened.json \
        '.complete == true and .uris[0].sha256_matches_server == true' \
        '.connection.migrator.resets_ignored >= 1'
      assert_grep '^qamp: migration: ignored-reset-on-probe' client-hardened.log
    fi
  done
  pass "a reset on the probed path kills the plain client, the hardened one finishes"
}

case_duplicate_basenames() {
  # Two <URI>s saving to one file name are refused before connecting (exit 2, both named):
  # one file cannot hold both bodies, and reporting both complete would be a lie. Nothing
  # listens on the port: a client that connected would time out and exit 1 instead.
  PORT=$(free_udp_port 127.0.0.1)
  echo keep >dl/f
  start=$(date +%s)
  run_client client.log --download dl --timeout 5s 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/a/f" \
    "https://127.0.0.1:$PORT/b/f?x=1"
  [ "$RC" = 2 ] || fail "exit status $RC for duplicate target names, expected 2"
  [ $(($(date +%s) - start)) -lt 4 ] || fail "the refusal took until a timeout (it must come before connecting)"
  assert_grep "'https://127.0.0.1:$PORT/a/f' and 'https://127.0.0.1:$PORT/b/f\?x=1' would both be saved as dl/f" client.log
  assert_grep '^Usage: qamp-client' client.log
  [ "$(cat dl/f)" = keep ] || fail "dl/f was touched"
  no_temp_files dl
  # Without --download nothing is saved: the same URIs are fine (both hashed in memory).
  make_file htdocs/f 65536
  mkdir -p htdocs/a htdocs/b
  cp htdocs/f htdocs/a/f
  cp htdocs/f htdocs/b/f
  start_gtlsserver
  run_client client2.log --exit-on-all-streams-close --summary sum.json 127.0.0.1 "$PORT" \
    "https://127.0.0.1:$PORT/a/f" "https://127.0.0.1:$PORT/b/f"
  [ "$RC" = 0 ] || fail "exit status $RC without --download"
  assert_jsons sum.json --arg sha "$(sha256_of htdocs/f)" '.complete == true' \
    'all(.uris[]; .sha256 == $sha and .file == null)'
  pass "duplicate basenames refused before connecting (exit 2), existing file untouched"
}

case_saved_file_safety() {
  # A failed download (404) leaves an existing file intact; a symlink planted at the target is
  # replaced by the body, never followed (its target unchanged), also when the download fails.
  make_file htdocs/f1m 1048576
  echo "precious" >precious
  echo "old contents" >dl/missing
  old=$(sha256_of dl/missing)
  ln -s ../precious dl/f1m
  ln -s ../precious dl/gone
  start_gtlsserver
  run_client client.log --download dl --exit-on-all-streams-close --summary sum.json 127.0.0.1 "$PORT" \
    "https://127.0.0.1:$PORT/missing" "https://127.0.0.1:$PORT/f1m" "https://127.0.0.1:$PORT/gone"
  [ "$RC" = 1 ] || fail "exit status $RC with two 404s, expected 1"
  [ "$(sha256_of dl/missing)" = "$old" ] || fail "a 404 changed the existing dl/missing"
  [ "$(cat precious)" = precious ] || fail "the symlink target ../precious was written through"
  [ -L dl/gone ] && [ "$(readlink dl/gone)" = ../precious ] || fail "a failed download replaced the symlink dl/gone"
  [ -L dl/f1m ] && fail "dl/f1m is still a symlink after a complete download"
  same_file dl/f1m htdocs/f1m
  no_temp_files dl
  assert_jsons sum.json \
    '.uris[0].complete == false and .uris[0].saved == false and .uris[0].status == 404' \
    '.uris[1].complete == true and .uris[1].saved == true' \
    '.uris[2].complete == false and .uris[2].saved == false'
  pass "404 keeps the existing file, a planted symlink is replaced and never followed"
}

case_cert_verification() {
  # The server certificate is verified: against --ca-file, against the system store by
  # default (where a self-signed lab certificate is unknown), for the name the client
  # connects to; --insecure skips it with a warning. A failed check fails the handshake
  # with the reason, and nothing is saved.
  make_file htdocs/f256k 262144
  gen_cert other
  start_gtlsserver
  url="https://127.0.0.1:$PORT/f256k"
  for tls in "--ca-file other/cert.pem" "" "--ca-file cert.pem --sni wrong.example"; do
    rm -rf dl && mkdir dl
    run_client_tls client-bad.log "$tls" --download dl --exit-on-all-streams-close --summary sum-bad.json \
      127.0.0.1 "$PORT" "$url"
    [ "$RC" = 1 ] || fail "'$tls': exit status $RC, expected 1"
    assert_grep 'the server certificate did not verify: ' client-bad.log
    [ -e dl/f256k ] && fail "'$tls': a body was saved from an unverified server"
    no_temp_files dl
    assert_jsons sum-bad.json '.complete == false' '.uris[0].bytes == 0'
    echo "  '$tls': $(grep -m1 'did not verify' client-bad.log)"
  done
  rm -rf dl && mkdir dl
  run_client_tls client-ok.log "--ca-file cert.pem" --download dl --exit-on-all-streams-close 127.0.0.1 "$PORT" "$url"
  [ "$RC" = 0 ] || fail "--ca-file cert.pem: exit status $RC"
  same_file dl/f256k htdocs/f256k
  grep -q 'warning' client-ok.log && fail "a warning without --insecure"
  rm -rf dl && mkdir dl
  run_client_tls client-insecure.log "--insecure" --download dl --exit-on-all-streams-close 127.0.0.1 "$PORT" "$url"
  [ "$RC" = 0 ] || fail "--insecure: exit status $RC"
  same_file dl/f256k htdocs/f256k
  [ "$(grep -c '^qamp-client: warning: --insecure: the server certificate is NOT verified' client-insecure.log)" = 1 ] ||
    fail "--insecure: no (or more than one) warning"
  run_client_tls client-noca.log "--ca-file nonexistent.pem" --download dl 127.0.0.1 "$PORT" "$url"
  [ "$RC" = 1 ] || fail "--ca-file nonexistent.pem: exit status $RC"
  assert_grep '--ca-file nonexistent.pem: ' client-noca.log
  "$CLIENT" --ca-file cert.pem --insecure 127.0.0.1 "$PORT" >out.txt 2>err.txt
  rc=$?
  [ "$rc" = 2 ] || fail "--ca-file with --insecure exited $rc, expected 2"
  pass "wrong CA / system store / wrong name fail the handshake with the reason; --ca-file ok; --insecure ok, warned once"
}

case_no_digest() {
  # gtlsserver sends no x-qamp-body-sha256: the body is complete by size only, and says so;
  # it is never reported as matching the server.
  make_file htdocs/f1m 1048576
  start_gtlsserver
  run_client client.log --download dl --exit-on-all-streams-close --summary sum.json 127.0.0.1 "$PORT" \
    "https://127.0.0.1:$PORT/f1m"
  [ "$RC" = 0 ] || fail "exit status $RC"
  same_file dl/f1m htdocs/f1m
  assert_grep 'complete: .*f1m: 1048576 bytes, sha256 [0-9a-f]{64} \(no digest from the server: checked by size only\)' client.log
  grep -q 'matches the server' client.log && fail "reported as matching the server without a digest"
  assert_jsons sum.json \
    '.uris[0].server_sha256 == null and .uris[0].sha256_matches_server == null' \
    '.uris[0].verified_by == "size"'
  # qamp-server sends one: verified by SHA-256.
  bg_stop "$SERVER_PID"
  start_qampserver
  run_client client2.log --download dl --exit-on-all-streams-close --summary sum2.json 127.0.0.1 "$PORT" \
    "https://127.0.0.1:$PORT/bytes/65536"
  [ "$RC" = 0 ] || fail "qamp-server: exit status $RC"
  assert_grep "matches the server's x-qamp-body-sha256" client2.log
  assert_jsons sum2.json '.uris[0].sha256_matches_server == true and .uris[0].verified_by == "sha256"'
  pass "no digest from gtlsserver: size only, said so; qamp-server's digest: sha256"
}

e2e_select "$HERE/cases.txt" "$@"
setup
"case_${CASE//-/_}"
