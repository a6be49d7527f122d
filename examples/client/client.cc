#include "qamp/hex.h"
#include "client.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>

#include <netdb.h>

#include <algorithm>
#include <cstring>

namespace qamp::client {

namespace {

double seconds_since(ngtcp2_tstamp t) { return static_cast<double>(common::now_ns() - t) / 1e9; }

// HOST:PORT as it goes into :authority (IPv6 literals bracketed).
std::string authority_of(const std::string &host, const std::string &port) {
  if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]:" + port;
  return host + ":" + port;
}

std::optional<Endpoint> resolve(const std::string &host, const std::string &port, std::string *error) {
  if (auto ep = common::parse_host_port(host, port)) return ep;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo *res = nullptr;
  if (int rv = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rv != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(rv);
    return std::nullopt;
  }
  auto ep = Endpoint::from(res->ai_addr);  // AF_INET or AF_INET6 (hints.ai_family = AF_UNSPEC)
  freeaddrinfo(res);
  return ep;
}

// The name the server certificate must carry: --sni, else HOST without IPv6 brackets.
std::string verify_name_of(const Options &o) {
  if (!o.sni.empty()) return o.sni;
  std::string h = o.host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h;
}

}  // namespace

EvMigrationTimers::EvMigrationTimers(struct ev_loop *loop, std::function<void(AdapterTimer)> fire) {
  for (std::size_t i = 0; i < timers_.size(); ++i)
    timers_[i] = std::make_unique<Timer>(loop, [fire, i] { fire(static_cast<AdapterTimer>(i)); });
}

void EvMigrationTimers::arm(AdapterTimer id, ngtcp2_tstamp at) {
  const ngtcp2_tstamp now = common::now_ns();
  timers_[static_cast<std::size_t>(id)]->arm(at > now ? static_cast<double>(at - now) / 1e9 : 0.0);
}

void EvMigrationTimers::cancel(AdapterTimer id) { timers_[static_cast<std::size_t>(id)]->cancel(); }

Client::Client(struct ev_loop *loop, const Options &options)
    : loop_(loop),
      opt_(options),
      trace_(options.quiet, options.qlog_file, options.qlog_dir),
      sockets_(
          loop,
          [this](UdpSocket &s, const Endpoint &from, std::span<const std::uint8_t> d) { on_datagram(s, from, d); },
          [this] { on_batch_end(); }),
      migration_timers_(loop, [this](AdapterTimer id) { migration_.on_timer(id); }),
      migration_(opt_, trace_, run_, *this, migration_timers_, migration_timers_),
      follower_(opt_.network_config, trace_, *this, migration_timers_),
      sample_timer_(loop, [this] { sample_path(); }),
      trigger_timer_(loop,
                     [this] {
                       follower_.on_timer();
                       arm_trigger_timer();
                     }),
      write_error_timer_(loop,
                         [this] {
                           auto errors = std::move(write_errors_);
                           write_errors_.clear();
                           for (int e : errors) follower_.on_write_error(e);
                           if (quic_ && !quic_->closed()) quic_->write();
                         }),
      reaper_(loop, [this] { retired_.clear(); }),
      done_timer_(loop, [this] { check_done(); }),
      reconnect_timer_(loop, [this] { do_reconnect(); }),
      split_timer_(loop, [this] { finish_split(); }),
      pace_timer_(loop, [this] { release_credit(); }) {
  // Bursts of a quarter of the initial window: ngtcp2 sends MAX_DATA once half the window is
  // returned, so the sender never waits on a whole window.
  if (opt_.limit_rate) pacer_.emplace(*opt_.limit_rate, std::max<std::uint64_t>(opt_.max_data / 4, 4096));
}

Client::~Client() {
  if (netlink_) ev_io_stop(loop_, &netlink_watcher_);
}

bool Client::start() {
  start_ts_ = common::now_ns();
  std::string error;
  auto server = resolve(opt_.host, opt_.port, &error);
  if (!server) {
    trace_.error("%s", error.c_str());
    return false;
  }
  server_ = *server;
  run_.handshake_server = server_;
  if (opt_.follow_network && !start_following(&error)) {
    trace_.error("--follow-network: %s (--follow-network=off runs without the system's events)", error.c_str());
    return false;
  }
  // Inside QuicConnection::write: ngtcp2 is mid-write with its timestamp; the follower's
  // decision (which calls ngtcp2) waits for the next loop iteration.
  sockets_.set_send_error_observer([this](int e) {
    if (write_errors_.size() < 8) write_errors_.push_back(e);
    if (!write_error_timer_.armed()) write_error_timer_.arm(0);
  });
  build_schedule();
  if (opt_.insecure)
    trace_.warning(
        "--insecure: the server certificate is NOT verified; anyone on the path can "
        "impersonate %s and serve any bytes (with a matching x-qamp-body-sha256)",
        opt_.host.c_str());
  authority_ = authority_of(opt_.host, opt_.port);
  if (opt_.limit_rate)
    trace_.info("--limit-rate: connection credit returned at %.0f bytes/s, initial window %llu bytes", *opt_.limit_rate,
                static_cast<unsigned long long>(opt_.max_data));

  for (const auto &uri : opt_.uris) {
    auto d = std::make_unique<Download>(*parse_target(uri), opt_.download_dir.value_or(""));
    if (!d->open(&error)) {
      trace_.error("%s", error.c_str());
      return false;
    }
    d->set_listener([this] { on_progress(); }, [this] { done_timer_.arm(0); });
    downloads_.push_back(std::move(d));
  }

  auto local = route_source(server_, &error);
  auto *socket = local ? sockets_.open(*local, &error) : nullptr;
  if (!socket) {
    trace_.error("%s", error.c_str());
    return false;
  }
  return connect(socket, false);
}

QuicConfig Client::quic_config(UdpSocket *socket) {
  QuicConfig cfg;
  cfg.remote = server_;
  cfg.socket = socket;
  cfg.sni = opt_.sni;
  if (cfg.sni.empty() && !common::parse_host_port(opt_.host, "0")) cfg.sni = opt_.host;
  cfg.trust.insecure = opt_.insecure;
  cfg.trust.ca_file = opt_.ca_file.value_or("");
  cfg.verify_name = verify_name_of(opt_);
  cfg.policy_support = opt_.policy_support;
  cfg.policy_support_raw = opt_.send_policy_support_raw;
  cfg.native = opt_.enforcement == common::Enforcement::native;
  if (cfg.policy_support_raw && run_.policy.is_null())
    run_.policy = common::Json::object().set("raw_support_sent", to_hex(*cfg.policy_support_raw));
  if (cfg.policy_support_raw)
    trace_.decision("policy", "send-raw-support", "testing knob --send-policy-support-raw",
                    common::Json::object().set("tp", "0x2d50").set("value_hex", to_hex(*cfg.policy_support_raw)));
  cfg.idle_timeout = opt_.timeout;
  cfg.max_data = opt_.max_data;
  cfg.max_stream_data_bidi_local = opt_.max_stream_data_bidi_local;
  cfg.max_stream_data_uni = opt_.max_stream_data_uni;
  return cfg;
}

bool Client::connect(UdpSocket *socket, bool resume) {
  QuicConfig cfg = quic_config(socket);
  migration_.connection_started();
  std::string error;
  quic_ = QuicConnection::connect(sockets_, trace_, cfg, *this, &error);
  if (!quic_) {
    trace_.error("%s", error.c_str());
    run_.connection_errors.push_back(error);
    return false;
  }
  h3_ = std::make_unique<H3Session>(*quic_);
  if (pacer_) {
    pacer_->restart(common::now_ns());  // the new connection's window is fresh; nothing is owed
    pace_timer_.cancel();
    h3_->set_connection_credit([this](std::size_t n) { pace_credit(n); });
  }
  conn_rate_start_ts_ = 0;
  for (auto &d : downloads_) {
    if (d->failed() || d->got_fin()) {  // already whole, or hopeless: not asked again
      d->stream_gone();
      continue;
    }
    h3_->submit(d->request(authority_, resume), d.get());
  }
  trace_.info("connecting to %s from %s (scid %s)", server_.to_string().c_str(), socket->local().to_string().c_str(),
              quic_->scid_hex().c_str());
  return true;
}

// --limit-rate: the connection-level credit for consumed bytes is returned at the paced rate.
// Called from ngtcp2's stream-data callback (inside read), so it only extends the window; the
// write that follows the read carries MAX_DATA.
void Client::pace_credit(std::size_t n) {
  if (auto give = pacer_->consumed(common::now_ns(), n)) ngtcp2_conn_extend_max_offset(quic_->conn(), give);
  if (auto due = pacer_->due(common::now_ns()); due && !pace_timer_.armed())
    pace_timer_.arm(static_cast<double>(*due) / 1e9);
}

void Client::release_credit() {
  if (!quic_ || !pacer_) return;
  if (auto give = pacer_->release(common::now_ns())) {
    ngtcp2_conn_extend_max_offset(quic_->conn(), give);
    quic_->write();
  }
  if (auto due = pacer_->due(common::now_ns())) pace_timer_.arm(static_cast<double>(*due) / 1e9);
}

void Client::on_handshake_completed() {
  handshake_seen_ = true;
  follower_.on_path_changed();  // a new connection (a reconnect): its path is the current one
  if (const auto *st = quic_->tp_state()) {
    run_.policy = policy_json(*st);
    if (opt_.send_policy_support_raw) run_.policy.set("raw_support_sent", to_hex(*opt_.send_policy_support_raw));
    std::string spelling = st->server ? std::string(to_string(st->server->spelling)) : "none";
    trace_.decision("policy", "learnt", "server transport parameters in spelling " + spelling, run_.policy);
  }
  trace_.info("handshake completed with %s", quic_->remote().to_string().c_str());
  migration_.handshake_completed();
  std::string error;
  if (h3_->start(&error) != 0) {
    trace_.error("HTTP/3: %s", error.c_str());
    run_.connection_errors.push_back(error);
    done_timer_.arm(0);
    h3_failed_ = true;
    return;
  }
  arm_schedule_after_handshake();
  if (downloads_.empty()) done_timer_.arm(0);
}

int Client::on_select_preferred_addr(ngtcp2_path *dest, const ngtcp2_preferred_addr &) {
  auto choice = migration_.select_preferred_addr();
  if (!choice) return 0;  // ngtcp2 stays on the handshake address
  ngtcp2_addr_copy_byte(&dest->local, choice->local.sa(), choice->local.size());
  ngtcp2_addr_copy_byte(&dest->remote, choice->remote.sa(), choice->remote.size());
  dest->user_data = sockets_.find(choice->local);
  return 0;
}

void Client::on_path_validation(std::uint32_t flags, const ngtcp2_path &path, const ngtcp2_path *old_path,
                                bool success) {
  migration_.path_validated(flags, path, old_path, success);
  if (success)
    follower_.on_path_changed();
  else
    follower_.on_move_failed();
}

bool Client::admit_datagram(const UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data) {
  return migration_.admit_datagram(socket.local(), from, data);
}

void Client::on_closed(const CloseInfo &info) {
  run_.final_server = quic_->remote();
  run_.final_local = quic_->local();
  if (reconnecting_) return;  // our own close, a new connection follows
  if (split_ && !split_->over()) {  // the split planner decides what the old path's end means
    trace_.info("old connection closed: %s", info.reason.c_str());
    split_->on_old_closed();
    return;
  }
  run_.close = close_json(info);
  if (info.error && !(info.idle_timeout && all_complete_so_far())) {
    if (info.close_error && info.close_error->by_peer) {
      auto name = error_name(*info.close_error);
      trace_.error("the server closed the connection with %s error code 0x%llx%s%s",
                   info.close_error->application ? "application" : "transport",
                   static_cast<unsigned long long>(info.close_error->code), name.empty() ? "" : " ", name.c_str());
    }
    trace_.error("connection closed: %s", info.reason.c_str());
    run_.connection_errors.push_back(info.reason);
  } else {
    trace_.info("connection closed: %s", info.reason.c_str());
  }
  stop();
}

int Client::initiate_migration(const Endpoint &local, const Endpoint &remote, bool immediate, ngtcp2_tstamp ts) {
  auto from = local;
  auto to = remote;
  ngtcp2_path path{from.addr(), to.addr(), sockets_.find(local)};
  return immediate ? ngtcp2_conn_initiate_immediate_migration(quic_->conn(), &path, ts)
                   : ngtcp2_conn_initiate_migration(quic_->conn(), &path, ts);
}

std::vector<ResetToken> Client::peer_reset_tokens() { return active_reset_tokens(quic_->conn()); }

std::string Client::native_migration_level() {
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
  return std::string(to_string(common::from_ngtcp2(ngtcp2_conn_get_migration_level(quic_->conn()))));
#else
  return "?";
#endif
}

std::optional<Endpoint> Client::open_socket(const Endpoint &local, std::string *error) {
  auto *socket = sockets_.open(local, error);
  return socket ? std::optional{socket->local()} : std::nullopt;
}

void Client::close_socket(const Endpoint &local) {
  if (auto *socket = sockets_.find(local)) sockets_.close(socket);
}

void Client::reconnect(std::optional<Endpoint> from, bool resume) {
  if (split_) {  // the split owns both connections now; a later change cannot replace them
    trace_.info("reconnect not done: a split is running (its planner decides what each network does)");
    return;
  }
  // Never from inside the old connection's callbacks: the close writes to it.
  reconnect_from_ = from;
  reconnect_resume_ = resume;
  reconnect_timer_.arm(0);
}

void Client::do_reconnect() {
  if (!reconnect_from_ || stopping_) return;
  auto *socket = sockets_.find(*reconnect_from_);
  reconnect_from_.reset();
  if (!socket) {  // the adapter names sockets it opened and has not closed: cannot happen
    stop();
    return;
  }
  reconnecting_ = true;
  if (quic_ && !quic_->closed()) quic_->close("replaced by a new connection");
  retire_connection();
  reconnecting_ = false;
  // The old connection's sockets carry nothing the new one wants.
  sockets_.close_all_except(socket);
  ++run_.reconnects;
  trace_.event("reconnect",
               common::Json::object().set("local", socket->local().to_string()).set("resume", reconnect_resume_));
  if (!connect(socket, reconnect_resume_)) stop();
}

void Client::retire_connection() {
  if (!quic_) return;
  retired_.emplace_back(std::move(quic_), std::move(h3_));
  reaper_.arm(0);
}

PlannerInput Client::transfer() {
  // All downloads planned as one body: the lengths known so far (a response still to come
  // counts as empty), resumable unless some partly received body cannot be resumed (a body
  // with nothing received yet loses nothing by starting over).
  PlannerInput in;
  std::uint64_t size = 0;
  bool any_size = false;
  in.resumable = true;
  for (const auto &d : downloads_) {
    if (d->failed()) continue;
    in.received += d->received();
    if (d->total()) {
      size += *d->total();
      any_size = true;
    }
    bool partial = !d->got_fin() && d->received() > 0;
    if (partial && !d->resumable()) in.resumable = false;
  }
  if (any_size) in.body_size = size;
  if (conn_rate_start_ts_ && in.received > conn_rate_start_bytes_) {
    double dt = seconds_since(conn_rate_start_ts_);
    if (dt > 0) in.old_rate = static_cast<double>(in.received - conn_rate_start_bytes_) / dt;
  }
  if (quic_) {
    ngtcp2_conn_info info;
    ngtcp2_conn_get_conn_info(quic_->conn(), &info);
    in.old_rtt = static_cast<double>(info.smoothed_rtt) / 1e9;
  }
  return in;
}

void Client::on_datagram(UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data) {
  if (split_ && split_->owns(socket)) return split_->read(socket, from, data);
  last_rx_local_ = socket.local();
  last_rx_ts_ = common::now_ns();
  if (quic_ && !quic_->closed()) quic_->read(socket, from, data);
}

void Client::on_batch_end() {
  for (auto &d : downloads_) d->flush();  // one file write per batch, not per DATA chunk
  if (quic_ && !quic_->closed()) quic_->write();
  if (split_) {
    split_->write();
    split_->poke();
  } else {
    record_history();
  }
}

void Client::record_history() {
  if (downloads_.size() != 1 || !conn_rate_start_ts_) return;
  const double t = now();
  if (!history_.empty() && t - history_.back().first < 0.02) return;
  history_.emplace_back(t, downloads_[0]->received());
  while (history_.size() > 2 && t - history_.front().first > 1.5) history_.pop_front();
}

bool Client::start_split(const Endpoint &new_local, const PlannerInput &in) {
  auto why_not = [&]() -> const char * {
    if (split_) return "a split is already running";
    if (downloads_.size() != 1) return "more than one URI";
    if (!opt_.download_dir) return "the body is not saved (--download DIR): ranges need a file";
    const auto &d = *downloads_[0];
    if (d.failed() || d.got_fin()) return "the download is over";
    if (!sockets_.find(new_local)) return "no socket on the new address";
    if (!quic_ || quic_->closed() || !h3_) return "no old connection";
    return nullptr;
  };
  if (const char *no = why_not()) {
    trace_.info("split: not used (%s): the one-shot planner decides", no);
    return false;
  }
  auto &d = *downloads_[0];
  SplitStart st;
  st.body_size = d.total();
  st.received = d.received();
  st.resumable = d.resumable();
  st.old_rtt = in.old_rtt;
  st.new_rate_hint = opt_.new_path_rate;
  split_ = std::make_unique<SplitDriver>(loop_, trace_, *this, d, sockets_.find(new_local), authority_, d.validator());
  split_->start(st, {history_.begin(), history_.end()});
  return true;
}

std::unique_ptr<QuicConnection> Client::connect_new(UdpSocket *socket, ConnectionObserver &observer,
                                                    std::string *error) {
  return QuicConnection::connect(sockets_, trace_, quic_config(socket), observer, error);
}

void Client::drop_old() {
  if (quic_ && !quic_->closed()) quic_->close("not needed by the split planner");
}

std::unique_ptr<Download> Client::new_copy(std::string *error) {
  auto d = std::make_unique<Download>(downloads_[0]->target(), opt_.download_dir.value_or(""));
  if (!d->open(error)) return nullptr;
  return d;
}

void Client::finish_split() {
  if (!split_ || stopping_) return;
  if (auto winner = split_->take_winner()) {
    trace_.info("split: the file is the new connection's response");
    replaced_.push_back(std::move(downloads_[0]));
    downloads_[0] = std::move(winner);
  } else if (!downloads_[0]->absorb_pieces(split_->completed() ? split_->body_end() : std::nullopt) &&
             !downloads_[0]->got_fin()) {
    trace_.error("split: over with bytes missing (%llu held contiguously)",
                 static_cast<unsigned long long>(downloads_[0]->received()));
  }
  run_.split = split_->json();
  if (!run_.completion_time_s && all_complete_so_far()) run_.completion_time_s = seconds_since(start_ts_);
  if (quic_ && !quic_->closed()) quic_->close("the download is over");
  stop();
}

void Client::on_progress() {
  if (!conn_rate_start_ts_) {
    conn_rate_start_ts_ = common::now_ns();
    conn_rate_start_bytes_ = 0;
    for (const auto &d : downloads_) conn_rate_start_bytes_ += d->received();
  }
  follower_.on_body_bytes(last_rx_local_);
  check_schedule_share();
}

void Client::build_schedule() {
  for (const auto &e : opt_.network_events) {
    ScheduledChange c;
    c.after = e.after;
    c.share = e.share;
    c.what = "network event (scripted): " + e.text;
    c.act = [this, &e] {
      ifindex_cache_.reset();
      follower_.on_event(e.event, "script");
    };
    schedule_.push_back(std::move(c));
  }
  if (const auto &n = opt_.network_change) {
    ScheduledChange c;
    c.after = n->after;
    c.share = n->share;
    c.what = "network change: " + n->text;
    c.connection_change = true;
    // "0s": the network changes as the handshake completes, before it is confirmed and so
    // before the client could use the preferred address (RFC 9000 §9.6.3). Not through the
    // timer, which the confirmation could beat. Only recorded there (inside ngtcp2's callback);
    // acted on at the confirmation.
    c.act = [this, &n] { follower_.request(n->local); };
    schedule_.push_back(std::move(c));
  }
  for (std::size_t i = 0; i < schedule_.size(); ++i)
    schedule_[i].timer = std::make_unique<Timer>(loop_, [this, i] { fire_scheduled(i, true); });
}

void Client::arm_schedule_after_handshake() {
  for (std::size_t i = 0; i < schedule_.size(); ++i) {
    auto &c = schedule_[i];
    if (!c.after || c.fired || c.timer->armed()) continue;
    if (c.connection_change && *c.after == 0)
      fire_scheduled(i, false);
    else
      c.timer->arm(static_cast<double>(*c.after) / 1e9);
  }
}

void Client::check_schedule_share() {
  auto waits = [](const ScheduledChange &c) { return c.share && !c.fired && !c.timer->armed(); };
  if (std::none_of(schedule_.begin(), schedule_.end(), waits)) return;
  std::uint64_t total = 0, received = 0;
  // The share of the bodies whose length is known so far (a server may answer one request
  // after the other); failed responses (a 404) have no body to share.
  for (const auto &d : downloads_) {
    if (d->failed() || !d->total()) continue;
    total += *d->total();
    received += d->received();
  }
  if (total == 0) return;
  for (auto &c : schedule_)  // out of the HTTP/3 callback first
    if (waits(c) && static_cast<double>(received) >= *c.share * static_cast<double>(total)) c.timer->arm(0);
}

void Client::fire_scheduled(std::size_t i, bool write) {
  auto &c = schedule_[i];
  const bool open = quic_ && !quic_->closed();
  if (c.fired || (c.connection_change && !open)) return;
  c.fired = true;
  trace_.info("%s", c.what.c_str());
  c.act();
  if (write && quic_ && !quic_->closed()) quic_->write();
}

Level Client::level() {
  const auto *m = migration_.migrator();
  return m ? m->policy().at(m->current()) : Level::any;
}

unsigned Client::ifindex_of(const Endpoint &ip) {
  constexpr ngtcp2_tstamp kIfindexCacheNs = 1'000'000'000;
  const auto now = common::now_ns();
  if (ifindex_cache_ && ifindex_cache_->ip.same_ip(ip) && now - ifindex_cache_->at < kIfindexCacheNs)
    return ifindex_cache_->ifindex;
  ifaddrs *list = nullptr;
  if (getifaddrs(&list) != 0) return 0;
  unsigned found = 0;
  for (auto *a = list; a && !found; a = a->ifa_next) {
    auto ep = a->ifa_addr ? Endpoint::from(a->ifa_addr) : std::nullopt;
    if (ep && ep->same_ip(ip)) found = if_nametoindex(a->ifa_name);
  }
  freeifaddrs(list);
  ifindex_cache_ = IfindexCache{ip, found, now};
  return found;
}

void Client::change_network(const Endpoint &local, MigrationCause cause) {
  migration_.network_changed(local, cause);
  if (quic_ && !quic_->closed()) quic_->write();
}

bool Client::start_following(std::string *error) {
  netlink_ = NetlinkSocket::open(error);
  if (!netlink_) return false;
  // The state at start, one dump after the other (the kernel answers one at a time per socket).
  std::vector<NetworkEvent> state;
  for (DumpKind kind : {DumpKind::links, DumpKind::addresses, DumpKind::routes}) {
    if (!netlink_->request_dump(kind, error)) return false;
    for (int waited_ms = 0;; waited_ms += 10) {
      auto parsed = netlink_->read_events();
      if (parsed.error) {
        *error = "rtnetlink " + std::string(to_string(kind)) + " dump: " + *parsed.error;
        return false;
      }
      state.insert(state.end(), parsed.events.begin(), parsed.events.end());
      if (parsed.dump_done) break;
      if (waited_ms >= 2000) {
        *error = "rtnetlink " + std::string(to_string(kind)) + " dump: no answer within 2 s";
        return false;
      }
      pollfd p{netlink_->fd(), POLLIN, 0};
      poll(&p, 1, 10);
    }
  }
  follower_.seed(state);
  ev_io_init(&netlink_watcher_, on_netlink, netlink_->fd(), EV_READ);
  netlink_watcher_.data = this;
  ev_io_start(loop_, &netlink_watcher_);
  sample_timer_.arm(0.1);
  return true;
}

void Client::on_netlink(struct ev_loop *, ev_io *w, int) {
  auto *self = static_cast<Client *>(w->data);
  auto parsed = self->netlink_->read_events();
  if (parsed.lost_events)
    self->trace_.warning("rtnetlink: the kernel dropped events (ENOBUFS); decisions rest on the events that arrived");
  if (parsed.error) self->trace_.warning("rtnetlink: %s", parsed.error->c_str());
  if (!parsed.events.empty()) self->ifindex_cache_.reset();
  for (const auto &e : parsed.events) self->follower_.on_event(e, "rtnetlink");
  self->arm_trigger_timer();
  if (self->quic_ && !self->quic_->closed()) self->quic_->write();
}

void Client::arm_trigger_timer() {
  if (auto at = follower_.next_deadline()) {
    const auto now = common::now_ns();
    trigger_timer_.arm(*at > now ? static_cast<double>(*at - now) / 1e9 : 0.0);
  } else {
    trigger_timer_.cancel();
  }
}

// ngtcp2's path health every 100 ms (network_events.h "Which signals and why"): whole PTO periods
// since the last datagram from the server while ack-eliciting bytes are in flight, and the RTTs.
void Client::sample_path() {
  sample_timer_.arm(0.1);
  if (!quic_ || quic_->closed() || !handshake_seen_) return;
  ngtcp2_conn_info info;
  ngtcp2_conn_get_conn_info(quic_->conn(), &info);
  const auto now = common::now_ns();
  const auto pto = ngtcp2_conn_get_pto(quic_->conn());
  PathSample sample;
  if (info.bytes_in_flight > 0 && pto > 0 && now > last_rx_ts_)
    sample.pto_count = static_cast<unsigned>((now - last_rx_ts_) / pto);
  sample.smoothed_rtt = info.smoothed_rtt;
  sample.min_rtt = info.min_rtt == UINT64_MAX ? 0 : info.min_rtt;
  follower_.on_path_sample(sample);
  arm_trigger_timer();
  if (quic_ && !quic_->closed()) quic_->write();
}

bool Client::all_closed() const {
  return std::all_of(downloads_.begin(), downloads_.end(), [](const auto &d) { return d->closed(); });
}

bool Client::all_complete_so_far() const {
  return std::all_of(downloads_.begin(), downloads_.end(),
                     [](const auto &d) { return d->got_fin() && !d->failed() && d->closed(); });
}

void Client::check_done() {
  if (stopping_ || !quic_) return;
  if (split_) {  // the split planner decides when it is over
    if (!split_->over() && all_closed()) split_->on_old_stream_closed();
    return;
  }
  if (!run_.completion_time_s && handshake_seen_ && all_complete_so_far())
    run_.completion_time_s = seconds_since(start_ts_);
  bool any_closed = std::any_of(downloads_.begin(), downloads_.end(), [](const auto &d) { return d->closed(); });
  bool done = h3_failed_ || (opt_.exit_on_all_streams_close && all_closed()) ||
              (opt_.exit_on_first_stream_close && any_closed) || (downloads_.empty() && handshake_seen_);
  if (!done || reconnect_from_) return;
  if (!quic_->closed()) quic_->close(h3_failed_ ? "HTTP/3 set-up failed" : "all streams closed");
  stop();
}

void Client::interrupt() {
  trace_.error("interrupted");
  if (quic_ && !quic_->closed()) quic_->close("interrupted");
  stop();
}

void Client::stop() {
  stopping_ = true;
  for (auto &c : schedule_) c.timer->cancel();
  reconnect_timer_.cancel();
  ev_break(loop_, EVBREAK_ALL);
}

int Client::finish() {
  run_.run_time_s = seconds_since(start_ts_);
  run_.network = follower_.json();
  auto ms = migration_.migrator_stats();
  run_.migrator = common::Json::object()
                      .set("attempted", ms.attempted)
                      .set("refused", ms.refused)
                      .set("succeeded", ms.succeeded)
                      .set("failed", ms.failed)
                      .set("resets_ignored", ms.resets_ignored);
  if (quic_) {
    run_.final_server = quic_->remote();
    run_.final_local = quic_->local();
  }
  bool complete = handshake_seen_;
  std::vector<common::Json> summaries;
  for (auto &d : downloads_) {
    d->verify();
    if (d->complete()) {
      trace_.info("complete: %s: %llu bytes, sha256 %s%s", d->target().uri.c_str(),
                  static_cast<unsigned long long>(d->received()), d->sha256().c_str(),
                  d->sha256_matches_server() ? " (matches the server's x-qamp-body-sha256)"
                  : d->server_sent_digest()  ? ""
                                             : " (no digest from the server: checked by size only)");
    } else {
      trace_.error("%s: %s", d->target().uri.c_str(), d->error().c_str());
      complete = false;
    }
    summaries.push_back(d->summary());
  }
  if (!handshake_seen_) trace_.error("no connection was established");
  int code = complete ? 0 : 1;
  if (opt_.summary_file && !write_summary(*opt_.summary_file, run_, summaries, complete, code)) {
    trace_.error("cannot write summary %s", opt_.summary_file->c_str());
    code = 1;
  }
  return code;
}

}  // namespace qamp::client
