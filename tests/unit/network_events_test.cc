// Network events → migration causes (qamp/network_events.h): one row per case, the RFC 9000 rule,
// qamp policy rule or QUICHE cause named in the row. Expected values are written in the tables.
#include <catch2/catch_test_macros.hpp>

#include <cerrno>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "qamp/network_events.h"

using namespace qamp;

namespace {

constexpr Timestamp kSecond = 1'000'000'000;
constexpr Timestamp kMs = 1'000'000;

Endpoint ep(const char *text) {
  auto e = Endpoint::parse(text);
  REQUIRE(e);
  return *e;
}

// The lab's client: net 1 on if 2 (the default network), net 2 on if 3, both up.
constexpr unsigned kNet1 = 2;
constexpr unsigned kNet2 = 3;

MigrationTrigger two_networks(NetworkEventConfig cfg = {}) {
  MigrationTrigger t(cfg);
  ConnectionView seed{ep("198.18.1.2:5000"), kNet1, Level::any, false};
  t.on_event(AddressAdded{kNet1, ep("198.18.1.2:0")}, 0, seed);
  t.on_event(AddressAdded{kNet2, ep("198.18.2.2:0")}, 0, seed);
  t.set_default_route(AF_INET, kNet1);
  return t;
}

ConnectionView on_net1(Level level, bool idle = false) { return {ep("198.18.1.2:5000"), kNet1, level, idle}; }
ConnectionView on_net2(Level level, bool idle = false) { return {ep("198.18.2.2:6000"), kNet2, level, idle}; }

const PathSample kHealthy{0, 20 * kMs, 20 * kMs, 0};
const PathSample kDegradingPtos{4, 20 * kMs, 20 * kMs, 0};  // the default threshold

// Each trigger as the call that produces its decision from a fresh two-network client at t=10 s.
enum class Trigger {
  address_removed,  // net 1's address disappears
  link_down,        // net 1's link goes down
  default_moved,    // the default route moves to net 2
  write_error,      // sendmsg: ENETUNREACH
  degrading,        // four PTOs without progress, net 2 available
  degrading_alone,  // four PTOs without progress, net 2 gone
  migrate_back,     // on net 2 (not default) for 128 s
};
const char *name(Trigger t) {
  switch (t) {
    case Trigger::address_removed: return "address-removed";
    case Trigger::link_down: return "link-down";
    case Trigger::default_moved: return "default-route-moved";
    case Trigger::write_error: return "write-error";
    case Trigger::degrading: return "path-degrading";
    case Trigger::degrading_alone: return "path-degrading-no-other-network";
    case Trigger::migrate_back: return "migrate-back-timer";
  }
  return "?";
}

std::optional<TriggerDecision> fire(MigrationTrigger &t, Trigger trigger, Level level, bool idle) {
  const Timestamp now = 10 * kSecond;
  const auto view = on_net1(level, idle);
  switch (trigger) {
    case Trigger::address_removed: return t.on_event(AddressRemoved{kNet1, ep("198.18.1.2:0")}, now, view);
    case Trigger::link_down: return t.on_event(LinkDown{kNet1}, now, view);
    case Trigger::default_moved:
      return t.on_event(DefaultRouteChanged{AF_INET, kNet2, ep("198.18.2.1:0"), false}, now, view);
    case Trigger::write_error: return t.on_event(WriteError{ENETUNREACH}, now, view);
    case Trigger::degrading: return t.on_path_sample(kDegradingPtos, now, view);
    case Trigger::degrading_alone:
      REQUIRE_FALSE(t.on_event(AddressRemoved{kNet2, ep("198.18.2.2:0")}, now, view));
      return t.on_path_sample(kDegradingPtos, now, view);
    case Trigger::migrate_back: {
      const auto off = on_net2(level, idle);
      t.on_path_changed(off, now);
      REQUIRE(t.next_deadline() == now + 128 * kSecond);
      REQUIRE_FALSE(t.on_timer(now + 128 * kSecond - 1, off));
      return t.on_timer(now + 128 * kSecond, off);
    }
  }
  return std::nullopt;
}

enum class Limit { none, max_migrations, per_cause, port };
const char *name(Limit l) {
  switch (l) {
    case Limit::none: return "no limit reached";
    case Limit::max_migrations: return "max_migrations reached";
    case Limit::per_cause: return "max_migrations_per_cause reached";
    case Limit::port: return "max_port_migrations reached";
  }
  return "?";
}
NetworkEventConfig with(Limit l) {
  NetworkEventConfig cfg;
  switch (l) {
    case Limit::none: break;
    case Limit::max_migrations: cfg.max_migrations = 0; break;
    case Limit::per_cause: cfg.max_migrations_per_cause = 0; break;
    case Limit::port: cfg.max_port_migrations = 0; break;
  }
  return cfg;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: write-error errno table (which sendmsg errors mean the path is gone)") {
  struct Row {
    const char *name;
    int error;
    std::optional<SendError> counted;
  };
  const std::vector<Row> rows = {
      {"ENETUNREACH: no route (default route gone)", ENETUNREACH, SendError::network_unreachable},
      {"EADDRNOTAVAIL: source address removed", EADDRNOTAVAIL, SendError::address_not_available},
      {"EHOSTUNREACH: no route to the host", EHOSTUNREACH, SendError::host_unreachable},
      {"ENETDOWN: interface down", ENETDOWN, SendError::network_down},
      {"EAGAIN: flow control, not a failure", EAGAIN, std::nullopt},
      {"EWOULDBLOCK: flow control", EWOULDBLOCK, std::nullopt},
      {"EINTR: retry", EINTR, std::nullopt},
      {"ENOBUFS: full queue", ENOBUFS, std::nullopt},
      {"EMSGSIZE: packet size", EMSGSIZE, std::nullopt},
      {"ECONNREFUSED: ICMP port unreachable is the server, not the network", ECONNREFUSED, std::nullopt},
      {"EPERM: a firewall rule", EPERM, std::nullopt},
      {"0", 0, std::nullopt},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    CHECK(send_error_from(row.error) == row.counted);
    // Only the counted ones are a migration cause.
    auto t = two_networks();
    const auto d = t.on_event(WriteError{row.error}, kSecond, on_net1(Level::any));
    CHECK(d.has_value() == row.counted.has_value());
    if (d) CHECK(d->cause == MigrationCause::write_error);
  }
}

// ---------------------------------------------------------------------------------------------
// Every trigger × level (any / same-ip / none) × limit, from the same two-network client.
TEST_CASE("network events: every trigger x level x limit reached or not") {
  struct Row {
    Trigger trigger;
    Level level;
    MigrationCause cause;
    TargetKind kind;
    unsigned target_if;
    TriggerAction action;  // with no limit reached
    Rule policy_rule;
  };
  using MC = MigrationCause;
  using A = TriggerAction;
  constexpr auto net = TargetKind::new_network;
  constexpr auto port = TargetKind::new_port;
  constexpr auto any = Level::any;
  constexpr auto sip = Level::same_ip;
  constexpr auto none = Level::none;
  const std::vector<Row> rows = {
      // Network-changing causes: only `any` allows the new IP; same-ip / none → the planner.
      {Trigger::address_removed, any, MC::network_disconnected, net, kNet2, A::migrate, Rule::level_any},
      {Trigger::address_removed, sip, MC::network_disconnected, net, kNet2, A::to_planner, Rule::same_ip_forbids_ip},
      {Trigger::address_removed, none, MC::network_disconnected, net, kNet2, A::to_planner, Rule::level_none},
      {Trigger::link_down, any, MC::network_disconnected, net, kNet2, A::migrate, Rule::level_any},
      {Trigger::link_down, sip, MC::network_disconnected, net, kNet2, A::to_planner, Rule::same_ip_forbids_ip},
      {Trigger::link_down, none, MC::network_disconnected, net, kNet2, A::to_planner, Rule::level_none},
      {Trigger::default_moved, any, MC::network_made_default, net, kNet2, A::migrate, Rule::level_any},
      {Trigger::default_moved, sip, MC::network_made_default, net, kNet2, A::to_planner, Rule::same_ip_forbids_ip},
      {Trigger::default_moved, none, MC::network_made_default, net, kNet2, A::to_planner, Rule::level_none},
      {Trigger::write_error, any, MC::write_error, net, kNet2, A::migrate, Rule::level_any},
      {Trigger::write_error, sip, MC::write_error, net, kNet2, A::to_planner, Rule::same_ip_forbids_ip},
      {Trigger::write_error, none, MC::write_error, net, kNet2, A::to_planner, Rule::level_none},
      // Degrading path: `any` → a better network; same-ip → a new port (RFC 9000 §9.3, the only
      // legal answer); none → even the port change is forbidden (client may change nothing).
      {Trigger::degrading, any, MC::path_degrading, net, kNet2, A::migrate, Rule::level_any},
      {Trigger::degrading, sip, MC::port_change_on_path_degrading, port, kNet1, A::migrate, Rule::same_ip_port_change},
      {Trigger::degrading, none, MC::port_change_on_path_degrading, port, kNet1, A::to_planner, Rule::level_none},
      // No better network: `any` changes its port too.
      {Trigger::degrading_alone, any, MC::port_change_on_path_degrading, port, kNet1, A::migrate, Rule::level_any},
      {Trigger::degrading_alone, sip, MC::port_change_on_path_degrading, port, kNet1, A::migrate,
       Rule::same_ip_port_change},
      {Trigger::degrading_alone, none, MC::port_change_on_path_degrading, port, kNet1, A::to_planner, Rule::level_none},
      // Back to the default network after max_time_on_non_default_network.
      {Trigger::migrate_back, any, MC::migrate_back_to_default_network, net, kNet1, A::migrate, Rule::level_any},
      {Trigger::migrate_back, sip, MC::migrate_back_to_default_network, net, kNet1, A::to_planner,
       Rule::same_ip_forbids_ip},
      {Trigger::migrate_back, none, MC::migrate_back_to_default_network, net, kNet1, A::to_planner, Rule::level_none},
  };
  for (const auto &row : rows) {
    for (Limit limit : {Limit::none, Limit::max_migrations, Limit::per_cause, Limit::port}) {
      CAPTURE(name(row.trigger), to_string(row.level), name(limit));
      auto t = two_networks(with(limit));
      const auto d = fire(t, row.trigger, row.level, false);
      REQUIRE(d);
      CHECK(d->cause == row.cause);
      REQUIRE(d->target);
      CHECK(d->target->kind == row.kind);
      CHECK(d->target->ifindex == row.target_if);
      CHECK(d->change() == (row.kind == port ? Change::port_only : Change::ip_change));
      CHECK(d->policy_rule == row.policy_rule);
      // The policy is consulted before the limits: a forbidden change goes to the planner
      // whatever the counts; an allowed one is refused by the limit that was reached.
      TriggerAction action = row.action;
      TriggerRule rule = row.action == A::migrate ? TriggerRule::allowed_by_policy : TriggerRule::forbidden_by_policy;
      if (row.action == A::migrate) {
        if (limit == Limit::max_migrations) {
          action = A::refused;
          rule = TriggerRule::max_migrations;
        } else if (limit == Limit::per_cause) {
          action = A::refused;
          rule = TriggerRule::max_migrations_per_cause;
        } else if (limit == Limit::port && row.kind == port) {
          action = A::refused;
          rule = TriggerRule::max_port_migrations;
        }
      }
      CHECK(d->action == action);
      CHECK(d->rule == rule);
      // Only a migrate is counted.
      CHECK(t.migrations() == (action == A::migrate ? 1u : 0u));
      CHECK(t.migrations(row.cause) == (action == A::migrate ? 1u : 0u));
      CHECK(t.port_migrations() == (action == A::migrate && row.kind == port ? 1u : 0u));
    }
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: idle rule (migrate_idle_connections)") {
  for (Trigger trigger : {Trigger::address_removed, Trigger::link_down, Trigger::default_moved, Trigger::write_error,
                          Trigger::degrading, Trigger::degrading_alone, Trigger::migrate_back}) {
    CAPTURE(name(trigger));
    {
      auto t = two_networks();  // default: idle connections stay
      const auto d = fire(t, trigger, Level::any, true);
      REQUIRE(d);
      CHECK(d->action == TriggerAction::refused);
      CHECK(d->rule == TriggerRule::idle_connection);
      CHECK(d->policy_rule == std::nullopt);
      CHECK(t.migrations() == 0);
    }
    {
      NetworkEventConfig cfg;
      cfg.migrate_idle_connections = true;
      auto t = two_networks(cfg);
      const auto d = fire(t, trigger, Level::any, true);
      REQUIRE(d);
      CHECK(d->action == TriggerAction::migrate);
      CHECK(d->rule == TriggerRule::allowed_by_policy);
    }
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: limits are counted per connection, per cause and for ports") {
  NetworkEventConfig cfg;
  cfg.max_migrations = 4;
  cfg.max_migrations_per_cause = 2;
  cfg.max_port_migrations = 1;
  auto t = two_networks(cfg);
  const auto view = on_net1(Level::any);
  struct Step {
    const char *name;
    std::function<std::optional<TriggerDecision>()> run;
    MigrationCause cause;
    TriggerAction action;
    TriggerRule rule;
  };
  using MC = MigrationCause;
  const auto write = [&] { return t.on_event(WriteError{EADDRNOTAVAIL}, kSecond, view); };
  const std::vector<Step> steps = {
      {"write error 1", write, MC::write_error, TriggerAction::migrate, TriggerRule::allowed_by_policy},
      {"write error 2", write, MC::write_error, TriggerAction::migrate, TriggerRule::allowed_by_policy},
      {"write error 3: per-cause limit 2", write, MC::write_error, TriggerAction::refused,
       TriggerRule::max_migrations_per_cause},
      {"link down: another cause still has budget", [&] { return t.on_event(LinkDown{kNet1}, kSecond, view); },
       MC::network_disconnected, TriggerAction::migrate, TriggerRule::allowed_by_policy},
      {"link up again: net 1 is where the connection is, nothing to do",
       [&] { return t.on_event(LinkUp{kNet1}, kSecond, view); }, MC::network_disconnected, TriggerAction::migrate,
       TriggerRule::allowed_by_policy},
      {"same-ip degrading: port change 1",
       [&] { return t.on_path_sample(kDegradingPtos, kSecond, on_net1(Level::same_ip)); },
       MC::port_change_on_path_degrading, TriggerAction::migrate, TriggerRule::allowed_by_policy},
  };
  // Steps with a decision; the LinkUp step must give none.
  for (const auto &step : steps) {
    CAPTURE(step.name);
    const auto d = step.run();
    if (std::string(step.name).starts_with("link up")) {
      CHECK_FALSE(d);
      continue;
    }
    REQUIRE(d);
    CHECK(d->cause == step.cause);
    CHECK(d->action == step.action);
    CHECK(d->rule == step.rule);
  }
  CHECK(t.migrations() == 4);
  CHECK(t.migrations(MC::write_error) == 2);
  CHECK(t.migrations(MC::network_disconnected) == 1);
  CHECK(t.port_migrations() == 1);
  // Recover, degrade again: the port budget (1) and the connection budget (4) are both used up;
  // the connection limit is named first.
  CHECK_FALSE(t.on_path_sample(kHealthy, 2 * kSecond, on_net1(Level::same_ip)));
  const auto d = t.on_path_sample(kDegradingPtos, 3 * kSecond, on_net1(Level::same_ip));
  REQUIRE(d);
  CHECK(d->action == TriggerAction::refused);
  CHECK(d->rule == TriggerRule::max_migrations);
}

TEST_CASE("network events: port migration limit on its own") {
  NetworkEventConfig cfg;
  cfg.max_port_migrations = 2;
  cfg.max_migrations_per_cause = 10;
  auto t = two_networks(cfg);
  const auto view = on_net1(Level::same_ip);
  std::vector<TriggerAction> got;
  for (int i = 0; i < 4; ++i) {
    const Timestamp now = static_cast<Timestamp>(i) * kSecond;
    REQUIRE_FALSE(t.on_path_sample(kHealthy, now, view));
    const auto d = t.on_path_sample(kDegradingPtos, now + kMs, view);
    REQUIRE(d);
    got.push_back(d->action);
    if (d->action == TriggerAction::refused) CHECK(d->rule == TriggerRule::max_port_migrations);
  }
  CHECK(got == std::vector<TriggerAction>{TriggerAction::migrate, TriggerAction::migrate, TriggerAction::refused,
                                          TriggerAction::refused});
  CHECK(t.port_migrations() == 2);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: events that concern nothing the connection uses give no decision") {
  struct Row {
    const char *name;
    NetworkEvent event;
  };
  const std::vector<Row> rows = {
      {"another interface's address removed", AddressRemoved{kNet2, ep("198.18.2.2:0")}},
      {"another IP on the current interface removed", AddressRemoved{kNet1, ep("198.18.1.9:0")}},
      {"another interface's link down", LinkDown{kNet2}},
      {"an address added elsewhere", AddressAdded{kNet2, ep("198.18.2.3:0")}},
      {"a link up elsewhere", LinkUp{kNet2}},
      {"default route moves to the current interface", DefaultRouteChanged{AF_INET, kNet1, Endpoint{}, false}},
      {"an IPv6 default route (connection is IPv4)", DefaultRouteChanged{AF_INET6, kNet2, Endpoint{}, false}},
      {"default route removed", DefaultRouteChanged{AF_INET, kNet1, Endpoint{}, true}},
      {"EAGAIN", WriteError{EAGAIN}},
      {"EINTR", WriteError{EINTR}},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name, to_string(row.event));
    auto t = two_networks();
    CHECK_FALSE(t.on_event(row.event, kSecond, on_net1(Level::any)));
    CHECK(t.migrations() == 0);
  }
}

TEST_CASE("network events: the default network becomes usable later (route first, address after)") {
  MigrationTrigger t;
  const auto view = on_net1(Level::any);
  t.on_event(AddressAdded{kNet1, ep("198.18.1.2:0")}, 0, view);
  t.set_default_route(AF_INET, kNet1);
  // The default route moves to net 2, which has no address yet: nothing to migrate to.
  CHECK_FALSE(t.on_event(DefaultRouteChanged{AF_INET, kNet2, ep("198.18.2.1:0"), false}, kSecond, view));
  CHECK(t.default_ifindex(AF_INET) == kNet2);
  // Its address arrives: network made default.
  const auto d = t.on_event(AddressAdded{kNet2, ep("198.18.2.2:0")}, 2 * kSecond, view);
  REQUIRE(d);
  CHECK(d->cause == MigrationCause::network_made_default);
  CHECK(d->action == TriggerAction::migrate);
  CHECK(d->target == TriggerTarget{TargetKind::new_network, kNet2, ep("198.18.2.2:0")});
  // A second address on it is not news.
  CHECK_FALSE(t.on_event(AddressAdded{kNet2, ep("198.18.2.3:0")}, 3 * kSecond, view));
}

TEST_CASE("network events: the default network's link comes back up") {
  auto t = two_networks();
  const auto view = on_net2(Level::any);  // on net 2 since net 1 went down
  CHECK_FALSE(t.on_event(LinkDown{kNet1}, kSecond, view));
  const auto d = t.on_event(LinkUp{kNet1}, 2 * kSecond, view);
  REQUIRE(d);
  CHECK(d->cause == MigrationCause::network_made_default);
  CHECK(d->target == TriggerTarget{TargetKind::new_network, kNet1, ep("198.18.1.2:0")});
  // Already up: a repeated RTM_NEWLINK is not a new event.
  CHECK_FALSE(t.on_event(LinkUp{kNet1}, 3 * kSecond, view));
}

TEST_CASE("network events: the only network goes away: refused, no alternate network") {
  struct Row {
    const char *name;
    NetworkEvent event;
  };
  for (const auto &row : std::vector<Row>{{"address removed", AddressRemoved{kNet1, ep("198.18.1.2:0")}},
                                          {"link down", LinkDown{kNet1}},
                                          {"write error", WriteError{ENETDOWN}}}) {
    CAPTURE(row.name);
    MigrationTrigger t;
    const auto view = on_net1(Level::any);
    t.on_event(AddressAdded{kNet1, ep("198.18.1.2:0")}, 0, view);
    const auto d = t.on_event(row.event, kSecond, view);
    REQUIRE(d);
    CHECK(d->action == TriggerAction::refused);
    CHECK(d->rule == TriggerRule::no_alternate_network);
    CHECK(d->target == std::nullopt);
    CHECK(d->policy_rule == std::nullopt);
  }
}

TEST_CASE("network events: the current address goes, another IP on the same interface remains") {
  MigrationTrigger t;
  const auto view = on_net1(Level::any);
  t.on_event(AddressAdded{kNet1, ep("198.18.1.2:0")}, 0, view);
  t.on_event(AddressAdded{kNet1, ep("198.18.1.3:0")}, 0, view);
  const auto d = t.on_event(AddressRemoved{kNet1, ep("198.18.1.2:0")}, kSecond, view);
  REQUIRE(d);
  CHECK(d->cause == MigrationCause::network_disconnected);
  CHECK(d->target == TriggerTarget{TargetKind::new_network, kNet1, ep("198.18.1.3:0")});
  // But a degrading path does not count another IP of the same interface as a better network.
  auto t2 = MigrationTrigger{};
  t2.on_event(AddressAdded{kNet1, ep("198.18.1.2:0")}, 0, view);
  t2.on_event(AddressAdded{kNet1, ep("198.18.1.3:0")}, 0, view);
  const auto p = t2.on_path_sample(kDegradingPtos, kSecond, view);
  REQUIRE(p);
  CHECK(p->cause == MigrationCause::port_change_on_path_degrading);
}

TEST_CASE("network events: alternate network prefers the default one, then the lowest ifindex") {
  MigrationTrigger t;
  const ConnectionView view{ep("198.18.5.2:5000"), 9, Level::any, false};
  t.on_event(AddressAdded{9, ep("198.18.5.2:0")}, 0, view);
  t.on_event(AddressAdded{7, ep("198.18.7.2:0")}, 0, view);
  t.on_event(AddressAdded{4, ep("[2001:db8:4::2]:0")}, 0, view);  // IPv6 only: wrong family
  t.on_event(AddressAdded{8, ep("198.18.8.2:0")}, 0, view);
  t.set_default_route(AF_INET, 8);
  auto d = t.on_event(LinkDown{9}, kSecond, view);
  REQUIRE(d);
  CHECK(d->target->ifindex == 8u);
  MigrationTrigger u;
  u.on_event(AddressAdded{9, ep("198.18.5.2:0")}, 0, view);
  u.on_event(AddressAdded{8, ep("198.18.8.2:0")}, 0, view);
  u.on_event(AddressAdded{7, ep("198.18.7.2:0")}, 0, view);
  u.on_event(LinkDown{7}, 0, view);  // down: not a candidate
  d = u.on_event(LinkDown{9}, kSecond, view);
  REQUIRE(d);
  CHECK(d->target->ifindex == 8u);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: degrading detector fires once per degradation (hysteresis)") {
  struct Row {
    const char *name;
    Timestamp at;
    PathSample sample;
    std::optional<DegradingSignal> fired;
    bool degrading_after;
  };
  using S = DegradingSignal;
  const Duration r = 20 * kMs;
  const std::vector<Row> rows = {
      {"healthy", 0, {0, r, r, 0}, std::nullopt, false},
      {"one PTO: a single loss, not degrading", 1 * kSecond, {1, r, r, 0}, std::nullopt, false},
      {"three PTOs: not yet (the default is four)", 1'500 * kMs, {3, r, r, 0}, std::nullopt, false},
      {"four PTOs without progress: path degrading", 2 * kSecond, {4, r, r, 0}, S::pto_count, true},
      {"three PTOs: still the same degradation, no second fire", 3 * kSecond, {3, r, r, 0}, std::nullopt, true},
      {"progress again but RTT 2x min: not recovered (needs <= 1.5x)",
       4 * kSecond,
       {0, 2 * r, r, 0},
       std::nullopt,
       true},
      {"RTT 1.5x min, no PTO: recovered", 5 * kSecond, {0, 30 * kMs, r, 0}, std::nullopt, false},
      {"four PTOs again: a new degradation fires again", 6 * kSecond, {4, r, r, 0}, S::pto_count, true},
      {"recovered", 7 * kSecond, {0, r, r, 0}, std::nullopt, false},
      {"RTT 4x min: the excursion starts", 8 * kSecond, {0, 4 * r, r, 0}, std::nullopt, false},
      {"RTT 4x min for 1.9 s: not held long enough", 9'900 * kMs, {0, 4 * r, r, 0}, std::nullopt, false},
      {"RTT 4x min for 2 s: rtt growth", 10 * kSecond, {0, 4 * r, r, 0}, S::rtt_growth, true},
      {"RTT back to min", 11 * kSecond, {0, r, r, 0}, std::nullopt, false},
      {"RTT 4x again: the hold starts over", 12 * kSecond, {0, 4 * r, r, 0}, std::nullopt, false},
      {"RTT 3x exactly is not above 3x: excursion ends", 13 * kSecond, {0, 3 * r, r, 0}, std::nullopt, false},
      {"RTT 4x: a new excursion, 0 s old", 14 * kSecond, {0, 4 * r, r, 0}, std::nullopt, false},
      {"RTT 4x, 1 s old", 15 * kSecond, {0, 4 * r, r, 0}, std::nullopt, false},
      {"loss is not a signal by default", 15'500 * kMs, {0, 4 * r, r, 500}, std::nullopt, false},
      {"no min_rtt yet (UINT64_MAX): no RTT signal", 17 * kSecond, {0, 4 * r, UINT64_MAX, 0}, std::nullopt, false},
  };
  DegradingDetector det;
  for (const auto &row : rows) {
    CAPTURE(row.name);
    CHECK(det.on_sample(row.sample, row.at) == row.fired);
    CHECK(det.degrading() == row.degrading_after);
  }
}

TEST_CASE("network events: degrading detector thresholds from the config") {
  struct Row {
    const char *name;
    DegradingConfig cfg;
    PathSample sample;
    std::optional<DegradingSignal> fired;
  };
  const Duration r = 20 * kMs;
  DegradingConfig pto_off;
  pto_off.pto_count = 0;
  DegradingConfig pto_three;
  pto_three.pto_count = 3;
  DegradingConfig loss_on;
  loss_on.lost_packets = 10;
  DegradingConfig rtt_now;
  rtt_now.rtt_hold = 0;
  DegradingConfig rtt_off;
  rtt_off.rtt_factor = 0;
  rtt_off.rtt_hold = 0;
  const std::vector<Row> rows = {
      {"pto threshold 0: PTOs never fire", pto_off, {5, r, r, 0}, std::nullopt},
      {"pto threshold 3: two are not enough", pto_three, {2, r, r, 0}, std::nullopt},
      {"pto threshold 3: three are", pto_three, {3, r, r, 0}, DegradingSignal::pto_count},
      {"loss threshold 10: 9 lost", loss_on, {0, r, r, 9}, std::nullopt},
      {"loss threshold 10: 10 lost", loss_on, {0, r, r, 10}, DegradingSignal::packet_loss},
      {"PTO wins over loss when both", loss_on, {4, r, r, 10}, DegradingSignal::pto_count},
      {"rtt hold 0: fires on the first high sample", rtt_now, {0, 4 * r, r, 0}, DegradingSignal::rtt_growth},
      {"rtt factor 0: RTT never fires", rtt_off, {0, 100 * r, r, 0}, std::nullopt},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    DegradingDetector det(row.cfg);
    CHECK(det.on_sample(row.sample, kSecond) == row.fired);
  }
}

TEST_CASE("network events: a new path resets the detector") {
  auto t = two_networks();
  const auto view = on_net1(Level::same_ip);
  REQUIRE(t.on_path_sample(kDegradingPtos, kSecond, view));
  CHECK_FALSE(t.on_path_sample(kDegradingPtos, 2 * kSecond, view));    // same degradation
  t.on_path_changed(view, 3 * kSecond);                                // moved to a new port
  const auto d = t.on_path_sample(kDegradingPtos, 4 * kSecond, view);  // the new path degrades too
  REQUIRE(d);
  CHECK(d->cause == MigrationCause::port_change_on_path_degrading);
  CHECK(t.port_migrations() == 2);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: migrate-back timer") {
  SECTION("armed when the connection is first seen off the default network, fires once") {
    auto t = two_networks();
    CHECK(t.next_deadline() == std::nullopt);  // nothing seen yet
    t.on_path_changed(on_net1(Level::any), 0);
    CHECK(t.next_deadline() == std::nullopt);  // on the default network
    t.on_path_changed(on_net2(Level::any), 5 * kSecond);
    CHECK(t.next_deadline() == 133 * kSecond);
    // Events while off the default network do not restart the clock.
    CHECK_FALSE(t.on_event(AddressAdded{9, ep("198.18.9.2:0")}, 50 * kSecond, on_net2(Level::any)));
    CHECK(t.next_deadline() == 133 * kSecond);
    CHECK_FALSE(t.on_timer(132 * kSecond, on_net2(Level::any)));
    const auto d = t.on_timer(133 * kSecond, on_net2(Level::any));
    REQUIRE(d);
    CHECK(d->cause == MigrationCause::migrate_back_to_default_network);
    CHECK(d->action == TriggerAction::migrate);
    CHECK(d->target == TriggerTarget{TargetKind::new_network, kNet1, ep("198.18.1.2:0")});
    CHECK(t.next_deadline() == std::nullopt);  // disarmed after firing
    CHECK_FALSE(t.on_timer(200 * kSecond, on_net2(Level::any)));
  }
  SECTION("back on the default network by itself: disarmed") {
    auto t = two_networks();
    t.on_path_changed(on_net2(Level::any), 0);
    REQUIRE(t.next_deadline());
    CHECK_FALSE(t.on_timer(200 * kSecond, on_net1(Level::any)));
    CHECK(t.next_deadline() == std::nullopt);
  }
  SECTION("the default route moves to the current network: disarmed") {
    auto t = two_networks();
    t.on_path_changed(on_net2(Level::any), 0);
    CHECK_FALSE(t.on_event(DefaultRouteChanged{AF_INET, kNet2, Endpoint{}, false}, kSecond, on_net2(Level::any)));
    CHECK(t.next_deadline() == std::nullopt);
  }
  SECTION("the default network has no address at the deadline: refused, no alternate network") {
    auto t = two_networks();
    t.on_path_changed(on_net2(Level::any), 0);
    CHECK_FALSE(t.on_event(AddressRemoved{kNet1, ep("198.18.1.2:0")}, kSecond, on_net2(Level::any)));
    const auto d = t.on_timer(128 * kSecond, on_net2(Level::any));
    REQUIRE(d);
    CHECK(d->action == TriggerAction::refused);
    CHECK(d->rule == TriggerRule::no_alternate_network);
  }
  SECTION("max_time_on_non_default_network 0: never by time") {
    NetworkEventConfig cfg;
    cfg.max_time_on_non_default_network = 0;
    auto t = two_networks(cfg);
    t.on_path_changed(on_net2(Level::any), 0);
    CHECK(t.next_deadline() == std::nullopt);
    CHECK_FALSE(t.on_timer(1000 * kSecond, on_net2(Level::any)));
  }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: defaults, names and the log line") {
  const NetworkEventConfig cfg;
  CHECK(cfg.max_migrations == 10);
  CHECK(cfg.max_migrations_per_cause == 5);
  CHECK(cfg.max_port_migrations == 4);
  CHECK(cfg.max_time_on_non_default_network == 128 * kSecond);
  CHECK_FALSE(cfg.migrate_idle_connections);
  CHECK(cfg.degrading.pto_count == 4);

  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(TriggerRule::forbidden_by_policy); ++i)
    CHECK(names.insert(to_string(static_cast<TriggerRule>(i))).second);
  CHECK_FALSE(names.contains("?"));

  auto t = two_networks();
  const auto d = t.on_event(LinkDown{kNet1}, kSecond, on_net1(Level::any));
  REQUIRE(d);
  CHECK(to_string(*d) ==
        "network-disconnected: migrate to new-network if 3 198.18.2.2:0 (rule allowed-by-policy, policy level-any)");
  auto u = two_networks();
  const auto p = u.on_path_sample(kDegradingPtos, kSecond, on_net1(Level::none));
  REQUIRE(p);
  CHECK(to_string(*p) ==
        "port-change-on-path-degrading: to-planner to new-port if 2 198.18.1.2:0 (rule forbidden-by-policy, policy "
        "level-none, signal pto-count)");

  CHECK(to_string(NetworkEvent{DefaultRouteChanged{AF_INET, 3, ep("198.18.2.1:0"), false}}) ==
        "default-route-changed v4 if 3 via 198.18.2.1:0");
  CHECK(to_string(NetworkEvent{WriteError{ENETUNREACH}}) ==
        "write-error errno " + std::to_string(ENETUNREACH) + " network-unreachable");
  CHECK(to_string(NetworkEvent{LinkUp{4}}) == "link-up if 4");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("network events: a user request (--network-change) takes the events' rules but the idle one") {
  const TriggerTarget net2{TargetKind::new_network, kNet2, ep("198.18.2.2:0")};
  const TriggerTarget port{TargetKind::new_port, kNet1, ep("198.18.1.2:0")};
  struct Row {
    const char *why;
    TriggerTarget target;
    Level level;
    bool idle;
    TriggerAction action;
    TriggerRule rule;
  };
  const Row rows[] = {
      {"any: a new network is allowed", net2, Level::any, false, TriggerAction::migrate,
       TriggerRule::allowed_by_policy},
      {"an idle connection still moves when asked", net2, Level::any, true, TriggerAction::migrate,
       TriggerRule::allowed_by_policy},
      {"same-ip: another IP goes to the planner", net2, Level::same_ip, false, TriggerAction::to_planner,
       TriggerRule::forbidden_by_policy},
      {"same-ip: a new port is allowed (RFC 9000 §9.3)", port, Level::same_ip, false, TriggerAction::migrate,
       TriggerRule::allowed_by_policy},
      {"none: another IP goes to the planner", net2, Level::none, false, TriggerAction::to_planner,
       TriggerRule::forbidden_by_policy},
  };
  for (const auto &row : rows) {
    CAPTURE(row.why);
    auto t = two_networks();
    const auto d = t.on_request(MigrationCause::network_change, row.target, on_net1(row.level, row.idle));
    CHECK(d.cause == MigrationCause::network_change);
    CHECK(d.action == row.action);
    CHECK(d.rule == row.rule);
    CHECK(t.migrations() == (row.action == TriggerAction::migrate ? 1u : 0u));
  }
  // The limits count user requests too.
  NetworkEventConfig cfg;
  cfg.max_migrations = 1;
  auto t = two_networks(cfg);
  CHECK(t.on_request(MigrationCause::network_change, net2, on_net1(Level::any)).action == TriggerAction::migrate);
  const auto second = t.on_request(MigrationCause::network_change, net2, on_net1(Level::any));
  CHECK(second.action == TriggerAction::refused);
  CHECK(second.rule == TriggerRule::max_migrations);
}
