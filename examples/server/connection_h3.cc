// examples/server/connection_h3.cc — the connection's HTTP/3 glue: the nghttp3 session (its
// setup and callback trampolines), QUIC stream events forwarded to it, request headers into a
// response (request.h / response.h rules), the SHA-256 digest wait, and response bodies.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "callback_barrier.h"
#include "connection.h"
#include "docroot.h"
#include "request.h"
#include "server.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

Connection *self(void *user_data) { return static_cast<Connection *>(user_data); }

// ---- nghttp3 callbacks: trampolines into Connection, each behind the exception barrier ----

int h3_recv_header(nghttp3_conn *, int64_t stream_id, int32_t, nghttp3_rcbuf *name, nghttp3_rcbuf *value, uint8_t,
                   void *user_data, void *) {
  return nghttp3_barrier("recv_header", [&] {
    auto n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
    return self(user_data)->h3_recv_header(stream_id, {reinterpret_cast<const char *>(n.base), n.len},
                                           {reinterpret_cast<const char *>(v.base), v.len});
  });
}

int h3_end_headers(nghttp3_conn *, int64_t stream_id, int, void *user_data, void *) {
  return nghttp3_barrier("end_headers", [&] { return self(user_data)->h3_end_headers(stream_id); });
}

int h3_stream_close(nghttp3_conn *, int64_t stream_id, uint64_t, void *user_data, void *) {
  return nghttp3_barrier("stream_close", [&] { return self(user_data)->h3_stream_close(stream_id); });
}

int h3_acked_stream_data(nghttp3_conn *, int64_t stream_id, uint64_t datalen, void *user_data, void *) {
  return nghttp3_barrier("acked_stream_data", [&] { return self(user_data)->h3_acked(stream_id, datalen); });
}

int h3_deferred_consume(nghttp3_conn *, int64_t stream_id, size_t consumed, void *user_data, void *) {
  // Bytes nghttp3 held back (e.g. QPACK-blocked) are consumed now: give the flow-control
  // credit back, as for bytes consumed at once in on_stream_data.
  return nghttp3_barrier("deferred_consume", [&] {
    self(user_data)->on_consumed(stream_id, consumed);
    return 0;
  });
}

nghttp3_ssize h3_read_data(nghttp3_conn *, int64_t stream_id, nghttp3_vec *vec, size_t veccnt, uint32_t *pflags,
                           void *user_data, void *) {
  return nghttp3_barrier("read_data", [&] { return self(user_data)->h3_read_data(stream_id, vec, veccnt, pflags); });
}

int h3_stop_sending(nghttp3_conn *, int64_t stream_id, uint64_t app_error_code, void *user_data, void *) {
  return nghttp3_barrier("stop_sending", [&] { return self(user_data)->h3_stop_sending(stream_id, app_error_code); });
}

int h3_reset_stream(nghttp3_conn *, int64_t stream_id, uint64_t app_error_code, void *user_data, void *) {
  return nghttp3_barrier("reset_stream", [&] { return self(user_data)->h3_reset_stream(stream_id, app_error_code); });
}


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

}  // namespace

void Connection::cancel_digest_requests() {
  if (asked_digest_) server_.io().digests().cancel(this);
}

// ---- QUIC stream events, forwarded to nghttp3 ----

int Connection::on_stream_data(int64_t stream_id, std::span<const std::uint8_t> data, bool fin) {
  if (!h3_) return 0;
  auto n = nghttp3_conn_read_stream(h3_.get(), stream_id, data.data(), data.size(), fin);
  if (n < 0) {
    server_.debug("[" + id_ + "] nghttp3_conn_read_stream: " + nghttp3_strerror(static_cast<int>(n)));
    ngtcp2_ccerr_set_application_error(&ccerr_, nghttp3_err_infer_quic_app_error_code(static_cast<int>(n)), nullptr, 0);
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  on_consumed(stream_id, static_cast<uint64_t>(n));
  return 0;
}

void Connection::on_consumed(int64_t stream_id, uint64_t n) {
  ngtcp2_conn_extend_max_stream_offset(conn_.get(), stream_id, n);
  ngtcp2_conn_extend_max_offset(conn_.get(), n);
}

int Connection::on_acked(int64_t stream_id, uint64_t datalen) {
  if (h3_ && nghttp3_conn_add_ack_offset(h3_.get(), stream_id, datalen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int Connection::on_stream_close(int64_t stream_id, uint64_t app_error_code, bool has_code) {
  if (!h3_) return 0;
  if (!has_code) app_error_code = NGHTTP3_H3_NO_ERROR;
  int rv = nghttp3_conn_close_stream(h3_.get(), stream_id, app_error_code);
  if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
  if (ngtcp2_is_bidi_stream(stream_id)) ngtcp2_conn_extend_max_streams_bidi(conn_.get(), 1);
  return 0;
}

int Connection::on_stream_reset(int64_t stream_id, uint64_t) {
  if (h3_ && nghttp3_conn_shutdown_stream_read(h3_.get(), stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int Connection::on_extend_max_remote_bidi(uint64_t max_streams) {
  if (h3_.get()) nghttp3_conn_set_max_client_streams_bidi(h3_.get(), max_streams);
  return 0;
}

int Connection::on_extend_max_stream_data(int64_t stream_id) {
  if (h3_ && nghttp3_conn_unblock_stream(h3_.get(), stream_id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

// ---- HTTP/3 ----

bool Connection::setup_http3() {
  nghttp3_callbacks cb{};
  cb.acked_stream_data = ::qamp::server::h3_acked_stream_data;
  cb.stream_close = ::qamp::server::h3_stream_close;
  cb.deferred_consume = h3_deferred_consume;
  cb.recv_header = ::qamp::server::h3_recv_header;
  cb.end_headers = ::qamp::server::h3_end_headers;
  cb.stop_sending = ::qamp::server::h3_stop_sending;
  cb.reset_stream = ::qamp::server::h3_reset_stream;
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.qpack_max_dtable_capacity = 4096;
  settings.qpack_blocked_streams = 100;
  settings.max_field_section_size = kMaxFieldSection;  // advertised; enforced in h3_recv_header
  nghttp3_conn *h3 = nullptr;
  if (nghttp3_conn_server_new(&h3, &cb, &settings, nullptr, this) != 0) return false;
  h3_.reset(h3);
  // The bidirectional streams the *client* may open: our own initial_max_streams_bidi. (Not
  // ngtcp2_conn_get_streams_bidi_left, which counts the streams we may open, i.e. the client's
  // limit: a client announcing 1000 made the first MAX_STREAMS lower the count, and nghttp3
  // asserts that it only grows.)
  nghttp3_conn_set_max_client_streams_bidi(
      h3_.get(), ngtcp2_conn_get_local_transport_params(conn_.get())->initial_max_streams_bidi);
  int64_t ctrl, enc, dec;
  if (ngtcp2_conn_open_uni_stream(conn_.get(), &ctrl, nullptr) != 0 ||
      nghttp3_conn_bind_control_stream(h3_.get(), ctrl) != 0 ||
      ngtcp2_conn_open_uni_stream(conn_.get(), &enc, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(conn_.get(), &dec, nullptr) != 0 ||
      nghttp3_conn_bind_qpack_streams(h3_.get(), enc, dec) != 0)
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
  if (name == ":method")
    st->method = value;
  else if (name == ":path")
    st->path = value;
  else if (name == ":authority")
    st->authority = value;
  else if (name == "range")
    st->range = value;
  else if (name == "if-range")
    st->if_range = value;
  return 0;
}

void Connection::log_refusal(const Stream &st, int status, const std::string &why) {
  auto v = server_.refusal_log().allow(server_.io().now());
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
    st->response =
        text_response(431, "request header fields larger than " + std::to_string(kMaxFieldSection) + " bytes");
    st->response.refusal = "header section above " + std::to_string(kMaxFieldSection) + " bytes";
  } else {
    st->response = respond(document_root(), {st->method, st->path, st->range, st->if_range},
                           server_.options().max_generated_bytes);
  }
  auto &r = st->response;
  if (!r.refusal.empty()) log_refusal(*st, r.status, r.refusal);
  if (!r.digest_key.empty()) {
    auto &digests = server_.io().digests();
    asked_digest_ = true;
    if (auto hex = digests.cached(r.digest_key)) {
      add_digest(r, *hex);
    } else if (digests.request(r.digest_key, r.digest_body, this,
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
    ngtcp2_conn_shutdown_stream(conn_.get(), 0, stream_id, NGHTTP3_H3_INTERNAL_ERROR);
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
  nghttp3_data_reader dr{::qamp::server::h3_read_data};
  int rv = nghttp3_conn_submit_response(h3_.get(), stream_id, nva.data(), nva.size(), r.body_length ? &dr : nullptr);
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
  int rv = ngtcp2_conn_shutdown_stream_read(conn_.get(), 0, stream_id, app_error_code);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

int Connection::h3_reset_stream(int64_t stream_id, uint64_t app_error_code) {
  // nghttp3 calls this for a request it refuses itself (RFC 9114 §4.1.2 malformed: a bad
  // character in :path, a missing pseudo-header...): no response is possible, the stream is
  // reset with its code; the read side gets STOP_SENDING from h3_stop_sending.
  if (auto v = server_.refusal_log().allow(server_.io().now()); v.print)
    server_.log("[" + id_ + "] refused stream " + std::to_string(stream_id) +
                ": malformed request, reset with H3 error 0x" + hex_u64(app_error_code) +
                (v.suppressed_before ? " (" + std::to_string(v.suppressed_before) + " similar lines suppressed)" : ""));
  if (auto it = streams_.find(stream_id); it != streams_.end()) it->second->awaiting_digest = false;
  int rv = ngtcp2_conn_shutdown_stream_write(conn_.get(), 0, stream_id, app_error_code);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

}  // namespace qamp::server
