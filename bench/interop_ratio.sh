#!/usr/bin/env bash
# interop_ratio.sh BUILD_DIR — a 200 MB body over loopback against a stack users pick instead of
# ngtcp2 (issue 11 point 5): quic-go 0.46 (tests/interop's client and file server), in one run
# next to the stock-ngtcp2 ratios of download_ratio.sh:
#   server-vs-quicgo  the quic-go client downloading from qamp-server vs from the quic-go server
#   server-vs-stock   stock gtlsclient downloading from qamp-server vs from stock gtlsserver
#   client-vs-quicgo  qamp-client vs the quic-go client, both downloading from qamp-server
#   client-vs-stock   qamp-client vs stock gtlsclient, both downloading from qamp-server
# Ratio = median(qamp) / median(other) throughput; informational (no target: quic-go is a
# different stack, the ratios say where qamp stands). Every part does one untimed warm-up
# download per program, then RUNS timed downloads per program, alternating which goes first;
# throughput = size / wall time of the client process; every download verified by size and
# SHA-256 of the saved file, one failed download makes the part "failed".
#
# Environment: RUNS (default 5), SIZE (default 200000000), DL_TIMEOUT (default 60 s per
# download), BENCH_TMP (default /dev/shm if writable, else /tmp), BENCH_PORT_BASE.
# Writes BUILD_DIR/bench/interop_ratio.json and a table on stdout.
# Exit status: 0 every part ran and verified, 1 a part could not run or a download failed, 2 misuse.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
QSERVER=$BUILD/examples/server/qamp-server
QCLIENT=$BUILD/examples/client/qamp-client
GOCLIENT=$BUILD/tests/interop/qamp-interop-h3client
GOSERVER=$BUILD/tests/interop/qamp-interop-h3server
OUT=$BUILD/bench
mkdir -p "$OUT"
JSON=$OUT/interop_ratio.json
RUNS=${RUNS:-5}
SIZE=${SIZE:-200000000}
DL_TIMEOUT=${DL_TIMEOUT:-60}
PORT_BASE=$(bench_port_base 40000 5000 4)

bench_workdir interop  # RESULTS: part program run status seconds detail
PIDS=()
cleanup() {
  bench_stop_all
  bench_save_logs interop_ratio 2>/dev/null  # every run's logs, as a record of the figures
  bench_drop_workdir
}
trap cleanup EXIT
trap 'exit 130' INT TERM

missing=""
for t in gtlsclient gtlsserver certtool ss python3 sha256sum timeout; do
  command -v "$t" >/dev/null 2>&1 || missing+=" $t"
done
for b in "$QSERVER" "$QCLIENT" "$GOCLIENT" "$GOSERVER"; do [ -x "$b" ] || missing+=" $b"; done
if [ -n "$missing" ]; then
  echo "interop_ratio: missing:$missing (ninja -C $BUILD; scripts/install-deps.sh)" >&2
  exit 1
fi

bench_fixtures ecdsa "$SIZE"

declare -A SPID SLOG
start_server() {  # kind port
  local log=$W/server-$1-$2.log
  case $1 in
    qamp-server) "$QSERVER" -q -d "$W/htdocs" 127.0.0.1 "$2" "$W/key.pem" "$W/cert.pem" >"$log" 2>&1 & ;;
    gtlsserver) gtlsserver -q -d "$W/htdocs" 127.0.0.1 "$2" "$W/key.pem" "$W/cert.pem" >"$log" 2>&1 & ;;
    quic-go) "$GOSERVER" -addr "127.0.0.1:$2" -cert "$W/cert.pem" -key "$W/key.pem" -dir "$W/htdocs" >"$log" 2>&1 & ;;
  esac
  SPID[$2]=$!; SLOG[$2]=$log; PIDS+=("$!")
  wait_udp_port "$2" "${SPID[$2]}" || { echo "interop_ratio: $1 did not start on $2: $(tail -n2 "$log")" >&2; exit 1; }
}

# download part label run client(qamp-client|gtlsclient|quic-go) port: one row in RESULTS.
download() {
  local part=$1 label=$2 run=$3 client=$4 port=$5
  local dir=$W/dl log=$W/$part-${label//</_}-$run.log url=https://127.0.0.1:$5/body.bin
  rm -rf "$dir"; mkdir -p "$dir"
  local t0 t1 rc=0 saved=$dir/body.bin
  t0=$(date +%s%N)
  case $client in
    qamp-client) timeout "$DL_TIMEOUT" "$QCLIENT" -q --ca-file "$W/cert.pem" --exit-on-all-streams-close --download "$dir" 127.0.0.1 "$port" "$url" >"$log" 2>&1 || rc=$? ;;
    gtlsclient) timeout "$DL_TIMEOUT" gtlsclient -q --exit-on-all-streams-close --download "$dir" 127.0.0.1 "$port" "$url" >"$log" 2>&1 || rc=$? ;;
    quic-go) timeout "$DL_TIMEOUT" "$GOCLIENT" -out "$dir" -json "$W/go.json" "$url" >"$log" 2>&1 || rc=$?; saved=$dir/0-body.bin ;;
  esac
  t1=$(date +%s%N)
  local secs status=ok detail="exit $rc"
  secs=$(python3 -c "print(($t1 - $t0) / 1e9)")
  if [ ! -f "$saved" ]; then
    status=bad; detail="nothing saved (exit $rc)"
  elif [ "$(stat -c %s "$saved")" != "$SIZE" ]; then
    status=bad; detail="saved $(stat -c %s "$saved") of $SIZE bytes (exit $rc)"
  elif [ "$(sha256_of "$saved")" != "$BODY_SHA" ]; then
    status=bad; detail="SHA-256 mismatch (exit $rc)"
  fi
  rm -rf "$dir"
  if ! kill -0 "${SPID[$port]}" 2>/dev/null; then status=bad; detail="server on $port died: $(tail -n2 "${SLOG[$port]}" | tr '\n' ' ')"; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$part" "$label" "$run" "$status" "$secs" "$detail" >>"$RESULTS"
  [ "$status" = ok ]
}

declare -A PART_STATUS
run_part() {  # part  labelA clientA portA  labelB clientB portB   (A = qamp)
  local part=$1 al=$2 ac=$3 ap=$4 bl=$5 bc=$6 bp=$7 i bad=""
  download "$part" "$al" warmup "$ac" "$ap" || bad="$al warm-up: $(tail -n1 "$RESULTS" | cut -f6)"
  download "$part" "$bl" warmup "$bc" "$bp" || bad="$bl warm-up: $(tail -n1 "$RESULTS" | cut -f6)"
  if [ -z "$bad" ]; then
    for i in $(seq "$RUNS"); do
      if [ $((i % 2)) = 1 ]; then
        download "$part" "$al" "$i" "$ac" "$ap" || bad="$al run $i"
        download "$part" "$bl" "$i" "$bc" "$bp" || bad="$bl run $i"
      else
        download "$part" "$bl" "$i" "$bc" "$bp" || bad="$bl run $i"
        download "$part" "$al" "$i" "$ac" "$ap" || bad="$al run $i"
      fi
    done
  fi
  PART_STATUS[$part]=${bad:+failed: $bad}
  PART_STATUS[$part]=${PART_STATUS[$part]:-ok}
}

QP=$PORT_BASE GP=$((PORT_BASE + 1)) SP=$((PORT_BASE + 2))
start_server qamp-server "$QP"
start_server quic-go "$GP"
start_server gtlsserver "$SP"
run_part server-vs-quicgo "quic-go<-qamp-server" quic-go "$QP" "quic-go<-quic-go" quic-go "$GP"
run_part server-vs-stock "gtlsclient<-qamp-server" gtlsclient "$QP" "gtlsclient<-gtlsserver" gtlsclient "$SP"
run_part client-vs-quicgo "qamp-client<-qamp-server" qamp-client "$QP" "quic-go<-qamp-server" quic-go "$QP"
run_part client-vs-stock "qamp-client<-qamp-server" qamp-client "$QP" "gtlsclient<-qamp-server" gtlsclient "$QP"

python3 - "$RESULTS" "$JSON" "$SIZE" "$RUNS" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$(nproc)" \
  "$(cat /proc/loadavg)" "${PART_STATUS[server-vs-quicgo]}" "${PART_STATUS[server-vs-stock]}" \
  "${PART_STATUS[client-vs-quicgo]}" "${PART_STATUS[client-vs-stock]}" <<'PY'
import json, statistics, sys
tsv, out, size, runs, cpu, ncpu, load, *status = sys.argv[1:]
size, runs = int(size), int(runs)
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
parts = [("server-vs-quicgo", "quic-go<-qamp-server", "quic-go<-quic-go"),
         ("server-vs-stock", "gtlsclient<-qamp-server", "gtlsclient<-gtlsserver"),
         ("client-vs-quicgo", "qamp-client<-qamp-server", "quic-go<-qamp-server"),
         ("client-vs-stock", "qamp-client<-qamp-server", "gtlsclient<-qamp-server")]
doc = {"benchmark": "interop_ratio", "size_bytes": size, "runs": runs, "machine": {"cpu": cpu, "cpus_online": int(ncpu), "loadavg_at_end": load},
       "method": "wall time of the client process per download; one warm-up per program not counted; alternating order; "
                 "every download verified by size and SHA-256; ratio = median(qamp) / median(other)", "parts": {}}
print(f"interop_ratio: {size} bytes over 127.0.0.1, {runs} timed runs per program (+1 warm-up), median MB/s; cpu {cpu} ({ncpu} online), load {load}")
print(f"{'part':<17} {'program':<26} {'runs MB/s':<32} {'median':>7}")
rc = 0
for (part, a, b), st in zip(parts, status):
    entry = {"status": st, "qamp": a, "other": b, "programs": {}}
    for label in (a, b):
        secs = [float(r[4]) for r in rows if r[0] == part and r[1] == label and r[2] != "warmup" and r[3] == "ok"]
        mbps = [size / s / 1e6 for s in secs]
        med = round(statistics.median(mbps), 1) if mbps else None
        entry["programs"][label] = {"seconds": secs, "mb_per_s": [round(x, 1) for x in mbps], "median_mb_per_s": med,
                                    "failures": [r[5] for r in rows if r[0] == part and r[1] == label and r[3] != "ok"]}
        print(f"{part:<17} {label:<26} {' '.join(f'{x:.0f}' for x in mbps) or '-':<32} {med if med is not None else '-':>7}")
    qa, ob = entry["programs"][a]["median_mb_per_s"], entry["programs"][b]["median_mb_per_s"]
    entry["ratio"] = round(qa / ob, 3) if st == "ok" and qa and ob else None
    if st != "ok":
        rc = 1
    print(f"{part:<17} ratio {a.split('<-')[0] if part.startswith('client') else a.split('<-')[1]} / "
          f"{b.split('<-')[0] if part.startswith('client') else b.split('<-')[1]} = {entry['ratio']}  ({st})")
    doc["parts"][part] = entry
doc["exit_status"] = rc
json.dump(doc, open(out, "w"), indent=2)
print(f"written {out}")
sys.exit(rc)
PY
