// qamp-server's shutdown (SIGTERM) at every point of a connection's life: the stats file must
// count each connection closed exactly once (the interop suite asserts connections ==
// connections_closed on every case; CI once saw it fail when the signal came between a
// connection's removal and the cleanup that counts it). The sweep stops the real Server after
// each event of a short download and its idle close, then lets every alarm still queued fire.
#include <catch2/catch_test_macros.hpp>

#include "world.h"

using namespace qamp;
using namespace qamp::sim;

namespace {

ServerConfig server_config() {
  ServerConfig sc;
  sc.handshake = kServerHandshake;
  sc.idle_timeout = 300 * NGTCP2_MILLISECONDS;
  return sc;
}

ClientConfig client_config() {
  ClientConfig cc;
  cc.local = kClientInside;
  cc.server = kServerHandshake;
  cc.path = "/bytes/20000";
  return cc;
}

// Runs `events` events (fewer if the queue empties by `deadline`); the number run.
int step(EventQueue &q, int events, ngtcp2_tstamp deadline) {
  int n = 0;
  if (events > 0) q.run_while_not([&] { return ++n >= events; }, deadline);
  return n;
}

}  // namespace

TEST_CASE("qamp-server's shutdown counts every connection closed exactly once, whenever it comes") {
  // The whole life, once: how many events from the first Initial to the server forgetting the
  // connection at its idle timeout.
  int total = 0, accepted = 0;  // events run when the cleanup came, and when the Initial was accepted
  {
    Pair r(server_config(), client_config());
    const auto deadline = r.w.in(2 * NGTCP2_SECONDS);
    r.w.queue.run_while_not(
        [&] {
          ++total;
          if (!accepted && r.server.stats().connections == 1) accepted = total;
          return r.server.stats().connections_closed == 1;
        },
        deadline);
    REQUIRE(accepted > 0);
    REQUIRE(r.client.complete());
    REQUIRE(r.server.stats().connections == 1);
    REQUIRE(r.server.stats().connections_closed == 1);
  }
  INFO(total << " events from the first Initial to the cleanup; accepted at event " << accepted);
  for (int k = 0; k <= total + 2; ++k) {
    Pair r(server_config(), client_config());
    const auto deadline = r.w.in(2 * NGTCP2_SECONDS);
    step(r.w.queue, k, deadline);
    r.server.shutdown();
    r.w.queue.run_until(deadline);  // every alarm already queued fires; nothing reaches the server
    const auto &st = r.server.stats();
    INFO("shutdown after event " << k);
    CHECK(st.connections_closed == st.connections);
    CHECK(st.connections == (k >= accepted ? 1u : 0u));
  }
}
