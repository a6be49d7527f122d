// In-memory client/server handshakes through qamp's TLS glue (no sockets): real ngtcp2
// connections, real GnuTLS sessions, packets handed across in memory. Checks DESIGN.md §4's
// claims: the wire carries the policy, ngtcp2 sees the permissive view, the client can migrate
// after the move to the preferred address, and a malformed parameter closes the connection with
// TRANSPORT_PARAMETER_ERROR.
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "harness.h"
#include "qamp/tls.h"

using namespace qamp;

namespace {

ngtcp2_tstamp g_now = 1'000'000'000;

using sim::Datagram;
using sim::Peer;

struct Setup {
  Policy policy{Level::none, Level::any, Level::any};
  std::vector<Spelling> preference{Spelling::pr3898, Spelling::ext, Spelling::dam_values};
  SpellingSet client_support = kAllSpellings;
  bool stock_client = false;  // ngtcp2's own gnutls helper on the client (no qamp)
  bool stock_server = false;  // ngtcp2's own gnutls helper on the server (the native glue path)
  std::function<void(Bytes &)> tamper_server, tamper_client;
};

struct Pair {
  Peer client, server;
  Endpoint server_hs = *Endpoint::parse("127.0.0.1:443");
  Endpoint server_spa = *Endpoint::parse("127.0.0.2:443");
  Endpoint client_addr = *Endpoint::parse("127.0.0.1:50000");
  std::deque<Datagram> to_server, to_client;
  bool server_created = false;
  Setup setup;

  explicit Pair(Setup s) : setup(std::move(s)) {
    client.local = client_addr;
    auto cb = sim::peer_callbacks(false);
    cb.select_preferred_addr = [](ngtcp2_conn *, ngtcp2_path *dest, const ngtcp2_preferred_addr *paddr, void *) {
      if (!paddr->ipv4_present) return 0;
      // Keep the local address; the remote becomes the preferred IPv4 address.
      std::memcpy(dest->remote.addr, &paddr->ipv4, sizeof paddr->ipv4);
      dest->remote.addrlen = sizeof paddr->ipv4;
      return 0;
    };
    auto settings = sim::peer_settings(client, g_now);
    auto params = sim::base_params();
    auto dcid = sim::random_cid(client, 18), scid = sim::random_cid(client, 18);
    ngtcp2_path path{client.local.addr(), server_hs.addr(), nullptr};
    REQUIRE(ngtcp2_conn_client_new(&client.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params,
                                   nullptr, &client) == 0);
    std::string err;
    auto session = common::make_session(false, sim::credentials().client, "localhost", &err);
    REQUIRE(session);
    client.attach(std::move(session));
    if (setup.stock_client) {
      REQUIRE(ngtcp2_crypto_gnutls_configure_client_session(client.session.get()) == 0);
    } else {
      ClientTpConfig cc;
      cc.support = setup.client_support;
      cc.tamper_outgoing = setup.tamper_client;
      REQUIRE(configure_client_session(client.session.get(), cc) == 0);
    }
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
    auto scid = sim::random_cid(server, 18);
    server.local = p.to;
    auto from = p.from;
    ngtcp2_path path{server.local.addr(), from.addr(), nullptr};
    REQUIRE(ngtcp2_conn_server_new(&server.conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params, nullptr,
                                   &server) == 0);
    std::string err;
    auto session = common::make_session(true, sim::credentials().server, "", &err);
    REQUIRE(session);
    server.attach(std::move(session));
    ServerTpConfig sc2;
    sc2.policy = setup.policy;
    sc2.preference = setup.preference;
    sc2.tamper_outgoing = setup.tamper_server;
    if (setup.stock_server)
      REQUIRE(ngtcp2_crypto_gnutls_configure_server_session(server.session.get()) == 0);
    else
      REQUIRE(configure_server_session(server.session.get(), sc2) == 0);
    REQUIRE(require_transport_params_extension(server.session.get()) == 0);
    server_created = true;
  }

  // Runs the exchange for `rounds` rounds of 10 ms.
  void run(int rounds) {
    for (int r = 0; r < rounds; ++r) {
      sim::flush(client, g_now, to_server);
      while (!to_server.empty()) {
        auto p = std::move(to_server.front());
        to_server.pop_front();
        if (!server_created) {
          ngtcp2_pkt_hd hd;
          if (ngtcp2_accept(&hd, p.data.data(), p.data.size()) != 0) continue;
          create_server(hd, p);
        }
        sim::deliver(server, p, g_now);
      }
      if (server_created) sim::flush(server, g_now, to_client);
      while (!to_client.empty()) {
        auto p = std::move(to_client.front());
        to_client.pop_front();
        sim::deliver(client, p, g_now);
      }
      g_now += 10 * NGTCP2_MILLISECONDS;
      for (auto *s : {&client, &server})
        if (s->conn && ngtcp2_conn_get_expiry(s->conn) <= g_now) ngtcp2_conn_handle_expiry(s->conn, g_now);
    }
  }

  // Sends the CONNECTION_CLOSE a failed side owes its peer, and lets the peer read it.
  uint64_t close_code_seen_by_server() {
    ngtcp2_ccerr ccerr;
    ngtcp2_ccerr_default(&ccerr);
    ngtcp2_ccerr_set_liberr(&ccerr, client.rv, nullptr, 0);
    std::array<uint8_t, 1500> buf;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    auto n = ngtcp2_conn_write_connection_close(client.conn, &ps.path, &pi, buf.data(), buf.size(), &ccerr, g_now);
    REQUIRE(n > 0);
    Datagram p{Endpoint::of(ps.path.local), Endpoint::of(ps.path.remote), {buf.begin(), buf.begin() + n}};
    sim::deliver(server, p, g_now);
    CHECK(server.rv == NGTCP2_ERR_DRAINING);
    return ngtcp2_conn_get_ccerr(server.conn)->error_code;
  }
};

}  // namespace

TEST_CASE("each spelling carries the policy; ngtcp2 sees the permissive view") {
  struct Row {
    const char *name;
    std::vector<Spelling> preference;
    SpellingSet support;
    const char *spelling;
    Policy sent, learnt;
  };
  const Policy p{Level::none, Level::same_ip, Level::any};
  const std::vector<Row> rows = {
      {"pr3898 preferred and announced",
       {Spelling::pr3898},
       kAllSpellings,
       "pr3898",
       p,
       {Level::none, Level::same_ip, Level::same_ip}},
      {"ext", {Spelling::ext}, kAllSpellings, "ext", p, p},
      {"dam-values", {Spelling::dam_values}, kAllSpellings, "dam-values", p, p},
      {"server prefers pr3898, client only parses ext", {Spelling::pr3898, Spelling::ext}, 0x1, "ext", p, p},
      {"legacy client: RFC 9000 form", {Spelling::pr3898}, 0, "rfc9000", p, {Level::none, Level::any, Level::any}},
  };
  for (auto &row : rows) {
    CAPTURE(row.name);
    Setup s;
    s.policy = row.sent;
    s.preference = row.preference;
    s.client_support = row.support;
    Pair pair(s);
    pair.run(20);
    REQUIRE(pair.client.rv == 0);
    REQUIRE(pair.server.rv == 0);
    REQUIRE(pair.client.handshake_done);
    auto *st = client_tp_state(pair.client.session.get());
    REQUIRE(st);
    REQUIRE(st->server);
    CHECK(to_string(st->server->spelling) == std::string(row.spelling));
    CHECK(st->server->policy == row.learnt);
    auto *sst = server_tp_state(pair.server.session.get());
    REQUIRE(sst);
    CHECK(sst->client_support == row.support);
    // The permissive view: ngtcp2 on both sides runs without disable_active_migration.
    CHECK(ngtcp2_conn_get_remote_transport_params(pair.client.conn)->disable_active_migration == 0);
    CHECK(ngtcp2_conn_get_local_transport_params(pair.server.conn)->disable_active_migration == 0);
    CHECK(ngtcp2_conn_get_remote_transport_params(pair.client.conn)->preferred_addr_present == 1);
  }
}

TEST_CASE("after the move to the preferred address the client can migrate (stock ngtcp2 refuses)") {
  for (bool stock : {false, true}) {
    CAPTURE(stock);
    Setup s;
    s.policy = {Level::none, Level::any, Level::any};
    s.stock_client = stock;
    Pair pair(s);
    pair.run(60);
    REQUIRE(pair.client.rv == 0);
    REQUIRE(pair.client.preferred_validated);
    auto newlocal = *Endpoint::parse("127.0.0.3:50001");
    auto remote = pair.server_spa;
    ngtcp2_path path{newlocal.addr(), remote.addr(), nullptr};
    int rv = ngtcp2_conn_initiate_migration(pair.client.conn, &path, g_now);
    if (stock) {
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
      // Built against the patched ngtcp2 (patches/ngtcp2/0001): RFC 9000 §18.2 semantics.
      CHECK(rv == 0);
#else
      // ngtcp2 1.11 applies 0x0c to the whole connection (DESIGN.md §1): the reason for the layer.
      CHECK(rv == NGTCP2_ERR_INVALID_STATE);
#endif
    } else {
      CHECK(rv == 0);
      pair.client.local = newlocal;
      pair.run(40);
      CHECK(pair.client.migration_results == 1);
      CHECK(pair.client.rv == 0);
    }
  }
}

TEST_CASE("a malformed parameter closes the connection with TRANSPORT_PARAMETER_ERROR") {
  struct Row {
    const char *name;
    bool from_server;
    std::function<void(Bytes &)> tamper;
  };
  auto append = [](uint64_t id, Bytes value) {
    return [id, value](Bytes &b) {
      varint::append(b, id);
      varint::append(b, value.size());
      b.insert(b.end(), value.begin(), value.end());
    };
  };
  const std::vector<Row> rows = {
      {"server: 2-byte 0x2d51 (ext)", true,
       [](Bytes &b) {
         auto params = *parse_params(b);
         for (auto &p : params)
           if (p.id == kTpAddressMigrationPolicy) p.value.push_back(0);
         b = serialize_params(params);
       }},
      {"server: reserved level 3 in 0x2d51", true,
       [](Bytes &b) {
         auto params = *parse_params(b);
         for (auto &p : params)
           if (p.id == kTpAddressMigrationPolicy) p.value = {0x03};
         b = serialize_params(params);
       }},
      {"server: echo with two bits", true,
       [](Bytes &b) {
         auto params = *parse_params(b);
         for (auto &p : params)
           if (p.id == kTpMigrationPolicySupport) p.value = {0x03};
         b = serialize_params(params);
       }},
      {"server: duplicate parameter", true, append(kTpAddressMigrationPolicy, {0x00})},
      {"client: 0x2d50 with trailing byte", false,
       [](Bytes &b) {
         auto params = *parse_params(b);
         for (auto &p : params)
           if (p.id == kTpMigrationPolicySupport) p.value.push_back(0);
         b = serialize_params(params);
       }},
  };
  for (auto &row : rows) {
    CAPTURE(row.name);
    Setup s;
    s.preference = {Spelling::ext};
    (row.from_server ? s.tamper_server : s.tamper_client) = row.tamper;
    Pair pair(s);
    pair.run(20);
    if (row.from_server) {
      REQUIRE(pair.client.rv == NGTCP2_ERR_TRANSPORT_PARAM);
      auto *st = client_tp_state(pair.client.session.get());
      REQUIRE(st->error);
      CHECK(st->error->code == kTransportParameterError);
      CHECK(pair.close_code_seen_by_server() == NGTCP2_TRANSPORT_PARAMETER_ERROR);
    } else {
      CHECK(pair.server.rv == NGTCP2_ERR_TRANSPORT_PARAM);
      auto *st = server_tp_state(pair.server.session.get());
      REQUIRE(st->error);
    }
  }
}

TEST_CASE("a ClientHello without quic_transport_parameters is refused with missing_extension (RFC 9001 §8.2)") {
  for (bool stock_server : {false, true}) {
    CAPTURE(stock_server);
    Setup s;
    s.stock_server = stock_server;
    // An empty blob: GnuTLS omits an extension whose send function writes nothing.
    s.tamper_client = [](Bytes &b) { b.clear(); };
    Pair pair(s);
    pair.run(20);
    REQUIRE(pair.server_created);
    REQUIRE(pair.server.rv == NGTCP2_ERR_CRYPTO);
    CHECK(ngtcp2_conn_get_tls_alert(pair.server.conn) == GNUTLS_A_MISSING_EXTENSION);
    // The CONNECTION_CLOSE the server owes: CRYPTO_ERROR 0x100 + 109, read by the client.
    ngtcp2_ccerr ccerr;
    ngtcp2_ccerr_default(&ccerr);
    ngtcp2_ccerr_set_tls_alert(&ccerr, ngtcp2_conn_get_tls_alert(pair.server.conn), nullptr, 0);
    std::array<uint8_t, 1500> buf;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    auto n = ngtcp2_conn_write_connection_close(pair.server.conn, &ps.path, &pi, buf.data(), buf.size(), &ccerr, g_now);
    REQUIRE(n > 0);
    Datagram p{Endpoint::of(ps.path.local), Endpoint::of(ps.path.remote), {buf.begin(), buf.begin() + n}};
    sim::deliver(pair.client, p, g_now);
    CHECK(pair.client.rv == NGTCP2_ERR_DRAINING);
    CHECK(ngtcp2_conn_get_ccerr(pair.client.conn)->error_code == 0x16d);
    CHECK_FALSE(pair.client.handshake_done);
  }
}
