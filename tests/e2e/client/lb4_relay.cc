// lb4_relay — a loopback stand-in for a 4-tuple hashing load balancer in front of two server
// instances. The first client address seen on FRONT is pinned to backend A; every other client
// address (a migrating client's probe) goes to backend B, which does not know the connection and,
// sharing A's static secret, answers with a Stateless Reset carrying the token A advertised.
// Each client address gets its own outward socket, so each backend sees a stable peer.
//   lb4_relay FRONT BACKEND_A BACKEND_B RUN_MS STATS_FILE
// STATS_FILE gets JSON counters on exit (datagrams to A, to B, from B).
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "../relay.h"
#include "net.h"

using namespace qamp::common;
using qamp::Endpoint;
using relay::stopped;

namespace {

struct Flow {
  Endpoint client;
  int out_fd;
  bool to_a;
};

}  // namespace

int main(int argc, char **argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: lb4_relay FRONT BACKEND_A BACKEND_B RUN_MS STATS_FILE\n");
    return 2;
  }
  auto front = Endpoint::parse(argv[1]);
  auto a = Endpoint::parse(argv[2]);
  auto b = Endpoint::parse(argv[3]);
  long run_ms = std::stol(argv[4]);
  std::string stats_file = argv[5];
  if (!front || !a || !b) {
    std::fprintf(stderr, "lb4_relay: bad address\n");
    return 2;
  }
  relay::stop_on_signals();
  int front_fd = relay::bind_or_exit("lb4_relay", *front);
  auto any = relay::loopback_any(*front);
  std::string error;
  std::vector<Flow> flows;
  unsigned long to_a = 0, to_b = 0, from_a = 0, from_b = 0;
  std::vector<std::uint8_t> buf(65536);
  auto deadline = now_ns() + static_cast<std::uint64_t>(run_ms) * 1000000ull;

  while (!stopped() && now_ns() < deadline) {
    std::vector<pollfd> fds{{front_fd, POLLIN, 0}};
    for (const auto &f : flows) fds.push_back({f.out_fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 50) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      for (;;) {
        Endpoint from;
        auto n = recv_from(front_fd, buf, from);
        if (n < 0) break;
        Flow *flow = nullptr;
        for (auto &f : flows)
          if (f.client == from) flow = &f;
        if (!flow) {
          int fd = bind_udp(any, &error);
          if (fd < 0) continue;
          flows.push_back({from, fd, flows.empty()});
          flow = &flows.back();
        }
        const auto &to = flow->to_a ? *a : *b;
        (flow->to_a ? to_a : to_b)++;
        sendto(flow->out_fd, buf.data(), static_cast<size_t>(n), 0, to.sa(), to.size());
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      const auto &flow = flows[i - 1];
      for (;;) {
        auto n = recv(flow.out_fd, buf.data(), buf.size(), 0);
        if (n < 0) break;
        (flow.to_a ? from_a : from_b)++;
        sendto(front_fd, buf.data(), static_cast<size_t>(n), 0, flow.client.sa(), flow.client.size());
      }
    }
  }
  if (FILE *f = std::fopen(stats_file.c_str(), "w")) {
    std::fprintf(f, "{\"to_a\": %lu, \"from_a\": %lu, \"to_b\": %lu, \"from_b\": %lu, \"flows\": %zu}\n", to_a, from_a,
                 to_b, from_b, flows.size());
    std::fclose(f);
  }
  for (const auto &f : flows) close(f.out_fd);
  close(front_fd);
  return 0;
}
