// Client migrator: one row per case, the RFC 9000 rule or DESIGN.md scenario named in the row.
// Expected values are written in the tables, never computed by the code under test.
#include <catch2/catch_test_macros.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "qamp/migrator.h"

using namespace qamp;

namespace {

constexpr Level A = Level::any;
constexpr Level N = Level::none;
constexpr Level S = Level::same_ip;

const LocalInfo kV4Only{Family::v4, true, false};
const LocalInfo kV6Only{Family::v6, false, true};
const LocalInfo kDualOnV4{Family::v4, true, true};
const LocalInfo kDualOnV6{Family::v6, true, true};

enum class When { before_spa, after_spa };

}  // namespace

// ---------------------------------------------------------------------------------------------
// Every level × change × before/after the preferred address × semantics.
// "before": still on the handshake address (cause user_request, so the §9.6.3 redirect does not
// apply). "after": moved to the SPA (IPv4 unless the row says otherwise) and validated it.
// Uniform rows use Policy{L, L, L} after the move and Policy{L, any, any} before it.
TEST_CASE("migrator: policy matrix (level x change x before/after SPA x semantics)") {
  struct Row {
    const char *name;
    Semantics semantics;
    Policy policy;
    Change change;
    When when;
    Outcome outcome;
    Rule rule;
    Family spa = Family::v4;
  };
  using enum Semantics;
  constexpr auto P = Change::port_only;
  constexpr auto I = Change::ip_change;
  constexpr auto B = When::before_spa;
  constexpr auto F = When::after_spa;
  constexpr auto go = Outcome::start_path_validation;
  constexpr auto no = Outcome::refused_by_policy;
  const std::vector<Row> rows = {
      // draft28: 0x0c (handshake level != any) forbids everything for the whole connection.
      {"draft28 any port before: no 0x0c sent", draft28, {A, A, A}, P, B, go, Rule::rfc9000_no_dam},
      {"draft28 any ip before: no 0x0c sent", draft28, {A, A, A}, I, B, go, Rule::rfc9000_no_dam},
      {"draft28 any port after: no 0x0c sent", draft28, {A, A, A}, P, F, go, Rule::rfc9000_no_dam},
      {"draft28 any ip after: no 0x0c sent", draft28, {A, A, A}, I, F, go, Rule::rfc9000_no_dam},
      {"draft28 none port before: 0x0c", draft28, {N, A, A}, P, B, no, Rule::draft28_dam},
      {"draft28 none ip before: 0x0c", draft28, {N, A, A}, I, B, no, Rule::draft28_dam},
      {"draft28 none port after: 0x0c still applies (stock ngtcp2)", draft28, {N, N, N}, P, F, no, Rule::draft28_dam},
      {"draft28 none ip after: 0x0c still applies (stock ngtcp2)", draft28, {N, N, N}, I, F, no, Rule::draft28_dam},
      {"draft28 same-ip port before: 0x0c cannot say same-ip", draft28, {S, A, A}, P, B, no, Rule::draft28_dam},
      {"draft28 same-ip ip before: 0x0c", draft28, {S, A, A}, I, B, no, Rule::draft28_dam},
      {"draft28 same-ip port after: 0x0c still applies", draft28, {S, S, S}, P, F, no, Rule::draft28_dam},
      {"draft28 same-ip ip after: 0x0c still applies", draft28, {S, S, S}, I, F, no, Rule::draft28_dam},
      // rfc9000: 0x0c covers the handshake address only (§18.2).
      {"rfc9000 any port before: no 0x0c", rfc9000, {A, A, A}, P, B, go, Rule::rfc9000_no_dam},
      {"rfc9000 any ip before: no 0x0c", rfc9000, {A, A, A}, I, B, go, Rule::rfc9000_no_dam},
      {"rfc9000 any port after: §18.2 after the move", rfc9000, {A, A, A}, P, F, go, Rule::rfc9000_after_move},
      {"rfc9000 any ip after: §18.2 after the move", rfc9000, {A, A, A}, I, F, go, Rule::rfc9000_after_move},
      {"rfc9000 none port before: 0x0c on handshake address",
       rfc9000,
       {N, A, A},
       P,
       B,
       no,
       Rule::rfc9000_dam_handshake},
      {"rfc9000 none ip before: 0x0c on handshake address", rfc9000, {N, A, A}, I, B, no, Rule::rfc9000_dam_handshake},
      {"rfc9000 none port after: §18.2 0x0c no longer applies", rfc9000, {N, N, N}, P, F, go, Rule::rfc9000_after_move},
      {"rfc9000 none ip after: §18.2 0x0c no longer applies", rfc9000, {N, N, N}, I, F, go, Rule::rfc9000_after_move},
      {"rfc9000 same-ip port before: 0x0c on handshake address",
       rfc9000,
       {S, A, A},
       P,
       B,
       no,
       Rule::rfc9000_dam_handshake},
      {"rfc9000 same-ip ip before: 0x0c on handshake address",
       rfc9000,
       {S, A, A},
       I,
       B,
       no,
       Rule::rfc9000_dam_handshake},
      {"rfc9000 same-ip port after: §18.2", rfc9000, {S, S, S}, P, F, go, Rule::rfc9000_after_move},
      {"rfc9000 same-ip ip after: §18.2 (cannot express same-ip)",
       rfc9000,
       {S, S, S},
       I,
       F,
       go,
       Rule::rfc9000_after_move},
      // per-address: the level of the address the client talks to (DESIGN.md §2).
      {"per-address any port before", per_address, {A, A, A}, P, B, go, Rule::level_any},
      {"per-address any ip before", per_address, {A, A, A}, I, B, go, Rule::level_any},
      {"per-address any port after", per_address, {A, A, A}, P, F, go, Rule::level_any},
      {"per-address any ip after", per_address, {A, A, A}, I, F, go, Rule::level_any},
      {"per-address none port before: 4-tuple LB", per_address, {N, A, A}, P, B, no, Rule::level_none},
      {"per-address none ip before: 4-tuple LB", per_address, {N, A, A}, I, B, no, Rule::level_none},
      {"per-address none port after: SPA behind 4-tuple LB (#3765)",
       per_address,
       {N, N, N},
       P,
       F,
       no,
       Rule::level_none},
      {"per-address none ip after: SPA behind 4-tuple LB (#3765)", per_address, {N, N, N}, I, F, no, Rule::level_none},
      {"per-address same-ip port before: 2-tuple LB", per_address, {S, A, A}, P, B, go, Rule::same_ip_port_change},
      {"per-address same-ip ip before: 2-tuple LB", per_address, {S, A, A}, I, B, no, Rule::same_ip_forbids_ip},
      {"per-address same-ip port after: 2-tuple LB", per_address, {S, S, S}, P, F, go, Rule::same_ip_port_change},
      {"per-address same-ip ip after: 2-tuple LB", per_address, {S, S, S}, I, F, no, Rule::same_ip_forbids_ip},
      // ignore: lab mode, always probes.
      {"ignore any port before", ignore, {A, A, A}, P, B, go, Rule::ignore_mode},
      {"ignore any ip before", ignore, {A, A, A}, I, B, go, Rule::ignore_mode},
      {"ignore any port after", ignore, {A, A, A}, P, F, go, Rule::ignore_mode},
      {"ignore any ip after", ignore, {A, A, A}, I, F, go, Rule::ignore_mode},
      {"ignore none port before", ignore, {N, A, A}, P, B, go, Rule::ignore_mode},
      {"ignore none ip before", ignore, {N, A, A}, I, B, go, Rule::ignore_mode},
      {"ignore none port after", ignore, {N, N, N}, P, F, go, Rule::ignore_mode},
      {"ignore none ip after", ignore, {N, N, N}, I, F, go, Rule::ignore_mode},
      {"ignore same-ip port before", ignore, {S, A, A}, P, B, go, Rule::ignore_mode},
      {"ignore same-ip ip before", ignore, {S, A, A}, I, B, go, Rule::ignore_mode},
      {"ignore same-ip port after", ignore, {S, S, S}, P, F, go, Rule::ignore_mode},
      {"ignore same-ip ip after", ignore, {S, S, S}, I, F, go, Rule::ignore_mode},
      // Mixed policies: the level of the *current* address counts, not the handshake one.
      {"per-address: restricted handshake, unicast SPA: free after the move",
       per_address,
       {N, A, A},
       I,
       F,
       go,
       Rule::level_any},
      {"per-address: unicast handshake, SPA behind 4-tuple LB (#3765)",
       per_address,
       {A, N, N},
       P,
       F,
       no,
       Rule::level_none},
      {"per-address: SPA v4 behind 2-tuple LB refuses an IP change",
       per_address,
       {A, S, A},
       I,
       F,
       no,
       Rule::same_ip_forbids_ip},
      {"per-address: after moving to SPA v6 its level counts",
       per_address,
       {N, N, A},
       I,
       F,
       go,
       Rule::level_any,
       Family::v6},
      {"per-address: after moving to SPA v6, v6 none", per_address, {A, A, N}, P, F, no, Rule::level_none, Family::v6},
      {"draft28: only 0x0c counts, not the SPA levels", draft28, {A, N, N}, I, F, go, Rule::rfc9000_no_dam},
      {"rfc9000: SPA levels are invisible after the move", rfc9000, {A, N, N}, I, F, go, Rule::rfc9000_after_move},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    MigratorConfig cfg;
    cfg.semantics = row.semantics;
    const bool v4 = row.spa == Family::v4;
    Migrator m(cfg, row.policy, v4, !v4);
    ServerAddress where = ServerAddress::handshake;
    if (row.when == When::after_spa) {
      const auto start = m.on_preferred_address(v4 ? kV4Only : kV6Only);
      REQUIRE(start.outcome == Outcome::start_preferred_validation);
      REQUIRE(m.on_validation_result(true).outcome == Outcome::moved_to_preferred_address);
      where = v4 ? ServerAddress::spa_v4 : ServerAddress::spa_v6;
      REQUIRE(m.current() == where);
    }
    const MigratorState resting = m.state();
    const auto d = m.request_migration(row.change, MigrationCause::user_request, true);
    CHECK(d.outcome == row.outcome);
    REQUIRE(d.rule.has_value());
    CHECK(*d.rule == row.rule);
    if (row.outcome == Outcome::start_path_validation) {
      CHECK(d.target == std::optional{where});
      CHECK(m.state() == MigratorState::validating_migration);
      CHECK(m.on_validation_result(true).outcome == Outcome::migrated);
    }
    CHECK(m.state() == resting);
    CHECK(m.current() == where);
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 9000 §9.6.3: a network change while still on the handshake address, with a preferred
// address offered and not yet tried, validates the preferred address from the new local address.
TEST_CASE("migrator: §9.6.3 validate the preferred address from the new local address") {
  enum class Prior {
    nothing,      // on_preferred_address was not called yet
    no_family,    // on_preferred_address found no family (v6-only client, v4-only SPA)
    spa_settled,  // the SPA was tried and failed: settled on the handshake address
  };
  struct Row {
    const char *name;
    Policy policy;
    bool offered_v4, offered_v6;
    bool use_spa;
    Prior prior;
    MigrationCause cause;
    Change change;
    bool old_path_usable;
    std::optional<LocalInfo> new_local;
    Outcome outcome;
    std::optional<Rule> rule;
    std::optional<ServerAddress> target;
    std::optional<FamilyReason> family;
  };
  using C = MigrationCause;
  const auto redirect = Outcome::validate_preferred_from_new_local;
  const auto refused = Outcome::refused_by_policy;
  const auto hs = ServerAddress::handshake;
  const auto v4 = ServerAddress::spa_v4;
  const auto v6 = ServerAddress::spa_v6;
  const std::vector<Row> rows = {
      {"§9.6.3: v6-only client moves to a v4 network: validate SPA v4 from it",
       {N, A, A},
       true,
       false,
       true,
       Prior::no_family,
       C::network_change,
       Change::ip_change,
       true,
       kV4Only,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"§9.6.3: path failed (old path gone): still validate the SPA, not an immediate migration",
       {N, A, A},
       true,
       false,
       true,
       Prior::no_family,
       C::path_failed,
       Change::ip_change,
       false,
       kV4Only,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"§9.6.3: port-only network change also goes to the SPA",
       {N, A, A},
       true,
       false,
       true,
       Prior::nothing,
       C::network_change,
       Change::port_only,
       true,
       kV4Only,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"§9.6.3: preferred even when the handshake address allows migration",
       {A, A, A},
       true,
       false,
       true,
       Prior::nothing,
       C::network_change,
       Change::ip_change,
       true,
       kV4Only,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"§9.6.3: new local on v4, only SPA v6 offered, dual-stack: switch family",
       {N, A, A},
       false,
       true,
       true,
       Prior::nothing,
       C::network_change,
       Change::ip_change,
       true,
       kDualOnV4,
       redirect,
       Rule::spa_move_once,
       v6,
       FamilyReason::switched_family},
      {"§9.6.3: no new_local given: the last LocalInfo (default v4) is used",
       {N, A, A},
       true,
       false,
       true,
       Prior::nothing,
       C::network_change,
       Change::ip_change,
       true,
       std::nullopt,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"§9.6.3: network disconnected (OS event) goes to the SPA",
       {N, A, A},
       true,
       false,
       true,
       Prior::nothing,
       C::network_disconnected,
       Change::ip_change,
       false,
       kV4Only,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"§9.6.3: network made default (OS event) goes to the SPA",
       {N, A, A},
       true,
       false,
       true,
       Prior::nothing,
       C::network_made_default,
       Change::ip_change,
       true,
       kV4Only,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"§9.6.3: write error (OS event) goes to the SPA",
       {N, A, A},
       true,
       false,
       true,
       Prior::nothing,
       C::write_error,
       Change::ip_change,
       false,
       kV4Only,
       redirect,
       Rule::spa_move_once,
       v4,
       FamilyReason::same_family},
      {"not §9.6.3: a port change on a degrading path keeps the network",
       {N, A, A},
       true,
       false,
       true,
       Prior::no_family,
       C::port_change_on_path_degrading,
       Change::port_only,
       true,
       kV4Only,
       refused,
       Rule::level_none,
       std::nullopt,
       std::nullopt},
      {"not §9.6.3: a user request asks for exactly this change",
       {N, A, A},
       true,
       false,
       true,
       Prior::no_family,
       C::user_request,
       Change::ip_change,
       true,
       kV4Only,
       refused,
       Rule::level_none,
       std::nullopt,
       std::nullopt},
      {"not §9.6.3: preferred address disabled by config",
       {N, A, A},
       true,
       false,
       false,
       Prior::nothing,
       C::network_change,
       Change::ip_change,
       true,
       kV4Only,
       refused,
       Rule::level_none,
       std::nullopt,
       std::nullopt},
      {"not §9.6.3: the new local cannot reach the SPA family either",
       {N, A, A},
       true,
       false,
       true,
       Prior::no_family,
       C::network_change,
       Change::ip_change,
       true,
       kV6Only,
       refused,
       Rule::level_none,
       std::nullopt,
       std::nullopt},
      {"not §9.6.3: the SPA was tried and failed; handshake policy applies",
       {N, A, A},
       true,
       false,
       true,
       Prior::spa_settled,
       C::network_change,
       Change::ip_change,
       true,
       kV4Only,
       refused,
       Rule::level_none,
       std::nullopt,
       std::nullopt},
      {"not §9.6.3: tried and failed, handshake any: migrate on the handshake address",
       {A, A, A},
       true,
       false,
       true,
       Prior::spa_settled,
       C::network_change,
       Change::ip_change,
       true,
       kV4Only,
       Outcome::start_path_validation,
       Rule::level_any,
       hs,
       std::nullopt},
      {"not §9.6.3: no SPA offered; handshake any",
       {A, A, A},
       false,
       false,
       true,
       Prior::nothing,
       C::network_change,
       Change::ip_change,
       true,
       kV4Only,
       Outcome::start_path_validation,
       Rule::level_any,
       hs,
       std::nullopt},
      {"not §9.6.3: no SPA offered; handshake none",
       {N, A, A},
       false,
       false,
       true,
       Prior::nothing,
       C::network_change,
       Change::ip_change,
       true,
       kV4Only,
       refused,
       Rule::level_none,
       std::nullopt,
       std::nullopt},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    MigratorConfig cfg;
    cfg.use_preferred_address = row.use_spa;
    Migrator m(cfg, row.policy, row.offered_v4, row.offered_v6);
    switch (row.prior) {
      case Prior::nothing: break;
      case Prior::no_family:
        REQUIRE(m.on_preferred_address(kV6Only).outcome == Outcome::refused_no_preferred_address);
        break;
      case Prior::spa_settled:
        REQUIRE(m.on_preferred_address(kV4Only).outcome == Outcome::start_preferred_validation);
        REQUIRE(m.on_validation_result(false).outcome == Outcome::settled_on_handshake_address);
        break;
    }
    const auto d = m.request_migration(row.change, row.cause, row.old_path_usable, row.new_local);
    CHECK(d.outcome == row.outcome);
    CHECK(d.rule == row.rule);
    CHECK(d.target == row.target);
    CHECK(d.family_reason == row.family);
    if (d.outcome == redirect) {
      CHECK(m.state() == MigratorState::validating_preferred_address);
      CHECK(m.pending_target() == row.target);
      const auto done = m.on_validation_result(true);
      CHECK(done.outcome == Outcome::moved_to_preferred_address);
      CHECK(m.current() == *row.target);
      CHECK(m.state() == MigratorState::on_preferred_address);
    }
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: preferred-address family choice") {
  struct Row {
    const char *name;
    bool offered_v4, offered_v6;
    LocalInfo local;
    SpaFamily pref;
    std::optional<Family> family;
    FamilyReason reason;
  };
  using F = Family;
  using R = FamilyReason;
  constexpr auto automatic = SpaFamily::automatic;
  const std::vector<Row> rows = {
      // auto, current v4
      {"auto v4: both offered, dual-stack: keep v4", true, true, kDualOnV4, automatic, F::v4, R::same_family},
      {"auto v4: both offered, v4-only: keep v4", true, true, kV4Only, automatic, F::v4, R::same_family},
      {"auto v4: only v4 offered, dual-stack", true, false, kDualOnV4, automatic, F::v4, R::same_family},
      {"auto v4: only v6 offered, dual-stack: switch address families", false, true, kDualOnV4, automatic, F::v6,
       R::switched_family},
      {"auto v4: only v6 offered, v4-only client: none", false, true, kV4Only, automatic, std::nullopt,
       R::no_usable_family},
      {"auto v4: nothing offered", false, false, kDualOnV4, automatic, std::nullopt, R::none_offered},
      {"auto v4: v4 interface lost (has_v4 false), both offered: switch to v6", true, true,
       LocalInfo{F::v4, false, true}, automatic, F::v6, R::switched_family},
      // auto, current v6
      {"auto v6: both offered, dual-stack: keep v6", true, true, kDualOnV6, automatic, F::v6, R::same_family},
      {"auto v6: both offered, v6-only: keep v6", true, true, kV6Only, automatic, F::v6, R::same_family},
      {"auto v6: only v4 offered, dual-stack: switch address families", true, false, kDualOnV6, automatic, F::v4,
       R::switched_family},
      {"auto v6: only v4 offered, v6-only client: none", true, false, kV6Only, automatic, std::nullopt,
       R::no_usable_family},
      {"auto v6: only v6 offered, dual-stack", false, true, kDualOnV6, automatic, F::v6, R::same_family},
      {"auto v6: nothing offered", false, false, kV6Only, automatic, std::nullopt, R::none_offered},
      // forced
      {"forced v4: offered and local", true, true, kDualOnV6, SpaFamily::v4, F::v4, R::forced_family},
      {"forced v4: only v6 offered", false, true, kDualOnV4, SpaFamily::v4, std::nullopt, R::forced_family_not_offered},
      {"forced v4: offered, v6-only client", true, true, kV6Only, SpaFamily::v4, std::nullopt,
       R::forced_family_not_local},
      {"forced v4: nothing offered", false, false, kDualOnV4, SpaFamily::v4, std::nullopt, R::none_offered},
      {"forced v6: offered and local", true, true, kDualOnV4, SpaFamily::v6, F::v6, R::forced_family},
      {"forced v6: only v4 offered", true, false, kDualOnV6, SpaFamily::v6, std::nullopt, R::forced_family_not_offered},
      {"forced v6: offered, v4-only client", true, true, kV4Only, SpaFamily::v6, std::nullopt,
       R::forced_family_not_local},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    const auto c = choose_spa_family(row.offered_v4, row.offered_v6, row.local, row.pref);
    CHECK(c.family == row.family);
    CHECK(c.reason == row.reason);

    // The migrator turns the same choice into its first decision.
    MigratorConfig cfg;
    cfg.spa_family = row.pref;
    Migrator m(cfg, Policy{}, row.offered_v4, row.offered_v6);
    const auto d = m.on_preferred_address(row.local);
    CHECK(d.family_reason == std::optional{row.reason});
    if (row.family) {
      CHECK(d.outcome == Outcome::start_preferred_validation);
      CHECK(d.target == std::optional{spa_of(*row.family)});
      CHECK(m.state() == MigratorState::validating_preferred_address);
    } else {
      CHECK(d.outcome == Outcome::refused_no_preferred_address);
      CHECK(m.state() == MigratorState::on_handshake_address);
    }
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: preferred-address validation, fallback to the other family once, settle") {
  struct Row {
    const char *name;
    SpaFamily pref;
    bool offered_v4, offered_v6;
    LocalInfo local;
    std::vector<bool> results;      // successive on_validation_result() inputs
    std::vector<Outcome> outcomes;  // on_preferred_address(), then one per result
    std::vector<std::optional<ServerAddress>> targets;
    MigratorState final_state;
    ServerAddress final_current;
    MigratorStats stats;
  };
  using O = Outcome;
  const auto v4 = ServerAddress::spa_v4;
  const auto v6 = ServerAddress::spa_v6;
  const auto hs = ServerAddress::handshake;
  const std::vector<Row> rows = {
      {"SPA v4 validates: on the preferred address",
       SpaFamily::automatic,
       true,
       true,
       kDualOnV4,
       {true},
       {O::start_preferred_validation, O::moved_to_preferred_address},
       {v4, v4},
       MigratorState::on_preferred_address,
       v4,
       {1, 0, 1, 0, 0}},
      {"SPA v4 fails, v6 offered and local: fall back to v6, which validates",
       SpaFamily::automatic,
       true,
       true,
       kDualOnV4,
       {false, true},
       {O::start_preferred_validation, O::fallback_other_family, O::moved_to_preferred_address},
       {v4, v6, v6},
       MigratorState::on_preferred_address,
       v6,
       {2, 0, 1, 1, 0}},
      {"SPA v4 fails, v6 fails too: settle on the handshake address (fallback only once)",
       SpaFamily::automatic,
       true,
       true,
       kDualOnV4,
       {false, false},
       {O::start_preferred_validation, O::fallback_other_family, O::settled_on_handshake_address},
       {v4, v6, hs},
       MigratorState::on_handshake_address,
       hs,
       {2, 0, 0, 2, 0}},
      {"SPA v6 fails (current v6), v4 fails: settle",
       SpaFamily::automatic,
       true,
       true,
       kDualOnV6,
       {false, false},
       {O::start_preferred_validation, O::fallback_other_family, O::settled_on_handshake_address},
       {v6, v4, hs},
       MigratorState::on_handshake_address,
       hs,
       {2, 0, 0, 2, 0}},
      {"SPA v4 fails, v6 not offered: settle",
       SpaFamily::automatic,
       true,
       false,
       kDualOnV4,
       {false},
       {O::start_preferred_validation, O::settled_on_handshake_address},
       {v4, hs},
       MigratorState::on_handshake_address,
       hs,
       {1, 0, 0, 1, 0}},
      {"SPA v4 fails, client has no v6 address: settle",
       SpaFamily::automatic,
       true,
       true,
       kV4Only,
       {false},
       {O::start_preferred_validation, O::settled_on_handshake_address},
       {v4, hs},
       MigratorState::on_handshake_address,
       hs,
       {1, 0, 0, 1, 0}},
      {"forced v4 fails: no fallback (forced means this family or none)",
       SpaFamily::v4,
       true,
       true,
       kDualOnV4,
       {false},
       {O::start_preferred_validation, O::settled_on_handshake_address},
       {v4, hs},
       MigratorState::on_handshake_address,
       hs,
       {1, 0, 0, 1, 0}},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    MigratorConfig cfg;
    cfg.spa_family = row.pref;
    Migrator m(cfg, Policy{N, A, A}, row.offered_v4, row.offered_v6);
    std::vector<MigrationDecision> got;
    got.push_back(m.on_preferred_address(row.local));
    for (bool ok : row.results) got.push_back(m.on_validation_result(ok));
    REQUIRE(got.size() == row.outcomes.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i].outcome == row.outcomes[i]);
      CHECK(got[i].target == row.targets[i]);
    }
    CHECK(m.state() == row.final_state);
    CHECK(m.current() == row.final_current);
    CHECK(m.stats() == row.stats);
  }

  SECTION("after settling, the preferred address is not tried again") {
    Migrator m({}, Policy{N, A, A}, true, false);
    REQUIRE(m.on_preferred_address(kV4Only).outcome == Outcome::start_preferred_validation);
    REQUIRE(m.on_validation_result(false).outcome == Outcome::settled_on_handshake_address);
    CHECK(m.on_preferred_address(kV4Only).outcome == Outcome::refused_preferred_already_tried);
    CHECK(m.request_migration(Change::move_to_spa, MigrationCause::user_request).outcome ==
          Outcome::refused_preferred_already_tried);
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: on_preferred_address refusals") {
  struct Row {
    const char *name;
    MigratorConfig cfg;
    bool offered_v4, offered_v6;
    bool moved_first;  // already on the SPA
    bool validating;   // a client-initiated validation is running
    Outcome outcome;
    std::optional<Rule> rule;
  };
  MigratorConfig off;
  off.use_preferred_address = false;
  const std::vector<Row> rows = {
      {"no SPA offered (§9.6.1)",
       {},
       false,
       false,
       false,
       false,
       Outcome::refused_no_preferred_address,
       Rule::spa_not_offered},
      {"use_preferred_address off", off, true, true, false, false, Outcome::refused_preferred_disabled, std::nullopt},
      {"already on the SPA: a second move is not allowed (§9.6)",
       {},
       true,
       false,
       true,
       false,
       Outcome::refused_by_policy,
       Rule::spa_already_moved},
      {"a client migration is being validated",
       {},
       true,
       false,
       false,
       true,
       Outcome::refused_validation_in_progress,
       std::nullopt},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Migrator m(row.cfg, Policy{}, row.offered_v4, row.offered_v6);
    if (row.moved_first) {
      REQUIRE(m.on_preferred_address(kV4Only).outcome == Outcome::start_preferred_validation);
      REQUIRE(m.on_validation_result(true).outcome == Outcome::moved_to_preferred_address);
    }
    if (row.validating)
      REQUIRE(m.request_migration(Change::port_only, MigrationCause::user_request).outcome ==
              Outcome::start_path_validation);
    const auto d = m.on_preferred_address(kV4Only);
    CHECK(d.outcome == row.outcome);
    CHECK(d.rule == row.rule);
    CHECK(m.stats().refused == 1);
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: client-initiated validation failure stays on the old path") {
  struct Row {
    const char *name;
    bool on_spa;
    Change change;
    bool old_path_usable;
    MigratorState resting;
    ServerAddress current;
  };
  const std::vector<Row> rows = {
      {"§9.6.1 port change on the handshake address fails: stay", false, Change::port_only, true,
       MigratorState::on_handshake_address, ServerAddress::handshake},
      {"§9.6.1 IP change on the SPA fails: stay on the SPA path", true, Change::ip_change, true,
       MigratorState::on_preferred_address, ServerAddress::spa_v4},
      {"immediate migration fails: ngtcp2 falls back to the old path", true, Change::ip_change, false,
       MigratorState::on_preferred_address, ServerAddress::spa_v4},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Migrator m({}, Policy{}, true, false);
    if (row.on_spa) {
      REQUIRE(m.on_preferred_address(kV4Only).outcome == Outcome::start_preferred_validation);
      REQUIRE(m.on_validation_result(true).outcome == Outcome::moved_to_preferred_address);
    }
    REQUIRE(starts_path(m.request_migration(row.change, MigrationCause::user_request, row.old_path_usable).outcome));
    CHECK(m.request_migration(row.change, MigrationCause::user_request).outcome ==
          Outcome::refused_validation_in_progress);
    const auto d = m.on_validation_result(false);
    CHECK(d.outcome == Outcome::validation_failed_stayed);
    CHECK(d.target == std::optional{row.current});
    CHECK(m.state() == row.resting);
    CHECK(m.current() == row.current);
    CHECK(m.stats().failed == 1);
    CHECK(m.on_validation_result(true).outcome == Outcome::no_validation_pending);
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: immediate migration only when the old path is gone") {
  struct Row {
    const char *name;
    Semantics semantics;
    Policy policy;
    Change change;
    MigrationCause cause;
    bool old_path_usable;
    Outcome outcome;
    Rule rule;
  };
  using C = MigrationCause;
  const std::vector<Row> rows = {
      {"§8.2.4/§9.6.1 old path usable: validate first",
       Semantics::per_address,
       {A, A, A},
       Change::ip_change,
       C::network_change,
       true,
       Outcome::start_path_validation,
       Rule::level_any},
      {"old path gone: switch now, validate afterwards",
       Semantics::per_address,
       {A, A, A},
       Change::ip_change,
       C::path_failed,
       false,
       Outcome::start_immediate_migration,
       Rule::level_any},
      {"old path gone, port change on same-ip",
       Semantics::per_address,
       {S, A, A},
       Change::port_only,
       C::network_change,
       false,
       Outcome::start_immediate_migration,
       Rule::same_ip_port_change},
      {"old path gone but policy none: refused (the planner decides)",
       Semantics::per_address,
       {N, A, A},
       Change::ip_change,
       C::path_failed,
       false,
       Outcome::refused_by_policy,
       Rule::level_none},
      {"old path gone, same-ip IP change: refused",
       Semantics::per_address,
       {S, A, A},
       Change::ip_change,
       C::path_failed,
       false,
       Outcome::refused_by_policy,
       Rule::same_ip_forbids_ip},
      {"old path gone, ignore mode: immediate",
       Semantics::ignore,
       {N, A, A},
       Change::ip_change,
       C::path_failed,
       false,
       Outcome::start_immediate_migration,
       Rule::ignore_mode},
      {"old path gone, draft28 with 0x0c: refused",
       Semantics::draft28,
       {N, A, A},
       Change::port_only,
       C::path_failed,
       false,
       Outcome::refused_by_policy,
       Rule::draft28_dam},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    MigratorConfig cfg;
    cfg.semantics = row.semantics;
    Migrator m(cfg, row.policy, false, false);  // no SPA: §9.6.3 does not apply
    const auto d = m.request_migration(row.change, row.cause, row.old_path_usable);
    CHECK(d.outcome == row.outcome);
    CHECK(d.rule == std::optional{row.rule});
    if (starts_path(d.outcome)) {
      CHECK(m.state() == MigratorState::validating_migration);
      CHECK(m.on_validation_result(true).outcome == Outcome::migrated);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A server must not answer a forbidden probe with a Stateless Reset (RFC 9000 §9, §21.11);
// the optional hardening ignores one that arrives on a path only being probed.
TEST_CASE("migrator: stateless reset on a probed path") {
  enum class Probe { none, preferred, migration };
  struct Row {
    const char *name;
    bool option;
    Probe probe;
    bool on_active_path;
    bool ignore;
  };
  const std::vector<Row> rows = {
      {"option off: every reset is honoured", false, Probe::migration, false, false},
      {"option off, probing the SPA", false, Probe::preferred, false, false},
      {"option on, probing a client path, reset on the probed path: ignore", true, Probe::migration, false, true},
      {"option on, probing the SPA, reset on the probed path: ignore", true, Probe::preferred, false, true},
      {"option on, probing, reset on the active path: honour", true, Probe::migration, true, false},
      {"option on, probing the SPA, reset on the active path: honour", true, Probe::preferred, true, false},
      {"option on, nothing probed, reset off the active path: honour", true, Probe::none, false, false},
      {"option on, nothing probed, reset on the active path: honour", true, Probe::none, true, false},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    MigratorConfig cfg;
    cfg.ignore_reset_on_probe = row.option;
    Migrator m(cfg, Policy{}, true, false);
    std::vector<MigrationEvent> events;
    m.set_observer([&](const MigrationEvent &e) { events.push_back(e); });
    if (row.probe == Probe::preferred)
      REQUIRE(m.on_preferred_address(kV4Only).outcome == Outcome::start_preferred_validation);
    if (row.probe == Probe::migration)
      REQUIRE(m.request_migration(Change::port_only, MigrationCause::user_request).outcome ==
              Outcome::start_path_validation);
    const auto before = events.size();
    CHECK(m.should_ignore_stateless_reset(row.on_active_path) == row.ignore);
    CHECK(m.stats().resets_ignored == (row.ignore ? 1u : 0u));
    CHECK(events.size() == before + (row.ignore ? 1u : 0u));
    if (row.ignore) CHECK(events.back().decision.outcome == Outcome::ignored_reset_on_probe);
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: counters and observer over a whole connection") {
  struct Step {
    const char *name;
    MigrationCause cause;
    std::optional<Change> change;
    Outcome outcome;
    std::optional<Rule> rule;
    MigratorState before, after;
  };
  using C = MigrationCause;
  using St = MigratorState;
  // Handshake address behind a 4-tuple LB (none), unicast SPA v4 (any).
  Migrator m({}, Policy{N, A, A}, true, false);
  std::vector<MigrationEvent> events;
  m.set_observer([&](const MigrationEvent &e) { events.push_back(e); });

  const auto lan = LocalInfo{Family::v4, true, false};
  m.on_preferred_address(lan);
  m.request_migration(Change::port_only, C::user_request);
  m.on_validation_result(true);
  m.request_migration(Change::ip_change, C::network_change);
  m.on_validation_result(false);
  m.request_migration(Change::ip_change, C::network_change);
  m.on_validation_result(true);
  m.on_preferred_address(lan);

  const std::vector<Step> expected = {
      {"handshake done: validate SPA v4", C::preferred_address_available, std::nullopt,
       Outcome::start_preferred_validation, Rule::spa_move_once, St::on_handshake_address,
       St::validating_preferred_address},
      {"port change while validating", C::user_request, Change::port_only, Outcome::refused_validation_in_progress,
       std::nullopt, St::validating_preferred_address, St::validating_preferred_address},
      {"SPA validated", C::preferred_address_available, std::nullopt, Outcome::moved_to_preferred_address, std::nullopt,
       St::validating_preferred_address, St::on_preferred_address},
      {"network change on the SPA (any)", C::network_change, Change::ip_change, Outcome::start_path_validation,
       Rule::level_any, St::on_preferred_address, St::validating_migration},
      {"new path fails", C::network_change, Change::ip_change, Outcome::validation_failed_stayed, std::nullopt,
       St::validating_migration, St::on_preferred_address},
      {"network change again", C::network_change, Change::ip_change, Outcome::start_path_validation, Rule::level_any,
       St::on_preferred_address, St::validating_migration},
      {"new path validates", C::network_change, Change::ip_change, Outcome::migrated, std::nullopt,
       St::validating_migration, St::on_preferred_address},
      {"second move to a preferred address (§9.6)", C::preferred_address_available, std::nullopt,
       Outcome::refused_by_policy, Rule::spa_already_moved, St::on_preferred_address, St::on_preferred_address},
  };
  REQUIRE(events.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto &want = expected[i];
    const auto &got = events[i];
    CAPTURE(want.name);
    CHECK(got.cause == want.cause);
    CHECK(got.change == want.change);
    CHECK(got.decision.outcome == want.outcome);
    CHECK(got.decision.rule == want.rule);
    CHECK(got.before == want.before);
    CHECK(got.after == want.after);
  }
  CHECK(m.stats() == MigratorStats{3, 2, 2, 1, 0});
  CHECK(m.current() == ServerAddress::spa_v4);

  CHECK(to_string(events[0]) ==
        "preferred-address-available: start-preferred-address-validation (rule move-to-preferred-address-once, "
        "target spa-v4, family same-family) [on-handshake-address -> validating-preferred-address]");
  CHECK(to_string(events[4]) ==
        "network-change ip-change: validation-failed-stayed (target spa-v4) "
        "[validating-migration -> on-preferred-address]");
  CHECK(to_string(events[7]) ==
        "preferred-address-available: refused-by-policy (rule already-moved-to-preferred-address) "
        "[on-preferred-address]");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: names and parsers") {
  struct SpaRow {
    const char *text;
    std::optional<SpaFamily> value;
  };
  for (const auto &row : std::vector<SpaRow>{{"auto", SpaFamily::automatic},
                                             {"v4", SpaFamily::v4},
                                             {"v6", SpaFamily::v6},
                                             {"automatic", std::nullopt},
                                             {"", std::nullopt},
                                             {"V4", std::nullopt}}) {
    CAPTURE(row.text);
    CHECK(parse_spa_family(row.text) == row.value);
    if (row.value) CHECK(to_string(*row.value) == row.text);
  }
  struct CauseRow {
    const char *text;
    std::optional<MigrationCause> value;
  };
  for (const auto &row :
       std::vector<CauseRow>{{"preferred-address-available", MigrationCause::preferred_address_available},
                             {"network-change", MigrationCause::network_change},
                             {"user-request", MigrationCause::user_request},
                             {"path-failed", MigrationCause::path_failed},
                             {"network-made-default", MigrationCause::network_made_default},
                             {"network-disconnected", MigrationCause::network_disconnected},
                             {"path-degrading", MigrationCause::path_degrading},
                             {"write-error", MigrationCause::write_error},
                             {"migrate-back-to-default-network", MigrationCause::migrate_back_to_default_network},
                             {"port-change-on-path-degrading", MigrationCause::port_change_on_path_degrading},
                             {"network_change", std::nullopt},
                             {"path-degraded", std::nullopt}}) {
    CAPTURE(row.text);
    CHECK(parse_migration_cause(row.text) == row.value);
    if (row.value) CHECK(to_string(*row.value) == row.text);
  }
  // Exactly the causes that move the client to another local IP (the §9.6.3 redirect's causes).
  struct NetRow {
    MigrationCause cause;
    bool changes;
  };
  using MC = MigrationCause;
  for (const auto &row : std::vector<NetRow>{{MC::preferred_address_available, false},
                                             {MC::network_change, true},
                                             {MC::user_request, false},
                                             {MC::path_failed, true},
                                             {MC::network_made_default, true},
                                             {MC::network_disconnected, true},
                                             {MC::path_degrading, true},
                                             {MC::write_error, true},
                                             {MC::migrate_back_to_default_network, true},
                                             {MC::port_change_on_path_degrading, false}}) {
    CAPTURE(to_string(row.cause));
    CHECK(changes_network(row.cause) == row.changes);
  }
  std::set<std::string_view> cause_names;
  for (auto c : kAllMigrationCauses) CHECK(cause_names.insert(to_string(c)).second);
  CHECK(cause_names.size() == 10);
  CHECK(parse_family("v6") == Family::v6);
  CHECK(parse_family("ipv6") == std::nullopt);

  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(Outcome::start_failed); ++i) {
    auto name = to_string(static_cast<Outcome>(i));
    CAPTURE(i);
    CHECK(name != "?");
    CHECK(names.insert(name).second);
  }
  CHECK(to_string(MigrationDecision{Outcome::refused_by_policy, Rule::level_none, std::nullopt, std::nullopt}) ==
        "refused-by-policy (rule level-none)");
  CHECK(to_string(MigrationDecision{Outcome::no_validation_pending, {}, {}, {}}) == "no-validation-pending");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("migrator: submit_migration waits for the confirmation and for a running validation") {
  using C = MigrationCause;
  struct Row {
    const char *name;
    Policy policy;
    bool confirmed;
    bool validating;  // a port change is being validated when the request comes
    Change change;
    Outcome submitted;
    std::optional<Outcome> after_wait;  // run_queued() once nothing stops it any more
  };
  const std::vector<Row> rows = {
      {"RFC 9000 §9: before the confirmation, queued", Policy{A, A, A}, false, false, Change::ip_change,
       Outcome::deferred_until_confirmed, Outcome::start_path_validation},
      {"confirmed, idle: decided at once", Policy{A, A, A}, true, false, Change::ip_change,
       Outcome::start_path_validation, std::nullopt},
      {"a validation runs: queued until it ends", Policy{A, A, A}, true, true, Change::ip_change,
       Outcome::deferred_validation_in_progress, Outcome::start_path_validation},
      {"queued, and refused by the policy when it runs (handshake address none)", Policy{N, A, A}, false, false,
       Change::port_only, Outcome::deferred_until_confirmed, Outcome::refused_by_policy},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Migrator m({}, row.policy, false, false);
    if (row.confirmed) m.on_handshake_confirmed();
    if (row.validating)
      REQUIRE(m.submit_migration(Change::port_only, C::user_request).outcome == Outcome::start_path_validation);
    const auto d = m.submit_migration(row.change, C::network_change);
    CHECK(d.outcome == row.submitted);
    CHECK(m.has_queued() == row.after_wait.has_value());
    CHECK(m.stats().refused == 0);
    if (!row.after_wait) continue;
    CHECK_FALSE(m.run_queued());  // still waiting
    if (!row.confirmed) m.on_handshake_confirmed();
    if (row.validating) REQUIRE(m.on_validation_result(true).outcome == Outcome::migrated);
    const auto ran = m.run_queued();
    REQUIRE(ran);
    CHECK(ran->outcome == *row.after_wait);
    CHECK_FALSE(m.has_queued());
    CHECK_FALSE(m.run_queued());
  }
}

TEST_CASE("migrator: a newer request replaces the queued one") {
  Migrator m({}, Policy{S, A, A}, false, false);
  CHECK(m.submit_migration(Change::ip_change, MigrationCause::network_change).outcome ==
        Outcome::deferred_until_confirmed);
  CHECK(m.submit_migration(Change::port_only, MigrationCause::network_change).outcome ==
        Outcome::deferred_until_confirmed);
  m.on_handshake_confirmed();
  const auto d = m.run_queued();
  REQUIRE(d);
  CHECK(d->outcome == Outcome::start_path_validation);  // the port change; the IP change is gone
  CHECK(d->rule == Rule::same_ip_port_change);
}

TEST_CASE("migrator: a queued network change and the preferred address (RFC 9000 §9.6.3)") {
  struct Row {
    const char *name;
    MigrationCause cause;
    LocalInfo new_local;
    bool use_preferred;
    std::optional<Outcome> taken;  // run_queued_with_preferred_address()
  };
  MigratorConfig off;
  off.use_preferred_address = false;
  const std::vector<Row> rows = {
      {"network change, SPA v4 reachable from the new network: one validation", MigrationCause::network_change, kV4Only,
       true, Outcome::validate_preferred_from_new_local},
      {"network change to IPv6 only, SPA v4 only: stays queued", MigrationCause::network_change, kV6Only, true,
       std::nullopt},
      {"user request (not a network change): stays queued", MigrationCause::user_request, kV4Only, true, std::nullopt},
      {"preferred address disabled: stays queued", MigrationCause::network_change, kV4Only, false, std::nullopt},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    MigratorConfig cfg;
    cfg.use_preferred_address = row.use_preferred;
    Migrator m(cfg, Policy{N, A, A}, true, false);
    REQUIRE(m.submit_migration(Change::ip_change, row.cause, true, row.new_local).outcome ==
            Outcome::deferred_until_confirmed);
    const auto d = m.run_queued_with_preferred_address();
    CHECK(d.has_value() == row.taken.has_value());
    if (d) {
      CHECK(d->outcome == *row.taken);
      CHECK(d->target == std::optional{ServerAddress::spa_v4});
      CHECK(m.state() == MigratorState::validating_preferred_address);
    }
    CHECK(m.has_queued() == !row.taken);
  }
}

TEST_CASE("migrator: ngtcp2 cannot start the validation: retry, refusal, give up") {
  struct Row {
    const char *name;
    std::vector<StartError> errors;
    bool native;
    bool confirmed;
    unsigned attempts;  // MigratorConfig::start_retry_attempts
    std::vector<Outcome> outcomes;
  };
  using O = Outcome;
  using E = StartError;
  const std::vector<Row> rows = {
      {"CONN_ID_BLOCKED: retried", {E::conn_id_blocked}, false, true, 40, {O::retry_conn_id_blocked}},
      {"INVALID_STATE: retried", {E::invalid_state}, false, true, 40, {O::retry_invalid_state}},
      {"limit 2: two retries, then give up",
       {E::conn_id_blocked, E::invalid_state, E::conn_id_blocked},
       false,
       true,
       2,
       {O::retry_conn_id_blocked, O::retry_invalid_state, O::gave_up_after_retries}},
      {"limit 0: give up at once", {E::conn_id_blocked}, false, true, 0, {O::gave_up_after_retries}},
      {"native, confirmed: INVALID_STATE is ngtcp2 applying the policy",
       {E::invalid_state},
       true,
       true,
       40,
       {O::refused_by_ngtcp2}},
      {"native, not confirmed: INVALID_STATE is only 'not yet'",
       {E::invalid_state},
       true,
       false,
       40,
       {O::retry_invalid_state}},
      {"native: CONN_ID_BLOCKED is still retried", {E::conn_id_blocked}, true, true, 40, {O::retry_conn_id_blocked}},
      {"other error: no retry", {E::other}, false, true, 40, {O::start_failed}},
      {"new local address of another family",
       {E::address_family_mismatch},
       false,
       true,
       40,
       {O::impossible_address_family}},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    MigratorConfig cfg;
    cfg.start_retry_attempts = row.attempts;
    Migrator m(cfg, Policy{A, A, A}, false, false);
    if (row.confirmed) m.on_handshake_confirmed();
    // request_migration() does not wait for the confirmation (submit_migration() does).
    REQUIRE(m.request_migration(Change::ip_change, MigrationCause::network_change).outcome ==
            Outcome::start_path_validation);
    std::vector<Outcome> got;
    for (auto e : row.errors) got.push_back(m.on_start_failed(e, row.native).outcome);
    CHECK(got == row.outcomes);
    // Nothing changes state until the adapter ends the attempt.
    CHECK(m.state() == MigratorState::validating_migration);
    CHECK(m.stats().failed == 0);
    CHECK(m.on_validation_result(false).outcome == Outcome::validation_failed_stayed);
    CHECK(m.stats().failed == 1);
  }
}

TEST_CASE("migrator: a started validation gets a fresh retry budget") {
  MigratorConfig cfg;
  cfg.start_retry_attempts = 1;
  Migrator m(cfg, Policy{A, A, A}, false, false);
  m.on_handshake_confirmed();
  REQUIRE(starts_path(m.request_migration(Change::ip_change, MigrationCause::network_change).outcome));
  CHECK(m.on_start_failed(StartError::conn_id_blocked, false).outcome == Outcome::retry_conn_id_blocked);
  m.on_started();
  CHECK(m.on_start_failed(StartError::conn_id_blocked, false).outcome == Outcome::retry_conn_id_blocked);
  CHECK(m.on_start_failed(StartError::conn_id_blocked, false).outcome == Outcome::gave_up_after_retries);
}

TEST_CASE("migrator: retry knobs default to 40 x 50 ms; start errors are named") {
  const MigratorConfig cfg;
  CHECK(cfg.start_retry_attempts == 40);
  CHECK(cfg.start_retry_interval == 50'000'000);
  CHECK(to_string(StartError::conn_id_blocked) == "conn-id-blocked");
  CHECK(to_string(StartError::invalid_state) == "invalid-state");
  CHECK(to_string(StartError::address_family_mismatch) == "address-family-mismatch");
  CHECK(to_string(StartError::other) == "other");
}

TEST_CASE("Outcome: the five refusals are the decisions with nothing to do; none of them starts a path") {
  const std::set<Outcome> refusals = {Outcome::refused_by_policy, Outcome::refused_validation_in_progress,
                                      Outcome::refused_no_preferred_address, Outcome::refused_preferred_disabled,
                                      Outcome::refused_preferred_already_tried};
  for (int i = 0; i <= static_cast<int>(Outcome::start_failed); ++i) {
    auto o = static_cast<Outcome>(i);
    INFO(to_string(o));
    CHECK(is_refusal(o) == (refusals.count(o) == 1));
    CHECK_FALSE((is_refusal(o) && starts_path(o)));
  }
  // ngtcp2's refusal under native enforcement is a start result (on_start_failed), not a decision.
  CHECK_FALSE(is_refusal(Outcome::refused_by_ngtcp2));
}
