// examples/client/stream_app.h — the two sides of the line between the QUIC connection and the
// HTTP/3 session on it: StreamApp (what the session offers the connection: ngtcp2's stream
// callbacks and the write side) and StreamHost (what the session asks of the connection).
// QuicConnection (quic_connection.h) is qamp-client's StreamHost; the simulator's client
// (tests/sim/client.cc) is another, so the simulator runs qamp-client's own H3Session.
#pragma once

#include <cstdint>
#include <span>

#include <ngtcp2/ngtcp2.h>

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

}  // namespace qamp::client
