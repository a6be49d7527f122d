// qamp/policy.h — the per-address migration policy model (DESIGN.md §2).
//
// A server gives each of its addresses (the handshake address, the preferred IPv4 and the
// preferred IPv6 address) one Level. The answer to "may the client change this while talking
// to that address?" depends on the level, on where the client is now, on whether it has already
// moved to the preferred address, and on which Semantics the client follows.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qamp {

// Wire codes 0 and 1 are PR #3898's Disable Migration values (0x0 permitted, 0x1 prohibited);
// 2 is qamp's extension for 2-tuple (IP-only) load balancers. 3 is reserved: decoding it is a
// TRANSPORT_PARAMETER_ERROR.
enum class Level : std::uint8_t {
  any = 0,      // client may change IP and port
  none = 1,     // client may change nothing (server still accepts NAT rebinding, RFC 9000 §9.3)
  same_ip = 2,  // client may change its port and keep its IP
};

inline constexpr std::array<Level, 3> kAllLevels = {Level::any, Level::none, Level::same_ip};

std::string_view to_string(Level level) noexcept;
// Accepts "any", "none", "same-ip". Returns nullopt for anything else.
std::optional<Level> parse_level(std::string_view text) noexcept;
// Level from its 2-bit wire code; nullopt for the reserved code 3 or anything larger.
std::optional<Level> level_from_code(unsigned code) noexcept;
constexpr unsigned code(Level level) noexcept { return static_cast<unsigned>(level); }

// How restrictive a level is: any < same-ip < none. Where a spelling cannot express a policy the
// encoder picks the stricter level (it never loosens one).
int strictness(Level level) noexcept;
Level stricter(Level a, Level b) noexcept;

// The server addresses a policy speaks about.
enum class ServerAddress : std::uint8_t { handshake, spa_v4, spa_v6 };
std::string_view to_string(ServerAddress address) noexcept;
std::optional<ServerAddress> parse_server_address(std::string_view text) noexcept;

struct Policy {
  Level handshake = Level::any;
  Level spa_v4 = Level::any;
  Level spa_v6 = Level::any;

  Level at(ServerAddress address) const noexcept;
  friend bool operator==(const Policy &, const Policy &) = default;
};

// Every one of the 27 policies, in a fixed order (tests and the codec's round trips use it).
std::array<Policy, 27> all_policies() noexcept;

// How a client reads the server's policy, so behaviours can be compared side by side.
enum class Semantics : std::uint8_t {
  draft28,      // 0x0c forbids every active migration for the whole connection (stock ngtcp2)
  rfc9000,      // 0x0c covers the handshake address only (RFC 9000 §18.2)
  per_address,  // the levels of DESIGN.md §2 (default)
  ignore,       // lab mode: probe anyway, like stacks that never enforce 0x0c
};
std::string_view to_string(Semantics semantics) noexcept;
std::optional<Semantics> parse_semantics(std::string_view text) noexcept;

// A change a client may want to make.
enum class Change : std::uint8_t {
  port_only,    // same client IP, new client port
  ip_change,    // new client IP (any port)
  move_to_spa,  // leave the handshake address for the server's preferred address
};
std::string_view to_string(Change change) noexcept;
std::optional<Change> parse_change(std::string_view text) noexcept;

// Why a change is allowed or refused; one value per rule so logs and tests can name it.
enum class Rule : std::uint8_t {
  level_any,              // the address's level is any
  same_ip_port_change,    // same-ip allows a port change
  same_ip_forbids_ip,     // same-ip forbids an IP change
  level_none,             // none forbids every change
  draft28_dam,            // draft28: 0x0c forbids all active migration, also after the move
  rfc9000_dam_handshake,  // rfc9000: 0x0c forbids migration on the handshake address
  rfc9000_after_move,     // rfc9000: 0x0c does not apply after the move (§18.2)
  rfc9000_no_dam,         // rfc9000 / draft28: no 0x0c was sent
  spa_move_once,          // moving to the preferred address is allowed once (§9.6)
  spa_already_moved,      // a second move to another server address is not (§9.6)
  spa_not_offered,        // there is no preferred address to move to
  ignore_mode,            // lab mode: policy not enforced
  nat_rebinding,          // server, `none` address: a port-only change looks exactly like NAT
                          // rebinding, which must survive (RFC 9000 §9.3)
};
std::string_view to_string(Rule rule) noexcept;

struct Decision {
  bool allowed;
  Rule rule;
  friend bool operator==(const Decision &, const Decision &) = default;
};

// Where the client is when it wants to change something.
struct MigrationContext {
  Semantics semantics = Semantics::per_address;
  Policy policy;
  ServerAddress current = ServerAddress::handshake;  // the server address the client talks to
  bool moved_to_spa = false;                         // it has completed the move to the SPA
  bool spa_offered = true;                           // the server sent a preferred address
};

// The per-address rule of DESIGN.md §2 alone: may a client actively make `change` while it
// talks to an address of `level`? any → everything (level_any); same-ip → port_only only
// (same_ip_port_change / same_ip_forbids_ip); none → nothing (level_none; the server still
// accepts a port change as NAT rebinding, but the client must not make one, see server_accepts).
// client_may() applies it under Semantics::per_address; components that already know the level
// of the address they talk to (network_events.h) ask it directly. Not for Change::move_to_spa,
// which client_may() decides by its own rules (§9.6).
Decision level_allows(Level level, Change change) noexcept;

// The client's question: may I make this change while talking to ctx.current?
// Under draft28 and rfc9000 only the presence of 0x0c matters, i.e. whether the handshake level
// is not any (these semantics cannot tell same-ip from none).
Decision client_may(const MigrationContext &ctx, Change change) noexcept;

// The server's question for a datagram from a new client address on `local` (the server address
// it arrived on): accept it? Port-only changes are always accepted, since the server cannot tell
// an active port change from NAT rebinding (RFC 9000 §9.3); an IP change only on `any`.
Decision server_accepts(Level local, Change change) noexcept;

}  // namespace qamp
