// examples/server/connection.h — one QUIC connection of qamp-server: ngtcp2 + the GnuTLS session
// configured by qamp (transport-parameter policy), the server's gate in front of
// ngtcp2_conn_read_pkt, and the HTTP/3 session (nghttp3) serving `respond()`.
//
// One class, implemented by responsibility: connection.cc (core: setup, read path, errors and
// close, timer, CIDs, ngtcp2 trampolines), connection_write.cc (the write loop),
// connection_path.cc (gate, path changes, migration, policy negotiation), connection_h3.cc
// (HTTP/3 glue and nghttp3 trampolines).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "handles.h"
#include "json.h"
#include "net.h"
#include "qamp/gate.h"
#include "qamp/reset_guard.h"  // TokenBucket
#include "qamp/tls.h"          // ServerTpState
#include "qlog.h"
#include "response.h"
#include "server_io.h"
#include "tls_creds.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

class Server;

class Connection {
 public:
  explicit Connection(Server &server);
  ~Connection();
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  // Sets up a server connection for the client Initial `hd` received on `s` from `remote`.
  // `retry_odcid`: the DCID of the client's first Initial when `hd` carried our valid Retry
  // token (RFC 9000 §7.3: original_destination_connection_id and retry_source_connection_id).
  bool init(const Socket &s, const Endpoint &remote, const ngtcp2_pkt_hd &hd, const ngtcp2_cid *retry_odcid = nullptr);
  // A datagram for this connection: the gate decides, then ngtcp2 reads it and we write.
  void on_datagram(const Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data);
  // Graceful close (server shutdown): CONNECTION_CLOSE with H3_NO_ERROR.
  void close_gracefully();
  std::string id() const { return id_; }
  // Writes what ngtcp2 and nghttp3 have to send, in GSO batches (at most one send quantum).
  void write();

  // ---- callbacks (public for the C trampolines) ----
  int on_stream_data(int64_t stream_id, std::span<const std::uint8_t> data, bool fin);
  int on_acked(int64_t stream_id, uint64_t datalen);
  void on_consumed(int64_t stream_id, uint64_t n);  // flow-control credit back
  int on_stream_close(int64_t stream_id, uint64_t app_error_code, bool has_code);
  int on_stream_reset(int64_t stream_id, uint64_t app_error_code);
  int on_extend_max_remote_bidi(uint64_t max_streams);
  int on_extend_max_stream_data(int64_t stream_id);
  int on_handshake_completed();
  int on_path_validation(uint32_t flags, const ngtcp2_path *path, const ngtcp2_path *old_path,
                         ngtcp2_path_validation_result res);
  int get_new_cid(ngtcp2_cid *cid, uint8_t *token, size_t cidlen);
  void remove_cid(const ngtcp2_cid *cid);
  // HTTP/3
  int h3_recv_header(int64_t stream_id, std::string_view name, std::string_view value);
  int h3_end_headers(int64_t stream_id);
  nghttp3_ssize h3_read_data(int64_t stream_id, nghttp3_vec *vec, size_t veccnt, uint32_t *flags);
  int h3_stream_close(int64_t stream_id);
  int h3_acked(int64_t stream_id, uint64_t datalen);
  // nghttp3 refuses a stream (a malformed request: H3_MESSAGE_ERROR and the like): abort that
  // direction at the QUIC level with its code, so the peer learns and the slot comes back.
  int h3_stop_sending(int64_t stream_id, uint64_t app_error_code);
  int h3_reset_stream(int64_t stream_id, uint64_t app_error_code);
  void random(std::span<std::uint8_t> out);  // ngtcp2's rand: the server I/O's CSPRNG
  void qlog_write(const void *data, size_t len, uint32_t flags);
  void qlog_event(std::string_view name, const Json &data);
  // The server's gate observer, for a datagram of this connection (Server::admit_path): drops are
  // logged here (the gate counted them); an accepted change waits for settle_path_change.
  void on_gate_event(const GateEvent &ev);

 private:
  struct Stream {
    std::string method, path, range, if_range, authority;
    std::size_t header_bytes = 0;    // RFC 9114 §4.2.2 size of the field section so far
    bool headers_too_large = false;  // above kMaxFieldSection: answered 431, nothing stored
    bool awaiting_digest = false;    // response built, header section waits for its SHA-256
    Response response;
    std::uint64_t sent = 0;  // body bytes handed to nghttp3
  };
  // Sends the header section (and the data reader) of `stream_id`'s response.
  int submit_response(int64_t stream_id, Stream &st);
  // The digest a stream waited for is ready (on the loop, from the digest worker).
  void on_digest_ready(int64_t stream_id, const std::string &hex);
  void log_refusal(const Stream &st, int status, const std::string &why);

  // Our transport parameters for the client Initial `hd` (init's arguments); with preferred
  // addresses, also that address's CID, associated with this connection. nullopt when no CID
  // could be issued (Server::new_cid).
  std::optional<ngtcp2_transport_params> transport_params(
      const ngtcp2_pkt_hd &hd, const ngtcp2_cid *retry_odcid,
      const std::array<std::uint8_t, NGTCP2_STATELESS_RESET_TOKENLEN> &token);
  // The GnuTLS session: qamp's transport-parameter glue (layer) or ngtcp2's (native).
  bool setup_tls();
  bool setup_http3();
  bool handle_error(int liberr);
  // One datagram with CONNECTION_CLOSE (ccerr_) on the current path; then closed_.
  void send_connection_close();
  void start_draining();
  void schedule_timer();
  void on_timer();
  void cancel_digest_requests();  // the digest worker must not call back a deleted connection
  // The server's gate for this datagram; false when it is forbidden. Traces the first datagram
  // on a new accepted path (qamp:path_datagram).
  bool pass_gate(const Socket &s, const Endpoint &remote, ngtcp2_tstamp now);
  // After ngtcp2 read the datagram: a forbidden one is cross-checked (native), an accepted change
  // is counted and logged if ngtcp2 took the path, else counted as not taken.
  void settle_path_change(const Socket &s, const Endpoint &remote, bool forbidden);
  void on_policy_negotiated(const ServerTpState &st);  // qamp's glue chose the spelling
  void log_native_policy();                            // native enforcement: what ngtcp2 sent, at handshake completion
  // One gate log line and its qlog event, within the per-connection and server-wide budgets;
  // false when suppressed (counted, summarised in the next line that goes out).
  bool log_gate(const GateEvent &ev);
  // Puts the event's path in the ring of recent paths; false when it is there already.
  bool remember_path(const GateEvent &ev);
  bool native() const noexcept;
  // With native enforcement: after ngtcp2 read a datagram the gate calls forbidden, checks that
  // ngtcp2 did not take its path (counts and logs a disagreement).
  void check_native_drop(const Socket &s, const Endpoint &remote);

  Server &server_;
  // The destructor frees h3_ then conn_ explicitly; the TLS session ngtcp2 uses and the qlog
  // file ngtcp2 may still write to are declared before them, so they are destroyed after.
  QlogFile qlog_;
  Session session_;
  NgtcpConn conn_;
  ngtcp2_crypto_conn_ref conn_ref_{};
  Nghttp3Conn h3_;
  std::map<int64_t, std::unique_ptr<Stream>> streams_;
  ngtcp2_ccerr ccerr_{};
  std::unique_ptr<Alarm> timer_;     // ngtcp2's expiry, or the end of draining
  std::unique_ptr<Alarm> writable_;  // the socket can take pending_ again
  std::string id_;
  ngtcp2_tstamp created_ = 0;
  std::unique_ptr<std::uint8_t[]> tx_;  // GSO batch buffer (kMaxBatch packets in write())
  std::size_t tx_size_ = 0;
  // A batch the socket could not take (EAGAIN): sent first when the socket is writable again.
  struct Pending {
    const Socket *socket = nullptr;
    Endpoint remote;
    std::vector<std::uint8_t> data;
    std::size_t gso_size = 0;
  };
  std::optional<Pending> pending_;
  bool asked_digest_ = false;  // cancel_digest_requests has something to cancel
  // The last few forbidden paths already logged (a probe is many datagrams): 1, server address, the
  // client's sockaddr bytes (sockaddr_in6 at most). A fixed ring: datagrams from spoofed source
  // addresses cannot grow it (issue 10 item 6); a path pushed out is logged again, within budget.
  using PathKey = std::array<std::uint8_t, 2 + sizeof(sockaddr_in6)>;
  static constexpr std::size_t kRecentPaths = 8;
  std::array<PathKey, kRecentPaths> recent_paths_{};
  std::size_t recent_next_ = 0, recent_used_ = 0;
  // Gate log lines of this connection: a burst of 10, then one a second.
  TokenBucket log_budget_{RateLimit{1, 10}};
  std::uint64_t log_suppressed_ = 0;  // since the last line that went out
  // An accepted change of path, counted and logged only once ngtcp2 has taken the path.
  std::optional<GateEvent> pending_change_;
  bool moved_to_spa_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace qamp::server
