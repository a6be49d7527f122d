#!/usr/bin/env bash
# tests/e2e/client/client_e2e.sh BUILD_ROOT CASE — qamp-client against the stock ngtcp2 server
# (gtlsserver 1.11, a legacy RFC 9000 server: no qamp TPs, no 0x0c) over loopback.
# Every case judges by the saved bytes (size + SHA-256) and the summary, never by exit status
# alone.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

BUILD=${1:?build root}
CASE=${2:?case}
CLIENT=$BUILD/examples/client/qamp-client
QAMP_SERVER=$BUILD/examples/server/qamp-server
LB4_RELAY=$BUILD/tests/e2e/client/lb4_relay
GTLSSERVER=${GTLSSERVER:-/usr/sbin/gtlsserver}
GTLSCLIENT=${GTLSCLIENT:-/usr/bin/gtlsclient}
[ -x "$CLIENT" ] || fail "no $CLIENT"
[ -x "$GTLSSERVER" ] || fail "no $GTLSSERVER (apt-get install ngtcp2-server)"

e2e_init
cd "$E2E_DIR" || exit 1
gen_cert "$E2E_DIR"
mkdir -p htdocs dl

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
  bg_start server.log "$QAMP_SERVER" -q 127.0.0.1 "$PORT" key.pem cert.pem \
    --preferred-ipv4-addr=127.0.0.2:"$SPA_PORT" "$@"
  SERVER_PID=$BG_PID
  wait_udp_port 127.0.0.1 "$PORT"
}

# reference_download URL FILE: the same body fetched by the stock client (an independent
# implementation), so byte-exactness is not judged by qamp-client alone.
reference_download() {
  mkdir -p ref
  timeout 60 "$GTLSCLIENT" -q --exit-on-all-streams-close --download=ref 127.0.0.1 "$PORT" "$1" \
    >ref.log 2>&1 || fail "gtlsclient reference download failed (ref.log)"
  [ -f "ref/$2" ] || fail "gtlsclient saved no ref/$2"
}

run_client() {  # run_client LOG ARGS... ; sets RC
  local log=$1
  shift
  timeout 60 "$CLIENT" "$@" >"$log.out" 2>"$log"
  RC=$?
}

case "$CASE" in
  stock-spa-download)
    # (1) 3 MB byte-exact from the stock server, moving to its preferred IPv4 address.
    make_file htdocs/f3m 3145728
    start_gtlsserver
    run_client client.log --download dl --exit-on-all-streams-close --summary sum.json -q \
      --qlog-file client.sqlog 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/f3m"
    assert_same_file dl/f3m htdocs/f3m
    assert_json sum.json 'd["complete"] and d["uris"][0]["complete"] and d["uris"][0]["bytes"] == 3145728'
    assert_json sum.json "d['uris'][0]['sha256'] == '$(sha256_of htdocs/f3m)'"
    assert_json sum.json 'd["uris"][0]["sha256_matches_server"] is None'
    assert_json sum.json 'd["connection"]["moved_to_preferred_address"] is True'
    assert_json sum.json "d['connection']['server_address'] == '127.0.0.2:$SPA_PORT'"
    assert_json sum.json 'd["connection"]["server_family"] == "ipv4"'
    assert_json sum.json 'd["connection"]["policy"]["spelling"] == "rfc9000"'
    assert_grep '^qamp: migration: start-preferred-address-validation .*"family":"same-family"' client.log
    assert_grep '^qamp: migration: moved-to-preferred-address' client.log
    assert_grep '"name":"qamp:migration".*"outcome":"moved-to-preferred-address"' client.sqlog
    [ "$RC" = 0 ] || fail "exit status $RC for a complete download"
    pass "3 MB from gtlsserver, byte-exact, moved to 127.0.0.2:$SPA_PORT"
    ;;

  legacy-policy-support)
    # (2) --policy-support '' is a legacy RFC 9000 client: it announces nothing, still downloads.
    make_file htdocs/f1m 1048576
    start_gtlsserver
    run_client client.log --policy-support '' --download dl --exit-on-all-streams-close \
      --summary sum.json 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/f1m"
    assert_same_file dl/f1m htdocs/f1m
    assert_json sum.json 'd["complete"] is True'
    assert_json sum.json 'd["connection"]["policy"]["announced"] == []'
    assert_json sum.json 'd["connection"]["policy"]["echoed"] == 0'
    assert_json sum.json 'd["connection"]["policy"]["spelling"] == "rfc9000"'
    assert_json sum.json 'd["connection"]["moved_to_preferred_address"] is True'
    [ "$RC" = 0 ] || fail "exit status $RC"
    # The same against qamp-server, which would answer an announcing client in pr3898: a client
    # that sent no 0x2d50 gets plain RFC 9000 parameters (no echo), a default one gets pr3898.
    bg_stop "$SERVER_PID"
    start_qampserver --spa-level none
    for mode in legacy default; do
      flag=()
      [ "$mode" = legacy ] && flag=(--policy-support '')
      rm -rf dl && mkdir dl
      run_client "client-$mode.log" "${flag[@]}" --download dl --exit-on-all-streams-close \
        --summary "sum-$mode.json" 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/bytes/1048576"
      [ "$RC" = 0 ] || fail "$mode vs qamp-server: exit status $RC"
      assert_json "sum-$mode.json" 'd["complete"] is True and d["uris"][0]["sha256_matches_server"] is True'
    done
    assert_json sum-legacy.json 'd["connection"]["policy"]["spelling"] == "rfc9000"'
    assert_json sum-legacy.json 'd["connection"]["policy"]["echoed"] == 0'
    assert_json sum-legacy.json 'd["connection"]["policy"]["announced"] == []'
    assert_json sum-default.json 'd["connection"]["policy"]["spelling"] == "pr3898"'
    assert_json sum-default.json 'd["connection"]["policy"]["levels"]["spa_v4"] == "none"'
    pass "legacy client (no 0x2d50) downloads byte-exact; qamp-server answers it in plain RFC 9000"
    ;;

  network-change-after-spa)
    # (3) the server sends no 0x0c: after the move to the SPA the client's IP change is allowed,
    # attempted, validated, and the body is still byte-exact.
    make_file htdocs/f3m 3145728
    start_gtlsserver
    run_client client.log --network-change 30%=127.0.0.3:0 --download dl --exit-on-all-streams-close \
      --summary sum.json --qlog-file client.sqlog 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/f3m"
    assert_same_file dl/f3m htdocs/f3m
    assert_json sum.json 'd["complete"] is True'
    assert_json sum.json 'd["connection"]["moved_to_preferred_address"] is True'
    assert_json sum.json 'd["connection"]["migrations"]["attempted"] == 1'
    assert_json sum.json 'd["connection"]["migrations"]["refused"] == 0'
    assert_json sum.json 'd["connection"]["migrations"]["succeeded"] == 1'
    assert_json sum.json 'd["connection"]["local_address"].startswith("127.0.0.3:")'
    assert_grep '^qamp: migration: start-path-validation \(reason: level-any\) .*"change":"ip-change".*"state":"on-preferred-address -> validating-migration"' client.log
    assert_grep '^qamp: migration: migrated' client.log
    assert_grep '"name":"qamp:migration".*"outcome":"start-path-validation"' client.sqlog
    [ "$RC" = 0 ] || fail "exit status $RC"
    pass "migration to 127.0.0.3 after the SPA move, byte-exact"
    ;;

  bad-flags)
    # (4) misuse exits 2 with usage on stderr; --help exits 0 with usage on stdout.
    for args in "--bogus 127.0.0.1 4433" "127.0.0.1" "" "--semantics nope 127.0.0.1 4433" \
      "--network-change 40%%=nowhere 127.0.0.1 4433 /x" "--policy-support ext,bogus 127.0.0.1 4433" \
      "--timeout 127.0.0.1 4433 --strategy" "--spa-family v5 127.0.0.1 4433"; do
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
    pass "bad flags exit 2, --help exits 0"
    ;;

  truncated-download)
    # (5) the server dies mid-transfer: the client must report failure (exit 1, complete=false)
    # and say why. A sparse 1 GiB file keeps the transfer running long enough.
    truncate -s 1G htdocs/big
    start_gtlsserver
    bg_start client.log timeout 60 "$CLIENT" --timeout 2s --download dl --exit-on-all-streams-close --summary sum.json \
      127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/big"
    CLIENT_PID=$BG_PID
    # Wait for body bytes to arrive, then kill the server without a goodbye.
    for ((i = 0; i < 200; i++)); do
      [ -f dl/big ] && [ "$(file_size dl/big)" -gt 1000000 ] && break
      sleep 0.05
    done
    [ "$(file_size dl/big)" -gt 0 ] || fail "no body bytes arrived"
    { kill -KILL "$SERVER_PID" && wait "$SERVER_PID"; } 2>/dev/null
    wait "$CLIENT_PID"
    RC=$?
    [ "$RC" = 1 ] || fail "exit status $RC for an incomplete download, expected 1"
    assert_json sum.json 'd["complete"] is False and d["uris"][0]["complete"] is False'
    assert_json sum.json 'd["uris"][0]["bytes"] < 1073741824 and d["uris"][0]["expected_bytes"] == 1073741824'
    assert_json sum.json 'd["uris"][0]["error"] is not None'
    assert_json sum.json 'd["exit_code"] == 1'
    assert_grep 'incomplete' client.log
    [ "$(file_size dl/big)" -lt 1073741824 ] || fail "the whole file arrived before the kill"
    pass "truncated download reported as failure"
    ;;

  qamp-refused-reconnect-resume | qamp-refused-stay | qamp-refused-drop)
    # qamp-server forbids migration on its preferred address (--spa-level none, spelling
    # pr3898): the client's IP change after the move is refused by the Migrator; the planner
    # then stays, or reconnects from the new address and resumes with Range + If-Range.
    start_qampserver --spa-level none
    URL="https://127.0.0.1:$PORT/bytes/3145728"
    reference_download "$URL" 3145728
    case "$CASE" in
      qamp-refused-reconnect-resume) extra=(--strategy reconnect) ;;
      qamp-refused-stay) extra=(--strategy stay) ;;
      qamp-refused-drop) extra=(--old-path-after-change drop) ;;
    esac
    run_client client.log --network-change 30%=127.0.0.3:0 "${extra[@]}" --download dl \
      --exit-on-all-streams-close --summary sum.json --qlog-file client.sqlog 127.0.0.1 "$PORT" "$URL"
    assert_same_file dl/3145728 ref/3145728
    assert_json sum.json 'd["complete"] is True and d["uris"][0]["sha256_matches_server"] is True'
    assert_json sum.json 'd["connection"]["policy"]["spelling"] == "pr3898"'
    assert_json sum.json 'd["connection"]["policy"]["levels"]["spa_v4"] == "none"'
    assert_json sum.json 'd["connection"]["moved_to_preferred_address"] is True'
    assert_json sum.json 'd["connection"]["migrations"]["refused"] == 1'
    assert_json sum.json 'd["connection"]["migrations"]["attempted"] == 0'
    assert_grep '^qamp: migration: refused-by-policy \(reason: level-none\)' client.log
    assert_grep '^qamp: planner: ' client.log
    assert_grep '"name":"qamp:planner"' client.sqlog
    if [ "$CASE" = qamp-refused-stay ]; then
      assert_json sum.json 'd["connection"]["planner"]["decision"] == "stay"'
      assert_json sum.json 'd["connection"]["planner"]["reason"] == "forced-stay"'
      assert_json sum.json 'd["connection"]["reconnects"] == 0 and d["uris"][0]["attempts"] == 1'
      assert_json sum.json 'd["connection"]["local_address"].startswith("127.0.0.1:")'
    else
      assert_json sum.json 'd["connection"]["planner"]["decision"] == "resume"'
      assert_json sum.json 'd["connection"]["reconnects"] == 1 and d["uris"][0]["attempts"] == 2'
      assert_json sum.json 'd["uris"][0]["responses"][0] == "200 whole"'
      assert_json sum.json 'd["uris"][0]["responses"][1].startswith("206 range ")'
      assert_json sum.json 'int(d["uris"][0]["responses"][1].split()[2].rstrip("-")) > 0'
      assert_json sum.json 'd["connection"]["local_address"].startswith("127.0.0.3:")'
      [ "$CASE" = qamp-refused-drop ] &&
        assert_json sum.json 'd["connection"]["planner"]["reason"] == "old-path-gone-resume"'
    fi
    [ "$RC" = 0 ] || fail "exit status $RC"
    pass "$CASE: refused migration handled, body byte-exact"
    ;;

  semantics-draft28)
    # qamp-server: handshake address `none`, preferred address `any`. Under per-address (and
    # rfc9000) semantics the client may migrate after the move; under draft28 (stock ngtcp2's
    # reading) 0x0c forbids it for the whole connection.
    start_qampserver --handshake-level none --spa-level any
    URL="https://127.0.0.1:$PORT/bytes/2097152"
    for sem in per-address draft28; do
      rm -rf dl && mkdir dl
      run_client "client-$sem.log" --semantics "$sem" --strategy stay --network-change 30%=127.0.0.3:0 \
        --download dl --exit-on-all-streams-close --summary "sum-$sem.json" 127.0.0.1 "$PORT" "$URL"
      assert_json "sum-$sem.json" 'd["complete"] is True and d["uris"][0]["sha256_matches_server"] is True'
      assert_json "sum-$sem.json" 'd["connection"]["policy"]["levels"]["handshake"] == "none"'
      [ "$RC" = 0 ] || fail "$sem: exit status $RC"
    done
    assert_json sum-per-address.json 'd["connection"]["migrations"]["succeeded"] == 1'
    assert_grep '^qamp: migration: start-path-validation \(reason: level-any\)' client-per-address.log
    assert_json sum-draft28.json 'd["connection"]["migrations"]["refused"] == 1'
    assert_grep '^qamp: migration: refused-by-policy' client-draft28.log
    pass "per-address migrates after the move, draft28 refuses"
    ;;

  reset-on-probe)
    # A 4-tuple load balancer (lb4_relay) sends the client's probe from its new address to a
    # second instance that does not know the connection and resets it (same static secret, so
    # the token is the one the first instance advertised). Without the hardening the reset kills
    # the healthy connection; with --ignore-reset-on-probe the download finishes on the old path.
    [ -x "$QAMP_SERVER" ] || fail "no $QAMP_SERVER"
    [ -x "$LB4_RELAY" ] || fail "no $LB4_RELAY"
    head -c 32 /dev/urandom >secret.bin
    PA=$(free_udp_port 127.0.0.1)
    bg_start a.log "$QAMP_SERVER" -q 127.0.0.1 "$PA" key.pem cert.pem --static-secret=secret.bin
    wait_udp_port 127.0.0.1 "$PA"
    PB=$(free_udp_port 127.0.0.1)
    bg_start b.log "$QAMP_SERVER" -q 127.0.0.1 "$PB" key.pem cert.pem --static-secret=secret.bin
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
      python3 -c "import json,sys; r=json.load(open('relay-$mode.json')); sys.exit(0 if r['from_b'] >= 1 else 1)" ||
        fail "$mode: the second instance answered nothing (relay-$mode.json)"
      if [ "$mode" = plain ]; then
        [ "$RC" = 1 ] || fail "plain: exit status $RC, expected 1 (connection reset)"
        assert_json sum-plain.json 'd["complete"] is False'
        assert_json sum-plain.json 'any("stateless reset" in e for e in d["connection"]["errors"])'
      else
        [ "$RC" = 0 ] || fail "hardened: exit status $RC"
        assert_json sum-hardened.json 'd["complete"] is True and d["uris"][0]["sha256_matches_server"] is True'
        assert_json sum-hardened.json 'd["connection"]["migrator"]["resets_ignored"] >= 1'
        assert_grep '^qamp: migration: ignored-reset-on-probe' client-hardened.log
      fi
    done
    pass "a reset on the probed path kills the plain client, the hardened one finishes"
    ;;

  *)
    fail "unknown case $CASE"
    ;;
esac
