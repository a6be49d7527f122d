#!/usr/bin/env bash
# download_ratio.sh BUILD_DIR — a 200 MB body over loopback, qamp vs stock ngtcp2, side by side:
#   server side: stock gtlsclient downloading from qamp-server vs from stock gtlsserver;
#   client side: qamp-client vs stock gtlsclient, both downloading from qamp-server.
# Both servers serve the same random file from one htdocs; each part starts its own servers (a
# crash in one part leaves the other's figures intact). Every part first does one untimed
# warm-up download per program (page cache; qamp-server hashes a file for its SHA-256 header on
# the first request), then RUNS timed downloads per program, alternating which goes first.
# Throughput = size / wall time of the client process (start, handshake, transfer, file written,
# exit). Every download is verified by size and SHA-256 (the stock programs exit 0 on failure);
# one failed download makes the part "failed". Target: median(qamp) / median(stock) >= 0.95.
# A third, informational part (not judged): qamp-client vs gtlsclient downloading from gtlsserver.
#
# Environment: RUNS (default 5), SIZE (bytes, default 200000000), DL_TIMEOUT (seconds per
# download, default 60), BENCH_TMP (scratch directory base; default /dev/shm if writable, else
# /tmp), BENCH_PORT_BASE (default: random in 30000-39998).
# Writes BUILD_DIR/bench/download_ratio.json and a table on stdout; logs stay in files.
# Exit status: 0 both parts ran and met the target, 3 both ran but a ratio is below target,
# 1 a part could not run or a download failed verification, 2 misuse.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
QSERVER=$BUILD/examples/server/qamp-server
QCLIENT=$BUILD/examples/client/qamp-client
OUT=$BUILD/bench
mkdir -p "$OUT"
JSON=$OUT/download_ratio.json
RUNS=${RUNS:-5}
SIZE=${SIZE:-200000000}
DL_TIMEOUT=${DL_TIMEOUT:-60}
TARGET=0.95
PORT_BASE=$(bench_port_base 30000 5000 2)

declare -A DEATH  # port -> how its server died
declare -A PART_STATUS  # server|client -> ok | "not run: ..." | "failed: ..."
bench_workdir dl  # RESULTS: part program run status seconds detail
PIDS=()
cleanup() {
  bench_stop_all
  # Keep the logs of a run that did not go through (the scratch directory goes away).
  if [ "${PART_STATUS[server]:-ok}${PART_STATUS[client]:-ok}${PART_STATUS[client_stock]:-ok}" != okokok ]; then
    bench_save_logs download_ratio
  fi
  bench_drop_workdir
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() { command -v "$1" >/dev/null 2>&1; }

# ---- fixtures ----
for t in gtlsclient gtlsserver certtool ss python3 sha256sum timeout; do
  need "$t" || { echo "download_ratio: $t missing" >&2; PART_STATUS[server]="not run: $t missing"; }
done
[ -x "$QSERVER" ] || PART_STATUS[server]="not run: $QSERVER not built"

if [ -z "${PART_STATUS[server]:-}" ]; then
  bench_fixtures ecdsa "$SIZE"
fi
if [ -n "${PART_STATUS[server]:-}" ]; then
  PART_STATUS[client]=${PART_STATUS[server]}
elif [ ! -x "$QCLIENT" ]; then
  PART_STATUS[client]="not run: $QCLIENT not built"
fi
PART_STATUS[client_stock]=${PART_STATUS[client]:-}

declare -A SPID SLOG  # port -> server pid / log
# Starts a server on a port; each part gets fresh servers, so a crash in one part leaves the
# other's figures intact. $1 qamp-server|gtlsserver, $2 port, $3 log name. 1 when it did not start.
start_server() {
  local log=$W/$3.log
  if [ "$1" = qamp-server ]; then
    "$QSERVER" -q -d "$W/htdocs" 127.0.0.1 "$2" "$W/key.pem" "$W/cert.pem" >"$log" 2>&1 &
  else
    gtlsserver -q -d "$W/htdocs" 127.0.0.1 "$2" "$W/key.pem" "$W/cert.pem" >"$log" 2>&1 &
  fi
  SPID[$2]=$!; SLOG[$2]=$log; PIDS+=("$!")
  wait_udp_port "$2" "${SPID[$2]}"
}

# One download; appends a row to RESULTS. Returns 0 when the saved body is byte-exact.
# $1 part, $2 label, $3 run, $4 client (gtlsclient|qamp-client), $5 port
download() {
  local part=$1 label=$2 run=$3 client=$4 port=$5
  local dir=$W/dl-$label log=$W/$part-$label-$run.log
  rm -rf "$dir"; mkdir -p "$dir"
  local bin=gtlsclient tls=()
  # qamp-client verifies the server certificate: the self-signed one is its own CA.
  [ "$client" = qamp-client ] && bin=$QCLIENT && tls=(--ca-file "$W/cert.pem")
  local t0 t1 rc=0
  t0=$(date +%s%N)
  timeout "$DL_TIMEOUT" "$bin" -q "${tls[@]}" --exit-on-all-streams-close --download "$dir" \
    127.0.0.1 "$port" "https://127.0.0.1:$port/body.bin" >"$log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  local secs size sha status=ok detail="exit $rc"
  secs=$(python3 -c "print(($t1 - $t0) / 1e9)")
  if [ ! -f "$dir/body.bin" ]; then
    status=bad; detail="nothing saved (exit $rc$([ $rc = 124 ] && echo ", timeout ${DL_TIMEOUT}s"))"
  else
    size=$(stat -c %s "$dir/body.bin")
    if [ "$size" != "$SIZE" ]; then
      status=bad; detail="saved $size of $SIZE bytes (exit $rc)"
    else
      sha=$(sha256_of "$dir/body.bin")
      [ "$sha" = "$BODY_SHA" ] || { status=bad; detail="SHA-256 mismatch (exit $rc)"; }
    fi
  fi
  rm -rf "$dir"
  # A server that died (crash, abort) fails the run whatever the client saved; say how.
  local spid=${SPID[$port]} slog=${SLOG[$port]}
  if [ -z "${DEATH[$port]:-}" ] && ! kill -0 "$spid" 2>/dev/null; then
    local src=0
    wait "$spid" 2>/dev/null || src=$?
    DEATH[$port]="server on port $port died (status $src$([ $src -gt 128 ] && echo ", signal $((src - 128))")): $(tail -n2 "$slog" | tr '\n' ' ')"
  fi
  if [ -n "${DEATH[$port]:-}" ]; then status=bad; detail="${DEATH[$port]} [client: $detail]"; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$part" "$label" "$run" "$status" "$secs" "$detail" >> "$RESULTS"
  [ "$status" = ok ]
}

# $1 part, then two "label client port" triples (a = qamp, b = stock).
run_part() {
  local part=$1 al=$2 ac=$3 ap=$4 bl=$5 bc=$6 bp=$7
  download "$part" "$al" warmup "$ac" "$ap" ||
    { PART_STATUS[$part]="not run: $al warm-up download failed: $(tail -n1 "$RESULTS" | cut -f6)"; return; }
  download "$part" "$bl" warmup "$bc" "$bp" ||
    { PART_STATUS[$part]="not run: $bl warm-up download failed: $(tail -n1 "$RESULTS" | cut -f6)"; return; }
  local i bad=""
  for i in $(seq "$RUNS"); do
    if [ $((i % 2)) = 1 ]; then
      download "$part" "$al" "$i" "$ac" "$ap" || bad="$al run $i: $(tail -n1 "$RESULTS" | cut -f6)"
      download "$part" "$bl" "$i" "$bc" "$bp" || bad="$bl run $i: $(tail -n1 "$RESULTS" | cut -f6)"
    else
      download "$part" "$bl" "$i" "$bc" "$bp" || bad="$bl run $i: $(tail -n1 "$RESULTS" | cut -f6)"
      download "$part" "$al" "$i" "$ac" "$ap" || bad="$al run $i: $(tail -n1 "$RESULTS" | cut -f6)"
    fi
  done
  if [ -n "$bad" ]; then PART_STATUS[$part]="failed: $bad"; else PART_STATUS[$part]=ok; fi
}

if [ -z "${PART_STATUS[server]:-}" ]; then
  if ! start_server qamp-server "$PORT_BASE" server-qamp-server; then
    PART_STATUS[server]="not run: qamp-server did not start: $(tail -n1 "$W/server-qamp-server.log")"
  elif ! start_server gtlsserver $((PORT_BASE + 1)) server-gtlsserver; then
    PART_STATUS[server]="not run: gtlsserver did not start: $(tail -n1 "$W/server-gtlsserver.log")"
  else
    run_part server "gtlsclient<-qamp-server" gtlsclient "$PORT_BASE" \
      "gtlsclient<-gtlsserver" gtlsclient $((PORT_BASE + 1))
  fi
  kill "${SPID[$PORT_BASE]:-}" "${SPID[$((PORT_BASE + 1))]:-}" 2>/dev/null
fi
if [ -z "${PART_STATUS[client]:-}" ]; then
  if ! start_server qamp-server $((PORT_BASE + 2)) client-qamp-server; then
    PART_STATUS[client]="not run: qamp-server did not start: $(tail -n1 "$W/client-qamp-server.log")"
  else
    run_part client "qamp-client<-qamp-server" qamp-client $((PORT_BASE + 2)) \
      "gtlsclient<-qamp-server" gtlsclient $((PORT_BASE + 2))
  fi
  kill "${SPID[$((PORT_BASE + 2))]:-}" 2>/dev/null
fi
# Informational (not judged): the clients against the stock server, which is faster than
# qamp-server today, so the client is more likely to be the bottleneck.
if [ -z "${PART_STATUS[client_stock]:-}" ]; then
  if ! start_server gtlsserver $((PORT_BASE + 3)) client_stock-gtlsserver; then
    PART_STATUS[client_stock]="not run: gtlsserver did not start"
  else
    run_part client_stock "qamp-client<-gtlsserver" qamp-client $((PORT_BASE + 3)) \
      "gtlsclient<-gtlsserver" gtlsclient $((PORT_BASE + 3))
  fi
fi

# ---- report ----
python3 - "$RESULTS" "$JSON" "$SIZE" "$RUNS" "$TARGET" "${PART_STATUS[server]:-}" "${PART_STATUS[client]:-}" \
  "${PART_STATUS[client_stock]:-}" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(nproc)" <<'PY'
import json, statistics, sys
tsv, out, size, runs, target, st_server, st_client, st_client_stock, cpu, ncpu = sys.argv[1:11]
size, runs, target = int(size), int(runs), float(target)
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
parts = {
    "server": ("server side: stock gtlsclient downloading from", st_server,
               "gtlsclient<-qamp-server", "gtlsclient<-gtlsserver"),
    "client": ("client side: downloading from qamp-server with", st_client,
               "qamp-client<-qamp-server", "gtlsclient<-qamp-server"),
    "client_stock": ("client side, informational: downloading from gtlsserver with", st_client_stock,
                     "qamp-client<-gtlsserver", "gtlsclient<-gtlsserver"),
}
informational = {"client_stock"}
doc = {"benchmark": "download_ratio", "size_bytes": size, "runs": runs, "target_ratio": target,
       "machine": {"cpu": cpu, "cpus_online": int(ncpu)},
       "method": "wall time of the client process per download; warm-up download per program "
                 "not counted; alternating order; every download verified by size and SHA-256",
       "parts": {}}
print(f"download_ratio: {size} bytes over 127.0.0.1, {runs} timed runs per program (+1 warm-up), "
      f"median throughput; cpu {cpu} ({ncpu} online)")
print(f"{'part':<12} {'program':<28} {'runs MB/s':<40} {'median':>9}")
rc = 0
for part, (title, status, a, b) in parts.items():
    entry = {"title": title, "status": status, "qamp": a, "stock": b, "judged": part not in informational}
    progs = {}
    for label in (a, b):
        secs = [float(r[4]) for r in rows if r[0] == part and r[1] == label and r[2] != "warmup" and r[3] == "ok"]
        mbps = [size / s / 1e6 for s in secs]
        progs[label] = {"seconds": secs, "mb_per_s": [round(x, 1) for x in mbps],
                        "median_mb_per_s": round(statistics.median(mbps), 1) if mbps else None,
                        "failures": [r[5] for r in rows if r[0] == part and r[1] == label and r[3] != "ok"]}
        runs_txt = " ".join(f"{x:.0f}" for x in mbps) or "-"
        med = progs[label]["median_mb_per_s"]
        print(f"{part:<12} {label:<28} {runs_txt:<40} {med if med is not None else '-':>9}")
    entry["programs"] = progs
    ratio = None
    if status == "ok":
        ratio = progs[a]["median_mb_per_s"] / progs[b]["median_mb_per_s"]
        entry["ratio"] = round(ratio, 3)
        entry["target_met"] = ratio >= target
        verdict = "met" if ratio >= target else "MISSED"
        if part in informational:
            verdict += ", informational"
        elif ratio < target and rc == 0:
            rc = 3
        print(f"{part:<12} ratio qamp/stock = {ratio:.3f}  (target >= {target}: {verdict})")
    else:
        entry["ratio"] = None
        entry["target_met"] = None
        if part not in informational:
            rc = 1
        print(f"{part:<12} {status}")
        qa, sb = progs[a]["median_mb_per_s"], progs[b]["median_mb_per_s"]
        if qa and sb:  # what the verified runs say; not a result
            entry["ratio_of_verified_runs"] = round(qa / sb, 3)
            print(f"{part:<12} (ratio over the verified runs only: {qa / sb:.3f}; not counted)")
    doc["parts"][part] = entry
doc["exit_status"] = rc
json.dump(doc, open(out, "w"), indent=2)
print(f"written {out}")
sys.exit(rc)
PY
