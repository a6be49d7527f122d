// initial_client — real client Initials (ngtcp2 client conn + GnuTLS via qamp's TLS glue) for
// qamp-server's pre-authentication checks. Bounded in count and time.
//   initial_client no-tp ADDR:PORT
//     One handshake whose ClientHello lacks quic_transport_parameters (0x39). Follows a Retry.
//     Prints {"closed": true|false, "error_code": N, "retries": R} (N from the server's
//     CONNECTION_CLOSE, decrypted by ngtcp2); exit 0 when a close arrived within 5 s.
//   initial_client vn ADDR:PORT CIDLEN
//     One 1200-byte long-header datagram of an unknown version with DCID and SCID of CIDLEN
//     bytes (RFC 8999 allows up to 255). Prints {"version_negotiation": true|false}; exit 0
//     when a Version Negotiation packet echoing both CIDs came back within 2 s.
//   initial_client burst ADDR:PORT COUNT SECONDS
//     COUNT valid first Initials, each from a fresh client conn (fresh DCID and SCID), from one
//     socket, spread over SECONDS. Prints {"sent": N, "received": M, "retry": R}; R counts
//     Retry packets (RFC 9000 §17.2.5) among the answers.
#include <algorithm>
#include <array>
#include <cstdio>
#include <poll.h>
#include <string>
#include <unistd.h>
#include <vector>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "net.h"
#include "qamp/tls.h"
#include "quic_callbacks.h"
#include "tls_creds.h"

using namespace qamp;
using namespace qamp::common;

namespace {

ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return static_cast<ngtcp2_conn *>(ref->user_data); }
void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *) { random_bytes({dest, len}); }
int new_cid_cb(ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *) {
  std::vector<uint8_t> b(cidlen);
  random_bytes(b);
  ngtcp2_cid_init(cid, b.data(), cidlen);
  random_bytes({token, NGTCP2_STATELESS_RESET_TOKENLEN});
  return 0;
}

int g_retries = 0;

struct Client {
  ngtcp2_conn *conn = nullptr;
  Session session;
  ngtcp2_crypto_conn_ref ref{};
  Endpoint local, remote;
  ~Client() {
    if (conn) ngtcp2_conn_del(conn);
  }
  bool init(const Endpoint &l, const Endpoint &r, bool omit_tp, gnutls_certificate_credentials_t creds) {
    local = l;
    remote = r;
    auto cb = crypto_callbacks(false);
    cb.rand = rand_cb;
    cb.get_new_connection_id = new_cid_cb;
    cb.recv_retry = [](ngtcp2_conn *c, const ngtcp2_pkt_hd *hd, void *u) {
      ++g_retries;
      return ngtcp2_crypto_recv_retry_cb(c, hd, u);
    };
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_bidi = 10;
    params.initial_max_data = 1 << 20;
    std::array<uint8_t, 18> d, s;
    random_bytes(d);
    random_bytes(s);
    ngtcp2_cid dcid, scid;
    ngtcp2_cid_init(&dcid, d.data(), d.size());
    ngtcp2_cid_init(&scid, s.data(), s.size());
    ngtcp2_path path{local.addr(), remote.addr(), nullptr};
    if (ngtcp2_conn_client_new(&conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, nullptr,
                               this) != 0)
      return false;
    std::string err;
    session = make_session(false, creds, "localhost", &err);
    if (!session) return false;
    ClientTpConfig cc;
    // An empty blob: GnuTLS omits an extension whose send function writes nothing.
    if (omit_tp) cc.tamper_outgoing = [](Bytes &b) { b.clear(); };
    if (configure_client_session(session.get(), cc) != 0) return false;
    ref = {get_conn, conn};
    gnutls_session_set_ptr(session.get(), &ref);
    ngtcp2_conn_set_tls_native_handle(conn, session.get());
    return true;
  }
  // Sends what the conn has to send. False on a ngtcp2 error.
  bool flush(int fd) {
    for (int i = 0; i < 16; ++i) {
      std::array<uint8_t, 1500> buf;
      ngtcp2_path_storage ps;
      ngtcp2_path_storage_zero(&ps);
      ngtcp2_pkt_info pi;
      auto n = ngtcp2_conn_write_pkt(conn, &ps.path, &pi, buf.data(), buf.size(), now_ns());
      if (n < 0) return false;
      if (n == 0) return true;
      sendto(fd, buf.data(), n, 0, remote.sa(), remote.size());
    }
    return true;
  }
};

}  // namespace

int main(int argc, char **argv) {
  auto usage = [] {
    std::fprintf(stderr, "usage: initial_client no-tp ADDR:PORT | initial_client burst ADDR:PORT COUNT SECONDS\n");
    return 2;
  };
  if (argc < 3) return usage();
  std::string mode = argv[1];
  auto to = Endpoint::parse(argv[2]);
  if (!to || (mode != "no-tp" && mode != "burst" && mode != "vn") || (mode == "burst" && argc != 5) ||
      (mode == "no-tp" && argc != 3) || (mode == "vn" && argc != 4))
    return usage();
  std::string err;
  int fd = bind_udp(*parse_host_port(to->family() == AF_INET ? "127.0.0.1" : "::1", "0"), &err);
  if (fd < 0) {
    std::fprintf(stderr, "initial_client: %s\n", err.c_str());
    return 2;
  }
  auto local = local_endpoint(fd);
  gnutls_certificate_credentials_t creds;
  gnutls_certificate_allocate_credentials(&creds);
  std::array<uint8_t, 65536> buf;

  if (mode == "vn") {
    auto cidlen = std::stoul(argv[3]);
    if (cidlen > 255) return usage();
    std::vector<uint8_t> p = {0xc0, 0x1a, 0x2a, 0x3a, 0x4a, static_cast<uint8_t>(cidlen)};
    std::vector<uint8_t> dcid(cidlen), scid(cidlen);
    random_bytes(dcid);
    random_bytes(scid);
    p.insert(p.end(), dcid.begin(), dcid.end());
    p.push_back(static_cast<uint8_t>(cidlen));
    p.insert(p.end(), scid.begin(), scid.end());
    p.resize(1200, 0);
    sendto(fd, p.data(), p.size(), 0, to->sa(), to->size());
    bool vn = false;
    pollfd pf{fd, POLLIN, 0};
    if (poll(&pf, 1, 2000) > 0) {
      auto n = recv(fd, buf.data(), buf.size(), 0);
      // RFC 8999 §6: version 0, DCID = our SCID, SCID = our DCID.
      vn = n >= static_cast<ssize_t>(7 + 2 * cidlen) && (buf[0] & 0x80) && buf[1] == 0 && buf[2] == 0 && buf[3] == 0 &&
           buf[4] == 0 && buf[5] == cidlen && std::equal(scid.begin(), scid.end(), buf.begin() + 6) &&
           buf[6 + cidlen] == cidlen && std::equal(dcid.begin(), dcid.end(), buf.begin() + 7 + cidlen);
    }
    std::printf("{\"version_negotiation\": %s}\n", vn ? "true" : "false");
    gnutls_certificate_free_credentials(creds);
    return vn ? 0 : 1;
  }

  if (mode == "no-tp") {
    Client c;
    if (!c.init(local, *to, true, creds)) {
      std::fprintf(stderr, "initial_client: client set-up failed\n");
      return 2;
    }
    bool closed = false;
    uint64_t code = 0;
    auto deadline = now_ns() + 5 * NGTCP2_SECONDS;
    bool ok = c.flush(fd);
    while (ok && !closed && now_ns() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      Endpoint from;
      auto n = recv_from(fd, buf, from);
      if (n <= 0) continue;
      ngtcp2_path path{local.addr(), from.addr(), nullptr};
      ngtcp2_pkt_info pi{};
      int rv = ngtcp2_conn_read_pkt(c.conn, &path, &pi, buf.data(), n, now_ns());
      if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING) {
        closed = true;
        code = ngtcp2_conn_get_ccerr(c.conn)->error_code;
        break;
      }
      if (rv != 0) {
        std::fprintf(stderr, "initial_client: read_pkt: %s\n", ngtcp2_strerror(rv));
        break;
      }
      ok = c.flush(fd);
    }
    std::printf("{\"closed\": %s, \"error_code\": %llu, \"retries\": %d}\n", closed ? "true" : "false",
                static_cast<unsigned long long>(code), g_retries);
    gnutls_certificate_free_credentials(creds);
    return closed ? 0 : 1;
  }

  long count = std::stol(argv[3]);
  double seconds = std::stod(argv[4]);
  if (count <= 0 || count > 20000 || seconds <= 0 || seconds > 30) {
    std::fprintf(stderr, "initial_client: bad arguments (at most 20000 Initials, 30 s)\n");
    return 2;
  }
  long received = 0, retry = 0, sent = 0;
  auto drain = [&] {
    for (;;) {
      auto n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) return;
      ++received;
      // Long header, v1, type 3 (RFC 9000 §17.2.5).
      if (n >= 5 && (buf[0] & 0xf0) == 0xf0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0 && buf[4] == 1) ++retry;
    }
  };
  auto start = now_ns();
  for (long i = 0; i < count; ++i) {
    Client c;
    if (!c.init(local, *to, false, creds)) break;
    std::array<uint8_t, 1500> out;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    auto n = ngtcp2_conn_write_pkt(c.conn, &ps.path, &pi, out.data(), out.size(), now_ns());
    if (n > 0 && sendto(fd, out.data(), n, 0, to->sa(), to->size()) == n) ++sent;
    drain();
    auto due = start + static_cast<uint64_t>(seconds * 1e9 * (i + 1) / count);
    while (now_ns() < due) {
      usleep(200);
      drain();
    }
  }
  auto until = now_ns() + 500 * NGTCP2_MILLISECONDS;
  while (now_ns() < until) {
    usleep(1000);
    drain();
  }
  std::printf("{\"sent\": %ld, \"received\": %ld, \"retry\": %ld}\n", sent, received, retry);
  gnutls_certificate_free_credentials(creds);
  return 0;
}
