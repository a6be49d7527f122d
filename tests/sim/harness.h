// tests/sim/harness.h — the pieces every in-memory QUIC test shares: real ngtcp2 connections with
// real GnuTLS sessions whose packets are handed across in memory (tests/e2e/inmem's handshake
// test, tests/fuzz's TLS-glue target and the simulator in tests/sim all build on it).
//
// No sockets, no clocks: the caller passes `now` (ngtcp2_tstamp) to every call and moves the
// Datagrams itself. Nothing here throws; failures are ngtcp2 error codes kept in Peer::rv.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <vector>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "net.h"
#include "stream_write.h"
#include "tls_creds.h"

namespace qamp::sim {

// One self-signed ECDSA P-256 certificate for "localhost", made once per process (generating a
// key per connection would dominate every run). The client credentials trust nothing: the
// sessions made from them do not verify the chain (common::make_session without verify_name).
struct Credentials {
  gnutls_certificate_credentials_t server = nullptr, client = nullptr;
  Credentials();
  ~Credentials();
  Credentials(const Credentials &) = delete;
  Credentials &operator=(const Credentials &) = delete;
};
Credentials &credentials();

// One UDP payload with the addresses it carries on the wire.
struct Datagram {
  Endpoint from, to;
  std::vector<std::uint8_t> data;
};

// One endpoint's connection: the single owner of its ngtcp2_conn and GnuTLS session. The
// callbacks of peer_callbacks() expect `this` as ngtcp2's user_data; a test that needs more
// state derives from Peer and static_casts the user_data back.
struct Peer {
  ngtcp2_conn *conn = nullptr;
  common::Session session;
  ngtcp2_crypto_conn_ref ref{};
  Endpoint local;
  bool handshake_done = false;
  bool handshake_confirmed = false;
  bool preferred_validated = false;  // a preferred-address validation succeeded (client)
  int migration_results = 0;         // other path validations that succeeded
  int rv = 0;                        // the first ngtcp2 error; a failed peer does nothing more
  // Where the peer's randomness comes from (CIDs, tokens, ngtcp2's rand callback); empty:
  // common::random_bytes. The simulator installs a seeded generator so runs repeat exactly.
  std::function<void(std::span<std::uint8_t>)> random;

  Peer() = default;
  Peer(const Peer &) = delete;
  Peer &operator=(const Peer &) = delete;
  ~Peer();  // the session goes first: GnuTLS may still reach the connection through `ref`

  void fill_random(std::span<std::uint8_t> out);
  // Takes ownership of `s` and ties it to `conn` both ways (conn must exist).
  void attach(common::Session s);
};

// ngtcp2_crypto's callbacks plus rand, get_new_connection_id (random CID and token),
// handshake_completed / handshake_confirmed and path_validation, all recording into the Peer.
ngtcp2_callbacks peer_callbacks(bool server);
// Default settings starting at `now`, with ngtcp2's rand callback drawing from `peer`.
ngtcp2_settings peer_settings(Peer &peer, ngtcp2_tstamp now);
// Ten bidirectional streams, 1 MiB of connection flow control, eight CIDs.
ngtcp2_transport_params base_params();
// A random CID of `len` octets from the peer's randomness.
ngtcp2_cid random_cid(Peer &peer, std::size_t len);

// Appends what `peer` has to send now (up to `max_packets` packets) to `out`, with the stream
// data of an HTTP/3 layer when given (nullptr: handshake and control frames only), through the
// write step both programs use (common::write_stream_packet); an error goes to peer.rv.
void flush(Peer &peer, ngtcp2_tstamp now, std::deque<Datagram> &out, int max_packets = 64,
           common::StreamSource *source = nullptr);
// Hands one datagram to ngtcp2_conn_read_pkt on the path (d.to, d.from); an error goes to peer.rv.
void deliver(Peer &peer, const Datagram &d, ngtcp2_tstamp now);

}  // namespace qamp::sim
