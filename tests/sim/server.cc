// tests/sim/server.cc — see server.h. The order of the calls follows examples/server/server.cc
// (dispatch, new_initial, unknown_short_header) and connection.cc (on_datagram).
#include "server.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "qamp/tls.h"

namespace qamp::sim {

namespace {

constexpr std::size_t kScidLen = 18;  // as examples/server/server.h

bool same_cid(const ngtcp2_cid &cid, std::span<const std::uint8_t> bytes) {
  return cid.datalen == bytes.size() && std::equal(bytes.begin(), bytes.end(), cid.data);
}

}  // namespace

struct Server::Conn : Peer {
  Server *server = nullptr;
  ngtcp2_cid odcid{};  // the client's first DCID, known until the handshake moves on
  OutgoingStream response;
  std::uint64_t timer_generation = 0;
  bool closed = false;
  bool moved_to_spa = false;

  static Conn &of(void *user_data) { return *static_cast<Conn *>(static_cast<Peer *>(user_data)); }
};

Server::Server(EventQueue &queue, Network &net, ServerConfig config)
    : queue_(queue),
      net_(net),
      config_(std::move(config)),
      prng_(config_.seed),
      gate_(GateConfig{config_.policy, config_.enforce}),
      guard_(config_.reset) {
  Prng(config_.secret_seed).fill(secret_);
}

Server::~Server() = default;

bool Server::owns(const Endpoint &address) const { return role_of(address).has_value(); }

std::optional<ServerAddress> Server::role_of(const Endpoint &local) const {
  if (local == config_.handshake) return ServerAddress::handshake;
  if (config_.spa_v4 && local == *config_.spa_v4) return ServerAddress::spa_v4;
  return std::nullopt;
}

const Peer *Server::connection() const noexcept { return conns_.empty() ? nullptr : conns_.front().get(); }

std::uint64_t Server::sent_to(const Endpoint &to) const {
  return static_cast<std::uint64_t>(std::count(sent_to_.begin(), sent_to_.end(), to));
}

Server::Conn *Server::find(std::span<const std::uint8_t> dcid) const {
  for (const auto &c : conns_) {
    if (c->closed) continue;
    if (same_cid(c->odcid, dcid)) return c.get();
    std::vector<ngtcp2_cid> scids(ngtcp2_conn_get_scid(c->conn, nullptr));
    ngtcp2_conn_get_scid(c->conn, scids.data());
    for (const auto &cid : scids)
      if (same_cid(cid, dcid)) return c.get();
  }
  return nullptr;
}

void Server::receive(const Datagram &d) {
  auto c = classify_datagram(d.data, cid_len(),
                             [this](std::span<const std::uint8_t> dcid) { return find(dcid) != nullptr; });
  switch (c.kind) {
    case DatagramClass::known_connection: {
      auto &conn = *find(c.dcid);
      // The gate, before ngtcp2 sees the datagram (DESIGN.md §4): a drop sends nothing.
      const ngtcp2_path *cur = ngtcp2_conn_get_path(conn.conn);
      auto cur_local = Endpoint::of(cur->local);
      PathView current{role_of(cur_local).value_or(ServerAddress::handshake), cur->remote.addr};
      PathView incoming{role_of(d.to).value_or(ServerAddress::handshake), d.from.sa()};
      if (!gate_.admit(current, incoming).accepted()) return;
      deliver(conn, d, queue_.now());
      if (conn.rv != 0) {
        conn.closed = true;  // draining, or an error: the simulator sends no CONNECTION_CLOSE
        return;
      }
      write(conn);
      return;
    }
    case DatagramClass::unknown_short_header: unknown_short_header(d, c.dcid); return;
    case DatagramClass::new_initial: new_initial(d); return;
    case DatagramClass::version_negotiation:
    case DatagramClass::drop_undecodable:
    case DatagramClass::drop_unknown_long_header: ++counters_.dropped_unknown; return;
  }
}

ClusterConfig quic_lb_cluster(std::uint8_t id, bool encrypted) {
  static constexpr std::uint8_t kKey[16] = {0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80,
                                            0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66, 0x20, 0x7f};
  std::optional<std::span<const std::uint8_t>> key;
  if (encrypted) key = std::span<const std::uint8_t>(kKey);
  const std::uint8_t sid[] = {id};
  return ClusterConfig{QuicLbCodec(*make_quic_lb_config(0, 1, 16, true, key)), *make_quic_lb_server_id(sid)};
}

std::size_t Server::cid_len() const noexcept {
  return config_.reset.cluster ? config_.reset.cluster->codec.config().cid_len() : kScidLen;
}

ngtcp2_cid Server::issue_cid() {
  ngtcp2_cid cid;
  if (const auto &cl = config_.reset.cluster) {
    std::array<std::uint8_t, kQuicLbMaxBody> nonce;
    prng_.fill(nonce);
    auto b = cl->codec.encode(cl->server_id.view(), std::span(nonce).first(cl->codec.config().nonce_len));
    ngtcp2_cid_init(&cid, b->data(), b->size());
  } else {
    std::array<std::uint8_t, kScidLen> random;
    prng_.fill(random);
    ngtcp2_cid_init(&cid, random.data(), random.size());
  }
  return cid;
}

void Server::reset_token(const ngtcp2_cid &cid, std::uint8_t *token) const {
  ngtcp2_crypto_generate_stateless_reset_token(token, secret_.data(), secret_.size(), &cid);
}

void Server::new_initial(const Datagram &d) {
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, d.data.data(), d.data.size()) != 0 || role_of(d.to) != ServerAddress::handshake) {
    ++counters_.dropped_unknown;
    return;
  }
  AdmissionInput in;
  for (const auto &c : conns_)
    if (!c->closed) {
      ++in.connections;
      if (!c->handshake_done) ++in.half_open;
    }
  if (admit(config_.admission, in).action != AdmissionAction::accept) {
    ++counters_.refused;  // the simulator sends no Retry: a retry decision drops the Initial too
    return;
  }
  auto conn = std::make_unique<Conn>();
  auto &c = *conn;
  c.server = this;
  c.random = [this](std::span<std::uint8_t> out) { prng_.fill(out); };
  c.local = d.to;
  c.odcid = hd.dcid;
  auto cb = peer_callbacks(true);
  cb.get_new_connection_id = [](ngtcp2_conn *, ngtcp2_cid *cid, std::uint8_t *token, std::size_t, void *u) {
    auto &self = Conn::of(u);
    *cid = self.server->issue_cid();
    self.server->reset_token(*cid, token);
    return 0;
  };
  cb.recv_stream_data = [](ngtcp2_conn *conn, std::uint32_t flags, std::int64_t id, std::uint64_t, const std::uint8_t *,
                           std::size_t len, void *u, void *) {
    auto &self = Conn::of(u);
    ngtcp2_conn_extend_max_stream_offset(conn, id, len);
    ngtcp2_conn_extend_max_offset(conn, len);
    // The whole request arrived: answer it with the configured number of bytes.
    if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) && self.response.id < 0)
      self.response = {id, self.server->config_.response_size};
    return 0;
  };
  cb.path_validation = [](ngtcp2_conn *, std::uint32_t, const ngtcp2_path *path, const ngtcp2_path *,
                          ngtcp2_path_validation_result res, void *u) {
    auto &self = Conn::of(u);
    if (res != NGTCP2_PATH_VALIDATION_RESULT_SUCCESS) return 0;
    // As qamp-server counts them (connection.cc): the first validated path on a preferred
    // address is the move (RFC 9000 §9.6), any other validated path a client migration.
    auto role = self.server->role_of(Endpoint::of(path->local));
    if (role && *role != ServerAddress::handshake && !self.moved_to_spa) {
      self.moved_to_spa = true;
      ++self.server->counters_.moves_to_preferred_address;
    } else {
      ++self.server->counters_.migrations;
    }
    return 0;
  };
  auto settings = peer_settings(c, queue_.now());
  auto params = base_params();
  params.initial_max_stream_data_bidi_remote = 1 << 20;
  params.max_idle_timeout = config_.idle_timeout;
  params.original_dcid = hd.dcid;
  params.original_dcid_present = 1;
  if (config_.spa_v4) {
    params.preferred_addr_present = 1;
    std::memcpy(&params.preferred_addr.ipv4, config_.spa_v4->sa(), sizeof params.preferred_addr.ipv4);
    params.preferred_addr.ipv4_present = 1;
    params.preferred_addr.cid = issue_cid();
    reset_token(params.preferred_addr.cid, params.preferred_addr.stateless_reset_token);
  }
  auto scid = issue_cid();
  // The token of the handshake CID too, so a reset for it is one the client recognises.
  params.stateless_reset_token_present = 1;
  reset_token(scid, params.stateless_reset_token);
  auto local = d.to, remote = d.from;
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  if (ngtcp2_conn_server_new(&c.conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params, nullptr,
                             static_cast<Peer *>(&c)) != 0)
    return;
  std::string err;
  auto session = common::make_session(true, credentials().server, "", &err);
  if (!session) return;
  c.attach(std::move(session));
  ServerTpConfig tc;
  tc.policy = config_.policy;
  if (configure_server_session(c.session.get(), tc) != 0) return;
  require_transport_params_extension(c.session.get());
  ++counters_.connections;
  conns_.push_back(std::move(conn));
  deliver(c, d, queue_.now());
  if (c.rv != 0) {
    c.closed = true;
    return;
  }
  write(c);
}

void Server::unknown_short_header(const Datagram &d, std::span<const std::uint8_t> dcid) {
  // The source prefix has a bucket of its own (a flood from one network spends its own tokens).
  auto source = qamp::Endpoint::from(d.from.sa()).value_or(qamp::Endpoint{});
  auto level = config_.policy.at(role_of(d.to).value_or(ServerAddress::handshake));
  auto decision = guard_.should_reset(dcid, d.data.size(), level, source, queue_.now());
  if (!decision.send) return;
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid.data(), dcid.size());
  std::uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  reset_token(cid, token);
  std::vector<std::uint8_t> rnd(decision.rand_length());
  prng_.fill(rnd);
  std::array<std::uint8_t, 1500> out;
  auto n = ngtcp2_pkt_write_stateless_reset(out.data(), decision.reset_length, token, rnd.data(), rnd.size());
  if (n < 0) return;
  ++counters_.resets_sent;
  sent_to_.push_back(d.from);
  net_.from_server({d.to, d.from, {out.begin(), out.begin() + n}});
}

void Server::write(Conn &c) {
  std::deque<Datagram> out;
  constexpr int kBurst = 64;
  flush(c, queue_.now(), out, kBurst, &c.response);
  ngtcp2_conn_update_pkt_tx_time(c.conn, queue_.now());
  bool more = out.size() == kBurst;
  for (auto &d : out) {
    sent_to_.push_back(d.to);
    net_.from_server(std::move(d));
  }
  if (c.rv != 0) {
    c.closed = true;
    return;
  }
  if (more)
    queue_.at(queue_.now(), [this, &c] {
      if (!c.closed) write(c);
    });
  arm_timer(c);
}

void Server::arm_timer(Conn &c) {
  auto expiry = ngtcp2_conn_get_expiry(c.conn);
  if (expiry == UINT64_MAX) return;
  auto generation = ++c.timer_generation;
  queue_.at(expiry, [this, &c, generation] {
    if (c.closed || generation != c.timer_generation) return;
    if (ngtcp2_conn_handle_expiry(c.conn, queue_.now()) != 0) {
      c.closed = true;  // idle timeout (or a handshake that never finished)
      return;
    }
    write(c);
  });
}

}  // namespace qamp::sim
