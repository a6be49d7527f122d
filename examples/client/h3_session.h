// examples/client/h3_session.h — the HTTP/3 session over one QUIC connection (nghttp3 client):
// control and QPACK streams, GET requests, response headers and body handed to a ResponseSink.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nghttp3/nghttp3.h>

#include "stream_app.h"

namespace qamp::client {

struct Request {
  std::string method = "GET";
  std::string scheme = "https";
  std::string authority;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields (range, if-range)
};

// One response, as the session sees it; implemented by a download.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void on_header(std::string_view name, std::string_view value) = 0;
  virtual void on_headers_end() = 0;
  virtual void on_body(std::span<const std::uint8_t> data) = 0;
  virtual void on_end_stream() = 0;                           // the server sent all of it (FIN)
  virtual void on_stream_close(std::uint64_t app_error) = 0;  // the stream is gone either way
};

class H3Session final : public StreamApp {
 public:
  explicit H3Session(StreamHost &quic);
  ~H3Session() override;
  H3Session(const H3Session &) = delete;
  H3Session &operator=(const H3Session &) = delete;

  // Creates the nghttp3 client and opens the control and QPACK streams (after the handshake).
  // Returns 0 or a negative error with *error set.
  int start(std::string *error);
  // Queues a request; it is sent as soon as the server allows another bidirectional stream.
  void submit(Request request, ResponseSink *sink);
  std::size_t open_requests() const noexcept { return open_ + queued_.size(); }
  // Cancels `sink`'s request (RFC 9114 §4.1.1: STOP_SENDING and RESET_STREAM with
  // H3_REQUEST_CANCELLED); the sink gets no further callback. A request still queued is dropped.
  void cancel(ResponseSink *sink);
  // Connection-level flow-control credit for consumed bytes goes to `credit` (--limit-rate
  // paces it) instead of back to the peer at once. Stream-level credit is always returned at
  // once: the connection window alone bounds the rate.
  void set_connection_credit(std::function<void(std::size_t)> credit) { credit_ = std::move(credit); }

  // StreamApp
  int recv_stream_data(std::int64_t stream_id, bool fin, std::span<const std::uint8_t> data) override;
  int acked_stream_data(std::int64_t stream_id, std::uint64_t datalen) override;
  int stream_close(std::int64_t stream_id, std::uint64_t app_error_code) override;
  int shutdown_stream_read(std::int64_t stream_id) override;
  int extend_max_stream_data(std::int64_t stream_id) override;
  int extend_max_local_streams_bidi() override;
  std::int64_t pull(std::int64_t &stream_id, int &fin, ngtcp2_vec *vec, std::size_t veccnt) override;
  void block_stream(std::int64_t stream_id) override;
  void shutdown_stream_write(std::int64_t stream_id) override;
  int add_write_offset(std::int64_t stream_id, std::size_t n) override;

 private:
  struct Callbacks;
  int send_queued();
  void consume(std::int64_t stream_id, std::size_t n);
  int fail(int liberr, const char *what);

  StreamHost &quic_;
  nghttp3_conn *h3_ = nullptr;
  std::deque<std::pair<Request, ResponseSink *>> queued_;
  std::vector<std::pair<ResponseSink *, std::int64_t>> streams_;  // open requests' stream IDs
  std::size_t open_ = 0;
  std::function<void(std::size_t)> credit_;
};

}  // namespace qamp::client
