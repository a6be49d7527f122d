// Unit tests for qamp/policy.h: the per-address migration policy model (DESIGN.md §2).
//
// Every expected value in the tables below is derived from DESIGN.md §2 (and RFC 9000 §9.3,
// §9.6, §18.2), not from the implementation: one row per case, the rule or scenario in the row.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>

#include <array>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "qamp/policy.h"

using namespace qamp;

namespace {

constexpr Level kAny = Level::any;
constexpr Level kNone = Level::none;
constexpr Level kSame = Level::same_ip;

constexpr Change kPort = Change::port_only;
constexpr Change kIp = Change::ip_change;
constexpr Change kMove = Change::move_to_spa;

}  // namespace

// ---- names: to_string / parse pairs ----

TEST_CASE("Level: to_string / parse_level round trip and exact spellings", "[policy][names]") {
  struct Row {
    std::string_view name;
    Level level;
    std::string_view text;
  };
  static constexpr Row rows[] = {
      {"any: client may change IP and port", Level::any, "any"},
      {"none: client may change nothing", Level::none, "none"},
      {"same-ip: port change only (2-tuple LB)", Level::same_ip, "same-ip"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(to_string(row.level) == row.text);
  REQUIRE(parse_level(row.text).has_value());
  CHECK(*parse_level(row.text) == row.level);
}

TEST_CASE("Level: parse_level rejects near misses", "[policy][names]") {
  auto text = GENERATE(as<std::string>{}, "", "Any", "NONE", "same_ip", "sameip", " any", "any ", "reserved", "3", "0");
  CAPTURE(text);
  CHECK_FALSE(parse_level(text).has_value());
}

TEST_CASE("Level: wire codes 0/1/2 (PR #3898 0x0 permitted, 0x1 prohibited; 2 qamp)", "[policy][codes]") {
  struct Row {
    std::string_view name;
    Level level;
    unsigned code;
  };
  static constexpr Row rows[] = {
      {"any is PR #3898's 0x0 (permitted)", Level::any, 0},
      {"none is PR #3898's 0x1 (prohibited)", Level::none, 1},
      {"same-ip is qamp's 0x2", Level::same_ip, 2},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(code(row.level) == row.code);
  REQUIRE(level_from_code(row.code).has_value());
  CHECK(*level_from_code(row.code) == row.level);
}

TEST_CASE("Level: reserved and out-of-range codes do not decode", "[policy][codes]") {
  auto c = GENERATE(3u, 4u, 7u, 0xffu, 0xffffffffu);
  CAPTURE(c);
  CHECK_FALSE(level_from_code(c).has_value());
}

TEST_CASE("Level: strictness orders none > same-ip > any", "[policy][strictness]") {
  CHECK(strictness(Level::none) > strictness(Level::same_ip));
  CHECK(strictness(Level::same_ip) > strictness(Level::any));
  CHECK(strictness(Level::none) > strictness(Level::any));
}

TEST_CASE("Level: stricter() picks the more restrictive level, symmetric", "[policy][strictness]") {
  struct Row {
    std::string_view name;
    Level a, b, want;
  };
  static constexpr Row rows[] = {
      {"any vs any", kAny, kAny, kAny},         {"any vs none", kAny, kNone, kNone},
      {"any vs same-ip", kAny, kSame, kSame},   {"none vs none", kNone, kNone, kNone},
      {"none vs same-ip", kNone, kSame, kNone}, {"same-ip vs same-ip", kSame, kSame, kSame},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(stricter(row.a, row.b) == row.want);
  CHECK(stricter(row.b, row.a) == row.want);
}

TEST_CASE("ServerAddress: to_string / parse round trip", "[policy][names]") {
  struct Row {
    std::string_view name;
    ServerAddress address;
    std::string_view text;
  };
  static constexpr Row rows[] = {
      {"the address the handshake used", ServerAddress::handshake, "handshake"},
      {"preferred IPv4 address", ServerAddress::spa_v4, "spa-v4"},
      {"preferred IPv6 address", ServerAddress::spa_v6, "spa-v6"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(to_string(row.address) == row.text);
  REQUIRE(parse_server_address(row.text).has_value());
  CHECK(*parse_server_address(row.text) == row.address);
  CHECK_FALSE(parse_server_address(std::string(row.text) + "x").has_value());
  CHECK_FALSE(parse_server_address("").has_value());
  CHECK_FALSE(parse_server_address("spa_v4").has_value());
}

TEST_CASE("Semantics: to_string / parse round trip", "[policy][names]") {
  struct Row {
    std::string_view name;
    Semantics semantics;
    std::string_view text;
  };
  static constexpr Row rows[] = {
      {"stock ngtcp2: 0x0c for the whole connection", Semantics::draft28, "draft28"},
      {"RFC 9000 §18.2: 0x0c for the handshake address", Semantics::rfc9000, "rfc9000"},
      {"qamp default: per-address levels", Semantics::per_address, "per-address"},
      {"lab: never enforce", Semantics::ignore, "ignore"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(to_string(row.semantics) == row.text);
  REQUIRE(parse_semantics(row.text).has_value());
  CHECK(*parse_semantics(row.text) == row.semantics);
  CHECK_FALSE(parse_semantics("per_address").has_value());
  CHECK_FALSE(parse_semantics("RFC9000").has_value());
  CHECK_FALSE(parse_semantics("").has_value());
}

TEST_CASE("Change: to_string / parse round trip", "[policy][names]") {
  struct Row {
    std::string_view name;
    Change change;
    std::string_view text;
  };
  static constexpr Row rows[] = {
      {"same client IP, new port", Change::port_only, "port-only"},
      {"new client IP", Change::ip_change, "ip-change"},
      {"leave the handshake address for the SPA", Change::move_to_spa, "move-to-spa"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(to_string(row.change) == row.text);
  REQUIRE(parse_change(row.text).has_value());
  CHECK(*parse_change(row.text) == row.change);
  CHECK_FALSE(parse_change("port_only").has_value());
  CHECK_FALSE(parse_change("").has_value());
}

TEST_CASE("Rule: every rule has a distinct, non-empty name", "[policy][names]") {
  static constexpr Rule rules[] = {
      Rule::level_any,     Rule::same_ip_port_change,   Rule::same_ip_forbids_ip, Rule::level_none,
      Rule::draft28_dam,   Rule::rfc9000_dam_handshake, Rule::rfc9000_after_move, Rule::rfc9000_no_dam,
      Rule::spa_move_once, Rule::spa_already_moved,     Rule::spa_not_offered,    Rule::ignore_mode,
      Rule::nat_rebinding,
  };
  std::set<std::string_view> seen;
  for (auto r : rules) {
    auto name = to_string(r);
    INFO("rule #" << static_cast<int>(r) << " = " << name);
    CHECK_FALSE(name.empty());
    CHECK(name != "?");
    CHECK(seen.insert(name).second);
  }
  CHECK(seen.size() == std::size(rules));
}

// ---- Policy ----

TEST_CASE("Policy::at returns the level of each server address", "[policy]") {
  const Policy p{Level::none, Level::same_ip, Level::any};
  CHECK(p.at(ServerAddress::handshake) == Level::none);
  CHECK(p.at(ServerAddress::spa_v4) == Level::same_ip);
  CHECK(p.at(ServerAddress::spa_v6) == Level::any);
  const Policy q{Level::any, Level::none, Level::same_ip};
  CHECK(q.at(ServerAddress::handshake) == Level::any);
  CHECK(q.at(ServerAddress::spa_v4) == Level::none);
  CHECK(q.at(ServerAddress::spa_v6) == Level::same_ip);
  CHECK(Policy{} == Policy{Level::any, Level::any, Level::any});
}

TEST_CASE("all_policies: the 27 distinct policies, every combination once", "[policy]") {
  const auto all = all_policies();
  REQUIRE(all.size() == 27);
  std::set<std::tuple<int, int, int>> seen;
  for (const auto &p : all) {
    seen.insert({static_cast<int>(p.handshake), static_cast<int>(p.spa_v4), static_cast<int>(p.spa_v6)});
    CHECK(level_from_code(code(p.handshake)).has_value());
    CHECK(level_from_code(code(p.spa_v4)).has_value());
    CHECK(level_from_code(code(p.spa_v6)).has_value());
  }
  CHECK(seen.size() == 27);
  for (auto h : kAllLevels)
    for (auto v4 : kAllLevels)
      for (auto v6 : kAllLevels) {
        INFO(to_string(h) << "/" << to_string(v4) << "/" << to_string(v6));
        CHECK(seen.count({static_cast<int>(h), static_cast<int>(v4), static_cast<int>(v6)}) == 1);
      }
  CHECK(all_policies() == all);  // fixed order
}

// ---- client_may: the full table ----
//
// Row = semantics × level × change × phase. "Level" is the level of the address the client is
// talking to: before the move the handshake address, after it the preferred address. The other
// addresses get a contrasting level (any→none, none→same-ip, same-ip→any) so that a rule reading
// the wrong address fails a row. After the move the handshake level is therefore the contrast of
// the row's level, and that is what draft28 (0x0c for the whole connection) sees.

namespace {

enum class Phase { before_move, after_move };

constexpr Level contrast(Level l) { return l == kAny ? kNone : l == kNone ? kSame : kAny; }

struct ClientRow {
  std::string_view name;
  Semantics semantics;
  Phase phase;
  Level level;  // of the address the client is on
  Change change;
  bool allowed;
  Rule rule;
};

constexpr Phase B = Phase::before_move;
constexpr Phase A = Phase::after_move;
constexpr Semantics D28 = Semantics::draft28;
constexpr Semantics R = Semantics::rfc9000;
constexpr Semantics PA = Semantics::per_address;
constexpr Semantics IG = Semantics::ignore;

// clang-format off
constexpr ClientRow kClientRows[] = {
  // ---- draft28: 0x0c (handshake level != any) forbids every active migration, all connection ----
  {"draft28 before: no 0x0c, port change allowed",                 D28, B, kAny,  kPort, true,  Rule::rfc9000_no_dam},
  {"draft28 before: no 0x0c, IP change allowed",                   D28, B, kAny,  kIp,   true,  Rule::rfc9000_no_dam},
  {"draft28 before: SPA move allowed once (no 0x0c)",              D28, B, kAny,  kMove, true,  Rule::spa_move_once},
  {"draft28 before: 0x0c (none) forbids port change",              D28, B, kNone, kPort, false, Rule::draft28_dam},
  {"draft28 before: 0x0c (none) forbids IP change",                D28, B, kNone, kIp,   false, Rule::draft28_dam},
  {"draft28 before: SPA move allowed once despite 0x0c",           D28, B, kNone, kMove, true,  Rule::spa_move_once},
  {"draft28 before: 0x0c (same-ip) cannot say same-ip, port refused", D28, B, kSame, kPort, false, Rule::draft28_dam},
  {"draft28 before: 0x0c (same-ip) forbids IP change",             D28, B, kSame, kIp,   false, Rule::draft28_dam},
  {"draft28 before: SPA move allowed once (same-ip handshake)",    D28, B, kSame, kMove, true,  Rule::spa_move_once},
  // after the move: handshake = contrast(level): any→hs none, none→hs same-ip, same-ip→hs any
  {"draft28 after: hs none sent 0x0c, port refused even on an any SPA", D28, A, kAny, kPort, false, Rule::draft28_dam},
  {"draft28 after: hs none sent 0x0c, IP refused even on an any SPA",   D28, A, kAny, kIp,   false, Rule::draft28_dam},
  {"draft28 after: a second move is not allowed (§9.6)",           D28, A, kAny,  kMove, false, Rule::spa_already_moved},
  {"draft28 after: hs same-ip sent 0x0c, port refused",            D28, A, kNone, kPort, false, Rule::draft28_dam},
  {"draft28 after: hs same-ip sent 0x0c, IP refused",              D28, A, kNone, kIp,   false, Rule::draft28_dam},
  {"draft28 after: second move refused",                           D28, A, kNone, kMove, false, Rule::spa_already_moved},
  {"draft28 after: hs any, no 0x0c: port allowed (SPA level unseen)", D28, A, kSame, kPort, true, Rule::rfc9000_no_dam},
  {"draft28 after: hs any, no 0x0c: IP allowed (SPA level unseen)",   D28, A, kSame, kIp,   true, Rule::rfc9000_no_dam},
  {"draft28 after: second move refused (same-ip SPA)",             D28, A, kSame, kMove, false, Rule::spa_already_moved},

  // ---- rfc9000: 0x0c covers the handshake address only (§18.2) ----
  {"rfc9000 before: no 0x0c, port allowed",                        R, B, kAny,  kPort, true,  Rule::rfc9000_no_dam},
  {"rfc9000 before: no 0x0c, IP allowed",                          R, B, kAny,  kIp,   true,  Rule::rfc9000_no_dam},
  {"rfc9000 before: SPA move allowed once",                        R, B, kAny,  kMove, true,  Rule::spa_move_once},
  {"rfc9000 before: 0x0c forbids port change on the handshake address", R, B, kNone, kPort, false, Rule::rfc9000_dam_handshake},
  {"rfc9000 before: 0x0c forbids IP change on the handshake address",   R, B, kNone, kIp,   false, Rule::rfc9000_dam_handshake},
  {"rfc9000 before: SPA move is how a client leaves a 0x0c address",    R, B, kNone, kMove, true,  Rule::spa_move_once},
  {"rfc9000 before: same-ip reads as 0x0c, port refused",          R, B, kSame, kPort, false, Rule::rfc9000_dam_handshake},
  {"rfc9000 before: same-ip reads as 0x0c, IP refused",            R, B, kSame, kIp,   false, Rule::rfc9000_dam_handshake},
  {"rfc9000 before: SPA move allowed once (same-ip handshake)",     R, B, kSame, kMove, true,  Rule::spa_move_once},
  {"rfc9000 after: 0x0c (hs none) does not apply, port allowed",   R, A, kAny,  kPort, true,  Rule::rfc9000_after_move},
  {"rfc9000 after: 0x0c (hs none) does not apply, IP allowed",     R, A, kAny,  kIp,   true,  Rule::rfc9000_after_move},
  {"rfc9000 after: second move refused",                           R, A, kAny,  kMove, false, Rule::spa_already_moved},
  {"rfc9000 after: none SPA is invisible to rfc9000, port allowed", R, A, kNone, kPort, true,  Rule::rfc9000_after_move},
  {"rfc9000 after: none SPA is invisible to rfc9000, IP allowed",  R, A, kNone, kIp,   true,  Rule::rfc9000_after_move},
  {"rfc9000 after: second move refused (none SPA)",                R, A, kNone, kMove, false, Rule::spa_already_moved},
  {"rfc9000 after: same-ip SPA invisible, port allowed",           R, A, kSame, kPort, true,  Rule::rfc9000_after_move},
  {"rfc9000 after: same-ip SPA invisible, IP allowed",             R, A, kSame, kIp,   true,  Rule::rfc9000_after_move},
  {"rfc9000 after: second move refused (same-ip SPA)",             R, A, kSame, kMove, false, Rule::spa_already_moved},

  // ---- per-address: the level of the address the client talks to ----
  {"per-address before: any handshake, port allowed",              PA, B, kAny,  kPort, true,  Rule::level_any},
  {"per-address before: any handshake, IP allowed",                PA, B, kAny,  kIp,   true,  Rule::level_any},
  {"per-address before: SPA move allowed once",                    PA, B, kAny,  kMove, true,  Rule::spa_move_once},
  {"per-address before: none handshake, port refused",             PA, B, kNone, kPort, false, Rule::level_none},
  {"per-address before: none handshake, IP refused",               PA, B, kNone, kIp,   false, Rule::level_none},
  {"per-address before: SPA move leaves a none handshake address", PA, B, kNone, kMove, true,  Rule::spa_move_once},
  {"per-address before: same-ip handshake, port allowed",          PA, B, kSame, kPort, true,  Rule::same_ip_port_change},
  {"per-address before: same-ip handshake, IP refused",            PA, B, kSame, kIp,   false, Rule::same_ip_forbids_ip},
  {"per-address before: SPA move allowed once (same-ip handshake)", PA, B, kSame, kMove, true, Rule::spa_move_once},
  {"per-address after: any SPA, port allowed (hs none ignored)",   PA, A, kAny,  kPort, true,  Rule::level_any},
  {"per-address after: any SPA, IP allowed (hs none ignored)",     PA, A, kAny,  kIp,   true,  Rule::level_any},
  {"per-address after: second move refused",                       PA, A, kAny,  kMove, false, Rule::spa_already_moved},
  {"per-address after: none SPA (#3765 4-tuple LB), port refused", PA, A, kNone, kPort, false, Rule::level_none},
  {"per-address after: none SPA (#3765 4-tuple LB), IP refused",   PA, A, kNone, kIp,   false, Rule::level_none},
  {"per-address after: second move refused (none SPA)",            PA, A, kNone, kMove, false, Rule::spa_already_moved},
  {"per-address after: same-ip SPA (2-tuple LB), port allowed",    PA, A, kSame, kPort, true,  Rule::same_ip_port_change},
  {"per-address after: same-ip SPA (2-tuple LB), IP refused",      PA, A, kSame, kIp,   false, Rule::same_ip_forbids_ip},
  {"per-address after: second move refused (same-ip SPA)",         PA, A, kSame, kMove, false, Rule::spa_already_moved},

  // ---- ignore: probe anyway; the SPA move itself still follows §9.6 ----
  {"ignore before: any, port probed",                              IG, B, kAny,  kPort, true,  Rule::ignore_mode},
  {"ignore before: any, IP probed",                                IG, B, kAny,  kIp,   true,  Rule::ignore_mode},
  {"ignore before: SPA move once",                                 IG, B, kAny,  kMove, true,  Rule::spa_move_once},
  {"ignore before: none not enforced, port probed",                IG, B, kNone, kPort, true,  Rule::ignore_mode},
  {"ignore before: none not enforced, IP probed",                  IG, B, kNone, kIp,   true,  Rule::ignore_mode},
  {"ignore before: SPA move once (none handshake)",                IG, B, kNone, kMove, true,  Rule::spa_move_once},
  {"ignore before: same-ip not enforced, port probed",             IG, B, kSame, kPort, true,  Rule::ignore_mode},
  {"ignore before: same-ip not enforced, IP probed",               IG, B, kSame, kIp,   true,  Rule::ignore_mode},
  {"ignore before: SPA move once (same-ip handshake)",             IG, B, kSame, kMove, true,  Rule::spa_move_once},
  {"ignore after: any SPA, port probed",                           IG, A, kAny,  kPort, true,  Rule::ignore_mode},
  {"ignore after: any SPA, IP probed",                             IG, A, kAny,  kIp,   true,  Rule::ignore_mode},
  {"ignore after: second move still refused (§9.6 is not policy)", IG, A, kAny,  kMove, false, Rule::spa_already_moved},
  {"ignore after: none SPA not enforced, port probed",             IG, A, kNone, kPort, true,  Rule::ignore_mode},
  {"ignore after: none SPA not enforced, IP probed",               IG, A, kNone, kIp,   true,  Rule::ignore_mode},
  {"ignore after: second move refused (none SPA)",                 IG, A, kNone, kMove, false, Rule::spa_already_moved},
  {"ignore after: same-ip SPA not enforced, port probed",          IG, A, kSame, kPort, true,  Rule::ignore_mode},
  {"ignore after: same-ip SPA not enforced, IP probed",            IG, A, kSame, kIp,   true,  Rule::ignore_mode},
  {"ignore after: second move refused (same-ip SPA)",              IG, A, kSame, kMove, false, Rule::spa_already_moved},
};
// clang-format on

}  // namespace

TEST_CASE("client_may: the table covers every semantics x phase x level x change once", "[policy][client_may]") {
  std::set<std::tuple<int, int, int, int>> seen;
  for (const auto &r : kClientRows)
    seen.insert({static_cast<int>(r.semantics), static_cast<int>(r.phase), static_cast<int>(r.level),
                 static_cast<int>(r.change)});
  CHECK(std::size(kClientRows) == 4 * 2 * 3 * 3);
  CHECK(seen.size() == 4 * 2 * 3 * 3);
}

TEST_CASE("client_may: semantics x level x change x before/after the move", "[policy][client_may]") {
  const auto row = GENERATE(from_range(kClientRows));
  CAPTURE(row.name, to_string(row.semantics), to_string(row.level), to_string(row.change));

  MigrationContext ctx;
  ctx.semantics = row.semantics;
  ctx.spa_offered = true;
  std::vector<MigrationContext> contexts;
  if (row.phase == Phase::before_move) {
    ctx.current = ServerAddress::handshake;
    ctx.moved_to_spa = false;
    ctx.policy = Policy{row.level, contrast(row.level), contrast(row.level)};
    contexts.push_back(ctx);
  } else {
    // Moved to the IPv4 or to the IPv6 preferred address: same answer, read from that address.
    ctx.moved_to_spa = true;
    ctx.current = ServerAddress::spa_v4;
    ctx.policy = Policy{contrast(row.level), row.level, contrast(row.level)};
    contexts.push_back(ctx);
    ctx.current = ServerAddress::spa_v6;
    ctx.policy = Policy{contrast(row.level), contrast(row.level), row.level};
    contexts.push_back(ctx);
  }
  for (const auto &c : contexts) {
    CAPTURE(to_string(c.current));
    const Decision d = client_may(c, row.change);
    CHECK(d.allowed == row.allowed);
    CHECK(to_string(d.rule) == to_string(row.rule));
    CHECK(d == Decision{row.allowed, row.rule});
  }
}

TEST_CASE("client_may: without a preferred address there is nothing to move to", "[policy][client_may]") {
  struct Row {
    std::string_view name;
    Semantics semantics;
    Level handshake;
    Change change;
    bool allowed;
    Rule rule;
  };
  // clang-format off
  static constexpr Row rows[] = {
    {"draft28: move refused, no SPA",              D28, kNone, kMove, false, Rule::spa_not_offered},
    {"rfc9000: move refused, no SPA",              R,   kNone, kMove, false, Rule::spa_not_offered},
    {"per-address: move refused, no SPA",          PA,  kNone, kMove, false, Rule::spa_not_offered},
    {"per-address: move refused, no SPA (any hs)", PA,  kAny,  kMove, false, Rule::spa_not_offered},
    {"ignore: no SPA to probe, move refused",      IG,  kAny,  kMove, false, Rule::spa_not_offered},
    {"per-address: same-ip hs still allows port",  PA,  kSame, kPort, true,  Rule::same_ip_port_change},
    {"per-address: none hs still refuses IP",      PA,  kNone, kIp,   false, Rule::level_none},
    {"rfc9000: 0x0c still applies on the handshake address", R, kSame, kIp, false, Rule::rfc9000_dam_handshake},
    {"draft28: no 0x0c, IP allowed",               D28, kAny,  kIp,   true,  Rule::rfc9000_no_dam},
  };
  // clang-format on
  const auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  MigrationContext ctx;
  ctx.semantics = row.semantics;
  ctx.policy = Policy{row.handshake, Level::none, Level::none};
  ctx.spa_offered = false;
  const Decision d = client_may(ctx, row.change);
  CHECK(d.allowed == row.allowed);
  CHECK(to_string(d.rule) == to_string(row.rule));
}

TEST_CASE("client_may: a move from one preferred address to another is a second move (§9.6)", "[policy][client_may]") {
  auto semantics = GENERATE(D28, R, PA, IG);
  CAPTURE(to_string(semantics));
  for (auto current : {ServerAddress::spa_v4, ServerAddress::spa_v6}) {
    for (bool moved : {true, false}) {
      CAPTURE(to_string(current), moved);
      MigrationContext ctx{semantics, Policy{kAny, kAny, kAny}, current, moved, true};
      CHECK(client_may(ctx, kMove) == Decision{false, Rule::spa_already_moved});
    }
  }
}

TEST_CASE("client_may: per-address never consults the other addresses' levels", "[policy][client_may]") {
  // Exhaustive over the 27 policies: the decision equals the one for a policy whose three
  // addresses all carry the current address's level.
  for (const auto &p : all_policies()) {
    for (auto current : {ServerAddress::handshake, ServerAddress::spa_v4, ServerAddress::spa_v6}) {
      for (auto change : {kPort, kIp}) {
        const Level l = p.at(current);
        INFO(to_string(p.handshake) << "/" << to_string(p.spa_v4) << "/" << to_string(p.spa_v6) << " on "
                                    << to_string(current) << " " << to_string(change));
        const bool moved = current != ServerAddress::handshake;
        MigrationContext a{PA, p, current, moved, true};
        MigrationContext b{PA, Policy{l, l, l}, current, moved, true};
        CHECK(client_may(a, change) == client_may(b, change));
      }
    }
  }
}

// ---- server_accepts ----

TEST_CASE("server_accepts: level of the receiving address x change", "[policy][server_accepts]") {
  struct Row {
    std::string_view name;
    Level local;
    Change change;
    bool allowed;
    Rule rule;
  };
  // clang-format off
  static constexpr Row rows[] = {
    {"any: port change accepted",                               kAny,  kPort, true,  Rule::level_any},
    {"any: IP change accepted",                                 kAny,  kIp,   true,  Rule::level_any},
    {"any: arrival on the SPA accepted (move once)",            kAny,  kMove, true,  Rule::spa_move_once},
    {"none: port change accepted as NAT rebinding (§9.3)",      kNone, kPort, true,  Rule::nat_rebinding},
    {"none: IP change dropped",                                 kNone, kIp,   false, Rule::level_none},
    {"none: arrival on a none SPA accepted (the move itself)",  kNone, kMove, true,  Rule::spa_move_once},
    {"same-ip: port change accepted",                           kSame, kPort, true,  Rule::same_ip_port_change},
    {"same-ip: IP change dropped (2-tuple LB)",                 kSame, kIp,   false, Rule::same_ip_forbids_ip},
    {"same-ip: arrival on a same-ip SPA accepted",              kSame, kMove, true,  Rule::spa_move_once},
  };
  // clang-format on
  const auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  const Decision d = server_accepts(row.local, row.change);
  CHECK(d.allowed == row.allowed);
  CHECK(to_string(d.rule) == to_string(row.rule));
  CHECK(d == Decision{row.allowed, row.rule});
}

TEST_CASE("server_accepts vs client_may: the server accepts everything a per-address client may do",
          "[policy][server_accepts]") {
  // A well-behaved per-address client is never dropped by the server's gate.
  for (auto l : kAllLevels)
    for (auto change : {kPort, kIp}) {
      INFO(to_string(l) << " " << to_string(change));
      MigrationContext ctx{PA, Policy{l, l, l}, ServerAddress::handshake, false, true};
      if (client_may(ctx, change).allowed) CHECK(server_accepts(l, change).allowed);
    }
}

// level_allows(): the per-address rule alone (DESIGN.md §2), which client_may() applies under
// per_address and MigrationTrigger (network_events.h) asks directly.
TEST_CASE("level_allows: the per-address rule for a client's active change", "[policy][level_allows]") {
  struct Row {
    const char *name;
    Level level;
    Change change;
    bool allowed;
    Rule rule;
  };
  const std::vector<Row> rows = {
      {"any: port change", Level::any, Change::port_only, true, Rule::level_any},
      {"any: IP change", Level::any, Change::ip_change, true, Rule::level_any},
      {"same-ip: port change (2-tuple LB keeps the flow)", Level::same_ip, Change::port_only, true,
       Rule::same_ip_port_change},
      {"same-ip: IP change", Level::same_ip, Change::ip_change, false, Rule::same_ip_forbids_ip},
      {"none: port change (the server tolerates NAT rebinding, the client must not cause one)", Level::none,
       Change::port_only, false, Rule::level_none},
      {"none: IP change", Level::none, Change::ip_change, false, Rule::level_none},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    CHECK(level_allows(row.level, row.change) == Decision{row.allowed, row.rule});
    // The same answer client_may() gives on that address under per_address.
    MigrationContext ctx;
    ctx.policy = Policy{row.level, Level::any, Level::any};
    CHECK(client_may(ctx, row.change) == Decision{row.allowed, row.rule});
  }
}
