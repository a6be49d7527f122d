// nat_relay — a one-client UDP NAT for loopback tests. The client talks to FRONT; the relay
// forwards from an outward socket bound to OUT_IP (ephemeral port) to SERVER, and back. After
// REBIND_MS from the first client datagram it rebinds its outward side, as a NAT whose mapping
// changed: `port` (same IP, new port) or `ip:A.B.C.D` (new IP). The client's datagrams leave from
// the new mapping only; the old mapping still delivers inbound datagrams to the client until the
// relay exits, as a NAT whose old binding has not yet timed out does. That keeps the test
// deterministic: a server still sending on the old path (its PTO probes) draws the client's
// answers onto the new path, so "the client sent on the new path" never depends on whether it
// happened to have ack-eliciting data in flight at the moment of the rebind.
//   nat_relay FRONT SERVER OUT_IP REBIND_MS port|ip:ADDR RUN_MS STATS_FILE
// STATS_FILE gets JSON counters on exit: datagrams each way, from the client after the rebind,
// and from the server on the new mapping (the figure the tests judge) and on the old one.
#include <cstdio>
#include <poll.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "../relay.h"
#include "net.h"

using namespace qamp::common;
using qamp::Endpoint;

int main(int argc, char **argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: nat_relay FRONT SERVER OUT_IP REBIND_MS port|ip:ADDR RUN_MS STATS_FILE\n");
    return 2;
  }
  auto front = Endpoint::parse(argv[1]);
  auto server = Endpoint::parse(argv[2]);
  auto out_ip = parse_host_port(argv[3], "0");
  long rebind_ms = std::stol(argv[4]);
  std::string mode = argv[5];
  long run_ms = std::stol(argv[6]);
  std::string stats_file = argv[7];
  std::optional<Endpoint> new_ip = out_ip;
  if (mode.rfind("ip:", 0) == 0)
    new_ip = parse_host_port(mode.substr(3), "0");
  else if (mode != "port")
    new_ip.reset();
  if (!front || !server || !out_ip || !new_ip) {
    std::fprintf(stderr, "nat_relay: bad arguments\n");
    return 2;
  }
  std::string err;
  int ffd = relay::bind_or_exit("nat_relay", *front);
  int ofd = relay::bind_or_exit("nat_relay", *out_ip);
  std::fprintf(stderr, "nat_relay: %s -> %s via %s\n", front->to_string().c_str(), server->to_string().c_str(),
               local_endpoint(ofd).to_string().c_str());
  std::optional<Endpoint> client;
  ngtcp2_tstamp start = now_ns(), first = 0;
  bool rebound = false;
  int old_ofd = -1;  // the previous mapping, inbound only after the rebind
  unsigned long c2s = 0, s2c = 0, s2c_after = 0, c2s_after = 0, s2c_old_after = 0;
  std::vector<std::uint8_t> buf(65536);
  relay::stop_on_signals();
  while (!relay::stopped() && now_ns() - start < static_cast<ngtcp2_tstamp>(run_ms) * NGTCP2_MILLISECONDS) {
    if (!rebound && first && now_ns() - first >= static_cast<ngtcp2_tstamp>(rebind_ms) * NGTCP2_MILLISECONDS) {
      old_ofd = ofd;
      ofd = bind_udp(*new_ip, &err);
      if (ofd < 0) {
        std::fprintf(stderr, "nat_relay: rebind: %s\n", err.c_str());
        return 1;
      }
      rebound = true;
      std::fprintf(stderr, "nat_relay: rebound (%s) to %s\n", mode.c_str(), local_endpoint(ofd).to_string().c_str());
    }
    pollfd p[3] = {{ffd, POLLIN, 0}, {ofd, POLLIN, 0}, {old_ofd, POLLIN, 0}};
    if (poll(p, old_ofd >= 0 ? 3 : 2, 20) <= 0) continue;
    if (p[0].revents & POLLIN) {
      Endpoint from;
      auto n = recv_from(ffd, buf, from);
      if (n > 0) {
        client = from;
        if (!first) first = now_ns();
        sendto(ofd, buf.data(), static_cast<size_t>(n), 0, server->sa(), server->size());
        ++c2s;
        if (rebound) ++c2s_after;
      }
    }
    if (p[1].revents & POLLIN) {
      auto n = recv(ofd, buf.data(), buf.size(), 0);
      if (n > 0 && client) {
        sendto(ffd, buf.data(), static_cast<size_t>(n), 0, client->sa(), client->size());
        ++s2c;
        if (rebound) ++s2c_after;
      }
    }
    if (old_ofd >= 0 && (p[2].revents & POLLIN)) {
      auto n = recv(old_ofd, buf.data(), buf.size(), 0);
      if (n > 0 && client) {
        sendto(ffd, buf.data(), static_cast<size_t>(n), 0, client->sa(), client->size());
        ++s2c_old_after;
      }
    }
  }
  if (FILE *f = std::fopen(stats_file.c_str(), "w")) {
    std::fprintf(f,
                 "{\"client_to_server\": %lu, \"server_to_client\": %lu, \"rebound\": %s, "
                 "\"client_to_server_after_rebind\": %lu, \"server_to_client_after_rebind\": %lu, "
                 "\"server_to_client_old_mapping_after_rebind\": %lu}\n",
                 c2s, s2c, rebound ? "true" : "false", c2s_after, s2c_after, s2c_old_after);
    std::fclose(f);
  }
  return 0;
}
