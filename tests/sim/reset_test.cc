// Stateless Reset decisions at the server (the e2e cases server-reset-*): a short-header
// datagram with a CID the server does not know, sent over the simulated network to a server
// that runs qamp's ResetGuard exactly where qamp-server does (unknown_short_header).
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "world.h"

using namespace qamp;
using namespace qamp::sim;

namespace {

// A sender of hand-made datagrams that records what comes back.
class Probe : public Node {
 public:
  explicit Probe(Endpoint self) : self_(self) {}
  bool owns(const Endpoint &a) const override { return a == self_; }
  void receive(const Datagram &d) override { got.push_back(d); }
  std::vector<Datagram> got;

 private:
  Endpoint self_;
};

// A short header (fixed bit set) with `dcid`, padded to `size` octets.
std::vector<std::uint8_t> short_header(const std::vector<std::uint8_t> &dcid, std::size_t size) {
  std::vector<std::uint8_t> d(std::max(size, dcid.size() + 1), 0xab);
  d[0] = 0x41;
  std::copy(dcid.begin(), dcid.end(), d.begin() + 1);
  return d;
}

const std::vector<std::uint8_t> kCid = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                        0x99, 0x00, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00};

// An 18-octet QUIC-LB CID of server ID `id` under quic_lb_cluster()'s configuration.
std::vector<std::uint8_t> cid_of_instance(std::uint8_t id, bool encrypted = false) {
  const std::uint8_t sid[] = {id};
  return *quic_lb_cluster(id, encrypted).codec.encode(sid, std::span(kCid).subspan(2));
}

}  // namespace

TEST_CASE("a datagram with an unknown CID: reset or silence, per address level and cluster") {
  struct Row {
    const char *name;
    Level level;
    std::optional<ClusterConfig> cluster;
    std::vector<std::uint8_t> dcid;
    std::size_t size;
    ResetReason reason;
    std::size_t reset_len;  // 0: nothing comes back
  };
  const std::vector<Row> rows = {
      {"RFC 9000 §21.11: a `none` address draws no reset",
       Level::none,
       {},
       kCid,
       1200,
       ResetReason::suppress_restricted_address,
       0},
      {"RFC 9000 §10.3: an `any` address resets, at most 43 octets",
       Level::any,
       {},
       kCid,
       1200,
       ResetReason::send_unrestricted_address,
       43},
      {"RFC 9000 §10.3: 30 octets get a reset one octet shorter",
       Level::any,
       {},
       kCid,
       30,
       ResetReason::send_unrestricted_address,
       29},
      {"RFC 9000 §10.3: 21 octets are too short to answer",
       Level::any,
       {},
       kCid,
       21,
       ResetReason::suppress_too_short,
       0},
      {"cluster: another instance's CID draws no reset", Level::any, quic_lb_cluster(0), cid_of_instance(1), 1200,
       ResetReason::suppress_other_instance, 0},
      {"cluster: our own CID is reset, also on a `none` address", Level::none, quic_lb_cluster(0), cid_of_instance(0),
       1200, ResetReason::send_own_instance, 43},
      {"cluster, encrypted: another instance's CID draws no reset", Level::any, quic_lb_cluster(0, true),
       cid_of_instance(1, true), 1200, ResetReason::suppress_other_instance, 0},
      {"cluster, encrypted: our own CID is reset", Level::none, quic_lb_cluster(0, true), cid_of_instance(0, true),
       1200, ResetReason::send_own_instance, 43},
      {"cluster: a CID of no QUIC-LB configuration (0b111) draws no reset", Level::any, quic_lb_cluster(0),
       std::vector<std::uint8_t>{0xf1, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 1200,
       ResetReason::suppress_other_instance, 0},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    World w;
    ServerConfig sc;
    sc.handshake = kServerHandshake;
    sc.policy = {row.level, Level::any, Level::any};
    sc.reset.cluster = row.cluster;
    Server server(w.queue, w.net, sc);
    Probe probe(kNatOutside);
    w.net.set_client(&probe);
    w.net.add_server(&server);
    w.net.from_client({kNatOutside, kServerHandshake, short_header(row.dcid, row.size)});
    w.queue.run_until(w.in(NGTCP2_SECONDS));
    const auto &c = server.reset_guard().counters();
    CHECK(c.of(row.reason) == 1);
    CHECK(c.sent + c.suppressed == 1);
    CHECK(server.counters().resets_sent == (row.reset_len ? 1u : 0u));
    if (row.reset_len) {
      REQUIRE(probe.got.size() == 1);
      CHECK(probe.got[0].data.size() == row.reset_len);
      CHECK(probe.got[0].from == kServerHandshake);
    } else {
      CHECK(probe.got.empty());
    }
    // qamp-server's own log line for the decision (Server::log_reset), naming the datagram's path.
    std::vector<std::string> lines;
    for (const auto &l : server.log())
      if (l.find("stateless reset") != std::string::npos) lines.push_back(l);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].starts_with(row.reset_len ? "qamp-server: stateless reset sent ("
                                             : "qamp-server: stateless reset suppressed ("));
    CHECK(lines[0].find(std::string(to_string(row.reason))) != std::string::npos);
    CHECK(lines[0].find("from " + kNatOutside.to_string() + " to " + kServerHandshake.to_string()) !=
          std::string::npos);
  }
}
