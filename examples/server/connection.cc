// examples/server/connection.cc — the connection core: setup (ngtcp2, the GnuTLS session with
// qamp's transport-parameter glue, qlog), the read path (a datagram through the gate into
// ngtcp2_conn_read_pkt), errors, draining and close, the timer, connection IDs, and the ngtcp2
// callback trampolines. The write loop is in connection_write.cc, the gate / path / migration
// handling in connection_path.cc, HTTP/3 in connection_h3.cc.
#include "qamp/hex.h"
#include "connection.h"

#include <array>
#include <cinttypes>
#include <cstring>
#include <sys/stat.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "callback_barrier.h"
#include "qamp/tls.h"
#include "quic_callbacks.h"
#include "server.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

Connection *self(void *user_data) { return static_cast<Connection *>(user_data); }

ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return static_cast<ngtcp2_conn *>(ref->user_data); }

// ---- ngtcp2 callbacks: trampolines into Connection, each behind the exception barrier ----

int recv_stream_data(ngtcp2_conn *, uint32_t flags, int64_t stream_id, uint64_t, const uint8_t *data, size_t datalen,
                     void *user_data, void *) {
  return ngtcp2_barrier("recv_stream_data", [&] {
    return self(user_data)->on_stream_data(stream_id, {data, datalen}, flags & NGTCP2_STREAM_DATA_FLAG_FIN);
  });
}

int acked_stream_data_offset(ngtcp2_conn *, int64_t stream_id, uint64_t, uint64_t datalen, void *user_data, void *) {
  return ngtcp2_barrier("acked_stream_data_offset", [&] { return self(user_data)->on_acked(stream_id, datalen); });
}

int stream_close(ngtcp2_conn *, uint32_t flags, int64_t stream_id, uint64_t app_error_code, void *user_data, void *) {
  return ngtcp2_barrier("stream_close", [&] {
    return self(user_data)->on_stream_close(stream_id, app_error_code,
                                            flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET);
  });
}

int stream_reset(ngtcp2_conn *, int64_t stream_id, uint64_t, uint64_t app_error_code, void *user_data, void *) {
  return ngtcp2_barrier("stream_reset", [&] { return self(user_data)->on_stream_reset(stream_id, app_error_code); });
}

int stream_stop_sending(ngtcp2_conn *, int64_t stream_id, uint64_t app_error_code, void *user_data, void *) {
  return ngtcp2_barrier("stream_stop_sending",
                        [&] { return self(user_data)->on_stream_reset(stream_id, app_error_code); });
}

int extend_max_remote_streams_bidi(ngtcp2_conn *, uint64_t max_streams, void *user_data) {
  return ngtcp2_barrier("extend_max_remote_streams_bidi",
                        [&] { return self(user_data)->on_extend_max_remote_bidi(max_streams); });
}

int extend_max_stream_data(ngtcp2_conn *, int64_t stream_id, uint64_t, void *user_data, void *) {
  return ngtcp2_barrier("extend_max_stream_data",
                        [&] { return self(user_data)->on_extend_max_stream_data(stream_id); });
}

int handshake_completed(ngtcp2_conn *, void *user_data) {
  return ngtcp2_barrier("handshake_completed", [&] { return self(user_data)->on_handshake_completed(); });
}

int path_validation(ngtcp2_conn *, uint32_t flags, const ngtcp2_path *path, const ngtcp2_path *old_path,
                    ngtcp2_path_validation_result res, void *user_data) {
  return ngtcp2_barrier("path_validation",
                        [&] { return self(user_data)->on_path_validation(flags, path, old_path, res); });
}

// rand_ctx.native_handle is the Connection (init): ngtcp2's randomness from the server's I/O.
void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *ctx) {
  ngtcp2_barrier("rand", [&] { self(ctx->native_handle)->random({dest, destlen}); });
}

int get_new_connection_id(ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user_data) {
  return ngtcp2_barrier("get_new_connection_id", [&] { return self(user_data)->get_new_cid(cid, token, cidlen); });
}

int remove_connection_id(ngtcp2_conn *, const ngtcp2_cid *cid, void *user_data) {
  return ngtcp2_barrier("remove_connection_id", [&] {
    self(user_data)->remove_cid(cid);
    return 0;
  });
}

void qlog_write_cb(void *user_data, uint32_t flags, const void *data, size_t datalen) {
  ngtcp2_barrier("qlog_write", [&] { self(user_data)->qlog_write(data, datalen, flags); });
}

}  // namespace

// ---- connection core ----

Connection::Connection(Server &server) : server_(server) {}

Connection::~Connection() {
  cancel_digest_requests();
  if (log_suppressed_)
    server_.log("[" + id_ + "] " + std::to_string(log_suppressed_) + " more gate log lines suppressed");
  timer_.reset();
  writable_.reset();
  // nghttp3 first, then ngtcp2, while the streams whose bodies nghttp3 may point into still
  // exist; the TLS session and the qlog file outlive both (member order, connection.h).
  h3_.reset();
  conn_.reset();
}

bool Connection::init(const Socket &s, const Endpoint &remote, const ngtcp2_pkt_hd &hd, const ngtcp2_cid *retry_odcid) {
  auto &opts = server_.options();
  created_ = server_.io().now();

  auto cb = crypto_callbacks(true);
  cb.handshake_completed = handshake_completed;
  cb.recv_stream_data = recv_stream_data;
  cb.acked_stream_data_offset = acked_stream_data_offset;
  cb.stream_close = stream_close;
  cb.stream_reset = stream_reset;
  cb.stream_stop_sending = stream_stop_sending;
  cb.extend_max_remote_streams_bidi = extend_max_remote_streams_bidi;
  cb.extend_max_stream_data = extend_max_stream_data;
  cb.rand = rand_cb;
  cb.get_new_connection_id = get_new_connection_id;
  cb.remove_connection_id = remove_connection_id;
  cb.path_validation = path_validation;

  ngtcp2_cid scid;
  std::array<std::uint8_t, NGTCP2_STATELESS_RESET_TOKENLEN> token;
  if (!server_.new_cid(&scid, token.data())) return false;
  id_ = to_hex({scid.data, scid.datalen}).substr(0, 8);

  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = created_;
  settings.rand_ctx.native_handle = this;
  settings.max_tx_udp_payload_size = 1452;
  // A half-open connection (README "Security and robustness") lives at most this long.
  settings.handshake_timeout = 10 * NGTCP2_SECONDS;
  if (!opts.qlog_dir.empty()) {
    auto file = opts.qlog_dir + "/" + to_hex({scid.data, scid.datalen}) + ".sqlog";
    mkdir(opts.qlog_dir.c_str(), 0755);
    std::string error;
    if (qlog_.open(file, &error))
      settings.qlog_write = qlog_write_cb;
    else
      server_.log(error);
  }

  auto params = transport_params(hd, retry_odcid, token);
  if (!params) return false;

  auto local = s.local, peer = remote;
  ngtcp2_path path{local.addr(), peer.addr(), nullptr};
  ngtcp2_conn *conn = nullptr;
  int rv = ngtcp2_conn_server_new(&conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &*params, nullptr, this);
  if (rv != 0) {
    server_.log("ngtcp2_conn_server_new: " + std::string(ngtcp2_strerror(rv)));
    return false;
  }
  conn_.reset(conn);

  if (!setup_tls()) return false;

  server_.associate(scid, this);
  server_.associate(hd.dcid, this);  // the client's first DCID, until the handshake moves on
  timer_ = server_.io().alarm([this] { on_timer(); });
  writable_ = server_.io().alarm([this] { write(); });
  server_.debug("[" + id_ + "] new connection from " + remote.to_string() + " on " + s.local.to_string());
  return true;
}

std::optional<ngtcp2_transport_params> Connection::transport_params(
    const ngtcp2_pkt_hd &hd, const ngtcp2_cid *retry_odcid,
    const std::array<std::uint8_t, NGTCP2_STATELESS_RESET_TOKENLEN> &token) {
  auto &opts = server_.options();
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = 256 * 1024;
  params.initial_max_stream_data_bidi_remote = 256 * 1024;
  params.initial_max_stream_data_uni = 256 * 1024;
  params.initial_max_data = 1024 * 1024;
  params.initial_max_streams_bidi = 100;
  params.initial_max_streams_uni = 3;
  params.max_idle_timeout = opts.idle_timeout;
  params.active_connection_id_limit = 8;
  params.original_dcid = retry_odcid ? *retry_odcid : hd.dcid;
  params.original_dcid_present = 1;
  if (retry_odcid) {
    params.retry_scid = hd.dcid;  // the SCID of our Retry, which the client now uses as DCID
    params.retry_scid_present = 1;
  }
  params.stateless_reset_token_present = 1;
  std::copy(token.begin(), token.end(), params.stateless_reset_token);
  if (native()) {
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
    // Native enforcement: ngtcp2 gets the real policy, sends it (0x2d51) to clients that announce
    // support, derives 0x0c from the handshake level and drops forbidden path changes itself.
    // An empty --policy-spelling: a legacy RFC 9000 server (0x0c only), ngtcp2 enforces that.
    params.migration_policy_present = !opts.spellings.empty();
    params.migration_policy = to_ngtcp2(opts.policy);
    params.disable_active_migration = opts.policy.handshake != Level::any;
#endif
  } else {
    // The permissive view (DESIGN.md §4): ngtcp2 never sees 0x0c; qamp's gate enforces.
    params.disable_active_migration = 0;
  }
  if (opts.preferred_v4 || opts.preferred_v6) {
    auto &pa = params.preferred_addr;
    if (!server_.new_cid(&pa.cid, pa.stateless_reset_token)) return std::nullopt;
    if (opts.preferred_v4) {
      auto ep = *opts.preferred_v4;
      std::memcpy(&pa.ipv4, ep.sa(), sizeof pa.ipv4);
      pa.ipv4_present = 1;
    }
    if (opts.preferred_v6) {
      auto ep = *opts.preferred_v6;
      std::memcpy(&pa.ipv6, ep.sa(), sizeof pa.ipv6);
      pa.ipv6_present = 1;
    }
    params.preferred_addr_present = 1;
    server_.associate(pa.cid, this);
  }
  return params;
}

bool Connection::setup_tls() {
  auto &opts = server_.options();
  std::string err;
  session_ = make_session(true, server_.creds(), "", &err);
  if (!session_) {
    server_.log(err);
    return false;
  }
  ServerTpConfig tp;
  tp.policy = opts.policy;
  tp.preference = opts.spellings;
  // Called from inside GnuTLS (a C callback): the barrier keeps an exception out of it.
  tp.on_negotiated = [this](const ServerTpState &st) {
    ngtcp2_barrier("transport parameters negotiated", [&] { on_policy_negotiated(st); });
  };
  if (native()) {
    // ngtcp2 owns the transport parameters: its own codec, the real values.
    if (ngtcp2_crypto_gnutls_configure_server_session(session_.get()) != 0) {
      server_.log("ngtcp2_crypto_gnutls_configure_server_session failed");
      return false;
    }
  } else if (configure_server_session(session_.get(), tp) != 0) {
    server_.log("configure_server_session failed");
    return false;
  }
  // Both glue paths: a ClientHello without 0x39 is refused (RFC 9001 §8.2, issue 10 item 1).
  require_transport_params_extension(session_.get());
  conn_ref_.get_conn = get_conn;
  conn_ref_.user_data = conn_.get();
  gnutls_session_set_ptr(session_.get(), &conn_ref_);
  ngtcp2_conn_set_tls_native_handle(conn_.get(), session_.get());
  return true;
}

void Connection::on_datagram(const Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data) {
  if (closed_) return;
  if (draining_) return;
  auto now = server_.io().now();
  // The gate, before ngtcp2 sees the datagram (DESIGN.md §4): a drop sends nothing. With native
  // enforcement ngtcp2 has the last word, and the gate only classifies.
  bool forbidden = !pass_gate(s, remote, now);
  if (forbidden && !native()) return;

  auto local = s.local;
  auto peer = remote;
  ngtcp2_path path{local.addr(), peer.addr(), nullptr};
  ngtcp2_pkt_info pi{};
  int rv = ngtcp2_conn_read_pkt(conn_.get(), &path, &pi, data.data(), data.size(), now);
  settle_path_change(s, remote, forbidden);
  if (rv != 0) {
    if (handle_error(rv)) return;
  }
  // Written once after the whole read batch (Server::read_socket), not per datagram: one burst
  // answers many ACKs, as ngtcp2's examples do.
  server_.want_write(this);
}

bool Connection::handle_error(int rv) {
  switch (rv) {
    case NGTCP2_ERR_DRAINING: start_draining(); return true;
    case NGTCP2_ERR_DROP_CONN:
      server_.remove(this);
      closed_ = true;
      return true;
    case NGTCP2_ERR_RETRY:
    case NGTCP2_ERR_CRYPTO:
    default: break;
  }
  // qamp's codec reports NGTCP2_ERR_TRANSPORT_PARAM; ngtcp2's own decoder (native enforcement)
  // NGTCP2_ERR_MALFORMED_TRANSPORT_PARAM. Both close with TRANSPORT_PARAMETER_ERROR.
  if (rv == NGTCP2_ERR_TRANSPORT_PARAM || rv == NGTCP2_ERR_MALFORMED_TRANSPORT_PARAM)
    ++server_.stats().transport_parameter_errors;
  if (ccerr_.error_code == 0) {
    if (rv == NGTCP2_ERR_CRYPTO)
      ngtcp2_ccerr_set_tls_alert(&ccerr_, ngtcp2_conn_get_tls_alert(conn_.get()), nullptr, 0);
    else
      ngtcp2_ccerr_set_liberr(&ccerr_, rv, nullptr, 0);
  }
  server_.log("[" + id_ + "] closing: " + ngtcp2_strerror(rv) + " (error code 0x" + [&] {
    char b[24];
    std::snprintf(b, sizeof b, "%" PRIx64, ccerr_.error_code);
    return std::string(b);
  }() + ")");
  send_connection_close();
  server_.remove(this);
  return true;
}

void Connection::send_connection_close() {
  std::array<std::uint8_t, 1500> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  auto n = ngtcp2_conn_write_connection_close(conn_.get(), &ps.path, &pi, buf.data(), buf.size(), &ccerr_,
                                              server_.io().now());
  if (n > 0)
    if (auto *sock = server_.socket_for(ps.path.local))
      server_.io().send(*sock, Endpoint::of(ps.path.remote), {buf.data(), static_cast<std::size_t>(n)});
  closed_ = true;
}

void Connection::start_draining() {
  if (draining_) return;
  draining_ = true;
  timer_->arm(server_.io().now() + 3 * ngtcp2_conn_get_pto(conn_.get()));
}

void Connection::close_gracefully() {
  if (closed_ || draining_ || !conn_) return;
  if (h3_) nghttp3_conn_shutdown(h3_.get());
  ngtcp2_ccerr_set_application_error(&ccerr_, NGHTTP3_H3_NO_ERROR, nullptr, 0);
  send_connection_close();
}

void Connection::schedule_timer() {
  auto expiry = ngtcp2_conn_get_expiry(conn_.get());
  if (expiry == UINT64_MAX) {  // nothing to wait for (ngtcp2 always has its idle timer)
    timer_->cancel();
    return;
  }
  timer_->arm(expiry);
}

void Connection::on_timer() {
  if (draining_ || closed_) {
    closed_ = true;
    server_.remove(this);
    return;
  }
  int rv = ngtcp2_conn_handle_expiry(conn_.get(), server_.io().now());
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    server_.debug("[" + id_ + "] idle timeout");
    closed_ = true;
    server_.remove(this);
    return;
  }
  if (rv != 0) {
    handle_error(rv);
    return;
  }
  write();
}

int Connection::on_handshake_completed() {
  server_.debug("[" + id_ + "] handshake completed");
  server_.handshake_completed(this);
  if (native()) log_native_policy();
  return setup_http3() ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

int Connection::get_new_cid(ngtcp2_cid *cid, uint8_t *token, size_t cidlen) {
  // ngtcp2 asks for CIDs as long as the SCID we gave it: cid_len().
  if (cidlen != server_.cid_len() || !server_.new_cid(cid, token)) return NGTCP2_ERR_CALLBACK_FAILURE;
  server_.associate(*cid, this);
  return 0;
}

void Connection::remove_cid(const ngtcp2_cid *cid) { server_.dissociate(*cid); }

void Connection::random(std::span<std::uint8_t> out) { server_.io().random(out); }

// ---- qlog ----

void Connection::qlog_write(const void *data, size_t len, uint32_t flags) { qlog_.ngtcp2_write(data, len, flags); }

void Connection::qlog_event(std::string_view name, const Json &data) {
  if (!qlog_.is_open()) return;
  // Time in ms since the connection started, as ngtcp2's own records.
  qlog_.event(static_cast<double>(server_.io().now() - created_) / NGTCP2_MILLISECONDS, name, data);
}

}  // namespace qamp::server
