// tests/fuzz/tls_glue_fuzzer.cc — libFuzzer target for qamp's TLS glue (qamp/tls.h): the
// quic_transport_parameters extension blob as the server receives it (in the ClientHello) and as
// the client receives it (in EncryptedExtensions). Each input runs one real in-memory handshake
// (ngtcp2 connections, GnuTLS sessions, packets handed across in memory by the shared harness
// of tests/sim/harness.h, as tests/e2e/inmem/tls_glue_test.cc does); the sender's `tamper_outgoing` hook substitutes
// the fuzz payload for the blob it encoded, so the bytes reach the glue's receive function through GnuTLS exactly as a
// peer's would.
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
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "harness.h"
#include "qamp/tls.h"
#include "qamp/tp_codec.h"

namespace {

using namespace qamp;

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

using sim::Datagram;
using sim::Peer;

ngtcp2_cid fixed_cid(std::uint8_t byte) {
  std::array<std::uint8_t, 18> b;
  b.fill(byte);
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, b.data(), b.size());
  return cid;
}

struct Handshake {
  Peer client, server;
  Endpoint server_addr = *Endpoint::parse("127.0.0.1:443");
  Endpoint server_spa = *Endpoint::parse("127.0.0.2:443");
  std::deque<Datagram> to_server, to_client;
  std::function<void(Bytes &)> tamper_server;
  bool ok = true;  // set-up succeeded

  Handshake(SpellingSet support, std::function<void(Bytes &)> tamper_client, std::function<void(Bytes &)> ts)
      : tamper_server(std::move(ts)) {
    client.local = *Endpoint::parse("127.0.0.1:50000");
    auto cb = sim::peer_callbacks(false);
    auto settings = sim::peer_settings(client, g_now);
    auto params = sim::base_params();
    auto dcid = fixed_cid(kClientDcidByte), scid = fixed_cid(kClientScidByte);
    ngtcp2_path path{client.local.addr(), server_addr.addr(), nullptr};
    expect(ngtcp2_conn_client_new(&client.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params,
                                  nullptr, &client) == 0,
           "the client connection is created");
    std::string err;
    auto session = common::make_session(false, sim::credentials().client, "localhost", &err);
    expect(!!session, "the client session is created");
    client.attach(std::move(session));
    ClientTpConfig cc;
    cc.support = support;
    cc.tamper_outgoing = std::move(tamper_client);
    expect(configure_client_session(client.session.get(), cc) == 0, "the client session is configured");
  }

  void create_server(const ngtcp2_pkt_hd &hd, const Datagram &p) {
    auto cb = sim::peer_callbacks(true);
    auto settings = sim::peer_settings(server, g_now);
    auto params = sim::base_params();
    params.original_dcid = hd.dcid;
    params.original_dcid_present = 1;
    params.preferred_addr_present = 1;
    std::memcpy(&params.preferred_addr.ipv4, server_spa.sa(), sizeof params.preferred_addr.ipv4);
    params.preferred_addr.ipv4_present = 1;
    params.preferred_addr.cid = sim::random_cid(server, 18);
    server.fill_random(params.preferred_addr.stateless_reset_token);
    auto scid = fixed_cid(kServerScidByte);
    server.local = p.to;
    auto from = p.from;
    ngtcp2_path path{server.local.addr(), from.addr(), nullptr};
    expect(ngtcp2_conn_server_new(&server.conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params, nullptr,
                                  &server) == 0,
           "the server connection is created");
    std::string err;
    auto session = common::make_session(true, sim::credentials().server, "", &err);
    expect(!!session, "the server session is created");
    server.attach(std::move(session));
    ServerTpConfig sc2;
    sc2.policy = {Level::none, Level::same_ip, Level::any};
    sc2.tamper_outgoing = tamper_server;
    expect(configure_server_session(server.session.get(), sc2) == 0, "the server session is configured");
    expect(require_transport_params_extension(server.session.get()) == 0, "the 0x39 check is installed");
  }

  void run(int rounds) {
    for (int r = 0; r < rounds && client.rv == 0 && server.rv == 0; ++r) {
      sim::flush(client, g_now, to_server, 32);
      while (!to_server.empty()) {
        auto p = std::move(to_server.front());
        to_server.pop_front();
        if (!server.conn) {
          ngtcp2_pkt_hd hd;
          if (ngtcp2_accept(&hd, p.data.data(), p.data.size()) != 0) continue;
          create_server(hd, p);
        }
        sim::deliver(server, p, g_now);
      }
      if (server.conn) sim::flush(server, g_now, to_client, 32);
      while (!to_client.empty()) {
        auto p = std::move(to_client.front());
        to_client.pop_front();
        sim::deliver(client, p, g_now);
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
