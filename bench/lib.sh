# bench/lib.sh — what the benchmark scripts share (sourced, after `set -uo pipefail`): the
# scratch directory, the port range, the fixtures (certificate, body), the waits, the clean-up.
# Each script keeps its own measurement, its own table and its own exit status.
#
# A script sets BUILD, OUT and PIDS (the background processes to stop), then:
#   bench_workdir NAME         W: a fresh directory under BENCH_TMP (default /dev/shm if
#                              writable, else /tmp); RESULTS=$W/results.tsv, empty
#   bench_port_base F N S      F + S * (random below N), or BENCH_PORT_BASE when set
#   bench_fixtures TYPE [SIZE] $W/key.pem and $W/cert.pem (TYPE ecdsa | rsa: RSA-2048), valid for
#                              localhost and 127.0.0.1, 7 days; with SIZE also $W/htdocs/body.bin
#                              of SIZE random bytes, its SHA-256 in BODY_SHA
#   wait_udp_port PORT PID     0 once something listens on UDP PORT, 1 if PID died or 5 s passed
#   now_ms                     wall clock, milliseconds
#   sha256_of FILE             the file's SHA-256, hex
#   bench_stop_all             TERM to every PID in PIDS, then reap them
#   bench_save_logs NAME       copies $W/*.log and RESULTS to $OUT/NAME.logs (a failed run)
#   bench_drop_workdir         removes W; KEEP=1 keeps the logs (not the bodies) and says where

bench_workdir() {
  if [ -z "${BENCH_TMP:-}" ]; then
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then BENCH_TMP=/dev/shm; else BENCH_TMP=/tmp; fi
  fi
  W=$(mktemp -d "$BENCH_TMP/qamp-bench-$1.XXXXXX")
  RESULTS=$W/results.tsv
  : > "$RESULTS"
}

bench_port_base() {
  echo "${BENCH_PORT_BASE:-$(($1 + (RANDOM % $2) * $3))}"
}

bench_fixtures() {
  if [ "$1" = rsa ]; then
    certtool --generate-privkey --key-type=rsa --bits=2048 --outfile "$W/key.pem" >/dev/null 2>&1
  else
    certtool --generate-privkey --key-type=ecdsa --outfile "$W/key.pem" >/dev/null 2>&1
  fi
  printf 'cn=localhost\nexpiration_days=7\ntls_www_server\nip_address=127.0.0.1\n' > "$W/tmpl"
  certtool --generate-self-signed --load-privkey "$W/key.pem" --outfile "$W/cert.pem" \
    --template "$W/tmpl" >/dev/null 2>&1
  mkdir -p "$W/htdocs"
  if [ -n "${2:-}" ]; then
    head -c "$2" /dev/urandom > "$W/htdocs/body.bin"
    BODY_SHA=$(sha256_of "$W/htdocs/body.bin")
  fi
}

wait_udp_port() {
  for _ in $(seq 50); do
    kill -0 "$2" 2>/dev/null || return 1
    ss -Huln "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

sha256_of() { sha256sum < "$1" | cut -d' ' -f1; }

bench_stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}

bench_save_logs() {
  rm -rf "$OUT/$1.logs"
  mkdir -p "$OUT/$1.logs"
  cp "$W"/*.log "$RESULTS" "$OUT/$1.logs/" 2>/dev/null
  echo "logs of this run: $OUT/$1.logs" >&2
}

bench_drop_workdir() {
  if [ "${KEEP:-}" = 1 ]; then
    rm -f "$W/htdocs/body.bin" "$W"/dl-*/body.bin
    echo "logs kept in $W" >&2
  else
    rm -rf "$W"
  fi
}
