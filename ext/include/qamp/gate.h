// qamp/gate.h — the server gate (DESIGN.md §4): for every datagram of a known connection, before
// ngtcp2_conn_read_pkt, decide whether the path it arrived on is one the policy lets that
// connection use.
//
// The server's ngtcp2 runs permissively (local disable_active_migration = 0), so it would accept
// every client migration itself; the gate is where the per-address policy of DESIGN.md §2 is
// enforced. A dropped datagram is simply not handed to ngtcp2: the server sends nothing in reply,
// neither a PATH_CHALLENGE nor a Stateless Reset (RFC 9000 §9, §21.11: a reset would kill the
// healthy connection on the old path). The client's probe times out, which RFC 9000 §9.3.1
// anticipates. Since ngtcp2 never sees the datagram, the gate counts and reports its own drops.
//
// Pure decision logic: addresses in, verdicts out, no sockets and no clocks.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "qamp/endpoint.h"
#include "qamp/policy.h"

namespace qamp {

// One side of a comparison: which server address the datagram reached (the server maps its local
// address to the role) and the client address it came from. `remote` is borrowed for the call;
// ngtcp2_path::remote.addr fits as is.
struct PathView {
  ServerAddress local_role;
  const sockaddr *remote;  // AF_INET or AF_INET6
};

enum class GateVerdict : std::uint8_t { accept, drop };
std::string_view to_string(GateVerdict verdict) noexcept;

// Why; one value per rule, so counters, logs and tests name it.
enum class GateReason : std::uint8_t {
  same_path,                    // accept: nothing changed
  port_only_rebinding,          // accept: same client IP, new port; on every level, since it
                                //   cannot be told from NAT rebinding (RFC 9000 §9.3)
  ip_change_allowed,            // accept: new client IP on an `any` address
  ip_change_forbidden_none,     // drop: new client IP on a `none` address
  ip_change_forbidden_same_ip,  // drop: new client IP on a `same-ip` address
  move_to_spa,                  // accept: handshake address -> preferred address, from any client
                                //   address (RFC 9000 §9.6, §9.6.3)
  second_server_address,        // drop: already on a preferred address, or back to the handshake
                                //   address, or the other preferred address (RFC 9000 §9.6)
  enforcement_off,              // accept: a change the policy was not asked to judge
  unsupported_address,          // drop: a remote that is null or neither IPv4 nor IPv6
};
inline constexpr std::size_t kGateReasonCount = 9;
inline constexpr std::array<GateReason, kGateReasonCount> kAllGateReasons = {GateReason::same_path,
                                                                             GateReason::port_only_rebinding,
                                                                             GateReason::ip_change_allowed,
                                                                             GateReason::ip_change_forbidden_none,
                                                                             GateReason::ip_change_forbidden_same_ip,
                                                                             GateReason::move_to_spa,
                                                                             GateReason::second_server_address,
                                                                             GateReason::enforcement_off,
                                                                             GateReason::unsupported_address};
std::string_view to_string(GateReason reason) noexcept;  // "same-path", "move-to-spa", …
// The verdict a reason always carries.
GateVerdict verdict_of(GateReason reason) noexcept;

struct GateDecision {
  GateVerdict verdict;
  GateReason reason;
  // What changed between the current and the incoming path: nullopt for same_path (and for
  // unsupported_address); move_to_spa for every change of server address (also a forbidden one),
  // otherwise port_only or ip_change.
  std::optional<Change> change;

  bool accepted() const noexcept { return verdict == GateVerdict::accept; }
  friend bool operator==(const GateDecision &, const GateDecision &) = default;
};

struct GateConfig {
  Policy policy;
  // false: judge nothing (lab runs that compare with stock behaviour); every datagram is
  // accepted, changes are still classified, counted and reported as enforcement_off.
  bool enforce = true;
};

// The rule table, pure. `current` is the connection's current path (ngtcp2_conn_get_path),
// `incoming` the path of the datagram. Rules, in order:
//   remote unusable -> drop unsupported_address;
//   same role, same remote -> accept same_path;
//   not enforcing -> accept enforcement_off;
//   same role, same IP, new port -> accept port_only_rebinding (RFC 9000 §9.3);
//   same role, new IP -> by policy.at(role): any accepts, none / same-ip drop (DESIGN.md §2);
//   handshake -> spa_v4 / spa_v6 -> accept move_to_spa, whatever the client address (§9.6.3);
//   any other change of server address -> drop second_server_address (§9.6).
// While the client validates the preferred address every datagram it sends there arrives with
// `current` still on the handshake address, so each is a move_to_spa.
GateDecision gate_decide(const Policy &policy, bool enforce, const PathView &current,
                         const PathView &incoming) noexcept;

struct GateCounters {
  std::array<std::uint64_t, kGateReasonCount> by_reason{};  // indexed by GateReason
  std::uint64_t accepted = 0;
  std::uint64_t dropped = 0;

  std::uint64_t of(GateReason reason) const noexcept { return by_reason[static_cast<std::size_t>(reason)]; }
};

// What the observer sees: the decision with both paths copied and the level that applied (the
// level of the incoming server address).
struct GateEvent {
  GateDecision decision;
  ServerAddress current_role;
  Endpoint current_remote;
  ServerAddress incoming_role;
  Endpoint incoming_remote;
  Level level;
};
// One log line: "gate drop ip-change-forbidden-none: handshake 198.18.0.1:5000 -> handshake
// 198.18.0.2:5000 (ip-change, level none)".
std::string describe(const GateEvent &event);

// One per server (counters are server-wide); not thread-safe. The gate holds no per-connection
// state: the connection's current path and, where it differs, its policy are arguments of
// admit(). What a server keeps per connection (which connection an event belongs to, log budgets,
// paths already logged) stays with the caller: the observer is called synchronously inside
// admit(), so the server routes each event to the connection whose datagram it is judging.
class Gate {
 public:
  using Observer = std::function<void(const GateEvent &)>;

  explicit Gate(GateConfig config);

  // gate_decide with the configured policy, counted. The observer is called for every drop and
  // for every accepted change of path, not for same_path. On drop the caller discards the
  // datagram and sends nothing. An exception thrown by the observer propagates to the caller
  // after the counters were updated.
  GateDecision admit(const PathView &current, const PathView &incoming);
  // The same with a per-connection policy (e.g. what that client was actually told).
  GateDecision admit(const PathView &current, const PathView &incoming, const Policy &policy);

  void set_observer(Observer observer) { observer_ = std::move(observer); }
  const GateConfig &config() const noexcept { return config_; }
  const GateCounters &counters() const noexcept { return counters_; }

 private:
  GateConfig config_;
  GateCounters counters_;
  Observer observer_;
};

}  // namespace qamp
