// examples/client/migration.h — the thin adapter between the client's I/O and qamp's pure
// migration logic: qamp::Migrator (qamp/migrator.h) decides (including when a change waits and
// how often a refused start is retried), qamp::Planner (qamp/planner.h) plans, this file carries
// the decisions out on ngtcp2 and the sockets.
//
// It is the ONLY caller of ngtcp2_conn_initiate_migration / ..._immediate_migration (through
// MigrationHost). It answers ngtcp2's select_preferred_addr (the Migrator picks the family),
// feeds every path validation result back to the Migrator, and on a network change asks the
// Migrator; when that refuses, it asks the planner whether to stay on the old path, reconnect
// from the new address resuming with a Range request, or restart from zero. Every decision is
// one stderr line and a qlog event (the Migrator's observer and the planner call both go
// through Trace::decision), named by the Migrator's Outcome.
//
// Time and timers are arguments (STYLE.md): the adapter reads a Clock and arms a Scheduler; it
// owns no event loop, so tests drive it with a fake host, clock and scheduler.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <ngtcp2/ngtcp2.h>

#include "net.h"
#include "options.h"
#include "qamp/migrator.h"
#include "qamp/planner.h"
#include "qamp/reset_recognizer.h"
#include "qamp/tls.h"
#include "summary.h"
#include "trace.h"

namespace qamp::client {

// ngtcp2's clock (nanoseconds, the timestamps handed to ngtcp2_conn_*).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual ngtcp2_tstamp now() const = 0;
};

// The adapter's one-shot timers. Each runs work that must not happen inside an ngtcp2 callback
// (ngtcp2 tears its validation state down after path_validation returns) or later.
enum class AdapterTimer : std::uint8_t {
  validation_ended,  // hand a path validation result to the Migrator
  run_queued,        // run a change the Migrator queued (after the handshake confirmation)
  drop_old_path,     // close the old network's socket (--old-path-after-change drop)
  retry_start,       // start the validation again (MigratorConfig::start_retry_interval)
};
inline constexpr std::size_t kAdapterTimers = 4;

// Arms the adapter's timers; whoever implements it calls MigrationAdapter::on_timer(id) at `at`
// (or as soon as possible after it; `at` in the past means "next loop iteration", never from
// inside arm()). Arming an armed timer moves its deadline; cancel() of an idle one is a no-op.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void arm(AdapterTimer id, ngtcp2_tstamp at) = 0;
  virtual void cancel(AdapterTimer id) = 0;
};

// What the adapter asks of the client: the current connection's facts, ngtcp2's migration calls
// and the sockets, which are named by the local endpoint they are bound to.
class MigrationHost {
 public:
  virtual ~MigrationHost() = default;
  // false: no connection, or it is closed (nothing to migrate).
  virtual bool connection_open() = 0;
  // The current path of the connection.
  virtual Endpoint local() = 0;
  virtual Endpoint remote() = 0;
  // What the handshake learnt about the server's policy (nullptr: not yet).
  virtual const ClientTpState *tp_state() = 0;
  // ngtcp2_conn_initiate_migration (or ..._immediate_migration) from the socket bound to `local`;
  // ngtcp2's return value.
  virtual int initiate_migration(const Endpoint &local, const Endpoint &remote, bool immediate, ngtcp2_tstamp ts) = 0;
  // The Stateless Reset tokens of the peer's active connection IDs (ngtcp2_conn_get_active_dcid).
  virtual std::vector<ResetToken> peer_reset_tokens() = 0;
  // --enforcement=native: the level ngtcp2 applies on the current path ("none"...), "?" unknown.
  virtual std::string native_migration_level() = 0;
  // Sends what ngtcp2 has to send.
  virtual void write() = 0;
  // Binds a socket to `local` (port 0: any); the bound endpoint, or nullopt with *error.
  virtual std::optional<Endpoint> open_socket(const Endpoint &local, std::string *error) = 0;
  virtual bool has_socket(const Endpoint &local) = 0;
  virtual void close_socket(const Endpoint &local) = 0;
  // The local address the kernel would use towards `remote`, or nullopt with *error.
  virtual std::optional<Endpoint> route_source(const Endpoint &remote, std::string *error) = 0;
  // Abandons the current connection and opens a new one from the socket bound to `from` to the
  // handshake address; unfinished bodies resume with Range when `resume`, else restart from
  // zero. Deferred to the event loop (safe to call from inside ngtcp2 callbacks). No-op without
  // `from`.
  virtual void reconnect(std::optional<Endpoint> from, bool resume) = 0;
  // The transfer as the planner sees it (old path measured on the current connection).
  virtual PlannerInput transfer() = 0;
  // Use both networks at once (split.h, --split=on): open a second connection from `new_local`
  // while the current one keeps receiving, the split planner deciding. false: not possible for
  // this transfer (the reason is logged); the one-shot planner decides instead.
  virtual bool start_split(const Endpoint &new_local, const PlannerInput &in) {
    (void)new_local;
    (void)in;
    return false;
  }
};

// The Stateless Reset tokens of `conn`'s active connection IDs (ngtcp2_conn_get_active_dcid),
// for MigrationHost::peer_reset_tokens.
std::vector<ResetToken> active_reset_tokens(ngtcp2_conn *conn);

// Where ngtcp2 should validate the preferred address: the client's side and the server's.
struct PathChoice {
  Endpoint local;
  Endpoint remote;
};

class MigrationAdapter {
 public:
  MigrationAdapter(const Options &options, Trace &trace, RunRecord &run, MigrationHost &host, const Clock &clock,
                   Scheduler &scheduler);
  ~MigrationAdapter();
  MigrationAdapter(const MigrationAdapter &) = delete;
  MigrationAdapter &operator=(const MigrationAdapter &) = delete;

  // A (new) QUIC connection is starting: forget the previous connection's Migrator.
  void connection_started();
  // The handshake completed: the server's policy is known, the Migrator is created.
  void handshake_completed();
  // The handshake is confirmed: migrations may start (RFC 9000 §9).
  void handshake_confirmed();

  // ngtcp2's select_preferred_addr: the path to validate, or nullopt to stay.
  std::optional<PathChoice> select_preferred_addr();
  // ngtcp2's path_validation.
  void path_validated(std::uint32_t flags, const ngtcp2_path &path, const ngtcp2_path *old_path, bool success);
  // false: drop the datagram unread (a Stateless Reset on a path only being probed, when the
  // Migrator's ignore_reset_on_probe hardening says so). `local`: the socket it arrived on.
  bool admit_datagram(const Endpoint &local, const Endpoint &from, std::span<const std::uint8_t> data);

  // The client's network changed to `local` (port 0: any port; the current IP with port 0: a new
  // port), for `cause`: a NetworkFollower decision (network_follower.h), which --network-change
  // goes through too.
  void network_changed(const Endpoint &local, MigrationCause cause = MigrationCause::network_change);

  // The Scheduler's timer `id` fired.
  void on_timer(AdapterTimer id);

  // Totals over every connection of the run (a reconnect starts a new Migrator).
  MigratorStats migrator_stats() const;
  // The current connection's Migrator (nullptr before the handshake completed).
  const Migrator *migrator() const noexcept { return migrator_.get(); }
  // Also hands every Migrator decision to `tap` after logging it (the simulator's tests read
  // the decisions this way).
  void set_event_tap(std::function<void(const MigrationEvent &)> tap) { tap_ = std::move(tap); }

 private:
  // A path validation the adapter starts itself.
  struct Start {
    Endpoint local, remote;
    bool immediate = false;
  };

  void ensure_migrator();
  void on_event(const MigrationEvent &event);
  LocalInfo local_info(std::optional<Family> only = std::nullopt) const;
  std::optional<Endpoint> spa_endpoint(ServerAddress target) const;
  std::optional<Endpoint> socket_towards(const Endpoint &remote, std::string *error);
  void after_now(AdapterTimer id);

  // The network moved from old_local_ to new_local_: submit it to the Migrator (one log line).
  MigrationDecision submit_network_change(MigrationCause cause);
  void run_queued();
  void act(const MigrationDecision &decision);
  void initiate(Start start);
  void validation_ended(bool success);
  void plan_after_refusal(const std::string &refusal);
  bool native() const noexcept;
  void drop_old_path();

  const Options &opt_;
  Trace &trace_;
  RunRecord &run_;
  MigrationHost &host_;
  const Clock &clock_;
  Scheduler &scheduler_;

  // per connection
  std::unique_ptr<Migrator> migrator_;
  MigratorStats finished_stats_;  // of previous connections
  std::optional<Endpoint> spa_v4_, spa_v6_;
  std::optional<Start> probing_;                   // a validation started with initiate_migration
  bool network_move_ = false;                      // the running validation answers the network change
  std::optional<Start> retry_;                     // initiate() again at the retry_start timer
  std::optional<bool> validation_result_;          // for the validation_ended timer
  common::Json context_ = common::Json::object();  // addresses for the next decision line
  std::function<void(const MigrationEvent &)> tap_;

  // The last change's cause says the old path is gone (its address or link went away, sendmsg
  // fails on it, it stopped answering): an immediate migration, and a planner told so.
  bool old_path_gone_ = false;
  bool old_path_usable() const noexcept { return opt_.old_path == OldPath::keep && !old_path_gone_; }

  // the network change (once per run)
  std::optional<Endpoint> new_local_;  // the new network's socket
  Endpoint old_local_;
};

}  // namespace qamp::client
