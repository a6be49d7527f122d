// tests/fuzz/tls_glue_fuzzer.cc — libFuzzer target for qamp's TLS glue (qamp/tls.h): the
// quic_transport_parameters extension blob as the server receives it (in the ClientHello) and as
// the client receives it (in EncryptedExtensions). Each input runs one real in-memory handshake
// (ngtcp2 connections, GnuTLS sessions, packets handed across in memory, as
// tests/e2e/inmem/tls_glue_test.cc does); the sender's `tamper_outgoing` hook substitutes the
// fuzz payload for the blob it encoded, so the bytes reach the glue's receive function through
// GnuTLS exactly as a peer's would.
//
// Input layout: byte 0 bit 0 selects the receiver (0: server receives the payload as the
// client's blob, 1: client receives it as the server's); bits 1-3 are the spellings the client
// announces (the 0x2d50 bits). The remaining bytes are the blob.
//
// Promises (a broken one is an abort()):
//   - the receiving side's verdict agrees with the codec: the glue accepts the blob exactly when
//     decode_client_params / decode_server_params does (ngtcp2 may still refuse the standard
//     view, e.g. a missing original_destination_connection_id: then the handshake fails too);
//   - a rejected blob never completes the handshake, and the receiver reports an error;
//   - what a client learnt is what the codec decodes from the same bytes.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "net.h"
#include "qamp/tls.h"
#include "qamp/tp_codec.h"
#include "quic_callbacks.h"
#include "tls_creds.h"

namespace {

using namespace qamp;
using qamp::ex::Endpoint;

void expect(bool ok, const char *promise) {
  if (ok) return;
  std::fprintf(stderr, "tls_glue_fuzzer: broken promise: %s\n", promise);
  std::abort();
}

ngtcp2_tstamp g_now = 1'000'000'000;

// Fixed 18-byte connection IDs, so that seeds can carry the original_destination_connection_id
// and initial_source_connection_id ngtcp2 checks (make_corpus.sh writes them): every byte is
// one of these.
constexpr uint8_t kClientDcidByte = 0xd0, kClientScidByte = 0xc0, kServerScidByte = 0x50;

// One self-signed ECDSA key pair for the whole run (generating one per input would dominate).
struct Keypair {
  gnutls_certificate_credentials_t server = nullptr, client = nullptr;
  Keypair() {
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
  ~Keypair() {
    gnutls_certificate_free_credentials(server);
    gnutls_certificate_free_credentials(client);
  }
};

Keypair &keys() {
  static Keypair k;
  return k;
}

struct Packet {
  Endpoint from, to;
  std::vector<uint8_t> data;
};

ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return static_cast<ngtcp2_conn *>(ref->user_data); }
void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *) { ex::random_bytes({dest, len}); }
int new_cid_cb(ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *) {
  std::array<uint8_t, NGTCP2_MAX_CIDLEN> b;
  ex::random_bytes({b.data(), cidlen});
  ngtcp2_cid_init(cid, b.data(), cidlen);
  ex::random_bytes({token, NGTCP2_STATELESS_RESET_TOKENLEN});
  return 0;
}

struct Side {
  ngtcp2_conn *conn = nullptr;
  ex::Session session;
  ngtcp2_crypto_conn_ref ref{};
  Endpoint local;
  bool handshake_done = false;
  int rv = 0;
  ~Side() {
    session.reset();
    if (conn) ngtcp2_conn_del(conn);
  }
};

ngtcp2_callbacks callbacks(bool server) {
  auto cb = ex::crypto_callbacks(server);
  cb.rand = rand_cb;
  cb.get_new_connection_id = new_cid_cb;
  cb.handshake_completed = [](ngtcp2_conn *, void *u) {
    static_cast<Side *>(u)->handshake_done = true;
    return 0;
  };
  return cb;
}

ngtcp2_transport_params base_params() {
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_streams_bidi = 10;
  params.initial_max_data = 1 << 20;
  params.active_connection_id_limit = 8;
  return params;
}

struct Handshake {
  Side client, server;
  Endpoint server_addr = *ex::parse_endpoint("127.0.0.1:443");
  Endpoint server_spa = *ex::parse_endpoint("127.0.0.2:443");
  std::deque<Packet> to_server, to_client;
  std::function<void(Bytes &)> tamper_server;
  bool ok = true;  // set-up succeeded

  Handshake(SpellingSet support, std::function<void(Bytes &)> tamper_client, std::function<void(Bytes &)> ts)
      : tamper_server(std::move(ts)) {
    client.local = *ex::parse_endpoint("127.0.0.1:50000");
    auto cb = callbacks(false);
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = g_now;
    auto params = base_params();
    std::array<uint8_t, 18> d, sc;
    d.fill(kClientDcidByte);
    sc.fill(kClientScidByte);
    ngtcp2_cid dcid, scid;
    ngtcp2_cid_init(&dcid, d.data(), d.size());
    ngtcp2_cid_init(&scid, sc.data(), sc.size());
    ngtcp2_path path{client.local.addr(), server_addr.addr(), nullptr};
    expect(ngtcp2_conn_client_new(&client.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params,
                                  nullptr, &client) == 0,
           "the client connection is created");
    std::string err;
    client.session = ex::make_session(false, keys().client, "localhost", &err);
    expect(!!client.session, "the client session is created");
    ClientTpConfig cc;
    cc.support = support;
    cc.tamper_outgoing = std::move(tamper_client);
    expect(configure_client_session(client.session.get(), cc) == 0, "the client session is configured");
    client.ref = {get_conn, client.conn};
    gnutls_session_set_ptr(client.session.get(), &client.ref);
    ngtcp2_conn_set_tls_native_handle(client.conn, client.session.get());
  }

  void create_server(const ngtcp2_pkt_hd &hd, const Packet &p) {
    auto cb = callbacks(true);
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = g_now;
    auto params = base_params();
    params.original_dcid = hd.dcid;
    params.original_dcid_present = 1;
    params.preferred_addr_present = 1;
    std::memcpy(&params.preferred_addr.ipv4, server_spa.sa(), sizeof params.preferred_addr.ipv4);
    params.preferred_addr.ipv4_present = 1;
    new_cid_cb(nullptr, &params.preferred_addr.cid, params.preferred_addr.stateless_reset_token, 18, nullptr);
    std::array<uint8_t, 18> sc;
    sc.fill(kServerScidByte);
    ngtcp2_cid scid;
    ngtcp2_cid_init(&scid, sc.data(), sc.size());
    server.local = p.to;
    auto from = p.from;
    ngtcp2_path path{server.local.addr(), from.addr(), nullptr};
    expect(ngtcp2_conn_server_new(&server.conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params,
                                  nullptr, &server) == 0,
           "the server connection is created");
    std::string err;
    server.session = ex::make_session(true, keys().server, "", &err);
    expect(!!server.session, "the server session is created");
    ServerTpConfig sc2;
    sc2.policy = {Level::none, Level::same_ip, Level::any};
    sc2.tamper_outgoing = tamper_server;
    expect(configure_server_session(server.session.get(), sc2) == 0, "the server session is configured");
    expect(require_transport_params_extension(server.session.get()) == 0, "the 0x39 check is installed");
    server.ref = {get_conn, server.conn};
    gnutls_session_set_ptr(server.session.get(), &server.ref);
    ngtcp2_conn_set_tls_native_handle(server.conn, server.session.get());
  }

  static void flush(Side &s, std::deque<Packet> &out) {
    for (int i = 0; i < 32 && s.rv == 0; ++i) {
      std::array<uint8_t, 1500> buf;
      ngtcp2_path_storage ps;
      ngtcp2_path_storage_zero(&ps);
      ngtcp2_pkt_info pi;
      auto n = ngtcp2_conn_write_pkt(s.conn, &ps.path, &pi, buf.data(), buf.size(), g_now);
      if (n < 0) s.rv = static_cast<int>(n);
      if (n <= 0) return;
      out.push_back({Endpoint::from(ps.path.local.addr, ps.path.local.addrlen),
                     Endpoint::from(ps.path.remote.addr, ps.path.remote.addrlen),
                     {buf.begin(), buf.begin() + n}});
    }
  }

  static void deliver(Side &s, Packet &p) {
    if (s.rv != 0) return;
    ngtcp2_path path{p.to.addr(), p.from.addr(), nullptr};
    ngtcp2_pkt_info pi{};
    s.rv = ngtcp2_conn_read_pkt(s.conn, &path, &pi, p.data.data(), p.data.size(), g_now);
  }

  void run(int rounds) {
    for (int r = 0; r < rounds && client.rv == 0 && server.rv == 0; ++r) {
      flush(client, to_server);
      while (!to_server.empty()) {
        auto p = std::move(to_server.front());
        to_server.pop_front();
        if (!server.conn) {
          ngtcp2_pkt_hd hd;
          if (ngtcp2_accept(&hd, p.data.data(), p.data.size()) != 0) continue;
          create_server(hd, p);
        }
        deliver(server, p);
      }
      if (server.conn) flush(server, to_client);
      while (!to_client.empty()) {
        auto p = std::move(to_client.front());
        to_client.pop_front();
        deliver(client, p);
      }
      if (client.handshake_done && server.handshake_done) return;
      g_now += 10 * NGTCP2_MILLISECONDS;
    }
  }
};

// The server receives `blob` as the client's transport parameters.
void server_receives(ByteView blob, SpellingSet support) {
  // An empty blob makes GnuTLS leave the extension out of the ClientHello: the server must refuse
  // it with missing_extension (RFC 9001 §8.2), not abort in ngtcp2 (issue 10 item 1, which this
  // target found on its own before the check existed).
  if (blob.empty()) {
    Handshake h(support, [](Bytes &b) { b.clear(); }, {});
    h.run(8);
    expect(h.server.conn != nullptr, "the client's Initial reaches the server");
    expect(!h.server.handshake_done && h.server.rv != 0, "a ClientHello without 0x39 fails the handshake");
    expect(ngtcp2_conn_get_tls_alert(h.server.conn) == 109, "the server's alert is missing_extension");
    return;
  }
  Handshake h(support, [blob](Bytes &b) { b.assign(blob.begin(), blob.end()); }, {});
  h.run(8);
  expect(h.server.conn != nullptr, "the client's Initial reaches the server");
  const auto codec = decode_client_params(blob);
  const auto *st = server_tp_state(h.server.session.get());
  expect(st != nullptr, "the server session has qamp's state");
  if (!codec) {
    expect(st->error.has_value(), "the glue rejects a client blob the codec rejects");
    expect(!h.server.handshake_done && h.server.rv != 0, "a rejected client blob fails the handshake");
    return;
  }
  expect(!st->error, "the glue accepts a client blob the codec accepts");
  expect(st->client_support == codec->support && st->client_announced == codec->announced,
         "the server learns the client's 0x2d50 as the codec reads it");
  if (h.server.handshake_done) {
    ngtcp2_transport_params ng;
    expect(ngtcp2_transport_params_decode(&ng, blob.data(), blob.size()) == 0 || blob.empty(),
           "a completed handshake had a client blob ngtcp2 accepts");
  }
}

// The client (announcing `support`) receives `blob` as the server's transport parameters.
void client_receives(ByteView blob, SpellingSet support) {
  Handshake h(support, {}, [blob](Bytes &b) { b.assign(blob.begin(), blob.end()); });
  h.run(8);
  const auto *st = client_tp_state(h.client.session.get());
  expect(st != nullptr, "the client session has qamp's state");
  // The blob never reached the client's glue (the server failed before EncryptedExtensions, or
  // an empty blob left the extension out).
  if (!st->server && !st->error) return;
  const auto codec = decode_server_params(blob, support);
  if (!codec) {
    expect(st->error.has_value() && !st->server, "the glue rejects a server blob the codec rejects");
    expect(!h.client.handshake_done && h.client.rv != 0, "a rejected server blob fails the handshake");
    return;
  }
  expect(st->server.has_value(), "the glue keeps a server blob the codec accepts");
  expect(!st->error, "the glue accepts a server blob the codec accepts");
  expect(st->server->policy == codec->policy && st->server->spelling == codec->spelling,
         "the client learns the policy and spelling the codec decodes");
  expect(st->server->preferred_address == codec->preferred_address,
         "the client learns the preferred address the codec decodes");
  if (h.client.handshake_done) {
    const auto *remote = ngtcp2_conn_get_remote_transport_params(h.client.conn);
    expect(remote && !remote->disable_active_migration, "ngtcp2 on the client sees the permissive view");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size == 0) return 0;
  const SpellingSet support = (data[0] >> 1) & kAllSpellings;
  const ByteView blob(data + 1, size - 1);
  if (data[0] & 1)
    client_receives(blob, support);
  else
    server_receives(blob, support);
  return 0;
}
