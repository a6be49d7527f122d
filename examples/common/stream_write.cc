#include "stream_write.h"

#include <array>

namespace qamp::common {

StreamWrite write_stream_packet(ngtcp2_conn *conn, StreamSource *source, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                std::uint8_t *dest, std::size_t destlen, ngtcp2_tstamp ts) {
  using F = StreamWrite::Failure;
  for (;;) {
    std::int64_t stream_id = -1;
    int fin = 0;
    std::array<ngtcp2_vec, 16> vec{};
    std::int64_t veccnt = 0;
    if (source && ngtcp2_conn_get_max_data_left(conn)) {
      veccnt = source->pull(stream_id, fin, vec.data(), vec.size());
      if (veccnt < 0) return {0, F::pull, static_cast<int>(veccnt)};
    }
    ngtcp2_ssize ndatalen = -1;
    std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    auto n = ngtcp2_conn_writev_stream(conn, path, pi, dest, destlen, &ndatalen, flags, stream_id, vec.data(),
                                       static_cast<std::size_t>(veccnt), ts);
    if (n < 0) {
      // Stream data only comes with a source, so stream_id >= 0 implies one below.
      switch (n) {
        case NGTCP2_ERR_STREAM_DATA_BLOCKED: source->block_stream(stream_id); continue;
        case NGTCP2_ERR_STREAM_SHUT_WR: source->shutdown_stream_write(stream_id); continue;
        case NGTCP2_ERR_WRITE_MORE:
          if (source->add_write_offset(stream_id, static_cast<std::size_t>(ndatalen)) != 0)
            return {0, F::add_write_offset, 0};
          continue;
        default: return {0, F::ngtcp2, static_cast<int>(n)};
      }
    }
    if (ndatalen >= 0 && source && source->add_write_offset(stream_id, static_cast<std::size_t>(ndatalen)) != 0)
      return {0, F::add_write_offset, 0};
    return {static_cast<std::size_t>(n), F::none, 0};
  }
}

}  // namespace qamp::common
