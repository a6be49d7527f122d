// qamp/migrator.h — the client's migration decisions (DESIGN.md §2, §4 "Client side").
//
// Sans-I/O: the Migrator never touches a socket, a clock or an ngtcp2_conn. The adapter tells it
// what happened (handshake completed, the network changed, a path validation ended, a Stateless
// Reset arrived) and gets back a MigrationDecision saying what to do: validate the preferred
// address, validate a new client path (ngtcp2_conn_initiate_migration), switch at once
// (ngtcp2_conn_initiate_immediate_migration), or nothing, with the reason. Whether a change is
// allowed is decided by client_may() in policy.h; this file adds the state around it.
//
// States: on_handshake_address → validating_preferred_address → on_preferred_address, and
// validating_migration while a client-initiated path is being validated (from either address).
// Around them: a change submitted before the handshake is confirmed or while a validation runs
// waits in a one-slot queue (submit_migration / run_queued), and a validation ngtcp2 cannot start
// yet is retried within MigratorConfig's budget (on_start_failed). Every answer is an Outcome.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "qamp/policy.h"

namespace qamp {

enum class Family : std::uint8_t { v4, v6 };
std::string_view to_string(Family family) noexcept;
// Accepts "v4", "v6".
std::optional<Family> parse_family(std::string_view text) noexcept;
// The preferred-address slot of a family: v4 → spa_v4, v6 → spa_v6.
ServerAddress spa_of(Family family) noexcept;

// Which preferred-address family the client uses (CLI --spa-family).
enum class SpaFamily : std::uint8_t {
  automatic,  // "auto": the current family, else the other one ("switch address families")
  v4,         // only the IPv4 preferred address
  v6,         // only the IPv6 preferred address
};
std::string_view to_string(SpaFamily family) noexcept;
// Accepts "auto", "v4", "v6".
std::optional<SpaFamily> parse_spa_family(std::string_view text) noexcept;

// The client's local addresses at the moment of a decision.
struct LocalInfo {
  Family current = Family::v4;  // family of the local address the connection uses now
  bool has_v4 = true;           // the client has a usable local IPv4 address
  bool has_v6 = false;          // the client has a usable local IPv6 address
  bool has(Family family) const noexcept { return family == Family::v4 ? has_v4 : has_v6; }
};

// Why choose_spa_family() picked a family or none.
enum class FamilyReason : std::uint8_t {
  same_family,                // auto: the current family is offered and the client has it
  switched_family,            // auto: the other family (the current one is not offered or not local)
  forced_family,              // v4/v6 forced, offered and local
  none_offered,               // the server offered no preferred address at all
  no_usable_family,           // auto: nothing offered that the client has a local address in
  forced_family_not_offered,  // forced family not in the server's preferred_address
  forced_family_not_local,    // forced family offered, but the client has no local address in it
};
std::string_view to_string(FamilyReason reason) noexcept;

struct FamilyChoice {
  std::optional<Family> family;
  FamilyReason reason;
  friend bool operator==(const FamilyChoice &, const FamilyChoice &) = default;
};

// Which preferred address to validate. A family is usable when the server offered it and the
// client has a local address in it; auto prefers the current family (no family switch, same
// routing) and falls back to the other one. RFC 9000 §9.6.1: the client chooses one of the
// offered addresses.
FamilyChoice choose_spa_family(bool offered_v4, bool offered_v6, const LocalInfo &local, SpaFamily preference) noexcept;

// What made the client consider a move (STYLE.md "Decisions with causes").
enum class MigrationCause : std::uint8_t {
  preferred_address_available,  // handshake completed and the server sent preferred_address
  network_change,               // the client's local address changed (new interface, new IP)
  user_request,                 // asked for explicitly, e.g. a port change from the CLI or a lab
  path_failed,                  // the current path stopped working
  // The operating system's events (network_events.h), named as QUICHE's MigrationCause names
  // them (quic_connection_migration_manager): each is decided by MigrationTrigger first.
  network_made_default,             // the default route moved to another network ("on network
                                    // made default")
  network_disconnected,             // the current network's address or link went away
  path_degrading,                   // the path degrades: move to a better network (level any)
  write_error,                      // sendmsg failed with a network errno (send_error_from)
  migrate_back_to_default_network,  // too long on a non-default network: back to the default
  port_change_on_path_degrading,    // the path degrades: new source port, same address
                                    // (RFC 9000 §9.3, QUICHE's port migration)
};
inline constexpr std::array<MigrationCause, 10> kAllMigrationCauses = {MigrationCause::preferred_address_available,
                                                                       MigrationCause::network_change,
                                                                       MigrationCause::user_request,
                                                                       MigrationCause::path_failed,
                                                                       MigrationCause::network_made_default,
                                                                       MigrationCause::network_disconnected,
                                                                       MigrationCause::path_degrading,
                                                                       MigrationCause::write_error,
                                                                       MigrationCause::migrate_back_to_default_network,
                                                                       MigrationCause::port_change_on_path_degrading};
std::string_view to_string(MigrationCause cause) noexcept;
// Accepts "preferred-address-available", "network-change", "user-request", "path-failed",
// "network-made-default", "network-disconnected", "path-degrading", "write-error",
// "migrate-back-to-default-network", "port-change-on-path-degrading".
std::optional<MigrationCause> parse_migration_cause(std::string_view text) noexcept;
// True when the cause moves the client to another local network (a new local IP): network_change,
// path_failed, network_made_default, network_disconnected, path_degrading, write_error,
// migrate_back_to_default_network. False for preferred_address_available (the server address
// changes, not the client's), user_request (the request says what) and
// port_change_on_path_degrading (same IP). The Migrator's RFC 9000 §9.6.3 redirect (validate the
// preferred address from the new local address) applies exactly to these causes.
bool changes_network(MigrationCause cause) noexcept;

enum class MigratorState : std::uint8_t {
  on_handshake_address,
  validating_preferred_address,
  on_preferred_address,
  validating_migration,  // a client-initiated path is being validated (from either address)
};
std::string_view to_string(MigratorState state) noexcept;

// What the adapter must do (or what just happened), with the reason in the name.
enum class Outcome : std::uint8_t {
  // Refusals: nothing to do.
  refused_by_policy,                // client_may() said no; MigrationDecision::rule says why
  refused_validation_in_progress,   // one path validation at a time
  refused_no_preferred_address,     // none offered, or no usable family (see family_reason)
  refused_preferred_disabled,       // MigratorConfig::use_preferred_address is false
  refused_preferred_already_tried,  // the preferred address was tried and failed: stay put
  // Actions.
  start_preferred_validation,         // validate `target` (a preferred address), RFC 9000 §9.6.1
  start_path_validation,              // validate the new client path, switch after success
                                      // (RFC 9000 §8.2.4, §9.6.1): ngtcp2_conn_initiate_migration
  start_immediate_migration,          // the old path is gone: switch now, validate afterwards
                                      // (ngtcp2_conn_initiate_immediate_migration)
  validate_preferred_from_new_local,  // RFC 9000 §9.6.3: on a network change before using the
                                      // preferred address, validate it from the new local address
                                      // instead of migrating on the handshake address
  fallback_other_family,              // the chosen preferred address failed; try the other once
  // Results of a path validation.
  moved_to_preferred_address,    // the preferred address validated: now on `target`
  migrated,                      // the client-initiated path validated: now on it
  validation_failed_stayed,      // the client-initiated path failed: stay on the old path
  settled_on_handshake_address,  // the preferred address(es) failed: stay on the handshake one
  no_validation_pending,         // a validation result arrived with nothing being validated
  // Stateless Reset hardening.
  ignored_reset_on_probe,  // a reset on a path only being probed was ignored
  // Deferrals (submit_migration): the change is queued, run_queued() runs it later.
  deferred_until_confirmed,         // RFC 9000 §9: no active migration before confirmation
  deferred_validation_in_progress,  // one path validation at a time: runs after this one ends
  // Starting the validation the last decision asked for (on_start_failed).
  retry_conn_id_blocked,      // no spare connection ID yet (NEW_CONNECTION_ID in flight)
  retry_invalid_state,        // ngtcp2 is not ready yet (a validation still tearing down)
  refused_by_ngtcp2,          // native enforcement: ngtcp2 refused by the server's policy
  impossible_address_family,  // the new local address cannot reach the server address
  gave_up_after_retries,      // MigratorConfig::start_retry_attempts used up
  start_failed,               // ngtcp2 refused to start it for another reason
};
std::string_view to_string(Outcome outcome) noexcept;
// True for the outcomes that ask the adapter to start a path validation or a switch.
bool starts_path(Outcome outcome) noexcept;
// True for the refusals (the refused_* outcomes): nothing to do, counted in MigratorStats::refused.
bool is_refusal(Outcome outcome) noexcept;

struct MigrationDecision {
  Outcome outcome;
  std::optional<Rule> rule;                   // the client_may() rule, when one was consulted
  std::optional<ServerAddress> target;        // the server address to validate / now talked to
  std::optional<FamilyReason> family_reason;  // when a preferred-address family was chosen
  friend bool operator==(const MigrationDecision &, const MigrationDecision &) = default;
};
// "start-path-validation (rule level-any, target spa-v4)" — one log line.
std::string to_string(const MigrationDecision &decision);

// The Migrator's knobs (STYLE.md: one config struct per component).
struct MigratorConfig {
  Semantics semantics = Semantics::per_address;  // how the server's policy is read (policy.h)
  SpaFamily spa_family = SpaFamily::automatic;   // which preferred address to validate
  // Hardening: ignore a Stateless Reset that arrives on a path that is only being probed
  // (a server that forbids the probe must not reset, RFC 9000 §9, §21.11; some still do).
  bool ignore_reset_on_probe = false;
  // Off: never leave the handshake address for the preferred one (RFC 9000 §9.6.1: a client
  // MAY use it); the policy of the handshake address then applies for the whole connection.
  bool use_preferred_address = true;
  // ngtcp2 cannot start a validation without a spare connection ID (CONN_ID_BLOCKED) and right
  // after another one ended (INVALID_STATE): the adapter tries again this many times, this far
  // apart (nanoseconds), before it gives up (on_start_failed).
  unsigned start_retry_attempts = 40;
  std::uint64_t start_retry_interval = 50'000'000;  // 50 ms
};

// Why ngtcp2 (or the adapter) could not start the validation a decision asked for.
enum class StartError : std::uint8_t {
  conn_id_blocked,          // NGTCP2_ERR_CONN_ID_BLOCKED
  invalid_state,            // NGTCP2_ERR_INVALID_STATE
  address_family_mismatch,  // the new local address is of another family than the server's
  other,                    // any other ngtcp2 error
};
std::string_view to_string(StartError error) noexcept;

// One event per decision, for logs and qlog.
struct MigrationEvent {
  MigrationCause cause;
  std::optional<Change> change;  // absent for preferred-address and reset decisions
  MigrationDecision decision;
  MigratorState before;
  MigratorState after;
};
// "network-change ip-change: refused-by-policy (rule level-none) [on-handshake-address]".
std::string to_string(const MigrationEvent &event);

struct MigratorStats {
  std::uint64_t attempted = 0;  // path validations started (including fallbacks and immediate)
  std::uint64_t refused = 0;    // requests answered with a refused_* outcome
  std::uint64_t succeeded = 0;  // validations that succeeded (preferred or client-initiated)
  std::uint64_t failed = 0;     // validations that failed
  std::uint64_t resets_ignored = 0;
  friend bool operator==(const MigratorStats &, const MigratorStats &) = default;
};

class Migrator {
 public:
  using Observer = std::function<void(const MigrationEvent &)>;

  // `policy` and the offered families come from the server's transport parameters.
  Migrator(MigratorConfig config, Policy policy, bool spa_offered_v4, bool spa_offered_v6);

  // Call at handshake completion (RFC 9000 §9.6.1: the client may validate the preferred address
  // once the handshake is confirmed). Chooses the family: start_preferred_validation with
  // `target`, or a refused_* outcome (the client stays on the handshake address).
  MigrationDecision on_preferred_address(const LocalInfo &local);

  // The client wants to change its local address. While still on the handshake address with an
  // untried preferred address, a network_change / path_failed becomes
  // validate_preferred_from_new_local (RFC 9000 §9.6.3) when `new_local` (default: the last
  // LocalInfo seen) reaches one. Otherwise client_may() decides: refused_by_policy, or
  // start_path_validation (old path usable) / start_immediate_migration (old path gone).
  // Change::move_to_spa is the same as on_preferred_address(new_local or the last LocalInfo).
  MigrationDecision request_migration(Change change, MigrationCause cause, bool old_path_usable = true,
                                      std::optional<LocalInfo> new_local = std::nullopt);

  // The path validation the last decision started has ended.
  //   preferred address: success → moved_to_preferred_address (current() is the SPA);
  //     failure → fallback_other_family once (auto only, when the other family is offered and
  //     local), then settled_on_handshake_address.
  //   client-initiated:  success → migrated; failure → validation_failed_stayed (for an
  //     immediate migration ngtcp2 falls back to the old path as well).
  MigrationDecision on_validation_result(bool success);

  // The adapter's entry for a change of the client's network (or a user request): the same
  // decision as request_migration(), except that it waits instead of refusing. Before
  // on_handshake_confirmed() it answers deferred_until_confirmed, while a path validation runs
  // deferred_validation_in_progress; either way the request is queued (a newer one replaces it:
  // the latest network is the one the client is on) and run_queued() runs it later.
  MigrationDecision submit_migration(Change change, MigrationCause cause, bool old_path_usable = true,
                                     std::optional<LocalInfo> new_local = std::nullopt);
  // HANDSHAKE_DONE arrived (RFC 9000 §9: active migration may start).
  void on_handshake_confirmed() noexcept { confirmed_ = true; }
  bool handshake_confirmed() const noexcept { return confirmed_; }
  bool has_queued() const noexcept { return queued_.has_value(); }
  // Runs the queued request (request_migration's decision) once the handshake is confirmed and
  // no validation runs; nullopt (the request stays queued, or there is none) otherwise.
  std::optional<MigrationDecision> run_queued();
  // ngtcp2 asks for the preferred address (select_preferred_addr) while a network change is
  // queued, possibly before the confirmation: RFC 9000 §9.6.3, the client validates the
  // preferred address from its new local address, so the move and the change are one
  // validation. Runs the queued request when that applies (validate_preferred_from_new_local);
  // nullopt and the queue unchanged when it does not (no usable preferred address from the new
  // network, or not a network change).
  std::optional<MigrationDecision> run_queued_with_preferred_address();

  // The validation the last decision asked for could not be started. CONN_ID_BLOCKED and
  // INVALID_STATE are retried (retry_*; the adapter tries again after start_retry_interval)
  // until start_retry_attempts are used up (gave_up_after_retries), except that with `native`
  // enforcement INVALID_STATE after the confirmation is ngtcp2 refusing by the server's policy
  // (refused_by_ngtcp2). The state does not change: for every outcome but retry_*, the adapter
  // ends the attempt with on_validation_result(false), which counts it as failed.
  MigrationDecision on_start_failed(StartError error, bool native);
  // The validation started: the next one gets a fresh retry budget.
  void on_started() noexcept { start_retries_ = 0; }

  // True only with ignore_reset_on_probe, while a path is being validated, for a reset that
  // did not arrive on the active path. Emits ignored_reset_on_probe when it returns true.
  bool should_ignore_stateless_reset(bool on_active_path);

  ServerAddress current() const noexcept { return current_; }
  MigratorState state() const noexcept { return state_; }
  // The address being validated, when state() is validating_preferred_address.
  std::optional<ServerAddress> pending_target() const noexcept { return pending_target_; }
  const MigratorStats &stats() const noexcept { return stats_; }
  const MigratorConfig &config() const noexcept { return config_; }
  const Policy &policy() const noexcept { return policy_; }

  void set_observer(Observer observer) { observer_ = std::move(observer); }

 private:
  MigrationDecision start_preferred(const LocalInfo &local, MigrationCause cause, std::optional<Change> change);
  MigrationDecision finish(MigrationCause cause, std::optional<Change> change, MigratorState before,
                           MigrationDecision decision);
  MigratorState resting_state() const noexcept;
  bool offered(Family family) const noexcept { return family == Family::v4 ? offered_v4_ : offered_v6_; }

  MigratorConfig config_;
  Policy policy_;
  bool offered_v4_;
  bool offered_v6_;
  MigratorState state_ = MigratorState::on_handshake_address;
  ServerAddress current_ = ServerAddress::handshake;
  std::optional<LocalInfo> local_;
  std::optional<ServerAddress> pending_target_;  // the preferred address being validated
  unsigned spa_tries_ = 0;                       // preferred addresses tried (fallback: at most 2)
  bool spa_failed_ = false;                      // tried and given up: settled on the handshake address
  struct Request {
    Change change;
    MigrationCause cause;
    bool old_path_usable;
    std::optional<LocalInfo> new_local;
  };
  bool validating() const noexcept {
    return state_ == MigratorState::validating_preferred_address || state_ == MigratorState::validating_migration;
  }

  bool confirmed_ = false;
  std::optional<Request> queued_;  // submit_migration() waiting for run_queued()
  unsigned start_retries_ = 0;     // retries of the current start (on_start_failed)
  MigrationCause pending_cause_ = MigrationCause::preferred_address_available;
  std::optional<Change> pending_change_;
  MigratorStats stats_;
  Observer observer_;
};

}  // namespace qamp
