// examples/client/quic_connection.h — the QUIC connection glue: one ngtcp2 client connection with
// its GnuTLS session (configured by qamp::configure_client_session, so the server's policy is
// decoded on the way in), the ngtcp2 callbacks, the read / write / expiry loop.
//
// Everything about streams goes to a StreamApp (the HTTP/3 session); everything about paths and
// the connection's life goes to a ConnectionObserver (the client, which hands path decisions to
// the migration adapter). This file decides nothing about policy.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "net.h"
#include "qamp/tls.h"
#include "sockets.h"
#include "stream_app.h"
#include "tls_creds.h"
#include "trace.h"

namespace qamp::client {

// The CONNECTION_CLOSE that ended a connection (RFC 9000 §19.19), whichever side sent it.
struct CloseError {
  bool by_peer = false;      // received from the server (else sent by this client)
  bool application = false;  // frame type 0x1d (an HTTP/3 code), else 0x1c (a transport code)
  std::uint64_t code = 0;
  std::string reason;  // the frame's reason phrase
};
// "TRANSPORT_PARAMETER_ERROR" for an RFC 9000 §20.1 transport code, "CRYPTO_ERROR (TLS alert 42)"
// for 0x100..0x1ff, "" when unknown; "H3_NO_ERROR"... for application codes nghttp3 knows.
std::string error_name(const CloseError &error);

struct CloseInfo {
  bool error = false;  // anything but a clean close
  bool idle_timeout = false;
  bool stateless_reset = false;
  std::string reason;                     // human readable
  std::optional<CloseError> close_error;  // set when a CONNECTION_CLOSE was sent or received
};

class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  virtual void on_handshake_completed() = 0;
  // RFC 9000 §9: no migration before the handshake is confirmed (HANDSHAKE_DONE received).
  virtual void on_handshake_confirmed() = 0;
  // ngtcp2's select_preferred_addr: set *dest (local from an open socket) or leave it empty.
  // Returns 0 or NGTCP2_ERR_CALLBACK_FAILURE.
  virtual int on_select_preferred_addr(ngtcp2_path *dest, const ngtcp2_preferred_addr &paddr) = 0;
  virtual void on_path_validation(std::uint32_t flags, const ngtcp2_path &path, const ngtcp2_path *old_path,
                                  bool success) = 0;
  // A datagram for this connection is about to be read; false drops it unread (the optional
  // "ignore a Stateless Reset on a probed path" hardening).
  virtual bool admit_datagram(const UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data) = 0;
  // The connection is over (closed by either side, idle, reset or failed). Called once, from the
  // event loop; the observer may destroy the connection only after returning (defer it).
  virtual void on_closed(const CloseInfo &info) = 0;
};

struct QuicConfig {
  Endpoint remote;
  UdpSocket *socket = nullptr;  // the local side of the first path
  std::string sni;
  common::ClientTrust trust;
  std::string verify_name;  // the name or IP the certificate must carry (empty with --insecure)
  SpellingSet policy_support = kAllSpellings;
  ngtcp2_duration idle_timeout = 30 * NGTCP2_SECONDS;
  std::uint64_t max_data = 24 * 1024 * 1024;
  std::uint64_t max_stream_data_bidi_local = 16 * 1024 * 1024;
  std::uint64_t max_stream_data_uni = 16 * 1024 * 1024;
  // Room for spare connection IDs: with ngtcp2's default of 2 a migration right after the move to
  // the preferred address finds none (NGTCP2_ERR_CONN_ID_BLOCKED).
  std::uint64_t active_connection_id_limit = 8;
  // Testing knob (--send-policy-support-raw): the 0x2d50 value sent verbatim.
  std::optional<Bytes> policy_support_raw;
  // --enforcement=native (patched ngtcp2): ngtcp2's own codec and enforcement, no qamp TP layer.
  bool native = false;
};

class QuicConnection final : public StreamHost {
 public:
  // Creates the connection and sends the first flight. nullptr with *error on failure.
  static std::unique_ptr<QuicConnection> connect(Sockets &sockets, Trace &trace, const QuicConfig &config,
                                                 ConnectionObserver &observer, std::string *error);
  ~QuicConnection() override;
  QuicConnection(const QuicConnection &) = delete;
  QuicConnection &operator=(const QuicConnection &) = delete;

  void set_app(StreamApp *app) noexcept override { app_ = app; }
  ngtcp2_conn *conn() const noexcept override { return conn_; }
  gnutls_session_t tls() const noexcept { return session_.get(); }
  // What the server's transport parameters said. Layer: qamp's decoding. Native: built from
  // ngtcp2's decoded remote parameters once they are known (nullptr before).
  const ClientTpState *tp_state() const noexcept;
  bool native() const noexcept { return native_; }
  const std::string &scid_hex() const noexcept { return scid_hex_; }
  bool closed() const noexcept { return closed_; }
  bool handshake_completed() const noexcept { return handshake_completed_; }

  // A datagram arrived on `socket` from `from`.
  void read(UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data);
  // Writes what ngtcp2 has to send and re-arms the expiry timer.
  void write();
  // Closes with H3_NO_ERROR (CONNECTION_CLOSE on the current path), then reports on_closed.
  void close(std::string reason);
  // Sets the application error for a failing callback (nghttp3 error -> H3 code).
  void set_app_error(std::uint64_t code) noexcept override;

  // The current path's endpoints.
  Endpoint local() const;
  Endpoint remote() const;

 private:
  QuicConnection(Sockets &sockets, Trace &trace, ConnectionObserver &observer);
  int init(const QuicConfig &config, std::string *error);
  int write_streams();
  int send_packet(const ngtcp2_path &path, std::span<const std::uint8_t> pkt);
  void arm_expiry();
  void on_expiry();
  void fail(int liberr, std::string reason);
  void finish(CloseInfo info);
  void write_close();

  friend struct Callbacks;

  Sockets &sockets_;
  Trace &trace_;
  ConnectionObserver &observer_;
  StreamApp *app_ = nullptr;
  common::Creds creds_;
  // GnuTLS keeps a pointer to the name to verify (gnutls_session_set_verify_cert): it must outlive
  // session_, so it is declared (and destroyed) before it.
  std::string verify_name_;
  common::Session session_;
  ngtcp2_crypto_conn_ref conn_ref_{};
  ngtcp2_conn *conn_ = nullptr;
  ngtcp2_ccerr ccerr_{};
  std::string scid_hex_;
  Timer expiry_;
  Timer resume_write_;
  bool handshake_completed_ = false;
  bool native_ = false;
  SpellingSet announced_ = 0;
  mutable std::optional<ClientTpState> native_state_;
  bool closed_ = false;
  bool got_stateless_reset_ = false;
  bool write_blocked_ = false;
  std::vector<std::uint8_t> pending_;  // a datagram the socket refused (EAGAIN)
  ngtcp2_path_storage pending_path_{};
};

}  // namespace qamp::client
