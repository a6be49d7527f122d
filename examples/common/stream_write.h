// examples/common/stream_write.h — the ngtcp2 stream-write step both programs share: pull the
// next stream data from the HTTP/3 layer, hand it to ngtcp2_conn_writev_stream, and settle what
// ngtcp2 answers (a blocked or shut stream, WRITE_MORE) until one packet is built or there is
// nothing left to send. Each program packs the packets its own way around it: qamp-server in GSO
// batches (examples/server/connection_write.cc), qamp-client one datagram at a time
// (examples/client/quic_connection.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include <ngtcp2/ngtcp2.h>

namespace qamp::common {

// The write side of an HTTP/3 layer (nghttp3 in both programs).
class StreamSource {
 public:
  virtual ~StreamSource() = default;
  // The next stream data to send: the number of vectors filled (0 and stream_id -1 when there is
  // nothing), or a negative nghttp3 error.
  virtual std::int64_t pull(std::int64_t &stream_id, int &fin, ngtcp2_vec *vec, std::size_t veccnt) = 0;
  virtual void block_stream(std::int64_t stream_id) = 0;                    // ngtcp2: stream flow control
  virtual void shutdown_stream_write(std::int64_t stream_id) = 0;           // ngtcp2: the stream's write side is shut
  virtual int add_write_offset(std::int64_t stream_id, std::size_t n) = 0;  // n bytes went into packets
};

struct StreamWrite {
  enum class Failure {
    none,
    pull,              // StreamSource::pull failed: code is its nghttp3 error
    add_write_offset,  // StreamSource::add_write_offset failed
    ngtcp2,            // ngtcp2_conn_writev_stream failed: code is its error
  };
  std::size_t len = 0;  // with Failure::none: the packet's length in dest, 0 when nothing was written
  Failure failure = Failure::none;
  int code = 0;
  bool ok() const noexcept { return failure == Failure::none; }
};

// Writes at most one packet into dest (destlen bytes) on `path`/`pi` as ngtcp2 fills them. A
// null `source` writes control frames only (no HTTP/3 layer yet). Never returns with ngtcp2
// holding a half-built packet (WRITE_MORE is settled here).
StreamWrite write_stream_packet(ngtcp2_conn *conn, StreamSource *source, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                std::uint8_t *dest, std::size_t destlen, ngtcp2_tstamp ts);

}  // namespace qamp::common
