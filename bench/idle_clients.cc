// idle_clients — opens N QUIC connections to one server from one process, completes their
// handshakes, holds them idle, then closes them. The load of bench/idle_memory.sh: it lets a
// script sample the server's memory while it holds N idle connections.
//
// A plain ngtcp2 + GnuTLS client (stock ngtcp2_crypto_gnutls_configure_client_session, ALPN h3,
// no certificate check), one connected UDP socket per connection, one epoll loop. It opens no
// request stream; it allows the 3 unidirectional streams an HTTP/3 server opens (control, QPACK
// encoder and decoder) so the server's HTTP/3 layer comes up as for a real client.
//
// Phases (all bounded):
//   connect: keep at most --parallel handshakes in flight until all N are confirmed or failed
//            (per-handshake limit --handshake-timeout, phase limit --connect-timeout);
//   ready:   prints one line "READY confirmed=C failed=F" to stdout (flushed) for the driver;
//   hold:    services the connections for --hold seconds (ACKs, the server's post-handshake
//            data, keep-alive PINGs every --keep-alive seconds);
//   close:   sends CONNECTION_CLOSE (NO_ERROR) on every live connection (unless --no-close).
// The whole run never exceeds --max-seconds (default 60).
//
// Usage: idle_clients [OPTIONS] <HOST> <PORT> <N>
// Exit status: 0 when all N connections were confirmed and still alive at the end of the hold,
// 1 otherwise, 2 on misuse.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "net.h"
#include "quic_callbacks.h"
#include "tls_creds.h"

namespace {

using qamp::Endpoint;
using qamp::common::now_ns;

struct Options {
  std::string host, port;
  int n = 0;
  int parallel = 32;
  double hold_s = 5;
  double connect_timeout_s = 40;
  double handshake_timeout_s = 10;
  double idle_timeout_s = 60;
  double keep_alive_s = 15;
  double max_s = 60;
  bool close = true;
  std::string local_ip = "";  // default: loopback of the server's family
};

enum class State { idle, handshaking, confirmed, failed };

constexpr const char *kLoadPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-X25519:%DISABLE_TLS13_COMPAT_MODE";

struct Client {
  int fd = -1;
  ngtcp2_conn *conn = nullptr;
  qamp::common::Session session;
  ngtcp2_crypto_conn_ref ref{};
  Endpoint local, remote;
  State state = State::idle;
  ngtcp2_tstamp started = 0;
  ngtcp2_tstamp confirmed_at = 0;
  // ngtcp2_conn_get_expiry after the last write: every read, timer and start ends in write(), so
  // the timer scan compares integers instead of asking ngtcp2 again for every idle connection
  // (with 1500 connections that scan was a fifth of the generator's CPU).
  ngtcp2_tstamp expiry = UINT64_MAX;
  std::string error;

  ~Client() {
    if (conn) ngtcp2_conn_del(conn);
    if (fd >= 0) close(fd);
  }
};

ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return static_cast<Client *>(ref->user_data)->conn; }

void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *) { qamp::common::random_bytes({dest, destlen}); }

int get_new_connection_id(ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *) {
  std::array<uint8_t, NGTCP2_MAX_CIDLEN> buf;
  qamp::common::random_bytes({buf.data(), cidlen});
  ngtcp2_cid_init(cid, buf.data(), cidlen);
  qamp::common::random_bytes({token, NGTCP2_STATELESS_RESET_TOKENLEN});
  return 0;
}

int handshake_confirmed(ngtcp2_conn *, void *user_data) {
  auto *c = static_cast<Client *>(user_data);
  c->state = State::confirmed;
  c->confirmed_at = now_ns();
  return 0;
}

ngtcp2_callbacks callbacks() {
  auto cb = qamp::common::crypto_callbacks(false);
  cb.rand = rand_cb;
  cb.get_new_connection_id = get_new_connection_id;
  cb.handshake_confirmed = handshake_confirmed;
  return cb;
}

ngtcp2_tstamp seconds(double s) { return static_cast<ngtcp2_tstamp>(s * static_cast<double>(NGTCP2_SECONDS)); }

class Driver {
 public:
  Driver(const Options &opts, const Endpoint &server, gnutls_certificate_credentials_t creds, int epfd)
      : opts_(opts), server_(server), creds_(creds), epfd_(epfd), cb_(callbacks()) {}

  // Creates the socket, the TLS session and the ngtcp2 connection, and sends the first flight.
  bool start(Client &c) {
    c.started = now_ns();
    c.state = State::handshaking;
    Endpoint local;
    auto parsed = qamp::common::parse_host_port(
        opts_.local_ip.empty() ? (server_.family() == AF_INET6 ? "::1" : "127.0.0.1") : opts_.local_ip, "0");
    if (!parsed) return fail(c, "bad --local-ip");
    local = *parsed;
    // Not qamp::common::bind_udp: it sets SO_REUSEADDR, and with that on every socket Linux may give
    // two of them the same ephemeral port; the second connection then never hears the server.
    c.fd = socket(local.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c, std::string("socket: ") + strerror(errno));
    if (bind(c.fd, local.sa(), local.size()) != 0) return fail(c, std::string("bind: ") + strerror(errno));
    if (connect(c.fd, server_.sa(), server_.size()) != 0) return fail(c, std::string("connect: ") + strerror(errno));
    c.local = qamp::common::local_endpoint(c.fd);
    c.remote = server_;

    std::string err;
    c.session = qamp::common::make_session(false, creds_, "localhost", &err);
    if (!c.session) return fail(c, err);
    // One key share (X25519, the server's first choice too): GnuTLS's default priorities make
    // the client generate a second one (P-256) it never uses, work the load generator takes
    // from the cores the server is measured on.
    if (int rv = gnutls_priority_set_direct(c.session.get(), kLoadPriority, nullptr); rv != 0)
      return fail(c, std::string("gnutls_priority_set_direct: ") + gnutls_strerror(rv));
    if (ngtcp2_crypto_gnutls_configure_client_session(c.session.get()) != 0)
      return fail(c, "ngtcp2_crypto_gnutls_configure_client_session failed");
    c.ref.get_conn = get_conn;
    c.ref.user_data = &c;
    gnutls_session_set_ptr(c.session.get(), &c.ref);

    std::array<uint8_t, 18> dcid_buf;
    std::array<uint8_t, 17> scid_buf;
    qamp::common::random_bytes(dcid_buf);
    qamp::common::random_bytes(scid_buf);
    ngtcp2_cid dcid, scid;
    ngtcp2_cid_init(&dcid, dcid_buf.data(), dcid_buf.size());
    ngtcp2_cid_init(&scid, scid_buf.data(), scid_buf.size());

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    settings.handshake_timeout = seconds(opts_.handshake_timeout_s);
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_streams_bidi = 0;
    params.initial_max_streams_uni = 3;  // the server's HTTP/3 control and QPACK streams
    params.initial_max_stream_data_uni = 64 * 1024;
    params.initial_max_data = 256 * 1024;
    params.max_idle_timeout = seconds(opts_.idle_timeout_s);

    ngtcp2_path path{c.local.addr(), c.remote.addr(), nullptr};
    int rv = ngtcp2_conn_client_new(&c.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb_, &settings, &params,
                                    nullptr, &c);
    if (rv != 0) return fail(c, std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv));
    ngtcp2_conn_set_tls_native_handle(c.conn, c.session.get());
    if (opts_.keep_alive_s > 0) ngtcp2_conn_set_keep_alive_timeout(c.conn, seconds(opts_.keep_alive_s));

    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail(c, std::string("epoll_ctl: ") + strerror(errno));
    return write(c);
  }

  void on_readable(Client &c) {
    std::array<uint8_t, 65536> buf;
    for (int i = 0; i < 64 && alive(c); ++i) {
      auto n = recv(c.fd, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNREFUSED)
          fail(c, std::string("recv: ") + strerror(errno));
        if (errno == ECONNREFUSED) fail(c, "connection refused (no server)");
        break;
      }
      ngtcp2_path path{c.local.addr(), c.remote.addr(), nullptr};
      ngtcp2_pkt_info pi{};
      int rv = ngtcp2_conn_read_pkt(c.conn, &path, &pi, buf.data(), static_cast<size_t>(n), now_ns());
      if (rv != 0) {
        fail(c, std::string("ngtcp2_conn_read_pkt: ") + ngtcp2_strerror(rv) + describe_close(c));
        return;
      }
    }
    if (alive(c)) write(c);
  }

  // Handles every expired timer; returns the earliest expiry of the live connections.
  ngtcp2_tstamp on_timers(std::vector<std::unique_ptr<Client>> &clients) {
    ngtcp2_tstamp next = UINT64_MAX;
    auto now = now_ns();
    for (auto &cp : clients) {
      Client &c = *cp;
      if (!alive(c)) continue;
      if (c.state == State::handshaking && now - c.started > seconds(opts_.handshake_timeout_s)) {
        fail(c, "handshake timeout");
        continue;
      }
      if (c.expiry <= now) {
        int rv = ngtcp2_conn_handle_expiry(c.conn, now);
        if (rv != 0) {
          fail(c, std::string("ngtcp2_conn_handle_expiry: ") + ngtcp2_strerror(rv));
          continue;
        }
        if (!write(c)) continue;
      }
      next = std::min(next, c.expiry);
    }
    return next;
  }

  void close_connection(Client &c) {
    if (!alive(c) || c.state != State::confirmed) return;
    std::array<uint8_t, 1500> buf;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    ngtcp2_ccerr ccerr;
    ngtcp2_ccerr_default(&ccerr);
    auto n = ngtcp2_conn_write_connection_close(c.conn, &ps.path, &pi, buf.data(), buf.size(), &ccerr, now_ns());
    if (n > 0) (void)send(c.fd, buf.data(), static_cast<size_t>(n), 0);
  }

  static bool alive(const Client &c) { return c.state == State::handshaking || c.state == State::confirmed; }

 private:
  bool fail(Client &c, std::string why) {
    if (c.state == State::failed) return false;
    c.error = std::move(why);
    c.state = State::failed;
    if (c.fd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
      c.fd = -1;
    }
    return false;
  }

  static std::string describe_close(Client &c) {
    if (!c.conn) return "";
    const ngtcp2_ccerr *e = ngtcp2_conn_get_ccerr(c.conn);
    if (!e || (e->type == NGTCP2_CCERR_TYPE_TRANSPORT && e->error_code == 0 && e->reasonlen == 0)) return "";
    char buf[64];
    std::snprintf(buf, sizeof buf, " (peer/local close type %d code 0x%llx)", static_cast<int>(e->type),
                  static_cast<unsigned long long>(e->error_code));
    return buf;
  }

  bool write(Client &c) {
    std::array<uint8_t, 1500> buf;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    auto ts = now_ns();
    for (int i = 0; i < 64; ++i) {
      ngtcp2_pkt_info pi;
      auto n = ngtcp2_conn_write_pkt(c.conn, &ps.path, &pi, buf.data(), buf.size(), ts);
      if (n < 0) return fail(c, std::string("ngtcp2_conn_write_pkt: ") + ngtcp2_strerror(static_cast<int>(n)));
      if (n == 0) break;
      if (send(c.fd, buf.data(), static_cast<size_t>(n), 0) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
          errno != ECONNREFUSED)
        return fail(c, std::string("send: ") + strerror(errno));
    }
    ngtcp2_conn_update_pkt_tx_time(c.conn, ts);
    c.expiry = ngtcp2_conn_get_expiry(c.conn);
    return true;
  }

  const Options &opts_;
  Endpoint server_;
  gnutls_certificate_credentials_t creds_;
  int epfd_;
  ngtcp2_callbacks cb_;
};

int usage(const char *argv0, int rc) {
  std::fprintf(rc ? stderr : stdout,
               "Usage: %s [OPTIONS] <HOST> <PORT> <N>\n"
               "Open N idle QUIC connections (ALPN h3, no requests) to HOST PORT, hold them, close them.\n"
               "  --parallel=<K>            handshakes in flight at once (default 32)\n"
               "  --hold=<S>                seconds to hold after all handshakes ended (default 5)\n"
               "  --connect-timeout=<S>     limit of the connect phase (default 40)\n"
               "  --handshake-timeout=<S>   limit of one handshake (default 10)\n"
               "  --idle-timeout=<S>        client max_idle_timeout (default 60)\n"
               "  --keep-alive=<S>          PING after S idle seconds, 0 = never (default 15)\n"
               "  --max-seconds=<S>         bound of the whole run (default 60)\n"
               "  --local-ip=<IP>           source address (default loopback of the server's family)\n"
               "  --no-close                do not send CONNECTION_CLOSE at the end\n"
               "Prints \"READY confirmed=C failed=F\" when the connect phase ends, a summary at exit.\n"
               "Exit status: 0 when all N were confirmed and alive at the end, 1 otherwise, 2 on misuse.\n",
               argv0);
  return rc;
}

bool parse_options(int argc, char **argv, Options &o) {
  std::vector<std::string_view> pos;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto num = [&](std::string_view name, double &out) {
      if (!a.starts_with(name)) return false;
      auto v = a.substr(name.size());
      if (v.empty() && i + 1 < argc)
        v = argv[++i];
      else if (v.starts_with("="))
        v.remove_prefix(1);
      else
        return false;
      char *end = nullptr;
      std::string s(v);
      out = std::strtod(s.c_str(), &end);
      if (s.empty() || *end) std::exit(usage(argv[0], 2));
      return true;
    };
    double par = o.parallel;
    if (num("--parallel", par))
      o.parallel = static_cast<int>(par);
    else if (num("--hold", o.hold_s) || num("--connect-timeout", o.connect_timeout_s) ||
             num("--handshake-timeout", o.handshake_timeout_s) || num("--idle-timeout", o.idle_timeout_s) ||
             num("--keep-alive", o.keep_alive_s) || num("--max-seconds", o.max_s)) {
    } else if (a.starts_with("--local-ip="))
      o.local_ip = std::string(a.substr(11));
    else if (a == "--no-close")
      o.close = false;
    else if (a == "-h" || a == "--help")
      std::exit(usage(argv[0], 0));
    else if (a.starts_with("-"))
      return false;
    else
      pos.push_back(a);
  }
  if (pos.size() != 3) return false;
  o.host = pos[0];
  o.port = pos[1];
  o.n = std::atoi(std::string(pos[2]).c_str());
  return o.n > 0 && o.parallel > 0 && o.max_s > 0;
}

}  // namespace

int main(int argc, char **argv) {
  Options opts;
  if (!parse_options(argc, argv, opts)) return usage(argv[0], 2);
  auto server = qamp::common::parse_host_port(opts.host, opts.port);
  if (!server) {
    std::fprintf(stderr, "idle_clients: bad address %s %s\n", opts.host.c_str(), opts.port.c_str());
    return 2;
  }
  // A load generator against the bench's own self-signed server: no certificate verification.
  auto creds = qamp::common::client_creds(qamp::common::ClientTrust{true, {}}, nullptr);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!creds || epfd < 0) {
    std::fprintf(stderr, "idle_clients: setup failed\n");
    return 1;
  }
  Driver driver(opts, *server, creds.get(), epfd);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < opts.n; ++i) clients.push_back(std::make_unique<Client>());

  const auto t0 = now_ns();
  const auto hard_end = t0 + seconds(opts.max_s);
  const auto connect_end = std::min(hard_end, t0 + seconds(opts.connect_timeout_s));
  std::array<epoll_event, 256> events;

  // One turn of the loop: wait for readiness or the next timer (at most 50 ms), service both.
  auto turn = [&](ngtcp2_tstamp next_expiry) {
    auto now = now_ns();
    int wait_ms = 50;
    if (next_expiry != UINT64_MAX)
      wait_ms =
          next_expiry <= now ? 0 : static_cast<int>(std::min<ngtcp2_tstamp>(50, (next_expiry - now) / 1000000 + 1));
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), wait_ms);
    for (int i = 0; i < n; ++i) {
      auto *c = static_cast<Client *>(events[i].data.ptr);
      if (Driver::alive(*c)) driver.on_readable(*c);
    }
    return driver.on_timers(clients);
  };

  // Connect phase.
  std::size_t next_to_start = 0;
  ngtcp2_tstamp next_expiry = UINT64_MAX;
  for (;;) {
    int in_flight = 0;
    for (auto &c : clients) in_flight += c->state == State::handshaking;
    while (in_flight < opts.parallel && next_to_start < clients.size() && now_ns() < connect_end) {
      driver.start(*clients[next_to_start++]);
      ++in_flight;
    }
    if ((in_flight == 0 && next_to_start == clients.size()) || now_ns() >= connect_end) break;
    next_expiry = turn(next_expiry);
  }
  const auto t_ready = now_ns();
  int confirmed = 0, failed = 0;
  for (auto &c : clients) {
    confirmed += c->state == State::confirmed;
    failed += c->state != State::confirmed;
  }
  std::printf("READY confirmed=%d failed=%d\n", confirmed, failed);
  std::fflush(stdout);

  // Hold phase.
  const auto hold_end = std::min(hard_end, t_ready + seconds(opts.hold_s));
  while (now_ns() < hold_end) next_expiry = turn(next_expiry);

  int alive = 0;
  for (auto &c : clients) alive += c->state == State::confirmed;
  if (opts.close)
    for (auto &c : clients) driver.close_connection(*c);

  // Summary: the first few distinct errors, so a failing run says why.
  std::vector<std::string> reasons;
  for (auto &c : clients)
    if (c->state == State::failed && std::find(reasons.begin(), reasons.end(), c->error) == reasons.end() &&
        reasons.size() < 5)
      reasons.push_back(c->error);
  std::vector<double> hs;
  for (auto &c : clients)
    if (c->confirmed_at) hs.push_back(static_cast<double>(c->confirmed_at - c->started) / 1e6);
  std::sort(hs.begin(), hs.end());
  std::printf(
      "idle_clients: requested %d, confirmed %d, failed %d, alive after %.1f s hold %d, connect phase %.2f s, "
      "handshake median %.1f ms\n",
      opts.n, confirmed, failed, static_cast<double>(now_ns() - t_ready) / 1e9, alive,
      static_cast<double>(t_ready - t0) / 1e9, hs.empty() ? 0.0 : hs[hs.size() / 2]);
  for (auto &r : reasons) std::printf("idle_clients: failure: %s\n", r.c_str());
  clients.clear();
  close(epfd);
  return alive == opts.n ? 0 : 1;
}
