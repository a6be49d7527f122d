// tests/sim/client.cc — see client.h.
#include "client.h"

#include <algorithm>

#include "qamp/tls.h"

namespace qamp::sim {

struct Client::State : Peer {
  Client *client = nullptr;
  static State &of(void *user_data) { return *static_cast<State *>(static_cast<Peer *>(user_data)); }
};

Client::Client(EventQueue &queue, Network &net, ClientConfig config)
    : queue_(queue), net_(net), config_(std::move(config)), prng_(config_.seed), state_(std::make_unique<State>()) {
  state_->client = this;
  state_->random = [this](std::span<std::uint8_t> out) { prng_.fill(out); };
}

Client::~Client() = default;

const Peer &Client::peer() const noexcept { return *state_; }

Endpoint Client::local() const {
  const auto *p = ngtcp2_conn_get_path(state_->conn);
  return Endpoint::of(p->local);
}

Endpoint Client::remote() const {
  const auto *p = ngtcp2_conn_get_path(state_->conn);
  return Endpoint::of(p->remote);
}

bool Client::owns(const Endpoint &address) const {
  return std::find(owned_.begin(), owned_.end(), address) != owned_.end();
}

void Client::start() {
  auto &s = *state_;
  s.local = config_.local;
  owned_ = {config_.local};
  auto cb = peer_callbacks(false);
  cb.recv_stream_data = [](ngtcp2_conn *conn, std::uint32_t flags, std::int64_t id, std::uint64_t, const std::uint8_t *,
                           std::size_t len, void *u, void *) {
    auto &self = *State::of(u).client;
    ngtcp2_conn_extend_max_stream_offset(conn, id, len);
    ngtcp2_conn_extend_max_offset(conn, len);
    self.received_ += len;
    if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) self.complete_ = true;
    if (self.pending_change_ && self.pending_change_->after_bytes &&
        self.received_ >= self.pending_change_->after_bytes)
      self.queue_.at(self.queue_.now(), [&self] { self.try_change(); });  // not inside ngtcp2
    return 0;
  };
  cb.select_preferred_addr = [](ngtcp2_conn *, ngtcp2_path *dest, const ngtcp2_preferred_addr *, void *u) {
    return State::of(u).client->select_preferred_addr(dest);
  };
  cb.handshake_confirmed = [](ngtcp2_conn *, void *u) {
    auto &self = *State::of(u).client;
    State::of(u).handshake_confirmed = true;
    if (self.pending_change_) self.queue_.at(self.queue_.now(), [&self] { self.try_change(); });
    return 0;
  };
  cb.path_validation = [](ngtcp2_conn *, std::uint32_t flags, const ngtcp2_path *, const ngtcp2_path *,
                          ngtcp2_path_validation_result res, void *u) {
    auto &st = State::of(u);
    auto &self = *st.client;
    bool success = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS;
    bool preferred = flags & NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR;
    if (success && preferred) st.preferred_validated = true;
    if (success && !preferred) ++st.migration_results;
    if (!preferred && !self.validating_migration_) return 0;
    // ngtcp2 tears its validation state down after this callback returns.
    self.queue_.at(self.queue_.now(), [&self, success] { self.validation_ended(success); });
    return 0;
  };
  auto settings = peer_settings(s, queue_.now());
  auto params = base_params();
  params.initial_max_stream_data_bidi_local = 1 << 20;
  params.max_idle_timeout = config_.idle_timeout;
  auto dcid = random_cid(s, 18), scid = random_cid(s, 18);
  auto local = config_.local, server = config_.server;
  ngtcp2_path path{local.addr(), server.addr(), nullptr};
  if (ngtcp2_conn_client_new(&s.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, nullptr,
                             static_cast<Peer *>(&s)) != 0) {
    closed_ = true;
    return;
  }
  std::string err;
  auto session = common::make_session(false, credentials().client, "localhost", &err);
  if (!session) {
    closed_ = true;
    return;
  }
  s.attach(std::move(session));
  if (configure_client_session(s.session.get(), ClientTpConfig{}) != 0) {
    closed_ = true;
    return;
  }
  pending_change_ = config_.change;
  write();
  if (pending_change_ && pending_change_->after_bytes == 0) try_change();  // waits for the handshake
}

void Client::receive(const Datagram &d) {
  if (closed_) return;
  deliver(*state_, d, queue_.now());
  if (state_->rv != 0) {
    closed_ = true;  // draining (a CONNECTION_CLOSE or a Stateless Reset) or an error
    return;
  }
  write();
}

void Client::write() {
  auto &s = *state_;
  if (closed_) return;
  if (s.handshake_done && request_.id < 0) {
    std::int64_t id;
    if (ngtcp2_conn_open_bidi_stream(s.conn, &id, nullptr) == 0) request_ = {id, 1};
  }
  std::deque<Datagram> out;
  constexpr int kBurst = 64;
  flush(s, queue_.now(), out, kBurst, &request_);
  ngtcp2_conn_update_pkt_tx_time(s.conn, queue_.now());
  bool more = out.size() == kBurst;
  for (auto &d : out)
    if (owns(d.from)) net_.from_client(std::move(d));  // a gone network sends nothing
  if (s.rv != 0) {
    closed_ = true;
    return;
  }
  if (more) queue_.at(queue_.now(), [this] { write(); });
  arm_timer();
}

void Client::arm_timer() {
  auto expiry = ngtcp2_conn_get_expiry(state_->conn);
  if (expiry == UINT64_MAX) return;
  auto generation = ++timer_generation_;
  queue_.at(expiry, [this, generation] {
    if (closed_ || generation != timer_generation_) return;
    if (ngtcp2_conn_handle_expiry(state_->conn, queue_.now()) != 0) {
      closed_ = true;
      return;
    }
    write();
  });
}

void Client::ensure_migrator() {
  if (migrator_) return;
  Policy policy;
  bool v4 = false;
  if (const auto *st = client_tp_state(state_->session.get()); st && st->server) {
    policy = st->server->policy;
    if (const auto &pa = st->server->preferred_address; pa && pa->ipv4_present()) {
      spa_v4_ = Endpoint::parse(pa->ipv4_string());
      v4 = spa_v4_.has_value();
    }
  }
  migrator_ = std::make_unique<Migrator>(config_.migrator, policy, v4, false);
  migrator_->set_observer([this](const MigrationEvent &e) { decisions_.push_back(e); });
}

MigrationDecision Client::ask(const NetworkChange &change) {
  auto kind = change.to.same_ip(local()) ? Change::port_only : Change::ip_change;
  return migrator_->request_migration(kind, MigrationCause::network_change, change.old_path_usable, LocalInfo{});
}

void Client::take_address(const NetworkChange &change) {
  if (!change.old_path_usable) owned_.erase(std::remove(owned_.begin(), owned_.end(), local()), owned_.end());
  owned_.push_back(change.to);
}

int Client::select_preferred_addr(ngtcp2_path *dest) {
  ensure_migrator();
  if (pending_change_ && pending_change_->after_bytes == 0 && spa_v4_) {
    // RFC 9000 §9.6.3: the network changed before the client could use the preferred address;
    // validating it from the new local address is both the move and the change.
    auto change = *pending_change_;
    auto d = ask(change);
    if (d.outcome == Outcome::validate_preferred_from_new_local) {
      pending_change_.reset();
      take_address(change);
      ngtcp2_addr_copy_byte(&dest->local, change.to.sa(), change.to.size());
      ngtcp2_addr_copy_byte(&dest->remote, spa_v4_->sa(), spa_v4_->size());
      return 0;
    }
  }
  auto d = migrator_->on_preferred_address(LocalInfo{});
  if (d.outcome != Outcome::start_preferred_validation || !spa_v4_) return 0;  // stays
  ngtcp2_addr_copy_byte(&dest->remote, spa_v4_->sa(), spa_v4_->size());
  return 0;
}

void Client::try_change() {
  if (!pending_change_ || closed_) return;
  if (pending_change_->after_bytes && received_ < pending_change_->after_bytes) return;
  if (!state_->handshake_confirmed) {
    notes_.push_back("network change waits for the handshake to be confirmed (RFC 9000 §9)");
    return;  // the handshake_confirmed callback calls back
  }
  ensure_migrator();
  if (migrator_->state() == MigratorState::validating_preferred_address ||
      migrator_->state() == MigratorState::validating_migration) {
    notes_.push_back("network change waits for the running path validation");
    return;  // validation_ended() calls back
  }
  auto change = *pending_change_;
  pending_change_.reset();
  auto remote_now = remote();
  auto d = ask(change);
  std::optional<Endpoint> target;
  if (d.outcome == Outcome::start_path_validation || d.outcome == Outcome::start_immediate_migration)
    target = remote_now;
  else if (d.outcome == Outcome::validate_preferred_from_new_local && d.target == ServerAddress::spa_v4)
    target = spa_v4_;
  if (!target) return;  // refused: the client stays where it is
  take_address(change);
  auto to = change.to;
  ngtcp2_path path{to.addr(), target->addr(), nullptr};
  validating_migration_ = d.outcome != Outcome::validate_preferred_from_new_local;
  int rv = d.outcome == Outcome::start_immediate_migration
               ? ngtcp2_conn_initiate_immediate_migration(state_->conn, &path, queue_.now())
               : ngtcp2_conn_initiate_migration(state_->conn, &path, queue_.now());
  if (rv != 0) {
    notes_.push_back("ngtcp2 refused the migration: " + std::string(ngtcp2_strerror(rv)));
    validating_migration_ = false;
    migrator_->on_validation_result(false);
  }
  write();
}

void Client::validation_ended(bool success) {
  validating_migration_ = false;
  if (migrator_) migrator_->on_validation_result(success);
  write();
  if (pending_change_) try_change();
}

}  // namespace qamp::sim
