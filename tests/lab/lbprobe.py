#!/usr/bin/env python3
"""lbprobe.py [--dcid HEX [--len N] [--wait-ms MS]] SRC_IP DST_IP DST_PORT PORT...

Without --dcid: one small UDP datagram ("qlab-lb-probe", which the lab's captures leave out) from
SRC_IP:PORT for each PORT to DST_IP:DST_PORT (netlab.sh lab_lb_map reads where the load balancer
sent each one).

With --dcid: from each SRC_IP:PORT one QUIC short-header datagram (RFC 9000 §17.3: first octet
0b01xxxxxx) whose Destination Connection ID is HEX, padded to N octets (default 100) with random
bytes, as a CID-routing load balancer and a server see it; then waits MS milliseconds (default
500) and prints one JSON line {"dcid": HEX, "len": N, "answers": {PORT: datagrams received}}.
These are captured like any QUIC datagram (the evidence of topology e's probe rows).
"""
import json
import os
import select
import socket
import sys
import time

IP_FREEBIND, IP_TRANSPARENT = 15, 19


def bound(src, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # NAT pool addresses are not local: bind them anyway, route them like local ones.
    s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    s.setsockopt(socket.IPPROTO_IP, IP_TRANSPARENT, 1)
    s.bind((src, int(port)))
    return s


def main(argv) -> int:
    dcid, length, wait_ms = None, 100, 500
    while argv and argv[0].startswith("--"):
        flag, value = argv[0], argv[1] if len(argv) > 1 else None
        if value is None:
            print(f"lbprobe: {flag} needs a value", file=sys.stderr)
            return 2
        if flag == "--dcid":
            dcid = bytes.fromhex(value)
        elif flag == "--len":
            length = int(value)
        elif flag == "--wait-ms":
            wait_ms = int(value)
        else:
            print(f"lbprobe: unknown flag {flag}", file=sys.stderr)
            return 2
        argv = argv[2:]
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, dport, ports = argv[0], argv[1], int(argv[2]), argv[3:]
    if dcid is None:
        for port in ports:
            s = bound(src, port)
            s.sendto(b"qlab-lb-probe", (dst, dport))
            s.close()
            time.sleep(0.002)
        return 0
    if not 1 <= len(dcid) <= 20 or length < 1 + len(dcid):
        print("lbprobe: a DCID of 1..20 octets and a length above it", file=sys.stderr)
        return 2
    socks = {}
    for port in ports:
        s = bound(src, port)
        first = 0x40 | (os.urandom(1)[0] & 0x3F)  # short header, fixed bit set
        s.sendto(bytes([first]) + dcid + os.urandom(length - 1 - len(dcid)), (dst, dport))
        socks[s] = port
    answers = {p: 0 for p in ports}
    deadline = time.monotonic() + wait_ms / 1000
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(list(socks), [], [], left)
        for s in ready:
            try:
                s.recv(2048)
                answers[socks[s]] += 1
            except OSError:  # ICMP port unreachable, etc.: not an answer from a server
                pass
    for s in socks:
        s.close()
    print(json.dumps({"dcid": dcid.hex(), "len": length, "answers": answers}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
