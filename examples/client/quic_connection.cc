#include "qamp/hex.h"
#include "quic_connection.h"

#include "callback_barrier.h"

#include "enforcement.h"
#include "quic_callbacks.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>

#include <arpa/inet.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace qamp::client {

namespace {

constexpr std::size_t kMaxPacketsPerWrite = 64;
constexpr std::size_t kScidLen = 17;
constexpr std::size_t kDcidLen = 18;

std::string ccerr_text(const ngtcp2_ccerr &e) {
  std::string kind;
  switch (e.type) {
    case NGTCP2_CCERR_TYPE_TRANSPORT: kind = "transport"; break;
    case NGTCP2_CCERR_TYPE_APPLICATION: kind = "application"; break;
    case NGTCP2_CCERR_TYPE_VERSION_NEGOTIATION: kind = "version negotiation"; break;
    case NGTCP2_CCERR_TYPE_IDLE_CLOSE: kind = "idle close"; break;
    case NGTCP2_CCERR_TYPE_DROP_CONN: kind = "drop"; break;
    case NGTCP2_CCERR_TYPE_RETRY: kind = "retry"; break;
  }
  char code[32];
  std::snprintf(code, sizeof code, "0x%llx", static_cast<unsigned long long>(e.error_code));
  std::string s = kind + " error " + code;
  if (e.reasonlen) s += " \"" + std::string(reinterpret_cast<const char *>(e.reason), e.reasonlen) + "\"";
  return s;
}

// Replaces (or appends) migration_policy_support (0x2d50) in an outgoing client blob with `raw`.
void put_raw_policy_support(Bytes &blob, const Bytes &raw) {
  auto params = parse_params(blob);
  if (!params) return;  // ngtcp2's own encoding: cannot happen
  auto it =
      std::find_if(params->begin(), params->end(), [](const RawParam &p) { return p.id == kTpMigrationPolicySupport; });
  if (it != params->end())
    it->value = raw;
  else
    params->push_back(RawParam{kTpMigrationPolicySupport, raw});
  blob = serialize_params(*params);
}

CloseError close_error_of(const ngtcp2_ccerr &e, bool by_peer) {
  CloseError c;
  c.by_peer = by_peer;
  c.application = e.type == NGTCP2_CCERR_TYPE_APPLICATION;
  c.code = e.error_code;
  c.reason.assign(reinterpret_cast<const char *>(e.reason), e.reasonlen);
  return c;
}

// A clean end: NO_ERROR at either layer.
bool clean(const ngtcp2_ccerr &e) {
  return (e.type == NGTCP2_CCERR_TYPE_TRANSPORT && e.error_code == NGTCP2_NO_ERROR) ||
         (e.type == NGTCP2_CCERR_TYPE_APPLICATION && e.error_code == NGHTTP3_H3_NO_ERROR);
}

}  // namespace

std::string error_name(const CloseError &error) {
  if (error.application) {
    // nghttp3 names HTTP/3 codes only through its liberr mapping; the common ones by hand.
    switch (error.code) {
      case NGHTTP3_H3_NO_ERROR: return "H3_NO_ERROR";
      case NGHTTP3_H3_GENERAL_PROTOCOL_ERROR: return "H3_GENERAL_PROTOCOL_ERROR";
      case NGHTTP3_H3_INTERNAL_ERROR: return "H3_INTERNAL_ERROR";
      case NGHTTP3_H3_CLOSED_CRITICAL_STREAM: return "H3_CLOSED_CRITICAL_STREAM";
      case NGHTTP3_H3_FRAME_UNEXPECTED: return "H3_FRAME_UNEXPECTED";
      case NGHTTP3_H3_FRAME_ERROR: return "H3_FRAME_ERROR";
      case NGHTTP3_H3_ID_ERROR: return "H3_ID_ERROR";
      case NGHTTP3_H3_SETTINGS_ERROR: return "H3_SETTINGS_ERROR";
      case NGHTTP3_H3_MISSING_SETTINGS: return "H3_MISSING_SETTINGS";
      case NGHTTP3_H3_REQUEST_REJECTED: return "H3_REQUEST_REJECTED";
      case NGHTTP3_H3_REQUEST_CANCELLED: return "H3_REQUEST_CANCELLED";
      default: return "";
    }
  }
  // RFC 9000 §20.1.
  static constexpr const char *kTransport[] = {"NO_ERROR",
                                               "INTERNAL_ERROR",
                                               "CONNECTION_REFUSED",
                                               "FLOW_CONTROL_ERROR",
                                               "STREAM_LIMIT_ERROR",
                                               "STREAM_STATE_ERROR",
                                               "FINAL_SIZE_ERROR",
                                               "FRAME_ENCODING_ERROR",
                                               "TRANSPORT_PARAMETER_ERROR",
                                               "CONNECTION_ID_LIMIT_ERROR",
                                               "PROTOCOL_VIOLATION",
                                               "INVALID_TOKEN",
                                               "APPLICATION_ERROR",
                                               "CRYPTO_BUFFER_EXCEEDED",
                                               "KEY_UPDATE_ERROR",
                                               "AEAD_LIMIT_REACHED",
                                               "NO_VIABLE_PATH"};
  if (error.code < std::size(kTransport)) return kTransport[error.code];
  if (error.code >= 0x100 && error.code <= 0x1ff) {
    char b[48];
    std::snprintf(b, sizeof b, "CRYPTO_ERROR (TLS alert %llu)", static_cast<unsigned long long>(error.code - 0x100));
    return b;
  }
  return "";
}

// The ngtcp2 callbacks: C entry points that forward to the connection, never let an exception out.
struct Callbacks {
  static QuicConnection *self(void *user_data) { return static_cast<QuicConnection *>(user_data); }

  // The shared barrier (callback_barrier.h).
  template <class F>
  static int guarded(F &&f) noexcept {
    return common::ngtcp2_barrier("ngtcp2 (client)", std::forward<F>(f));
  }

  static int handshake_completed(ngtcp2_conn *, void *user_data) {
    return guarded([&] {
      auto *c = self(user_data);
      c->handshake_completed_ = true;
      c->observer_.on_handshake_completed();
      return 0;
    });
  }

  static int handshake_confirmed(ngtcp2_conn *, void *user_data) {
    return guarded([&] {
      self(user_data)->observer_.on_handshake_confirmed();
      return 0;
    });
  }

  static StreamApp *app_of(void *user_data) { return self(user_data)->app_; }

  static int recv_stateless_reset(ngtcp2_conn *, const ngtcp2_pkt_stateless_reset *, void *user_data) {
    self(user_data)->got_stateless_reset_ = true;
    return 0;
  }

  static void rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *) { common::random_bytes({dest, destlen}); }

  static int get_new_connection_id(ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *) {
    std::array<uint8_t, NGTCP2_MAX_CIDLEN> buf;
    common::random_bytes({buf.data(), cidlen});
    ngtcp2_cid_init(cid, buf.data(), cidlen);
    common::random_bytes({token, NGTCP2_STATELESS_RESET_TOKENLEN});
    return 0;
  }

  static int select_preferred_addr(ngtcp2_conn *, ngtcp2_path *dest, const ngtcp2_preferred_addr *paddr,
                                   void *user_data) {
    return guarded([&] { return self(user_data)->observer_.on_select_preferred_addr(dest, *paddr); });
  }

  static int path_validation(ngtcp2_conn *, uint32_t flags, const ngtcp2_path *path, const ngtcp2_path *old_path,
                             ngtcp2_path_validation_result res, void *user_data) {
    return guarded([&] {
      self(user_data)->observer_.on_path_validation(flags, *path, old_path,
                                                    res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS);
      return 0;
    });
  }

  static void qlog_write(void *user_data, uint32_t flags, const void *data, size_t datalen) {
    self(user_data)->trace_.write_ngtcp2_qlog(data, datalen, flags);
  }

  static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) {
    return static_cast<QuicConnection *>(ref->user_data)->conn_;
  }
};

QuicConnection::QuicConnection(Sockets &sockets, Trace &trace, ConnectionObserver &observer)
    : sockets_(sockets),
      trace_(trace),
      observer_(observer),
      expiry_(sockets.loop(), [this] { on_expiry(); }),
      resume_write_(sockets.loop(), [this] { write(); }) {
  ngtcp2_ccerr_default(&ccerr_);
  ngtcp2_path_storage_zero(&pending_path_);
}

QuicConnection::~QuicConnection() {
  if (conn_) ngtcp2_conn_del(conn_);
}

std::unique_ptr<QuicConnection> QuicConnection::connect(Sockets &sockets, Trace &trace, const QuicConfig &config,
                                                        ConnectionObserver &observer, std::string *error) {
  std::unique_ptr<QuicConnection> c(new QuicConnection(sockets, trace, observer));
  if (c->init(config, error) != 0) return nullptr;
  c->write();
  return c;
}

int QuicConnection::init(const QuicConfig &config, std::string *error) {
  creds_ = common::client_creds(config.trust, error);
  if (!creds_) return -1;
  if (!config.trust.insecure) verify_name_ = config.verify_name;
  session_ = common::make_session(false, creds_.get(), config.sni, error, verify_name_);
  if (!session_) return -1;
  native_ = config.native;
  if (native_) {
    // ngtcp2 encodes and decodes the transport parameters itself (patched build).
    announced_ = config.policy_support & static_cast<SpellingSet>(Spelling::ext);
    if (int rv = ngtcp2_crypto_gnutls_configure_client_session(session_.get()); rv != 0) {
      *error = "ngtcp2_crypto_gnutls_configure_client_session failed";
      return -1;
    }
  } else {
    ClientTpConfig tp;
    tp.support = config.policy_support;
    if (config.policy_support_raw)
      tp.tamper_outgoing = [raw = *config.policy_support_raw](Bytes &blob) { put_raw_policy_support(blob, raw); };
    if (int rv = configure_client_session(session_.get(), tp); rv != 0) {
      *error = std::string("qamp::configure_client_session: ") + gnutls_strerror(rv);
      return -1;
    }
  }
  conn_ref_.get_conn = Callbacks::get_conn;
  conn_ref_.user_data = this;
  gnutls_session_set_ptr(session_.get(), &conn_ref_);

  auto cb = common::crypto_callbacks(false);
  cb.handshake_completed = Callbacks::handshake_completed;
  cb.handshake_confirmed = Callbacks::handshake_confirmed;
  route_stream_callbacks<Callbacks::app_of>(cb);
  cb.recv_stateless_reset = Callbacks::recv_stateless_reset;
  cb.rand = Callbacks::rand;
  cb.get_new_connection_id = Callbacks::get_new_connection_id;
  cb.select_preferred_addr = Callbacks::select_preferred_addr;
  cb.path_validation = Callbacks::path_validation;

  std::array<uint8_t, kScidLen> scid_bytes;
  std::array<uint8_t, kDcidLen> dcid_bytes;
  common::random_bytes(scid_bytes);
  common::random_bytes(dcid_bytes);
  ngtcp2_cid scid, dcid;
  ngtcp2_cid_init(&scid, scid_bytes.data(), scid_bytes.size());
  ngtcp2_cid_init(&dcid, dcid_bytes.data(), dcid_bytes.size());
  scid_hex_ = to_hex(scid_bytes);

  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = common::now_ns();
  if (trace_.qlog_enabled()) settings.qlog_write = Callbacks::qlog_write;
  if (!trace_.connection_started(scid_hex_, settings.initial_ts, error)) return -1;

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = config.max_stream_data_bidi_local;
  params.initial_max_stream_data_uni = config.max_stream_data_uni;
  params.initial_max_data = config.max_data;
  params.initial_max_streams_bidi = 0;
  params.initial_max_streams_uni = 100;
  params.max_idle_timeout = config.idle_timeout;
  params.active_connection_id_limit = config.active_connection_id_limit;
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
  if (native_) params.migration_policy_support = announced_ != 0;
#endif

  auto local = config.socket->local();
  auto remote = config.remote;
  ngtcp2_path path{local.addr(), remote.addr(), config.socket};
  int rv =
      ngtcp2_conn_client_new(&conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, nullptr, this);
  if (rv != 0) {
    *error = std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv);
    return -1;
  }
  ngtcp2_conn_set_tls_native_handle(conn_, session_.get());
  return 0;
}

const ClientTpState *QuicConnection::tp_state() const noexcept {
  if (!native_) return client_tp_state(session_.get());
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
  if (native_state_) return &*native_state_;
  const ngtcp2_transport_params *rp = conn_ ? ngtcp2_conn_get_remote_transport_params(conn_) : nullptr;
  if (!rp) return nullptr;
  // The same description qamp's codec gives, from what ngtcp2 decoded (and validated).
  ClientTpState st;
  st.announced = announced_;
  ServerDecoding d;
  d.disable_active_migration = rp->disable_active_migration;
  d.echoed = rp->migration_policy_support;
  if (rp->migration_policy_present) {
    d.spelling = Spelling::ext;
    d.policy = common::from_ngtcp2(rp->migration_policy);
  } else {
    d.policy = Policy{rp->disable_active_migration ? Level::none : Level::any, Level::any, Level::any};
  }
  if (rp->preferred_addr_present) {
    const auto &pa = rp->preferred_addr;
    PreferredAddress out;
    if (pa.ipv4_present) {
      std::memcpy(out.ipv4.data(), &pa.ipv4.sin_addr, 4);
      out.ipv4_port = ntohs(pa.ipv4.sin_port);
    }
    if (pa.ipv6_present) {
      std::memcpy(out.ipv6.data(), &pa.ipv6.sin6_addr, 16);
      out.ipv6_port = ntohs(pa.ipv6.sin6_port);
    }
    out.cid.assign(pa.cid.data, pa.cid.data + pa.cid.datalen);
    std::memcpy(out.stateless_reset_token.data(), pa.stateless_reset_token, out.stateless_reset_token.size());
    d.preferred_address = out;
  }
  st.server = std::move(d);
  native_state_ = std::move(st);
  return &*native_state_;
#else
  return nullptr;
#endif
}

Endpoint QuicConnection::local() const {
  auto *p = ngtcp2_conn_get_path(conn_);
  return Endpoint::of(p->local);
}

Endpoint QuicConnection::remote() const {
  auto *p = ngtcp2_conn_get_path(conn_);
  return Endpoint::of(p->remote);
}

void QuicConnection::set_app_error(std::uint64_t code) noexcept {
  ngtcp2_ccerr_set_application_error(&ccerr_, code, nullptr, 0);
}

void QuicConnection::read(UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data) {
  if (closed_) return;
  if (!observer_.admit_datagram(socket, from, data)) return;
  auto local = socket.local();
  auto remote = from;
  ngtcp2_path path{local.addr(), remote.addr(), &socket};
  ngtcp2_pkt_info pi{};
  int rv = ngtcp2_conn_read_pkt(conn_, &path, &pi, data.data(), data.size(), common::now_ns());
  if (rv == 0) return;
  switch (rv) {
    case NGTCP2_ERR_DRAINING: {
      CloseInfo info;
      info.stateless_reset = got_stateless_reset_;
      const auto *peer = ngtcp2_conn_get_ccerr(conn_);
      info.error = got_stateless_reset_ || !clean(*peer);
      info.reason = got_stateless_reset_ ? "stateless reset received" : "closed by server: " + ccerr_text(*peer);
      if (!got_stateless_reset_ && peer->type != NGTCP2_CCERR_TYPE_IDLE_CLOSE) {
        info.close_error = close_error_of(*peer, true);
        if (auto name = error_name(*info.close_error); !name.empty()) info.reason += " (" + name + ")";
      }
      finish(std::move(info));
      return;
    }
    case NGTCP2_ERR_DROP_CONN: finish(CloseInfo{true, false, false, "connection dropped", std::nullopt}); return;
    case NGTCP2_ERR_CRYPTO:
      if (!ccerr_.error_code) ngtcp2_ccerr_set_tls_alert(&ccerr_, ngtcp2_conn_get_tls_alert(conn_), nullptr, 0);
      break;
    default:
      if (!ccerr_.error_code) ngtcp2_ccerr_set_liberr(&ccerr_, rv, nullptr, 0);
      break;
  }
  auto why = std::string("ngtcp2_conn_read_pkt: ") + ngtcp2_strerror(rv);
  if (auto cert = common::verify_failure(session_.get()); !cert.empty()) why = cert + " (" + why + ")";
  if (const auto *st = tp_state(); st && st->error) why += " (" + st->error->message() + ")";
  fail(rv, why);
}

void QuicConnection::fail(int, std::string reason) {
  write_close();
  CloseInfo info{true, false, false, std::move(reason) + " [" + ccerr_text(ccerr_) + "]", std::nullopt};
  info.close_error = close_error_of(ccerr_, false);
  finish(std::move(info));
}

void QuicConnection::close(std::string reason) {
  if (closed_) return;
  ngtcp2_ccerr_set_application_error(&ccerr_, NGHTTP3_H3_NO_ERROR, nullptr, 0);
  write_close();
  finish(CloseInfo{false, false, false, std::move(reason), close_error_of(ccerr_, false)});
}

void QuicConnection::write_close() {
  if (!conn_ || ngtcp2_conn_in_closing_period(conn_) || ngtcp2_conn_in_draining_period(conn_)) return;
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  auto n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, buf.data(), buf.size(), &ccerr_, common::now_ns());
  if (n > 0) sockets_.send(ps.path, {buf.data(), static_cast<size_t>(n)});
}

void QuicConnection::finish(CloseInfo info) {
  if (closed_) return;
  closed_ = true;
  expiry_.cancel();
  resume_write_.cancel();
  observer_.on_closed(info);
}

void QuicConnection::write() {
  if (closed_ || write_blocked_) return;
  if (!pending_.empty()) {
    auto r = sockets_.send(pending_path_.path, pending_);
    if (r == SendResult::blocked) {
      write_blocked_ = true;
      sockets_.wait_writable([this] {
        write_blocked_ = false;
        write();
      });
      return;
    }
    pending_.clear();
  }
  if (write_streams() != 0) return;
  arm_expiry();
}

int QuicConnection::send_packet(const ngtcp2_path &path, std::span<const std::uint8_t> pkt) {
  if (sockets_.send(path, pkt) != SendResult::blocked) return 0;
  pending_.assign(pkt.begin(), pkt.end());
  ngtcp2_path_storage_init(&pending_path_, path.local.addr, path.local.addrlen, path.remote.addr, path.remote.addrlen,
                           path.user_data);
  write_blocked_ = true;
  sockets_.wait_writable([this] {
    write_blocked_ = false;
    write();
  });
  return 1;
}

int QuicConnection::write_streams() {
  std::array<uint8_t, 64 * 1024> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  auto ts = common::now_ns();
  auto path_udp = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_);
  auto max_pkts = std::clamp<std::size_t>(ngtcp2_conn_get_send_quantum(conn_) / path_udp, 1, kMaxPacketsPerWrite);
  // Room for the largest datagram, not the path's current size: ngtcp2 writes a PMTUD probe only
  // where it fits (the same fix as qamp-server's write()).
  auto max_udp = ngtcp2_conn_get_max_tx_udp_payload_size(conn_);

  for (std::size_t sent = 0; sent < max_pkts;) {
    auto w = common::write_stream_packet(conn_, app_, &ps.path, &pi, buf.data(), max_udp, ts);
    switch (w.failure) {
      case common::StreamWrite::Failure::none: break;
      case common::StreamWrite::Failure::pull:
        set_app_error(nghttp3_err_infer_quic_app_error_code(w.code));
        fail(NGTCP2_ERR_CALLBACK_FAILURE, std::string("nghttp3_conn_writev_stream: ") + nghttp3_strerror(w.code));
        return -1;
      case common::StreamWrite::Failure::add_write_offset:
        fail(NGTCP2_ERR_CALLBACK_FAILURE, "nghttp3_conn_add_write_offset failed");
        return -1;
      case common::StreamWrite::Failure::ngtcp2:
        ngtcp2_ccerr_set_liberr(&ccerr_, w.code, nullptr, 0);
        fail(w.code, std::string("ngtcp2_conn_writev_stream: ") + ngtcp2_strerror(w.code));
        return -1;
    }
    const auto n = w.len;
    if (n == 0) {
      ngtcp2_conn_update_pkt_tx_time(conn_, ts);
      return 0;
    }
    ++sent;
    if (send_packet(ps.path, {buf.data(), static_cast<size_t>(n)}) != 0) {
      ngtcp2_conn_update_pkt_tx_time(conn_, ts);
      return 1;  // resumes when the socket drains
    }
  }
  ngtcp2_conn_update_pkt_tx_time(conn_, ts);
  // More may be waiting: come back on the next loop iteration (pacing may still hold it back).
  resume_write_.arm(0);
  return 0;
}

void QuicConnection::arm_expiry() {
  if (closed_) return;
  auto expiry = ngtcp2_conn_get_expiry(conn_);
  auto now = common::now_ns();
  double t = expiry <= now ? 0.0 : static_cast<double>(expiry - now) / 1e9;
  expiry_.arm(t);
}

void QuicConnection::on_expiry() {
  if (closed_) return;
  int rv = ngtcp2_conn_handle_expiry(conn_, common::now_ns());
  if (rv != 0) {
    if (rv == NGTCP2_ERR_IDLE_CLOSE) {
      finish(CloseInfo{true, true, false, "idle timeout", std::nullopt});
      return;
    }
    ngtcp2_ccerr_set_liberr(&ccerr_, rv, nullptr, 0);
    fail(rv, std::string("ngtcp2_conn_handle_expiry: ") + ngtcp2_strerror(rv));
    return;
  }
  write();
}

}  // namespace qamp::client
