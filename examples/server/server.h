// examples/server/server.h — qamp-server's sockets and dispatcher: one UDP socket per server
// address (handshake, preferred IPv4, preferred IPv6), connection lookup by CID, new
// connections, the server's one gate (shared by its connections, qamp/gate.h) and the
// stateless-reset guard for unknown CIDs.
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

#include <ev.h>
#include <ngtcp2/ngtcp2.h>

#include "net.h"
#include "options.h"
#include "qamp/gate.h"
#include "qamp/quic_lb.h"
#include "qamp/reset_guard.h"
#include "stats.h"
#include "tls_creds.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

class Connection;
class Server;

struct Socket {
  int fd = -1;
  Endpoint local;
  ServerAddress role = ServerAddress::handshake;
  ev_io watcher{};
  Server *server = nullptr;
};

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
  std::map<ServerAddress, int> fds;  // owned by the Server from construction on
  std::vector<std::uint8_t> static_secret;
};

class Server {
 public:
  Server(ServerOptions options, std::optional<ClusterConfig> cluster, struct ev_loop *loop, WorkerSetup worker = {});
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  // Binds the sockets, loads credentials and the static secret. False with *error on failure.
  bool start(std::string *error);
  // SIGINT/SIGTERM: CONNECTION_CLOSE on every connection, stats flushed, loop stopped.
  void shutdown();
  void write_stats();

  // ---- used by connections ----
  const ServerOptions &options() const noexcept { return opts_; }
  struct ev_loop *loop() const noexcept {
    return loop_;
  }
  gnutls_certificate_credentials_t creds() const noexcept { return creds_.get(); }
  ServerStats &stats() noexcept { return stats_; }
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
  // Sends `data` to `remote`; with gso_size > 0 it is several packets of that size (the last
  // may be shorter) sent in one UDP_SEGMENT call, split per packet where GSO is unavailable.
  // Returns 0 when sent (or dropped on a hard error, logged), kBlocked when the socket buffer
  // is full: the caller keeps the data and retries when the socket is writable.
  static constexpr int kBlocked = 1;
  int send(const Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data, std::size_t gso_size = 0);
  // Gate log lines of all connections together: a burst of 50, then 10 a second (a flood over
  // many connections must not flood the log either).
  TokenBucket &gate_log_budget() noexcept { return gate_log_budget_; }
  void log(const std::string &line) const;    // decisions: always
  void debug(const std::string &line) const;  // chatter: not with -q

 private:
  static void on_readable(struct ev_loop *, ev_io *w, int);
  static void on_cleanup(struct ev_loop *, ev_idle *w, int);
  void read_socket(Socket &s);
  void dispatch(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data);
  void new_initial(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data);
  void send_retry(Socket &s, const Endpoint &remote, const ngtcp2_pkt_hd &hd);
  void unknown_short_header(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> dcid,
                            std::size_t datagram_len);
  // The reset guard's observer: one line per reset sent, suppressions of one reason the first 5
  // times and every 1000th (a flood must not flood the log too).
  void log_reset(const ResetEvent &ev) const;
  void forget_cids(const Connection *conn);  // erases every by_cid_ entry naming conn

  ServerOptions opts_;
  struct ev_loop *loop_;
  WorkerSetup worker_;
  std::string log_prefix_;
  Creds creds_;
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
  ev_idle cleanup_{};
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
  bool gso_ok_ = true;
  ServerStats stats_;
};

}  // namespace qamp::server
