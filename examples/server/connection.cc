#include "connection.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstring>
#include <sys/stat.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "digest_worker.h"
#include "docroot.h"
#include "qamp/tls.h"
#include "quic_callbacks.h"
#include "request.h"
#include "server.h"

namespace qamp::ex {

namespace {

Connection *self(void *user_data) { return static_cast<Connection *>(user_data); }

ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref);

// ---- ngtcp2 callbacks: trampolines into Connection ----

int recv_stream_data(ngtcp2_conn *, uint32_t flags, int64_t stream_id, uint64_t, const uint8_t *data,
                     size_t datalen, void *user_data, void *) {
  return self(user_data)->on_stream_data(stream_id, {data, datalen}, flags & NGTCP2_STREAM_DATA_FLAG_FIN);
}

int acked_stream_data_offset(ngtcp2_conn *, int64_t stream_id, uint64_t, uint64_t datalen, void *user_data,
                             void *) {
  return self(user_data)->on_acked(stream_id, datalen);
}

int stream_close(ngtcp2_conn *, uint32_t flags, int64_t stream_id, uint64_t app_error_code, void *user_data,
                 void *) {
  return self(user_data)->on_stream_close(stream_id, app_error_code,
                                          flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET);
}

int stream_reset(ngtcp2_conn *, int64_t stream_id, uint64_t, uint64_t app_error_code, void *user_data, void *) {
  return self(user_data)->on_stream_reset(stream_id, app_error_code);
}

int stream_stop_sending(ngtcp2_conn *, int64_t stream_id, uint64_t app_error_code, void *user_data, void *) {
  return self(user_data)->on_stream_reset(stream_id, app_error_code);
}

int extend_max_remote_streams_bidi(ngtcp2_conn *, uint64_t max_streams, void *user_data) {
  return self(user_data)->on_extend_max_remote_bidi(max_streams);
}

int extend_max_stream_data(ngtcp2_conn *, int64_t stream_id, uint64_t, void *user_data, void *) {
  return self(user_data)->on_extend_max_stream_data(stream_id);
}

int handshake_completed(ngtcp2_conn *, void *user_data) { return self(user_data)->on_handshake_completed(); }

int path_validation(ngtcp2_conn *, uint32_t flags, const ngtcp2_path *path, const ngtcp2_path *old_path,
                    ngtcp2_path_validation_result res, void *user_data) {
  return self(user_data)->on_path_validation(flags, path, old_path, res);
}

void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *) { random_bytes({dest, destlen}); }

int get_new_connection_id(ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user_data) {
  return self(user_data)->get_new_cid(cid, token, cidlen);
}

int remove_connection_id(ngtcp2_conn *, const ngtcp2_cid *cid, void *user_data) {
  self(user_data)->remove_cid(cid);
  return 0;
}

void qlog_write_cb(void *user_data, uint32_t, const void *data, size_t datalen) {
  self(user_data)->qlog_write(data, datalen);
}

// ---- nghttp3 callbacks ----

int h3_recv_header(nghttp3_conn *, int64_t stream_id, int32_t, nghttp3_rcbuf *name, nghttp3_rcbuf *value,
                   uint8_t, void *user_data, void *) {
  auto n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
  return self(user_data)->h3_recv_header(stream_id, {reinterpret_cast<const char *>(n.base), n.len},
                                         {reinterpret_cast<const char *>(v.base), v.len});
}

int h3_end_headers(nghttp3_conn *, int64_t stream_id, int, void *user_data, void *) {
  return self(user_data)->h3_end_headers(stream_id);
}

int h3_stream_close(nghttp3_conn *, int64_t stream_id, uint64_t, void *user_data, void *) {
  return self(user_data)->h3_stream_close(stream_id);
}

int h3_acked_stream_data(nghttp3_conn *, int64_t stream_id, uint64_t datalen, void *user_data, void *) {
  return self(user_data)->h3_acked(stream_id, datalen);
}

int h3_deferred_consume(nghttp3_conn *, int64_t stream_id, size_t consumed, void *user_data, void *) {
  // Bytes nghttp3 held back (e.g. QPACK-blocked) are consumed now: give the flow-control
  // credit back, as for bytes consumed at once in on_stream_data.
  self(user_data)->on_consumed(stream_id, consumed);
  return 0;
}

nghttp3_ssize h3_read_data(nghttp3_conn *, int64_t stream_id, nghttp3_vec *vec, size_t veccnt, uint32_t *pflags,
                           void *user_data, void *) {
  return self(user_data)->h3_read_data(stream_id, vec, veccnt, pflags);
}

int h3_stop_sending(nghttp3_conn *, int64_t stream_id, uint64_t app_error_code, void *user_data, void *) {
  return self(user_data)->h3_stop_sending(stream_id, app_error_code);
}

int h3_reset_stream(nghttp3_conn *, int64_t stream_id, uint64_t app_error_code, void *user_data, void *) {
  return self(user_data)->h3_reset_stream(stream_id, app_error_code);
}

// Bodies' SHA-256 off the loop, shared by all connections (created with the first HTTP/3
// session, on the server's loop).
std::unique_ptr<DigestWorker> g_digests;

// Refused requests are attacker-triggered: at most 20 lines at once, then 10 a second.
LogLimiter g_refusal_log(10, 20);

std::string hex_u64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%" PRIx64, v);
  return buf;
}

// A request target for a log line: visible ASCII only, at most 120 bytes.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) {
    auto u = static_cast<unsigned char>(c);
    out += u > 0x20 && u < 0x7f ? c : '?';
  }
  if (s.size() > 120) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string path_str(const ngtcp2_path &p) {
  return Endpoint::from(p.remote.addr, p.remote.addrlen).str() + " -> " +
         Endpoint::from(p.local.addr, p.local.addrlen).str();
}

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

namespace {
ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return static_cast<ngtcp2_conn *>(ref->user_data); }
}  // namespace

Connection::Connection(Server &server) : server_(server) {}

Connection::~Connection() {
  if (g_digests) g_digests->cancel(this);
  if (log_suppressed_)
    server_.log("[" + id_ + "] " + std::to_string(log_suppressed_) + " more gate log lines suppressed");
  ev_timer_stop(server_.loop(), &timer_);
  ev_io_stop(server_.loop(), &wev_);
  if (h3_) nghttp3_conn_del(h3_);
  if (conn_) ngtcp2_conn_del(conn_);
  if (qlog_) std::fclose(qlog_);
}

bool Connection::init(const Socket &s, const Endpoint &remote, const ngtcp2_pkt_hd &hd,
                      const ngtcp2_cid *retry_odcid) {
  auto &opts = server_.options();
  created_ = now_ns();

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
  server_.new_cid(&scid, token.data(), kScidLen);
  id_ = hex({scid.data, scid.datalen}).substr(0, 8);

  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = created_;
  settings.max_tx_udp_payload_size = 1452;
  // A half-open connection (README "Security and robustness") lives at most this long.
  settings.handshake_timeout = 10 * NGTCP2_SECONDS;
  if (!opts.qlog_dir.empty()) {
    auto file = opts.qlog_dir + "/" + hex({scid.data, scid.datalen}) + ".sqlog";
    mkdir(opts.qlog_dir.c_str(), 0755);
    qlog_ = std::fopen(file.c_str(), "w");
    if (qlog_) settings.qlog_write = qlog_write_cb;
    else server_.log("cannot open qlog " + file);
  }

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = 256 * 1024;
  params.initial_max_stream_data_bidi_remote = 256 * 1024;
  params.initial_max_stream_data_uni = 256 * 1024;
  params.initial_max_data = 1024 * 1024;
  params.initial_max_streams_bidi = 100;
  params.initial_max_streams_uni = 3;
  params.max_idle_timeout = static_cast<ngtcp2_duration>(opts.idle_timeout_s * NGTCP2_SECONDS);
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
    server_.new_cid(&pa.cid, pa.stateless_reset_token, kScidLen);
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

  auto local = s.local, peer = remote;
  ngtcp2_path path{local.addr(), peer.addr(), nullptr};
  int rv = ngtcp2_conn_server_new(&conn_, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params,
                                  nullptr, this);
  if (rv != 0) {
    server_.log("ngtcp2_conn_server_new: " + std::string(ngtcp2_strerror(rv)));
    return false;
  }

  std::string err;
  session_ = make_session(true, server_.creds(), "", &err);
  if (!session_) {
    server_.log(err);
    return false;
  }
  ServerTpConfig tp;
  tp.policy = opts.policy;
  tp.preference = opts.spellings;
  tp.on_negotiated = [this](const ServerTpState &st) {
    auto &enc = *st.encoding;
    auto spelling = std::string(to_string(enc.spelling));
    ++server_.stats().spellings[spelling];
    std::string adj;
    for (auto &a : enc.adjustments)
      adj += std::string(", ") + std::string(to_string(a.address)) + " " + std::string(to_string(a.wanted)) +
             " sent as " + std::string(to_string(a.expressed)) + " (" + a.reason + ")";
    server_.log("[" + id_ + "] transport parameters: client announced 0x" + std::to_string(st.client_support) +
                ", sent spelling " + spelling + " (" + std::to_string(enc.wire.size()) + " bytes)" + adj);
    qlog_event("qamp:policy_negotiated",
               "{\"client_support\":" + std::to_string(st.client_support) + ",\"spelling\":" + quote(spelling) +
                   ",\"handshake\":" + quote(to_string(enc.expressed.handshake)) + ",\"spa_v4\":" +
                   quote(to_string(enc.expressed.spa_v4)) + ",\"spa_v6\":" + quote(to_string(enc.expressed.spa_v6)) +
                   ",\"adjustments\":" + std::to_string(enc.adjustments.size()) + "}");
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
  conn_ref_.user_data = conn_;
  gnutls_session_set_ptr(session_.get(), &conn_ref_);
  ngtcp2_conn_set_tls_native_handle(conn_, session_.get());

  GateConfig gc;
  gc.policy = opts.policy;
  // A native legacy server gives ngtcp2 only 0x0c, which covers the handshake address: classify
  // by what ngtcp2 enforces.
  if (native() && opts.spellings.empty()) gc.policy = Policy{opts.policy.handshake, Level::any, Level::any};
  gc.enforce = opts.gate;
  gate_ = std::make_unique<Gate>(gc);
  gate_->set_observer([this](const GateEvent &ev) { gate_event(ev); });

  server_.associate(scid, this);
  server_.associate(hd.dcid, this);  // the client's first DCID, until the handshake moves on
  ev_timer_init(&timer_, on_timer, 0., 0.);
  timer_.data = this;
  ev_io_init(&wev_, on_writable, s.fd, EV_WRITE);
  wev_.data = this;
  server_.debug("[" + id_ + "] new connection from " + remote.str() + " on " + s.local.str());
  return true;
}

void Connection::gate_event(const GateEvent &ev) {
  if (ev.decision.verdict != GateVerdict::drop) {
    // An accepted change is counted and logged only if ngtcp2 takes the path (on_datagram): a
    // datagram from a spoofed address with a live DCID passes the gate on an `any` address and
    // is then discarded by ngtcp2 (it does not decrypt).
    pending_change_ = ev;
    return;
  }
  // Every forbidden datagram is counted; each new path is logged once while it is among the
  // last kRecentPaths (a probe is many datagrams), within the log budgets.
  ++server_.stats().dropped[std::string(to_string(ev.decision.reason))];
  if (!remember_path(ev)) return;
  log_gate(ev);
}

bool Connection::remember_path(const GateEvent &ev) {
  // The key is built on the stack: a flood of datagrams on new paths allocates nothing here.
  PathKey key{};
  key[0] = ev.decision.verdict == GateVerdict::drop;
  key[1] = static_cast<std::uint8_t>(ev.incoming_role);
  const auto *sa = ev.incoming_remote.sa();
  std::memcpy(key.data() + 2, sa, std::min<std::size_t>(ev.incoming_remote.size(), key.size() - 2));
  auto end = recent_paths_.begin() + static_cast<std::ptrdiff_t>(recent_used_);
  if (std::find(recent_paths_.begin(), end, key) != end) return false;
  recent_paths_[recent_next_] = key;
  recent_next_ = (recent_next_ + 1) % kRecentPaths;
  recent_used_ = std::min(recent_used_ + 1, kRecentPaths);
  return true;
}

bool Connection::log_gate(const GateEvent &ev) {
  auto now = now_ns();
  // Both budgets must have a token; the connection's is asked first so one noisy connection
  // spends its own budget before the server's.
  if (!log_budget_.try_take(now) || !server_.gate_log_budget().try_take(now)) {
    ++log_suppressed_;
    ++server_.stats().gate_log_lines_suppressed;
    return false;
  }
  auto reason = std::string(to_string(ev.decision.reason));
  auto change = ev.decision.change ? std::string(to_string(*ev.decision.change)) : std::string("none");
  bool drop = ev.decision.verdict == GateVerdict::drop;
  std::string more;
  if (log_suppressed_) more = " (" + std::to_string(log_suppressed_) + " more gate log lines suppressed before this one)";
  log_suppressed_ = 0;
  server_.log("[" + id_ + "] " + describe(ev) + more);
  qlog_event(drop ? "qamp:gate_drop" : "qamp:gate_accept",
             "{\"reason\":" + quote(reason) + ",\"change\":" + quote(change) + ",\"from\":" +
                 quote(ev.current_remote.to_string()) + ",\"to\":" + quote(ev.incoming_remote.to_string()) +
                 ",\"server_address\":" + quote(to_string(ev.incoming_role)) + ",\"level\":" +
                 quote(to_string(ev.level)) + "}");
  return true;
}

void Connection::on_datagram(const Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data) {
  if (closed_) return;
  if (draining_) return;
  auto now = now_ns();
  // The gate, before ngtcp2 sees the datagram (DESIGN.md §4): a drop sends nothing.
  const ngtcp2_path *cur = ngtcp2_conn_get_path(conn_);
  auto cur_role = server_.role_of(cur->local).value_or(ServerAddress::handshake);
  PathView current{cur_role, cur->remote.addr};
  PathView incoming{s.role, remote.sa()};
  pending_change_.reset();
  auto d = gate_->admit(current, incoming);
  bool forbidden = d.verdict == GateVerdict::drop;
  if (forbidden && !native()) return;
  if (!forbidden) ++server_.stats().datagrams_accepted;

  auto local = s.local;
  auto peer = remote;
  ngtcp2_path path{local.addr(), peer.addr(), nullptr};
  ngtcp2_pkt_info pi{};
  if (pending_change_ && remember_path(*pending_change_) && log_budget_.try_take(now)) {
    // Evidence for traces (tests/lab/analyze.py): the first datagram the gate let through on a
    // new path, written before ngtcp2 reads it, so the next packet_received record is that
    // datagram. Not a change of path (ngtcp2 may discard it, or answer a probe without moving);
    // once per path among the last kRecentPaths, within the connection's log budget.
    qlog_event("qamp:path_datagram", "{\"from\":" + quote(pending_change_->current_remote.to_string()) +
                                         ",\"to\":" + quote(pending_change_->incoming_remote.to_string()) +
                                         ",\"server_address\":" + quote(to_string(pending_change_->incoming_role)) + "}");
  }
  int rv = ngtcp2_conn_read_pkt(conn_, &path, &pi, data.data(), data.size(), now);
  if (forbidden) check_native_drop(s, remote);
  if (pending_change_) {
    // Count a change of path only when ngtcp2 took it: its current path is now the datagram's.
    // A datagram that did not decrypt, or a probe ngtcp2 answered without moving, is not one.
    const ngtcp2_path *after = ngtcp2_conn_get_path(conn_);
    bool taken = Endpoint::from(after->local.addr, after->local.addrlen) == s.local &&
                 Endpoint::from(after->remote.addr, after->remote.addrlen) == remote;
    if (taken) {
      ++server_.stats().path_changes[std::string(to_string(pending_change_->decision.reason))];
      log_gate(*pending_change_);
    } else {
      ++server_.stats().path_changes_not_taken;
    }
    pending_change_.reset();
  }
  if (rv != 0) {
    if (handle_error(rv)) return;
  }
  // Written once after the whole read batch (Server::read_socket), not per datagram: one burst
  // answers many ACKs, as ngtcp2's examples do.
  server_.want_write(this);
}

bool Connection::handle_error(int rv) {
  switch (rv) {
    case NGTCP2_ERR_DRAINING:
      start_draining();
      return true;
    case NGTCP2_ERR_DROP_CONN:
      server_.remove(this);
      closed_ = true;
      return true;
    case NGTCP2_ERR_RETRY:
    case NGTCP2_ERR_CRYPTO:
    default:
      break;
  }
  // qamp's codec reports NGTCP2_ERR_TRANSPORT_PARAM; ngtcp2's own decoder (native enforcement)
  // NGTCP2_ERR_MALFORMED_TRANSPORT_PARAM. Both close with TRANSPORT_PARAMETER_ERROR.
  if (rv == NGTCP2_ERR_TRANSPORT_PARAM || rv == NGTCP2_ERR_MALFORMED_TRANSPORT_PARAM)
    ++server_.stats().transport_parameter_errors;
  if (ccerr_.error_code == 0) {
    if (rv == NGTCP2_ERR_CRYPTO)
      ngtcp2_ccerr_set_tls_alert(&ccerr_, ngtcp2_conn_get_tls_alert(conn_), nullptr, 0);
    else
      ngtcp2_ccerr_set_liberr(&ccerr_, rv, nullptr, 0);
  }
  server_.log("[" + id_ + "] closing: " + ngtcp2_strerror(rv) + " (error code 0x" + [&] {
    char b[24];
    std::snprintf(b, sizeof b, "%" PRIx64, ccerr_.error_code);
    return std::string(b);
  }() + ")");
  std::array<std::uint8_t, 1500> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  auto n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, buf.data(), buf.size(), &ccerr_, now_ns());
  if (n > 0) {
    if (auto *sock = server_.socket_for(ps.path.local))
      server_.send(*sock, Endpoint::from(ps.path.remote.addr, ps.path.remote.addrlen),
                   {buf.data(), static_cast<std::size_t>(n)});
  }
  closed_ = true;
  server_.remove(this);
  return true;
}

void Connection::start_draining() {
  if (draining_) return;
  draining_ = true;
  auto pto = static_cast<double>(ngtcp2_conn_get_pto(conn_)) / NGTCP2_SECONDS;
  ev_timer_stop(server_.loop(), &timer_);
  ev_timer_set(&timer_, 3 * pto, 0.);
  ev_timer_start(server_.loop(), &timer_);
}

void Connection::close_gracefully() {
  if (closed_ || draining_ || !conn_) return;
  if (h3_) nghttp3_conn_shutdown(h3_);
  ngtcp2_ccerr_set_application_error(&ccerr_, NGHTTP3_H3_NO_ERROR, nullptr, 0);
  std::array<std::uint8_t, 1500> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  auto n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, buf.data(), buf.size(), &ccerr_, now_ns());
  if (n > 0)
    if (auto *sock = server_.socket_for(ps.path.local))
      server_.send(*sock, Endpoint::from(ps.path.remote.addr, ps.path.remote.addrlen),
                   {buf.data(), static_cast<std::size_t>(n)});
  closed_ = true;
}

void Connection::write() {
  if (closed_ || draining_) return;
  // Packets go out in GSO batches (UDP_SEGMENT): consecutive packets on one path, all of one
  // size but the last. The loop counts packets actually written, never the WRITE_MORE or
  // blocked-stream rounds, so it never leaves ngtcp2 with a half-built packet.
  // One call sends at most ngtcp2's send quantum (its pacer's burst), like ngtcp2's examples:
  // larger bursts overflow the receiver's socket buffer and turn into loss.
  // Each packet gets room for the largest datagram we may send, not just the path's current
  // size: ngtcp2 writes a PMTUD probe only where it fits, so with the path's 1200 bytes it never
  // probes and every packet stays at 1200 (about 20 % more packets for the same body).
  constexpr std::size_t kMaxBatch = 64;
  const std::size_t max_udp = ngtcp2_conn_get_max_tx_udp_payload_size(conn_);
  const std::size_t mtu = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_);
  const std::size_t kMaxPerCall = std::clamp<std::size_t>(ngtcp2_conn_get_send_quantum(conn_) / mtu, 1, kMaxBatch);
  if (tx_size_ < kMaxBatch * max_udp) {
    // Not zero-filled: an idle connection keeps only the pages its handshake touched resident.
    tx_size_ = kMaxBatch * max_udp;
    tx_ = std::make_unique_for_overwrite<std::uint8_t[]>(tx_size_);
  }
  ngtcp2_path_storage ps, batch_path;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_path_storage_zero(&batch_path);
  std::size_t batch_len = 0, batch_pkts = 0, gso_size = 0, written = 0;
  auto flush = [&] {
    if (batch_pkts == 0) return;
    if (auto *sock = server_.socket_for(batch_path.path.local)) {
      auto remote = Endpoint::from(batch_path.path.remote.addr, batch_path.path.remote.addrlen);
      auto gso = batch_pkts > 1 ? gso_size : 0;
      if (server_.send(*sock, remote, {tx_.get(), batch_len}, gso) == Server::kBlocked) {
        pending_ = Pending{sock, remote, {tx_.get(), tx_.get() + batch_len}, gso};
        ev_io_set(&wev_, sock->fd, EV_WRITE);
        ev_io_start(server_.loop(), &wev_);
      }
    }
    batch_len = batch_pkts = 0;
  };
  if (pending_) {
    auto &p = *pending_;
    if (server_.send(*p.socket, p.remote, p.data, p.gso_size) == Server::kBlocked) return;  // still full
    pending_.reset();
  }
  auto ts = now_ns();
  while (written < kMaxPerCall && !pending_) {
    int64_t stream_id = -1;
    int fin = 0;
    std::array<nghttp3_vec, 16> vec;
    nghttp3_ssize sveccnt = 0;
    if (h3_ && ngtcp2_conn_get_max_data_left(conn_)) {
      sveccnt = nghttp3_conn_writev_stream(h3_, &stream_id, &fin, vec.data(), vec.size());
      if (sveccnt < 0) {
        flush();
        handle_error(NGTCP2_ERR_CALLBACK_FAILURE);
        return;
      }
    }
    ngtcp2_ssize ndatalen = -1;
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    ngtcp2_pkt_info pi;
    auto *dest = tx_.get() + batch_len;
    auto n = ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, dest, max_udp, &ndatalen, flags, stream_id,
                                       reinterpret_cast<const ngtcp2_vec *>(vec.data()),
                                       static_cast<size_t>(sveccnt), ts);
    if (n < 0) {
      switch (n) {
        case NGTCP2_ERR_STREAM_DATA_BLOCKED:
          nghttp3_conn_block_stream(h3_, stream_id);
          continue;
        case NGTCP2_ERR_STREAM_SHUT_WR:
          nghttp3_conn_shutdown_stream_write(h3_, stream_id);
          continue;
        case NGTCP2_ERR_WRITE_MORE:
          if (nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<size_t>(ndatalen)) != 0) {
            flush();
            handle_error(NGTCP2_ERR_CALLBACK_FAILURE);
            return;
          }
          continue;
        default:
          flush();
          handle_error(static_cast<int>(n));
          return;
      }
    }
    if (ndatalen >= 0 && h3_ && nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<size_t>(ndatalen)) != 0) {
      flush();
      handle_error(NGTCP2_ERR_CALLBACK_FAILURE);
      return;
    }
    if (n == 0) break;
    auto len = static_cast<std::size_t>(n);
    ++written;
    if (batch_pkts > 0 && (!ngtcp2_path_eq(&batch_path.path, &ps.path) || len > gso_size)) {
      // Cannot join the batch: send the batch, then start a new one with this packet.
      flush();
      std::memmove(tx_.get(), dest, len);
    }
    if (batch_pkts == 0) {
      gso_size = len;
      ngtcp2_path_copy(&batch_path.path, &ps.path);
    }
    batch_len += len;
    ++batch_pkts;
    // A short packet ends a batch; so does a PMTUD probe (larger than the path allows), so a
    // probe the path refuses (EMSGSIZE) takes no regular packet with it.
    if (len < gso_size || len > mtu || batch_pkts == kMaxBatch) flush();
  }
  flush();
  ngtcp2_conn_update_pkt_tx_time(conn_, ts);
  schedule_timer();
}

void Connection::on_writable(struct ev_loop *loop, ev_io *w, int) {
  auto *c = static_cast<Connection *>(w->data);
  ev_io_stop(loop, w);
  c->write();
}

void Connection::schedule_timer() {
  auto expiry = ngtcp2_conn_get_expiry(conn_);
  auto now = now_ns();
  double t = expiry <= now ? 1e-9 : static_cast<double>(expiry - now) / NGTCP2_SECONDS;
  ev_timer_stop(server_.loop(), &timer_);
  ev_timer_set(&timer_, t, 0.);
  ev_timer_start(server_.loop(), &timer_);
}

void Connection::on_timer(struct ev_loop *, ev_timer *w, int) {
  auto *c = static_cast<Connection *>(w->data);
  if (c->draining_ || c->closed_) {
    c->closed_ = true;
    c->server_.remove(c);
    return;
  }
  int rv = ngtcp2_conn_handle_expiry(c->conn_, now_ns());
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    c->server_.debug("[" + c->id_ + "] idle timeout");
    c->closed_ = true;
    c->server_.remove(c);
    return;
  }
  if (rv != 0) {
    c->handle_error(rv);
    return;
  }
  c->write();
}

// ---- QUIC events ----

bool Connection::native() const noexcept { return server_.options().enforcement == Enforcement::native; }

void Connection::check_native_drop(const Socket &s, const Endpoint &remote) {
  // The gate classified the datagram as forbidden and ngtcp2 had the last word. ngtcp2 must have
  // dropped it: had it taken the path, its current path is now the datagram's. Say so loudly.
  const ngtcp2_path *now_path = ngtcp2_conn_get_path(conn_);
  auto local = Endpoint::from(now_path->local.addr, now_path->local.addrlen);
  auto peer = Endpoint::from(now_path->remote.addr, now_path->remote.addrlen);
  if (!(local == s.local && peer == remote)) return;
  ++server_.stats().native_disagreements;
  server_.log("[" + id_ + "] NATIVE ENFORCEMENT DISAGREES: ngtcp2 took the path " + remote.str() + " -> " +
              s.local.str() + " which the policy forbids");
}

int Connection::on_handshake_completed() {
  server_.debug("[" + id_ + "] handshake completed");
  if (native()) {
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
    // What the client announced decides what ngtcp2 sent (patches/README.md, "Wire format").
    const auto *rp = ngtcp2_conn_get_remote_transport_params(conn_);
    bool ext = rp && rp->migration_policy_support && !server_.options().spellings.empty();
    ++server_.stats().spellings[ext ? "ext" : "rfc9000"];
    const auto &p = server_.options().policy;
    server_.log("[" + id_ + "] transport parameters (native enforcement): client announced 0x" +
                std::to_string(rp ? rp->migration_policy_support : 0) + ", ngtcp2 sent spelling " +
                (ext ? std::string("ext (handshake ") + std::string(to_string(p.handshake)) + ", spa-v4 " +
                           std::string(to_string(p.spa_v4)) + ", spa-v6 " + std::string(to_string(p.spa_v6)) + ")"
                     : std::string("rfc9000 (plain RFC 9000 parameters)")) +
                "; level in force now: " + std::string(to_string(from_ngtcp2(ngtcp2_conn_get_migration_level(conn_)))));
    qlog_event("qamp:policy_negotiated", std::string("{\"enforcement\":\"native\",\"spelling\":") +
                                             (ext ? "\"ext\"" : "\"rfc9000\"") + "}");
#endif
  }
  return setup_http3() ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

int Connection::on_path_validation(uint32_t flags, const ngtcp2_path *path, const ngtcp2_path *old_path,
                                   ngtcp2_path_validation_result res) {
  bool ok = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS;
  auto role = server_.role_of(path->local);
  auto old_role = old_path ? server_.role_of(old_path->local) : std::nullopt;
  (void)old_role;
  (void)flags;
  // The first validated path on a preferred address is the move (RFC 9000 §9.6); any other
  // validated path is a client migration (or NAT rebinding).
  bool move = ok && role && *role != ServerAddress::handshake && !moved_to_spa_;
  if (move) {
    moved_to_spa_ = true;
    ++server_.stats().moves_to_preferred_address;
  } else if (ok) {
    ++server_.stats().migrations;
  }
  auto what = move ? "move to preferred address" : "path validation";
  server_.log("[" + id_ + "] " + what + " " + (ok ? "succeeded" : "failed") + ": " + path_str(*path) +
              (old_path ? " (was " + path_str(*old_path) + ")" : ""));
  qlog_event("qamp:path_validated", std::string("{\"success\":") + (ok ? "true" : "false") + ",\"move_to_spa\":" +
                                        (move ? "true" : "false") + ",\"path\":" + quote(path_str(*path)) + "}");
  return 0;
}

int Connection::get_new_cid(ngtcp2_cid *cid, uint8_t *token, size_t cidlen) {
  server_.new_cid(cid, token, cidlen);
  server_.associate(*cid, this);
  return 0;
}

void Connection::remove_cid(const ngtcp2_cid *cid) { server_.dissociate(*cid); }

int Connection::on_stream_data(int64_t stream_id, std::span<const std::uint8_t> data, bool fin) {
  if (!h3_) return 0;
  auto n = nghttp3_conn_read_stream(h3_, stream_id, data.data(), data.size(), fin);
  if (n < 0) {
    server_.debug("[" + id_ + "] nghttp3_conn_read_stream: " + nghttp3_strerror(static_cast<int>(n)));
    ngtcp2_ccerr_set_application_error(&ccerr_, nghttp3_err_infer_quic_app_error_code(static_cast<int>(n)), nullptr,
                                       0);
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  on_consumed(stream_id, static_cast<uint64_t>(n));
  return 0;
}

void Connection::on_consumed(int64_t stream_id, uint64_t n) {
  ngtcp2_conn_extend_max_stream_offset(conn_, stream_id, n);
  ngtcp2_conn_extend_max_offset(conn_, n);
}

int Connection::on_acked(int64_t stream_id, uint64_t datalen) {
  if (h3_ && nghttp3_conn_add_ack_offset(h3_, stream_id, datalen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int Connection::on_stream_close(int64_t stream_id, uint64_t app_error_code, bool has_code) {
  if (!h3_) return 0;
  if (!has_code) app_error_code = NGHTTP3_H3_NO_ERROR;
  int rv = nghttp3_conn_close_stream(h3_, stream_id, app_error_code);
  if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
  if (ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_bidi(conn_, 1);
  return 0;
}

int Connection::on_stream_reset(int64_t stream_id, uint64_t) {
  if (h3_ && nghttp3_conn_shutdown_stream_read(h3_, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int Connection::on_extend_max_remote_bidi(uint64_t max_streams) {
  if (h3_) nghttp3_conn_set_max_client_streams_bidi(h3_, max_streams);
  return 0;
}

int Connection::on_extend_max_stream_data(int64_t stream_id) {
  if (h3_ && nghttp3_conn_unblock_stream(h3_, stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

// ---- HTTP/3 ----

bool Connection::setup_http3() {
  nghttp3_callbacks cb{};
  cb.acked_stream_data = ::qamp::ex::h3_acked_stream_data;
  cb.stream_close = ::qamp::ex::h3_stream_close;
  cb.deferred_consume = h3_deferred_consume;
  cb.recv_header = ::qamp::ex::h3_recv_header;
  cb.end_headers = ::qamp::ex::h3_end_headers;
  cb.stop_sending = ::qamp::ex::h3_stop_sending;
  cb.reset_stream = ::qamp::ex::h3_reset_stream;
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.qpack_max_dtable_capacity = 4096;
  settings.qpack_blocked_streams = 100;
  settings.max_field_section_size = kMaxFieldSection;  // advertised; enforced in h3_recv_header
  if (!g_digests) g_digests = std::make_unique<DigestWorker>(server_.loop(), DigestWorker::Limits{});
  if (nghttp3_conn_server_new(&h3_, &cb, &settings, nullptr, this) != 0) return false;
  // The bidirectional streams the *client* may open: our own initial_max_streams_bidi. (Not
  // ngtcp2_conn_get_streams_bidi_left, which counts the streams we may open, i.e. the client's
  // limit: a client announcing 1000 made the first MAX_STREAMS lower the count, and nghttp3
  // asserts that it only grows.)
  nghttp3_conn_set_max_client_streams_bidi(h3_, ngtcp2_conn_get_local_transport_params(conn_)->initial_max_streams_bidi);
  int64_t ctrl, enc, dec;
  if (ngtcp2_conn_open_uni_stream(conn_, &ctrl, nullptr) != 0 || nghttp3_conn_bind_control_stream(h3_, ctrl) != 0 ||
      ngtcp2_conn_open_uni_stream(conn_, &enc, nullptr) != 0 || ngtcp2_conn_open_uni_stream(conn_, &dec, nullptr) != 0 ||
      nghttp3_conn_bind_qpack_streams(h3_, enc, dec) != 0)
    return false;
  return true;
}

int Connection::h3_recv_header(int64_t stream_id, std::string_view name, std::string_view value) {
  auto &st = streams_[stream_id];
  if (!st) st = std::make_unique<Stream>();
  // Bounded per stream: past kMaxFieldSection nothing more is stored, the answer is 431.
  st->header_bytes += name.size() + value.size() + kFieldOverhead;
  if (st->header_bytes > kMaxFieldSection) st->headers_too_large = true;
  if (st->headers_too_large) return 0;
  if (name == ":method") st->method = value;
  else if (name == ":path") st->path = value;
  else if (name == ":authority") st->authority = value;
  else if (name == "range") st->range = value;
  else if (name == "if-range") st->if_range = value;
  return 0;
}

void Connection::log_refusal(const Stream &st, int status, const std::string &why) {
  auto v = g_refusal_log.allow(now_ns());
  if (!v.print) return;
  server_.log("[" + id_ + "] refused " + printable(st.method) + " " + printable(st.path) + " -> " +
              std::to_string(status) + ": " + why +
              (v.suppressed_before ? " (" + std::to_string(v.suppressed_before) + " similar lines suppressed)" : ""));
}

int Connection::h3_end_headers(int64_t stream_id) {
  auto &st = streams_[stream_id];
  if (!st) st = std::make_unique<Stream>();
  if (st->headers_too_large) {
    // RFC 6585 §5: 431 Request Header Fields Too Large.
    st->response = text_response(431, "request header fields larger than " + std::to_string(kMaxFieldSection) +
                                          " bytes");
    st->response.refusal = "header section above " + std::to_string(kMaxFieldSection) + " bytes";
  } else {
    st->response = respond(document_root(), {st->method, st->path, st->range, st->if_range},
                           server_.options().max_generated_bytes);
  }
  auto &r = st->response;
  if (!r.refusal.empty()) log_refusal(*st, r.status, r.refusal);
  if (!r.digest_key.empty()) {
    if (auto hex = g_digests->cached(r.digest_key)) {
      add_digest(r, *hex);
    } else if (g_digests->request(r.digest_key, r.digest_body, this,
                                  [this, stream_id](const std::string &h) { on_digest_ready(stream_id, h); })) {
      st->awaiting_digest = true;
      return 0;  // the header section goes out in on_digest_ready
    } else {
      log_refusal(*st, 503, "digest queue full");
      st->response = text_response(503, "busy: too many bodies being hashed, retry");
      st->response.headers.emplace_back("retry-after", "1");
      if (!method_sends_content(st->method)) st->response.body_length = 0;
    }
  }
  return submit_response(stream_id, *st);
}

void Connection::on_digest_ready(int64_t stream_id, const std::string &hex) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || !it->second->awaiting_digest || closed_ || draining_) return;  // reset meanwhile
  auto &st = *it->second;
  st.awaiting_digest = false;
  add_digest(st.response, hex);
  if (submit_response(stream_id, st) != 0) {
    ngtcp2_conn_shutdown_stream(conn_, 0, stream_id, NGHTTP3_H3_INTERNAL_ERROR);
  }
  write();
}

int Connection::submit_response(int64_t stream_id, Stream &st) {
  auto &r = st.response;
  server_.debug("[" + id_ + "] " + printable(st.method) + " " + printable(st.path) +
                (st.range.empty() ? "" : " range " + printable(st.range)) + " -> " + std::to_string(r.status) + " (" +
                std::to_string(r.body_length) + " bytes)");
  std::vector<nghttp3_nv> nva;
  auto add = [&](const std::string &n, const std::string &v) {
    nva.push_back({reinterpret_cast<const uint8_t *>(n.data()), reinterpret_cast<const uint8_t *>(v.data()), n.size(),
                   v.size(), NGHTTP3_NV_FLAG_NONE});
  };
  std::string status = std::to_string(r.status), server_name = "qamp-server";
  std::string kstatus = ":status", kserver = "server";
  add(kstatus, status);
  add(kserver, server_name);
  for (auto &[n, v] : r.headers) add(n, v);
  nghttp3_data_reader dr{::qamp::ex::h3_read_data};
  int rv = nghttp3_conn_submit_response(h3_, stream_id, nva.data(), nva.size(), r.body_length ? &dr : nullptr);
  if (rv != 0) return NGHTTP3_ERR_CALLBACK_FAILURE;
  return 0;
}

nghttp3_ssize Connection::h3_read_data(int64_t stream_id, nghttp3_vec *vec, size_t veccnt, uint32_t *flags) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return NGHTTP3_ERR_CALLBACK_FAILURE;
  auto &st = *it->second;
  auto &r = st.response;
  size_t i = 0;
  for (; i < veccnt && st.sent < r.body_length; ++i) {
    auto left = r.body_length - st.sent;
    auto s = r.body->at(r.body_offset + st.sent, static_cast<std::size_t>(std::min<std::uint64_t>(left, 65536)));
    vec[i].base = const_cast<uint8_t *>(s.data());
    vec[i].len = s.size();
    st.sent += s.size();
  }
  if (st.sent >= r.body_length) *flags |= NGHTTP3_DATA_FLAG_EOF;
  return static_cast<nghttp3_ssize>(i);
}

int Connection::h3_stream_close(int64_t stream_id) {
  streams_.erase(stream_id);
  return 0;
}

int Connection::h3_acked(int64_t, uint64_t) { return 0; }

int Connection::h3_stop_sending(int64_t stream_id, uint64_t app_error_code) {
  int rv = ngtcp2_conn_shutdown_stream_read(conn_, 0, stream_id, app_error_code);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

int Connection::h3_reset_stream(int64_t stream_id, uint64_t app_error_code) {
  // nghttp3 calls this for a request it refuses itself (RFC 9114 §4.1.2 malformed: a bad
  // character in :path, a missing pseudo-header...): no response is possible, the stream is
  // reset with its code; the read side gets STOP_SENDING from h3_stop_sending.
  if (auto v = g_refusal_log.allow(now_ns()); v.print)
    server_.log("[" + id_ + "] refused stream " + std::to_string(stream_id) + ": malformed request, reset with H3 error 0x" +
                hex_u64(app_error_code) +
                (v.suppressed_before ? " (" + std::to_string(v.suppressed_before) + " similar lines suppressed)" : ""));
  if (auto it = streams_.find(stream_id); it != streams_.end()) it->second->awaiting_digest = false;
  int rv = ngtcp2_conn_shutdown_stream_write(conn_, 0, stream_id, app_error_code);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

// ---- qlog ----

void Connection::qlog_write(const void *data, size_t len) {
  if (qlog_) std::fwrite(data, 1, len, qlog_);
}

void Connection::qlog_event(const std::string &name, const std::string &json_data) {
  if (!qlog_) return;
  // JSON-SEQ record in ngtcp2's qlog stream; time in ms since the connection started.
  double t = static_cast<double>(now_ns() - created_) / NGTCP2_MILLISECONDS;
  std::fprintf(qlog_, "\x1e{\"time\":%.3f,\"name\":\"%s\",\"data\":%s}\n", t, name.c_str(), json_data.c_str());
  std::fflush(qlog_);
}

}  // namespace qamp::ex
