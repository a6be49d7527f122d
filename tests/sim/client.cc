// tests/sim/client.cc — see client.h.
#include "client.h"

#include <algorithm>
#include <cstdlib>

#include <nghttp3/nghttp3.h>

#include "callback_barrier.h"
#include "http_range.h"
#include "http_rules.h"
#include "qamp/tls.h"

namespace qamp::sim {

namespace {

// The client options the real adapter reads, as ClientConfig sets them.
client::Options options_for(const ClientConfig &c) {
  client::Options o;
  o.quiet = true;
  o.follow_network = false;
  o.semantics = c.migrator.semantics;
  o.spa_family = c.migrator.spa_family;
  o.ignore_reset_on_probe = c.migrator.ignore_reset_on_probe;
  o.no_preferred_addr = !c.migrator.use_preferred_address;
  o.old_path = c.change && !c.change->old_path_usable ? client::OldPath::drop : client::OldPath::keep;
  return o;
}

}  // namespace

// The connection, with the StreamHost the H3Session runs on (as QuicConnection is for qamp-client).
struct Client::State : Peer {
  struct Streams final : client::StreamHost {
    explicit Streams(Peer &p) noexcept : peer(p) {}
    ngtcp2_conn *conn() const noexcept override { return peer.conn; }
    void set_app(client::StreamApp *a) noexcept override { app = a; }
    void set_app_error(std::uint64_t) noexcept override {}  // the simulator sends no CONNECTION_CLOSE
    Peer &peer;
    client::StreamApp *app = nullptr;
  };
  Client *client = nullptr;
  Streams streams{*this};
  static State &of(void *user_data) { return *static_cast<State *>(static_cast<Peer *>(user_data)); }
};

client::StreamApp *Client::app_of(void *user_data) { return State::of(user_data).streams.app; }

// The headers the planner's input comes from, read as qamp-client's Download reads them.
void Client::Sink::on_header(std::string_view name, std::string_view value) {
  if (name == ":status")
    c_.status_ = static_cast<int>(common::parse_decimal(value).value_or(0));
  else if (name == "content-length")
    c_.content_length_ = common::parse_decimal(value);
  else if (name == "accept-ranges")
    c_.accept_ranges_ = std::string(value);
  else if (name == "etag")
    c_.etag_ = std::string(value);
  else if (name == "last-modified")
    c_.last_modified_ = std::string(value);
}

void Client::Sink::on_body(std::span<const std::uint8_t> data) {
  c_.received_ += data.size();
  auto &change = c_.pending_change_;
  if (change && change->after_bytes && c_.received_ >= change->after_bytes)
    c_.queue_.at(c_.queue_.now(), [&c = c_] { c.change_network(); });  // not inside ngtcp2
}

void Client::start_http3() {
  h3_ = std::make_unique<client::H3Session>(state_->streams);
  std::string error;
  if (h3_->start(&error) != 0) {
    closed_ = true;
    return;
  }
  client::Request r;
  r.authority = "localhost";
  r.path = config_.path;
  h3_->submit(std::move(r), &sink_);
}

Client::Client(EventQueue &queue, Network &net, ClientConfig config)
    : queue_(queue),
      net_(net),
      config_(std::move(config)),
      prng_(config_.seed),
      state_(std::make_unique<State>()),
      opts_(options_for(config_)),
      trace_(true, std::nullopt, std::nullopt),
      timers_(queue_, *this),
      host_(*this),
      adapter_(opts_, trace_, run_, host_, timers_, timers_) {
  state_->client = this;
  state_->random = [this](std::span<std::uint8_t> out) { prng_.fill(out); };
  adapter_.set_event_tap([this](const MigrationEvent &e) { decisions_.push_back(e); });
}

Client::~Client() {
  h3_.reset();  // before the connection it runs on
}

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

void Client::Timers::arm(client::AdapterTimer id, ngtcp2_tstamp at) {
  const auto i = static_cast<std::size_t>(id);
  const auto generation = ++generation_[i];
  queue_.at(at, [this, id, i, generation] {
    if (generation_[i] == generation) client_.adapter_.on_timer(id);
  });
}

void Client::start() {
  auto &s = *state_;
  s.local = config_.local;
  owned_ = {config_.local};
  started_at_ = queue_.now();
  auto cb = peer_callbacks(false);
  client::route_stream_callbacks<Client::app_of>(cb);  // to the HTTP/3 session, as QuicConnection
  // As qamp-client's QuicConnection forwards them (examples/client/client.cc), behind the same
  // exception barrier.
  cb.handshake_completed = [](ngtcp2_conn *, void *u) {
    return common::ngtcp2_barrier("handshake_completed", [&] {
      auto &self = *State::of(u).client;
      State::of(u).handshake_done = true;
      self.adapter_.handshake_completed();
      self.start_http3();
      // "--network-change 0s": the network changes as the handshake completes, before the
      // confirmation, so before the client may use the preferred address (RFC 9000 §9.6.3).
      if (self.pending_change_ && self.pending_change_->after_bytes == 0) self.change_network(true);
      return 0;
    });
  };
  cb.handshake_confirmed = [](ngtcp2_conn *, void *u) {
    return common::ngtcp2_barrier("handshake_confirmed", [&] {
      State::of(u).handshake_confirmed = true;
      State::of(u).client->adapter_.handshake_confirmed();
      return 0;
    });
  };
  cb.select_preferred_addr = [](ngtcp2_conn *, ngtcp2_path *dest, const ngtcp2_preferred_addr *, void *u) {
    return common::ngtcp2_barrier("select_preferred_addr", [&] {
      auto choice = State::of(u).client->adapter_.select_preferred_addr();
      if (!choice) return 0;  // ngtcp2 stays on the handshake address
      ngtcp2_addr_copy_byte(&dest->local, choice->local.sa(), choice->local.size());
      ngtcp2_addr_copy_byte(&dest->remote, choice->remote.sa(), choice->remote.size());
      return 0;
    });
  };
  cb.path_validation = [](ngtcp2_conn *, std::uint32_t flags, const ngtcp2_path *path, const ngtcp2_path *old_path,
                          ngtcp2_path_validation_result res, void *u) {
    return common::ngtcp2_barrier("path_validation", [&] {
      auto &st = State::of(u);
      bool success = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS;
      if (success && (flags & NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR)) st.preferred_validated = true;
      if (success && !(flags & NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR)) ++st.migration_results;
      st.client->adapter_.path_validated(flags, *path, old_path, success);
      return 0;
    });
  };
  auto settings = peer_settings(s, queue_.now());
  auto params = base_params();
  params.initial_max_stream_data_bidi_local = 1 << 20;
  params.initial_max_streams_uni = 3;  // the server's HTTP/3 control and QPACK streams
  params.initial_max_stream_data_uni = 1 << 16;
  params.max_idle_timeout = config_.idle_timeout;
  auto dcid = random_cid(s, 18), scid = random_cid(s, 18);
  auto local = config_.local, server = config_.server;
  ngtcp2_path path{local.addr(), server.addr(), nullptr};
  adapter_.connection_started();
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
}

void Client::receive(const Datagram &d) {
  if (closed_) return;
  // The adapter's Stateless Reset hardening judges a datagram before ngtcp2 reads it.
  if (!adapter_.admit_datagram(d.to, d.from, d.data)) return;
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
  std::deque<Datagram> out;
  constexpr int kBurst = 64;
  flush(s, queue_.now(), out, kBurst, s.streams.app);
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

// The network changes as the real client's do: the adapter is told, it asks the Migrator and
// carries the decision out through the host. A gone old network (--old-path-after-change drop)
// is closed by the adapter itself once the move starts (Host::close_socket).
void Client::change_network(bool inside_callback) {
  if (!pending_change_ || closed_) return;
  auto change = *pending_change_;
  pending_change_.reset();
  adapter_.network_changed(change.to, MigrationCause::network_change);
  if (!inside_callback) write();
}

bool Client::Host::connection_open() { return !c_.closed_ && c_.state_->conn; }

const ClientTpState *Client::Host::tp_state() { return client_tp_state(c_.state_->session.get()); }

int Client::Host::initiate_migration(const Endpoint &local, const Endpoint &remote, bool immediate, ngtcp2_tstamp ts) {
  c_.calls_.push_back(std::string(immediate ? "immediate " : "initiate ") + local.to_string() + " -> " +
                      remote.to_string());
  ngtcp2_path path{local.addr(), remote.addr(), nullptr};
  return immediate ? ngtcp2_conn_initiate_immediate_migration(c_.state_->conn, &path, ts)
                   : ngtcp2_conn_initiate_migration(c_.state_->conn, &path, ts);
}

std::vector<ResetToken> Client::Host::peer_reset_tokens() { return client::active_reset_tokens(c_.state_->conn); }

std::optional<Endpoint> Client::Host::open_socket(const Endpoint &local, std::string *) {
  auto bound = local;
  if (bound.port() == 0) bound.set_port(c_.next_port_++);
  if (!c_.owns(bound)) c_.owned_.push_back(bound);
  c_.calls_.push_back("open " + bound.to_string());
  return bound;
}

void Client::Host::close_socket(const Endpoint &local) {
  c_.calls_.push_back("close " + local.to_string());
  c_.owned_.erase(std::remove(c_.owned_.begin(), c_.owned_.end(), local), c_.owned_.end());
}

// The one route the simulated client has: from its first address's IP.
std::optional<Endpoint> Client::Host::route_source(const Endpoint &remote, std::string *error) {
  if (remote.family() == c_.config_.local.family()) {
    auto source = c_.config_.local;
    source.set_port(0);
    return source;
  }
  if (error) *error = "no route of that family in the simulated network";
  return std::nullopt;
}

// The simulator runs one connection: a reconnect is recorded, not carried out.
void Client::Host::reconnect(std::optional<Endpoint> from, bool resume) {
  c_.calls_.push_back(std::string(resume ? "reconnect-resume " : "reconnect-restart ") +
                      (from ? from->to_string() : "-"));
}

// What the planner is told, as qamp-client tells it for one download: the response's length,
// whether it is resumable (common::response_allows_resume over the headers qamp-server sent),
// the goodput so far and ngtcp2's RTT. A reconnect is only recorded (Host::reconnect).
PlannerInput Client::Host::transfer() {
  PlannerInput in;
  in.received = c_.received_;
  in.body_size = c_.content_length_;
  in.resumable = common::response_allows_resume(c_.status_, c_.accept_ranges_,
                                                common::if_range_validator(c_.etag_, c_.last_modified_));
  const auto elapsed = c_.queue_.now() - c_.started_at_;
  in.old_rate = elapsed ? static_cast<double>(c_.received_) * 1e9 / static_cast<double>(elapsed) : 0;
  ngtcp2_conn_info info;
  ngtcp2_conn_get_conn_info(c_.state_->conn, &info);
  in.old_rtt = static_cast<double>(info.smoothed_rtt) / 1e9;
  return in;
}

}  // namespace qamp::sim
