// tests/sim/server.cc — see server.h.
#include "server.h"

#include <gnutls/crypto.h>

#include "qamp/hex.h"
#include "../../examples/server/response.h"

namespace qamp::sim {

namespace {

// An alarm is an event on the queue; re-arming or cancelling makes the earlier event a no-op
// (its generation is stale), and so does destroying the alarm (its liveness token expires).
class SimAlarm final : public server::Alarm {
 public:
  SimAlarm(EventQueue &queue, std::function<void()> fire) : queue_(queue), fire_(std::move(fire)) {}
  void arm(ngtcp2_tstamp at) override {
    auto generation = ++generation_;
    std::weak_ptr<int> alive = alive_;
    queue_.at(at, [this, alive, generation] {
      if (!alive.expired() && generation == generation_) fire_();
    });
  }
  // A simulated socket never refuses a datagram (ServerIo::send never answers kBlocked).
  void arm_writable(const server::Socket &) override { arm(queue_.now()); }
  void cancel() override { ++generation_; }

 private:
  EventQueue &queue_;
  std::function<void()> fire_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace

// The simulator's world for qamp-server.
class Server::Io final : public server::ServerIo, public server::Digests {
 public:
  Io(EventQueue &queue, Network &net, std::uint64_t seed) : queue_(queue), net_(net), prng_(seed) {}

  ngtcp2_tstamp now() const override { return queue_.now(); }
  ngtcp2_tstamp wall_clock() const override { return queue_.now(); }
  void random(std::span<std::uint8_t> out) override { prng_.fill(out); }
  bool open(server::Socket &s, const Endpoint &at, std::string *error) override {
    if (at.port() == 0) {
      *error = "the simulator binds no port 0: " + at.to_string();
      return false;
    }
    s.local = at;
    sockets_.push_back(&s);
    return true;
  }
  int send(const server::Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data,
           std::size_t gso_size) override {
    // A GSO batch is its packets, as the kernel splits it.
    const std::size_t step = gso_size ? gso_size : data.size();
    for (std::size_t off = 0; off < data.size(); off += step) {
      auto part = data.subspan(off, std::min(step, data.size() - off));
      net_.from_server({s.local, remote, {part.begin(), part.end()}});
    }
    return 0;
  }
  std::unique_ptr<server::Alarm> alarm(std::function<void()> fire) override {
    return std::make_unique<SimAlarm>(queue_, std::move(fire));
  }
  Digests &digests() override { return *this; }
  void log(const std::string &line) override { log_.push_back(line); }
  void stop() override { stopped_ = true; }
  bool stopped() const noexcept { return stopped_; }

  // Digests: the SHA-256 at once (the bodies are small), handed over as the next event.
  std::optional<std::string> cached(const std::string &key) override {
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    return std::nullopt;
  }
  bool request(const std::string &key, std::shared_ptr<const server::Body> body, const void *owner,
               std::function<void(const std::string &)> done) override {
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0) return false;
    for (std::uint64_t off = 0; off < body->size();) {
      auto s = body->at(off, static_cast<std::size_t>(std::min<std::uint64_t>(1 << 20, body->size() - off)));
      gnutls_hash(h, s.data(), s.size());
      off += s.size();
    }
    std::uint8_t digest[32];
    gnutls_hash_deinit(h, digest);
    cache_[key] = to_hex(digest);
    auto id = next_waiter_++;
    waiters_[id] = {owner, std::move(done)};
    std::weak_ptr<int> alive = alive_;
    queue_.at(queue_.now(), [this, alive, id, hex = cache_[key]] {
      if (alive.expired()) return;
      auto it = waiters_.find(id);
      if (it == waiters_.end()) return;
      auto w = std::move(it->second);
      waiters_.erase(it);
      w.done(hex);
    });
    return true;
  }
  void cancel(const void *owner) override {
    std::erase_if(waiters_, [owner](const auto &w) { return w.second.owner == owner; });
  }

  server::Socket *socket_at(const Endpoint &local) const {
    for (auto *s : sockets_)
      if (s->local == local) return s;
    return nullptr;
  }
  const std::vector<std::string> &lines() const noexcept { return log_; }

 private:
  struct Waiter {
    const void *owner = nullptr;
    std::function<void(const std::string &)> done;
  };
  EventQueue &queue_;
  Network &net_;
  Prng prng_;
  std::vector<server::Socket *> sockets_;
  std::vector<std::string> log_;
  std::map<std::string, std::string> cache_;
  std::map<std::uint64_t, Waiter> waiters_;
  std::uint64_t next_waiter_ = 0;
  bool stopped_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

namespace {

server::ServerOptions options_for(const ServerConfig &c) {
  server::ServerOptions o;
  o.handshake = c.handshake;
  o.preferred_v4 = c.spa_v4;
  o.policy = c.policy;
  o.gate = c.enforce;
  o.reset_mode = c.reset.mode;
  o.admission = c.admission;
  o.idle_timeout = c.idle_timeout;
  o.quiet = true;  // decisions only, as the e2e cases run it
  return o;
}

}  // namespace

Server::Server(EventQueue &queue, Network &net, ServerConfig config)
    : io_(std::make_unique<Io>(queue, net, config.seed)) {
  server::WorkerSetup setup;
  setup.static_secret.resize(32);
  Prng(config.secret_seed).fill(setup.static_secret);
  server_ = std::make_unique<server::Server>(options_for(config), config.reset.cluster, *io_, std::move(setup));
  server_->use_credentials(credentials().server);
  std::string error;
  if (!server_->start(&error)) throw std::runtime_error("simulated qamp-server: " + error);
}

Server::~Server() {
  server_.reset();  // its connections first: they cancel their digests and alarms on the I/O
}

bool Server::owns(const Endpoint &address) const { return io_->socket_at(address) != nullptr; }

void Server::shutdown() { server_->shutdown(); }

void Server::receive(const Datagram &d) {
  auto *s = io_->socket_at(d.to);
  if (!s || io_->stopped()) return;
  // One datagram is one read batch: the connection that read it writes at once.
  server_->receive(*s, d.from, d.data);
  server_->end_batch();
}

ServerCounters Server::counters() const {
  const auto &st = server_->stats();
  ServerCounters c;
  c.connections = st.connections;
  c.resets_sent = server_->reset_guard().counters().sent;
  for (const auto &[reason, n] : st.initials_refused) c.refused += n;
  c.moves_to_preferred_address = st.moves_to_preferred_address;
  c.migrations = st.migrations;
  return c;
}

const std::vector<std::string> &Server::log() const noexcept { return io_->lines(); }

ClusterConfig quic_lb_cluster(std::uint8_t id, bool encrypted) {
  static constexpr std::uint8_t kKey[16] = {0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80,
                                            0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66, 0x20, 0x7f};
  std::optional<std::span<const std::uint8_t>> key;
  if (encrypted) key = std::span<const std::uint8_t>(kKey);
  const std::uint8_t sid[] = {id};
  return ClusterConfig{QuicLbCodec(*make_quic_lb_config(0, 1, 16, true, key)), *make_quic_lb_server_id(sid)};
}

}  // namespace qamp::sim
