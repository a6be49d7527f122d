# tests/lab/scenarios.sh — the lab's scenarios (issue 5), sourced by lab.sh.
#
# scenario_table prints the rows of matrix.txt:
#   name|topology|client|server|policy|event|expected outcome
# and sc_<name with _ for -> runs one: starts servers and client with lab.sh's helpers, fires the
# event, waits, and lists its expectations (`expect DESCRIPTION PYTHON_EXPR`, evaluated over the
# facts analyze.py computes from the captures with tshark, the server stats, the qlogs and the
# saved body). A row's expected outcome is what the scenario proves; a baseline that must break
# passes when it breaks.
#
# Topologies (netlab.sh): a one server; b Anycast; c 4-tuple LB; d 2-tuple LB; e CID-routing LB.
# Timing: both client networks run at 40 Mbit/s (tbf), the body is 8 MB (~1.7 s), changes come
# at 0.7 s (stock client: route switch at 0.3 s, --change-local-addr=700ms) or at 40 %.

# shellcheck disable=SC2086  # addresses and flags below are constants without spaces
scenario_table() { grep -v '^#' "$LAB_DIR/matrix.txt" | grep -v '^[[:space:]]*$'; }

BODY=/f8m
BODY_BYTES=8000000  # lab.sh makes it

# ---- shared expectations ----

expect_complete() { expect "download complete and byte-exact (size + SHA-256)" 'f["download"]["complete"]'; }
expect_incomplete() { expect "download incomplete (the connection broke)" 'not f["download"]["complete"]'; }
expect_no_resets() {
  expect "no datagram to the client ends in a known stateless reset token (tshark, udp.payload[-16:])" \
    'f.cap("client")["resets"] == 0'
}
expect_server_no_resets() { expect "instance $1 sent no stateless reset (stats)" "f.stat('$1', 'resets_sent') == 0"; }
expect_silent() {
  expect "zero datagrams from instance $1 to the client (capture at $1)" "not f.cap('$1').get('missing') and f.cap('$1')['to_client'] == 0"
}
expect_reached() { expect "the probe reached instance $1 (capture at $1)" "f.cap('$1')['from_client'] > 0"; }
expect_single_path() { expect "one path only (no migration, no probe)" 'len(f.paths()) == 1'; }
expect_no_drops() { expect "instance $1 dropped nothing (stats)" "f.stat('$1', 'datagrams_dropped') == 0"; }
# After a move to the preferred address the server reads its sockets in turn: a datagram the
# client sent to the handshake address just before its first one to the SPA can be read second
# and is dropped as a return to the handshake address (reason second-server-address). Allowed
# (a few, that reason only); the results table shows them.
expect_no_drops_but_stragglers() {
  expect "instance $1 dropped nothing but stragglers to the handshake address after the move (stats)" \
    "set(f.drops('$1')) <= {'second-server-address'} and f.stat('$1', 'datagrams_dropped') <= 3"
}
# expect_validated SERVER_PREFIX CLIENT_PREFIX: a new path whose first datagram is the client's
# PATH_CHALLENGE, answered by a PATH_RESPONSE on the same path.
expect_validated() {
  local what="path ${2:-*} -> ${1}"
  # f.first_challenge / f.validated: the capture (tshark) cross-checked with both ends' qlogs;
  # when tshark cannot decrypt the datagrams the claim needs, the qlogs decide and the result
  # names its source (analyze.py Facts._claim, Verdict).
  expect "$what: first datagram is the client's PATH_CHALLENGE" \
    "f.first_challenge(server='$1', client='${2:-}')"
  expect "$what: PATH_RESPONSE with the challenge's data on the same path" \
    "f.validated(server='$1', client='${2:-}')"
}
expect_summary() { expect "client summary: $1" "f.summ('$2') $3"; }

# Start a download by the stock client, switching the client host's default route to network 2
# at 0.3 s, so --change-local-addr=700ms (a route lookup, then bind) leaves by network 2.
gtls_change() {
  client gtls "$1" "$BODY" --change-local-addr=700ms "${@:2}"
  at 0.3 route-to-net2 lab_default_route 2
}

has_client_port() { [ -n "$(client_port)" ]; }

# gtls_change without its race: on a loaded machine the stock client's first socket can appear
# after the 0.3 s route switch and then starts on net 2 (seen in e-migrate-any-stock: first
# datagram at 0.72 s). Switch the route only once the client's socket is bound on net 1 (it is
# connected, so its source stays); --change-local-addr counts from the handshake's end.
gtls_change_from_net1() {
  client gtls "$1" "$BODY" --change-local-addr=700ms "${@:2}"
  wait_for 3 has_client_port || setup_fail "client socket on net 1 not seen"
  at 0.05 route-to-net2 lab_default_route 2
}
expect_started_on_net1() {
  expect "the connection started on net 1 (client capture: first path)" "f.paths()[0]['client'].startswith('$LAB_C1:')"
}

# ---- (a) one server ----

sc_a_handshake_only() {
  need_client_flag --summary
  qamp_server a $LAB_HS
  client qamp $LAB_HS $BODY
  wait_client
  expect_complete
  expect_single_path
  expect "the one path is client net 1 <-> handshake address" "f.path(server='$LAB_HS:', client='$LAB_C1:') != {}"
  expect "no PATH_CHALLENGE at all" "not f.paths()[0]['challenges_c2s'] and not f.paths()[0]['challenges_s2c']"
  expect_no_resets
  expect_no_drops a
  expect_summary "completion time recorded" connection.completion_time_s "is not None"
}

sc_a_handshake_only_stock() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  qamp_server a $LAB_HS
  client gtls $LAB_HS $BODY
  wait_client
  expect_complete
  expect_single_path
  expect_no_resets
  expect_no_drops a
  expect "server sent the legacy client RFC 9000 parameters (stats)" "f.stat('a', 'spellings').get('rfc9000') == 1"
}

sc_a_spa_v4() {
  need_client_flag --summary
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT \
    --preferred-ipv6-addr=[$LAB_SPA6]:$LAB_PORT
  client qamp $LAB_HS $BODY
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect "most body bytes came from the SPA v4 path" "f.path(server='$LAB_SPA4:')['s2c_bytes'] > 0.9 * f['download']['expected_bytes']"
  expect "server counted the move (stats)" "f.stat('a', 'moves_to_preferred_address') == 1"
  expect_summary "moved to the preferred address" connection.moved_to_preferred_address "is True"
  expect_summary "server address is the SPA v4" connection.server_address "== '$LAB_SPA4:$LAB_PORT'"
  expect "client qlog: the move to the preferred address recorded" "f.qamp_has('client', 'moved-to-preferred-address|preferred_address_validated')"
  expect_no_resets
  expect_no_drops_but_stragglers a
  expect "server qlog: qamp:gate_accept move-to-spa" "f.qamp_has('a', r'gate_accept.*move-to-spa')"
}

sc_a_spa_v4_stock() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT \
    --preferred-ipv6-addr=[$LAB_SPA6]:$LAB_PORT
  client gtls $LAB_HS $BODY
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect "most body bytes came from the SPA v4 path" "f.path(server='$LAB_SPA4:')['s2c_bytes'] > 0.9 * f['download']['expected_bytes']"
  expect "server counted the move (stats)" "f.stat('a', 'moves_to_preferred_address') == 1"
  expect "server qlog: qamp:path_validated with move_to_spa" "any(e['data'].get('move_to_spa') for e in f.qamp_events('a', 'qamp:path_validated'))"
  expect_no_resets
  expect_no_drops_but_stragglers a
}

sc_a_family_switch() {
  need_client_flag --spa-family
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv6-addr=[$LAB_SPA6]:$LAB_PORT
  client qamp $LAB_HS $BODY --spa-family auto
  wait_client
  expect_complete
  expect_validated "[$LAB_SPA6]:" "[$LAB_C1_6]:"
  expect "most body bytes came over IPv6 from the SPA v6" "f.path(server='[$LAB_SPA6]:')['s2c_bytes'] > 0.9 * f['download']['expected_bytes']"
  expect_summary "server family is ipv6" connection.server_family "== 'ipv6'"
  expect "client qlog: the preferred-address decision names the family switch" "f.qamp_has('client', 'switched-family|switch')"
  expect_no_resets
}

# The chosen preferred address does not answer: the client tries the other family's once
# (issue 4) instead of settling on the handshake address. Net 1 is slowed so the body is still
# running when the first validation times out.
sc_a_spa_fallback_family() {
  need_client_flag --spa-family
  lab_shape 1 16mbit
  lab_blackhole $LAB_SPA4
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT \
    --preferred-ipv6-addr=[$LAB_SPA6]:$LAB_PORT
  client qamp $LAB_HS $BODY --spa-family auto
  wait_client
  expect_complete
  expect "client qlog: the SPA v4 was tried first (same family)" "f.qamp_has('client', r'start-preferred-address-validation.*spa-v4|spa-v4.*start-preferred-address-validation')"
  expect "client qlog: fallback-other-family to the SPA v6" "f.qamp_has('client', r'fallback-other-family.*spa-v6|spa-v6.*fallback-other-family')"
  expect "nothing came back from the blackholed SPA v4" "all(p.get('s2c_bytes', 0) == 0 for p in f.paths() if p['server'].startswith('$LAB_SPA4:'))"
  expect_validated "[$LAB_SPA6]:" "[$LAB_C1_6]:"
  expect "the body's tail came over IPv6 from the SPA v6" "f.path(server='[$LAB_SPA6]:')['s2c_bytes'] > 100000"
  expect_summary "server family is ipv6 at the end" connection.server_family "== 'ipv6'"
  expect_summary "moved to the preferred address" connection.moved_to_preferred_address "is True"
  expect_no_resets
}

sc_a_family_switch_stock() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv6-addr=[$LAB_SPA6]:$LAB_PORT
  client gtls $LAB_HS $BODY
  wait_client
  expect_complete
  expect_single_path
  expect "no datagram over IPv6" "not any(p['server'].startswith('[') for p in f.paths())"
}

sc_a_migrate_after_spa() {
  need_client_flag --network-change
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  client qamp $LAB_HS $BODY --network-change "40%=$LAB_C2:0"
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect_validated "$LAB_SPA4:" "$LAB_C2:"
  expect "body bytes arrived on net 2 after the migration" "f.path(server='$LAB_SPA4:', client='$LAB_C2:')['s2c_bytes'] > 1000000"
  expect "server validated the new client path (stats migrations >= 1)" "f.stat('a', 'migrations') >= 1"
  expect_summary "migration succeeded" connection.migrations.succeeded "== 1"
  expect_no_resets
  expect_no_drops_but_stragglers a
  expect "server qlog: qamp:gate_accept ip-change-allowed at the SPA (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed.*spa-v4')"
}

# The old network turns lossy (nftables numgen, 10 %), then the client moves to net 2.
sc_a_migrate_off_lossy_net() {
  need_client_flag --network-change
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  client qamp $LAB_HS $BODY --network-change "1s=$LAB_C2:0"
  at 0.3 net1-lossy-10pct lab_loss 1 10
  wait_client
  expect_complete
  expect "the router dropped datagrams on net 1 (nft counters)" "f.router_drops(1) > 0"
  expect_validated "$LAB_SPA4:" "$LAB_C2:"
  expect "the rest of the body came over net 2" "f.path(server='$LAB_SPA4:', client='$LAB_C2:').get('s2c_bytes', 0) > 1000000"
  expect_summary "migration succeeded" connection.migrations.succeeded "== 1"
  expect_no_resets
  expect "server qlog: qamp:gate_accept ip-change-allowed at the SPA (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed.*spa-v4')"
}

sc_a_stock_migrate_after_spa() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  qamp_server a $LAB_HS --handshake-level any --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  gtls_change $LAB_HS
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect_validated "$LAB_SPA4:" "$LAB_C2:"
  expect "server validated the new client path (stats migrations >= 1)" "f.stat('a', 'migrations') >= 1"
  expect_no_resets
  expect_no_drops_but_stragglers a
  expect "server qlog: qamp:gate_accept ip-change-allowed at the SPA (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed.*spa-v4')"
}

sc_a_stock_none_change() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  qamp_server a $LAB_HS --handshake-level none
  gtls_change $LAB_HS
  wait_client
  expect_complete
  expect "the client received disable_active_migration (its qlog: remote parameters)" "'\"disable_active_migration\":true' in open(f['dir'] + '/client.sqlog').read()"
  expect "nothing sent from net 2" "f.paths_from('$LAB_C2:') == []"
  expect_no_resets
  expect_no_drops a
}

# Forbidden change: net 1 slow, net 2 fast; the client's network changes at 1 s. No row tells
# the client the new network's rate (--new-path-rate): auto measures it (issue 13).
forbidden_change() {  # strategy at [net2-rate [client flags...]]
  need_client_flag --network-change --strategy --split
  lab_shape 1 16mbit
  lab_shape 2 "${3:-100mbit}"
  qamp_server a $LAB_HS --handshake-level none
  client qamp $LAB_HS $BODY --network-change "$2=$LAB_C2:0" --strategy "$1" "${@:4}"
  wait_client
  expect_complete
  expect "client refused the migration (policy none at the handshake address)" "f.summ('connection.migrations.refused') == 1"
  expect "the server dropped nothing: the refused client never probed" "f.stat('a', 'datagrams_dropped') == 0"
  expect_no_resets
}

sc_a_forbidden_change_stay() {
  forbidden_change stay 1s
  expect "no new connection from net 2" "f.paths_from('$LAB_C2:') == []"
  expect_summary "planner decision stay" connection.planner.decision "== 'stay'"
}

sc_a_forbidden_change_reconnect() {
  forbidden_change reconnect 1s
  expect "a new connection from net 2 carried the rest" "f.path(client='$LAB_C2:').get('s2c_bytes', 0) > 2000000"
  expect "two connections at the server (stats)" "f.stat('a', 'connections') == 2"
  expect_summary "one reconnect" connection.reconnects "== 1"
}

# The split rows' shared expectations: the split planner decided, the ranges tile the body.
expect_split() {
  expect_summary "planner: split (measure both networks)" connection.planner.decision "== 'split'"
  expect_summary "split completed" connection.split.completed "== True"
  expect "split: the ranges tile the body, each named by its network" "f.split_ranges_tile()"
  expect "split: the body's size" "f.summ('connection.split.file_bytes_old', 0) + f.summ('connection.split.file_bytes_new', 0) == $BODY_BYTES"
}

sc_a_forbidden_change_auto() {
  # Net 2 is 6x net 1 and nobody says so: the new connection measures it and takes most of the
  # rest (tail chunks with Range + If-Range), the old one the part it reaches first.
  forbidden_change auto 1s
  expect_split
  expect "a new connection from net 2 carried most of the rest (capture)" "f.path(client='$LAB_C2:').get('s2c_bytes', 0) > 4000000"
  expect "two connections at the server (stats)" "f.stat('a', 'connections') == 2"
}

sc_a_forbidden_change_auto_late() {
  # The one-shot planner (--split=off) without a hint: the new network is assumed as fast as
  # the old one measures, so at 92 % the two candidate times differ by the handshake only and
  # the last few percent on the old path win.
  forbidden_change auto 92% 16mbit --split=off
  expect_summary "planner chose stay" connection.planner.decision "== 'stay'"
  expect "no new connection from net 2" "f.paths_from('$LAB_C2:') == []"
}

sc_a_split() {
  # Both networks at 16 Mbit/s: the rest of the body is split between them, tail chunks on
  # net 2 from the end toward the meeting point, the old stream on net 1 cut there. Each
  # network's share is read from the client capture's per-path byte counts (UDP payload, no
  # decryption), not from the client's own account.
  forbidden_change auto 1s 16mbit
  expect_split
  expect "split: net 2 carried 30-70 % of the rest (client summary)" \
    "0.3 <= f.summ('connection.split.file_bytes_new', 0) / ($BODY_BYTES - f.summ('connection.split.received_at_change', 0)) <= 0.7"
  expect "capture: net 2 carried at least the bytes the file took from it" \
    "f.path(client='$LAB_C2:').get('s2c_bytes', 0) >= f.summ('connection.split.file_bytes_new', 1)"
  expect "capture: net 1 carried at least the bytes the file took from it" \
    "f.path(client='$LAB_C1:').get('s2c_bytes', 0) >= f.summ('connection.split.file_bytes_old', 1)"
  expect "capture: net 1 kept carrying after the change (more than what it had at the change + 1 MB)" \
    "f.path(client='$LAB_C1:').get('s2c_bytes', 0) > f.summ('connection.split.received_at_change', 0) + 1000000"
  expect "two connections at the server (stats)" "f.stat('a', 'connections') == 2"
}

# ---- (b) Anycast ----

anycast_qamp_pair() {  # flags for both instances; a preferred address is each instance's own
  # unicast one (netlab.sh: A holds $LAB_SPA4 / $LAB_SPA6, B $LAB_SPA4_B / $LAB_SPA6_B). Until
  # qamp-server logged "listening" only once every address was bound, B died on binding A's
  # SPA right after the handshake line, and rows that need B silent passed with B gone.
  qamp_server a $LAB_ANYCAST "$@" --static-secret "$SHARED/secret"
  local flags=("${@//$LAB_SPA4:/$LAB_SPA4_B:}")
  flags=("${flags[@]//\[$LAB_SPA6\]:/[$LAB_SPA6_B]:}")
  qamp_server b $LAB_ANYCAST "${flags[@]}" --static-secret "$SHARED/secret"
}

ignore_probe() {  # extra client flags
  need_client_flag --semantics --network-change
  client qamp $LAB_ANYCAST $BODY --semantics ignore --no-preferred-addr --network-change "40%=$LAB_C2:0" "$@"
  wait_client
  expect_reached b
  expect "the probe left from net 2 to the Anycast address" "f.path(server='$LAB_ANYCAST:', client='$LAB_C2:') != {}"
}

sc_b_ignore_probe_no_reset() {
  anycast_qamp_pair --handshake-level none --stateless-reset auto
  ignore_probe
  expect_complete
  expect_silent b
  expect_no_resets
  expect_server_no_resets b
  expect "instance B counted the probe it did not answer (stats: reset suppressed, reason)" "f.stat('b', 'resets_suppressed_by_reason').get('suppress-restricted-address', 0) > 0"
  expect "the probe was not validated (no PATH_RESPONSE on net 2)" "not f.path(client='$LAB_C2:').get('client_validated')"
}

sc_b_ignore_probe_reset_baseline() {
  anycast_qamp_pair --handshake-level none --stateless-reset always
  ignore_probe
  expect_incomplete
  expect "client summary: the connection was closed by the stateless reset" "any('reset' in e for e in f.summ('connection.errors', []))"
  expect "instance B sent a stateless reset (stats)" "f.stat('b', 'resets_sent') >= 1"
  expect "a datagram to the client ends in a token the server issued (tshark)" "f.cap('client')['resets'] >= 1"
  expect "the old path died with it: nothing from A after the reset" \
    "f.path(server='$LAB_ANYCAST:', client='$LAB_C1:')['last_s'] < f.cap('client')['reset_frames'][0]['epoch'] - float(f['meta']['T0']) + 1.0"
}

sc_b_ignore_probe_reset_hardened() {
  need_client_flag --ignore-reset-on-probe
  anycast_qamp_pair --handshake-level none --stateless-reset always
  ignore_probe --ignore-reset-on-probe
  expect_complete
  expect "instance B sent a stateless reset (stats)" "f.stat('b', 'resets_sent') >= 1"
  expect "client qlog: the reset on the probed path was ignored" "f.qamp_has('client', 'ignored-reset-on-probe')"
}

sc_b_stock_gtls_anycast() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  need_bin "$GTLSSERVER" "package ngtcp2-server"
  gtls_server a $LAB_ANYCAST
  gtls_server b $LAB_ANYCAST
  gtls_change $LAB_ANYCAST
  wait_client
  expect "partial body (the failure this lab measures)" 'f["outcome"] == "partial"'
  expect "the stock client still exits 0" 'f["client"]["rc"] == 0'
  expect "it ended by idle timeout (>= 3 s after the change)" 'f["client"]["elapsed_s"] >= 3.5'
  expect_reached b
  expect "the client's new path (net 2) was never validated" "not f.path(client='$LAB_C2:').get('client_validated')"
}

sc_b_stock_client_qamp_spa() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  anycast_qamp_pair --handshake-level any --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  gtls_change $LAB_ANYCAST
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect_validated "$LAB_SPA4:" "$LAB_C2:"
  expect_silent b
  expect "nothing from the client reached B" "f.cap('b')['from_client'] == 0"
  expect_no_resets
  expect "server qlog: qamp:gate_accept ip-change-allowed at the SPA (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed.*spa-v4')"
}

sc_b_stock_client_qamp_none() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  anycast_qamp_pair --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  gtls_change $LAB_ANYCAST
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect "nothing sent from net 2" "f.paths_from('$LAB_C2:') == []"
  expect_silent b
  expect_no_resets
}

sc_b_qamp_client_spa_migrate() {
  need_client_flag --network-change
  anycast_qamp_pair --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  client qamp $LAB_ANYCAST $BODY --network-change "40%=$LAB_C2:0"
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect_validated "$LAB_SPA4:" "$LAB_C2:"
  expect_silent b
  expect "nothing from the client reached B" "f.cap('b')['from_client'] == 0"
  expect_summary "migration succeeded" connection.migrations.succeeded "== 1"
  expect_no_resets
  expect "server qlog: qamp:gate_accept ip-change-allowed at the SPA (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed.*spa-v4')"
}

sc_b_qamp_client_stock_servers() {
  need_client_flag --network-change
  need_bin "$GTLSSERVER" "package ngtcp2-server"
  gtls_server a $LAB_ANYCAST
  gtls_server b $LAB_ANYCAST
  client qamp $LAB_ANYCAST $BODY --network-change "40%=$LAB_C2:0"
  wait_client
  expect_complete
  expect_reached b
  expect "the new path was not validated" "not f.path(client='$LAB_C2:').get('client_validated')"
  expect_summary "migration attempted, never succeeded" connection.migrations "== {'attempted': 1, 'refused': 0, 'succeeded': 0, 'failed': f.summ('connection.migrations.failed')}"
  expect_summary "the connection finished on net 1" connection.local_address ".startswith('$LAB_C1:')"
}

# ---- (c) 4-tuple load balancer ----

cluster_pair() {  # flags for both instances
  qamp_server a $LAB_A_IP --instance-id 0 --cluster-size 2 --static-secret "$SHARED/secret" "$@"
  qamp_server b $LAB_B_IP --instance-id 1 --cluster-size 2 --static-secret "$SHARED/secret" "$@"
}

# Make the 4-tuple LB's choice predictable: the client's ephemeral ports all hash to A, and
# sets PORT_TO_B to a source port from $1 that hashes to B. (A real client lands on B for a new
# 4-tuple half of the time; the lab picks that half.)
lb4_roles() {
  local src=$1 base=${2:-40000} range
  # A run of 4 consecutive ports that all go to A becomes the ephemeral port range.
  range=$(lab_lb_map $LAB_C1 $(seq "$base" $((base + 63))) |
    awk '$2 == "a" { if ($1 == prev + 1) n++; else { n = 1; start = $1 } prev = $1; if (n == 4) { print start, $1; exit } }')
  [ -n "$range" ] || setup_fail "no 4 consecutive ports of $LAB_C1 hash to A"
  # shellcheck disable=SC2086
  lab_client_port_range $range
  PORT_TO_B=$(lab_lb_map "$src" $(seq 41000 41031) | awk '$2 == "b" {print $1; exit}')
  [ -n "$PORT_TO_B" ] || setup_fail "no port of $src hashes to B"
  echo "client ephemeral ports ${range/ /-} (hash to A); $src:$PORT_TO_B hashes to B" >>"$W/events.log"
}

sc_c_ignore_probe_no_reset() {
  need_client_flag --semantics --network-change
  lb4_roles $LAB_C2
  cluster_pair --handshake-level none --stateless-reset auto
  client qamp $LAB_VIP $BODY --semantics ignore --no-preferred-addr --network-change "40%=$LAB_C2:$PORT_TO_B"
  wait_client
  expect_complete
  expect "the connection lives on A (stats connections)" "f.stat('a', 'connections') == 1 and f.stat('b', 'connections') == 0"
  expect_reached b
  expect_silent b
  expect_no_resets
  expect_server_no_resets b
  expect "B did not answer the other instance's CIDs (stats: reset suppressed, reason)" "f.stat('b', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) > 0"
}

sc_c_ignore_probe_reset_baseline() {
  need_client_flag --semantics --network-change
  lb4_roles $LAB_C2
  cluster_pair --handshake-level none --stateless-reset always
  client qamp $LAB_VIP $BODY --semantics ignore --no-preferred-addr --network-change "40%=$LAB_C2:$PORT_TO_B"
  wait_client
  expect_incomplete
  expect_reached b
  expect "instance B sent a stateless reset (stats)" "f.stat('b', 'resets_sent') >= 1"
  expect "a datagram to the client ends in a token the server issued (tshark)" "f.cap('client')['resets'] >= 1"
}

sc_c_stock_client_none() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  cluster_pair --handshake-level none
  gtls_change $LAB_VIP
  wait_client
  expect_complete
  expect "nothing sent from net 2" "f.paths_from('$LAB_C2:') == []"
  expect_no_resets
}

sc_c_nat_port_rebind() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  lb4_roles $LAB_C1 40000
  local newport
  newport=$(lab_lb_map $LAB_C1 $(seq 42000 42031) | awk '$2 == "b" {print $1; exit}')
  [ -n "$newport" ] || setup_fail "no port hashes to B"
  cluster_pair --handshake-level none
  client gtls $LAB_VIP $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-port lab_rebind $LAB_C1 "$(client_port)" $LAB_C1 "$newport"
  wait_client
  expect_incomplete
  expect "after the rebinding the flow reached B (capture at b)" "f.cap('b')['from_client'] > 0"
  expect_silent b
  expect_no_resets
  expect "B did not answer the other instance's CIDs (stats: reset suppressed, reason)" "f.stat('b', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) > 0"
}

# ---- (d) 2-tuple load balancer ----

# Sets HOME (instance the client's net 1 address hashes to) and OTHER.
lb2_roles() {
  HOME_INST=$(lab_lb_map $LAB_C1 39999 | awk '{print $2}')
  [ -n "$HOME_INST" ] || setup_fail "LB probe failed"
  if [ "$HOME_INST" = a ]; then OTHER_INST=b; else OTHER_INST=a; fi
}

sc_d_nat_port_rebind() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  lb2_roles
  cluster_pair --handshake-level same-ip
  client gtls $LAB_VIP $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-port lab_rebind $LAB_C1 "$(client_port)" $LAB_C1 45678
  wait_client
  expect_complete
  expect "the home instance accepted a port-only change (stats)" "f.stat('$HOME_INST', 'path_changes_accepted').get('port-only-rebinding', 0) >= 1"
  expect "the server side saw the new port (capture at $HOME_INST)" "f.path(client='$LAB_C1:45678', cap='$HOME_INST') != {}"
  expect_silent "$OTHER_INST"
  expect_no_resets
  expect "server qlog ($HOME_INST): qamp:gate_accept port-only-rebinding at level same-ip" "f.qamp_has('$HOME_INST', r'gate_accept.*port-only-rebinding.*same-ip')"
}

sc_d_nat_ip_rebind() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  lb2_roles
  local natip="" i
  for i in $(seq 10 40); do
    [ "$(lab_lb_map $LAB_NAT_POOL.$i 39999 | awk '{print $2}')" = "$OTHER_INST" ] && { natip=$LAB_NAT_POOL.$i; break; }
  done
  [ -n "$natip" ] || setup_fail "no NAT pool address hashes to the other instance"
  cluster_pair --handshake-level same-ip
  client gtls $LAB_VIP $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-address lab_rebind $LAB_C1 "$(client_port)" "$natip" 45678
  wait_client
  expect_incomplete
  expect "after the rebinding the flow reached the other instance" "f.path(client='$natip:', cap='$OTHER_INST') != {}"
  expect_silent "$OTHER_INST"
  expect_no_resets
  expect "the other instance did not answer the home instance's CIDs (stats: reset suppressed, reason)" "f.stat('$OTHER_INST', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) > 0"
  expect "server qlog ($HOME_INST): no path change accepted" "not f.qamp_has('$HOME_INST', 'gate_accept')"
}

sc_d_ip_change_planner() {
  need_client_flag --network-change --old-path-after-change
  # pr3898 (the default first spelling) carries the handshake level in 0x0c, which cannot say
  # same-ip: prefer the spellings that can.
  cluster_pair --handshake-level same-ip --policy-spelling dam-values,ext,pr3898
  client qamp $LAB_VIP $BODY --network-change "600ms=$LAB_C2:0" --old-path-after-change drop
  at 0.6 net1-cut lab_cut 1
  wait_client
  expect_complete
  expect_summary "migration refused (same-ip forbids an IP change)" connection.migrations.refused "== 1"
  expect "client summary: planner resumed on a new connection" "'resume' in f.summ('connection.planner.decision', '')"
  expect "a new connection from net 2 carried the rest" "f.path(client='$LAB_C2:').get('s2c_bytes', 0) > 1000000"
  expect_no_resets
  expect_summary "the client learnt same-ip for the handshake address" connection.policy.levels.handshake "== 'same-ip'"
  expect "client qlog: migration refused because of same-ip" "f.qamp_has('client', r'refused.*same-ip|same-ip.*refused')"
}

# ---- quic-go clients (issue 11: a client qamp did not write, through the NAT rebinding events) ----
# quic-go 0.46 never migrates actively and handles a NAT rebinding passively, like the stock
# client; tests/interop's qamp-interop-h3client (one GET, size + SHA-256 as JSON), its socket
# bound to the client's net-1 address so client_port finds it, a 3 s idle timeout like the
# other clients, TLS secrets for tshark via -keylog. The evidence is the same as the gtlsclient rows.
QGO_CLIENT=$BUILD/tests/interop/qamp-interop-h3client

qgo_client() {  # HOST PATH
  local host=$1 path=$2
  need_bin "$QGO_CLIENT" "tests/interop, ninja builds it from golang-github-lucas-clemente-quic-go-dev"
  mkdir -p "$W/dl"
  SAVED=$W/dl/0-$(basename "$path")
  meta CLIENT_KIND quic-go
  meta EXPECTED_FILE "$HTDOCS/$(basename "$path")"
  meta SAVED_FILE "$SAVED"
  T0=$(now)
  meta T0 "$T0"
  spawn client qlab-c "$QGO_CLIENT" -local "$LAB_C1" -idle-timeout 3s -keylog "$W/keys.log" \
    -out "$W/dl" -json "$W/quic-go.json" "https://$host:$LAB_PORT$path"
  CLIENT_PID=${PIDS[client]}
  (
    while kill -0 "$CLIENT_PID" 2>/dev/null; do
      echo "$EPOCHREALTIME $(stat -c %s "$SAVED" 2>/dev/null || echo 0)"
      sleep 0.05
    done
    echo "$EPOCHREALTIME $(stat -c %s "$SAVED" 2>/dev/null || echo 0)"
  ) >"$W/progress.tsv" &
  PIDS[sampler]=$!
}

sc_b_qgo_nat_port_rebind() {
  anycast_qamp_pair --handshake-level none
  qgo_client $LAB_ANYCAST $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-port lab_rebind $LAB_C1 "$(client_port)" $LAB_C1 45678
  wait_client
  expect_complete
  expect "instance A accepted a port-only change at level none (stats)" "f.stat('a', 'path_changes_accepted').get('port-only-rebinding', 0) >= 1"
  expect "the server side saw the new port (capture at a)" "f.path(client='$LAB_C1:45678', cap='a') != {}"
  expect_silent b
  expect_no_resets
}

sc_c_qgo_nat_port_rebind() {
  lb4_roles $LAB_C1 40000
  local newport
  newport=$(lab_lb_map $LAB_C1 $(seq 42000 42031) | awk '$2 == "b" {print $1; exit}')
  [ -n "$newport" ] || setup_fail "no port hashes to B"
  cluster_pair --handshake-level none
  qgo_client $LAB_VIP $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-port lab_rebind $LAB_C1 "$(client_port)" $LAB_C1 "$newport"
  wait_client
  expect_incomplete
  expect "after the rebinding the flow reached B (capture at b)" "f.cap('b')['from_client'] > 0"
  expect_silent b
  expect_no_resets
  expect "B did not answer the other instance's CIDs (stats: reset suppressed, reason)" "f.stat('b', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) > 0"
}

sc_d_qgo_nat_port_rebind() {
  lb2_roles
  cluster_pair --handshake-level same-ip
  qgo_client $LAB_VIP $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-port lab_rebind $LAB_C1 "$(client_port)" $LAB_C1 45678
  wait_client
  expect_complete
  expect "the home instance accepted a port-only change (stats)" "f.stat('$HOME_INST', 'path_changes_accepted').get('port-only-rebinding', 0) >= 1"
  expect "the server side saw the new port (capture at $HOME_INST)" "f.path(client='$LAB_C1:45678', cap='$HOME_INST') != {}"
  expect_silent "$OTHER_INST"
  expect_no_resets
}

sc_d_qgo_nat_ip_rebind() {
  lb2_roles
  local natip="" i
  for i in $(seq 10 40); do
    [ "$(lab_lb_map $LAB_NAT_POOL.$i 39999 | awk '{print $2}')" = "$OTHER_INST" ] && { natip=$LAB_NAT_POOL.$i; break; }
  done
  [ -n "$natip" ] || setup_fail "no NAT pool address hashes to the other instance"
  cluster_pair --handshake-level same-ip
  qgo_client $LAB_VIP $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-address lab_rebind $LAB_C1 "$(client_port)" "$natip" 45678
  wait_client
  expect_incomplete
  expect "after the rebinding the flow reached the other instance" "f.path(client='$natip:', cap='$OTHER_INST') != {}"
  expect_silent "$OTHER_INST"
  expect_no_resets
  expect "the other instance did not answer the home instance's CIDs (stats: reset suppressed, reason)" "f.stat('$OTHER_INST', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) > 0"
}

# The 4-tuple LB breaks a migration even at level any (the contrast to e-migrate-any): the new
# 4-tuple is hashed to B, which holds no state and drops A's CIDs silently.
sc_c_migrate_any_breaks() {
  need_client_flag --network-change
  lb4_roles $LAB_C2
  cluster_pair --handshake-level any
  client qamp $LAB_VIP $BODY --network-change "40%=$LAB_C2:$PORT_TO_B"
  wait_client
  expect "the connection lives on A (stats connections)" "f.stat('a', 'connections') == 1 and f.stat('b', 'connections') == 0"
  expect "the new path's datagrams reached B (capture at b)" "f.path(client='$LAB_C2:$PORT_TO_B', cap='b') != {}"
  expect_silent b
  expect "B did not answer A's CIDs (stats: reset suppressed, reason)" "f.stat('b', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) > 0"
  expect "nothing of the new path reached A (capture at a)" "f.path(client='$LAB_C2:', cap='a') == {}"
  expect "the new path was never validated" "not f.path(client='$LAB_C2:').get('client_validated')"
  expect_summary "the migration did not succeed" connection.migrations.succeeded "== 0"
  expect_no_resets
}

# The stock client behind the 4-tuple LB at level any (the contrast to e-migrate-any-stock):
# --change-local-addr's new 4-tuple is hashed to B.
sc_c_migrate_any_stock_breaks() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  lb4_stock_roles
  cluster_pair --handshake-level any
  gtls_change_from_net1 $LAB_VIP
  wait_client
  expect_started_on_net1
  expect "partial body: the connection died on the new path (as b-stock-gtls-anycast)" 'f["outcome"] == "partial"'
  expect "it ended by idle timeout (>= 3 s after the change)" 'f["client"]["elapsed_s"] >= 3.5'
  expect "the connection lives on A (stats connections)" "f.stat('a', 'connections') == 1 and f.stat('b', 'connections') == 0"
  expect "the new path's datagrams reached B (capture at b)" "f.path(client='$LAB_C2:', cap='b') != {}"
  expect_silent b
  expect "B did not answer A's CIDs (stats: reset suppressed, reason)" "f.stat('b', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) > 0"
  expect "nothing of the new path reached A (capture at a)" "f.path(client='$LAB_C2:', cap='a') == {}"
  expect "the client's new path (net 2) was never validated" "not f.path(client='$LAB_C2:').get('client_validated')"
  expect_no_resets
}

# ---- (e) CID-routing load balancer (QUIC-LB plaintext server IDs) ----
# The instances are QUIC-LB server IDs 1 (A) and 2 (B) under one plaintext configuration
# (config rotation 0, 16-octet nonce): the LB reads octet 1 of every short header's DCID.
# Each row picks, like the c rows, a new 4-tuple that the 4-tuple hash sends to the OTHER
# instance: only the CID rule can bring it home, and the same client behind c breaks
# (c-migrate-any-breaks, c-nat-port-rebind). lab_lb_map reads the hash on a second VIP port
# (netlab.sh LAB_LB_PROBE_PORT), so no conntrack entry pre-empts the CID rule.

cid_pair() {  # flags for both instances
  qamp_server a $LAB_A_IP --instance-id $LAB_SID_A --cluster-size 3 --static-secret "$SHARED/secret" "$@"
  qamp_server b $LAB_B_IP --instance-id $LAB_SID_B --cluster-size 3 --static-secret "$SHARED/secret" "$@"
}

# Checks of a client that moved to a new 4-tuple TUPLE (client prefix) while its connection
# lives on A: the CID rule took the new flow to A, B saw nothing at all.
expect_cid_routed_home() {
  expect "the connection lives on A (stats connections)" "f.stat('a', 'connections') == 1 and f.stat('b', 'connections') == 0"
  expect "the new 4-tuple reached A (capture at a)" "f.path(client='$1', cap='a') != {}"
  expect "B saw no datagram of the client at all (capture at b)" "not f.cap('b').get('missing') and f.cap('b')['from_client'] == 0 and f.cap('b')['to_client'] == 0"
  expect "the LB routed new flows by CID to A and none to B (nft counters cid_a, cid_b)" "f.lb_packets('cid_a') >= 1 and f.lb_packets('cid_b') == 0"
  expect_server_no_resets a
  expect_server_no_resets b
  expect_no_resets
}

sc_e_migrate_any() {
  need_client_flag --network-change
  lb4_roles $LAB_C2
  cid_pair --handshake-level any
  client qamp $LAB_VIP $BODY --network-change "40%=$LAB_C2:$PORT_TO_B"
  wait_client
  expect_complete
  expect_validated "$LAB_VIP:" "$LAB_C2:$PORT_TO_B"
  expect "body bytes arrived on net 2 after the migration" "f.path(server='$LAB_VIP:', client='$LAB_C2:').get('s2c_bytes', 0) > 1000000"
  expect_summary "migration succeeded" connection.migrations.succeeded "== 1"
  expect "A validated the new client path (stats migrations >= 1)" "f.stat('a', 'migrations') >= 1"
  expect "server qlog (a): qamp:gate_accept ip-change-allowed (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed')"
  expect_cid_routed_home "$LAB_C2:$PORT_TO_B"
}

# The stock client's --change-local-addr opens an unbound socket: the client host's ephemeral
# range becomes two ports that the 4-tuple hash sends to A from net 1 and to B from net 2 (c and
# e: in e lab_lb_map reads the hash on the probe port).
lb4_stock_roles() {
  local c1 c2 range
  c1=$(lab_lb_map $LAB_C1 $(seq 40000 40255))
  c2=$(lab_lb_map $LAB_C2 $(seq 40000 40255))
  range=$(join <(echo "$c1") <(echo "$c2") | awk '$2 == "a" && $3 == "b" { if ($1 == prev + 1) { print prev, $1; exit } prev = $1 }')
  [ -n "$range" ] || setup_fail "no 2 consecutive ports hash to A from $LAB_C1 and to B from $LAB_C2"
  # shellcheck disable=SC2086
  lab_client_port_range $range
  echo "client ephemeral ports ${range/ /-}: hash to A from $LAB_C1, to B from $LAB_C2" >>"$W/events.log"
}

sc_e_migrate_any_stock() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  lb4_stock_roles
  cid_pair --handshake-level any
  gtls_change_from_net1 $LAB_VIP
  wait_client
  expect_started_on_net1
  expect_complete
  expect_validated "$LAB_VIP:" "$LAB_C2:"
  expect "body bytes arrived on net 2 after the migration" "f.path(server='$LAB_VIP:', client='$LAB_C2:').get('s2c_bytes', 0) > 1000000"
  expect "A validated the new client path (stats migrations >= 1)" "f.stat('a', 'migrations') >= 1"
  expect "server qlog (a): qamp:gate_accept ip-change-allowed (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed')"
  expect_cid_routed_home "$LAB_C2:"
}

# As c-nat-port-rebind (the new port hashes to B), through the CID balancer.
sc_e_nat_rebind() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  lb4_roles $LAB_C1 40000
  local newport
  newport=$(lab_lb_map $LAB_C1 $(seq 42000 42031) | awk '$2 == "b" {print $1; exit}')
  [ -n "$newport" ] || setup_fail "no port hashes to B"
  cid_pair --handshake-level none
  client gtls $LAB_VIP $BODY
  wait_for 3 has_client_port || setup_fail "client socket not seen"
  at 0.7 nat-rebind-port lab_rebind $LAB_C1 "$(client_port)" $LAB_C1 "$newport"
  wait_client
  expect_complete
  expect "A accepted a port-only change at level none (stats)" "f.stat('a', 'path_changes_accepted').get('port-only-rebinding', 0) >= 1"
  expect "the router rewrote the client's port (nft counters)" "f.log_has('router-nft.txt', r'udp sport set $newport counter packets [1-9]')"
  expect_cid_routed_home "$LAB_C1:$newport"
}

# lbe_probes FILE KIND DCID PORT...: crafted short headers from net 2 (lbprobe.py --dcid), one
# JSON line each call in FILE.
lbe_probes() {
  local file=$1 kind=$2 dcid=$3
  shift 3
  lab_ns qlab-c python3 "$LAB_DIR/lbprobe.py" --dcid "$dcid" --wait-ms 500 $LAB_C2 $LAB_VIP $LAB_PORT "$@" |
    sed "s/^{/{\"kind\": \"$kind\", /" >>"$file"
}

# Probes whose CIDs name no instance: the LB hashes them (one to each instance) and the instance
# drops them without a Stateless Reset (only the issuer of a CID may reset it, RFC 9000 §21.11).
sc_e_unknown_server_id_probe() {
  need_client_flag --summary
  local map pa pb nonce
  map=$(lab_lb_map $LAB_C2 $(seq 61000 61031))
  pa=$(awk '$2 == "a" {print $1}' <<<"$map" | head -2 | tr '\n' ' ')
  pb=$(awk '$2 == "b" {print $1}' <<<"$map" | head -2 | tr '\n' ' ')
  # shellcheck disable=SC2206
  local A=($pa) B=($pb)
  if [ ${#A[@]} != 2 ] || [ ${#B[@]} != 2 ]; then setup_fail "ports of $LAB_C2 do not hash to both instances"; fi
  nonce=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  # The first octet as the instances' own CIDs have it (self-encoded length 17), then octet 1.
  # Net 1 at 16 Mbit/s: the body takes ~4 s, so the probes (a Python start in the client
  # namespace each, slow on a loaded machine) land while the connection runs; checked below.
  lab_shape 1 16mbit
  cid_pair --handshake-level any --stateless-reset auto
  client qamp $LAB_VIP $BODY
  at 0.3 probes-unknown-id lbe_probes "$W/probes.jsonl" unknown-server-id "1107$nonce" "${A[0]}" "${B[0]}"
  at 0.4 probes-unroutable lbe_probes "$W/probes.jsonl" unroutable "f1$(printf %02x $LAB_SID_A)$nonce" "${A[1]}" "${B[1]}"
  wait_client
  expect_complete
  expect "every probe arrived while the connection was carrying the body (client capture)" \
    "len(f.paths_from('$LAB_C2:')) == 4 and max(p['first_s'] for p in f.paths_from('$LAB_C2:')) + 0.5 < f.path(client='$LAB_C1:')['last_s']"
  expect_no_resets
  expect_server_no_resets a
  expect_server_no_resets b
  expect "both probe sets ran, 4 probes (probes.jsonl)" "len(f.jsonl('probes.jsonl')) == 2 and sum(len(p['answers']) for p in f.jsonl('probes.jsonl')) == 4"
  expect "no probe got any answer within 500 ms (lbprobe.py)" "all(n == 0 for p in f.jsonl('probes.jsonl') for n in p['answers'].values())"
  expect "the client host received no datagram on a probe port (capture)" "len(f.paths_from('$LAB_C2:')) == 4 and all(p['s2c'] == 0 for p in f.paths_from('$LAB_C2:'))"
  expect "unknown server ID 0x07: the probes reached A and B by hash (captures)" "f.path(client='$LAB_C2:${A[0]}', cap='a') != {} and f.path(client='$LAB_C2:${B[0]}', cap='b') != {}"
  expect "config rotation 0b111 with A's server ID octet: not routed to A, B got its probe by hash (captures)" "f.path(client='$LAB_C2:${A[1]}', cap='a') != {} and f.path(client='$LAB_C2:${B[1]}', cap='b') != {}"
  expect "the LB routed no new flow by CID (nft counters cid_a, cid_b == 0; by_hash: the connection + 4 probes)" "f.lb_packets('cid_a') == 0 and f.lb_packets('cid_b') == 0 and f.lb_packets('by_hash') >= 5"
  expect "A and B each dropped their probes silently (stats: suppress-other-instance)" "f.stat('a', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) >= 2 and f.stat('b', 'resets_suppressed_by_reason').get('suppress-other-instance', 0) >= 2"
}

# ---- the client host's network really changes (issue 14 item 5) ----
# No --network-change in these rows: qamp-client follows the kernel's rtnetlink events, its own
# sendmsg errors and ngtcp2's PTO periods (--follow-network=on, said explicitly: lab.sh gives the other rows =off) and logs every
# decision (`qamp: network-event: ...`, qlog qamp:network-event, summary .network.decisions).
# The event fires at a byte count of the saved body (at_bytes), so it is during the download
# whatever the machine's load. The result records the event time and two figures of "event ->
# first body byte on the new path": the client's (.network.event_to_first_byte_ms) and the
# capture's (the first datagram with a STREAM frame on a path that began after the event).

NET_EVENT_BYTES=2400000  # 30 % of the 8 MB body: after the move to the SPA, long before the end

# net_event LABEL: this row's event (analyze.py puts its figures in result.json .network).
net_event() { meta NET_EVENT "$1"; }

expect_decided() {  # CAUSE ACTION
  expect "client decision $2 on cause $1 (summary .network.decisions)" "f.decided('$1', '$2')"
  expect "client qlog: qamp:network-event $2 / $1" "any(e['data'].get('outcome') == '$2' and (e['data'].get('detail') or {}).get('cause') == '$1' for e in f.qamp_events('client', 'qamp:network-event'))"
  expect "client stderr: one 'qamp: network-event: $2' line" "f.log_has('client.log', r'^qamp: network-event: $2 \(reason: ')"
}
expect_moved_figures() {  # LABEL: both event -> first body byte figures exist
  expect "client: event -> first body byte on the new address recorded (.network.event_to_first_byte_ms)" \
    "isinstance(f.summ('network.event_to_first_byte_ms'), (int, float)) and f.summ('network.event_to_first_byte_ms') >= 0"
  expect "capture: body on a path that began after the event '$1'" "f.body_after_event('$1') is not None"
}

# (a) SPA any: the client moved to the SPA v4; its net-1 address disappears mid-download (IPv4
# only: the connection is IPv4, and with the address every IPv4 route through n1 goes).
net_event_spa_any() {  # LABEL CMD...: the (a) SPA-any rows, qamp-client
  local label=$1
  shift
  need_client_flag --follow-network
  net_event "$label"
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  client qamp $LAB_HS $BODY --follow-network=on
  at_bytes $NET_EVENT_BYTES "$label" "$@"
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect_validated "$LAB_SPA4:" "$LAB_C2:"
  expect "the rest of the body came over net 2 from the SPA" "f.path(server='$LAB_SPA4:', client='$LAB_C2:').get('s2c_bytes', 0) > 1000000"
  expect "server validated the new client path (stats migrations >= 1)" "f.stat('a', 'migrations') >= 1"
  expect "server qlog: qamp:gate_accept ip-change-allowed at the SPA (level any)" "f.qamp_has('a', r'gate_accept.*ip-change-allowed.*spa-v4')"
  expect_decided network-disconnected migrate
  expect_summary "the migration succeeded" connection.migrations.succeeded ">= 1"
  expect_summary "the connection finished on net 2" connection.local_address ".startswith('$LAB_C2:')"
  expect_moved_figures "$label"
  expect_no_resets
  expect_no_drops_but_stragglers a
}

sc_a_net1_address_removed_any() { net_event_spa_any net1-address-removed lab_addr_del 1; }
sc_a_net1_link_down_any() { net_event_spa_any net1-link-down lab_link_down 1; }

expect_stock_idle_close() {
  expect "the stock client ended by its idle timeout (ERR_IDLE_CLOSE) and still exits 0" \
    "f.log_has('client.log', 'ERR_IDLE_CLOSE') and f['client']['rc'] == 0"
}

# The stock client does not follow events: what it does when its address or link disappears.
net_event_spa_any_stock() {  # LABEL CMD...
  local label=$1
  shift
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  net_event "$label"
  qamp_server a $LAB_HS --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT
  client gtls $LAB_HS $BODY
  at_bytes $NET_EVENT_BYTES "$label" "$@"
  wait_client
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect "the event came during the download (events.tsv, partial body then)" "f.event_t('$label') is not None and 'NOT FIRED' not in str(f['events'])"
  expect "partial body: the stock client does not move (measured failure)" 'f["outcome"] == "partial"'
  expect "nothing sent from net 2" "f.paths_from('$LAB_C2:') == []"
  expect_stock_idle_close
  expect_no_resets
}
sc_a_net1_address_removed_stock() { net_event_spa_any_stock net1-address-removed lab_addr_del 1; }
sc_a_net1_link_down_stock() { net_event_spa_any_stock net1-link-down lab_link_down 1; }

# (a) handshake none, no SPA: net 2 becomes the main default (both families; the from-rules
# stay, so the old socket keeps leaving by net 1). Migration is forbidden: to the planner, which
# resumes on a new connection from net 2 (net 2 is much faster).
sc_a_default_route_net2_none() {
  need_client_flag --follow-network
  net_event default-route-net2
  # Net 1 slow; net 2 at the lab's 40 Mbit/s (at 100 Mbit/s the client host's tcpdump lost a few
  # percent of the resumed body's datagrams on the loaded 2-core machine: incomplete evidence).
  lab_shape 1 16mbit
  qamp_server a $LAB_HS --handshake-level none
  client qamp $LAB_HS $BODY --follow-network=on --strategy auto
  at_bytes 2000000 default-route-net2 lab_default_route 2
  wait_client
  expect_complete
  expect_decided network-made-default to-planner
  expect "client summary: no migration on the connection (policy none)" "f.summ('connection.migrations.succeeded', 0) == 0"
  expect_split
  expect "a new connection from net 2 carried a good part of the rest" "f.path(client='$LAB_C2:').get('s2c_bytes', 0) > 2000000"
  expect "two connections at the server (stats)" "f.stat('a', 'connections') == 2"
  expect "the server dropped nothing: the client never probed a forbidden path" "f.stat('a', 'datagrams_dropped') == 0"
  expect "capture: body on the new connection after the event" "f.body_after_event('default-route-net2') is not None"
  expect_no_resets
}

# (b) Anycast handshake none, unicast SPA on A (any): the client moved to the SPA, so the new
# network reaches A's unicast address, not instance B; qamp's policy allows the migration there.
sc_b_net1_address_removed() {
  need_client_flag --follow-network
  net_event net1-address-removed
  anycast_qamp_pair --handshake-level none --spa-level any --preferred-ipv4-addr=$LAB_SPA4:$LAB_PORT  # B: its own SPA
  client qamp $LAB_ANYCAST $BODY --follow-network=on
  at_bytes $NET_EVENT_BYTES net1-address-removed lab_addr_del 1
  wait_client
  expect_complete
  expect_validated "$LAB_SPA4:" "$LAB_C1:"
  expect_validated "$LAB_SPA4:" "$LAB_C2:"
  expect_decided network-disconnected migrate
  expect "the rest of the body came over net 2 from A's unicast SPA" "f.path(server='$LAB_SPA4:', client='$LAB_C2:').get('s2c_bytes', 0) > 1000000"
  expect_silent b
  expect "nothing from the client reached B" "f.cap('b')['from_client'] == 0"
  expect_moved_figures net1-address-removed
  expect_no_resets
}

# (b) the same with no SPA: the client sits on the Anycast address at level none, the new network
# reaches instance B. The policy forbids the migration: to the planner, whose new connection from
# net 2 is served by B (with Range) and completes; A's old connection is simply abandoned.
sc_b_net1_address_removed_none() {
  need_client_flag --follow-network
  net_event net1-address-removed
  anycast_qamp_pair --handshake-level none
  client qamp $LAB_ANYCAST $BODY --follow-network=on --no-preferred-addr
  at_bytes $NET_EVENT_BYTES net1-address-removed lab_addr_del 1
  wait_client
  expect_complete
  expect_decided network-disconnected to-planner
  expect "client summary: the planner resumed (the old network is gone)" "'resume' in f.summ('connection.planner.decision', '')"
  expect "client summary: no migration probed (policy none)" "f.summ('connection.migrations.succeeded', 0) == 0"
  expect "instance B served a new connection (stats connections)" "f.stat('b', 'connections') == 1"
  expect "the rest of the body came from B over net 2 (capture at b)" "f.path(client='$LAB_C2:', cap='b').get('c2s', 0) > 0 and f.path(client='$LAB_C2:').get('s2c_bytes', 0) > 1000000"
  expect "capture: body on the new connection after the event" "f.body_after_event('net1-address-removed') is not None"
  expect_no_resets
  expect_server_no_resets b
}

# (d) 2-tuple LB, level same-ip: the router blackholes the client's current 4-tuple mid-download;
# ngtcp2's PTOs fire without progress and qamp-client answers with a new source port on the same
# address (RFC 9000 §9.3; the only legal answer at same-ip). The 2-tuple hash keeps the instance.
drop_client_flow() {
  local port
  port=$(client_port)
  [ -n "$port" ] || return 1
  echo "blackholed $LAB_C1:$port" >>"$W/events.log"
  meta DROPPED_PORT "$port"
  lab_drop_flow $LAB_C1 "$port"
}
sc_d_degrading_port_change() {
  need_client_flag --follow-network
  net_event flow-blackholed
  lb2_roles
  cluster_pair --handshake-level same-ip
  client qamp $LAB_VIP $BODY --follow-network=on
  at_bytes $NET_EVENT_BYTES flow-blackholed drop_client_flow
  wait_client
  expect_complete
  expect "the router dropped the old 4-tuple's datagrams (nft counters)" "f.router_drops(1) > 0"
  expect_decided port-change-on-path-degrading migrate
  expect "the port change answered the dead 4-tuple: signal pto-count (PTO periods without progress), not an RTT rise (qlog qamp:network-event)" \
    "any((e['data'].get('detail') or {}).get('signal') == 'pto-count' for e in f.qamp_events('client', 'qamp:network-event') if (e['data'].get('detail') or {}).get('cause') == 'port-change-on-path-degrading')"
  expect "a second path from net 1 with a new port, validated" "len(f.paths_from('$LAB_C1:')) >= 2 and f.validated(server='$LAB_VIP:', client=f.paths_from('$LAB_C1:')[-1]['client'])"
  expect "the new port's first datagram is the client's PATH_CHALLENGE" "f.first_challenge(server='$LAB_VIP:', client=f.paths_from('$LAB_C1:')[-1]['client'])"
  expect "nothing left from net 2" "f.paths_from('$LAB_C2:') == []"
  expect "the home instance accepted a port-only change (stats)" "f.stat('$HOME_INST', 'path_changes_accepted').get('port-only-rebinding', 0) >= 1"
  expect "server qlog ($HOME_INST): qamp:gate_accept port-only-rebinding at level same-ip" "f.qamp_has('$HOME_INST', r'gate_accept.*port-only-rebinding.*same-ip')"
  expect_silent "$OTHER_INST"
  expect_moved_figures flow-blackholed
  expect_no_resets
}

# The stock client against the same blackholed 4-tuple: it never changes its port by itself.
sc_d_degrading_stock() {
  need_bin "$GTLSCLIENT" "package ngtcp2-client"
  net_event flow-blackholed
  lb2_roles
  cluster_pair --handshake-level same-ip
  client gtls $LAB_VIP $BODY
  at_bytes $NET_EVENT_BYTES flow-blackholed drop_client_flow
  wait_client
  expect "partial body: the stock client keeps its dead 4-tuple (measured failure)" 'f["outcome"] == "partial"'
  expect "the router dropped the old 4-tuple's datagrams (nft counters)" "f.router_drops(1) > 0"
  expect "one path only: no new port" "len(f.paths_from('$LAB_C1:')) == 1"
  expect_stock_idle_close
  expect_silent "$OTHER_INST"
  expect_no_resets
}
