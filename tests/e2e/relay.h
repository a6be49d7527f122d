// tests/e2e/relay.h — what the loopback UDP relays of the e2e tests (nat_relay, lb4_relay,
// throttle_relay) share: ending their loop on SIGTERM / SIGINT, and their sockets.
#pragma once

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "net.h"

namespace qamp::common::relay {

inline volatile std::sig_atomic_t g_stop = 0;

// SIGTERM and SIGINT end the relay's loop (stopped()); the relay then writes its stats file.
inline void stop_on_signals() {
  auto on_term = [](int) { g_stop = 1; };
  std::signal(SIGTERM, on_term);
  std::signal(SIGINT, on_term);
}
inline bool stopped() noexcept { return g_stop != 0; }

// A UDP socket bound to `at`, or `prog: <why>` on stderr and exit status 1.
inline int bind_or_exit(const char *prog, const Endpoint &at) {
  std::string error;
  int fd = bind_udp(at, &error);
  if (fd < 0) {
    std::fprintf(stderr, "%s: %s\n", prog, error.c_str());
    std::exit(1);
  }
  return fd;
}

// Loopback in the family of `like`, any port: where a relay's outward sockets bind.
inline Endpoint loopback_any(const Endpoint &like) {
  return *parse_host_port(like.family() == AF_INET6 ? "::1" : "127.0.0.1", "0");
}

}  // namespace qamp::common::relay
