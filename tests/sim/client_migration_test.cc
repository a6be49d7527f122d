// The client's migration decisions against a real server over virtual links (the e2e cases
// client-network-change-before-spa, client-qamp-refused-stay and client-semantics-draft28,
// tests/e2e/client/client_e2e.sh): qamp-client's MigrationAdapter carries them out, qamp::Migrator
// decides, ngtcp2 validates, qamp's Gate judges what reaches the server.
#include <algorithm>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "world.h"

using namespace qamp;
using namespace qamp::sim;

namespace {

struct Run : Pair {
  Run(Policy policy, MigratorConfig migrator, NetworkChange change)
      : Pair(server_config(policy), client_config(migrator, change)) {
    w.queue.run_while_not([&] { return client.complete(); }, w.in(10 * NGTCP2_SECONDS));
  }

  static ServerConfig server_config(Policy policy) {
    ServerConfig sc;
    sc.handshake = kServerHandshake;
    sc.spa_v4 = kServerSpa;
    sc.policy = policy;
    return sc;
  }
  static ClientConfig client_config(MigratorConfig migrator, NetworkChange change) {
    ClientConfig cc;
    cc.local = kClientInside;
    cc.server = kServerHandshake;
    cc.migrator = migrator;
    cc.change = change;
    cc.path = "/bytes/400000";
    return cc;
  }

  // The first decision with `outcome`, or nullptr.
  const MigrationEvent *decision(qamp::Outcome outcome) const {
    const auto &d = client.decisions();
    auto it = std::find_if(d.begin(), d.end(), [&](const MigrationEvent &e) { return e.decision.outcome == outcome; });
    return it == d.end() ? nullptr : &*it;
  }
};

}  // namespace

TEST_CASE(
    "RFC 9000 §9.6.3: a network change before the move validates the preferred address from the new local address") {
  Run r({Level::none, Level::any, Level::any}, {}, {0, kClientNewLocal, false});
  // RFC 9000 §9: the change waits for the handshake's confirmation (the Migrator queues it).
  const auto *deferred = r.decision(qamp::Outcome::deferred_until_confirmed);
  REQUIRE(deferred);
  CHECK(deferred->cause == MigrationCause::network_change);
  const auto *e = r.decision(qamp::Outcome::validate_preferred_from_new_local);
  REQUIRE(e);
  CHECK(e->cause == MigrationCause::network_change);
  CHECK(e->decision.rule == Rule::spa_move_once);
  CHECK(e->before == MigratorState::on_handshake_address);
  CHECK(e->after == MigratorState::validating_preferred_address);
  CHECK(r.decision(qamp::Outcome::moved_to_preferred_address));
  // One validation, started and succeeded; nothing refused (e2e: "migrations" in the summary).
  CHECK(r.client.migrator()->stats() == MigratorStats{1, 0, 1, 0, 0});
  CHECK(r.client.complete());
  CHECK(r.client.local() == kClientNewLocal);
  CHECK(r.client.remote() == kServerSpa);
  // The old network is gone (--old-path-after-change drop): the adapter closed its socket.
  const auto &calls = r.client.calls();
  CHECK(std::find(calls.begin(), calls.end(), "close " + kClientInside.to_string()) != calls.end());
  // One path validation was both the move and the change: the server saw a move, no migration.
  CHECK(r.server.gate().counters().of(GateReason::move_to_spa) >= 1);
  CHECK(r.server.counters().moves_to_preferred_address == 1);
  CHECK(r.server.counters().migrations == 0);
  CHECK(r.server.gate().counters().dropped == r.server.gate().counters().of(GateReason::second_server_address));
}

TEST_CASE("a change the server's policy refuses: the client does not migrate (client-qamp-refused-stay)") {
  Run r({Level::any, Level::none, Level::none}, {}, {100'000, kClientNewLocal, true});
  CHECK(r.decision(qamp::Outcome::moved_to_preferred_address));
  const auto *e = r.decision(qamp::Outcome::refused_by_policy);
  REQUIRE(e);
  CHECK(e->change == Change::ip_change);
  CHECK(e->decision.rule == Rule::level_none);
  CHECK(e->before == MigratorState::on_preferred_address);
  CHECK(r.client.migrator()->stats().refused == 1);
  CHECK_FALSE(r.decision(qamp::Outcome::start_path_validation));
  // The planner is asked, with the figures qamp-server's response gave: a 400 kB body, resumable
  // (Accept-Ranges: bytes and a strong ETag). The network is no faster, so it stays.
  const auto planner = r.client.run().planner.dump();
  INFO(planner);
  CHECK(planner.find(R"("body_size":400000)") != std::string::npos);
  CHECK(planner.find(R"("resumable":true)") != std::string::npos);
  CHECK(planner.find(R"("decision":"stay")") != std::string::npos);
  CHECK(r.client.complete());
  CHECK(r.client.local() == kClientInside);
  CHECK(r.client.remote() == kServerSpa);
  CHECK(r.server.gate().counters().dropped == 0);
  CHECK(r.server.counters().moves_to_preferred_address == 1);
  CHECK(r.server.counters().migrations == 0);
}

TEST_CASE("semantics after the move to the preferred address (client-semantics-draft28)") {
  struct Row {
    Semantics semantics;
    qamp::Outcome outcome;
    Rule rule;
    bool migrates;
  };
  // Handshake address `none` (0x0c on the wire), preferred address `any`.
  const std::vector<Row> rows = {
      {Semantics::per_address, qamp::Outcome::start_path_validation, Rule::level_any, true},
      {Semantics::rfc9000, qamp::Outcome::start_path_validation, Rule::rfc9000_after_move, true},
      {Semantics::draft28, qamp::Outcome::refused_by_policy, Rule::draft28_dam, false},
  };
  for (const auto &row : rows) {
    CAPTURE(to_string(row.semantics));
    MigratorConfig mc;
    mc.semantics = row.semantics;
    Run r({Level::none, Level::any, Level::any}, mc, {100'000, kClientNewLocal, true});
    CHECK(r.decision(qamp::Outcome::moved_to_preferred_address));
    const auto *e = r.decision(row.outcome);
    REQUIRE(e);
    CHECK(e->decision.rule == row.rule);
    CHECK(e->before == MigratorState::on_preferred_address);
    CHECK(r.client.complete());
    CHECK(r.client.remote() == kServerSpa);
    CHECK(r.client.local() == (row.migrates ? kClientNewLocal : kClientInside));
    CHECK((r.decision(qamp::Outcome::migrated) != nullptr) == row.migrates);
    CHECK(r.server.gate().counters().dropped == 0);
    CHECK(r.server.counters().moves_to_preferred_address == 1);
    CHECK(r.server.counters().migrations == (row.migrates ? 1u : 0u));
  }
}
