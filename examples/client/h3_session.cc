#include "h3_session.h"

#include "callback_barrier.h"

#include <algorithm>
#include <exception>
#include <string_view>

namespace qamp::client {

namespace {

ResponseSink *sink_of(void *stream_user_data) { return static_cast<ResponseSink *>(stream_user_data); }

std::string_view view(nghttp3_rcbuf *buf) {
  auto v = nghttp3_rcbuf_get_buf(buf);
  return {reinterpret_cast<const char *>(v.base), v.len};
}

// Views only: nghttp3 copies nothing until nghttp3_conn_submit_request returns, so every name and
// value must outlive that call. A string_view parameter keeps a literal in static storage (a
// `const std::string &` parameter made a temporary that died before the call: ASan
// stack-use-after-scope in every request).
nghttp3_nv nv(std::string_view name, std::string_view value) {
  return nghttp3_nv{reinterpret_cast<const uint8_t *>(name.data()), reinterpret_cast<const uint8_t *>(value.data()),
                    name.size(), value.size(), NGHTTP3_NV_FLAG_NONE};
}

}  // namespace

// nghttp3's callbacks: C entry points forwarding to the sink; no exception crosses them.
struct H3Session::Callbacks {
  static H3Session *self(void *conn_user_data) { return static_cast<H3Session *>(conn_user_data); }

  // The shared barrier (callback_barrier.h); these callbacks have no result of their own.
  template <class F>
  static int guarded(F &&f) noexcept {
    return common::nghttp3_barrier("nghttp3 (client)", [&] {
      f();
      return 0;
    });
  }

  static int recv_header(nghttp3_conn *, int64_t, int32_t, nghttp3_rcbuf *name, nghttp3_rcbuf *value, uint8_t, void *,
                         void *stream_user_data) {
    return guarded([&] {
      if (auto *s = sink_of(stream_user_data)) s->on_header(view(name), view(value));
    });
  }

  static int end_headers(nghttp3_conn *, int64_t, int, void *, void *stream_user_data) {
    return guarded([&] {
      if (auto *s = sink_of(stream_user_data)) s->on_headers_end();
    });
  }

  static int recv_data(nghttp3_conn *, int64_t stream_id, const uint8_t *data, size_t datalen, void *conn_user_data,
                       void *stream_user_data) {
    return guarded([&] {
      if (auto *s = sink_of(stream_user_data)) s->on_body({data, datalen});
      // The body is consumed as it arrives: give the flow-control credit back at once.
      self(conn_user_data)->consume(stream_id, datalen);
    });
  }

  static int deferred_consume(nghttp3_conn *, int64_t stream_id, size_t consumed, void *conn_user_data, void *) {
    return guarded([&] { self(conn_user_data)->consume(stream_id, consumed); });
  }

  static int end_stream(nghttp3_conn *, int64_t, void *, void *stream_user_data) {
    return guarded([&] {
      if (auto *s = sink_of(stream_user_data)) s->on_end_stream();
    });
  }

  static int stream_close(nghttp3_conn *, int64_t, uint64_t app_error_code, void *conn_user_data,
                          void *stream_user_data) {
    return guarded([&] {
      auto *h = self(conn_user_data);
      if (auto *s = sink_of(stream_user_data)) {
        if (h->open_) --h->open_;
        std::erase_if(h->streams_, [s](const auto &e) { return e.first == s; });
        s->on_stream_close(app_error_code);
      }
    });
  }

  static int stop_sending(nghttp3_conn *, int64_t stream_id, uint64_t app_error_code, void *conn_user_data, void *) {
    auto *h = self(conn_user_data);
    return ngtcp2_conn_shutdown_stream_read(h->quic_.conn(), 0, stream_id, app_error_code) == 0
               ? 0
               : NGHTTP3_ERR_CALLBACK_FAILURE;
  }

  static int reset_stream(nghttp3_conn *, int64_t stream_id, uint64_t app_error_code, void *conn_user_data, void *) {
    auto *h = self(conn_user_data);
    return ngtcp2_conn_shutdown_stream_write(h->quic_.conn(), 0, stream_id, app_error_code) == 0
               ? 0
               : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
};

H3Session::H3Session(StreamHost &quic) : quic_(quic) {}

H3Session::~H3Session() {
  quic_.set_app(nullptr);
  if (h3_) nghttp3_conn_del(h3_);
}

int H3Session::start(std::string *error) {
  nghttp3_callbacks cb{};
  cb.recv_header = Callbacks::recv_header;
  cb.end_headers = Callbacks::end_headers;
  cb.recv_data = Callbacks::recv_data;
  cb.deferred_consume = Callbacks::deferred_consume;
  cb.end_stream = Callbacks::end_stream;
  cb.stream_close = Callbacks::stream_close;
  cb.stop_sending = Callbacks::stop_sending;
  cb.reset_stream = Callbacks::reset_stream;
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.qpack_max_dtable_capacity = 4096;
  settings.qpack_blocked_streams = 100;
  if (int rv = nghttp3_conn_client_new(&h3_, &cb, &settings, nullptr, this); rv != 0) {
    *error = std::string("nghttp3_conn_client_new: ") + nghttp3_strerror(rv);
    return rv;
  }
  auto *conn = quic_.conn();
  if (ngtcp2_conn_get_streams_uni_left(conn) < 3) {
    *error = "the server allows fewer than 3 unidirectional streams (HTTP/3 needs control + QPACK)";
    return -1;
  }
  int64_t ctrl = -1, enc = -1, dec = -1;
  if (ngtcp2_conn_open_uni_stream(conn, &ctrl, nullptr) != 0 || ngtcp2_conn_open_uni_stream(conn, &enc, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(conn, &dec, nullptr) != 0) {
    *error = "cannot open the HTTP/3 control and QPACK streams";
    return -1;
  }
  if (int rv = nghttp3_conn_bind_control_stream(h3_, ctrl); rv != 0) {
    *error = std::string("nghttp3_conn_bind_control_stream: ") + nghttp3_strerror(rv);
    return rv;
  }
  if (int rv = nghttp3_conn_bind_qpack_streams(h3_, enc, dec); rv != 0) {
    *error = std::string("nghttp3_conn_bind_qpack_streams: ") + nghttp3_strerror(rv);
    return rv;
  }
  quic_.set_app(this);
  return send_queued();
}

void H3Session::submit(Request request, ResponseSink *sink) {
  queued_.emplace_back(std::move(request), sink);
  if (h3_) send_queued();
}

int H3Session::send_queued() {
  while (!queued_.empty()) {
    int64_t stream_id = -1;
    int rv = ngtcp2_conn_open_bidi_stream(quic_.conn(), &stream_id, nullptr);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) return 0;  // extend_max_local_streams_bidi retries
    if (rv != 0) return fail(rv, "ngtcp2_conn_open_bidi_stream");
    auto &[req, sink] = queued_.front();
    std::vector<nghttp3_nv> nva{nv(":method", req.method), nv(":scheme", req.scheme), nv(":authority", req.authority),
                                nv(":path", req.path)};
    nva.push_back(nv("user-agent", "qamp-client"));
    for (const auto &[k, v] : req.headers) nva.push_back(nv(k, v));
    rv = nghttp3_conn_submit_request(h3_, stream_id, nva.data(), nva.size(), nullptr, sink);
    if (rv != 0) return fail(rv, "nghttp3_conn_submit_request");
    ++open_;
    streams_.emplace_back(sink, stream_id);
    queued_.pop_front();
  }
  return 0;
}

void H3Session::cancel(ResponseSink *sink) {
  std::erase_if(queued_, [sink](const auto &q) { return q.second == sink; });
  auto it = std::find_if(streams_.begin(), streams_.end(), [sink](const auto &e) { return e.first == sink; });
  if (it == streams_.end()) return;
  const auto id = it->second;
  streams_.erase(it);
  if (open_) --open_;
  nghttp3_conn_set_stream_user_data(h3_, id, nullptr);
  nghttp3_conn_shutdown_stream_read(h3_, id);
  ngtcp2_conn_shutdown_stream(quic_.conn(), 0, id, NGHTTP3_H3_REQUEST_CANCELLED);
}

int H3Session::fail(int liberr, const char *what) {
  quic_.set_app_error(nghttp3_err_infer_quic_app_error_code(liberr));
  (void)what;
  return NGTCP2_ERR_CALLBACK_FAILURE;
}

void H3Session::consume(std::int64_t stream_id, std::size_t n) {
  ngtcp2_conn_extend_max_stream_offset(quic_.conn(), stream_id, n);
  if (credit_)
    credit_(n);
  else
    ngtcp2_conn_extend_max_offset(quic_.conn(), n);
}

int H3Session::recv_stream_data(std::int64_t stream_id, bool fin, std::span<const std::uint8_t> data) {
  auto n = nghttp3_conn_read_stream(h3_, stream_id, data.data(), data.size(), fin);
  if (n < 0) return fail(static_cast<int>(n), "nghttp3_conn_read_stream");
  consume(stream_id, static_cast<std::size_t>(n));
  return 0;
}

int H3Session::acked_stream_data(std::int64_t stream_id, std::uint64_t datalen) {
  int rv = nghttp3_conn_add_ack_offset(h3_, stream_id, datalen);
  return rv == 0 ? 0 : fail(rv, "nghttp3_conn_add_ack_offset");
}

int H3Session::stream_close(std::int64_t stream_id, std::uint64_t app_error_code) {
  int rv = nghttp3_conn_close_stream(h3_, stream_id, app_error_code);
  if (rv == 0 || rv == NGHTTP3_ERR_STREAM_NOT_FOUND) return 0;
  return fail(rv, "nghttp3_conn_close_stream");
}

int H3Session::shutdown_stream_read(std::int64_t stream_id) {
  int rv = nghttp3_conn_shutdown_stream_read(h3_, stream_id);
  return rv == 0 ? 0 : fail(rv, "nghttp3_conn_shutdown_stream_read");
}

int H3Session::extend_max_stream_data(std::int64_t stream_id) {
  int rv = nghttp3_conn_unblock_stream(h3_, stream_id);
  return rv == 0 ? 0 : fail(rv, "nghttp3_conn_unblock_stream");
}

int H3Session::extend_max_local_streams_bidi() { return h3_ ? send_queued() : 0; }

std::int64_t H3Session::pull(std::int64_t &stream_id, int &fin, ngtcp2_vec *vec, std::size_t veccnt) {
  // nghttp3_vec and ngtcp2_vec have the same layout ({base, len}), as ngtcp2's examples rely on.
  static_assert(sizeof(nghttp3_vec) == sizeof(ngtcp2_vec));
  return nghttp3_conn_writev_stream(h3_, &stream_id, &fin, reinterpret_cast<nghttp3_vec *>(vec), veccnt);
}

void H3Session::block_stream(std::int64_t stream_id) { nghttp3_conn_block_stream(h3_, stream_id); }

void H3Session::shutdown_stream_write(std::int64_t stream_id) { nghttp3_conn_shutdown_stream_write(h3_, stream_id); }

int H3Session::add_write_offset(std::int64_t stream_id, std::size_t n) {
  return nghttp3_conn_add_write_offset(h3_, stream_id, n);
}

}  // namespace qamp::client
