// The server gate: one row per case, the rule or scenario named in the row (DESIGN.md §2, §4).
#include <sys/un.h>

#include <catch2/catch_test_macros.hpp>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "qamp/gate.h"

using namespace qamp;

namespace {

constexpr auto H = ServerAddress::handshake;
constexpr auto S4 = ServerAddress::spa_v4;
constexpr auto S6 = ServerAddress::spa_v6;
constexpr auto ANY = Level::any;
constexpr auto NONE = Level::none;
constexpr auto SIP = Level::same_ip;
constexpr auto ACC = GateVerdict::accept;
constexpr auto DROP = GateVerdict::drop;
using R = GateReason;
constexpr std::optional<Change> NOCH = std::nullopt;
constexpr std::optional<Change> PORT = Change::port_only;
constexpr std::optional<Change> IP = Change::ip_change;
constexpr std::optional<Change> MOVE = Change::move_to_spa;

// Client addresses. A/X: where the client starts; A2/X2: its port changed; B/Y: another IP.
constexpr const char *A1 = "198.18.0.10:50000";
constexpr const char *A2 = "198.18.0.10:50001";
constexpr const char *B1 = "198.18.1.20:50000";
constexpr const char *B2 = "198.18.1.20:50002";
constexpr const char *X1 = "[2001:db8:1::10]:50000";
constexpr const char *X2 = "[2001:db8:1::10]:50001";
constexpr const char *Y1 = "[2001:db8:2::20]:50000";
constexpr const char *Y2 = "[2001:db8:2::20]:50002";
// A1 / A2 as a dual-stack socket reports them.
constexpr const char *M1 = "[::ffff:198.18.0.10]:50000";
constexpr const char *M2 = "[::ffff:198.18.0.10]:50001";

Endpoint ep(const char *text) {
  auto e = Endpoint::parse(text);
  INFO(text);
  REQUIRE(e.has_value());
  return *e;
}

struct Row {
  const char *name;
  Policy policy;
  ServerAddress cur_role;
  const char *cur;
  ServerAddress in_role;
  const char *in;
  GateVerdict verdict;
  GateReason reason;
  std::optional<Change> change;
  bool enforce = true;
};

void run(const std::vector<Row> &rows) {
  for (const auto &r : rows) {
    CAPTURE(r.name);
    const Endpoint cur = ep(r.cur), in = ep(r.in);
    const PathView current{r.cur_role, cur.sa()}, incoming{r.in_role, in.sa()};
    const GateDecision d = gate_decide(r.policy, r.enforce, current, incoming);
    CHECK(to_string(d.verdict) == to_string(r.verdict));
    CHECK(to_string(d.reason) == to_string(r.reason));
    CHECK(d.change == r.change);
    // The class decides the same, with its configured policy and with a per-connection one.
    Gate gate(GateConfig{r.policy, r.enforce});
    CHECK(gate.admit(current, incoming) == d);
    Gate other(GateConfig{Policy{}, r.enforce});
    CHECK(other.admit(current, incoming, r.policy) == d);
  }
}

}  // namespace

TEST_CASE("gate: before the move, on the handshake address (RFC 9000 §9.3, DESIGN.md §2)") {
  // The preferred addresses carry other levels than the handshake address, so a lookup of the
  // wrong address shows.
  const Policy hs_any{ANY, NONE, NONE}, hs_none{NONE, ANY, ANY}, hs_sip{SIP, ANY, ANY};
  run({
      // level any
      {"hs any, v4, same path", hs_any, H, A1, H, A1, ACC, R::same_path, NOCH},
      {"hs any, v4, port-only is NAT rebinding (§9.3)", hs_any, H, A1, H, A2, ACC, R::port_only_rebinding, PORT},
      {"hs any, v4, new IP same port: any allows", hs_any, H, A1, H, B1, ACC, R::ip_change_allowed, IP},
      {"hs any, v4, new IP new port: any allows", hs_any, H, A1, H, B2, ACC, R::ip_change_allowed, IP},
      {"hs any, v6, same path", hs_any, H, X1, H, X1, ACC, R::same_path, NOCH},
      {"hs any, v6, port-only is NAT rebinding (§9.3)", hs_any, H, X1, H, X2, ACC, R::port_only_rebinding, PORT},
      {"hs any, v6, new IP same port: any allows", hs_any, H, X1, H, Y1, ACC, R::ip_change_allowed, IP},
      {"hs any, v6, new IP new port: any allows", hs_any, H, X1, H, Y2, ACC, R::ip_change_allowed, IP},
      // level none
      {"hs none, v4, same path", hs_none, H, A1, H, A1, ACC, R::same_path, NOCH},
      {"hs none, v4, port-only still accepted: cannot be told from NAT rebinding (§9.3)", hs_none, H, A1, H, A2, ACC,
       R::port_only_rebinding, PORT},
      {"hs none, v4, new IP same port: none forbids", hs_none, H, A1, H, B1, DROP, R::ip_change_forbidden_none, IP},
      {"hs none, v4, new IP new port: none forbids", hs_none, H, A1, H, B2, DROP, R::ip_change_forbidden_none, IP},
      {"hs none, v6, same path", hs_none, H, X1, H, X1, ACC, R::same_path, NOCH},
      {"hs none, v6, port-only still accepted (§9.3)", hs_none, H, X1, H, X2, ACC, R::port_only_rebinding, PORT},
      {"hs none, v6, new IP same port: none forbids", hs_none, H, X1, H, Y1, DROP, R::ip_change_forbidden_none, IP},
      {"hs none, v6, new IP new port: none forbids", hs_none, H, X1, H, Y2, DROP, R::ip_change_forbidden_none, IP},
      // level same-ip
      {"hs same-ip, v4, same path", hs_sip, H, A1, H, A1, ACC, R::same_path, NOCH},
      {"hs same-ip, v4, port-only allowed", hs_sip, H, A1, H, A2, ACC, R::port_only_rebinding, PORT},
      {"hs same-ip, v4, new IP same port: same-ip forbids", hs_sip, H, A1, H, B1, DROP, R::ip_change_forbidden_same_ip,
       IP},
      {"hs same-ip, v4, new IP new port: same-ip forbids", hs_sip, H, A1, H, B2, DROP, R::ip_change_forbidden_same_ip,
       IP},
      {"hs same-ip, v6, same path", hs_sip, H, X1, H, X1, ACC, R::same_path, NOCH},
      {"hs same-ip, v6, port-only allowed", hs_sip, H, X1, H, X2, ACC, R::port_only_rebinding, PORT},
      {"hs same-ip, v6, new IP same port: same-ip forbids", hs_sip, H, X1, H, Y1, DROP, R::ip_change_forbidden_same_ip,
       IP},
      {"hs same-ip, v6, new IP new port: same-ip forbids", hs_sip, H, X1, H, Y2, DROP, R::ip_change_forbidden_same_ip,
       IP},
      // a change of client address family on one server address is an IP change
      {"hs any, v4 -> v6 client: IP change, allowed", hs_any, H, A1, H, X1, ACC, R::ip_change_allowed, IP},
      {"hs same-ip, v4 -> v6 client: IP change, forbidden", hs_sip, H, A1, H, X1, DROP, R::ip_change_forbidden_same_ip,
       IP},
      {"hs none, v6 -> v4 client: IP change, forbidden", hs_none, H, X1, H, A1, DROP, R::ip_change_forbidden_none, IP},
  });
}

TEST_CASE("gate: the move to the preferred address is accepted once, from any client address (§9.6, §9.6.3)") {
  run({
      // handshake none, the case the move exists for: leave a restricted handshake address
      {"hs none -> spa-v4 any, same client address", Policy{NONE, ANY, ANY}, H, A1, S4, A1, ACC, R::move_to_spa, MOVE},
      {"hs none -> spa-v4 any, new client port", Policy{NONE, ANY, ANY}, H, A1, S4, A2, ACC, R::move_to_spa, MOVE},
      {"hs none -> spa-v4 any, new client IP (§9.6.3)", Policy{NONE, ANY, ANY}, H, A1, S4, B1, ACC, R::move_to_spa,
       MOVE},
      {"hs none -> spa-v4 none, same client address", Policy{NONE, NONE, NONE}, H, A1, S4, A1, ACC, R::move_to_spa,
       MOVE},
      {"hs none -> spa-v4 none, new client port", Policy{NONE, NONE, NONE}, H, A1, S4, A2, ACC, R::move_to_spa, MOVE},
      {"hs none -> spa-v4 none, new client IP: the move itself is not a migration (§9.6.3)", Policy{NONE, NONE, NONE},
       H, A1, S4, B2, ACC, R::move_to_spa, MOVE},
      {"hs none -> spa-v4 same-ip, same client address", Policy{NONE, SIP, SIP}, H, A1, S4, A1, ACC, R::move_to_spa,
       MOVE},
      {"hs none -> spa-v4 same-ip, new client IP (§9.6.3)", Policy{NONE, SIP, SIP}, H, A1, S4, B1, ACC, R::move_to_spa,
       MOVE},
      {"hs none -> spa-v6 any, same client address", Policy{NONE, ANY, ANY}, H, X1, S6, X1, ACC, R::move_to_spa, MOVE},
      {"hs none -> spa-v6 any, new client IP", Policy{NONE, ANY, ANY}, H, X1, S6, Y2, ACC, R::move_to_spa, MOVE},
      {"hs none -> spa-v6 none, same client address", Policy{NONE, NONE, NONE}, H, X1, S6, X1, ACC, R::move_to_spa,
       MOVE},
      {"hs none -> spa-v6 none, new client port", Policy{NONE, NONE, NONE}, H, X1, S6, X2, ACC, R::move_to_spa, MOVE},
      {"hs none -> spa-v6 none, new client IP (§9.6.3)", Policy{NONE, NONE, NONE}, H, X1, S6, Y1, ACC, R::move_to_spa,
       MOVE},
      {"hs none -> spa-v6 same-ip, new client IP (§9.6.3)", Policy{NONE, SIP, SIP}, H, X1, S6, Y1, ACC, R::move_to_spa,
       MOVE},
      // switching address families: v4 handshake, v6 preferred address and back
      {"hs none (v4) -> spa-v6 none: family switch", Policy{NONE, NONE, NONE}, H, A1, S6, X1, ACC, R::move_to_spa,
       MOVE},
      {"hs none (v6) -> spa-v4 any: family switch", Policy{NONE, ANY, ANY}, H, X1, S4, A1, ACC, R::move_to_spa, MOVE},
      {"hs same-ip (v4) -> spa-v6 same-ip: family switch", Policy{SIP, SIP, SIP}, H, A1, S6, Y1, ACC, R::move_to_spa,
       MOVE},
      // other handshake levels
      {"hs any -> spa-v4 none, new client IP", Policy{ANY, NONE, NONE}, H, A1, S4, B1, ACC, R::move_to_spa, MOVE},
      {"hs any -> spa-v6 any, same client address", Policy{ANY, ANY, ANY}, H, X1, S6, X1, ACC, R::move_to_spa, MOVE},
      {"hs same-ip -> spa-v4 any, new client IP", Policy{SIP, ANY, ANY}, H, A1, S4, B2, ACC, R::move_to_spa, MOVE},
      {"hs same-ip -> spa-v6 none, new client port", Policy{SIP, NONE, NONE}, H, X1, S6, X2, ACC, R::move_to_spa, MOVE},
  });
}

TEST_CASE("gate: after the move, the preferred address's own level applies (DESIGN.md §2)") {
  // The handshake level is the opposite of the preferred address's, so a stale lookup of the
  // handshake address shows (RFC 9000 §18.2: 0x0c does not cover the preferred address).
  run({
      // spa-v4 any (handshake none: the base-drafts #3765 shape reversed)
      {"on spa-v4 any, same path", Policy{NONE, ANY, NONE}, S4, A1, S4, A1, ACC, R::same_path, NOCH},
      {"on spa-v4 any, port-only (§9.3)", Policy{NONE, ANY, NONE}, S4, A1, S4, A2, ACC, R::port_only_rebinding, PORT},
      {"on spa-v4 any, new IP same port: allowed", Policy{NONE, ANY, NONE}, S4, A1, S4, B1, ACC, R::ip_change_allowed,
       IP},
      {"on spa-v4 any, new IP new port: allowed", Policy{NONE, ANY, NONE}, S4, A1, S4, B2, ACC, R::ip_change_allowed,
       IP},
      // spa-v4 none (base-drafts #3765: a backend behind a 4-tuple LB)
      {"on spa-v4 none, same path", Policy{ANY, NONE, ANY}, S4, A1, S4, A1, ACC, R::same_path, NOCH},
      {"on spa-v4 none, port-only still accepted (§9.3)", Policy{ANY, NONE, ANY}, S4, A1, S4, A2, ACC,
       R::port_only_rebinding, PORT},
      {"on spa-v4 none, new IP same port: forbidden (#3765)", Policy{ANY, NONE, ANY}, S4, A1, S4, B1, DROP,
       R::ip_change_forbidden_none, IP},
      {"on spa-v4 none, new IP new port: forbidden (#3765)", Policy{ANY, NONE, ANY}, S4, A1, S4, B2, DROP,
       R::ip_change_forbidden_none, IP},
      // spa-v4 same-ip
      {"on spa-v4 same-ip, same path", Policy{ANY, SIP, ANY}, S4, A1, S4, A1, ACC, R::same_path, NOCH},
      {"on spa-v4 same-ip, port-only allowed", Policy{ANY, SIP, ANY}, S4, A1, S4, A2, ACC, R::port_only_rebinding,
       PORT},
      {"on spa-v4 same-ip, new IP same port: forbidden", Policy{ANY, SIP, ANY}, S4, A1, S4, B1, DROP,
       R::ip_change_forbidden_same_ip, IP},
      {"on spa-v4 same-ip, new IP new port: forbidden", Policy{ANY, SIP, ANY}, S4, A1, S4, B2, DROP,
       R::ip_change_forbidden_same_ip, IP},
      // spa-v6 any
      {"on spa-v6 any, same path", Policy{NONE, NONE, ANY}, S6, X1, S6, X1, ACC, R::same_path, NOCH},
      {"on spa-v6 any, port-only (§9.3)", Policy{NONE, NONE, ANY}, S6, X1, S6, X2, ACC, R::port_only_rebinding, PORT},
      {"on spa-v6 any, new IP same port: allowed", Policy{NONE, NONE, ANY}, S6, X1, S6, Y1, ACC, R::ip_change_allowed,
       IP},
      {"on spa-v6 any, new IP new port: allowed", Policy{NONE, NONE, ANY}, S6, X1, S6, Y2, ACC, R::ip_change_allowed,
       IP},
      // spa-v6 none
      {"on spa-v6 none, same path", Policy{ANY, ANY, NONE}, S6, X1, S6, X1, ACC, R::same_path, NOCH},
      {"on spa-v6 none, port-only still accepted (§9.3)", Policy{ANY, ANY, NONE}, S6, X1, S6, X2, ACC,
       R::port_only_rebinding, PORT},
      {"on spa-v6 none, new IP same port: forbidden", Policy{ANY, ANY, NONE}, S6, X1, S6, Y1, DROP,
       R::ip_change_forbidden_none, IP},
      {"on spa-v6 none, new IP new port: forbidden", Policy{ANY, ANY, NONE}, S6, X1, S6, Y2, DROP,
       R::ip_change_forbidden_none, IP},
      // spa-v6 same-ip
      {"on spa-v6 same-ip, same path", Policy{ANY, ANY, SIP}, S6, X1, S6, X1, ACC, R::same_path, NOCH},
      {"on spa-v6 same-ip, port-only allowed", Policy{ANY, ANY, SIP}, S6, X1, S6, X2, ACC, R::port_only_rebinding,
       PORT},
      {"on spa-v6 same-ip, new IP same port: forbidden", Policy{ANY, ANY, SIP}, S6, X1, S6, Y1, DROP,
       R::ip_change_forbidden_same_ip, IP},
      {"on spa-v6 same-ip, new IP new port: forbidden", Policy{ANY, ANY, SIP}, S6, X1, S6, Y2, DROP,
       R::ip_change_forbidden_same_ip, IP},
      // the two preferred addresses have separate levels
      {"spa-v4 any / spa-v6 none: IP change on spa-v4 allowed", Policy{NONE, ANY, NONE}, S4, A1, S4, B1, ACC,
       R::ip_change_allowed, IP},
      {"spa-v4 any / spa-v6 none: IP change on spa-v6 forbidden", Policy{NONE, ANY, NONE}, S6, X1, S6, Y1, DROP,
       R::ip_change_forbidden_none, IP},
  });
}

TEST_CASE("gate: a second change of server address is dropped (§9.6)") {
  const Policy all_any{ANY, ANY, ANY}, all_none{NONE, NONE, NONE};
  run({
      {"spa-v4 -> handshake, same client address, all any", all_any, S4, A1, H, A1, DROP, R::second_server_address,
       MOVE},
      {"spa-v4 -> handshake, new client IP, all any", all_any, S4, A1, H, B1, DROP, R::second_server_address, MOVE},
      {"spa-v4 -> spa-v6, all any", all_any, S4, A1, S6, X1, DROP, R::second_server_address, MOVE},
      {"spa-v6 -> spa-v4, all any", all_any, S6, X1, S4, A1, DROP, R::second_server_address, MOVE},
      {"spa-v6 -> handshake, same client address, all any", all_any, S6, X1, H, X1, DROP, R::second_server_address,
       MOVE},
      {"spa-v6 -> handshake, new client IP, all any", all_any, S6, X1, H, Y2, DROP, R::second_server_address, MOVE},
      {"spa-v4 -> handshake, all none", all_none, S4, A1, H, A1, DROP, R::second_server_address, MOVE},
      {"spa-v4 -> spa-v6, new client port, all none", all_none, S4, A1, S6, X2, DROP, R::second_server_address, MOVE},
      {"spa-v6 -> spa-v4, new client IP, all none", all_none, S6, X1, S4, B1, DROP, R::second_server_address, MOVE},
      {"spa-v6 -> handshake, mixed levels", Policy{ANY, NONE, SIP}, S6, Y1, H, Y1, DROP, R::second_server_address,
       MOVE},
  });
}

TEST_CASE("gate: enforcement off accepts and still classifies every change") {
  const bool off = false;
  const Policy all_none{NONE, NONE, NONE};
  run({
      {"off, same path stays same-path", all_none, H, A1, H, A1, ACC, R::same_path, NOCH, off},
      {"off, port-only", all_none, H, A1, H, A2, ACC, R::enforcement_off, PORT, off},
      {"off, IP change on none (v4)", all_none, H, A1, H, B1, ACC, R::enforcement_off, IP, off},
      {"off, IP change on same-ip (v6)", Policy{SIP, SIP, SIP}, S6, X1, S6, Y1, ACC, R::enforcement_off, IP, off},
      {"off, move to spa-v4", all_none, H, A1, S4, B1, ACC, R::enforcement_off, MOVE, off},
      {"off, spa-v4 -> handshake", all_none, S4, A1, H, A1, ACC, R::enforcement_off, MOVE, off},
      {"off, spa-v4 -> spa-v6", all_none, S4, A1, S6, X1, ACC, R::enforcement_off, MOVE, off},
  });
}

TEST_CASE("gate: IPv4-mapped IPv6 remotes compare as IPv4 (dual-stack sockets)") {
  const Policy hs_none{NONE, ANY, ANY};
  run({
      {"mapped -> plain, same address: same path", hs_none, H, M1, H, A1, ACC, R::same_path, NOCH},
      {"plain -> mapped, same address: same path", hs_none, H, A1, H, M1, ACC, R::same_path, NOCH},
      {"mapped -> plain, new port: port-only (§9.3)", hs_none, H, M1, H, A2, ACC, R::port_only_rebinding, PORT},
      {"plain -> mapped, new port: port-only (§9.3)", hs_none, H, A1, H, M2, ACC, R::port_only_rebinding, PORT},
      {"mapped -> plain, new IP: forbidden on none", hs_none, H, M1, H, B1, DROP, R::ip_change_forbidden_none, IP},
  });
}

TEST_CASE("gate: a remote that is not IPv4 or IPv6 is dropped") {
  const Endpoint a = ep(A1);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  const auto *unix_sa = reinterpret_cast<const sockaddr *>(&un);
  struct Case {
    const char *name;
    const sockaddr *cur;
    const sockaddr *in;
  };
  for (const auto &c : {Case{"null incoming", a.sa(), nullptr}, Case{"null current", nullptr, a.sa()},
                        Case{"AF_UNIX incoming", a.sa(), unix_sa}}) {
    CAPTURE(c.name);
    for (bool enforce : {true, false}) {
      CAPTURE(enforce);
      const auto d = gate_decide(Policy{}, enforce, {H, c.cur}, {H, c.in});
      CHECK(d == GateDecision{DROP, R::unsupported_address, NOCH});
    }
  }
}

TEST_CASE("gate: counters per reason, and the observer sees drops and changes only") {
  Gate gate(GateConfig{Policy{NONE, ANY, NONE}, true});
  std::vector<GateEvent> events;
  gate.set_observer([&](const GateEvent &e) { events.push_back(e); });

  const Endpoint a1 = ep(A1), a2 = ep(A2), b1 = ep(B1), x1 = ep(X1);
  // A connection's life: handshake on hs (none), a NAT rebinding, a forbidden probe from a new
  // network, the move to spa-v4 (any) from that network, a migration there, a try at spa-v6.
  struct Step {
    const char *name;
    ServerAddress cur_role;
    const Endpoint *cur;
    ServerAddress in_role;
    const Endpoint *in;
    GateReason reason;
    bool observed;
  };
  const Step steps[] = {
      {"handshake traffic", H, &a1, H, &a1, R::same_path, false},
      {"more handshake traffic", H, &a1, H, &a1, R::same_path, false},
      {"NAT rebinding", H, &a1, H, &a2, R::port_only_rebinding, true},
      {"probe from a new network on hs none", H, &a2, H, &b1, R::ip_change_forbidden_none, true},
      {"probe again", H, &a2, H, &b1, R::ip_change_forbidden_none, true},
      {"PATH_CHALLENGE on spa-v4 from the new network", H, &a2, S4, &b1, R::move_to_spa, true},
      {"on spa-v4 now", S4, &b1, S4, &b1, R::same_path, false},
      {"migration on spa-v4 any", S4, &b1, S4, &a1, R::ip_change_allowed, true},
      {"try spa-v6 after the move", S4, &a1, S6, &x1, R::second_server_address, true},
      {"back to the handshake address", S4, &a1, H, &a1, R::second_server_address, true},
  };
  std::size_t expected_events = 0;
  for (const auto &s : steps) {
    CAPTURE(s.name);
    const auto d = gate.admit({s.cur_role, s.cur->sa()}, {s.in_role, s.in->sa()});
    CHECK(to_string(d.reason) == to_string(s.reason));
    if (s.observed) ++expected_events;
    REQUIRE(events.size() == expected_events);
    if (s.observed) {
      const GateEvent &e = events.back();
      CHECK(e.decision == d);
      CHECK(e.current_role == s.cur_role);
      CHECK(e.current_remote == *s.cur);
      CHECK(e.incoming_role == s.in_role);
      CHECK(e.incoming_remote == *s.in);
    }
  }

  const GateCounters &c = gate.counters();
  struct Count {
    GateReason reason;
    std::uint64_t n;
  };
  for (const auto &want :
       {Count{R::same_path, 3}, Count{R::port_only_rebinding, 1}, Count{R::ip_change_allowed, 1},
        Count{R::ip_change_forbidden_none, 2}, Count{R::ip_change_forbidden_same_ip, 0}, Count{R::move_to_spa, 1},
        Count{R::second_server_address, 2}, Count{R::enforcement_off, 0}, Count{R::unsupported_address, 0}}) {
    CAPTURE(to_string(want.reason));
    CHECK(c.of(want.reason) == want.n);
  }
  CHECK(c.accepted == 6);
  CHECK(c.dropped == 4);

  // The level reported is the incoming address's, and the log line names everything.
  CHECK(events[2].level == NONE);  // the forbidden probe on the handshake address
  CHECK(events[4].level == ANY);   // the migration on spa-v4
  CHECK(describe(events[2]) ==
        "gate drop ip-change-forbidden-none: handshake 198.18.0.10:50001 -> handshake "
        "198.18.1.20:50000 (ip-change, level none)");
  CHECK(describe(events[3]) ==
        "gate accept move-to-spa: handshake 198.18.0.10:50001 -> spa-v4 198.18.1.20:50000 "
        "(move-to-spa, level any)");
  CHECK(describe(events[5]) ==
        "gate drop second-server-address: spa-v4 198.18.0.10:50000 -> spa-v6 "
        "[2001:db8:1::10]:50000 (move-to-spa, level none)");
}

TEST_CASE("gate: enforcement off still counts and reports the changes it lets through") {
  Gate gate(GateConfig{Policy{NONE, NONE, NONE}, false});
  int observed = 0;
  gate.set_observer([&](const GateEvent &) { ++observed; });
  const Endpoint a1 = ep(A1), b1 = ep(B1);
  gate.admit({H, a1.sa()}, {H, a1.sa()});
  gate.admit({H, a1.sa()}, {H, b1.sa()});
  gate.admit({S4, a1.sa()}, {H, a1.sa()});
  CHECK(gate.counters().of(R::same_path) == 1);
  CHECK(gate.counters().of(R::enforcement_off) == 2);
  CHECK(gate.counters().accepted == 3);
  CHECK(gate.counters().dropped == 0);
  CHECK(observed == 2);
}

TEST_CASE("gate: reasons, verdicts and names") {
  struct Name {
    GateReason reason;
    const char *text;
    GateVerdict verdict;
  };
  const Name names[] = {
      {R::same_path, "same-path", ACC},
      {R::port_only_rebinding, "port-only-rebinding", ACC},
      {R::ip_change_allowed, "ip-change-allowed", ACC},
      {R::ip_change_forbidden_none, "ip-change-forbidden-none", DROP},
      {R::ip_change_forbidden_same_ip, "ip-change-forbidden-same-ip", DROP},
      {R::move_to_spa, "move-to-spa", ACC},
      {R::second_server_address, "second-server-address", DROP},
      {R::enforcement_off, "enforcement-off", ACC},
      {R::unsupported_address, "unsupported-address", DROP},
  };
  STATIC_REQUIRE(std::size(names) == kGateReasonCount);
  for (std::size_t i = 0; i < kGateReasonCount; ++i) {
    CAPTURE(names[i].text);
    CHECK(kAllGateReasons[i] == names[i].reason);
    CHECK(static_cast<std::size_t>(names[i].reason) == i);  // counters index by the enum
    CHECK(to_string(names[i].reason) == names[i].text);
    CHECK(verdict_of(names[i].reason) == names[i].verdict);
  }
  CHECK(to_string(ACC) == "accept");
  CHECK(to_string(DROP) == "drop");
}

TEST_CASE("gate: Endpoint parses, prints and compares IP and port") {
  struct Parse {
    const char *text;
    bool ok;
    int family;
    std::uint16_t port;
    const char *printed;
  };
  const Parse rows[] = {
      {"198.18.0.10:50000", true, AF_INET, 50000, "198.18.0.10:50000"},
      {"[2001:db8:1::10]:443", true, AF_INET6, 443, "[2001:db8:1::10]:443"},
      {"[::ffff:198.18.0.10]:1", true, AF_INET6, 1, "[::ffff:198.18.0.10]:1"},
      {"0.0.0.0:0", true, AF_INET, 0, "0.0.0.0:0"},
      {"198.18.0.10", false, 0, 0, ""},
      {"198.18.0.10:", false, 0, 0, ""},
      {"198.18.0.10:65536", false, 0, 0, ""},
      {"198.18.0.10:-1", false, 0, 0, ""},
      {"198.18.0.10:80x", false, 0, 0, ""},
      {"2001:db8::1:443", false, 0, 0, ""},
      {"[2001:db8::1]", false, 0, 0, ""},
      {"[198.18.0.10]:443", false, 0, 0, ""},
      {"example.org:443", false, 0, 0, ""},
      {"", false, 0, 0, ""},
  };
  for (const auto &r : rows) {
    CAPTURE(r.text);
    const auto e = Endpoint::parse(r.text);
    REQUIRE(e.has_value() == r.ok);
    if (!r.ok) continue;
    CHECK(e->family() == r.family);
    CHECK(e->port() == r.port);
    CHECK(e->to_string() == r.printed);
    CHECK(e->size() == (r.family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
    const auto copy = Endpoint::from(e->sa());
    REQUIRE(copy.has_value());
    CHECK(*copy == *e);
  }

  struct Compare {
    const char *name;
    const char *a;
    const char *b;
    bool same_ip;
    bool equal;
  };
  const Compare cmp[] = {
      {"identical v4", A1, A1, true, true},
      {"v4 port differs", A1, A2, true, false},
      {"v4 IP differs", A1, B1, false, false},
      {"identical v6", X1, X1, true, true},
      {"v6 port differs", X1, X2, true, false},
      {"v6 IP differs", X1, Y1, false, false},
      {"v4 vs v6", A1, X1, false, false},
      {"v4 vs its mapped form", A1, M1, true, true},
      {"v4 vs mapped, port differs", A1, M2, true, false},
      {"mapped vs another v4", M1, B1, false, false},
  };
  for (const auto &c : cmp) {
    CAPTURE(c.name);
    const Endpoint a = ep(c.a), b = ep(c.b);
    CHECK(a.same_ip(b) == c.same_ip);
    CHECK(b.same_ip(a) == c.same_ip);
    CHECK((a == b) == c.equal);
    CHECK((b == a) == c.equal);
  }

  // IPv6 link-local addresses on different interfaces are different addresses; the flow label
  // is not part of the address.
  sockaddr_in6 s1{}, s2{};
  s1.sin6_family = s2.sin6_family = AF_INET6;
  s1.sin6_port = s2.sin6_port = htons(4433);
  s1.sin6_addr.s6_addr[0] = s2.sin6_addr.s6_addr[0] = 0xfe;
  s1.sin6_addr.s6_addr[1] = s2.sin6_addr.s6_addr[1] = 0x80;
  s1.sin6_addr.s6_addr[15] = s2.sin6_addr.s6_addr[15] = 1;
  s1.sin6_scope_id = 1;
  s2.sin6_scope_id = 1;
  s2.sin6_flowinfo = htonl(0x12345);
  auto e1 = Endpoint::from(reinterpret_cast<const sockaddr *>(&s1));
  auto e2 = Endpoint::from(reinterpret_cast<const sockaddr *>(&s2));
  REQUIRE(e1);
  REQUIRE(e2);
  CHECK(*e1 == *e2);
  s2.sin6_scope_id = 2;
  e2 = Endpoint::from(reinterpret_cast<const sockaddr *>(&s2));
  CHECK_FALSE(e1->same_ip(*e2));

  CHECK(Endpoint{}.family() == AF_UNSPEC);
  CHECK(Endpoint{}.to_string() == "-");
  CHECK(Endpoint{} == Endpoint{});
  CHECK_FALSE(Endpoint{} == ep(A1));
  CHECK_FALSE(Endpoint::from(nullptr).has_value());
}
