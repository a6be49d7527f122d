// NAT rebinding at the server, per level of the handshake address (the e2e cases
// server-nat-port-* and server-nat-ip-*, tests/e2e/server/server_e2e.sh), on virtual links: the
// real qamp Gate in front of a real ngtcp2 server, the client behind a NAT that rebinds in the
// middle of a download.
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "world.h"

using namespace qamp;
using namespace qamp::sim;

namespace {

struct RebindResult {
  bool complete;
  std::uint64_t client_to_server_after_rebind, server_to_client_after_rebind;
  GateCounters gate;
  std::uint64_t resets_sent;
  std::uint64_t server_validations;  // the server validated the new client path (PATH_CHALLENGE/RESPONSE)
};

RebindResult download_through_rebinding(Level level, Endpoint new_outside, LinkConfig link = {}) {
  World w(link);
  ServerConfig sc;
  sc.handshake = kServerHandshake;
  sc.policy = {level, Level::any, Level::any};
  Server server(w.queue, w.net, sc);
  ClientConfig cc;
  cc.local = kClientInside;
  cc.server = kServerHandshake;
  cc.path = "/bytes/500000";
  Client client(w.queue, w.net, cc);
  Nat nat(kClientInside, kNatOutside);
  w.net.set_client(&client);
  w.net.add_server(&server);
  w.net.add_middlebox(&nat);
  client.start();
  // Rebind once the download is well under way, with most of it still to come.
  REQUIRE(w.queue.run_while_not([&] { return client.received() >= 64'000; }, w.in(5 * NGTCP2_SECONDS)));
  REQUIRE_FALSE(client.complete());
  nat.rebind(new_outside);
  w.queue.run_while_not([&] { return client.complete(); }, w.in(6 * NGTCP2_SECONDS));
  return {client.complete(),        nat.client_to_server_after_rebind, nat.server_to_client_after_rebind,
          server.gate().counters(), server.counters().resets_sent,     server.counters().migrations};
}

}  // namespace

TEST_CASE("RFC 9000 §9.3: a port-only NAT rebinding survives on every level") {
  struct Row {
    const char *name;
    LinkConfig link;
  };
  const std::vector<Row> rows = {{"100 Mbit/s, 10 ms", {}},
                                 {"2% loss each way", {10 * NGTCP2_MILLISECONDS, 80, 0.02}},
                                 {"10 Mbit/s, 40 ms", {40 * NGTCP2_MILLISECONDS, 800, 0}}};
  for (const auto &row : rows) {
    for (auto level : {Level::any, Level::same_ip, Level::none}) {
      CAPTURE(row.name, to_string(level));
      auto o = download_through_rebinding(level, qamp::sim::addr("198.18.0.1:40001"), row.link);
      CHECK(o.complete);
      CHECK(o.gate.of(GateReason::port_only_rebinding) >= 1);
      CHECK(o.gate.dropped == 0);
      CHECK(o.resets_sent == 0);
    }
  }
}

TEST_CASE("an IP change at an `any` address is validated and the download completes") {
  auto o = download_through_rebinding(Level::any, qamp::sim::addr("198.18.0.2:40000"));
  CHECK(o.complete);
  CHECK(o.gate.of(GateReason::ip_change_allowed) >= 1);
  CHECK(o.server_validations >= 1);
  CHECK(o.server_to_client_after_rebind > 0);
}

TEST_CASE("DESIGN.md §2: an IP change at a `same-ip` or `none` address gets nothing back on the new path") {
  struct Row {
    Level level;
    GateReason reason;
  };
  const std::vector<Row> rows = {{Level::same_ip, GateReason::ip_change_forbidden_same_ip},
                                 {Level::none, GateReason::ip_change_forbidden_none}};
  for (const auto &row : rows) {
    CAPTURE(to_string(row.level));
    auto o = download_through_rebinding(row.level, qamp::sim::addr("198.18.0.2:40000"));
    CHECK(o.client_to_server_after_rebind > 0);
    // No PATH_CHALLENGE, no Stateless Reset, nothing at all (RFC 9000 §9, §21.11).
    CHECK(o.server_to_client_after_rebind == 0);
    CHECK(o.resets_sent == 0);
    CHECK(o.server_validations == 0);
    CHECK(o.gate.of(row.reason) > 0);
    CHECK(o.gate.dropped == o.gate.of(row.reason));
    CHECK_FALSE(o.complete);
  }
}
