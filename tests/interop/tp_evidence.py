#!/usr/bin/env python3
"""tp_evidence.py PCAP KEYS SERVER_PORTS QAMP_TP OUT_JSON — transport parameters as tshark reads them.

Wireshark's QUIC dissector is an independent reader of qamp's wire format (issue 11). For every
TLS handshake message carrying quic_transport_parameters in PCAP (decrypted with the NSS key log
KEYS), this writes one record to OUT_JSON:

  from        "server" (EncryptedExtensions from one of SERVER_PORTS, comma-separated) or "client"
              (ClientHello, from an Initial packet, which tshark decrypts without keys)
  params      [{"id": "0x0c", "length": 0, "value": "hex"}] in wire order, as tshark split them
  blob        the parameters re-encoded from tshark's split (varint id, varint length, value);
              equal to the wire bytes when the ids and lengths are minimal varints (ngtcp2's are)
  tshark_pa   tshark's preferred_address fields (ipv4, ipv4port, ipv6, ipv6port, cid length, cid,
              token), or null
  experts     tshark's expert-info messages for that frame (e.g. "19 trailing bytes were unprocessed")
  values      tshark's decoded integer parameters by name (initial_max_streams_bidi, ...)
  qamp        `qamp-tp decode --from <server|client> BLOB`: its JSON, or {"error": "..."}
  disagreements  where tshark's reading differs from qamp-tp's (server records): parameter ids
              and lengths, every preferred_address field, the 0x2d51 byte against the levels
              qamp-tp learnt, and tshark's expert warnings; [] when the two readers agree
"""
import json
import subprocess
import sys

FIELDS = ["frame.number", "udp.srcport", "tls.handshake.type", "tls.quic.parameter.type",
          "tls.quic.parameter.length", "tls.quic.parameter.value",
          "tls.quic.parameter.preferred_address.ipv4address",
          "tls.quic.parameter.preferred_address.ipv4port",
          "tls.quic.parameter.preferred_address.ipv6address",
          "tls.quic.parameter.preferred_address.ipv6port",
          "tls.quic.parameter.preferred_address.connectionid.length",
          "tls.quic.parameter.preferred_address.connectionid",
          "tls.quic.parameter.preferred_address.statelessresettoken",
          "tls.quic.parameter.initial_max_streams_bidi", "tls.quic.parameter.initial_max_streams_uni",
          "_ws.expert.message"]
SEP = "\x1f"  # never in tshark's values


def varint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return (v | 0x4000).to_bytes(2, "big")
    if v < 0x40000000:
        return (v | 0x80000000).to_bytes(4, "big")
    return (v | 0xC000000000000000).to_bytes(8, "big")


def split(cell):
    return [] if cell == "" else cell.split(SEP)


LEVEL_CODES = {"any": 0, "none": 1, "same-ip": 2}


def disagreements(rec):
    q, out = rec["qamp"], []
    if "error" in q:
        return [f"qamp-tp rejects the blob: {q['error']}"]
    ts = [(p["id"], p["length"]) for p in rec["params"]]
    qs = [(p["id"], p["length"]) for p in q["params"]]
    if ts != qs:
        out.append(f"parameters differ: tshark {ts} vs qamp-tp {qs}")
    pa, qpa = rec["tshark_pa"], q["preferred_address"]
    if (pa is None) != (qpa is None):
        out.append(f"preferred_address: tshark {pa} vs qamp-tp {qpa}")
    elif pa is not None:
        v4 = None if pa["ipv4"] == "0.0.0.0" and pa["ipv4port"] == 0 else f"{pa['ipv4']}:{pa['ipv4port']}"
        v6 = None if pa["ipv6"] == "::" and pa["ipv6port"] == 0 else f"[{pa['ipv6']}]:{pa['ipv6port']}"
        cid = "" if pa["cid"] == "<MISSING>" else pa["cid"]
        for name, t, qv in (("ipv4", v4, qpa["ipv4"]), ("ipv6", v6, qpa["ipv6"]), ("cid", cid, qpa["cid"]),
                            ("cid length", pa["cid_length"], len(qpa["cid"]) // 2),
                            ("stateless_reset_token", pa["token"], qpa["stateless_reset_token"])):
            if t != qv:
                out.append(f"preferred_address {name}: tshark {t} vs qamp-tp {qv}")
    for p in rec["params"]:
        if p["id"] == "0x2d51" and q.get("policy"):
            pol = q["policy"]
            want = LEVEL_CODES[pol["handshake"]] | LEVEL_CODES[pol["spa_v4"]] << 2 | LEVEL_CODES[pol["spa_v6"]] << 4
            if p["value"] != f"{want:02x}":
                out.append(f"0x2d51 byte: tshark {p['value']} vs qamp-tp levels {pol} ({want:02x})")
    out += [f"tshark expert: {e}" for e in rec["experts"]]
    return out


def main():
    pcap, keys, ports, qamp_tp, out = sys.argv[1:6]
    server_ports = set(ports.split(","))
    cmd = ["tshark", "-n", "-r", pcap, "-o", f"tls.keylog_file:{keys}", "-Y",
           "tls.handshake.type == 1 || tls.handshake.type == 8", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", f"aggregator={SEP}"]
    for f in FIELDS:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        sys.exit(f"tshark failed: {res.stderr.strip()[:300]}")
    records = []
    for line in res.stdout.splitlines():
        cols = dict(zip(FIELDS, line.split("\t")))
        types, lens = split(cols["tls.quic.parameter.type"]), split(cols["tls.quic.parameter.length"])
        if not types:
            continue
        hs = split(cols["tls.handshake.type"])
        side = "server" if "8" in hs and cols["udp.srcport"] in server_ports else "client"
        if side == "client" and "1" not in hs:
            continue
        values = split(cols["tls.quic.parameter.value"])
        params, blob = [], b""
        for i, (t, ln) in enumerate(zip(types, lens)):
            t, ln = int(t), int(ln)
            v = values[i] if i < len(values) else ""
            if v == "<MISSING>":  # tshark's placeholder for an empty parameter
                v = ""
            params.append({"id": f"0x{t:02x}", "length": ln, "value": v})
            blob += varint(t) + varint(ln) + bytes.fromhex(v)
        pa = None
        if cols["tls.quic.parameter.preferred_address.ipv4port"] != "":
            pa = {"ipv4": cols["tls.quic.parameter.preferred_address.ipv4address"],
                  "ipv4port": int(cols["tls.quic.parameter.preferred_address.ipv4port"]),
                  "ipv6": cols["tls.quic.parameter.preferred_address.ipv6address"],
                  "ipv6port": int(cols["tls.quic.parameter.preferred_address.ipv6port"] or 0),
                  "cid_length": int(cols["tls.quic.parameter.preferred_address.connectionid.length"] or 0),
                  "cid": cols["tls.quic.parameter.preferred_address.connectionid"],
                  "token": cols["tls.quic.parameter.preferred_address.statelessresettoken"]}
        ints = {}
        for name in ("initial_max_streams_bidi", "initial_max_streams_uni"):
            c = cols[f"tls.quic.parameter.{name}"]
            if c != "":
                ints[name] = int(split(c)[0])
        dec = subprocess.run([qamp_tp, "decode", "--from", side, blob.hex()], capture_output=True, text=True)
        qamp = json.loads(dec.stdout) if dec.returncode == 0 else {"error": dec.stderr.strip()}
        records.append({"frame": int(cols["frame.number"]), "from": side, "params": params,
                        "blob": blob.hex(), "tshark_pa": pa, "values": ints,
                        "experts": split(cols["_ws.expert.message"]), "qamp": qamp})
        if side == "server":
            records[-1]["disagreements"] = disagreements(records[-1])
    with open(out, "w") as f:
        json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
