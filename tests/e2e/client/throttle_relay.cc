// throttle_relay — a loopback stand-in for "the old network is slow, the new one is fast".
// The first client address seen on FRONT is the old network: datagrams from the server to it
// leave through a token bucket (RATE bytes/s, a burst of 10 ms worth, at least 16 KiB) and a
// tail-drop queue of QUEUE bytes, like a rate-limited bottleneck link. Every other client address
// (a client that changed networks and opened a new connection) is forwarded unthrottled, or
// through a bottleneck of its own at NEW_RATE (the new network of a split download). Each client
// address gets its own outward socket, so the server sees one stable peer per network.
//   throttle_relay FRONT BACKEND RATE QUEUE RUN_MS STATS_FILE [NEW_RATE [OLD_DIES_MS]]
// NEW_RATE: 0 unthrottled (the default), -1 a black hole (nothing of the new flows is forwarded).
// OLD_DIES_MS: the old network dies that long after the first new flow appeared (its datagrams
// are dropped both ways from then on; counted as dead_dropped).
// STATS_FILE gets JSON on exit (SIGTERM/SIGINT or RUN_MS): per flow the client address, whether
// it was throttled, datagrams and bytes each way, datagrams dropped by the queue, and the
// server-to-client goodput between its first and last datagram.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "../relay.h"
#include "net.h"

using namespace qamp::common;
using qamp::Endpoint;
using relay::stopped;

namespace {

// Token bucket plus a bounded FIFO for the throttled direction.
struct Bottleneck {
  double rate;        // bytes per second
  double burst;       // bucket depth, bytes
  std::size_t limit;  // queue limit, bytes
  double tokens;
  std::uint64_t refilled_ns;
  std::deque<std::vector<std::uint8_t>> queue;
  std::size_t queued = 0;

  void refill(std::uint64_t now) {
    tokens = std::min(burst, tokens + rate * static_cast<double>(now - refilled_ns) / 1e9);
    refilled_ns = now;
  }
  // Nanoseconds until the head of the queue may leave (0: now; -1: queue empty).
  long long wait_ns() const {
    if (queue.empty()) return -1;
    double need = static_cast<double>(queue.front().size()) - tokens;
    return need <= 0 ? 0 : static_cast<long long>(std::ceil(need / rate * 1e9));
  }
};

struct Flow {
  Endpoint client;
  int out_fd = -1;
  bool throttled = false;
  std::unique_ptr<Bottleneck> neck;  // throttled flows
  std::uint64_t up_datagrams = 0, up_bytes = 0;
  std::uint64_t down_datagrams = 0, down_bytes = 0, down_dropped = 0, dead_dropped = 0;
  std::uint64_t first_down_ns = 0, last_down_ns = 0;
};

void tune(int fd) {
  int size = 8 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

void note_down(Flow &flow, std::size_t n, std::uint64_t now) {
  ++flow.down_datagrams;
  flow.down_bytes += n;
  if (!flow.first_down_ns) flow.first_down_ns = now;
  flow.last_down_ns = now;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 7 || argc > 9) {
    std::fprintf(stderr, "usage: throttle_relay FRONT BACKEND RATE QUEUE RUN_MS STATS_FILE [NEW_RATE [OLD_DIES_MS]]\n");
    return 2;
  }
  auto front = Endpoint::parse(argv[1]);
  auto backend = Endpoint::parse(argv[2]);
  double rate = std::atof(argv[3]);
  long queue_limit = std::atol(argv[4]);
  long run_ms = std::atol(argv[5]);
  std::string stats_file = argv[6];
  double new_rate = argc >= 8 ? std::atof(argv[7]) : 0;
  const bool new_black_hole = new_rate < 0;
  long old_dies_ms = argc >= 9 ? std::atol(argv[8]) : -1;
  if (!front || !backend || rate <= 0 || queue_limit <= 0 || run_ms <= 0 || (new_rate < 0 && new_rate != -1)) {
    std::fprintf(stderr, "throttle_relay: bad argument\n");
    return 2;
  }
  relay::stop_on_signals();
  int front_fd = relay::bind_or_exit("throttle_relay", *front);
  tune(front_fd);
  auto any = relay::loopback_any(*backend);
  std::string error;
  std::vector<Flow> flows;
  auto make_neck = [&](double r) {
    auto n = std::make_unique<Bottleneck>(
        Bottleneck{r, std::max(16384.0, r / 100), static_cast<std::size_t>(queue_limit), 0, now_ns(), {}, 0});
    n->tokens = n->burst;
    return n;
  };
  std::vector<std::uint8_t> buf(65536);
  std::uint64_t old_dies_at = 0;  // set when the first new flow appears
  const auto old_dead = [&] { return old_dies_at && now_ns() >= old_dies_at; };
  const auto deadline = now_ns() + static_cast<std::uint64_t>(run_ms) * 1000000ull;

  while (!stopped() && now_ns() < deadline) {
    // Release what the bucket allows.
    auto now = now_ns();
    long long wait = -1;
    for (auto &flow : flows) {
      if (!flow.neck) continue;
      auto &neck = *flow.neck;
      if (&flow == &flows.front() && old_dead()) {
        flow.dead_dropped += neck.queue.size();
        neck.queue.clear();
        neck.queued = 0;
      }
      neck.refill(now);
      while (!neck.queue.empty() && neck.tokens >= static_cast<double>(neck.queue.front().size())) {
        auto &pkt = neck.queue.front();
        sendto(front_fd, pkt.data(), pkt.size(), 0, flow.client.sa(), flow.client.size());
        neck.tokens -= static_cast<double>(pkt.size());
        note_down(flow, pkt.size(), now);
        neck.queued -= pkt.size();
        neck.queue.pop_front();
      }
      if (auto w = neck.wait_ns(); w >= 0 && (wait < 0 || w < wait)) wait = w;
    }

    std::vector<pollfd> fds{{front_fd, POLLIN, 0}};
    for (const auto &f : flows) fds.push_back({f.out_fd, POLLIN, 0});
    timespec ts{0, 50 * 1000000};
    if (wait >= 0 && wait < 50 * 1000000ll) ts = {0, static_cast<long>(wait)};
    if (ppoll(fds.data(), fds.size(), &ts, nullptr) <= 0) continue;

    if (fds[0].revents & POLLIN) {
      for (;;) {
        Endpoint from;
        auto n = recv_from(front_fd, buf, from);
        if (n < 0) break;
        auto it = std::find_if(flows.begin(), flows.end(), [&](const Flow &f) { return f.client == from; });
        if (it == flows.end()) {
          int fd = bind_udp(any, &error);
          if (fd < 0) continue;
          tune(fd);
          Flow f{};
          f.client = from;
          f.out_fd = fd;
          if (!flows.empty() && old_dies_ms >= 0 && !old_dies_at)
            old_dies_at = now_ns() + static_cast<std::uint64_t>(old_dies_ms) * 1000000ull;
          f.throttled = flows.empty() || new_rate > 0;
          if (f.throttled) f.neck = make_neck(flows.empty() ? rate : new_rate);
          flows.push_back(std::move(f));
          fds.push_back({fd, 0, 0});  // keeps fds[i + 1] <-> flows[i]; read on the next round
          it = flows.end() - 1;
        }
        ++it->up_datagrams;
        it->up_bytes += static_cast<std::uint64_t>(n);
        if (it != flows.begin() && new_black_hole) continue;
        if (it == flows.begin() && old_dead()) {
          ++it->dead_dropped;
          continue;
        }
        sendto(it->out_fd, buf.data(), static_cast<size_t>(n), 0, backend->sa(), backend->size());
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      auto &flow = flows[i - 1];
      for (;;) {
        auto n = recv(flow.out_fd, buf.data(), buf.size(), 0);
        if (n < 0) break;
        auto size = static_cast<std::size_t>(n);
        if (i == 1 && old_dead()) {
          ++flow.dead_dropped;
          continue;
        }
        if (!flow.throttled) {
          sendto(front_fd, buf.data(), size, 0, flow.client.sa(), flow.client.size());
          note_down(flow, size, now_ns());
        } else if (flow.neck->queued + size > flow.neck->limit) {
          ++flow.down_dropped;
        } else {
          flow.neck->queue.emplace_back(buf.begin(), buf.begin() + n);
          flow.neck->queued += size;
        }
      }
    }
  }

  if (FILE *f = std::fopen(stats_file.c_str(), "w")) {
    std::fprintf(f, "{\"rate\": %.0f, \"new_rate\": %.0f, \"queue\": %ld, \"flows\": [", rate, new_rate, queue_limit);
    for (std::size_t i = 0; i < flows.size(); ++i) {
      const auto &fl = flows[i];
      double secs = static_cast<double>(fl.last_down_ns - fl.first_down_ns) / 1e9;
      double goodput = secs > 0 ? static_cast<double>(fl.down_bytes) / secs : 0;
      std::fprintf(f,
                   "%s\n  {\"client\": \"%s\", \"throttled\": %s, \"up_datagrams\": %llu, \"up_bytes\": %llu, "
                   "\"down_datagrams\": %llu, \"down_bytes\": %llu, \"down_dropped\": %llu, "
                   "\"dead_dropped\": %llu, \"down_seconds\": %.3f, \"down_rate\": %.0f}",
                   i ? "," : "", fl.client.to_string().c_str(), fl.throttled ? "true" : "false",
                   static_cast<unsigned long long>(fl.up_datagrams), static_cast<unsigned long long>(fl.up_bytes),
                   static_cast<unsigned long long>(fl.down_datagrams), static_cast<unsigned long long>(fl.down_bytes),
                   static_cast<unsigned long long>(fl.down_dropped),
                   static_cast<unsigned long long>(fl.dead_dropped), secs, goodput);
    }
    std::fprintf(f, "\n]}\n");
    std::fclose(f);
  }
  for (const auto &f : flows) close(f.out_fd);
  close(front_fd);
  return 0;
}
