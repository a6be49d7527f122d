#!/usr/bin/env python3
"""compare-enforcement.py LAYER_BUILD NATIVE_BUILD — one table, the same tests both ways (issue 6).

LAYER_BUILD is the default build (stock ngtcp2, qamp's layer enforces), NATIVE_BUILD the
-Dngtcp2=patched build, whose e2e and lab suites run with QAMP_ENFORCEMENT=native (ngtcp2
enforces). Both must have run their e2e and lab suites (./run test does). Reads
  BUILD/meson-logs/testlog.json   e2e results (one JSON object per test)
  BUILD/lab/<scenario>/result.json the lab's verdict and outcome per scenario
and prints a Markdown table: every e2e case and lab scenario, its result with each enforcement,
the lab outcome (complete / incomplete, resets seen, drops by reason) and which side of a run
stayed with the layer (a layer-only flag such as --semantics ignore). Also written to
NATIVE_BUILD/enforcement-comparison.md.

Exit status 0 when every row passed both ways with the same outcome; 1 otherwise (a row that
ran in one build only counts as a difference); 2 on misuse.
"""
import json
import os
import re
import sys


def e2e_results(build):
    path = os.path.join(build, "meson-logs", "testlog.json")
    out = {}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return None
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        if ":e2e / " not in t.get("name", ""):
            continue
        text = (t.get("stdout") or "") + (t.get("stderr") or "")
        layer_only = sorted(set(re.findall(r"stays --enforcement=layer for ([^(]+?) \(layer-only", text)))
        out[t["name"]] = {"result": t.get("result"), "layer_only": layer_only}
    return out


def lab_results(build):
    root = os.path.join(build, "lab")
    out = {}
    if not os.path.isdir(root):
        return None
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name, "result.json")
        if not os.path.isfile(p):
            continue
        try:
            out[name] = json.load(open(p))
        except ValueError:
            out[name] = {"status": "unreadable"}
    return out


def lab_outcome(r):
    if not r:
        return "-"
    drops = r.get("drops") or {}
    d = ", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "no drops"
    return f"{r.get('outcome', '-')}; resets seen {r.get('resets_seen', '-')}; {d}"


def outcome_key(r):
    """What must be equal both ways: the verdict and the kind of outcome (not timings or counts)."""
    if not r:
        return None
    drops = r.get("drops") or {}
    return (r.get("status"), r.get("outcome"), bool(r.get("resets_seen")),
            tuple(sorted(k.split(":", 1)[-1] for k, v in drops.items() if v)))


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    layer_build, native_build = argv[1], argv[2]
    rows, diffs = [], 0
    le, ne = e2e_results(layer_build), e2e_results(native_build)
    ll, nl = lab_results(layer_build), lab_results(native_build)
    for what, got in (("layer e2e", le), ("native e2e", ne), ("layer lab", ll), ("native lab", nl)):
        if not got:
            rows.append(f"| (missing) | {what}: no results | | | differs |")
            diffs += 1
    lines = ["# Layer vs native enforcement", "",
             f"layer: `{layer_build}` (stock ngtcp2, qamp's gate and Migrator enforce); "
             f"native: `{native_build}` (patched ngtcp2 enforces, `--enforcement=native`).", "",
             "## e2e (loopback)", "",
             "| test | layer | native | native run kept the layer for | same |",
             "|---|---|---|---|---|"]
    for name in sorted(set(le or {}) | set(ne or {})):
        a, b = (le or {}).get(name), (ne or {}).get(name)
        ra, rb = (a or {}).get("result", "not run"), (b or {}).get("result", "not run")
        same = ra == rb == "OK"
        diffs += not same
        kept = ", ".join((b or {}).get("layer_only", [])) or "-"
        lines.append(f"| {name} | {ra} | {rb} | {kept} | {'yes' if same else '**no**'} |")
    lines += ["", "## lab (network namespaces)", "",
              "| scenario | layer | native | enforcement (server/client) | same |",
              "|---|---|---|---|---|"]
    for name in sorted(set(ll or {}) | set(nl or {})):
        a, b = (ll or {}).get(name), (nl or {}).get(name)
        same = bool(a and b and a.get("status") == "pass" and outcome_key(a) == outcome_key(b))
        diffs += not same
        enf = (b or {}).get("enforcement") or {}
        e = f"{enf.get('server') or 'stock'}/{enf.get('client') or 'stock'}"
        sa = f"{(a or {}).get('status', 'not run')}: {lab_outcome(a)}"
        sb = f"{(b or {}).get('status', 'not run')}: {lab_outcome(b)}"
        lines.append(f"| {name} | {sa} | {sb} | {e} | {'yes' if same else '**no**'} |")
    lines += rows
    lines += ["", f"{'every row the same both ways' if diffs == 0 else f'{diffs} row(s) differ'}."]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    try:
        with open(os.path.join(native_build, "enforcement-comparison.md"), "w") as f:
            f.write(text)
    except OSError as e:
        print(f"cannot write the table: {e}", file=sys.stderr)
    return 0 if diffs == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
