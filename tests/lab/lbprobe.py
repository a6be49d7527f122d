#!/usr/bin/env python3
"""lbprobe.py SRC_IP DST_IP DST_PORT PORT... — one small UDP datagram from SRC_IP:PORT for each
PORT to DST_IP:DST_PORT (netlab.sh lab_lb_map reads where the load balancer sent each one)."""
import socket
import sys
import time

IP_FREEBIND, IP_TRANSPARENT = 15, 19


def main() -> int:
    src, dst, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for port in sys.argv[4:]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # NAT pool addresses are not local: bind them anyway, route them like local ones.
        s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        s.setsockopt(socket.IPPROTO_IP, IP_TRANSPARENT, 1)
        s.bind((src, int(port)))
        s.sendto(b"qlab-lb-probe", (dst, dport))
        s.close()
        time.sleep(0.002)
    return 0


if __name__ == "__main__":
    sys.exit(main())
