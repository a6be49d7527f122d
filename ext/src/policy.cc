#include "qamp/policy.h"

namespace qamp {

std::string_view to_string(Level level) noexcept {
  switch (level) {
    case Level::any: return "any";
    case Level::none: return "none";
    case Level::same_ip: return "same-ip";
  }
  return "?";
}

std::optional<Level> parse_level(std::string_view text) noexcept {
  for (auto l : kAllLevels)
    if (to_string(l) == text) return l;
  return std::nullopt;
}

std::optional<Level> level_from_code(unsigned c) noexcept {
  if (c > 2) return std::nullopt;
  return static_cast<Level>(c);
}

int strictness(Level level) noexcept {
  switch (level) {
    case Level::any: return 0;
    case Level::same_ip: return 1;
    case Level::none: return 2;
  }
  return 2;
}

Level stricter(Level a, Level b) noexcept { return strictness(a) >= strictness(b) ? a : b; }

std::string_view to_string(ServerAddress address) noexcept {
  switch (address) {
    case ServerAddress::handshake: return "handshake";
    case ServerAddress::spa_v4: return "spa-v4";
    case ServerAddress::spa_v6: return "spa-v6";
  }
  return "?";
}

std::optional<ServerAddress> parse_server_address(std::string_view text) noexcept {
  for (auto a : {ServerAddress::handshake, ServerAddress::spa_v4, ServerAddress::spa_v6})
    if (to_string(a) == text) return a;
  return std::nullopt;
}

Level Policy::at(ServerAddress address) const noexcept {
  switch (address) {
    case ServerAddress::handshake: return handshake;
    case ServerAddress::spa_v4: return spa_v4;
    case ServerAddress::spa_v6: return spa_v6;
  }
  return Level::none;
}

std::array<Policy, 27> all_policies() noexcept {
  std::array<Policy, 27> out{};
  std::size_t i = 0;
  for (auto h : kAllLevels)
    for (auto v4 : kAllLevels)
      for (auto v6 : kAllLevels) out[i++] = Policy{h, v4, v6};
  return out;
}

std::string_view to_string(Semantics semantics) noexcept {
  switch (semantics) {
    case Semantics::draft28: return "draft28";
    case Semantics::rfc9000: return "rfc9000";
    case Semantics::per_address: return "per-address";
    case Semantics::ignore: return "ignore";
  }
  return "?";
}

std::optional<Semantics> parse_semantics(std::string_view text) noexcept {
  for (auto s : {Semantics::draft28, Semantics::rfc9000, Semantics::per_address, Semantics::ignore})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

std::string_view to_string(Change change) noexcept {
  switch (change) {
    case Change::port_only: return "port-only";
    case Change::ip_change: return "ip-change";
    case Change::move_to_spa: return "move-to-spa";
  }
  return "?";
}

std::optional<Change> parse_change(std::string_view text) noexcept {
  for (auto c : {Change::port_only, Change::ip_change, Change::move_to_spa})
    if (to_string(c) == text) return c;
  return std::nullopt;
}

std::string_view to_string(Rule rule) noexcept {
  switch (rule) {
    case Rule::level_any: return "level-any";
    case Rule::same_ip_port_change: return "same-ip-allows-port-change";
    case Rule::same_ip_forbids_ip: return "same-ip-forbids-ip-change";
    case Rule::level_none: return "level-none";
    case Rule::draft28_dam: return "draft28-disable-active-migration";
    case Rule::rfc9000_dam_handshake: return "rfc9000-disable-active-migration-on-handshake-address";
    case Rule::rfc9000_after_move: return "rfc9000-after-move-to-preferred-address";
    case Rule::rfc9000_no_dam: return "no-disable-active-migration";
    case Rule::spa_move_once: return "move-to-preferred-address-once";
    case Rule::spa_already_moved: return "already-moved-to-preferred-address";
    case Rule::spa_not_offered: return "no-preferred-address";
    case Rule::ignore_mode: return "policy-ignored";
    case Rule::nat_rebinding: return "port-change-treated-as-nat-rebinding";
  }
  return "?";
}

// The per-address rule of DESIGN.md §2 for an active change on an address with `level`.
Decision level_allows(Level level, Change change) noexcept {
  switch (level) {
    case Level::any: return {true, Rule::level_any};
    case Level::none: return {false, Rule::level_none};
    case Level::same_ip:
      return change == Change::port_only ? Decision{true, Rule::same_ip_port_change}
                                         : Decision{false, Rule::same_ip_forbids_ip};
  }
  return {false, Rule::level_none};
}

Decision client_may(const MigrationContext &ctx, Change change) noexcept {
  if (change == Change::move_to_spa) {
    // RFC 9000 §9.6: the move to the preferred address is the one server-initiated change and
    // happens at most once; a restricted handshake address is exactly what it lets a client leave.
    if (!ctx.spa_offered) return {false, Rule::spa_not_offered};
    if (ctx.moved_to_spa || ctx.current != ServerAddress::handshake) return {false, Rule::spa_already_moved};
    return {true, Rule::spa_move_once};
  }
  const bool dam = ctx.policy.handshake != Level::any;  // what 0x0c alone says
  switch (ctx.semantics) {
    case Semantics::ignore: return {true, Rule::ignore_mode};
    case Semantics::draft28: return dam ? Decision{false, Rule::draft28_dam} : Decision{true, Rule::rfc9000_no_dam};
    case Semantics::rfc9000:
      if (ctx.current != ServerAddress::handshake) return {true, Rule::rfc9000_after_move};
      return dam ? Decision{false, Rule::rfc9000_dam_handshake} : Decision{true, Rule::rfc9000_no_dam};
    case Semantics::per_address: return level_allows(ctx.policy.at(ctx.current), change);
  }
  return {false, Rule::level_none};
}

Decision server_accepts(Level local, Change change) noexcept {
  if (change == Change::move_to_spa) return {true, Rule::spa_move_once};
  if (change == Change::port_only) {
    // Indistinguishable from NAT rebinding, which RFC 9000 §9.3 requires to survive.
    switch (local) {
      case Level::any: return {true, Rule::level_any};
      case Level::same_ip: return {true, Rule::same_ip_port_change};
      case Level::none: return {true, Rule::nat_rebinding};
    }
    return {true, Rule::nat_rebinding};
  }
  return level_allows(local, change);
}

}  // namespace qamp
