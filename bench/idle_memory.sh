#!/usr/bin/env bash
# idle_memory.sh BUILD_DIR — server memory while holding N idle QUIC connections, qamp-server vs
# stock gtlsserver, reported per 1,000 connections.
#
# For each N (IDLE_N, default "200 1000") and each server, a fresh server (-q, idle timeout 60 s,
# same ECDSA certificate, empty htdocs) is started on 127.0.0.1; its VmRSS is read as the
# baseline; bench/idle_clients opens N connections (handshakes only, no request; at most 32 in
# flight), prints READY and holds them; SETTLE seconds later the server's VmRSS and VmHWM (peak
# RSS, /proc/PID/status) are read while all N are held. Per 1,000 connections:
#   rss  = (VmRSS held - VmRSS baseline) / N * 1000
#   peak = (VmHWM held - VmRSS baseline) / N * 1000   (includes the handshake burst)
# A scenario counts only when all N connections were confirmed and still alive at the end of the
# hold (idle_clients' exit status). No target is set; the table shows the ratio qamp/stock.
#
# Environment: IDLE_N (default "200 1000"), SETTLE (seconds after READY, default 1.5),
# HOLD (idle_clients --hold, default 4), BENCH_PORT_BASE (default random in 40000-49998),
# BENCH_TMP (scratch directory base; default /dev/shm if writable, else /tmp).
# Writes BUILD_DIR/bench/idle_memory.json and a table on stdout; logs stay in files.
# Exit status: 0 every scenario complete, 1 one was not (or could not run), 2 misuse.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
QSERVER=$BUILD/examples/server/qamp-server
CLIENTS=$BUILD/bench/idle_clients
OUT=$BUILD/bench
mkdir -p "$OUT"
JSON=$OUT/idle_memory.json
IDLE_N=${IDLE_N:-200 1000}
SETTLE=${SETTLE:-1.5}
HOLD=${HOLD:-4}
PORT_BASE=$(bench_port_base 40000 5000 2)

bench_workdir mem  # RESULTS: server N status base_kb rss_kb hwm_kb confirmed detail
PIDS=()
cleanup() {
  bench_stop_all
  # Keep the logs of a scenario that did not go through (the scratch directory goes away).
  if awk -F'\t' '$3 == "bad" { f = 1 } END { exit !f }' "$RESULTS" 2>/dev/null; then
    bench_save_logs idle_memory
  fi
  bench_drop_workdir
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NOT_RUN=""
for t in gtlsserver certtool ss python3 timeout; do
  command -v "$t" >/dev/null 2>&1 || NOT_RUN="$t missing"
done
[ -x "$QSERVER" ] || NOT_RUN="$QSERVER not built"
[ -x "$CLIENTS" ] || NOT_RUN="$CLIENTS not built"

status_kb() {  # pid field -> kB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

# $1 server (qamp-server|gtlsserver), $2 N, $3 port
scenario() {
  local server=$1 n=$2 port=$3 log=$W/$1-$2
  local spid
  if [ "$server" = qamp-server ]; then
    "$QSERVER" -q --timeout=60 -d "$W/htdocs" 127.0.0.1 "$port" "$W/key.pem" "$W/cert.pem" >"$log.server.log" 2>&1 &
  else
    gtlsserver -q --timeout=60s -d "$W/htdocs" 127.0.0.1 "$port" "$W/key.pem" "$W/cert.pem" >"$log.server.log" 2>&1 &
  fi
  spid=$!; PIDS+=("$spid")
  row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$n" "$1" "${base:-}" "${rss:-}" "${hwm:-}" "${confirmed:-}" "$2" >> "$RESULTS"; }
  local base="" rss="" hwm="" confirmed="" crc=0
  if ! wait_udp_port "$port" "$spid"; then row bad "server did not start"; kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; return; fi
  sleep 0.3
  base=$(status_kb "$spid" VmRSS)
  timeout 75 "$CLIENTS" --hold="$HOLD" --idle-timeout=60 --max-seconds=60 127.0.0.1 "$port" "$n" \
    >"$log.clients.log" 2>&1 &
  local cpid=$!; PIDS+=("$cpid")
  local ready=""
  for _ in $(seq 600); do  # READY within 60 s
    ready=$(grep -m1 '^READY' "$log.clients.log" 2>/dev/null) && break
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -n "$ready" ]; then
    sleep "$SETTLE"
    rss=$(status_kb "$spid" VmRSS)
    hwm=$(status_kb "$spid" VmHWM)
  fi
  wait "$cpid" || crc=$?
  confirmed=$(sed -n 's/^READY confirmed=\([0-9]*\).*/\1/p' "$log.clients.log")
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
  if [ -z "$ready" ]; then
    row bad "idle_clients never got READY (exit $crc): $(tail -n1 "$log.clients.log")"
  elif [ "$crc" != 0 ]; then
    row bad "not all held (exit $crc): $(grep -m1 '^idle_clients: requested' "$log.clients.log") $(grep -m1 'failure' "$log.clients.log")"
  elif ! kill -0 "$spid" 2>/dev/null && [ -z "$rss" ]; then
    row bad "server gone"
  else
    row ok "$(grep -m1 '^idle_clients: requested' "$log.clients.log" | sed 's/^idle_clients: //')"
  fi
}

if [ -z "$NOT_RUN" ]; then
  bench_fixtures ecdsa
  port=$PORT_BASE
  for n in $IDLE_N; do
    for server in qamp-server gtlsserver; do
      scenario "$server" "$n" "$port"
      port=$((port + 1))
    done
  done
fi

python3 - "$RESULTS" "$JSON" "$NOT_RUN" "$SETTLE" "$HOLD" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(nproc)" <<'PY'
import json, sys
tsv, out, not_run, settle, hold, cpu, ncpu = sys.argv[1:8]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
doc = {"benchmark": "idle_memory", "settle_s": float(settle), "hold_s": float(hold),
       "machine": {"cpu": cpu, "cpus_online": int(ncpu)},
       "method": "fresh server per scenario; per 1,000 connections: (VmRSS held - VmRSS baseline) "
                 "and (VmHWM held - VmRSS baseline), divided by N, times 1000",
       "status": "not run: " + not_run if not_run else "ok", "scenarios": []}
rc = 1 if not_run else 0
print(f"idle_memory: server memory holding N idle connections (per 1,000 connections, MiB); "
      f"cpu {cpu} ({ncpu} online)")
if not_run:
    print(f"idle_memory: not run: {not_run}")
print(f"{'server':<12} {'N':>5} {'base MiB':>9} {'held RSS':>9} {'VmHWM':>9} {'RSS/1000':>9} {'peak/1000':>10}  status")
by = {}
for server, n, status, base, rss, hwm, confirmed, detail in rows:
    n = int(n)
    s = {"server": server, "n": n, "status": "ok" if status == "ok" else "failed: " + detail,
         "detail": detail, "confirmed": int(confirmed) if confirmed else None}
    if status == "ok":
        base, rss, hwm = int(base), int(rss), int(hwm)
        s.update(base_rss_kib=base, held_rss_kib=rss, hwm_kib=hwm,
                 rss_per_1000_mib=round((rss - base) / n * 1000 / 1024, 2),
                 peak_per_1000_mib=round((hwm - base) / n * 1000 / 1024, 2))
        by[(server, n)] = s
        print(f"{server:<12} {n:>5} {base/1024:>9.1f} {rss/1024:>9.1f} {hwm/1024:>9.1f} "
              f"{s['rss_per_1000_mib']:>9.2f} {s['peak_per_1000_mib']:>10.2f}  ok")
    else:
        rc = 1
        print(f"{server:<12} {n:>5} {'':>9} {'':>9} {'':>9} {'':>9} {'':>10}  FAILED: {detail}")
    doc["scenarios"].append(s)
doc["ratios"] = []
for (server, n), s in sorted(by.items(), key=lambda kv: kv[0][1]):
    if server != "qamp-server" or ("gtlsserver", n) not in by:
        continue
    g = by[("gtlsserver", n)]
    r = {"n": n,
         "rss_ratio": round(s["rss_per_1000_mib"] / g["rss_per_1000_mib"], 3) if g["rss_per_1000_mib"] > 0 else None,
         "peak_ratio": round(s["peak_per_1000_mib"] / g["peak_per_1000_mib"], 3) if g["peak_per_1000_mib"] > 0 else None}
    doc["ratios"].append(r)
    print(f"N={n}: qamp/stock per 1,000 connections: held RSS {r['rss_ratio']}, peak {r['peak_ratio']}")
doc["exit_status"] = rc
json.dump(doc, open(out, "w"), indent=2)
print(f"written {out}")
sys.exit(rc)
PY
