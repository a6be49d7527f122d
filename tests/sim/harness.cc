// tests/sim/harness.cc — see harness.h.
#include "harness.h"

#include <algorithm>
#include <array>
#include <ctime>

#include <gnutls/x509.h>

#include "quic_callbacks.h"

namespace qamp::sim {

Credentials::Credentials() {
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
  gnutls_x509_privkey_init(&key);
  gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
  gnutls_x509_crt_init(&crt);
  gnutls_x509_crt_set_version(crt, 3);
  unsigned char serial = 1;
  gnutls_x509_crt_set_serial(crt, &serial, 1);
  gnutls_x509_crt_set_activation_time(crt, time(nullptr) - 60);
  gnutls_x509_crt_set_expiration_time(crt, time(nullptr) + 24 * 3600);
  gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost", 9);
  gnutls_x509_crt_set_key(crt, key);
  gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
  gnutls_certificate_allocate_credentials(&server);
  gnutls_certificate_set_x509_key(server, &crt, 1, key);
  gnutls_certificate_allocate_credentials(&client);
  gnutls_x509_crt_deinit(crt);
  gnutls_x509_privkey_deinit(key);
}

Credentials::~Credentials() {
  gnutls_certificate_free_credentials(server);
  gnutls_certificate_free_credentials(client);
}

Credentials &credentials() {
  static Credentials c;
  return c;
}

Peer::~Peer() {
  session.reset();
  if (conn) ngtcp2_conn_del(conn);
}

void Peer::fill_random(std::span<std::uint8_t> out) {
  if (random)
    random(out);
  else
    common::random_bytes(out);
}

namespace {

ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return static_cast<ngtcp2_conn *>(ref->user_data); }

Peer &peer_of(void *user_data) { return *static_cast<Peer *>(user_data); }

}  // namespace

void Peer::attach(common::Session s) {
  session = std::move(s);
  ref = {get_conn, conn};
  gnutls_session_set_ptr(session.get(), &ref);
  ngtcp2_conn_set_tls_native_handle(conn, session.get());
}

ngtcp2_cid random_cid(Peer &peer, std::size_t len) {
  std::array<std::uint8_t, NGTCP2_MAX_CIDLEN> b{};
  peer.fill_random({b.data(), len});
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, b.data(), len);
  return cid;
}

ngtcp2_callbacks peer_callbacks(bool server) {
  auto cb = common::crypto_callbacks(server);
  cb.rand = [](std::uint8_t *dest, std::size_t len, const ngtcp2_rand_ctx *ctx) {
    peer_of(ctx->native_handle).fill_random({dest, len});
  };
  cb.get_new_connection_id = [](ngtcp2_conn *, ngtcp2_cid *cid, std::uint8_t *token, std::size_t cidlen, void *u) {
    *cid = random_cid(peer_of(u), cidlen);
    peer_of(u).fill_random({token, NGTCP2_STATELESS_RESET_TOKENLEN});
    return 0;
  };
  cb.handshake_completed = [](ngtcp2_conn *, void *u) {
    peer_of(u).handshake_done = true;
    return 0;
  };
  cb.handshake_confirmed = [](ngtcp2_conn *, void *u) {
    peer_of(u).handshake_confirmed = true;
    return 0;
  };
  cb.path_validation = [](ngtcp2_conn *, std::uint32_t flags, const ngtcp2_path *, const ngtcp2_path *,
                          ngtcp2_path_validation_result res, void *u) {
    if (res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS) {
      if (flags & NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR)
        peer_of(u).preferred_validated = true;
      else
        ++peer_of(u).migration_results;
    }
    return 0;
  };
  return cb;
}

ngtcp2_settings peer_settings(Peer &peer, ngtcp2_tstamp now) {
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now;
  settings.rand_ctx.native_handle = &peer;
  return settings;
}

ngtcp2_transport_params base_params() {
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_streams_bidi = 10;
  params.initial_max_data = 1 << 20;
  params.active_connection_id_limit = 8;
  return params;
}

void flush(Peer &peer, ngtcp2_tstamp now, std::deque<Datagram> &out, int max_packets, common::StreamSource *source) {
  for (int i = 0; i < max_packets && peer.rv == 0; ++i) {
    std::array<std::uint8_t, 1500> buf;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    auto w = common::write_stream_packet(peer.conn, source, &ps.path, &pi, buf.data(), buf.size(), now);
    if (!w.ok()) {
      peer.rv = w.failure == common::StreamWrite::Failure::ngtcp2 ? w.code : NGTCP2_ERR_CALLBACK_FAILURE;
      return;
    }
    if (w.len == 0) return;
    out.push_back({Endpoint::of(ps.path.local), Endpoint::of(ps.path.remote), {buf.begin(), buf.begin() + w.len}});
  }
}

void deliver(Peer &peer, const Datagram &d, ngtcp2_tstamp now) {
  if (peer.rv != 0) return;
  auto to = d.to, from = d.from;
  ngtcp2_path path{to.addr(), from.addr(), nullptr};
  ngtcp2_pkt_info pi{};
  peer.rv = ngtcp2_conn_read_pkt(peer.conn, &path, &pi, d.data.data(), d.data.size(), now);
}

}  // namespace qamp::sim
