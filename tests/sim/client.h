// tests/sim/client.h — the client in the simulator: an ngtcp2 client with qamp's TLS glue whose
// migrations are carried out by qamp-client's own MigrationAdapter (examples/client/migration.cc,
// which asks qamp::Migrator), the simulator standing in for its host: the connection's facts,
// ngtcp2's migration calls and the sockets (owned local addresses), on the simulator's clock.
// A network change arrives as the real client's do (MigrationAdapter::network_changed) when
// enough of the response has arrived, or at the handshake's completion. It downloads one body
// over HTTP/3 with qamp-client's own H3Session (examples/client/h3_session.cc): GET `path`,
// then the response's body bytes are counted.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "h3_session.h"  // examples/client
#include "harness.h"
#include "migration.h"  // examples/client
#include "options.h"
#include "qamp/migrator.h"
#include "sim.h"
#include "summary.h"
#include "trace.h"

namespace qamp::sim {

// The client's local address changes (a new interface, a new network).
struct NetworkChange {
  std::uint64_t after_bytes = 0;  // when this much of the response arrived; 0: as the handshake
                                  // completes (the real client's --network-change 0s)
  Endpoint to;                    // the new local address
  bool old_path_usable = true;    // false: the old network is gone (nothing sent or received from
                                  // it; the client runs with --old-path-after-change drop)
};

struct ClientConfig {
  Endpoint local;
  Endpoint server;          // the handshake address
  MigratorConfig migrator;  // semantics, spa_family, ignore_reset_on_probe, use_preferred_address:
                            // the client options that set them
  std::optional<NetworkChange> change;
  ngtcp2_duration idle_timeout = 30 * NGTCP2_SECONDS;
  std::uint64_t seed = 2;
  std::string path = "/bytes/300000";  // what qamp-server generates: N pattern bytes
};

class Client : public Node {
 public:
  Client(EventQueue &queue, Network &net, ClientConfig config);
  ~Client() override;

  void start();  // sends the first Initial
  bool owns(const Endpoint &address) const override;
  void receive(const Datagram &d) override;

  bool complete() const noexcept { return complete_; }  // the whole response body, FIN included
  std::uint64_t received() const noexcept { return received_; }  // body bytes
  int status() const noexcept { return status_; }                // the response's :status, 0 before
  const Peer &peer() const noexcept;
  // Every Migrator decision in order (the adapter's tap), and nullptr before the Migrator exists.
  const std::vector<MigrationEvent> &decisions() const noexcept { return decisions_; }
  const Migrator *migrator() const noexcept { return adapter_.migrator(); }
  // What the adapter asked of the host besides the decisions ("initiate ...", "reconnect ...").
  const std::vector<std::string> &calls() const noexcept { return calls_; }
  // What qamp-client's summary would hold (the planner's record after a refusal among it).
  const client::RunRecord &run() const noexcept { return run_; }
  Endpoint local() const;   // the local address of ngtcp2's current path
  Endpoint remote() const;  // its remote address
  static client::StreamApp *app_of(void *user_data);  // ngtcp2's user_data: the HTTP/3 session

 private:
  struct State;
  // The adapter's Clock and Scheduler on the simulator's event queue.
  class Timers final : public client::Clock, public client::Scheduler {
   public:
    Timers(EventQueue &queue, Client &client) noexcept : queue_(queue), client_(client) {}
    ngtcp2_tstamp now() const override { return queue_.now(); }
    void arm(client::AdapterTimer id, ngtcp2_tstamp at) override;
    void cancel(client::AdapterTimer id) override { ++generation_[static_cast<std::size_t>(id)]; }

   private:
    EventQueue &queue_;
    Client &client_;
    std::array<std::uint64_t, client::kAdapterTimers> generation_{};
  };

  // The adapter's host: the connection's facts, ngtcp2's migration calls, the owned addresses.
  class Host final : public client::MigrationHost {
   public:
    explicit Host(Client &client) noexcept : c_(client) {}
    bool connection_open() override;
    Endpoint local() override { return c_.local(); }
    Endpoint remote() override { return c_.remote(); }
    const ClientTpState *tp_state() override;
    int initiate_migration(const Endpoint &local, const Endpoint &remote, bool immediate, ngtcp2_tstamp ts) override;
    std::vector<ResetToken> peer_reset_tokens() override;
    std::string native_migration_level() override { return "?"; }
    void write() override { c_.write(); }
    std::optional<Endpoint> open_socket(const Endpoint &local, std::string *error) override;
    bool has_socket(const Endpoint &local) override { return c_.owns(local); }
    void close_socket(const Endpoint &local) override;
    std::optional<Endpoint> route_source(const Endpoint &remote, std::string *error) override;
    void reconnect(std::optional<Endpoint> from, bool resume) override;
    PlannerInput transfer() override;

   private:
    Client &c_;
  };

  // The response, as qamp-client's downloads see theirs.
  class Sink final : public client::ResponseSink {
   public:
    explicit Sink(Client &client) noexcept : c_(client) {}
    void on_header(std::string_view name, std::string_view value) override;
    void on_headers_end() override {}
    void on_body(std::span<const std::uint8_t> data) override;
    void on_end_stream() override { c_.complete_ = true; }
    void on_stream_close(std::uint64_t) override {}

   private:
    Client &c_;
  };

  void write();
  void arm_timer();
  void start_http3();  // after the handshake: control streams, then the GET
  // inside_callback: called from ngtcp2's handshake_completed, which writes afterwards itself.
  void change_network(bool inside_callback = false);

  EventQueue &queue_;
  Network &net_;
  ClientConfig config_;
  Prng prng_;
  std::unique_ptr<State> state_;
  std::vector<Endpoint> owned_;  // local addresses the client has now (its "sockets")
  std::optional<NetworkChange> pending_change_;
  client::Options opts_;
  client::Trace trace_;
  client::RunRecord run_;
  Timers timers_;
  Host host_;
  client::MigrationAdapter adapter_;
  std::vector<MigrationEvent> decisions_;
  std::vector<std::string> calls_;
  Sink sink_{*this};
  std::unique_ptr<client::H3Session> h3_;
  std::uint64_t received_ = 0;
  int status_ = 0;
  std::optional<std::uint64_t> content_length_;
  std::string accept_ranges_, etag_, last_modified_;
  std::uint16_t next_port_ = 40001;  // for a socket bound to port 0
  ngtcp2_tstamp started_at_ = 0;
  bool complete_ = false;
  bool closed_ = false;
  std::uint64_t timer_generation_ = 0;
};

}  // namespace qamp::sim
