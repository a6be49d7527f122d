// examples/client/migration.h — the thin adapter between the client's I/O and qamp's pure
// migration logic: qamp::Migrator (qamp/migrator.h) decides, qamp::choose (qamp/planner.h)
// plans, this file carries the decisions out on ngtcp2 and the sockets.
//
// It is the ONLY caller of ngtcp2_conn_initiate_migration / ..._immediate_migration. It answers
// ngtcp2's select_preferred_addr (the Migrator picks the family), feeds every path validation
// result back to the Migrator, and on a network change asks the Migrator; when that refuses, it
// asks the planner whether to stay on the old path, reconnect from the new address resuming with
// a Range request, or restart from zero. Every decision is one stderr line and a qlog event
// (the Migrator's observer and the planner call both go through Trace::decision).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <ngtcp2/ngtcp2.h>

#include "options.h"
#include "qamp/migrator.h"
#include "qamp/planner.h"
#include "quic_connection.h"
#include "sockets.h"
#include "summary.h"
#include "trace.h"

namespace qamp::client {

// What the adapter asks of the client.
class MigrationHost {
 public:
  virtual ~MigrationHost() = default;
  virtual QuicConnection *connection() = 0;
  virtual UdpSocket *open_socket(const ex::Endpoint &local, std::string *error) = 0;
  virtual UdpSocket *find_socket(const ex::Endpoint &local) = 0;
  virtual void close_socket(UdpSocket *socket) = 0;
  // Abandons the current connection and opens a new one from `socket` to the handshake address;
  // unfinished bodies resume with Range when `resume`, else restart from zero. Deferred to the
  // event loop (safe to call from inside ngtcp2 callbacks).
  virtual void reconnect(UdpSocket *socket, bool resume) = 0;
  // The transfer as the planner sees it (old path measured on the current connection).
  virtual PlannerInput transfer() = 0;
  virtual struct ev_loop *loop() = 0;
};

class MigrationAdapter {
 public:
  MigrationAdapter(const Options &options, Trace &trace, RunRecord &run, MigrationHost &host);
  ~MigrationAdapter();

  // A (new) QUIC connection is starting: forget the previous connection's Migrator.
  void connection_started();
  // The handshake completed: the server's policy is known, the Migrator is created.
  void handshake_completed();
  // The handshake is confirmed: migrations may start (RFC 9000 §9).
  void handshake_confirmed();

  // ngtcp2's select_preferred_addr.
  int select_preferred_addr(ngtcp2_path *dest, const ngtcp2_preferred_addr &paddr);
  // ngtcp2's path_validation.
  void path_validated(std::uint32_t flags, const ngtcp2_path &path, const ngtcp2_path *old_path, bool success);
  // false: drop the datagram unread (a Stateless Reset on a path only being probed, when the
  // Migrator's ignore_reset_on_probe hardening says so).
  bool admit_datagram(const UdpSocket &socket, const ex::Endpoint &from, std::span<const std::uint8_t> data);

  // The client's network changed to `local` (--network-change fired).
  void network_changed(const ex::Endpoint &local);

  // Totals over every connection of the run (a reconnect starts a new Migrator).
  MigratorStats migrator_stats() const;

 private:
  void ensure_migrator();
  void on_event(const MigrationEvent &event);
  LocalInfo local_info(std::optional<Family> only = std::nullopt) const;
  std::optional<ex::Endpoint> spa_endpoint(ServerAddress target) const;
  UdpSocket *socket_towards(const ex::Endpoint &remote, std::string *error);

  // select_preferred_addr with a network change pending (RFC 9000 §9.6.3): validate the
  // preferred address from the new local address. false: not applicable, choose as usual.
  bool select_from_new_local(ngtcp2_path *dest);
  // The network moved from old_local_ to new_socket_: the Migrator's decision (one log line).
  MigrationDecision ask_network_change();
  void try_change();
  void act(const MigrationDecision &decision);
  // Starts a path validation (or an immediate switch) from `socket` to `remote`.
  void initiate(UdpSocket *socket, const ex::Endpoint &remote, bool immediate);
  void validation_ended(bool success);
  void plan_after_refusal(const std::string &refusal);
  bool native() const noexcept;
  // --enforcement=native: ngtcp2_conn_initiate_migration refused the path by the server's policy.
  void refused_by_ngtcp2(const ex::Endpoint &local, const ex::Endpoint &remote);
  void drop_old_path();

  const Options &opt_;
  Trace &trace_;
  RunRecord &run_;
  MigrationHost &host_;

  // per connection
  std::unique_ptr<Migrator> migrator_;
  bool confirmed_ = false;
  MigratorStats finished_stats_;  // of previous connections
  std::optional<ex::Endpoint> spa_v4_, spa_v6_;
  bool validating_by_migration_ = false;  // a validation we started with initiate_migration
  UdpSocket *probing_ = nullptr;          // its local socket
  ex::Endpoint probing_local_, probing_remote_;
  bool probing_immediate_ = false;
  bool network_move_ = false;             // the running validation answers the network change
  int retries_ = 0;
  std::unique_ptr<Timer> retry_;  // initiate() again after CONN_ID_BLOCKED / INVALID_STATE
  UdpSocket *retry_socket_ = nullptr;
  ex::Endpoint retry_remote_;
  bool retry_immediate_ = false;
  std::unique_ptr<Timer> deferred_;  // validation_ended() out of ngtcp2's callback
  bool deferred_success_ = false;
  std::unique_ptr<Timer> change_timer_;  // try_change() out of ngtcp2's callback
  std::unique_ptr<Timer> drop_timer_;    // drop_old_path() out of ngtcp2's callback
  Json context_ = Json::object();         // addresses for the next decision line

  // the network change (once per run)
  std::optional<ex::Endpoint> change_to_;  // requested, not yet acted on
  UdpSocket *new_socket_ = nullptr;
  ex::Endpoint old_local_;
};

}  // namespace qamp::client
