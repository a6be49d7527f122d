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
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "net.h"
#include "quic_callbacks.h"
#include "qamp/tls.h"
#include "tls_creds.h"

using namespace qamp;
using qamp::ex::Endpoint;

namespace {

ngtcp2_tstamp g_now = 1'000'000'000;

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
    gnutls_x509_crt_set_expiration_time(crt, time(nullptr) + 3600);
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
  std::vector<uint8_t> b(cidlen);
  ex::random_bytes(b);
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
  bool preferred_validated = false;
  int migration_results = 0;
  ~Side() {
    if (conn) ngtcp2_conn_del(conn);
  }
};

ngtcp2_callbacks common_callbacks(bool server) {
  auto cb = ex::crypto_callbacks(server);
  cb.rand = rand_cb;
  cb.get_new_connection_id = new_cid_cb;
  cb.handshake_completed = [](ngtcp2_conn *, void *u) {
    static_cast<Side *>(u)->handshake_done = true;
    return 0;
  };
  cb.path_validation = [](ngtcp2_conn *, uint32_t flags, const ngtcp2_path *, const ngtcp2_path *,
                          ngtcp2_path_validation_result res, void *u) {
    auto *s = static_cast<Side *>(u);
    if (res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS) {
      if (flags & NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR) s->preferred_validated = true;
      else ++s->migration_results;
    }
    return 0;
  };
  return cb;
}

struct Setup {
  Policy policy{Level::none, Level::any, Level::any};
  std::vector<Spelling> preference{Spelling::pr3898, Spelling::ext, Spelling::dam_values};
  SpellingSet client_support = kAllSpellings;
  bool stock_client = false;  // ngtcp2's own gnutls helper on the client (no qamp)
  bool stock_server = false;  // ngtcp2's own gnutls helper on the server (the native glue path)
  std::function<void(Bytes &)> tamper_server, tamper_client;
};

struct Pair {
  Side client, server;
  Endpoint server_hs = *ex::parse_endpoint("127.0.0.1:443");
  Endpoint server_spa = *ex::parse_endpoint("127.0.0.2:443");
  Endpoint client_addr = *ex::parse_endpoint("127.0.0.1:50000");
  std::deque<Packet> to_server, to_client;
  bool server_created = false;
  Setup setup;

  explicit Pair(Setup s) : setup(std::move(s)) {
    client.local = client_addr;
    auto cb = common_callbacks(false);
    cb.select_preferred_addr = [](ngtcp2_conn *, ngtcp2_path *dest, const ngtcp2_preferred_addr *paddr, void *u) {
      auto *p = static_cast<Pair *>(static_cast<Side *>(u)->ref.user_data == nullptr ? nullptr : u);
      (void)p;
      if (!paddr->ipv4_present) return 0;
      // Keep the local address; the remote becomes the preferred IPv4 address.
      std::memcpy(dest->remote.addr, &paddr->ipv4, sizeof paddr->ipv4);
      dest->remote.addrlen = sizeof paddr->ipv4;
      return 0;
    };
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = g_now;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_bidi = 10;
    params.initial_max_data = 1 << 20;
    params.active_connection_id_limit = 8;
    std::array<uint8_t, 18> d, sc;
    ex::random_bytes(d);
    ex::random_bytes(sc);
    ngtcp2_cid dcid, scid;
    ngtcp2_cid_init(&dcid, d.data(), d.size());
    ngtcp2_cid_init(&scid, sc.data(), sc.size());
    ngtcp2_path path{client.local.addr(), server_hs.addr(), nullptr};
    REQUIRE(ngtcp2_conn_client_new(&client.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings,
                                   &params, nullptr, &client) == 0);
    std::string err;
    client.session = ex::make_session(false, keys().client, "localhost", &err);
    REQUIRE(client.session);
    if (setup.stock_client) {
      REQUIRE(ngtcp2_crypto_gnutls_configure_client_session(client.session.get()) == 0);
    } else {
      ClientTpConfig cc;
      cc.support = setup.client_support;
      cc.tamper_outgoing = setup.tamper_client;
      REQUIRE(configure_client_session(client.session.get(), cc) == 0);
    }
    client.ref = {get_conn, client.conn};
    gnutls_session_set_ptr(client.session.get(), &client.ref);
    ngtcp2_conn_set_tls_native_handle(client.conn, client.session.get());
  }

  void create_server(const ngtcp2_pkt_hd &hd, const Packet &p) {
    auto cb = common_callbacks(true);
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = g_now;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_bidi = 10;
    params.initial_max_data = 1 << 20;
    params.active_connection_id_limit = 8;
    params.original_dcid = hd.dcid;
    params.original_dcid_present = 1;
    params.preferred_addr_present = 1;
    std::memcpy(&params.preferred_addr.ipv4, server_spa.sa(), sizeof params.preferred_addr.ipv4);
    params.preferred_addr.ipv4_present = 1;
    new_cid_cb(nullptr, &params.preferred_addr.cid, params.preferred_addr.stateless_reset_token, 18, nullptr);
    std::array<uint8_t, 18> sc;
    ex::random_bytes(sc);
    ngtcp2_cid scid;
    ngtcp2_cid_init(&scid, sc.data(), sc.size());
    server.local = p.to;
    auto from = p.from;
    ngtcp2_path path{server.local.addr(), from.addr(), nullptr};
    REQUIRE(ngtcp2_conn_server_new(&server.conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params,
                                   nullptr, &server) == 0);
    std::string err;
    server.session = ex::make_session(true, keys().server, "", &err);
    REQUIRE(server.session);
    ServerTpConfig sc2;
    sc2.policy = setup.policy;
    sc2.preference = setup.preference;
    sc2.tamper_outgoing = setup.tamper_server;
    if (setup.stock_server) REQUIRE(ngtcp2_crypto_gnutls_configure_server_session(server.session.get()) == 0);
    else REQUIRE(configure_server_session(server.session.get(), sc2) == 0);
    REQUIRE(require_transport_params_extension(server.session.get()) == 0);
    server.ref = {get_conn, server.conn};
    gnutls_session_set_ptr(server.session.get(), &server.ref);
    ngtcp2_conn_set_tls_native_handle(server.conn, server.session.get());
    server_created = true;
  }

  // Writes everything `s` has to send into `out`. Returns the ngtcp2 error, if any.
  int flush(Side &s, std::deque<Packet> &out) {
    for (int i = 0; i < 64; ++i) {
      std::array<uint8_t, 1500> buf;
      ngtcp2_path_storage ps;
      ngtcp2_path_storage_zero(&ps);
      ngtcp2_pkt_info pi;
      auto n = ngtcp2_conn_write_pkt(s.conn, &ps.path, &pi, buf.data(), buf.size(), g_now);
      if (n < 0) return static_cast<int>(n);
      if (n == 0) return 0;
      out.push_back({Endpoint::from(ps.path.local.addr, ps.path.local.addrlen),
                     Endpoint::from(ps.path.remote.addr, ps.path.remote.addrlen),
                     {buf.begin(), buf.begin() + n}});
    }
    return 0;
  }

  int client_rv = 0, server_rv = 0;

  void deliver(Side &s, Packet &p, int &rv) {
    if (rv != 0) return;
    auto to = p.to, from = p.from;
    ngtcp2_path path{to.addr(), from.addr(), nullptr};
    ngtcp2_pkt_info pi{};
    rv = ngtcp2_conn_read_pkt(s.conn, &path, &pi, p.data.data(), p.data.size(), g_now);
  }

  // Runs the exchange for `rounds` rounds of 10 ms.
  void run(int rounds) {
    for (int r = 0; r < rounds; ++r) {
      if (client_rv == 0) client_rv = flush(client, to_server);
      while (!to_server.empty()) {
        auto p = std::move(to_server.front());
        to_server.pop_front();
        if (!server_created) {
          ngtcp2_pkt_hd hd;
          if (ngtcp2_accept(&hd, p.data.data(), p.data.size()) != 0) continue;
          create_server(hd, p);
        }
        deliver(server, p, server_rv);
      }
      if (server_created && server_rv == 0) server_rv = flush(server, to_client);
      while (!to_client.empty()) {
        auto p = std::move(to_client.front());
        to_client.pop_front();
        deliver(client, p, client_rv);
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
    ngtcp2_ccerr_set_liberr(&ccerr, client_rv, nullptr, 0);
    std::array<uint8_t, 1500> buf;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    auto n = ngtcp2_conn_write_connection_close(client.conn, &ps.path, &pi, buf.data(), buf.size(), &ccerr, g_now);
    REQUIRE(n > 0);
    Packet p{Endpoint::from(ps.path.local.addr, ps.path.local.addrlen),
             Endpoint::from(ps.path.remote.addr, ps.path.remote.addrlen),
             {buf.begin(), buf.begin() + n}};
    int rv = 0;
    deliver(server, p, rv);
    CHECK(rv == NGTCP2_ERR_DRAINING);
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
      {"pr3898 preferred and announced", {Spelling::pr3898}, kAllSpellings, "pr3898", p,
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
    REQUIRE(pair.client_rv == 0);
    REQUIRE(pair.server_rv == 0);
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
    REQUIRE(pair.client_rv == 0);
    REQUIRE(pair.client.preferred_validated);
    auto newlocal = *ex::parse_endpoint("127.0.0.3:50001");
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
      CHECK(pair.client_rv == 0);
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
      {"server: 2-byte 0x2d51 (ext)", true, [](Bytes &b) {
         auto params = *parse_params(b);
         for (auto &p : params)
           if (p.id == kTpAddressMigrationPolicy) p.value.push_back(0);
         b = serialize_params(params);
       }},
      {"server: reserved level 3 in 0x2d51", true, [](Bytes &b) {
         auto params = *parse_params(b);
         for (auto &p : params)
           if (p.id == kTpAddressMigrationPolicy) p.value = {0x03};
         b = serialize_params(params);
       }},
      {"server: echo with two bits", true, [](Bytes &b) {
         auto params = *parse_params(b);
         for (auto &p : params)
           if (p.id == kTpMigrationPolicySupport) p.value = {0x03};
         b = serialize_params(params);
       }},
      {"server: duplicate parameter", true, append(kTpAddressMigrationPolicy, {0x00})},
      {"client: 0x2d50 with trailing byte", false, [](Bytes &b) {
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
      REQUIRE(pair.client_rv == NGTCP2_ERR_TRANSPORT_PARAM);
      auto *st = client_tp_state(pair.client.session.get());
      REQUIRE(st->error);
      CHECK(st->error->code == kTransportParameterError);
      CHECK(pair.close_code_seen_by_server() == NGTCP2_TRANSPORT_PARAMETER_ERROR);
    } else {
      CHECK(pair.server_rv == NGTCP2_ERR_TRANSPORT_PARAM);
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
    REQUIRE(pair.server_rv == NGTCP2_ERR_CRYPTO);
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
    Packet p{Endpoint::from(ps.path.local.addr, ps.path.local.addrlen),
             Endpoint::from(ps.path.remote.addr, ps.path.remote.addrlen),
             {buf.begin(), buf.begin() + n}};
    int rv = 0;
    pair.deliver(pair.client, p, rv);
    CHECK(rv == NGTCP2_ERR_DRAINING);
    CHECK(ngtcp2_conn_get_ccerr(pair.client.conn)->error_code == 0x16d);
    CHECK_FALSE(pair.client.handshake_done);
  }
}
