#!/usr/bin/env python3
"""evidence_test.py SCENARIO_DIR — the lab's path claims do not depend on tshark decrypting.

Re-analyses a copy of a scenario run (lab-a-spa-fallback-family) with an empty TLS key log, so
tshark decrypts nothing (as when Wireshark 4.0 miscomputes the packet number of a datagram that
reaches the capture late, see analyze.py capture_facts): every path check must still pass, proved
by the qlogs (source "qlog"), and the capture's own answer must be "unknown", not "false".
Then tcpdump's stats in the singular ("1 packet received by filter") must still read as a
complete capture.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

src = os.path.abspath(sys.argv[1])
if not os.path.exists(os.path.join(src, "facts.json")):
    print(f"evidence_test: {src} has no run (run lab-a-spa-fallback-family first)")
    sys.exit(1)
here = os.path.dirname(os.path.abspath(__file__))
with tempfile.TemporaryDirectory() as tmp:
    d = os.path.join(tmp, "run")
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("dl"))
    open(os.path.join(d, "keys.log"), "w").close()
    subprocess.run([sys.executable, os.path.join(here, "analyze.py"), d], capture_output=True, text=True)
    res = json.load(open(os.path.join(d, "result.json")))
    path_checks = [c for c in res["checks"] if c["expr"].startswith(("f.first_challenge", "f.validated"))]
    bad = [c for c in path_checks if not c["ok"] or c.get("source") != "qlog"]
    for c in path_checks:
        print(("ok   " if c in path_checks and c not in bad else "FAIL ") + c["check"], c.get("source"), c.get("note"))
    if len(path_checks) != 2 or bad:
        print("evidence_test: path checks without decryption did not pass by the qlogs")
        sys.exit(1)
    # tcpdump's stats in the singular ("1 packet received by filter": a capture at an instance
    # that must see nearly nothing) are stats too: the capture still counts as complete.
    logs = sorted(f for f in os.listdir(d) if f.startswith("cap-") and f.endswith(".log"))
    if not logs:
        print("evidence_test: the run has no capture logs")
        sys.exit(1)
    with open(os.path.join(d, logs[0]), "w") as f:
        f.write("tcpdump: listening on e0\n1 packet captured\n1 packet received by filter\n0 packets dropped by kernel\n")
    subprocess.run([sys.executable, os.path.join(here, "analyze.py"), d], capture_output=True, text=True)
    res = json.load(open(os.path.join(d, "result.json")))
    name = logs[0][len("cap-"):-len(".log")]
    cap = [c for c in res["checks"] if c["check"].startswith(f"capture {name} is complete")]
    print(("ok   " if cap and cap[0]["ok"] else "FAIL ") + (cap[0]["check"] if cap else f"no capture check for {name}"))
    if not cap or not cap[0]["ok"]:
        print("evidence_test: tcpdump's singular stats were not read")
        sys.exit(1)
print("evidence_test: pass")
