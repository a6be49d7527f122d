#include "server.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include <ngtcp2/ngtcp2_crypto.h>

#include "connection.h"
#include "qamp/admission.h"
#include "qamp/hex.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

std::string key_of(const std::uint8_t *data, std::size_t len) {
  return std::string(reinterpret_cast<const char *>(data), len);
}

// RFC 9000 §8.1.3: a Retry token is only good for the handshake that follows it.
constexpr ngtcp2_duration kRetryTokenLifetime = 10 * NGTCP2_SECONDS;

ResetGuardConfig guard_config(const ServerOptions &o, std::optional<ClusterConfig> cluster, ServerIo &io) {
  ResetGuardConfig c;
  c.mode = o.reset_mode;
  c.cluster = std::move(cluster);
  // Senders must not know which prefixes share a set of the reset guard's prefix table.
  io.random({reinterpret_cast<std::uint8_t *>(&c.per_prefix->hash_key), sizeof c.per_prefix->hash_key});
  return c;
}

GateConfig gate_config(const ServerOptions &o) {
  GateConfig gc;
  gc.policy = o.policy;
  // A native legacy server gives ngtcp2 only 0x0c, which covers the handshake address: classify
  // by what ngtcp2 enforces.
  if (o.enforcement == Enforcement::native && o.spellings.empty())
    gc.policy = Policy{o.policy.handshake, Level::any, Level::any};
  gc.enforce = o.gate;
  return gc;
}

// Points `slot` at `value` for one scope (the synchronous observer call inside it), and back to
// null when the scope ends, also when the observer throws.
template <class T>
class Lend {
 public:
  Lend(T *&slot, T *value) noexcept : slot_(slot) { slot_ = value; }
  ~Lend() { slot_ = nullptr; }
  Lend(const Lend &) = delete;
  Lend &operator=(const Lend &) = delete;

 private:
  T *&slot_;
};

}  // namespace

bool load_cluster_config(const ServerOptions &o, std::optional<ClusterConfig> *out, std::string *error) {
  out->reset();
  if (!o.instance_id) return true;
  std::optional<std::vector<std::uint8_t>> key;
  if (!o.quic_lb_key_file.empty()) {
    std::ifstream f(o.quic_lb_key_file);
    std::string text((std::istreambuf_iterator<char>(f)), {});
    if (!f.good() && !f.eof()) {
      *error = "cannot read --quic-lb-key " + o.quic_lb_key_file;
      return false;
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    auto bytes = from_hex(text, "--quic-lb-key " + o.quic_lb_key_file);
    if (!bytes) {
      *error = bytes.error().message();
      return false;
    }
    key = std::move(*bytes);
  }
  std::optional<std::span<const std::uint8_t>> key_view;
  if (key) key_view = std::span<const std::uint8_t>(*key);
  auto config = make_quic_lb_config(o.quic_lb_config_rotation, 1, o.quic_lb_nonce_len, true, key_view);
  if (!config) {
    *error = "QUIC-LB configuration: " + config.error().message();
    return false;
  }
  const std::uint8_t sid[] = {*o.instance_id};
  *out = ClusterConfig{QuicLbCodec(*config), *make_quic_lb_server_id(sid)};
  return true;
}

Server::Server(ServerOptions options, std::optional<ClusterConfig> cluster, ServerIo &io, WorkerSetup worker)
    : opts_(std::move(options)),
      io_(io),
      worker_(std::move(worker)),
      log_prefix_(worker_.index ? "qamp-server[worker " + std::to_string(*worker_.index) + "]: " : "qamp-server: "),
      gate_(gate_config(opts_)),
      reset_guard_(guard_config(opts_, cluster, io)) {
  if (cluster) {
    // Every nonce from the I/O's CSPRNG.
    auto cids =
        QuicLbCidGenerator::create(cluster->codec, {cluster->server_id.view().begin(), cluster->server_id.view().end()},
                                   [this](std::span<std::uint8_t> out) { io_.random(out); });
    // The server ID comes from the configuration's own length: create() cannot refuse it.
    cids_.emplace(std::move(*cids));
  }
  stats_.enforcement = std::string(to_string(opts_.enforcement));
  gate_.set_observer([this](const GateEvent &ev) {
    if (gate_client_) gate_client_->on_gate_event(ev);
  });
  reset_guard_.set_observer([this](const ResetEvent &ev) { log_reset(ev); });
}

GateDecision Server::admit_path(Connection &conn, const PathView &current, const PathView &incoming) {
  Lend<Connection> judging(gate_client_, &conn);
  return gate_.admit(current, incoming);
}

Server::~Server() { conns_.clear(); }

bool Server::start(std::string *error) {
  if (!borrowed_creds_) {
    creds_ = server_creds(opts_.key_file, opts_.cert_file, error);
    if (!creds_) return false;
  }
  if (!worker_.static_secret.empty()) {
    static_secret_ = worker_.static_secret;
  } else if (!opts_.static_secret_file.empty()) {
    std::ifstream f(opts_.static_secret_file, std::ios::binary);
    static_secret_.assign(std::istreambuf_iterator<char>(f), {});
    if (!f.good() && !f.eof()) {
      *error = "cannot read --static-secret " + opts_.static_secret_file;
      return false;
    }
    if (static_secret_.size() < 16) {
      *error = "--static-secret " + opts_.static_secret_file + ": need at least 16 bytes, got " +
               std::to_string(static_secret_.size());
      return false;
    }
  } else {
    static_secret_.resize(32);
    io_.random(static_secret_);
  }
  auto add = [&](const Endpoint &ep, ServerAddress role) {
    auto s = std::make_unique<Socket>();
    s->role = role;
    s->server = this;
    if (!io_.open(*s, ep, error)) return false;
    sockets_.push_back(std::move(s));
    return true;
  };
  if (cids_) {
    const auto &c = cids_->codec().config();
    log("cluster mode: QUIC-LB server ID " + to_hex(cids_->server_id()) + ", config rotation " +
        std::to_string(c.config_rotation) + ", " + std::to_string(c.cid_len()) + "-octet CIDs, " +
        (!c.key               ? "plaintext (the server ID is visible to observers)"
         : c.body_len() == 16 ? "encrypted (one AES-128 block)"
                              : "encrypted (four-pass AES-128)"));
  }
  if (!add(opts_.handshake, ServerAddress::handshake)) return false;
  if (opts_.preferred_v4 && !add(*opts_.preferred_v4, ServerAddress::spa_v4)) return false;
  if (opts_.preferred_v6 && !add(*opts_.preferred_v6, ServerAddress::spa_v6)) return false;
  // Only once every address is bound: whoever waits for a "listening on" line (tests, scripts)
  // may then use any of them.
  for (const auto &s : sockets_)
    log("listening on " + s->local.to_string() + " (" + std::string(to_string(s->role)) + ", level " +
        std::string(to_string(opts_.policy.at(s->role))) + ", enforced by " +
        (opts_.enforcement == Enforcement::native ? "ngtcp2"
         : opts_.gate                             ? "qamp's gate"
                                                  : "nobody: --gate=off") +
        ")");
  cleanup_ = io_.alarm([this] { cleanup(); });
  return true;
}

void Server::log(const std::string &line) const { io_.log(log_prefix_ + line); }

void Server::debug(const std::string &line) const {
  if (!opts_.quiet) log(line);
}

std::optional<ServerAddress> Server::role_of(const ngtcp2_addr &local) const {
  if (auto *s = socket_for(local)) return s->role;
  return std::nullopt;
}

const Socket *Server::socket_for(const ngtcp2_addr &local) const {
  auto ep = Endpoint::of(local);
  for (auto &s : sockets_)
    if (s->local == ep) return s.get();
  return nullptr;
}

std::size_t Server::cid_len() const noexcept { return cids_ ? cids_->codec().config().cid_len() : kScidLen; }

bool Server::new_cid(ngtcp2_cid *cid, std::uint8_t *token) {
  if (cids_) {
    auto c = cids_->next();
    if (!c) {
      log("cannot issue a connection ID: " + c.error().message() + " (the cluster needs a new QUIC-LB configuration)");
      return false;
    }
    ngtcp2_cid_init(cid, c->data(), c->size());
  } else {
    std::array<std::uint8_t, kScidLen> rnd;
    io_.random(rnd);
    ngtcp2_cid_init(cid, rnd.data(), rnd.size());
  }
  if (token) ngtcp2_crypto_generate_stateless_reset_token(token, static_secret_.data(), static_secret_.size(), cid);
  return true;
}

void Server::associate(const ngtcp2_cid &cid, Connection *conn) {
  auto key = key_of(cid.data, cid.datalen);
  auto [it, inserted] = by_cid_.try_emplace(key, conn);
  if (!inserted) {
    if (it->second == conn) return;
    std::erase(cids_of_[it->second], key);  // a CID collision: the newest owner wins, as before
    it->second = conn;
  }
  cids_of_[conn].push_back(std::move(key));
}

void Server::dissociate(const ngtcp2_cid &cid) {
  auto it = by_cid_.find(key_of(cid.data, cid.datalen));
  if (it == by_cid_.end()) return;
  if (auto owner = cids_of_.find(it->second); owner != cids_of_.end()) std::erase(owner->second, it->first);
  by_cid_.erase(it);
}

void Server::forget_cids(const Connection *conn) {
  auto owned = cids_of_.find(conn);
  if (owned == cids_of_.end()) return;
  for (const auto &key : owned->second)
    if (auto it = by_cid_.find(key); it != by_cid_.end() && it->second == conn) by_cid_.erase(it);
  cids_of_.erase(owned);
}

void Server::remove(Connection *conn) {
  forget_cids(conn);
  want_write_.erase(conn);
  doomed_.push_back(conn);
  if (cleanup_) cleanup_->arm(io_.now());  // as soon as possible, outside the connection's calls
}

void Server::cleanup() {
  auto doomed = std::move(doomed_);
  doomed_.clear();
  // One pass over conns_ for the whole batch (a mass close must not cost connections squared).
  const std::unordered_set<const Connection *> gone(doomed.begin(), doomed.end());
  for (const auto *c : gone) completed_.erase(c);
  std::erase_if(conns_, [&gone](const auto &p) { return gone.count(p.get()) != 0; });
  stats_.connections_closed += gone.size();
}

void Server::end_batch() {
  auto pending = std::move(want_write_);
  want_write_.clear();
  for (auto *c : pending) c->write();
}

void Server::receive(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data) {
  if (stopped_) return;  // the rest of the read batch after SIGTERM: no new connection is counted
  ++stats_.datagrams_received;
  auto c = classify_datagram(data, cid_len(), [this](std::span<const std::uint8_t> dcid) {
    return by_cid_.count(key_of(dcid.data(), dcid.size())) != 0;
  });
  switch (c.kind) {
    case DatagramClass::version_negotiation: {
      ngtcp2_version_cid vc;
      ngtcp2_pkt_decode_version_cid(&vc, data.data(), data.size(), cid_len());
      // Room for RFC 8999's longest CIDs (255 bytes each): first byte, version, two CIDs, v1.
      std::array<std::uint8_t, 1 + 4 + 1 + 255 + 1 + 255 + 4> out;
      std::uint8_t unused;
      io_.random({&unused, 1});
      const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
      auto n = ngtcp2_pkt_write_version_negotiation(out.data(), out.size(), unused, vc.scid, vc.scidlen, vc.dcid,
                                                    vc.dcidlen, versions, 1);
      if (n > 0) io_.send(s, remote, {out.data(), static_cast<std::size_t>(n)});
      return;
    }
    case DatagramClass::known_connection:
      by_cid_.find(key_of(c.dcid.data(), c.dcid.size()))->second->on_datagram(s, remote, data);
      return;
    case DatagramClass::unknown_short_header: unknown_short_header(s, remote, c.dcid, data.size()); return;
    case DatagramClass::new_initial: new_initial(s, remote, data); return;
    case DatagramClass::drop_undecodable:
    case DatagramClass::drop_unknown_long_header: return;
  }
}

void Server::new_initial(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data) {
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, data.data(), data.size()) != 0) return;
  if (s.role != ServerAddress::handshake) {
    // A preferred address serves connections that moved there, never new ones.
    debug("ignoring a new connection's Initial on " + s.local.to_string() + " (" + std::string(to_string(s.role)) +
          ")");
    return;
  }
  AdmissionInput in;
  // Closed connections awaiting deletion (doomed_) still count until the next idle: conservative.
  in.connections = conns_.size();
  in.half_open = conns_.size() - completed_.size();
  // Only Retry tokens are ours (we send no NEW_TOKEN): anything else counts as no token.
  ngtcp2_cid odcid;
  if (hd.type == NGTCP2_PKT_INITIAL && hd.tokenlen && hd.token[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
    bool ok = ngtcp2_crypto_verify_retry_token(&odcid, hd.token, hd.tokenlen, static_secret_.data(),
                                               static_secret_.size(), hd.version, remote.sa(), remote.size(), &hd.dcid,
                                               kRetryTokenLifetime, io_.wall_clock()) == 0;
    in.token = ok ? TokenVerdict::valid : TokenVerdict::invalid;
  }
  auto d = admit(opts_.admission, in);
  if (d.action == AdmissionAction::refuse) {
    auto n = ++stats_.initials_refused[d.reason];
    if (n <= 5 || n % 1000 == 0)  // a flood must not flood the log too
      log("new connection from " + remote.to_string() + " refused (" + std::to_string(n) +
          " so far for this reason): " + std::string(to_string(d.reason)) + " (" + std::to_string(in.connections) +
          " connections, " + std::to_string(in.half_open) + " half-open; --max-connections " +
          std::to_string(opts_.admission.max_connections) + ", --max-half-open " +
          std::to_string(opts_.admission.max_half_open) + ")");
    return;
  }
  if (d.action == AdmissionAction::retry) {
    send_retry(s, remote, hd);
    return;
  }
  auto conn = std::make_unique<Connection>(*this);
  if (!conn->init(s, remote, hd, in.token == TokenVerdict::valid ? &odcid : nullptr)) {
    // init registers CIDs (the preferred address's, before ngtcp2_conn_server_new) and can
    // still fail after that: no table entry may outlive the connection.
    forget_cids(conn.get());
    return;
  }
  ++stats_.connections;
  if (in.token == TokenVerdict::valid) ++stats_.connections_validated;
  stats_.connections_peak = std::max<std::uint64_t>(stats_.connections_peak, in.connections + 1);
  stats_.half_open_peak = std::max<std::uint64_t>(stats_.half_open_peak, in.half_open + 1);
  auto *c = conn.get();
  conns_.push_back(std::move(conn));
  c->on_datagram(s, remote, data);
}

void Server::send_retry(Socket &s, const Endpoint &remote, const ngtcp2_pkt_hd &hd) {
  ngtcp2_cid scid;
  if (!new_cid(&scid, nullptr)) return;
  std::array<std::uint8_t, NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN> token;
  auto tokenlen =
      ngtcp2_crypto_generate_retry_token(token.data(), static_secret_.data(), static_secret_.size(), hd.version,
                                         remote.sa(), remote.size(), &scid, &hd.dcid, io_.wall_clock());
  if (tokenlen < 0) return;
  std::array<std::uint8_t, 256> out;
  auto n = ngtcp2_crypto_write_retry(out.data(), out.size(), hd.version, &hd.scid, &scid, &hd.dcid, token.data(),
                                     static_cast<std::size_t>(tokenlen));
  if (n < 0) return;
  io_.send(s, remote, {out.data(), static_cast<std::size_t>(n)});
  auto k = ++stats_.retries_sent;
  if (k <= 5 || k % 1000 == 0) debug("Retry sent to " + remote.to_string() + " (" + std::to_string(k) + " so far)");
}

void Server::unknown_short_header(Socket &s, const Endpoint &remote, std::span<const std::uint8_t> dcid,
                                  std::size_t datagram_len) {
  // The source prefix has a bucket of its own (a flood from one network spends its own tokens).
  auto source = qamp::Endpoint::from(remote.sa()).value_or(qamp::Endpoint{});
  auto d = [&] {
    Lend<const Socket> socket(reset_socket_, &s);
    Lend<const Endpoint> from(reset_remote_, &remote);
    return reset_guard_.should_reset(dcid, datagram_len, opts_.policy.at(s.role), source, io_.now());
  }();
  if (!d.send) return;
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid.data(), dcid.size());
  std::uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  ngtcp2_crypto_generate_stateless_reset_token(token, static_secret_.data(), static_secret_.size(), &cid);
  // The guard's length rule (RFC 9000 §10.3): reset_length octets, of which rand_length() random.
  std::array<std::uint8_t, kMaxStatelessResetLen> out;
  std::array<std::uint8_t, kMaxStatelessResetLen> rnd;
  io_.random({rnd.data(), d.rand_length()});
  auto n = ngtcp2_pkt_write_stateless_reset(out.data(), d.reset_length, token, rnd.data(), d.rand_length());
  if (n < 0) return;
  io_.send(s, remote, {out.data(), static_cast<std::size_t>(n)});
}

void Server::log_reset(const ResetEvent &ev) const {
  auto n = reset_guard_.counters().of(ev.decision.reason);  // counted before the observer runs
  if (!ev.decision.send && n > 5 && n % 1000 != 0) return;
  std::string where;
  if (reset_socket_ && reset_remote_)
    where = ", from " + reset_remote_->to_string() + " to " + reset_socket_->local.to_string();
  log(describe(ev) + where + " (" + std::to_string(n) + " so far for this reason)");
}

void Server::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  log("shutting down: closing " + std::to_string(conns_.size()) + " connection(s)");
  // Every connection goes through remove() and one cleanup() here, so each is counted closed
  // exactly once: one already removed (closing, draining, idle) is in doomed_ and in conns_,
  // and the cleanup alarm it armed may still fire in the loop iteration that ends.
  for (auto &c : conns_) {
    c->close_gracefully();
    remove(c.get());
  }
  cleanup();
  if (cleanup_) cleanup_->cancel();
  write_stats();
  io_.stop();
}

void Server::write_stats() {
  if (opts_.stats_file.empty()) return;
  if (!stats_.write(opts_.stats_file, gate_.counters(), reset_guard_.counters()))
    log("cannot write --stats-file " + opts_.stats_file);
}

}  // namespace qamp::server
