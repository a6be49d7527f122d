// qamp/network_events.h — the operating system's network events and the path's health turned
// into migration causes (issue 14; DESIGN.md "Network events").
//
// Sans-I/O, like the Migrator: nothing here reads a socket, a netlink message or a clock. The
// client's adapter parses rtnetlink (examples/client/netlink.h) and sendmsg errors into
// NetworkEvent values, samples ngtcp2 into PathSample values, and asks a MigrationTrigger what to
// do; a TriggerDecision names the cause (QUICHE's names, migrator.h MigrationCause), the target
// (another local network, or a new port on the same address), and the rule that allowed or
// refused it. An allowed decision goes to Migrator::submit_migration(decision.change(), cause);
// a decision the server's policy forbids goes to the download planner (planner.h), as
// --network-change does today. The policy itself is policy.h's level_allows(): nothing here
// repeats it.
//
// Times are ngtcp2_tstamp-style nanoseconds on one monotonic clock chosen by the caller.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "qamp/endpoint.h"
#include "qamp/migrator.h"
#include "qamp/policy.h"

namespace qamp {

using Timestamp = std::uint64_t;  // nanoseconds, monotonic (ngtcp2_tstamp)
using Duration = std::uint64_t;   // nanoseconds

// ---------------------------------------------------------------------------------------------
// Events (what the kernel said). Addresses are held as Endpoints with port 0.

struct AddressAdded {  // RTM_NEWADDR: a usable (not tentative, global/site scope) address
  unsigned ifindex = 0;
  Endpoint address;
  friend bool operator==(const AddressAdded &, const AddressAdded &) = default;
};
struct AddressRemoved {  // RTM_DELADDR
  unsigned ifindex = 0;
  Endpoint address;
  friend bool operator==(const AddressRemoved &, const AddressRemoved &) = default;
};
// RTM_NEWROUTE / RTM_DELROUTE of a default route (dst_len 0) in the main table.
struct DefaultRouteChanged {
  int family = AF_INET;  // AF_INET or AF_INET6
  unsigned ifindex = 0;  // the route's output interface (RTA_OIF); 0 when it had none
  Endpoint gateway;      // RTA_GATEWAY, empty when on-link
  bool removed = false;  // RTM_DELROUTE: the default route via `ifindex` is gone
  friend bool operator==(const DefaultRouteChanged &, const DefaultRouteChanged &) = default;
};
struct LinkDown {  // RTM_NEWLINK without IFF_UP|IFF_RUNNING (or operstate not up), RTM_DELLINK
  unsigned ifindex = 0;
  friend bool operator==(const LinkDown &, const LinkDown &) = default;
};
struct LinkUp {  // RTM_NEWLINK with IFF_UP and IFF_RUNNING and operstate up or unknown
  unsigned ifindex = 0;
  friend bool operator==(const LinkUp &, const LinkUp &) = default;
};
struct WriteError {  // sendmsg() on the connection's socket failed with errno `error`
  int error = 0;
  friend bool operator==(const WriteError &, const WriteError &) = default;
};

using NetworkEvent = std::variant<AddressAdded, AddressRemoved, DefaultRouteChanged, LinkDown, LinkUp, WriteError>;
// "address-added if 3 198.18.1.2:0", "default-route-changed v4 if 2 via 198.18.0.1", … one line.
std::string to_string(const NetworkEvent &event);

// The sendmsg() errors that say the path is gone (so a write error is a migration cause), and
// nothing else: EAGAIN/EWOULDBLOCK and EINTR are flow control, ENOBUFS a full queue, EMSGSIZE a
// packet size problem, ECONNREFUSED (ICMP port unreachable) the server, not the network.
enum class SendError : std::uint8_t {
  network_unreachable,    // ENETUNREACH: no route any more (default route gone)
  address_not_available,  // EADDRNOTAVAIL: the socket's source address was removed
  host_unreachable,       // EHOSTUNREACH: no neighbour / route to the host
  network_down,           // ENETDOWN: the interface went down
};
std::string_view to_string(SendError error) noexcept;
// The SendError of a sendmsg() errno; nullopt when that errno is not a network failure.
std::optional<SendError> send_error_from(int error) noexcept;

// ---------------------------------------------------------------------------------------------
// Path health, sampled from ngtcp2 by the adapter (after each read / timer).
//
// Which signals and why:
// - pto_count — the primary signal, as in QUICHE, whose "path degrading" alarm fires after a
//   number of probe timeouts without forward progress. ngtcp2 1.11 keeps its PTO count in an
//   internal struct (ngtcp2_conn_stat), so the adapter reports the number of whole PTO periods
//   (ngtcp2_conn_get_pto) elapsed since the last forward progress (a packet received that acked
//   data or carried data) while bytes are in flight. It does not fire on a merely slow path.
// - smoothed_rtt vs min_rtt (ngtcp2_conn_info) — secondary: a path whose RTT grows to k times its
//   minimum and stays there (queueing on a worse link, a congested access network) still works
//   but is worse than another network; held for a time so one burst does not count.
// - lost_packets — the delta of ngtcp2_conn_get_stream_loss_count on the download stream. Off by
//   default: loss-based congestion control loses packets on a healthy path under a bulk
//   download, and ngtcp2 counts spurious losses too, so loss alone does not mean "degrading".
struct PathSample {
  unsigned pto_count = 0;          // whole PTO periods without forward progress (see above)
  Duration smoothed_rtt = 0;       // ngtcp2_conn_info::smoothed_rtt
  Duration min_rtt = 0;            // ngtcp2_conn_info::min_rtt (0 or UINT64_MAX: no sample yet)
  std::uint64_t lost_packets = 0;  // packets declared lost since the previous sample
};

// Which signal made a path degrading.
enum class DegradingSignal : std::uint8_t { pto_count, rtt_growth, packet_loss };
std::string_view to_string(DegradingSignal signal) noexcept;

struct DegradingConfig {
  // PTO periods without forward progress that make the path degrading (0: never by PTO).
  // 4: more than a lost packet (one period) or a host busy for a moment (two periods of a
  // loopback path are ~60 ms, which a loaded machine stalls for) explains; the lab's blackholed
  // 4-tuple reaches it in well under a second.
  unsigned pto_count = 4;
  // smoothed_rtt > rtt_factor × min_rtt, held for rtt_hold, makes it degrading (0: never).
  double rtt_factor = 3.0;
  Duration rtt_hold = 2'000'000'000;  // 2 s
  // Packets lost in one sample that make it degrading (0: loss is not a signal, the default).
  std::uint64_t lost_packets = 0;
  // Hysteresis: after firing, the path counts as recovered only when a sample has pto_count 0,
  // no loss over the threshold and smoothed_rtt <= recover_rtt_factor × min_rtt.
  double recover_rtt_factor = 1.5;
};

// Fires once per degradation: on_sample returns the signal on the sample that makes a healthy
// path degrading, then nullopt until the path has recovered (hysteresis, DegradingConfig) and
// degrades again. reset() after a move to a new path.
class DegradingDetector {
 public:
  explicit DegradingDetector(DegradingConfig config = {}) : config_(config) {}
  std::optional<DegradingSignal> on_sample(const PathSample &sample, Timestamp now);
  bool degrading() const noexcept { return degrading_; }
  void reset() noexcept;
  const DegradingConfig &config() const noexcept { return config_; }

 private:
  DegradingConfig config_;
  bool degrading_ = false;
  std::optional<Timestamp> rtt_high_since_;  // first sample of the current RTT excursion
};

// ---------------------------------------------------------------------------------------------
// The limits (QUICHE keeps the same knobs in QuicConnectionMigrationConfig). One struct; the
// client's flags fill it. A refusal by a limit names the limit (TriggerRule).
struct NetworkEventConfig {
  // Migrations of any cause (network and port) one connection may start. Counted when a decision
  // says migrate, whether or not the path validation then succeeds: a path that keeps failing
  // must not make the client hop forever. QUICHE has no such total; 10 is two causes' worth.
  unsigned max_migrations = 10;
  // Migrations one cause may start per connection (each cause has its own count), so one flapping
  // signal (a link going up and down) cannot use up the whole budget. 5 is QUICHE's
  // max_migrations_to_non_default_network_on_{write_error,path_degrading} (it counts them per
  // default network; qamp per connection, which is simpler and never more).
  unsigned max_migrations_per_cause = 5;
  // Port-only migrations (port_change_on_path_degrading) per connection; they also count towards
  // max_migrations. A new port helps when the path's trouble is per-flow (a 5-tuple hash onto a
  // bad link, an overloaded NAT mapping); if four ports did not help, a fifth will not.
  // 4 is QUICHE's max_port_migrations_per_session.
  unsigned max_port_migrations = 4;
  // Longest time on a non-default network before migrate_back_to_default_network (the default
  // network is the one the system prefers: cheaper, faster). 0: never migrate back by time.
  Duration max_time_on_non_default_network = 128'000'000'000;  // 128 s, as QUICHE
  // Migrate a connection with no request outstanding? Off: an idle connection is left where it
  // is (it will be reopened when needed); a migration costs a path validation and a CID.
  // QUICHE's migrate_idle_session defaults to false too.
  bool migrate_idle_connections = false;
  DegradingConfig degrading;
};

// ---------------------------------------------------------------------------------------------
// Decisions.

// Why a trigger decision was made; the log line and qlog name it.
enum class TriggerRule : std::uint8_t {
  // Allowed (the policy rule of level_allows() is in TriggerDecision::policy_rule).
  allowed_by_policy,
  // Refused.
  idle_connection,           // NetworkEventConfig::migrate_idle_connections is off
  max_migrations,            // NetworkEventConfig::max_migrations reached
  max_migrations_per_cause,  // NetworkEventConfig::max_migrations_per_cause reached for the cause
  max_port_migrations,       // NetworkEventConfig::max_port_migrations reached
  no_alternate_network,      // no other up network with an address of the connection's family
  // Forbidden by the server's policy for the current address: handed to the download planner.
  forbidden_by_policy,
};
std::string_view to_string(TriggerRule rule) noexcept;

enum class TriggerAction : std::uint8_t {
  migrate,     // Migrator::submit_migration(change(), cause)
  to_planner,  // the policy forbids the change: planner.h decides stay / resume / restart
  refused,     // a limit, the idle rule or no network: stay
};
std::string_view to_string(TriggerAction action) noexcept;

// Where to go.
enum class TargetKind : std::uint8_t {
  new_network,  // another local address (another interface or IP): Change::ip_change
  new_port,     // the same local address, a new source port: Change::port_only (RFC 9000 §9.3)
};
std::string_view to_string(TargetKind kind) noexcept;

struct TriggerTarget {
  TargetKind kind = TargetKind::new_network;
  unsigned ifindex = 0;  // the interface of `address`
  Endpoint address;      // new_network: the new local address (port 0); new_port: the current one
  friend bool operator==(const TriggerTarget &, const TriggerTarget &) = default;
};

struct TriggerDecision {
  MigrationCause cause;
  TriggerAction action;
  TriggerRule rule;
  std::optional<TriggerTarget> target;    // absent when no alternate network was found
  std::optional<Rule> policy_rule;        // level_allows()'s rule, when the policy was consulted
  std::optional<DegradingSignal> signal;  // for the path-degrading causes
  // The Change to hand to the Migrator (or the planner): new_port → port_only, else ip_change.
  Change change() const noexcept;
  friend bool operator==(const TriggerDecision &, const TriggerDecision &) = default;
};
// One log line: "network-disconnected: migrate to new-network if 3 198.18.2.2:0
// (rule allowed-by-policy, policy level-any)".
std::string to_string(const TriggerDecision &decision);

// What the trigger needs to know about the connection at the moment of a decision.
struct ConnectionView {
  Endpoint local;            // the connection's current local address
  unsigned ifindex = 0;      // its interface
  Level level = Level::any;  // the level of the server address the client talks to now
                             // (Policy::at(Migrator::current()); under the draft28/rfc9000
                             // semantics the caller passes none when 0x0c forbids migration)
  bool idle = false;         // no request outstanding
};

// The network state the trigger learnt from the events, one entry per interface.
struct InterfaceState {
  bool up = true;  // absent LinkDown, an interface with an address counts as up
  std::vector<Endpoint> addresses;
};

// Turns events, path samples and its timer into at most one TriggerDecision each.
//
// Per cause:
// - network_disconnected: AddressRemoved of the current local IP, or LinkDown of the current
//   interface; target: the best alternate network (below).
// - network_made_default: the default route of the connection's family moved to another
//   interface that has an address (DefaultRouteChanged), or that interface got its first
//   address / came up while it is the default and the connection is elsewhere.
// - write_error: a WriteError whose errno send_error_from() counts; target: an alternate network.
// - path_degrading / port_change_on_path_degrading: the DegradingDetector fired. On an `any`
//   address a better network (an alternate one) if one exists, else a new port; on `same-ip` a
//   new port (the only legal answer, RFC 9000 §9.3); on `none` even a port change is forbidden
//   (qamp's policy: `none` lets the client change nothing), so it goes to the planner.
// - migrate_back_to_default_network: the timer, max_time_on_non_default_network after the
//   connection was first seen off the default network, when the default network has an address.
// The alternate network: the default network of the family if it is up and has an address (not
// the current IP); else the lowest-ifindex other up interface with an address of the family; for
// network_disconnected by AddressRemoved and write_error, last, another IP on the current
// interface.
//
// Order of the rules for a wanted move: idle connection → refused (idle_connection); no target →
// refused (no_alternate_network); level_allows() says no → to_planner (forbidden_by_policy, not
// counted: the planner's new connection is not a migration); a limit reached → refused with
// the limit's rule; else migrate (counted).
class MigrationTrigger {
 public:
  explicit MigrationTrigger(NetworkEventConfig config = {});

  // Learns the event and decides; nullopt when it concerns nothing the connection uses.
  std::optional<TriggerDecision> on_event(const NetworkEvent &event, Timestamp now, const ConnectionView &view);
  // Feeds the DegradingDetector; a decision only on the sample that makes the path degrading.
  std::optional<TriggerDecision> on_path_sample(const PathSample &sample, Timestamp now, const ConnectionView &view);
  // A change asked for by the user (qamp-client --network-change, a lab's scripted move): cause
  // network_change (or user_request), `target` given. The same rules as an event's, except the
  // idle rule (an explicit request is not an idle connection's background move).
  TriggerDecision on_request(MigrationCause cause, const TriggerTarget &target, const ConnectionView &view);
  // The connection now uses `view` (a migration validated, or at start): resets the detector and
  // starts or stops the non-default-network clock.
  void on_path_changed(const ConnectionView &view, Timestamp now);
  // When on_timer() wants to be called: the migrate-back deadline, if one is armed.
  std::optional<Timestamp> next_deadline() const noexcept;
  // At or after next_deadline(): migrate_back_to_default_network (or its refusal); disarms the
  // deadline either way (on_path_changed re-arms it). nullopt before the deadline, when none is
  // armed, or when the connection is on the default network by now.
  std::optional<TriggerDecision> on_timer(Timestamp now, const ConnectionView &view);

  // Seeds the known state (the adapter dumps addresses and routes at start).
  void set_default_route(int family, unsigned ifindex);
  std::optional<unsigned> default_ifindex(int family) const noexcept;
  const std::map<unsigned, InterfaceState> &interfaces() const noexcept { return interfaces_; }

  unsigned migrations() const noexcept { return migrations_; }
  unsigned migrations(MigrationCause cause) const noexcept;
  unsigned port_migrations() const noexcept { return port_migrations_; }
  const NetworkEventConfig &config() const noexcept { return config_; }

 private:
  void learn(const NetworkEvent &event);
  // The first address of `family` on an up `ifindex`, other than `exclude`'s IP.
  std::optional<TriggerTarget> address_on(unsigned ifindex, int family, const Endpoint *exclude) const;
  // The alternate network (class comment); `same_interface_ok`: another IP on the current
  // interface will do (the current address went away, not the interface).
  std::optional<TriggerTarget> alternate(const ConnectionView &view, bool same_interface_ok) const;
  bool on_default(const ConnectionView &view) const noexcept;
  void track_default(const ConnectionView &view, Timestamp now);
  TriggerDecision decide(MigrationCause cause, std::optional<TriggerTarget> target, const ConnectionView &view,
                         std::optional<DegradingSignal> signal);

  NetworkEventConfig config_;
  DegradingDetector detector_;
  std::map<unsigned, InterfaceState> interfaces_;
  std::optional<unsigned> default_v4_;
  std::optional<unsigned> default_v6_;
  std::optional<Timestamp> off_default_since_;
  bool back_deadline_armed_ = false;
  unsigned migrations_ = 0;
  unsigned port_migrations_ = 0;
  std::array<unsigned, kAllMigrationCauses.size()> per_cause_{};
};

}  // namespace qamp
