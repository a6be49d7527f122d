// examples/server/server.h — qamp-server's dispatcher: one socket per server address (handshake,
// preferred IPv4, preferred IPv6), connection lookup by CID, new connections, the server's one
// gate (shared by its connections, qamp/gate.h) and the stateless-reset guard for unknown CIDs.
// It owns no event loop and no file descriptor: a ServerIo (server_io.h) hands it datagrams and
// runs its alarms, libev's in qamp-server (ev_io.h), the simulator's in tests/sim.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <ngtcp2/ngtcp2.h>

#include "net.h"
#include "options.h"
#include "qamp/gate.h"
#include "qamp/quic_lb.h"
#include "qamp/reset_guard.h"
#include "request.h"  // LogLimiter
#include "server_io.h"
#include "stats.h"
#include "tls_creds.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

class Connection;

// The length of the CIDs the server issues outside cluster mode (in cluster mode: the QUIC-LB
// configuration's).
inline constexpr std::size_t kScidLen = 18;

// Cluster mode's QUIC-LB configuration and server ID from the options, reading --quic-lb-key's
// file: nullopt in *out outside cluster mode. False with *error naming the flag when the key
// file cannot be read or does not hold 32 hex digits.
bool load_cluster_config(const ServerOptions &options, std::optional<ClusterConfig> *out, std::string *error);

// What --workers' supervisor (workers.h) hands one worker: its sockets, already bound with
// SO_REUSEPORT and in the steering program's map, and the static secret all workers share (Retry
// tokens and reset tokens must verify on any worker). Empty: a single server binds its own
// sockets and reads --static-secret (or draws a random one).
struct WorkerSetup {
  std::optional<unsigned> index;     // log lines say "qamp-server[worker N]"
  std::map<ServerAddress, int> fds;  // for the I/O (EvServerIo, ev_io.h), which owns them
  std::vector<std::uint8_t> static_secret;
};

class Server {
 public:
  // `io` outlives the server.
  Server(ServerOptions options, std::optional<ClusterConfig> cluster, ServerIo &io, WorkerSetup worker = {});
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  // Opens the sockets, loads credentials (unless given) and the static secret. False with *error
  // on failure.
  bool start(std::string *error);
  // Credentials made elsewhere (the simulator's), borrowed, instead of --key/--cert's files.
  void use_credentials(gnutls_certificate_credentials_t creds) noexcept { borrowed_creds_ = creds; }
  // One datagram from `remote` on `s` (the I/O calls this for each datagram of a read batch).
  void receive(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data);
  // The read batch ended: the connections that read something write now (one burst answers many
  // ACKs, as ngtcp2's examples do).
  void end_batch();
  // SIGINT/SIGTERM: CONNECTION_CLOSE on every connection, stats flushed, loop stopped.
  void shutdown();
  void write_stats();

  // ---- used by connections ----
  const ServerOptions &options() const noexcept { return opts_; }
  ServerIo &io() const noexcept { return io_; }
  gnutls_certificate_credentials_t creds() const noexcept { return borrowed_creds_ ? borrowed_creds_ : creds_.get(); }
  ServerStats &stats() noexcept { return stats_; }
  const ServerStats &stats() const noexcept { return stats_; }
  const Gate &gate() const noexcept { return gate_; }
  const ResetGuard &reset_guard() const noexcept { return reset_guard_; }
  // The server's gate (qamp/gate.h: one per server) for a datagram of `conn`: the decision,
  // counted server-wide; the gate's observer hands the event to `conn` (Connection::on_gate_event)
  // before this returns.
  GateDecision admit_path(Connection &conn, const PathView &current, const PathView &incoming);
  std::optional<ServerAddress> role_of(const ngtcp2_addr &local) const;
  const Socket *socket_for(const ngtcp2_addr &local) const;
  // A new connection ID of cid_len() octets (a QUIC-LB CID with our server ID in cluster mode)
  // and its reset token (RFC 9000 §10.3.2: derived from the static secret and the CID, so
  // instances sharing the secret agree). False when the QUIC-LB nonce counter is exhausted
  // (logged: the cluster needs a new configuration).
  bool new_cid(ngtcp2_cid *cid, std::uint8_t *token);
  std::size_t cid_len() const noexcept;
  void associate(const ngtcp2_cid &cid, Connection *conn);
  void dissociate(const ngtcp2_cid &cid);
  void handshake_completed(const Connection *conn) { completed_.insert(conn); }
  void remove(Connection *conn);  // deferred delete
  void want_write(Connection *conn) { want_write_.insert(conn); }
  // Gate log lines of all connections together: a burst of 50, then 10 a second (a flood over
  // many connections must not flood the log either).
  TokenBucket &gate_log_budget() noexcept { return gate_log_budget_; }
  // Refused requests' log lines of all connections together (attacker-triggered): at most 20 at
  // once, then 10 a second.
  LogLimiter &refusal_log() noexcept { return refusal_log_; }
  void log(const std::string &line) const;    // decisions: always
  void debug(const std::string &line) const;  // chatter: not with -q

 private:
  void cleanup();  // deletes the connections remove() doomed, outside any of their calls
  void new_initial(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data);
  void send_retry(Socket &s, const Endpoint &remote, const ngtcp2_pkt_hd &hd);
  void unknown_short_header(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> dcid,
                            std::size_t datagram_len);
  // The reset guard's observer: one line per reset sent, suppressions of one reason the first 5
  // times and every 1000th (a flood must not flood the log too).
  void log_reset(const ResetEvent &ev) const;
  void forget_cids(const Connection *conn);  // erases every by_cid_ entry naming conn

  ServerOptions opts_;
  ServerIo &io_;
  WorkerSetup worker_;
  std::string log_prefix_;
  Creds creds_;
  gnutls_certificate_credentials_t borrowed_creds_ = nullptr;
  std::vector<std::uint8_t> static_secret_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::map<std::string, Connection *> by_cid_;  // key: raw CID bytes
  // by_cid_'s keys per connection, so that forgetting one connection costs its own CIDs (at most
  // ngtcp2's active limit plus the preferred address's), not a walk of every connection's.
  std::unordered_map<const Connection *, std::vector<std::string>> cids_of_;
  std::vector<std::unique_ptr<Connection>> conns_;
  // The connections in conns_ whose handshake completed: admission counts the half-open ones
  // (conns_.size() minus these) on every new Initial without walking conns_.
  std::unordered_set<const Connection *> completed_;
  std::vector<Connection *> doomed_;
  std::set<Connection *> want_write_;  // read something in this batch; written after it
  std::unique_ptr<Alarm> cleanup_;
  bool stopped_ = false;  // shutdown() ran: datagrams are ignored, the figures are final
  Gate gate_;
  // The connection whose datagram the gate is judging (set only inside admit_path): the gate's
  // observer is called synchronously from Gate::admit, and its event belongs to that connection.
  Connection *gate_client_ = nullptr;
  std::optional<QuicLbCidGenerator> cids_;  // cluster mode
  ResetGuard reset_guard_;
  // The datagram the reset guard is judging (set only inside unknown_short_header), for the
  // observer's log line: the event carries no addresses.
  const Socket *reset_socket_ = nullptr;
  const Endpoint *reset_remote_ = nullptr;
  TokenBucket gate_log_budget_{RateLimit{10, 50}};
  LogLimiter refusal_log_{10, 20};
  ServerStats stats_;
};

}  // namespace qamp::server
