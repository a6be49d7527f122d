// examples/server/connection_write.cc — the connection's write loop: what ngtcp2 and nghttp3
// have to send, packed into GSO batches (UDP_SEGMENT) of at most one send quantum, and the batch
// the socket could not take (EAGAIN) kept until the socket is writable again.
#include <algorithm>
#include <cstring>

#include "connection.h"
#include "server.h"
#include "stream_write.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

// nghttp3's write side, as the shared write step (common/stream_write.h) pulls it.
class H3Source final : public StreamSource {
 public:
  explicit H3Source(nghttp3_conn *h3) noexcept : h3_(h3) {}
  std::int64_t pull(std::int64_t &stream_id, int &fin, ngtcp2_vec *vec, std::size_t veccnt) override {
    // nghttp3_vec and ngtcp2_vec are the same {base, len} pair.
    return nghttp3_conn_writev_stream(h3_, &stream_id, &fin, reinterpret_cast<nghttp3_vec *>(vec), veccnt);
  }
  void block_stream(std::int64_t stream_id) override { nghttp3_conn_block_stream(h3_, stream_id); }
  void shutdown_stream_write(std::int64_t stream_id) override { nghttp3_conn_shutdown_stream_write(h3_, stream_id); }
  int add_write_offset(std::int64_t stream_id, std::size_t n) override {
    return nghttp3_conn_add_write_offset(h3_, stream_id, n);
  }

 private:
  nghttp3_conn *h3_;
};

}  // namespace

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
  const std::size_t max_udp = ngtcp2_conn_get_max_tx_udp_payload_size(conn_.get());
  const std::size_t mtu = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_.get());
  const std::size_t kMaxPerCall =
      std::clamp<std::size_t>(ngtcp2_conn_get_send_quantum(conn_.get()) / mtu, 1, kMaxBatch);
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
      auto remote = Endpoint::of(batch_path.path.remote);
      auto gso = batch_pkts > 1 ? gso_size : 0;
      if (server_.io().send(*sock, remote, {tx_.get(), batch_len}, gso) == ServerIo::kBlocked) {
        pending_ = Pending{sock, remote, {tx_.get(), tx_.get() + batch_len}, gso};
        writable_->arm_writable(*sock);
      }
    }
    batch_len = batch_pkts = 0;
  };
  if (pending_) {
    auto &p = *pending_;
    if (server_.io().send(*p.socket, p.remote, p.data, p.gso_size) == ServerIo::kBlocked) {
      writable_->arm_writable(*p.socket);  // still full
      return;
    }
    pending_.reset();
  }
  auto ts = server_.io().now();
  H3Source h3(h3_.get());
  while (written < kMaxPerCall && !pending_) {
    ngtcp2_pkt_info pi;
    auto *dest = tx_.get() + batch_len;
    auto w = write_stream_packet(conn_.get(), h3_ ? &h3 : nullptr, &ps.path, &pi, dest, max_udp, ts);
    if (!w.ok()) {
      flush();
      handle_error(w.failure == StreamWrite::Failure::ngtcp2 ? w.code : NGTCP2_ERR_CALLBACK_FAILURE);
      return;
    }
    if (w.len == 0) break;
    const auto len = w.len;
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
  ngtcp2_conn_update_pkt_tx_time(conn_.get(), ts);
  schedule_timer();
}

}  // namespace qamp::server
