// udp_burst — sends COUNT datagrams of garbage (or short-header packets) to ADDR:PORT spread over
// SECONDS, and counts what comes back. Bounded in packets and time.
//   udp_burst ADDR:PORT COUNT SECONDS garbage|short|dcid=HEX LEN [from=IPV4 | spread=A]
// short: a short header with a random DCID; dcid=HEX: a short header carrying that DCID (e.g. a
// live connection's) and a random rest. from=IPV4: every datagram from that local address;
// spread=A: datagram i from its own socket on 127.A.(i mod 250).(1 + i/250 mod 250) (a new
// /24 and a new path each time, 62,500 addresses in all; at most 256 sockets open at once,
// each drained before it is closed). Default: from 127.0.0.1 (or ::1).
// Prints {"sent": N, "received": M, "received_short_header": S, "received_bytes_max": B}:
// S counts answers with a short header (a Stateless Reset looks like one; Version Negotiation
// does not).
#include <array>
#include <cstdio>
#include <poll.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "qamp/hex.h"
#include "net.h"

using namespace qamp::common;
using qamp::Endpoint;

int main(int argc, char **argv) {
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr, "usage: udp_burst ADDR:PORT COUNT SECONDS garbage|short|dcid=HEX LEN [from=IPV4|spread=A]\n");
    return 2;
  }
  auto to = Endpoint::parse(argv[1]);
  long count = std::stol(argv[2]);
  double seconds = std::stod(argv[3]);
  std::string kind = argv[4];
  auto len = std::stoul(argv[5]);
  std::string source = argc == 7 ? argv[6] : "";
  std::vector<std::uint8_t> dcid;
  if (kind.rfind("dcid=", 0) == 0) {
    auto d = qamp::from_hex(kind.substr(5), "dcid");
    if (!d || d->empty() || d->size() > 20) {
      std::fprintf(stderr, "udp_burst: bad dcid\n");
      return 2;
    }
    dcid = *d;
  } else if (kind != "short" && kind != "garbage") {
    std::fprintf(stderr, "udp_burst: kind must be garbage, short or dcid=HEX\n");
    return 2;
  }
  int spread = -1;
  std::string from = to && to->family() == AF_INET ? "127.0.0.1" : "::1";
  if (source.rfind("spread=", 0) == 0)
    spread = std::stoi(source.substr(7));
  else if (source.rfind("from=", 0) == 0)
    from = source.substr(5);
  else if (!source.empty()) {
    std::fprintf(stderr, "udp_burst: expected from=IPV4 or spread=A, got %s\n", source.c_str());
    return 2;
  }
  if (!to || count <= 0 || count > 100000 || seconds <= 0 || seconds > 30 || len == 0 || len > 1500 ||
      len < 1 + dcid.size() || (spread >= 0 && (spread > 255 || to->family() != AF_INET))) {
    std::fprintf(stderr, "udp_burst: bad arguments (at most 100000 datagrams, 30 s; spread: IPv4)\n");
    return 2;
  }
  auto bind_from = [](const std::string &host, std::string *err) {
    auto ep = parse_host_port(host, "0");
    if (!ep) {
      *err = "bad source address " + host;
      return -1;
    }
    return bind_udp(*ep, err);
  };
  std::string err;
  int fd = spread >= 0 ? -1 : bind_from(from, &err);
  if (spread < 0 && fd < 0) {
    std::fprintf(stderr, "udp_burst: %s\n", err.c_str());
    return 2;
  }
  std::array<int, 256> ring;
  ring.fill(-1);
  std::vector<std::uint8_t> pkt(len), buf(2048);
  long received = 0, received_short = 0;
  std::size_t max_len = 0;
  auto start = now_ns();
  auto drain_fd = [&](int s) {
    for (;;) {
      auto n = recv(s, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) return;
      ++received;
      if (n > 0 && !(buf[0] & 0x80)) ++received_short;  // a short header: possibly a reset
      max_len = std::max(max_len, static_cast<std::size_t>(n));
    }
  };
  auto drain = [&] {
    if (fd >= 0) drain_fd(fd);
    for (int s : ring)
      if (s >= 0) drain_fd(s);
  };
  for (long i = 0; i < count; ++i) {
    random_bytes(pkt);
    if (kind != "garbage") pkt[0] = 0x40 | (pkt[0] & 0x3f);
    std::copy(dcid.begin(), dcid.end(), pkt.begin() + 1);
    int out = fd;
    if (spread >= 0) {
      int &slot = ring[static_cast<std::size_t>(i) % ring.size()];
      if (slot >= 0) {
        drain_fd(slot);
        close(slot);
      }
      auto host =
          "127." + std::to_string(spread) + "." + std::to_string(i % 250) + "." + std::to_string(1 + (i / 250) % 250);
      slot = bind_from(host, &err);
      if (slot < 0) {
        std::fprintf(stderr, "udp_burst: %s\n", err.c_str());
        return 2;
      }
      out = slot;
    }
    sendto(out, pkt.data(), pkt.size(), 0, to->sa(), to->size());
    // Pace: datagram i leaves at i/count of the interval.
    auto due = start + static_cast<ngtcp2_tstamp>(seconds * NGTCP2_SECONDS * static_cast<double>(i) / count);
    while (now_ns() < due) drain();
    drain();
  }
  // Wait for late answers on every socket still open.
  std::vector<pollfd> fds;
  if (fd >= 0) fds.push_back({fd, POLLIN, 0});
  for (int s : ring)
    if (s >= 0) fds.push_back({s, POLLIN, 0});
  while (poll(fds.data(), fds.size(), 300) > 0) drain();
  std::printf("{\"sent\": %ld, \"received\": %ld, \"received_short_header\": %ld, \"received_bytes_max\": %zu}\n",
              count, received, received_short, max_len);
  return 0;
}
