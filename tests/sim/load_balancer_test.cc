// Instances behind a 4-tuple balancer or Anycast (DESIGN.md §2, RFC 9000 §21.11): a client whose
// address changes reaches an instance that never had its connection. On a `none` address, or
// with another instance's cluster CID, that instance stays silent; only a reset-happy stock
// server would kill the healthy connection.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "world.h"

using namespace qamp;
using namespace qamp::sim;

namespace {

struct Row {
  const char *name;
  Level level;
  bool cluster;
  ResetMode mode;
  ResetReason reason;  // what the other instance decides
  bool reset_kills;    // a reset reaches the client and ends its connection
};

const std::vector<Row> kRows = {
    {"`none` address: silent (suppress-restricted-address)", Level::none, false, ResetMode::automatic,
     ResetReason::suppress_restricted_address, false},
    {"cluster: another instance's CID: silent (suppress-other-instance)", Level::any, true, ResetMode::automatic,
     ResetReason::suppress_other_instance, false},
    {"stock behaviour (--stateless-reset always): the reset kills the connection", Level::none, false,
     ResetMode::always, ResetReason::send_always, true},
};

struct Cluster {
  World w;
  std::vector<std::unique_ptr<Server>> servers;
  std::unique_ptr<Client> client;
  Nat nat{kClientInside, kNatOutside};

  explicit Cluster(const Row &row) {
    for (std::uint8_t id = 0; id < 2; ++id) {
      ServerConfig sc;
      sc.handshake = kServerHandshake;
      sc.policy = {row.level, Level::any, Level::any};
      sc.reset.mode = row.mode;
      if (row.cluster) sc.reset.cluster = quic_lb_cluster(id);
      sc.seed = 100 + id;  // own CIDs; the static secret is the cluster's (secret_seed)
      servers.push_back(std::make_unique<Server>(w.queue, w.net, sc));
      w.net.add_server(servers.back().get());
    }
    ClientConfig cc;
    cc.local = kClientInside;
    cc.server = kServerHandshake;
    cc.path = "/bytes/500000";
    client = std::make_unique<Client>(w.queue, w.net, cc);
    w.net.set_client(client.get());
    w.net.add_middlebox(&nat);
  }

  // Downloads until 64 kB arrived, calls `move`, runs on; returns the instance that served.
  std::size_t run(const std::function<void(std::size_t serving)> &move) {
    client->start();
    REQUIRE(w.queue.run_while_not([&] { return client->received() >= 64'000; }, w.in(5 * NGTCP2_SECONDS)));
    std::size_t serving = servers[0]->counters().connections ? 0 : 1;
    REQUIRE(servers[serving]->counters().connections == 1);
    move(serving);
    w.queue.run_while_not([&] { return client->complete() || client->peer().rv != 0; }, w.in(2 * NGTCP2_SECONDS));
    return serving;
  }

  void check(const Row &row, std::size_t serving) {
    const auto &other = *servers[1 - serving];
    CHECK(other.counters().connections == 0);
    CHECK(other.reset_guard().counters().of(row.reason) > 0);
    CHECK(servers[serving]->counters().resets_sent == 0);
    if (row.reset_kills) {
      CHECK(other.counters().resets_sent > 0);
      CHECK(client->peer().rv == NGTCP2_ERR_DRAINING);
    } else {
      CHECK(other.counters().resets_sent == 0);
      CHECK(client->peer().rv == 0);
    }
    CHECK_FALSE(client->complete());
  }
};

}  // namespace

TEST_CASE("a 4-tuple balancer sends an IP change to another instance") {
  for (const auto &row : kRows) {
    CAPTURE(row.name);
    Cluster c(row);
    FourTupleBalancer lb;
    c.w.net.set_router(&lb);
    auto serving = c.run([&](std::size_t serving) {
      // The first new NAT address that the hash sends to the other instance.
      for (int i = 2; i < 64; ++i) {
        auto moved = qamp::sim::addr(("198.18.0." + std::to_string(i) + ":40000").c_str());
        if (lb.pick({moved, kServerHandshake, {}}, 2) != serving) {
          c.nat.rebind(moved);
          return;
        }
      }
      FAIL("no address hashes to the other instance");
    });
    c.check(row, serving);
  }
}

TEST_CASE("Anycast: after a route change the same address reaches another instance") {
  for (const auto &row : kRows) {
    CAPTURE(row.name);
    Cluster c(row);
    Anycast anycast;
    c.w.net.set_router(&anycast);
    auto serving = c.run([&](std::size_t serving) { anycast.route_to(1 - serving); });
    c.check(row, serving);
  }
}
