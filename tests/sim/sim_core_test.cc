// The simulator's own rules: event order, link delay / rate / seeded loss, the NAT's mappings,
// the balancer's hash. Everything else in tests/sim trusts these.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "world.h"

using namespace qamp::sim;

TEST_CASE("events run in time order, ties in scheduling order; the clock never goes back") {
  EventQueue q(1000);
  std::string order;
  q.at(3000, [&] { order += 'c'; });
  q.at(2000, [&] { order += 'a'; });
  q.at(2000, [&] { order += 'b'; });
  q.at(0, [&] { order += '0'; });  // in the past: now
  q.run_until(2500);
  CHECK(order == "0ab");
  CHECK(q.now() == 2500);
  q.run_until(10000);
  CHECK(order == "0abc");
}

TEST_CASE("a link delays by its one-way delay plus serialisation, and loses by its seed") {
  struct Row {
    const char *name;
    LinkConfig link;
    std::size_t size;
    ngtcp2_tstamp second_arrives;  // after the start
  };
  const std::vector<Row> rows = {
      {"delay only", {10 * NGTCP2_MILLISECONDS, 0, 0}, 1000, 10 * NGTCP2_MILLISECONDS},
      {"1000 bytes at 80 ns/byte queue behind each other",
       {10 * NGTCP2_MILLISECONDS, 80, 0},
       1000,
       10 * NGTCP2_MILLISECONDS + 2 * 80'000},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    EventQueue q(0);
    Link link(q, row.link, 1);
    std::vector<ngtcp2_tstamp> arrivals;
    for (int i = 0; i < 2; ++i)
      link.send({addr("10.0.0.1:1"), addr("10.0.0.2:2"), std::vector<std::uint8_t>(row.size)},
                [&](Datagram) { arrivals.push_back(q.now()); });
    q.run_until(NGTCP2_SECONDS);
    REQUIRE(arrivals.size() == 2);
    CHECK(arrivals[1] == row.second_arrives);
  }
  // The same seed loses the same datagrams.
  auto lost = [](std::uint64_t seed) {
    EventQueue q(0);
    Link link(q, {NGTCP2_MILLISECONDS, 0, 0.25}, seed);
    std::vector<int> got;
    for (int i = 0; i < 200; ++i)
      link.send({addr("10.0.0.1:1"), addr("10.0.0.2:2"), {static_cast<std::uint8_t>(i)}},
                [&](Datagram d) { got.push_back(d.data[0]); });
    q.run_until(NGTCP2_SECONDS);
    return got;
  };
  CHECK(lost(7) == lost(7));
  CHECK(lost(7) != lost(8));
  CHECK(lost(7).size() > 120);
  CHECK(lost(7).size() < 180);
}

TEST_CASE("a NAT rewrites the inside address and, after a rebinding, still delivers to the old mapping") {
  Nat nat(kClientInside, kNatOutside);
  Datagram out{kClientInside, kServerHandshake, {}};
  REQUIRE(nat.outbound(out, 0));
  CHECK(out.from == kNatOutside);
  nat.rebind(addr("198.18.0.2:40000"));
  Datagram out2{kClientInside, kServerHandshake, {}};
  nat.outbound(out2, 0);
  CHECK(out2.from == addr("198.18.0.2:40000"));
  CHECK(nat.client_to_server_after_rebind == 1);
  Datagram old_in{kServerHandshake, kNatOutside, {}};
  nat.inbound(old_in, 0);
  CHECK(old_in.to == kClientInside);
  CHECK(nat.server_to_client_after_rebind == 0);
  Datagram new_in{kServerHandshake, addr("198.18.0.2:40000"), {}};
  nat.inbound(new_in, 0);
  CHECK(new_in.to == kClientInside);
  CHECK(nat.server_to_client_after_rebind == 1);
}

TEST_CASE("a 4-tuple balancer keeps a 4-tuple on one instance and spreads others") {
  FourTupleBalancer lb;
  Datagram d{kNatOutside, kServerHandshake, {}};
  auto first = lb.pick(d, 2);
  CHECK(lb.pick(d, 2) == first);
  bool other = false;
  for (int i = 2; i < 20 && !other; ++i) {
    Datagram moved{addr(("198.18.0." + std::to_string(i) + ":40000").c_str()), kServerHandshake, {}};
    other = lb.pick(moved, 2) != first;
  }
  CHECK(other);
}
