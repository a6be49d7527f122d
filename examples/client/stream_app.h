// examples/client/stream_app.h — the two sides of the line between the QUIC connection and the
// HTTP/3 session on it: StreamApp (what the session offers the connection: ngtcp2's stream
// callbacks and the write side) and StreamHost (what the session asks of the connection).
// QuicConnection (quic_connection.h) is qamp-client's StreamHost; the simulator's client
// (tests/sim/client.cc) is another, so the simulator runs qamp-client's own H3Session.
#pragma once

#include <cstdint>
#include <span>

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

#include "callback_barrier.h"
#include "stream_write.h"

namespace qamp::client {

// ngtcp2's stream callbacks, as the application layer sees them; the write side is
// common::StreamSource (pull, block_stream, shutdown_stream_write, add_write_offset), shared with
// qamp-server's write loop.
class StreamApp : public common::StreamSource {
 public:
  // Each returns 0, or NGTCP2_ERR_CALLBACK_FAILURE after setting the connection's error.
  virtual int recv_stream_data(std::int64_t stream_id, bool fin, std::span<const std::uint8_t> data) = 0;
  virtual int acked_stream_data(std::int64_t stream_id, std::uint64_t datalen) = 0;
  virtual int stream_close(std::int64_t stream_id, std::uint64_t app_error_code) = 0;
  virtual int shutdown_stream_read(std::int64_t stream_id) = 0;
  virtual int extend_max_stream_data(std::int64_t stream_id) = 0;
  virtual int extend_max_local_streams_bidi() = 0;
};

// What an HTTP/3 session (h3_session.h) needs of the QUIC connection under it: the ngtcp2
// connection for its stream calls, the StreamApp slot that ngtcp2's stream callbacks go to, and
// the application error for a failing callback. QuicConnection is one; the simulator's client
// (tests/sim) another.
class StreamHost {
 public:
  virtual ~StreamHost() = default;
  virtual ngtcp2_conn *conn() const noexcept = 0;
  virtual void set_app(StreamApp *app) noexcept = 0;
  virtual void set_app_error(std::uint64_t code) noexcept = 0;
};

// ngtcp2's seven stream callbacks in `cb`, each routed to the StreamApp that AppOf(user_data)
// returns (nullptr before the session exists: the callback does nothing) behind the exception
// barrier. A stream closed without an application error code closes with H3_NO_ERROR; a reset
// and a STOP_SENDING both end the stream's read side. QuicConnection and the simulator's client
// route their connections' streams with it.
template <StreamApp *(*AppOf)(void *user_data)>
void route_stream_callbacks(ngtcp2_callbacks &cb) {
  cb.recv_stream_data = [](ngtcp2_conn *, std::uint32_t flags, std::int64_t id, std::uint64_t, const std::uint8_t *data,
                           std::size_t len, void *u, void *) {
    return common::ngtcp2_barrier("recv_stream_data", [&] {
      auto *app = AppOf(u);
      return app ? app->recv_stream_data(id, flags & NGTCP2_STREAM_DATA_FLAG_FIN, {data, len}) : 0;
    });
  };
  cb.acked_stream_data_offset = [](ngtcp2_conn *, std::int64_t id, std::uint64_t, std::uint64_t len, void *u, void *) {
    return common::ngtcp2_barrier("acked_stream_data_offset", [&] {
      auto *app = AppOf(u);
      return app ? app->acked_stream_data(id, len) : 0;
    });
  };
  cb.stream_close = [](ngtcp2_conn *, std::uint32_t flags, std::int64_t id, std::uint64_t code, void *u, void *) {
    return common::ngtcp2_barrier("stream_close", [&] {
      auto *app = AppOf(u);
      if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
      return app ? app->stream_close(id, code) : 0;
    });
  };
  cb.stream_reset = [](ngtcp2_conn *, std::int64_t id, std::uint64_t, std::uint64_t, void *u, void *) {
    return common::ngtcp2_barrier("stream_reset", [&] {
      auto *app = AppOf(u);
      return app ? app->shutdown_stream_read(id) : 0;
    });
  };
  cb.stream_stop_sending = [](ngtcp2_conn *, std::int64_t id, std::uint64_t, void *u, void *) {
    return common::ngtcp2_barrier("stream_stop_sending", [&] {
      auto *app = AppOf(u);
      return app ? app->shutdown_stream_read(id) : 0;
    });
  };
  cb.extend_max_local_streams_bidi = [](ngtcp2_conn *, std::uint64_t, void *u) {
    return common::ngtcp2_barrier("extend_max_local_streams_bidi", [&] {
      auto *app = AppOf(u);
      return app ? app->extend_max_local_streams_bidi() : 0;
    });
  };
  cb.extend_max_stream_data = [](ngtcp2_conn *, std::int64_t id, std::uint64_t, void *u, void *) {
    return common::ngtcp2_barrier("extend_max_stream_data", [&] {
      auto *app = AppOf(u);
      return app ? app->extend_max_stream_data(id) : 0;
    });
  };
}

}  // namespace qamp::client
