#!/usr/bin/env python3
"""report.py [--name NAME] LAB_OUT_DIR SCENARIO... — the lab's results table and plot.

Reads LAB_OUT_DIR/<scenario>/result.json (written by analyze.py) for every scenario of the
matrix, in matrix order, and writes
  results.json          every row, with its checks
  results.md            scenario x outcome: status, completion time, bytes, resets seen, drops
                        by reason, then each scenario's checks
  forbidden-change.png  received bytes over time for stay / reconnect / auto (and auto near the
                        end, and the split with both networks equally fast) in the
                        forbidden-change scenarios, the network change marked (gnuplot; data
                        sampled from the saved file every 50 ms)
  split-networks.png    a-split: the body's bytes by network over time, stacked (server-to-client
                        UDP payload per client address from the client capture, 100 ms buckets)
--name demo writes demo.md / demo.json instead (tests/lab/demo.sh, a subset of the matrix).
Exit status 1 when a scenario failed, did not run, or has no result: the matrix is never
silently partial.
"""
import json
import os
import subprocess
import sys
import time

# The first three are required; the others are drawn when they ran.
PLOT_RUNS = [("a-forbidden-change-stay", "stay"), ("a-forbidden-change-reconnect", "reconnect"),
             ("a-forbidden-change-auto", "auto (split, measured)"),
             ("a-forbidden-change-auto-late", "--split=off, change at 92 % (net 2 no faster)"),
             ("a-split", "split, net 2 as slow as net 1")]
SPLIT_RUN = "a-split"
LAB_C1, LAB_C2 = "198.18.1.2:", "198.18.2.2:"  # tests/lab/netlab.sh


def load(out, name):
    path = os.path.join(out, name, "result.json")
    try:
        r = json.load(open(path))
    except (OSError, ValueError):
        return {"name": name, "status": "not-run", "reason": "no result.json: the scenario has not run",
                "outcome": "-", "checks": []}
    return r


def fmt_bytes(r):
    b, e = r.get("bytes"), r.get("expected_bytes")
    if b is None:
        return "-"
    return f"{b:,}/{e:,}" if e else f"{b:,}"


def fmt(v, spec="{}"):
    return "-" if v is None else spec.format(v)


def drops_text(d):
    if not d:
        return "0"
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items()))


def meta_of(out, name):
    meta = {}
    path = os.path.join(out, name, "meta.env")
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def change_time(out, name, t0):
    """Seconds after the client started at which it reacted to the network change: the
    qamp:migration record of its qlog (ms since the connection started, which is within a few
    ms of the process start), else the lab's event log."""
    q = os.path.join(out, name, "client.sqlog")
    if os.path.exists(q):
        for rec in open(q, errors="replace").read().split("\x1e"):
            if '"qamp:migration"' in rec:
                try:
                    return json.loads(rec)["time"] / 1000.0
                except (ValueError, KeyError):
                    pass
    ev = os.path.join(out, name, "events.tsv")
    if os.path.exists(ev):
        for line in open(ev):
            t, _, label = line.rstrip("\n").partition("\t")
            return float(t) - t0
    return None


def plot(out, results):
    """Writes forbidden-change.png; returns (path or None, reason)."""
    series, changes = [], []
    for i, (name, label) in enumerate(PLOT_RUNS):
        r = results.get(name)
        if r is None:
            r = load(out, name) if i >= 3 else None  # the later lines are optional
        meta = meta_of(out, name)
        prog = os.path.join(out, name, "progress.tsv")
        if not r or r.get("status") == "not-run" or not os.path.exists(prog) or "T0" not in meta:
            if i >= 3:
                changes.append(None)
                continue
            return None, f"{name} has no progress data ({(r or {}).get('reason', 'not run')})"
        t0 = float(meta["T0"])
        dat = os.path.join(out, name, "progress.dat")
        with open(dat, "w") as f:
            for line in open(prog):
                p = line.split()
                if len(p) == 2:
                    f.write(f"{float(p[0]) - t0:.3f} {int(p[1]) / 1e6:.4f}\n")
        series.append((dat, f"{label} ({r.get('outcome')}, {fmt(r.get('completion_s'), '{:.2f}')} s)"))
        changes.append(change_time(out, name, t0))
    png = os.path.join(out, "forbidden-change.png")
    script = [
        "set terminal pngcairo size 1000,560 font 'sans,11'",
        f"set output '{png}'",
        "set title 'Forbidden network change (handshake address level none): 8 MB, net 1 16 Mbit/s, net 2 100 Mbit/s (split row: 16)'",
        "set xlabel 'seconds since the client started'",
        "set ylabel 'body bytes received (MB)'",
        "set key right center",
        "set grid",
        "set yrange [0:8.5]",
    ]
    known = [c for c in changes[:3] if c is not None]
    if known:
        c = sum(known) / len(known)
        script.append(f"set arrow 1 from {c:.3f},0 to {c:.3f},8.5 nohead dt 2 lw 2 lc rgb 'red'")
        script.append(f"set label 1 'network change ({c:.2f} s)' at {c + 0.05:.3f},8.1 tc rgb 'red'")
    if len(changes) > 3 and changes[3] is not None:
        script.append(f"set arrow 2 from {changes[3]:.3f},0 to {changes[3]:.3f},8.5 nohead dt 3 lc rgb 'gray40'")
        script.append(f"set label 2 'change at 92 %' at {changes[3] + 0.05:.3f},0.4 tc rgb 'gray40'")
    plots = [f"'{dat}' using 1:2 with lines lw 2 title '{title}'" for dat, title in series]
    script.append("plot " + ", ".join(plots))
    return run_gnuplot(out, "forbidden-change", script, png)


def run_gnuplot(out, stem, script, png):
    """Writes OUT/STEM.gp and runs gnuplot on it; returns (png or None, reason)."""
    gp = os.path.join(out, stem + ".gp")
    open(gp, "w").write("\n".join(script) + "\n")
    rc = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if rc.returncode != 0 or not os.path.exists(png):
        return None, "gnuplot failed: " + rc.stderr.strip()[:200]
    return png, "ok"


def plot_split(out):
    """Writes split-networks.png from a-split's client capture; returns (path or None, reason)."""
    try:
        facts = json.load(open(os.path.join(out, SPLIT_RUN, "facts.json")))
    except (OSError, ValueError):
        return None, f"{SPLIT_RUN} has no facts.json"
    paths = (facts.get("captures", {}).get("client") or {}).get("paths", [])
    series = {}
    for net, prefix in (("net 1", LAB_C1), ("net 2", LAB_C2)):
        cum = {}
        for p in paths:
            if p["client"].startswith(prefix):
                for t, b in p.get("s2c_series", []):
                    cum[t] = cum.get(t, 0) + b  # paths of one network added (one each here)
        series[net] = cum
    if not series["net 1"] or not series["net 2"]:
        return None, f"{SPLIT_RUN}: the capture has no server-to-client bytes on both networks"
    grid = sorted(set(series["net 1"]) | set(series["net 2"]))
    dat = os.path.join(out, SPLIT_RUN, "networks.dat")
    last = {"net 1": 0, "net 2": 0}
    with open(dat, "w") as f:
        for t in grid:
            for net in last:
                last[net] = series[net].get(t, last[net])
            f.write(f"{t:.1f} {last['net 1'] / 1e6:.4f} {(last['net 1'] + last['net 2']) / 1e6:.4f}\n")
    png = os.path.join(out, "split-networks.png")
    top = (last["net 1"] + last["net 2"]) / 1e6 * 1.08
    summary = facts.get("summary") or {}
    change = ((summary.get("connection") or {}).get("split") or {}).get("received_at_change")
    script = [
        "set terminal pngcairo size 1000,480 font 'sans,11'",
        f"set output '{png}'",
        "set title 'a-split: the body by network (client capture, server-to-client UDP payload), 8 MB, both nets 16 Mbit/s'",
        "set xlabel 'seconds since the client started'",
        "set ylabel 'bytes received (MB), stacked'",
        "set key left top",
        "set grid",
        f"set yrange [0:{top:.2f}]",
        "set style fill transparent solid 0.55 noborder",
    ]
    if change:
        script.append(f"set label 1 'change at {change / 1e6:.1f} MB' at graph 0.02, graph 0.62")
    script.append(f"plot '{dat}' using 1:(0):2 with filledcurves lc rgb '#4477aa' title 'net 1 (old connection)', "
                  f"'' using 1:2:3 with filledcurves lc rgb '#ee7733' title 'net 2 (new connection: tail chunks)'")
    return run_gnuplot(out, "split-networks", script, png)


def main():
    args = sys.argv[1:]
    base = "results"
    if len(args) >= 2 and args[0] == "--name":
        base, args = args[1], args[2:]
    out = os.path.abspath(args[0])
    names = args[1:]
    rows = [load(out, n) for n in names]
    by_name = {r["name"]: r for r in rows}
    png, plot_note = plot(out, by_name)
    split_png, split_note = plot_split(out) if SPLIT_RUN in names else (None, "a-split not in this run")
    counts = {s: sum(1 for r in rows if r.get("status") == s) for s in ("pass", "fail", "not-run")}

    json.dump({"generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "counts": counts, "plot": png,
               "plot_note": plot_note, "scenarios": rows}, open(os.path.join(out, base + ".json"), "w"), indent=1)

    md = ["# qamp lab results", "",
          f"{len(rows)} scenarios: {counts['pass']} passed, {counts['fail']} failed, {counts['not-run']} not run "
          f"({time.strftime('%Y-%m-%d %H:%M')}). Topologies: a one server, b Anycast, c 4-tuple LB, d 2-tuple LB "
          "(tests/lab/netlab.sh). A row passes when every check (below) holds; a baseline that must break passes "
          "when it breaks. Bytes are judged by size + SHA-256 of the saved file. *Resets seen*: datagrams to the "
          "client ending in a reset token the server issued (tshark). *Other instance → client*: datagrams the "
          "instance that does not hold the connection sent to the client (its capture). *Drops*: the servers' stats "
          "(gate drops and unanswered unknown-CID datagrams, by reason).", "",
          "| # | scenario | client | server | event | expected | result | outcome | done (s) | bytes | resets seen | other instance → client | drops by reason |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        status = {"pass": "**pass**", "fail": "**FAIL**", "not-run": "**not-run**"}.get(r.get("status"), r.get("status"))
        if r.get("status") != "pass" and r.get("reason"):
            status += f" ({r['reason']})"
        other = "-" if r.get("other_to_client") is None else f"{r['other_instance']}: {r['other_to_client']}"
        md.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            i, r["name"], r.get("client", "-"), r.get("server", "-"), r.get("event", "-"), r.get("expected", "-"),
            status, r.get("outcome", "-"), fmt(r.get("completion_s"), "{:.2f}") if r.get("completion_s") else
            (f"ended {r['client_elapsed_s']:.1f}" if r.get("client_elapsed_s") else "-"),
            fmt_bytes(r), fmt(r.get("resets_seen")), other, drops_text(r.get("drops"))).replace("\n", " "))
    md += ["", "## Plot", ""]
    if png:
        md += [f"![received bytes over time]({os.path.basename(png)})", "",
               f"`{png}`: stay, reconnect and auto after a network change the policy forbids (net 1 slow, net 2 fast; "
               "the fourth line: a change near the end with net 2 no faster, where the one-shot planner stays; "
               "the fifth: the split with both networks equally fast)."]
    else:
        md += [f"not produced: {plot_note}"]
    if split_png:
        md += ["", f"![the split by network]({os.path.basename(split_png)})", "",
               f"`{split_png}`: a-split, the body's bytes by network over time, stacked (client capture)."]
    elif SPLIT_RUN in names:
        md += ["", f"split plot not produced: {split_note}"]
    md += ["", "## Checks", ""]
    for r in rows:
        md.append(f"### {r['name']} — {r.get('status')}")
        if r.get("policy"):
            md.append(f"topology {r.get('topology')}; policy: {r.get('policy')}; planner: "
                      f"{(r.get('planner') or {}).get('decision', '-')}")
        if r.get("reason") and r.get("status") != "pass":
            md.append(f"reason: {r['reason']}")
        md.append("")
        for c in r.get("checks", []):
            md.append(f"- {'ok' if c['ok'] else 'FAIL'}: {c['check']}" + (f" ({c['error']})" if c.get("error") else ""))
        md.append("")
    open(os.path.join(out, base + ".md"), "w").write("\n".join(md) + "\n")

    # Console: the table in short.
    print(f"{'scenario':34} {'result':8} {'outcome':9} {'done s':>7} {'bytes':>19} {'resets':>6} {'other':>6}  drops")
    for r in rows:
        done = fmt(r.get("completion_s"), "{:.2f}") if r.get("completion_s") else (
            f"({r['client_elapsed_s']:.1f})" if r.get("client_elapsed_s") else "-")
        print(f"{r['name']:34} {r.get('status', '-'):8} {r.get('outcome', '-'):9} {done:>7} {fmt_bytes(r):>19} "
              f"{fmt(r.get('resets_seen')):>6} {fmt(r.get('other_to_client')):>6}  {drops_text(r.get('drops'))}")
    print("done s: body complete after; (N): the client gave up after N s. resets: datagrams to the client ending in "
          "a token the server issued. other: datagrams from the instance without the connection to the client.")
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['not-run']} not run")
    print(f"table: {os.path.join(out, base + '.md')}")
    print(f"plot:  {png}" if png else f"plot:  not produced ({plot_note})")
    if SPLIT_RUN in names:
        print(f"plot:  {split_png}" if split_png else f"plot:  split not produced ({split_note})")
    ok = counts["fail"] == 0 and counts["not-run"] == 0 and png is not None and \
        (split_png is not None or SPLIT_RUN not in names)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
