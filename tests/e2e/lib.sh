# tests/e2e/lib.sh — what the server and client end-to-end scripts share (source it from bash).
# Loopback only; every background process started with bg_start is stopped on exit.
#
#   e2e_select CASES ARGS...      ARGS is `BUILD CASE` (sets BUILD, CASE) or `--check`; CASES
#                                 lists one case a line (`name|description`), each run by the
#                                 function case_<name with - as _>. Exits 2 for an unknown case
#                                 or when the list and the handlers disagree; --check exits 0
#                                 when they agree (meson runs it at configure time).
#   e2e_init NAME                 temp dir in $E2E_DIR (kept when E2E_KEEP=1), cleanup on EXIT
#   E2E_CONTEXT=(LOG...)          logs whose tail `fail` prints
#   fail MSG / pass MSG
#   gen_cert DIR                  DIR/key.pem, DIR/cert.pem (self-signed, cn=localhost, SANs
#                                 localhost, 127.0.0.1, ::1)
#   free_udp_port [HOST]          a UDP port nothing is bound to on HOST (default 127.0.0.1)
#   wait_udp_port HOST PORT [S]   until something listens on HOST:PORT/udp (S seconds, default 10)
#   wait_grep S PATTERN FILE      until a line of FILE matches the basic regex (1 after S seconds)
#   bg_start LOG CMD...           runs CMD in the background, output to LOG; sets $BG_PID
#   bg_stop PID                   SIGTERM then SIGKILL one process
#   gtlsclient_get SECS LOG DIR PORT URL [FLAG...]
#                                 the stock ngtcp2 client saves URL from 127.0.0.1:PORT in DIR
#   make_file PATH BYTES          a file of random bytes
#   file_size FILE / sha256_of FILE
#   same_file GOT WANT            same size and SHA-256 (prints both on failure)
#   JSON (jq filters, https://jqlang.github.io/jq/manual/v1.6/; OPTS are --arg NAME VALUE and
#   --argjson NAME JSON, bound to $NAME in the filters: values are passed, never spliced in):
#   json_get FILE [OPTS] FILTER   prints the result (strings raw, the rest as compact JSON)
#   json_text_get TEXT FILTER     the same on a JSON text (a helper's one-line report)
#   assert_jsons FILE [OPTS] FILTER...  every FILTER must be true (fails naming the first not)
#   assert_grep PATTERN FILE      extended regex must match a line of FILE
set -uo pipefail

E2E_PIDS=()
E2E_DIR=""
E2E_CONTEXT=()
CASE=${CASE:-}

fail() {
  local log
  echo "FAIL [$CASE]: $*" >&2
  for log in "${E2E_CONTEXT[@]:-}"; do
    [ -s "$log" ] || continue
    echo "--- $log (last 30 lines)" >&2
    tail -30 "$log" >&2
  done
  exit 1
}

pass() { echo "PASS: $*"; }

# Who enforces the policy in qamp-server and qamp-client: QAMP_ENFORCEMENT=layer (default; the
# stock ngtcp2) or native (set by meson in a -Dngtcp2=patched build: ngtcp2 enforces).
ENF=${QAMP_ENFORCEMENT:-layer}
case $ENF in layer | native) ;; *) fail "QAMP_ENFORCEMENT=$ENF: expected layer or native" ;; esac

GTLSCLIENT=${GTLSCLIENT:-/usr/bin/gtlsclient}

e2e_cases() { sed -e '/^#/d' -e '/^[[:space:]]*$/d' -e 's/|.*//' -e 's/[[:space:]]*$//' "$1"; }

e2e_select() {
  local list=$1 listed handlers
  shift
  [ -f "$list" ] || { echo "no case list $list" >&2; exit 2; }
  listed=$(e2e_cases "$list" | sort)
  handlers=$(compgen -A function case_ | sed -e 's/^case_//' -e 's/_/-/g' | sort)
  if [ "$listed" != "$handlers" ]; then
    echo "case list $list and handlers disagree:" >&2
    comm -23 <(echo "$listed") <(echo "$handlers") | sed 's/^/  listed, no case_ function: /' >&2
    comm -13 <(echo "$listed") <(echo "$handlers") | sed 's/^/  case_ function, not listed: /' >&2
    exit 2
  fi
  if [ "${1:-}" = --check ]; then
    exit 0
  fi
  BUILD=${1:?usage: $0 BUILD_ROOT CASE | --check}
  CASE=${2:?usage: $0 BUILD_ROOT CASE | --check}
  if ! grep -qxF -- "$CASE" <<<"$listed"; then
    echo "unknown case '$CASE': the cases are the names in $list" >&2
    exit 2
  fi
}

# Runs as the EXIT trap, also under `set -e`: nothing in it may stop it early.
e2e_cleanup() {
  local pid i
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${E2E_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    for ((i = 0; i < 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$E2E_DIR" ]; then
    if [ "${E2E_KEEP:-}" = 1 ]; then echo "kept $E2E_DIR"; else rm -rf "$E2E_DIR"; fi
  fi
  return 0
}

e2e_init() {
  E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qamp-e2e-$1.XXXXXX")
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

udp_port_bound() {  # HOST PORT: something is bound to PORT on HOST or on a wildcard address
  ss -Hlun "sport = :$2" 2>/dev/null | grep -q "$1:$2\|\*:$2\|\[::\]:$2\|0\.0\.0\.0:$2"
}

# Below the kernel's ephemeral range (32768-60999), where the peers' own sockets live, and below
# the ports server_e2e.sh derives from its case names (20000-39989).
free_udp_port() {
  local host=${1:-127.0.0.1} port i
  for ((i = 0; i < 100; i++)); do
    port=$((10000 + RANDOM % 10000))
    udp_port_bound "$host" "$port" || { echo "$port"; return 0; }
  done
  fail "no free UDP port on $host"
}

wait_udp_port() {
  local host=$1 port=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    udp_port_bound "$host" "$port" && return 0
    sleep 0.05
  done
  fail "nothing listens on $host:$port/udp after ${secs}s"
}

wait_grep() {
  local secs=$1 pattern=$2 file=$3 i
  for ((i = 0; i < secs * 20; i++)); do
    grep -aq -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# A background process is up once its log says so: waits up to 5 s while PID lives, else prints
# the log and fails naming what did not start.
wait_started() {  # PID PATTERN LOG WHAT
  local pid=$1 pattern=$2 log=$3 what=$4 i
  for ((i = 0; i < 100; i++)); do
    grep -aq -- "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$log" >&2
  fail "$what did not start"
}

bg_start() {
  local log=$1
  shift
  # Truncated here, not by the background job's redirection: that runs after the fork, so a
  # caller's wait_grep could still read the previous process's "listening" line from the same
  # log (a restarted server) and go on before the new one is up.
  : >"$log"
  "$@" >>"$log" 2>&1 &
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
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

gtlsclient_get() {
  local secs=$1 log=$2 dir=$3 port=$4 url=$5
  shift 5
  timeout "$secs" "$GTLSCLIENT" --exit-on-all-streams-close --download "$dir" "$@" 127.0.0.1 "$port" "$url" >"$log" 2>&1
}

make_file() {
  head -c "$2" /dev/urandom >"$1" || fail "cannot create $1"
}

file_size() { stat -c %s "$1"; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

same_file() {
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

# jq_opts ARGS...: the leading --arg/--argjson triples of ARGS in JQ_OPTS, their count in JQ_NOPTS.
jq_opts() {
  JQ_OPTS=()
  JQ_NOPTS=0
  while [ "${1:-}" = --arg ] || [ "${1:-}" = --argjson ]; do
    JQ_OPTS+=("$1" "$2" "$3")
    JQ_NOPTS=$((JQ_NOPTS + 3))
    shift 3
  done
}

json_get() {
  local file=$1
  shift
  [ -f "$file" ] || fail "no JSON file $file"
  jq_opts "$@"
  shift "$JQ_NOPTS"
  jq -r -c "${JQ_OPTS[@]}" "$1" "$file" || fail "jq: cannot evaluate $1 on $file"
}

json_text_get() {
  jq -r -c "$2" <<<"$1" || fail "jq: cannot evaluate $2 on '$1'"
}

# One jq run per filter: jq starts in milliseconds. A filter that errors (a missing key indexed
# further) or yields false/null fails, named with jq's message.
assert_jsons() {
  local file=$1 filter err
  shift
  [ -f "$file" ] || fail "no JSON file $file"
  jq_opts "$@"
  shift "$JQ_NOPTS"
  for filter in "$@"; do
    err=$(jq -e "${JQ_OPTS[@]}" "$filter" "$file" 2>&1 >/dev/null) ||
      fail "check failed: $filter${JQ_OPTS[*]:+ (with ${JQ_OPTS[*]})}${err:+  [$err]} (in $file)"
  done
}

assert_grep() {
  grep -Eq -- "$1" "$2" || fail "no line matching /$1/ in $2"
}
