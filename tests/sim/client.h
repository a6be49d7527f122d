// tests/sim/client.h — the client in the simulator: an ngtcp2 client with qamp's TLS glue whose
// migrations are decided by qamp::Migrator, the way examples/client/migration.cc drives it (the
// Migrator is made from the server's transport parameters at the first need; select_preferred_addr
// asks it; a network change waits for the handshake confirmation, RFC 9000 §9, and for a running
// validation; a change before the move becomes the preferred address validated from the new
// local address, RFC 9000 §9.6.3). It downloads one stream: a one-octet request, then whatever
// the server answers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"
#include "qamp/migrator.h"
#include "sim.h"

namespace qamp::sim {

// The client's local address changes (a new interface, a new network).
struct NetworkChange {
  std::uint64_t after_bytes = 0;  // when this much of the response arrived; 0: at the start
  Endpoint to;                    // the new local address
  bool old_path_usable = true;    // false: the old network is gone (nothing sent or received)
};

struct ClientConfig {
  Endpoint local;
  Endpoint server;  // the handshake address
  MigratorConfig migrator;
  std::optional<NetworkChange> change;
  ngtcp2_duration idle_timeout = 30 * NGTCP2_SECONDS;
  std::uint64_t seed = 2;
};

class Client : public Node {
 public:
  Client(EventQueue &queue, Network &net, ClientConfig config);
  ~Client() override;

  void start();  // sends the first Initial
  bool owns(const Endpoint &address) const override;
  void receive(const Datagram &d) override;

  bool complete() const noexcept { return complete_; }  // the whole response, FIN included
  std::uint64_t received() const noexcept { return received_; }
  const Peer &peer() const noexcept;
  // Every Migrator decision in order (its observer), and nullptr before the Migrator exists.
  const std::vector<MigrationEvent> &decisions() const noexcept { return decisions_; }
  const Migrator *migrator() const noexcept { return migrator_.get(); }
  // What the adapter did besides the Migrator's decisions ("network change waits for ...").
  const std::vector<std::string> &notes() const noexcept { return notes_; }
  Endpoint local() const;   // the local address of ngtcp2's current path
  Endpoint remote() const;  // its remote address

 private:
  struct State;
  void write();
  void arm_timer();
  void ensure_migrator();
  MigrationDecision ask(const NetworkChange &change);
  void take_address(const NetworkChange &change);
  int select_preferred_addr(ngtcp2_path *dest);
  void try_change();
  void validation_ended(bool success);

  EventQueue &queue_;
  Network &net_;
  ClientConfig config_;
  Prng prng_;
  std::unique_ptr<State> state_;
  std::vector<Endpoint> owned_;  // local addresses the client has now
  std::optional<NetworkChange> pending_change_;
  std::optional<Endpoint> spa_v4_;
  std::unique_ptr<Migrator> migrator_;
  std::vector<MigrationEvent> decisions_;
  std::vector<std::string> notes_;
  OutgoingStream request_;
  std::uint64_t received_ = 0;
  bool complete_ = false;
  bool closed_ = false;
  bool validating_migration_ = false;  // a client-initiated path is being validated
  std::uint64_t timer_generation_ = 0;
};

}  // namespace qamp::sim
