#!/usr/bin/env python3
"""analyze.py SCENARIO_DIR — facts and verdict of one lab scenario run.

Reads what lab.sh left in SCENARIO_DIR (meta.env, captures, TLS keys, the downloaded file, the
client summary, server stats and qlogs, events.tsv, progress.tsv, expect.tsv), computes facts
from the captures with tshark (evidence from a tool qamp does not contain), evaluates the
scenario's expectations against them and writes facts.json and result.json.

Capture facts per capture point (client host, instance a, instance b):
  paths      one entry per (client ip:port, server ip:port) seen, with datagram counts both
             ways, PATH_CHALLENGE / PATH_RESPONSE data each way, who sent the first datagram
  to_client  datagrams sent towards a client address (NAT pool included)
  resets     datagrams towards the client whose last 16 bytes equal a stateless reset token
             the server issued in this connection (transport parameters, preferred_address,
             NEW_CONNECTION_ID), found with a tshark display filter on udp.payload[-16:]
"""
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time

CLIENT_PREFIXES = ("198.18.1.", "198.18.2.", "198.18.3.", "2001:db8:1::", "2001:db8:2::")
PATH_CHALLENGE, PATH_RESPONSE = 0x1A, 0x1B
STREAM_LOW, STREAM_HIGH = 0x08, 0x0F  # RFC 9000 §19.8: STREAM frame types

FIELDS = [
    "frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport", "udp.dstport",
    "udp.length", "quic.header_form", "quic.frame_type", "quic.path_challenge.data",
    "quic.path_response.data", "quic.nci.stateless_reset_token",
    "tls.quic.parameter.stateless_reset_token",
    "tls.quic.parameter.preferred_address.statelessresettoken", "quic.decryption_failed",
]


def is_client(addr):
    return addr.startswith(CLIENT_PREFIXES)


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def read_meta(d):
    meta = {}
    path = os.path.join(d, "meta.env")
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def tshark(pcap, keys, fields=None, dfilter=None, decrypt=True):
    cmd = ["tshark", "-n", "-r", pcap]
    if decrypt and keys and os.path.exists(keys):
        cmd += ["-o", f"tls.keylog_file:{keys}"]
    if dfilter:
        cmd += ["-Y", dfilter]
    if fields:
        cmd += ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
        for f in fields:
            cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"tshark failed on {pcap}: {out.stderr.strip()[:300]}")
    return out.stdout


def capture_facts(pcap, keys, t0):
    """Datagram and frame level facts of one capture."""
    facts = {"pcap": os.path.basename(pcap), "datagrams": 0, "paths": [], "to_client": 0,
             "from_client": 0, "undecryptable_to_client": 0, "tokens": [], "resets": 0,
             "first_s": None, "last_s": None}
    if not os.path.exists(pcap) or os.path.getsize(pcap) == 0:
        facts["missing"] = True
        return facts
    paths = {}
    tokens = set()
    for line in tshark(pcap, keys, FIELDS, dfilter="udp").splitlines():
        col = line.split("\t")
        col += [""] * (len(FIELDS) - len(col))
        t = float(col[0]) - t0
        src = col[1] or col[2]
        dst = col[3] or col[4]
        if not src or not col[5]:
            continue
        sport, dport = int(col[5]), int(col[6])
        size = int(col[7]) - 8 if col[7] else 0
        frames = [int(x, 0) for x in col[9].split(",") if x] if col[9] else []
        facts["datagrams"] += 1
        facts["first_s"] = t if facts["first_s"] is None else facts["first_s"]
        facts["last_s"] = t
        c2s = is_client(src) and not is_client(dst)
        s2c = is_client(dst) and not is_client(src)
        if not (c2s or s2c):
            continue
        if c2s:
            facts["from_client"] += 1
            key = (endpoint(src, sport), endpoint(dst, dport))
        else:
            facts["to_client"] += 1
            key = (endpoint(dst, dport), endpoint(src, sport))
            if col[15] or not frames:
                facts["undecryptable_to_client"] += 1  # e.g. a reset with a token tshark never saw
            for tokcol in (col[12], col[13], col[14]):
                tokens.update(x.replace(":", "") for x in tokcol.split(",") if x)
        p = paths.get(key)
        if p is None:
            p = paths[key] = {"client": key[0], "server": key[1], "first_s": t,
                              "first_from": "client" if c2s else "server", "c2s": 0, "s2c": 0,
                              "s2c_bytes": 0, "last_s": t, "challenges_c2s": [], "responses_s2c": [],
                              "challenges_s2c": [], "responses_c2s": [], "first_frames": frames,
                              "first_decrypted": bool(frames) and not col[15], "undecryptable_c2s": 0,
                              "undecryptable_s2c": 0, "first_s2c_s": None, "first_stream_s2c_s": None}
        p["last_s"] = t
        if s2c and p["first_s2c_s"] is None:
            p["first_s2c_s"] = t
        if s2c and p["first_stream_s2c_s"] is None and any(STREAM_LOW <= x <= STREAM_HIGH for x in frames):
            p["first_stream_s2c_s"] = t  # the first body (STREAM frame) datagram on this path
        d = "c2s" if c2s else "s2c"
        p[d] += 1
        if col[15] or not frames:
            p["undecryptable_" + d] += 1
        if s2c:
            p["s2c_bytes"] += size
            # Server-to-client UDP payload bytes per 100 ms (the split plot's per-network view).
            b = max(0, int(t * 10))
            p.setdefault("_s2c_buckets", {})
            p["_s2c_buckets"][b] = p["_s2c_buckets"].get(b, 0) + size
        for x in col[10].split(",") if col[10] else []:
            p["challenges_" + d].append(x.replace(":", ""))
        for x in col[11].split(",") if col[11] else []:
            p["responses_" + d].append(x.replace(":", ""))
    for p in paths.values():  # cumulative [seconds, bytes] at the end of each 100 ms
        buckets, cum, series = p.pop("_s2c_buckets", {}), 0, []
        for b in sorted(buckets):
            cum += buckets[b]
            series.append([round((b + 1) / 10, 1), cum])
        p["s2c_series"] = series
    ordered = sorted(paths.values(), key=lambda p: p["first_s"])
    for p in ordered:
        p["client_validated"] = bool(set(p["challenges_c2s"]) & set(p["responses_s2c"]))
        if not p["client_validated"] and (p["undecryptable_c2s"] or p["undecryptable_s2c"]):
            p["client_validated"] = None  # a challenge or response may be in what tshark could not read
        p["server_validated"] = bool(set(p["challenges_s2c"]) & set(p["responses_c2s"]))
        # None: tshark could not decrypt the first datagram, so the capture cannot say.
        p["first_is_path_challenge"] = PATH_CHALLENGE in p["first_frames"] if p["first_decrypted"] else None
    facts["paths"] = ordered
    facts["tokens"] = sorted(tokens)
    return facts


def qlog_records(path):
    """The records of one JSON-SEQ qlog in file order ([] when absent)."""
    if not path or not os.path.exists(path):
        return []
    out = []
    for rec in open(path, "rb").read().decode("utf-8", "replace").split("\x1e"):
        rec = rec.strip()
        if rec:
            try:
                ev = json.loads(rec)
            except ValueError:
                continue
            if ev.get("name"):
                out.append(ev)
    return out


def frames_of(ev, ftype):
    return [fr.get("data") for fr in (ev.get("data") or {}).get("frames", []) if fr.get("frame_type") == ftype]


def qlog_paths(client_qlog, server_qlogs):
    """Path validation evidence from both ends' qlogs, independent of any decoder.

    ngtcp2's packet_sent / packet_received records carry frames but no addresses; qamp's own
    records name the path: qamp-client writes qamp:path_validation_started {local, remote} just
    before ngtcp2 sends the PATH_CHALLENGEs on that path and qamp:path_validation {path, success}
    when ngtcp2 reports the result; qamp-server writes qamp:path_datagram {to, ...} for the first
    datagram the gate lets through on a new path, before ngtcp2 reads it (the next
    packet_received is that datagram; qamp:gate_accept comes only once ngtcp2 took the path).
    Per (client endpoint, server endpoint):
      challenges  PATH_CHALLENGE data the client sent while validating the path
      responses   PATH_RESPONSE data the client received matching those (client_validated)
      first_is_path_challenge  the first packet the client sent after starting the validation
                  holds a PATH_CHALLENGE, and the first packet the server received from that
                  client endpoint after accepting the path holds one of those challenges
      server_echoed  the server's packet_sent PATH_RESPONSE echo the client's challenges
    """
    out = {}
    cur = None
    for ev in client_qlog:
        name, data = ev["name"], ev.get("data") or {}
        start = None
        if name == "qamp:path_validation_started" and data.get("local") and data.get("remote"):
            start = (data["local"], data["remote"])
        elif name == "qamp:migration" and data.get("outcome") == "start-preferred-address-validation":
            det = data.get("detail") or {}  # the move to the SPA: the same socket, to the target
            remote = det.get({"spa-v4": "ipv4", "spa-v6": "ipv6"}.get(det.get("target"), ""))
            start = (det["local"], remote) if det.get("local") and remote else None
        if start:
            key = start
            cur = out.setdefault(key, {"client": key[0], "server": key[1], "challenges": [], "responses": [],
                                       "first_sent_is_challenge": None, "success": None,
                                       "server_first_is_challenge": None, "server_echoed": False})
            cur["_first_pending"] = True
        elif name == "transport:packet_sent" and cur is not None:
            ch = frames_of(ev, "path_challenge")
            if cur.pop("_first_pending", False):
                cur["first_sent_is_challenge"] = bool(ch)
            if cur["success"] is None:
                cur["challenges"] += ch
        elif name == "transport:packet_received" and cur is not None:
            for r in frames_of(ev, "path_response"):
                for p in out.values():
                    if r in p["challenges"]:
                        p["responses"].append(r)
        elif name == "qamp:path_validation":
            path = data.get("path") or {}
            p = out.get((path.get("local"), path.get("remote")))
            if p is not None and p["success"] is None:
                p["success"] = bool(data.get("success"))
    for recs in server_qlogs:
        accepted = None
        for ev in recs:
            name, data = ev["name"], ev.get("data") or {}
            if name == "qamp:path_datagram" and data.get("to"):
                accepted = data["to"]
            elif name == "transport:packet_received" and accepted is not None:
                ch = frames_of(ev, "path_challenge")
                for p in out.values():
                    if p["client"] == accepted and p["server_first_is_challenge"] is None:
                        p["server_first_is_challenge"] = bool(set(ch) & set(p["challenges"]))
                accepted = None
            if name == "transport:packet_sent":
                for r in frames_of(ev, "path_response"):
                    for p in out.values():
                        if r in p["challenges"]:
                            p["server_echoed"] = True
    for p in out.values():
        p.pop("_first_pending", None)
        p["client_validated"] = bool(p["success"] and p["responses"])
        # The client's packet_sent records name no path: a packet on the old path may come between
        # its start record and the first challenge (first_sent_is_challenge, kept as a detail).
        # The server's record does name the path: its first datagram there holds a challenge the
        # client sent.
        p["first_is_path_challenge"] = bool(p["challenges"] and p["server_first_is_challenge"])
    return sorted(out.values(), key=lambda p: p["client"] + p["server"])


class Verdict:
    """A check's result with the source that proved it: capture (tshark), qlog, capture+qlog; or
    `undecryptable` (neither the capture nor the qlogs can say, which fails, and says so)."""

    def __init__(self, ok, verdict, source, note=""):
        self.ok, self.verdict, self.source, self.note = ok, verdict, source, note

    def __bool__(self):
        return bool(self.ok)

    def __repr__(self):
        return f"Verdict({self.verdict}, {self.source}, {self.note})"


def count_resets(pcap, tokens):
    """Datagrams towards a client address ending in one of `tokens` (RFC 9000 §10.3)."""
    if not tokens or not os.path.exists(pcap) or os.path.getsize(pcap) == 0:
        return 0, []
    toks = " || ".join("udp.payload[-16:] == " + ":".join(t[i:i + 2] for i in range(0, 32, 2))
                       for t in tokens)
    dst = " || ".join(f'ip.dst == {p}0/24' for p in ("198.18.1.", "198.18.2.", "198.18.3."))
    dst += " || ipv6.dst == 2001:db8:1::/64 || ipv6.dst == 2001:db8:2::/64"
    out = tshark(pcap, None, ["frame.number", "frame.time_epoch", "udp.length"],
                 dfilter=f"udp && ({dst}) && ({toks})", decrypt=False)
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return len(rows), [{"frame": int(r[0]), "epoch": float(r[1]), "udp_length": int(r[2])} for r in rows]


def read_qlog(path):
    """Event counts by name, and the qamp:* records (ngtcp2 JSON-SEQ qlog + qamp's records)."""
    counts, qamp = {}, []
    if not path or not os.path.exists(path):
        return None
    text = open(path, "rb").read().decode("utf-8", "replace")
    for rec in text.split("\x1e"):
        rec = rec.strip()
        if not rec:
            continue
        try:
            ev = json.loads(rec)
        except ValueError:
            continue
        name = ev.get("name")
        if not name:
            continue
        counts[name] = counts.get(name, 0) + 1
        if name.startswith("qamp:"):
            qamp.append(ev)
    return {"counts": counts, "qamp": qamp}


def qlog_dir(d):
    if not os.path.isdir(d):
        return None
    merged = {"counts": {}, "qamp": [], "files": 0}
    for f in sorted(os.listdir(d)):
        q = read_qlog(os.path.join(d, f))
        if q is None:
            continue
        merged["files"] += 1
        for k, v in q["counts"].items():
            merged["counts"][k] = merged["counts"].get(k, 0) + v
        merged["qamp"] += q["qamp"]
    return merged


def load_json(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def progress(d, t0):
    rows = []
    path = os.path.join(d, "progress.tsv")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) == 2:
                rows.append((float(parts[0]) - t0, int(parts[1])))
    return rows


def events(d, t0):
    rows = []
    path = os.path.join(d, "events.tsv")
    if os.path.exists(path):
        for line in open(path):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                rows.append({"t": round(float(parts[0]) - t0, 3), "name": parts[1]})
    return rows


class Facts(dict):
    """facts.json plus the helpers expectations use (see lab.sh `expect`)."""

    def cap(self, name):
        return self["captures"].get(name) or {"paths": [], "to_client": 0, "from_client": 0, "missing": True,
                                               "datagrams": 0, "resets": 0}

    def paths(self, name="client"):
        return self.cap(name)["paths"]

    def path(self, server=None, client=None, cap="client", nth=0):
        """The nth path (first datagram order) whose server / client endpoint starts with the
        given prefixes, or {} (so .get() works in expectations)."""
        found = [p for p in self.paths(cap) if (server is None or p["server"].startswith(server))
                 and (client is None or p["client"].startswith(client))]
        return found[nth] if len(found) > nth else {}

    def _claim(self, server, client, key, extra_ok=True):
        """A path claim (first_is_path_challenge, client_validated) from the client capture,
        cross-checked with the qlogs (qlog_paths). The capture's value is None when tshark could
        not decrypt the datagrams it needs; then the qlogs decide, and the verdict says so."""
        p = self.path(server=server, client=client)
        if not p:
            return Verdict(False, "fail", "capture", "no such path in the client capture")
        if not extra_ok:
            return Verdict(False, "fail", "capture", "the first datagram on the path came from the server")
        cap = p.get(key)
        q = next((x for x in self.get("qlog_paths", []) if x["client"] == p["client"] and x["server"] == p["server"]),
                 None)
        qv = q.get(key) if q else None
        undec = f"{p.get('undecryptable_c2s', 0)} + {p.get('undecryptable_s2c', 0)} datagrams tshark could not decrypt"
        if cap is None and qv is None:
            return Verdict(False, "undecryptable", "none", f"capture: {undec}; no qlog record of the path")
        if cap is None:
            return Verdict(qv, "pass" if qv else "fail", "qlog", f"capture undecryptable ({undec})")
        if qv is None:
            return Verdict(cap, "pass" if cap else "fail", "capture", "no qlog record of the path")
        if cap == qv:
            return Verdict(cap, "pass" if cap else "fail", "capture+qlog")
        return Verdict(False, "fail", "capture!=qlog", f"capture says {cap}, qlogs say {qv}")

    def first_challenge(self, server=None, client=None):
        """The first datagram on the path is the client's and holds a PATH_CHALLENGE."""
        p = self.path(server=server, client=client)
        return self._claim(server, client, "first_is_path_challenge", p.get("first_from") == "client")

    def validated(self, server=None, client=None):
        """A PATH_RESPONSE with the data of the client's PATH_CHALLENGE came back on the path."""
        return self._claim(server, client, "client_validated")

    def paths_to(self, server_prefix, name="client"):
        return [p for p in self.paths(name) if p["server"].startswith(server_prefix)]

    def paths_from(self, client_prefix, name="client"):
        return [p for p in self.paths(name) if p["client"].startswith(client_prefix)]

    def stat(self, inst, key, default=0):
        s = self["stats"].get(inst) or {}
        return s.get(key, default)

    def drops(self, inst):
        return (self["stats"].get(inst) or {}).get("dropped_by_reason", {})

    def summ(self, dotted, default=None):
        cur = self.get("summary")
        for part in dotted.split("."):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                return default
        return cur

    def split_ranges_tile(self):
        """The client summary's split ranges (issue 13) cover [0, file bytes) with no gap or
        overlap, each named by its network."""
        r = self.summ("connection.split.ranges", [])
        total = self.summ("connection.split.file_bytes_old", 0) + self.summ("connection.split.file_bytes_new", 0)
        return bool(r) and r[0]["begin"] == 0 and r[-1]["end"] == total and total > 0 and \
            all(r[i]["begin"] == r[i - 1]["end"] for i in range(1, len(r))) and \
            all(x["network"] in ("old", "new") for x in r)

    def qlog(self, who, name):
        q = self["qlogs"].get(who)
        return 0 if not q else q["counts"].get(name, 0)

    def qamp_events(self, who, name):
        q = self["qlogs"].get(who)
        return [] if not q else [e for e in q["qamp"] if e.get("name") == name]

    def router_drops(self, net):
        """Packets the router's impair<net> chain dropped (nft counters, router-nft.txt)."""
        path = os.path.join(self["dir"], "router-nft.txt")
        if not os.path.exists(path):
            return 0
        text = open(path).read()
        m = re.search(r"chain impair%d \{(.*?)\}" % net, text, re.S)
        return sum(int(x) for x in re.findall(r"counter packets (\d+)", m.group(1))) if m else 0

    def jsonl(self, name):
        """The JSON lines a scenario wrote to `name` in its directory ([] when absent)."""
        path = os.path.join(self["dir"], name)
        return [json.loads(x) for x in open(path) if x.strip()] if os.path.exists(path) else []

    def lb_packets(self, chain):
        """Packets counted in the load balancer's chain `chain` (nft counters, lb-nft.txt): in
        topology e cid_a / cid_b (new flows routed by their CID's server ID) and by_hash."""
        path = os.path.join(self["dir"], "lb-nft.txt")
        if not os.path.exists(path):
            return None
        m = re.search(r"chain %s \{(.*?)\n\t\}" % re.escape(chain), open(path).read(), re.S)
        return sum(int(x) for x in re.findall(r"counter packets (\d+)", m.group(1))) if m else None

    def qamp_has(self, who, pattern):
        """A qamp:* qlog record of `who` (client, a, b) whose JSON text matches `pattern`."""
        return any(re.search(pattern, json.dumps(e, separators=(",", ":"))) for e in
                   (self["qlogs"].get(who) or {"qamp": []})["qamp"])

    def log_has(self, log, pattern):
        path = os.path.join(self["dir"], log)
        return os.path.exists(path) and re.search(pattern, open(path, errors="replace").read(), re.M) is not None

    def decisions(self):
        """qamp-client's network-event decisions (summary .network.decisions, [] when absent)."""
        return self.summ("network.decisions", None) or []

    def decided(self, cause, action):
        """A decision with that cause and action (summary .network.decisions)."""
        return any(x.get("cause") == cause and x.get("action") == action for x in self.decisions())

    def body_after_event(self, label, cap="client"):
        """Seconds from the event `label` (events.tsv) to the first datagram with a STREAM frame
        the client received on a path that began after the event (the capture's own figure of
        event -> first body byte on the new path), or None."""
        t = self.event_t(label)
        if t is None:
            return None
        firsts = [p["first_stream_s2c_s"] for p in self.paths(cap)
                  if p["first_s"] >= t - 0.001 and p.get("first_stream_s2c_s") is not None]
        return round(min(firsts) - t, 4) if firsts else None

    def event_t(self, name):
        for e in self["events"]:
            if e["name"] == name:
                return e["t"]
        return None


def outcome_of(dl):
    if dl["complete"]:
        return "complete"
    if dl["bytes"] > 0:
        return "partial"
    return "failed"


def main():
    d = os.path.abspath(sys.argv[1])
    meta = read_meta(d)
    t0 = float(meta.get("T0", "0") or 0)
    keys = os.path.join(d, "keys.log")
    f = Facts(dir=d, name=meta.get("NAME"), meta=meta, captures={}, stats={}, qlogs={}, summary=None)

    # The body: judged by the bytes saved, size + SHA-256, never by an exit status.
    expected_file = meta.get("EXPECTED_FILE", "")
    saved = meta.get("SAVED_FILE", "")
    dl = {"expected_bytes": os.path.getsize(expected_file) if os.path.exists(expected_file) else None,
          "bytes": os.path.getsize(saved) if saved and os.path.exists(saved) else 0}
    dl["sha256_ok"] = bool(dl["expected_bytes"] is not None and dl["bytes"] == dl["expected_bytes"]
                           and sha256(saved) == sha256(expected_file))
    dl["complete"] = dl["sha256_ok"]
    prog = progress(d, t0)
    dl["completion_s"] = None
    if dl["complete"]:
        for t, b in prog:
            if b >= dl["expected_bytes"]:
                dl["completion_s"] = round(t, 3)
                break
    f["download"] = dl
    f["outcome"] = outcome_of(dl)
    f["client"] = {"kind": meta.get("CLIENT_KIND"), "rc": int(meta["CLIENT_RC"]) if meta.get("CLIENT_RC") else None,
                   "elapsed_s": float(meta["CLIENT_ELAPSED"]) if meta.get("CLIENT_ELAPSED") else None}
    f["summary"] = load_json(os.path.join(d, "summary.json"))
    if f["summary"] and dl["completion_s"] is None and f["summary"].get("complete"):
        dl["completion_s"] = f["summary"].get("connection", {}).get("completion_time_s")
    f["events"] = events(d, t0)

    all_tokens = set()
    for name in ("client", "a", "b"):
        pcap = os.path.join(d, f"{name}.pcap")
        if os.path.exists(pcap):
            f["captures"][name] = capture_facts(pcap, keys, t0)
            all_tokens.update(f["captures"][name]["tokens"])
    # Tokens from the server qlogs as well (a token in a frame tshark could not decrypt).
    for name in ("a", "b"):
        st = load_json(os.path.join(d, f"stats-{name}.json"))
        if st is not None:
            f["stats"][name] = st
        q = qlog_dir(os.path.join(d, f"qlog-{name}"))
        if q is not None:
            f["qlogs"][name] = q
    cq = read_qlog(os.path.join(d, "client.sqlog"))
    if cq is not None:
        f["qlogs"]["client"] = cq
    for qfile in [os.path.join(d, "client.sqlog")] + [os.path.join(d, f"qlog-{n}", x) for n in ("a", "b")
                                                        if os.path.isdir(os.path.join(d, f"qlog-{n}"))
                                                        for x in os.listdir(os.path.join(d, f"qlog-{n}"))]:
        if os.path.exists(qfile):
            for tok in re.findall(r'"stateless_reset_token":"([0-9a-f]{32})"', open(qfile, errors="replace").read()):
                all_tokens.add(tok)
    f["reset_tokens"] = sorted(all_tokens)
    sq = [qlog_records(os.path.join(d, f"qlog-{n}", x)) for n in ("a", "b") if os.path.isdir(os.path.join(d, f"qlog-{n}"))
          for x in sorted(os.listdir(os.path.join(d, f"qlog-{n}")))]
    f["qlog_paths"] = qlog_paths(qlog_records(os.path.join(d, "client.sqlog")), sq)
    for name, cap in f["captures"].items():
        n, rows = count_resets(os.path.join(d, f"{name}.pcap"), f["reset_tokens"])
        cap["resets"] = n
        cap["reset_frames"] = rows[:20]
    f["resets_seen"] = f.cap("client")["resets"] if "client" in f["captures"] else None

    drops = {}
    resets_sent = 0
    for inst, st in f["stats"].items():
        for reason, n in st.get("dropped_by_reason", {}).items():
            drops[f"{inst}:{reason}"] = n
        # Unknown-CID datagrams answered by nothing: the reset guard's silent drops.
        for reason, n in st.get("resets_suppressed_by_reason", {}).items():
            drops[f"{inst}:{reason}"] = n
        resets_sent += st.get("resets_sent", 0)
    f["drops"] = drops
    # The instance that does not hold the connection (Anycast B, the LB's other pick): what it
    # sent to the client is the evidence "no answer from the wrong instance".
    conns = {i: st.get("connections", 0) for i, st in f["stats"].items()}
    home = max(conns, key=conns.get) if conns and max(conns.values()) > 0 else "a"
    other = "b" if home == "a" else "a"
    f["home"], f["other"] = home, other
    f["other_to_client"] = f["captures"][other]["to_client"] if other in f["captures"] else None
    f["resets_sent"] = resets_sent if f["stats"] else None

    # Expectations: "description<TAB>python expression over f".
    checks = []
    path = os.path.join(d, "expect.tsv")
    if os.path.exists(path):
        for line in open(path):
            line = line.rstrip("\n")
            if not line or "\t" not in line:
                continue
            desc, expr = line.split("\t", 1)
            verdict, source, note = None, None, ""
            try:
                v = eval(expr, {"math": math, "re": re}, {"f": f})  # noqa: S307 (our own table)
                ok, err = bool(v), None
                if isinstance(v, Verdict):
                    verdict, source, note = v.verdict, v.source, v.note
            except Exception as e:  # a check that cannot be computed fails, with the reason
                ok, err = False, f"{type(e).__name__}: {e}"
            checks.append({"check": desc, "expr": expr, "ok": ok, "error": err, "verdict": verdict or ("pass" if ok else "fail"),
                           "source": source, "note": note})

    # Built-in check: the evidence is whole (tcpdump wrote every packet its filter took).
    for name in sorted(f["captures"]):
        log = os.path.join(d, f"cap-{name}.log")
        text = open(log).read() if os.path.exists(log) else ""
        # tcpdump says "1 packet", "0 packets": the singular is as likely as any other count.
        cap = re.search(r"(\d+) packets? captured", text)
        rcv = re.search(r"(\d+) packets? received by filter", text)
        drop = re.search(r"(\d+) packets? dropped by kernel", text)
        # The kernel must have dropped nothing; a packet or two the filter took while tcpdump was
        # being stopped (after the scenario ended) is not missing evidence.
        ok = bool(cap and rcv and drop and drop.group(1) == "0" and int(rcv.group(1)) - int(cap.group(1)) <= 2)
        checks.append({"check": f"capture {name} is complete (tcpdump: {cap.group(1) if cap else '?'} captured of "
                                f"{rcv.group(1) if rcv else '?'} received by filter)", "expr": "tcpdump stats",
                       "ok": ok, "error": None})

    status = meta.get("STATUS_OVERRIDE") or ""
    reason = meta.get("REASON", "")
    if not status:
        if not checks:
            status, reason = "fail", reason or "no expectations evaluated"
        elif all(c["ok"] for c in checks):
            status = "pass"
        else:
            status = "fail"
            reason = "; ".join(c["check"] + (" (undecryptable)" if c.get("verdict") == "undecryptable" else "")
                               for c in checks if not c["ok"])
    result = {
        "name": meta.get("NAME"), "topology": meta.get("TOPO"), "client": meta.get("CLIENT"),
        "server": meta.get("SERVER"), "policy": meta.get("POLICY"), "event": meta.get("EVENT"),
        "expected": meta.get("EXPECTED"), "status": status, "reason": reason, "outcome": f["outcome"],
        "completion_s": dl["completion_s"], "client_elapsed_s": f["client"]["elapsed_s"],
        "client_rc": f["client"]["rc"], "bytes": dl["bytes"], "expected_bytes": dl["expected_bytes"],
        "resets_seen": f["resets_seen"], "resets_sent": f["resets_sent"], "drops": drops,
        "other_instance": other if other in f["captures"] else None, "other_to_client": f["other_to_client"],
        "checks": checks, "run_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "dir": d,
        # who enforced: layer (qamp) or native (patched ngtcp2); None for a stock program
        "enforcement": {"server": meta.get("ENFORCEMENT_SERVER"), "client": meta.get("ENFORCEMENT_CLIENT")},
        "events": f["events"], "planner": f.summ("connection.planner"),
    }
    # Rows whose client host's network really changes (issue 14 item 5): the event, qamp-client's
    # decisions and both event -> first body byte figures (the client's own, and the capture's).
    net_event = meta.get("NET_EVENT")
    if net_event:
        b = f.body_after_event(net_event)
        result["network"] = {
            "event": net_event, "event_s": f.event_t(net_event),
            "capture_event_to_body_ms": None if b is None else round(b * 1000, 1),
            "client_event_to_first_byte_ms": f.summ("network.event_to_first_byte_ms"),
            "decisions": f.decisions()}
        f["network"] = result["network"]
    json.dump(f, open(os.path.join(d, "facts.json"), "w"), indent=1, default=str)
    json.dump(result, open(os.path.join(d, "result.json"), "w"), indent=1)
    for c in checks:
        src = f"  [{c['source']}{': ' + c['note'] if c.get('note') else ''}]" if c.get("source") else ""
        print(("  ok   " if c["ok"] else "  UNDECRYPTABLE " if c.get("verdict") == "undecryptable" else "  FAIL ")
              + c["check"] + src + (f"  ({c['error']})" if c["error"] else ""))
    if result.get("network"):
        n = result["network"]
        print(f"  network event {n['event']} at {n['event_s']} s; event -> first body byte on the new path: "
              f"capture {n['capture_event_to_body_ms']} ms, client {n['client_event_to_first_byte_ms']} ms; "
              f"decisions {[(x.get('cause'), x.get('action'), x.get('rule')) for x in n['decisions']]}")
    print(f"{result['name']}: {status.upper()} — outcome {result['outcome']}, {dl['bytes']}/{dl['expected_bytes']} bytes"
          f", completion {dl['completion_s']} s, resets seen {result['resets_seen']}, drops {drops or '{}'}"
          + (f" — {reason}" if status != "pass" and reason else ""))
    return 0 if status == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
