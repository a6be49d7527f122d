#!/usr/bin/env bash
# workers_ratio.sh BUILD_DIR — qamp-server --workers 2 vs --workers 1 in one run (issue 15,
# README "Workers"), over 127.0.0.1, side by side:
#   handshakes: bench/idle_clients completes N handshakes (at most 64 in flight, no request) and
#     reports its connect phase; rate = N / connect phase. Target: median(2) / median(1) >= 1.6.
#   throughput: two stock gtlsclient processes download a SIZE-byte file at the same time; the
#     aggregate is 2 * SIZE / the wall time until both exit. Informational (no target): the
#     kernel's hash places each connection's Initial, so both can land on one worker; every run
#     records how the connections were spread (from the workers' stats files).
# One fresh server per run, RUNS runs per configuration, alternating which goes first. Every
# download is checked by size and SHA-256, every handshake run must confirm all N.
# The server's certificate is RSA-2048 (KEY_TYPE=ecdsa for P-256): the server signs once per
# handshake, the client only verifies nothing (idle_clients checks no certificate), so the run
# measures the server's capacity rather than the load generator's. On a 2-core machine the load
# generator shares the cores with the workers: the ratio is a floor of what two cores give. Each
# handshake run also records the CPU per handshake of the server (all its processes, /proc) and
# of the generator (times), and the summary derives the ceiling the shared cores put on the ratio:
# ncpu * s1 / (s2 + c2) (one worker uses one core; two workers and the generator share all).
#
# Environment: RUNS (default 3), HS_N (default 1500), SIZE (bytes, default 200000000),
# KEY_TYPE (rsa | ecdsa, default rsa), BENCH_TMP (default /dev/shm if writable, else /tmp),
# BENCH_PORT_BASE (default random in 50000-54998).
# Writes BUILD_DIR/bench/workers_ratio.json and a table on stdout; logs stay in files.
# Exit status: 0 all ran and the handshake ratio meets the target, 3 it ran but is below, 1 a run
# failed (or could not run), 2 misuse.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
QSERVER=$BUILD/examples/server/qamp-server
CLIENTS=$BUILD/bench/idle_clients
OUT=$BUILD/bench
mkdir -p "$OUT"
JSON=$OUT/workers_ratio.json
RUNS=${RUNS:-3}
HS_N=${HS_N:-1500}
SIZE=${SIZE:-200000000}
KEY_TYPE=${KEY_TYPE:-rsa}
case "$KEY_TYPE" in rsa | ecdsa) ;; *) echo "$0: KEY_TYPE must be rsa or ecdsa, not '$KEY_TYPE'" >&2; exit 2 ;; esac
TARGET=1.6
PORT_BASE=$(bench_port_base 50000 2500 2)

bench_workdir workers  # RESULTS: part workers run status value spread detail
PIDS=()
FAILED=0
cleanup() {
  bench_stop_all
  [ "$FAILED" = 1 ] && bench_save_logs workers_ratio
  bench_drop_workdir
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NOT_RUN=""
for t in gtlsclient certtool ss python3 timeout sha256sum; do
  command -v "$t" >/dev/null 2>&1 || NOT_RUN="$t missing"
done
[ -x "$QSERVER" ] || NOT_RUN="$QSERVER not built"
[ -x "$CLIENTS" ] || NOT_RUN="$CLIENTS not built"
[ "$(id -u)" = 0 ] || NOT_RUN="--workers 2 needs root (BPF)"

row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"; }

SPID=""
start_server() {  # workers port log
  "$QSERVER" -q --workers "$1" --timeout=30 --max-half-open 4096 --max-connections 8192 -d "$W/htdocs" \
    --stats-file "$W/stats-$2.json" 127.0.0.1 "$2" "$W/key.pem" "$W/cert.pem" >"$3" 2>&1 &
  SPID=$!; PIDS+=("$SPID")
  wait_udp_port "$2" "$SPID"
}
stop_server() {
  kill -TERM "$SPID" 2>/dev/null
  wait "$SPID" 2>/dev/null
}
# "1+1", "2+0", "2" (one process): connections per worker from the stats files.
spread() {  # workers port
  if [ "$1" = 1 ]; then python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["connections"])' "$W/stats-$2.json" 2>/dev/null; return; fi
  python3 - "$W/stats-$2.json" "$1" <<'PY' 2>/dev/null
import json, sys
print("+".join(str(json.load(open(f"{sys.argv[1]}.worker{k}"))["connections"]) for k in range(int(sys.argv[2]))))
PY
}

# CPU ticks (utime + stime) of the server: the process and its workers.
server_ticks() {
  local t=0 p f
  for p in "$SPID" $(pgrep -P "$SPID"); do
    read -r -a f < "/proc/$p/stat" 2>/dev/null || continue
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

handshakes() {  # workers run port
  local w=$1 r=$2 port=$3 log=$W/hs-$1-$2
  if ! start_server "$w" "$port" "$log.server.log"; then row hs "$w" "$r" bad "" "" "server did not start"; FAILED=1; return; fi
  local s0 s1
  s0=$(server_ticks)
  # times: the subshell's children (the generator) in its second line, "XmY.YYYs XmZ.ZZZs".
  ( timeout 90 "$CLIENTS" --hold=0 --parallel=64 --max-seconds=80 --connect-timeout=75 --handshake-timeout=20 \
      127.0.0.1 "$port" "$HS_N" >"$log.clients.log" 2>&1
    echo "rc $?" > "$log.rc"; times > "$log.times" )
  local crc
  crc=$(sed -n 's/^rc //p' "$log.rc")
  s1=$(server_ticks)
  stop_server
  # CPU milliseconds per handshake, server (all workers) and generator.
  local server_ms client_ms
  server_ms=$(python3 -c "print(round(($s1 - $s0) * 1000 / $HZ / $HS_N, 3))")
  client_ms=$(python3 -c '
import re, sys
line = open(sys.argv[1]).read().splitlines()[1]
secs = sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", line))
print(round(secs * 1000 / int(sys.argv[2]), 3))' "$log.times" "$HS_N")
  local line secs
  line=$(grep -m1 '^idle_clients: requested' "$log.clients.log")
  secs=$(sed -n 's/.*connect phase \([0-9.]*\) s.*/\1/p' <<<"$line")
  if [ "$crc" != 0 ] || [ -z "$secs" ]; then
    row hs "$w" "$r" bad "" "" "idle_clients exit $crc: $line $(grep -m1 failure "$log.clients.log")"; FAILED=1; return
  fi
  row hs "$w" "$r" ok "$(python3 -c "print(round($HS_N / $secs, 1))")" "$(spread "$w" "$port")" \
    "${line#idle_clients: }; cpu per handshake: server $server_ms ms, generator $client_ms ms"
}

throughput() {  # workers run port
  local w=$1 r=$2 port=$3 log=$W/tp-$1-$2 k
  if ! start_server "$w" "$port" "$log.server.log"; then row tp "$w" "$r" bad "" "" "server did not start"; FAILED=1; return; fi
  local t0 pids=()
  t0=$(now_ms)
  for k in 1 2; do
    rm -rf "$W/dl-$k"; mkdir -p "$W/dl-$k"
    timeout 120 gtlsclient -q --exit-on-all-streams-close --download "$W/dl-$k" 127.0.0.1 "$port" "https://127.0.0.1:$port/body.bin" >"$log.client$k.log" 2>&1 &
    pids+=($!)
  done
  for k in 0 1; do wait "${pids[$k]}"; done
  local ms=$(($(now_ms) - t0))
  stop_server
  for k in 1 2; do
    if [ "$(stat -c %s "$W/dl-$k/body.bin" 2>/dev/null)" != "$SIZE" ] || [ "$(sha256_of "$W/dl-$k/body.bin")" != "$BODY_SHA" ]; then
      row tp "$w" "$r" bad "" "" "download $k: wrong size or SHA-256"; FAILED=1; return
    fi
  done
  row tp "$w" "$r" ok "$(python3 -c "print(round(2 * $SIZE / ($ms / 1000) / 1e6, 1))")" "$(spread "$w" "$port")" "2 x $SIZE bytes in $ms ms"
}

if [ -z "$NOT_RUN" ]; then
  bench_fixtures "$KEY_TYPE" "$SIZE"
  port=$PORT_BASE
  for r in $(seq "$RUNS"); do
    order="1 2"; [ $((r % 2)) = 0 ] && order="2 1"
    for w in $order; do handshakes "$w" "$r" "$port"; port=$((port + 1)); done
  done
  for r in $(seq "$RUNS"); do
    order="1 2"; [ $((r % 2)) = 0 ] && order="2 1"
    for w in $order; do throughput "$w" "$r" "$port"; port=$((port + 1)); done
  done
fi

python3 - "$RESULTS" "$JSON" "$NOT_RUN" "$TARGET" "$HS_N" "$SIZE" "$KEY_TYPE" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, re, statistics, sys
tsv, out, not_run, target, hs_n, size, key, cpu, ncpu, load = sys.argv[1:11]
target = float(target)
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
doc = {"benchmark": "workers_ratio", "handshakes_per_run": int(hs_n), "download_bytes": int(size),
       "server_key": key, "target_handshake_ratio": target,
       "machine": {"cpu": cpu, "cpus_online": int(ncpu), "loadavg_at_end": load},
       "status": "not run: " + not_run if not_run else "ok", "runs": [], "parts": {}}
print(f"workers_ratio: qamp-server --workers 2 vs --workers 1; cpu {cpu} ({ncpu} online), load {load}")
rc = 1 if not_run else 0
for part, unit, name in (("hs", "handshakes/s", "handshakes"), ("tp", "MB/s aggregate", "throughput")):
    med = {}
    for w in ("1", "2"):
        vals = [float(r[4]) for r in rows if r[0] == part and r[1] == w and r[3] == "ok"]
        for r in rows:
            if r[0] == part and r[1] == w:
                doc["runs"].append({"part": name, "workers": int(w), "run": int(r[2]), "status": r[3],
                                    "value": float(r[4]) if r[4] else None, "spread": r[5], "detail": r[6]})
                print(f"  {name:10} --workers {w} run {r[2]}: {r[4] or '-':>8} {unit}  spread {r[5] or '-':5} {r[3]}  {r[6]}")
        med[w] = statistics.median(vals) if vals else None
    ratio = med["2"] / med["1"] if med["1"] and med["2"] else None
    doc["parts"][name] = {"median_workers_1": med["1"], "median_workers_2": med["2"], "ratio": ratio, "unit": unit}
    print(f"  {name}: median {med['1']} vs {med['2']} {unit}: ratio {ratio and round(ratio, 2)}"
          + (f" (target >= {target})" if part == "hs" else " (informational)"))
    if part == "hs":
        # What the cores allow: one worker runs at most 1/s1 handshakes per second (one process,
        # one core); with two workers the server and the generator share every core, so at most
        # ncpu/(s2 + c2). Their quotient is the ceiling of the ratio on this machine.
        cpu = {}
        for w in ("1", "2"):
            got = [re.search(r"server ([\d.]+) ms, generator ([\d.]+) ms", r[6]) for r in rows
                   if r[0] == "hs" and r[1] == w and r[3] == "ok"]
            got = [g for g in got if g]
            if got:
                cpu[w] = (statistics.median(float(g[1]) for g in got), statistics.median(float(g[2]) for g in got))
        if "1" in cpu and "2" in cpu:
            s1, s2, c2 = cpu["1"][0], cpu["2"][0], cpu["2"][1]
            ceiling = min(float(ncpu), int(ncpu) * s1 / (s2 + c2)) if s2 + c2 > 0 else None
            doc["parts"][name]["cpu_ms_per_handshake"] = {
                "server_workers_1": s1, "server_workers_2": s2, "generator_workers_1": cpu["1"][1],
                "generator_workers_2": c2}
            doc["parts"][name]["ratio_ceiling_shared_cores"] = ceiling
            print(f"  cpu per handshake (median): server {s1} ms with 1 worker, {s2} ms with 2 (all workers);"
                  f" generator {c2} ms; ceiling on {ncpu} shared cores {ncpu}*s1/(s2+c2) = {ceiling and round(ceiling, 2)}")
    if any(r[3] != "ok" for r in rows if r[0] == part):
        rc = 1
    elif part == "hs" and ratio is not None and ratio < target and rc == 0:
        rc = 3
json.dump(doc, open(out, "w"), indent=1)
sys.exit(rc)
PY
rc=$?
[ "$rc" = 1 ] && FAILED=1
exit "$rc"
