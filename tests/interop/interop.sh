#!/usr/bin/env bash
# tests/interop/interop.sh BUILD_DIR CASE — one case of the interop suite (cases.txt, issue 11):
# qamp-server with clients qamp did not write (quic-go 0.46, libcurl 8.14), qamp-client with
# quic-go's HTTP/3 server, and Wireshark's dissector (tshark) as an independent reader of the
# transport parameters. Loopback only. Every download is judged by the bytes saved (size +
# SHA-256 against the source file), never by an exit status; the server of every case must be
# alive at the end, exit 0 on SIGTERM and leave its stats file, which is checked.
set -uo pipefail
BUILD=$(cd "$1" && pwd) || exit 2
CASE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../e2e/lib.sh
. "$HERE/../e2e/lib.sh"   # fail, assert_jsons / json_get (jq filters), assert_grep, same_file
SERVER=$BUILD/examples/server/qamp-server
CLIENT=$BUILD/examples/client/qamp-client
QAMP_TP=$BUILD/examples/tp/qamp-tp
GO_CLIENT=$BUILD/tests/interop/qamp-interop-h3client
GO_SERVER=$BUILD/tests/interop/qamp-interop-h3server
CURL_CLIENT=$BUILD/tests/interop/qamp-interop-curl
grep -q "^$CASE|" "$HERE/cases.txt" || { echo "usage: interop.sh BUILD_DIR CASE (a case of $HERE/cases.txt)" >&2; exit 2; }
for b in "$SERVER" "$CLIENT" "$QAMP_TP" "$GO_CLIENT" "$GO_SERVER" "$CURL_CLIENT"; do
  [ -x "$b" ] || fail "missing $b (ninja -C $BUILD)"
done
for tool in tshark tcpdump certtool python3 sha256sum jq; do
  command -v "$tool" >/dev/null || fail "missing tool $tool (scripts/install-deps.sh)"
done

e2e_init "interop-$CASE"
W=$E2E_DIR
cd "$W" || fail "no work dir"
# Loopback ports from the case name; QAMP_TEST_PORT_OFFSET keeps parallel checkouts apart.
PORT=$((20000 + ($(echo "interop-$CASE" | cksum | cut -d' ' -f1) + ${QAMP_TEST_PORT_OFFSET:-0} * 7) % 19990))
SPORT=$((PORT + 1))
URL=https://127.0.0.1:$PORT
# qamp-client's TLS flags, in one place: it verifies the servers' certificate like the other
# clients (the certificate below is its own CA).
QAMP_CLIENT_TLS=${QAMP_CLIENT_TLS-"--ca-file $W/cert.pem"}

# A certificate the third-party clients verify (they get --ca-file): localhost and 127.0.0.1.
certtool --generate-privkey --outfile key.pem >/dev/null 2>&1 || fail "certtool: private key"
printf 'cn=localhost\ndns_name=localhost\nip_address=127.0.0.1\nexpiration_days=7\ntls_www_server\nencryption_key\nsigning_key\n' >cert.tmpl
certtool --generate-self-signed --load-privkey key.pem --outfile cert.pem --template cert.tmpl >/dev/null 2>&1 ||
  fail "certtool: certificate"
mkdir -p htdocs dl
make_file htdocs/file.bin 3000000
make_file htdocs/small.bin 150000
export SSLKEYLOGFILE=$W/keys   # qamp-server's GnuTLS and libcurl's write it; quic-go gets -keylog
: >keys

# ---- servers ---------------------------------------------------------------------------------
start_qamp_server() {  # extra qamp-server flags...
  "$SERVER" -d htdocs --stats-file stats.json --qlog-dir qlog "$@" 127.0.0.1 "$PORT" key.pem cert.pem \
    >server.log 2>&1 &
  SERVER_PID=$!
  E2E_PIDS+=("$SERVER_PID")
  wait_started "$SERVER_PID" "listening on 127.0.0.1:$PORT" server.log "qamp-server"
}

# The server must still be alive, exit 0 on SIGTERM and leave its stats; prints where it failed.
stop_server() {  # STATS_FILE NAME
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 server.log >&2; fail "$2 died during the case"; }
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  [ "$rc" = 0 ] || { tail -20 server.log >&2; fail "$2 exit status $rc after SIGTERM"; }
  [ -s "$1" ] || fail "$2 left no stats file $1"
}

stop_qamp_server() {
  stop_server stats.json qamp-server
  assert_jsons stats.json '.transport_parameter_errors == 0' '.resets_sent == 0' \
    '.connections == .connections_closed'
}

start_go_server() {
  "$GO_SERVER" -addr "127.0.0.1:$PORT" -cert cert.pem -key key.pem -dir htdocs -keylog keys \
    -stats go-server-stats.json >server.log 2>&1 &
  SERVER_PID=$!
  E2E_PIDS+=("$SERVER_PID")
  wait_started "$SERVER_PID" "listening on 127.0.0.1:$PORT" server.log "quic-go server"
}

# ---- capture (tshark evidence) ---------------------------------------------------------------
# Long-header packets only (the first payload byte's high bit: Initial, 0-RTT, Handshake,
# Retry), where the transport parameters travel: a few kB instead of the whole download, so the
# capture cannot drop the handshake under load (a full capture dropped packets on a busy machine).
# --immediate-mode: so few packets would otherwise wait in the ring's block past the SIGINT.
start_capture() {
  tcpdump -i lo -U --immediate-mode -n -B 8192 -w cap.pcap "udp and (port $PORT or port $SPORT) and udp[8] & 0x80 != 0" \
    >tcpdump.log 2>&1 &
  CAP_PID=$!
  E2E_PIDS+=("$CAP_PID")
  wait_started "$CAP_PID" "listening on" tcpdump.log "tcpdump (root needed for a capture on lo)"
}

stop_capture() {  # then the evidence: evidence.json (tp_evidence.py)
  sleep 0.2
  kill -INT "$CAP_PID" 2>/dev/null
  wait "$CAP_PID" 2>/dev/null
  python3 "$HERE/tp_evidence.py" cap.pcap keys "$PORT,$SPORT" "$QAMP_TP" evidence.json ||
    fail "tp_evidence.py failed"
  if ! jq -e '[.[] | select(.from == "server")] | length >= 1' evidence.json >/dev/null; then
    # What the capture held, for the next reader: tcpdump's counts and tshark's handshake records.
    cat tcpdump.log >&2
    jq -c '[.[] | {from, frame}]' evidence.json >&2
    fail "no server transport parameters in the capture (evidence.json)"
  fi
}

# ---- clients ---------------------------------------------------------------------------------
go_get() {  # go-client flags... URL...
  timeout 60 "$GO_CLIENT" -out dl -json client.json -ca-file cert.pem -keylog keys "$@" >client.log 2>&1
  RC=$?
}

curl_get() {  # curl-client flags... URL...
  timeout 60 "$CURL_CLIENT" --out dl --ca-file cert.pem --keylog keys "$@" >client.json 2>client.log
  RC=$?
}

# Every request in client.json: the saved file has the size and SHA-256 of the source (the
# client's own report is cross-checked against both), and nothing reported an error.
check_saved() {  # [CONNECTIONS]
  python3 - "$W" "${1:-}" <<'PY' || fail "downloads not byte-exact (client.json, client.log above)"
import hashlib, json, os, sys, urllib.parse
w, want_conns = sys.argv[1], sys.argv[2]
d = json.load(open(os.path.join(w, "client.json")))
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
bad = []
if not d["requests"]:
    bad.append("no requests")
for r in d["requests"]:
    src = os.path.join(w, "htdocs", urllib.parse.urlparse(r["url"]).path.lstrip("/"))
    want_size, want_sha = os.path.getsize(src), sha(src)
    got = r["file"] if os.path.isabs(r["file"]) else os.path.join(w, r["file"])
    if "error" in r and r["error"]:
        bad.append(f"{r['url']}: client error {r['error']}")
    elif not os.path.exists(got):
        bad.append(f"{r['url']}: nothing saved at {got}")
    elif os.path.getsize(got) != want_size or sha(got) != want_sha:
        bad.append(f"{got}: {os.path.getsize(got)} bytes sha256 {sha(got)}, want {want_size} {want_sha}")
    elif r["bytes"] != want_size or r["sha256"] != want_sha:
        bad.append(f"{r['url']}: client reports {r['bytes']} {r['sha256']}, file is {want_size} {want_sha}")
    if r.get("proto", "HTTP/3.0") != "HTTP/3.0" or r.get("http_version", 3) != 3:
        bad.append(f"{r['url']}: not HTTP/3: {r.get('proto', r.get('http_version'))}")
if want_conns and d["connections"] != int(want_conns):
    bad.append(f"{d['connections']} connections, want {want_conns}")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

show_logs() { echo "--- client.log" >&2; tail -20 client.log >&2; echo "--- server.log" >&2; tail -20 server.log >&2; }

# A peer without 0x2d50 gets exact RFC 9000 parameters: the server's log says so, tshark sees
# no qamp TP and a zero-length 0x0c (handshake none), and agrees with qamp-tp on every field.
assert_rfc9000_params() {  # expect_preferred_address(yes|no)
  assert_grep 'transport parameters: client announced 0x0, sent spelling rfc9000' server.log
  if grep -q 'sent spelling [^r]' server.log; then fail "a qamp spelling was sent to a peer that announced none"; fi
  assert_jsons stats.json '.spellings == {"rfc9000": .connections}'
  local pa='.tshark_pa != null and .qamp.preferred_address.ipv4 == $pa4'
  [ "$1" = no ] && pa='.tshark_pa == null'
  assert_jsons evidence.json --arg pa4 "127.0.0.2:$SPORT" \
    '[.[] | select(.from == "server") | .disagreements == []] | all' \
    '[.[] | select(.from == "server") | [.params[].id | select(. == "0x2d50" or . == "0x2d51")] | length == 0] | all' \
    '[.[] | select(.from == "server") | [.params[] | select(.id == "0x0c") | .length] == [0]] | all' \
    '[.[] | select(.from == "server") | .qamp.policy.spelling == "rfc9000"] | all' \
    '[.[] | select(.from == "client") | .qamp.policy_support == []] | all' \
    "[.[] | select(.from == \"server\") | $pa] | all"
}

peer_get() {  # go|curl flags-for-go flags-for-curl URL...: one client run
  local peer=$1 gof=$2 cf=$3
  shift 3
  # shellcheck disable=SC2086
  if [ "$peer" = go ]; then go_get $gof "$@"; else curl_get $cf "$@"; fi
}

case "$CASE" in
  go-default | curl-default)
    peer=${CASE%%-*}
    start_qamp_server
    peer_get "$peer" "" "" "$URL/file.bin"
    check_saved 1
    [ "$RC" = 0 ] || { show_logs; fail "client exit status $RC"; }
    stop_qamp_server
    assert_grep 'client announced 0x0, sent spelling rfc9000' server.log
    assert_jsons stats.json '.connections == 1' '.datagrams_dropped == 0'
    ;;

  go-spa-none | curl-spa-none | go-spelling-* | curl-spelling-*)
    peer=${CASE%%-*}
    flags=(--handshake-level none --preferred-ipv4-addr "127.0.0.2:$SPORT")
    case $CASE in *-spelling-*) flags+=(--policy-spelling "${CASE#*-spelling-}" --spa-level same-ip) ;; esac
    start_capture
    start_qamp_server "${flags[@]}"
    peer_get "$peer" "" "" "$URL/file.bin"
    check_saved 1
    [ "$RC" = 0 ] || { show_logs; fail "client exit status $RC"; }
    stop_qamp_server
    stop_capture
    assert_rfc9000_params yes
    # quic-go 0.46 reads the preferred address but never moves (it uses the SPA's CID on the
    # handshake path); libcurl's ngtcp2 client does not move either (no select_preferred_addr).
    # Either way the handshake path is the only path, and nothing is dropped.
    assert_jsons stats.json '.moves_to_preferred_address == 0' '.datagrams_dropped == 0' \
      '.path_changes_accepted == {}' '.migrations == 0'
    ;;

  go-many-requests | curl-many-requests)
    peer=${CASE%%-*}
    start_qamp_server
    peer_get "$peer" "-requests 15 -parallel" "--requests 15" "$URL/small.bin" "$URL/file.bin"
    check_saved 1
    [ "$RC" = 0 ] || { show_logs; fail "client exit status $RC"; }
    assert_jsons client.json '.requests | length == 30'
    stop_qamp_server
    assert_jsons stats.json '.connections == 1'
    ;;

  go-workers | curl-workers)
    # qamp-server --workers 2: every CID a QUIC-LB CID of one worker, short headers steered to
    # it by the kernel (SK_REUSEPORT); a peer we did not write downloads 30 files on one
    # connection byte-exact, one worker serves it, the other sees no datagram, nothing is reset.
    peer=${CASE%%-*}
    start_qamp_server --workers 2
    peer_get "$peer" "-requests 15 -parallel" "--requests 15" "$URL/small.bin" "$URL/file.bin"
    check_saved 1
    [ "$RC" = 0 ] || { show_logs; fail "client exit status $RC"; }
    kill -TERM "$SERVER_PID"
    rc=0; wait "$SERVER_PID" || rc=$?
    [ "$rc" = 0 ] || { tail -20 server.log >&2; fail "qamp-server --workers 2 exit status $rc after SIGTERM"; }
    for k in 0 1; do
      assert_jsons "stats.json.worker$k" '.transport_parameter_errors == 0' '.resets_sent == 0' \
        '.connections == .connections_closed'
    done
    [ "$(jq -s '.[0].connections + .[1].connections' stats.json.worker0 stats.json.worker1)" = 1 ] ||
      fail "connections per worker: $(jq -c -s '[.[].connections]' stats.json.worker0 stats.json.worker1), want one in all"
    [ "$(jq -s '[.[] | select(.connections == 0) | .datagrams_received] | add // 0' stats.json.worker0 stats.json.worker1)" = 0 ] ||
      fail "the worker without the connection received datagrams"
    assert_grep "steering on 127\.0\.0\.1:$PORT \\(handshake\\): [1-9][0-9]* by-cid, [1-9][0-9]* long-header, 0 not-ours, 0 worker-gone" server.log
    ;;

  go-stream-limits | curl-stream-limits)
    # Issue 11: a client announcing initial_max_streams_bidi 1000 aborted qamp-server in
    # nghttp3_conn_set_max_client_streams_bidi (fixed in 4c10877). libcurl announces its own
    # large limit; our quic-go client announces 1000 / 1000.
    peer=${CASE%%-*}
    start_capture
    start_qamp_server
    peer_get "$peer" "-max-streams-bidi 1000 -max-streams-uni 1000 -requests 4 -parallel" "--requests 4" \
      "$URL/small.bin" "$URL/file.bin"
    check_saved 1
    [ "$RC" = 0 ] || { show_logs; fail "client exit status $RC"; }
    sleep 0.5   # the abort came after the bodies; give it the chance
    stop_qamp_server
    stop_capture
    if [ "$peer" = go ]; then
      assert_jsons evidence.json \
        '[.[] | select(.from == "client") | .values.initial_max_streams_bidi] == [1000]' \
        '[.[] | select(.from == "client") | .values.initial_max_streams_uni] == [1000]'
    else
      assert_jsons evidence.json \
        '[.[] | select(.from == "client") | .values.initial_max_streams_bidi >= 1000] == [true]'
    fi
    echo "client announced: $(json_get evidence.json '[.[] | select(.from == "client") | .values]')"
    ;;

  qamp-client-qgo-plain)
    start_go_server
    # shellcheck disable=SC2086
    timeout 60 "$CLIENT" $QAMP_CLIENT_TLS --follow-network=off --exit-on-all-streams-close --download dl --summary sum.json \
      127.0.0.1 "$PORT" "$URL/file.bin" >client.log 2>&1
    RC=$?
    same_file dl/file.bin htdocs/file.bin
    [ "$RC" = 0 ] || { show_logs; fail "qamp-client exit status $RC"; }
    assert_jsons sum.json '.complete == true' \
      '.connection.policy.spelling == "rfc9000"' \
      '.connection.policy.levels.handshake == "none"' \
      '.connection.moved_to_preferred_address == false'
    stop_server go-server-stats.json "quic-go server"
    assert_jsons go-server-stats.json '.requests == 1' '.status_200 == 1'
    ;;

  qamp-client-qgo-forbidden-change | qamp-client-qgo-reconnect)
    # quic-go's server always sends disable_active_migration: the handshake address is `none`
    # for qamp-client, so a change of network (127.0.0.1 -> 127.0.0.3) is refused by policy.
    make_file htdocs/big.bin 40000000
    extra=()
    [ "$CASE" = qamp-client-qgo-reconnect ] && extra=(--strategy reconnect)
    start_go_server
    # shellcheck disable=SC2086
    timeout 90 "$CLIENT" $QAMP_CLIENT_TLS --follow-network=off "${extra[@]}" --network-change 40%=127.0.0.3:0 --exit-on-all-streams-close \
      --download dl --summary sum.json 127.0.0.1 "$PORT" "$URL/big.bin" >client.log 2>&1
    RC=$?
    same_file dl/big.bin htdocs/big.bin
    [ "$RC" = 0 ] || { show_logs; fail "qamp-client exit status $RC"; }
    assert_grep '^qamp: migration: refused-by-policy \(reason: level-none\)' client.log
    assert_grep '^qamp: planner: ' client.log
    assert_jsons sum.json '.complete == true' \
      '.connection.policy.levels.handshake == "none"' \
      '.connection.migrations.refused == 1' '.connection.migrations.attempted == 0'
    stop_server go-server-stats.json "quic-go server"
    echo "planner: $(json_get sum.json '.connection.planner.decision + " (" + .connection.planner.reason + ")"'); responses: $(json_get sum.json '.uris[0].responses')"
    if [ "$CASE" = qamp-client-qgo-reconnect ]; then
      assert_jsons sum.json '.connection.planner.decision == "resume"' \
        '.connection.reconnects == 1' '.uris[0].responses[0] == "200 whole"' \
        '.uris[0].responses[1] | startswith("206 range ")' \
        '.uris[0].validator != null' \
        '.connection.local_address | startswith("127.0.0.3:")'
      # Go's ServeContent saw Range + If-Range (the ETag) and answered 206.
      assert_jsons go-server-stats.json '.requests == 2' '.range_requests == 1' \
        '.if_range_requests == 1' '.status_206 == 1' '.status_200 == 1'
      assert_grep 'range="bytes=[0-9]+-" if-range="\\"[0-9a-f]+-[0-9a-f]+\\"" -> 206' server.log
    else
      # auto (--split=on): both networks at once against a server we did not write. The old
      # connection keeps its 200; the new one from 127.0.0.3 asks Go for tail chunks with
      # Range + If-Range (the ETag); Go's ServeContent answers 206. The ranges in the summary
      # tile the body, and what the file took from the new network Go served as 206s.
      echo "split: $(json_get sum.json '.connection.split | del(.actions)')"
      assert_jsons sum.json '.connection.planner.decision == "split" and .connection.planner.reason == "measure-both-networks"' \
        '.connection.split.completed == true and .connection.split.file_from == "ranges"' \
        '.connection.split.ranges as $r | $r[0].begin == 0 and $r[-1].end == 40000000 and
           ([range(1; $r | length) | $r[.].begin == $r[. - 1].end] | all)' \
        '.connection.split.file_bytes_old + .connection.split.file_bytes_new == 40000000' \
        '.connection.split.file_bytes_new > 0' \
        '[.connection.split.actions[] | select(.action == "open-new")] | length == 1'
      assert_jsons go-server-stats.json '.status_200 == 1 and .status_206 >= 1' \
        '.range_requests == .if_range_requests and .range_requests == .status_206'
    fi
    ;;

  tshark-rfc9000)
    start_capture
    start_qamp_server --handshake-level none --preferred-ipv4-addr "127.0.0.2:$SPORT"
    go_get "$URL/small.bin"
    check_saved 1
    stop_qamp_server
    stop_capture
    assert_rfc9000_params yes
    ;;

  tshark-ext | tshark-pr3898 | tshark-dam-values)
    spelling=${CASE#tshark-}
    start_capture
    start_qamp_server --handshake-level none --preferred-ipv4-addr "127.0.0.2:$SPORT" --spa-level same-ip \
      --policy-spelling "$spelling"
    # shellcheck disable=SC2086
    timeout 60 "$CLIENT" $QAMP_CLIENT_TLS --follow-network=off --policy-support "$spelling" --no-preferred-addr --exit-on-all-streams-close \
      --download dl --summary sum.json 127.0.0.1 "$PORT" "$URL/small.bin" >client.log 2>&1
    RC=$?
    same_file dl/small.bin htdocs/small.bin
    [ "$RC" = 0 ] || { show_logs; fail "qamp-client exit status $RC"; }
    stop_qamp_server
    stop_capture
    assert_grep "sent spelling $spelling" server.log
    # $s: the server's record; values are passed to jq as arguments, never spliced into a filter.
    S='([.[] | select(.from == "server")][0]) as $s | '
    EV=(--arg sp "$spelling" --arg pa4 "127.0.0.2:$SPORT" --argjson sport "$SPORT")
    assert_jsons evidence.json "${EV[@]}" "$S"'$s.qamp.policy.spelling == $sp' \
      "$S"'$s.qamp.policy.handshake == "none"' \
      "$S"'$s.qamp.preferred_address.ipv4 == $pa4'
    echo "tshark vs qamp-tp ($spelling): $(json_get evidence.json "$S"'$s.disagreements')"
    case $spelling in
      ext)
        # tshark does not know 0x2d50/0x2d51 (shown as unknown) and reads everything else as
        # qamp-tp does; the 0x2d51 byte carries handshake none, SPA same-ip.
        assert_jsons evidence.json "$S"'$s.disagreements == []' \
          "$S"'[$s.params[] | select(.id == "0x2d51") | .value] == ["29"]' \
          "$S"'$s.qamp.policy.spa_v4 == "same-ip"'
        ;;
      pr3898)
        # Observed: tshark reads 0x0d as RFC 9000: the Disable Migration byte (2, same-ip, one
        # level for both addresses) becomes the CID length, so the CID and the token are wrong
        # and the rest of the value is "N trailing bytes were unprocessed".
        assert_jsons evidence.json "${EV[@]}" \
          "$S"'$s.tshark_pa.ipv4 == "127.0.0.2" and $s.tshark_pa.ipv4port == $sport' \
          "$S"'$s.tshark_pa.cid_length == 2 and $s.qamp.policy.spa_v4 == "same-ip"' \
          "$S"'$s.tshark_pa.cid != $s.qamp.preferred_address.cid' \
          "$S"'$s.tshark_pa.token != $s.qamp.preferred_address.stateless_reset_token' \
          "$S"'any($s.experts[]; contains("trailing bytes were unprocessed"))' \
          "$S"'[$s.params[] | select(.id == "0x0d") | .length] == [4 + 2 + 16 + 2 + 1 + 1 + ($s.qamp.preferred_address.cid | length / 2 | floor) + 16]'
        ;;
      dam-values)
        # Observed: tshark names the 1-byte 0x0c disable_active_migration and flags its value
        # ("1 trailing byte was unprocessed": RFC 9000 says zero-length); the byte is the levels
        # (0x29: handshake none, both SPAs same-ip). The standard 0x0d it reads correctly.
        assert_jsons evidence.json \
          "$S"'[$s.params[] | select(.id == "0x0c") | .length] == [1]' \
          "$S"'[$s.params[] | select(.id == "0x0c") | .value] == ["29"]' \
          "$S"'$s.disagreements == ["tshark expert: 1 trailing byte was unprocessed"]' \
          "$S"'any($s.disagreements[]; startswith("preferred_address")) | not'
        ;;
    esac
    ;;

  *) fail "case $CASE listed in cases.txt but not implemented in interop.sh" ;;
esac
pass "$CASE"
