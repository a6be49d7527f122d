// tests/sim/server.h — one server instance in the simulator: qamp-server's own Server and
// Connection code (examples/server: the dispatcher, classify_datagram, the one Gate before
// ngtcp2_conn_read_pkt, the ResetGuard for unknown short headers, admission for new Initials,
// HTTP/3 with nghttp3 answering /bytes/N) on a ServerIo (server_io.h) made of the simulator's
// virtual clock and links: alarms are events on the EventQueue, datagrams go to the Network,
// randomness is seeded, digests are computed inline, log lines are kept for assertions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"
#include "qamp/admission.h"
#include "qamp/gate.h"
#include "qamp/policy.h"
#include "qamp/reset_guard.h"
#include "../../examples/server/server.h"
#include "sim.h"

namespace qamp::sim {

// The qamp-server options a scenario sets (ServerOptions and the cluster configuration are built
// from them as qamp-server's flags would).
struct ServerConfig {
  Endpoint handshake;                                 // the address clients connect to (<ADDR> <PORT>)
  std::optional<Endpoint> spa_v4;                     // --preferred-ipv4-addr
  Policy policy;                                      // --policy
  bool enforce = true;                                // --gate
  ResetGuardConfig reset;                             // its mode (--reset) and cluster (--instance-id, --quic-lb-*)
  AdmissionConfig admission{RetryMode::off};          // --retry, --max-connections, --max-half-open
  ngtcp2_duration idle_timeout = 3 * NGTCP2_SECONDS;  // --timeout (as the e2e cases: 3 s)
  std::uint64_t seed = 1;                             // CIDs, nonces and ngtcp2's randomness
  std::uint64_t secret_seed = 7;                      // --static-secret: one per cluster, so tokens verify anywhere
};

// A cluster instance's QUIC-LB configuration, as qamp-server's defaults: config rotation 0,
// 1-octet server ID `id`, 16-octet nonces (18-octet CIDs), plaintext or encrypted with a fixed key.
ClusterConfig quic_lb_cluster(std::uint8_t id, bool encrypted = false);

// What the scenarios assert on, read from the real server's ServerStats and its reset guard.
struct ServerCounters {
  std::uint64_t connections = 0;
  std::uint64_t resets_sent = 0;
  std::uint64_t refused = 0;  // admission refusals, all reasons
  std::uint64_t moves_to_preferred_address = 0;
  std::uint64_t migrations = 0;
};

class Server : public Node {
 public:
  Server(EventQueue &queue, Network &net, ServerConfig config);
  ~Server() override;

  bool owns(const Endpoint &address) const override;
  void receive(const Datagram &d) override;
  // SIGTERM: qamp-server's own shutdown (CONNECTION_CLOSE to every connection, the stats file's
  // figures final). Datagrams that arrive later find no socket, as after the process exits; alarms
  // already queued still fire, as libev's pending watchers do in the iteration that breaks.
  void shutdown();

  const Gate &gate() const noexcept { return server_->gate(); }
  const ResetGuard &reset_guard() const noexcept { return server_->reset_guard(); }
  const server::ServerStats &stats() const noexcept { return server_->stats(); }
  ServerCounters counters() const;
  // Every line qamp-server logged (with its "qamp-server: " prefix), in order.
  const std::vector<std::string> &log() const noexcept;

 private:
  class Io;
  std::unique_ptr<Io> io_;
  std::unique_ptr<server::Server> server_;
};

}  // namespace qamp::sim
