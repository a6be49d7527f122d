# tests/e2e/client/lib.sh — kept only for tests/interop/interop.sh, whose checks are still Python
# expressions (json_get, assert_json(s) below). The e2e scripts use tests/e2e/lib.sh (jq filters);
# this file goes when interop.sh moves to it.
# Loopback only. Every background process started with `bg_start` is killed on exit.
#
#   e2e_init                      temp dir in $E2E_DIR, cleanup trap
#   gen_cert DIR                  DIR/key.pem, DIR/cert.pem (self-signed, cn=localhost, SANs
#                                 localhost, 127.0.0.1, ::1)
#   free_udp_port [HOST]          a UDP port nothing is bound to on HOST (default 127.0.0.1)
#   wait_udp_port HOST PORT [S]   until something listens on HOST:PORT/udp (S seconds, default 10)
#   bg_start LOG CMD...           runs CMD in the background, output to LOG; sets $BG_PID
#   bg_stop PID                   SIGTERM then SIGKILL one process
#   make_file PATH BYTES          a file of random bytes
#   assert_same_file GOT WANT     same size and SHA-256 (prints both on failure)
#   json_get FILE PY-EXPR         evaluates PY-EXPR with `d` = the parsed JSON, prints the result
#   assert_json FILE PY-EXPR      PY-EXPR must be true
#   assert_jsons FILE PY-EXPR...  every PY-EXPR must be true (one python run: they are slow to
#                                 start on a busy machine)
#   assert_grep PATTERN FILE      extended regex must match a line of FILE
#   fail MSG / pass MSG
set -uo pipefail

E2E_PIDS=()
E2E_DIR=""

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

pass() { echo "PASS: $*"; }

# Who enforces the policy in qamp-server and qamp-client: QAMP_ENFORCEMENT=layer (default; the
# stock ngtcp2) or native (set by meson in a -Dngtcp2=patched build: ngtcp2 enforces).
ENF=${QAMP_ENFORCEMENT:-layer}
case $ENF in layer | native) ;; *) fail "QAMP_ENFORCEMENT=$ENF: expected layer or native" ;; esac
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

e2e_cleanup() {
  local pid
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  sleep 0.2
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  done
  if [ -n "$E2E_DIR" ] && [ -z "${E2E_KEEP:-}" ]; then rm -rf "$E2E_DIR"; fi
}

e2e_init() {
  E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qamp-client-e2e.XXXXXX")
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
}

gen_cert() {
  local dir=$1
  mkdir -p "$dir"
  certtool --generate-privkey --outfile "$dir/key.pem" >/dev/null 2>&1 || fail "certtool: private key"
  # The SANs qamp-client verifies: HOST 127.0.0.1 / ::1 / localhost (pass --ca-file DIR/cert.pem:
  # the self-signed certificate is its own CA).
  printf 'cn=localhost\ndns_name=localhost\nip_address=127.0.0.1\nip_address=::1\nexpiration_days=30\ntls_www_server\n' \
    >"$dir/cert.tmpl"
  certtool --generate-self-signed --load-privkey "$dir/key.pem" --outfile "$dir/cert.pem" \
    --template "$dir/cert.tmpl" >/dev/null 2>&1 || fail "certtool: certificate"
}

free_udp_port() {
  python3 - "${1:-127.0.0.1}" <<'PY'
import socket, sys
host = sys.argv[1]
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((host, 0))
print(s.getsockname()[1])
s.close()
PY
}

wait_udp_port() {
  local host=$1 port=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    if ss -Hlun "sport = :$port" 2>/dev/null | grep -q "$host:$port\|\*:$port\|\[::\]:$port"; then
      return 0
    fi
    sleep 0.05
  done
  fail "nothing listens on $host:$port/udp after ${secs}s"
}

bg_start() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  BG_PID=$!
  E2E_PIDS+=("$BG_PID")
}

bg_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 20; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

make_file() {
  head -c "$2" /dev/urandom >"$1" || fail "cannot create $1"
}

file_size() { stat -c %s "$1"; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

assert_same_file() {
  local got=$1 want=$2
  [ -f "$got" ] || fail "$got was not saved"
  local gs ws gh wh
  gs=$(file_size "$got")
  ws=$(file_size "$want")
  [ "$gs" = "$ws" ] || fail "$got has $gs bytes, expected $ws"
  gh=$(sha256_of "$got")
  wh=$(sha256_of "$want")
  [ "$gh" = "$wh" ] || fail "$got SHA-256 $gh, expected $wh"
}

json_get() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print(json.dumps(v) if not isinstance(v, str) else v)
PY
}

assert_json() {
  local file=$1 expr=$2
  [ -f "$file" ] || fail "no summary file $file"
  python3 - "$file" "$expr" <<'PY' || fail "summary check failed: $expr (in $file)"
import json, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2], {"d": d})
sys.exit(0 if ok else 1)
PY
}

assert_jsons() {
  local file=$1
  shift
  [ -f "$file" ] || fail "no JSON file $file"
  local bad
  bad=$(python3 - "$file" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for expr in sys.argv[2:]:
    try:
        ok = eval(expr, {"d": d})
    except Exception as e:  # a missing key is a failed check, named
        ok = False
        expr += f"  [{type(e).__name__}: {e}]"
    if not ok:
        print(expr)
        break
PY
  ) || fail "cannot evaluate checks on $file"
  [ -z "$bad" ] || fail "check failed: $bad (in $file)"
}

assert_grep() {
  grep -Eq -- "$1" "$2" || fail "no line matching /$1/ in $2"
}
