// udp_burst — sends COUNT datagrams of garbage (or short-header packets with random DCIDs) to
// ADDR:PORT spread over SECONDS, and counts what comes back. Bounded in packets and time.
//   udp_burst ADDR:PORT COUNT SECONDS garbage|short LEN
// Prints {"sent": N, "received": M, "received_short_header": S, "received_bytes_max": B}:
// S counts answers with a short header (a Stateless Reset looks like one; Version Negotiation
// does not).
#include <cstdio>
#include <poll.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "net.h"

using namespace qamp::ex;

int main(int argc, char **argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: udp_burst ADDR:PORT COUNT SECONDS garbage|short LEN\n");
    return 2;
  }
  auto to = parse_endpoint(argv[1]);
  long count = std::stol(argv[2]);
  double seconds = std::stod(argv[3]);
  std::string kind = argv[4];
  auto len = std::stoul(argv[5]);
  if (!to || count <= 0 || count > 100000 || seconds <= 0 || seconds > 30 || len == 0 || len > 1500) {
    std::fprintf(stderr, "udp_burst: bad arguments (at most 100000 datagrams, 30 s)\n");
    return 2;
  }
  std::string err;
  int fd = bind_udp(*parse_host_port(to->family() == AF_INET ? "127.0.0.1" : "::1", "0"), &err);
  if (fd < 0) {
    std::fprintf(stderr, "udp_burst: %s\n", err.c_str());
    return 2;
  }
  std::vector<std::uint8_t> pkt(len), buf(2048);
  long received = 0, received_short = 0;
  std::size_t max_len = 0;
  auto start = now_ns();
  auto drain = [&] {
    for (;;) {
      auto n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) return;
      ++received;
      if (n > 0 && !(buf[0] & 0x80)) ++received_short;  // a short header: possibly a reset
      max_len = std::max(max_len, static_cast<std::size_t>(n));
    }
  };
  for (long i = 0; i < count; ++i) {
    random_bytes(pkt);
    if (kind == "short") pkt[0] = 0x40 | (pkt[0] & 0x3f);
    sendto(fd, pkt.data(), pkt.size(), 0, to->sa(), to->len);
    // Pace: datagram i leaves at i/count of the interval.
    auto due = start + static_cast<ngtcp2_tstamp>(seconds * NGTCP2_SECONDS * static_cast<double>(i) / count);
    while (now_ns() < due) drain();
    drain();
  }
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 300) > 0) drain();
  std::printf("{\"sent\": %ld, \"received\": %ld, \"received_short_header\": %ld, \"received_bytes_max\": %zu}\n",
              count, received, received_short, max_len);
  return 0;
}
