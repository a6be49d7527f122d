#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [gate-guard|download-ratio|idle-memory|workers-ratio|planner-matrix ...]
# Runs the benchmarks (all when none is named), each with its detailed output in
# BUILD_DIR/bench/<name>.log, then prints one results table and writes BUILD_DIR/bench/results.json.
# The same ones are meson benchmark() entries: `meson test -C BUILD_DIR --benchmark`.
# Use a release build (meson setup -Dbuildtype=release); other build types are flagged.
# Exit status: 0 everything ran and met its target, 3 everything ran but a target was missed,
# 1 something could not run or failed verification, 2 misuse.
set -uo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [gate-guard|download-ratio|idle-memory|workers-ratio|planner-matrix ...]" >&2; exit 2; }
BUILD=$(realpath "$1"); shift
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$BUILD/bench
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(gate-guard download-ratio idle-memory workers-ratio planner-matrix)
for p in "${PARTS[@]}"; do
  case "$p" in gate-guard|download-ratio|idle-memory|workers-ratio|planner-matrix) ;; *) echo "unknown benchmark: $p" >&2; exit 2 ;; esac
done
[ -f "$BUILD/build.ninja" ] || { echo "run.sh: $BUILD is not a meson build directory" >&2; exit 2; }
mkdir -p "$OUT"
if ! ninja -C "$BUILD" >"$OUT/ninja.log" 2>&1; then
  tail -30 "$OUT/ninja.log" >&2; echo "run.sh: build failed" >&2; exit 1
fi

declare -A RC
for p in "${PARTS[@]}"; do
  json=$OUT/${p//-/_}.json
  rm -f "$json"
  printf 'running %-15s ' "$p"
  start=$(date +%s)
  case "$p" in
    gate-guard) "$BUILD/bench/gate_guard_bench" --json "$json" >"$OUT/gate_guard.log" 2>&1 ;;
    download-ratio) bash "$HERE/download_ratio.sh" "$BUILD" >"$OUT/download_ratio.log" 2>&1 ;;
    idle-memory) bash "$HERE/idle_memory.sh" "$BUILD" >"$OUT/idle_memory.log" 2>&1 ;;
    workers-ratio) bash "$HERE/workers_ratio.sh" "$BUILD" >"$OUT/workers_ratio.log" 2>&1 ;;
    planner-matrix) "$BUILD/bench/planner_matrix" --json "$json" >"$OUT/planner_matrix.log" 2>&1 ;;
  esac
  RC[$p]=$?
  echo "exit ${RC[$p]} after $(( $(date +%s) - start )) s (log: $OUT/${p//-/_}.log)"
done

python3 - "$BUILD" "$OUT" "${PARTS[*]}" "${RC[gate-guard]:-}" "${RC[download-ratio]:-}" "${RC[idle-memory]:-}" "${RC[workers-ratio]:-}" "${RC[planner-matrix]:-}" <<'PY'
import json, os, subprocess, sys
build, out, parts, rc_gate, rc_dl, rc_mem, rc_workers, rc_plan = sys.argv[1:9]
parts = parts.split()
rcs = {"gate-guard": rc_gate, "download-ratio": rc_dl, "idle-memory": rc_mem, "workers-ratio": rc_workers, "planner-matrix": rc_plan}

def load(name):
    try:
        return json.load(open(os.path.join(out, name + ".json")))
    except (OSError, ValueError):
        return None

buildtype = "unknown"
try:
    opts = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build],
                                     capture_output=True, text=True, check=True).stdout)
    buildtype = next(o["value"] for o in opts if o["name"] == "buildtype")
except Exception:
    pass
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
machine = {"cpu": cpu, "cpus_online": os.cpu_count(), "kernel": os.uname().release,
           "loadavg_at_end": open("/proc/loadavg").read().split()[:3], "buildtype": buildtype}

rows = []  # benchmark, case, qamp, stock, ratio, target, result
def row(*r):
    rows.append([str(x) for x in r])

worst = 0
def note(rc):
    global worst
    rc = int(rc) if rc not in ("", None) else 1
    if rc == 0:
        return
    sev = 1 if rc != 3 else 3
    worst = 1 if 1 in (worst, sev) else 3

doc = {"machine": machine, "benchmarks": {}}

# One benchmark's results (None when it wrote none: a "not run" row says so), recorded in doc.
def section(part, label):
    name = part.replace("-", "_")
    d = load(name)
    doc["benchmarks"][name] = d
    note(rcs[part])
    if d is None:
        row(label, "-", "-", "-", "-", "-", f"not run (exit {rcs[part]}, see {name}.log)")
    return d

if "gate-guard" in parts and (g := section("gate-guard", "gate-guard")) is not None:
    t = g["target_median_ns"]
    for c in g["cases"]:
        res = ("UNEXPECTED VERDICT" if not c["verdict_ok"] else
               "info" if not c["targeted"] else "met" if c["median_ns"] < t else "MISSED")
        row("gate-guard", c["name"], f"{c['median_ns']:.1f} ns (p90 {c['p90_ns']:.1f})", "-", "-",
            f"median < {t:g} ns" if c["targeted"] else "-", res)
if "download-ratio" in parts and (d := section("download-ratio", "download")) is not None:
    mb = d["size_bytes"] / 1e6
    for name, p in d["parts"].items():
        case = {"server": f"server: gtlsclient from qamp-server vs gtlsserver, {mb:g} MB",
                "client": f"client: qamp-client vs gtlsclient from qamp-server, {mb:g} MB",
                "client_stock": f"client: qamp-client vs gtlsclient from gtlsserver, {mb:g} MB"}.get(name, name)
        q = p["programs"][p["qamp"]]["median_mb_per_s"]
        s = p["programs"][p["stock"]]["median_mb_per_s"]
        res = p["status"] if p["status"] != "ok" else ("met" if p["target_met"] else "MISSED")
        if not p.get("judged", True):
            res = f"info ({res})"
        row("download", case, f"{q} MB/s" if q else "-", f"{s} MB/s" if s else "-",
            f"{p['ratio']:.3f}" if p["ratio"] is not None else
            f"({p['ratio_of_verified_runs']:.3f})" if p.get("ratio_of_verified_runs") else "-",
            f">= {d['target_ratio']}", res)
if "idle-memory" in parts and (m := section("idle-memory", "idle-memory")) is not None:
    sc = {(s["server"], s["n"]): s for s in m["scenarios"]}
    for n in sorted({s["n"] for s in m["scenarios"]}):
        q, g = sc.get(("qamp-server", n)), sc.get(("gtlsserver", n))
        for key, label in (("rss_per_1000_mib", "held RSS"), ("peak_per_1000_mib", "peak (VmHWM)")):
            qv = q.get(key) if q else None
            gv = g.get(key) if g else None
            ok = q and g and q["status"] == "ok" and g["status"] == "ok"
            res = "ok" if ok else "; ".join(x["status"] for x in (q, g) if x and x["status"] != "ok") or "missing"
            row("idle-memory", f"{label} per 1,000 idle conns, N={n}",
                f"{qv:.2f} MiB" if qv is not None else "-", f"{gv:.2f} MiB" if gv is not None else "-",
                f"{qv / gv:.3f}" if qv is not None and gv else "-", "-", res)
    if m.get("status", "ok") != "ok":
        row("idle-memory", "-", "-", "-", "-", "-", m["status"])

if "workers-ratio" in parts and (m := section("workers-ratio", "workers")) is not None:
    for name, p in m["parts"].items():
        judged = name == "handshakes"
        r = p["ratio"]
        res = ("met" if r >= m["target_handshake_ratio"] else "MISSED") if judged and r is not None else "info" if r is not None else m["status"]
        row("workers", f"{name}: --workers 2 vs --workers 1 ({p['unit']})",
            f"{p['median_workers_2']}" if p["median_workers_2"] else "-",
            f"{p['median_workers_1']}" if p["median_workers_1"] else "-",
            f"{r:.2f}" if r is not None else "-", f">= {m['target_handshake_ratio']}" if judged else "-", res)
        if judged and p.get("ratio_ceiling_shared_cores") is not None:
            cpu_ms = p["cpu_ms_per_handshake"]
            row("workers", "handshakes: the ratio's ceiling on these shared cores (ncpu*s1/(s2+c2), CPU ms per "
                f"handshake: server {cpu_ms['server_workers_1']} / {cpu_ms['server_workers_2']}, "
                f"generator {cpu_ms['generator_workers_2']})", "-", "-",
                f"{p['ratio_ceiling_shared_cores']:.2f}", "-", "info")
if "planner-matrix" in parts and (pm := section("planner-matrix", "planner")) is not None:
    row("planner", f"max regret vs oracle, 54 cells, no hint ({pm['max_regret_cell']})",
        f"{100 * pm['max_regret']:.1f} %", "-", "-", "<= 10 %", "met" if pm["max_regret"] <= 0.10 else "MISSED")
    row("planner", f"split speed-up over best single network, rates within 2x ({pm['split_cells']} cells)",
        f"{pm['min_split_speedup']:.2f}x", "-", "-", ">= 1.25x",
        "met" if pm["split_cells"] and pm["min_split_speedup"] >= 1.25 else "MISSED")
    row("planner", "worst-cell loss: always-stay / always-reconnect",
        f"{pm['worst_stay']:.2f}x / {pm['worst_reconnect']:.2f}x", "-", "-", "> 2x each",
        "met" if pm["worst_stay"] > 2 and pm["worst_reconnect"] > 2 else "MISSED")
    row("planner", "max regret with noisy links (+-30 % / 10 ms), informational",
        f"{100 * pm['max_noisy_regret']:.1f} %", "-", "-", "-", "info")
    row("planner", "files byte-exact (smooth and noisy runs)", f"{108 - pm['bad_files']} of 108", "-", "-", "all",
        "met" if pm["bad_files"] == 0 else "FAILED")

doc["table"] = [dict(zip(["benchmark", "case", "qamp", "stock", "ratio", "target", "result"], r)) for r in rows]
doc["exit_status"] = worst
json.dump(doc, open(os.path.join(out, "results.json"), "w"), indent=2)

head = ["benchmark", "case", "qamp", "stock", "qamp/stock", "target", "result"]
w = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(len(head))]
print()
print(f"machine: {cpu}, {machine['cpus_online']} CPUs, kernel {machine['kernel']}, "
      f"load {' '.join(machine['loadavg_at_end'])}; build {buildtype}"
      + ("" if buildtype == "release" else "  (NOT a release build: figures are not representative)"))
print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
print("  ".join("-" * x for x in w))
for r in rows:
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
print(f"\nwritten {os.path.join(out, 'results.json')}; details in {out}/*.log")
sys.exit(worst)
PY
