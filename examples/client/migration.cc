#include "migration.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace qamp::client {

namespace {

ex::Endpoint endpoint_of(const ngtcp2_addr &a) { return ex::Endpoint::from(a.addr, a.addrlen); }

Json path_json(const ngtcp2_path &p) {
  return Json::object().set("local", endpoint_of(p.local).str()).set("remote", endpoint_of(p.remote).str());
}

Family family_of(const ex::Endpoint &e) { return e.family() == AF_INET6 ? Family::v6 : Family::v4; }

bool is_refusal(Outcome o) {
  switch (o) {
    case Outcome::refused_by_policy:
    case Outcome::refused_validation_in_progress:
    case Outcome::refused_no_preferred_address:
    case Outcome::refused_preferred_disabled:
    case Outcome::refused_preferred_already_tried:
      return true;
    default:
      return false;
  }
}

// Infinity (an impossible plan) has no JSON spelling: null.
Json seconds(double s) { return std::isfinite(s) ? Json(s) : Json(); }

}  // namespace

MigrationAdapter::MigrationAdapter(const Options &options, Trace &trace, RunRecord &run, MigrationHost &host)
    : opt_(options), trace_(trace), run_(run), host_(host) {}

MigrationAdapter::~MigrationAdapter() = default;

MigratorStats MigrationAdapter::migrator_stats() const {
  auto s = finished_stats_;
  if (migrator_) {
    const auto &c = migrator_->stats();
    s.attempted += c.attempted;
    s.refused += c.refused;
    s.succeeded += c.succeeded;
    s.failed += c.failed;
    s.resets_ignored += c.resets_ignored;
  }
  return s;
}

void MigrationAdapter::connection_started() {
  finished_stats_ = migrator_stats();
  migrator_.reset();
  confirmed_ = false;
  spa_v4_.reset();
  spa_v6_.reset();
  validating_by_migration_ = false;
  probing_ = nullptr;
  network_move_ = false;
  retry_.reset();
  deferred_.reset();
  drop_timer_.reset();
}

void MigrationAdapter::handshake_completed() { ensure_migrator(); }

void MigrationAdapter::handshake_confirmed() {
  confirmed_ = true;
  if (!change_to_) return;
  // Inside ngtcp2's callback; ngtcp2 may also be about to ask for the preferred address.
  if (!change_timer_) change_timer_ = std::make_unique<Timer>(host_.loop(), [this] { try_change(); });
  change_timer_->arm(0);
}

void MigrationAdapter::ensure_migrator() {
  if (migrator_) return;
  Policy policy;
  bool v4 = false, v6 = false;
  if (const auto *st = host_.connection()->tp_state(); st && st->server) {
    policy = st->server->policy;
    if (const auto &pa = st->server->preferred_address) {
      if (pa->ipv4_present()) spa_v4_ = ex::parse_endpoint(pa->ipv4_string());
      if (pa->ipv6_present()) spa_v6_ = ex::parse_endpoint(pa->ipv6_string());
      v4 = spa_v4_.has_value();
      v6 = spa_v6_.has_value();
    }
  }
  MigratorConfig config;
  // Native enforcement: the Migrator keeps its state machine (preferred address, family, §9.6.3)
  // but leaves the policy to ngtcp2, whose initiate_migration refuses what the server forbids.
  config.semantics = native() ? Semantics::ignore : opt_.semantics;
  config.spa_family = opt_.spa_family;
  config.ignore_reset_on_probe = opt_.ignore_reset_on_probe;
  config.use_preferred_address = !opt_.no_preferred_addr;
  migrator_ = std::make_unique<Migrator>(config, policy, v4, v6);
  migrator_->set_observer([this](const MigrationEvent &e) { on_event(e); });
}

// One line and one qlog event per Migrator decision.
void MigrationAdapter::on_event(const MigrationEvent &e) {
  const auto &d = e.decision;
  // Natively the Migrator runs with Semantics::ignore: ngtcp2, not the rule, decides.
  std::string reason = d.rule && native() && *d.rule == Rule::ignore_mode ? std::string("ngtcp2-decides")
                       : d.rule ? std::string(to_string(*d.rule))
                       : d.family_reason ? std::string(to_string(*d.family_reason))
                                         : std::string(to_string(d.outcome));
  Json data = std::move(context_);
  context_ = Json::object();
  data.set("cause", to_string(e.cause));
  if (e.change) data.set("change", to_string(*e.change));
  if (d.target) data.set("target", to_string(*d.target));
  if (d.rule) data.set("rule", reason == "ngtcp2-decides" ? std::string_view("ngtcp2-decides") : to_string(*d.rule));
  if (d.family_reason) data.set("family", to_string(*d.family_reason));
  data.set("state", std::string(to_string(e.before)) + " -> " + std::string(to_string(e.after)));
  data.set("semantics", to_string(opt_.semantics));
  if (native()) data.set("enforcement", "native");
  trace_.decision("migration", to_string(d.outcome), reason, std::move(data));
}

LocalInfo MigrationAdapter::local_info(std::optional<Family> only) const {
  LocalInfo info;
  if (only) {
    info.current = *only;
    info.has_v4 = *only == Family::v4;
    info.has_v6 = *only == Family::v6;
    return info;
  }
  auto local = host_.connection()->local();
  info.current = family_of(local);
  // A family is usable when the kernel has a route (and so a source address) towards the
  // preferred address of that family.
  auto routable = [](const std::optional<ex::Endpoint> &to) { return to && route_source(*to, nullptr); };
  info.has_v4 = info.current == Family::v4 || routable(spa_v4_);
  info.has_v6 = info.current == Family::v6 || routable(spa_v6_);
  return info;
}

std::optional<ex::Endpoint> MigrationAdapter::spa_endpoint(ServerAddress target) const {
  if (target == ServerAddress::spa_v4) return spa_v4_;
  if (target == ServerAddress::spa_v6) return spa_v6_;
  return std::nullopt;
}

UdpSocket *MigrationAdapter::socket_towards(const ex::Endpoint &remote, std::string *error) {
  auto *conn = host_.connection();
  auto local = conn->local();
  if (remote.family() == local.family()) return host_.find_socket(local);
  auto source = route_source(remote, error);
  return source ? host_.open_socket(*source, error) : nullptr;
}

int MigrationAdapter::select_preferred_addr(ngtcp2_path *dest, const ngtcp2_preferred_addr &) {
  ensure_migrator();
  auto local = host_.connection()->local();
  context_.set("ipv4", spa_v4_ ? Json(spa_v4_->str()) : Json())
      .set("ipv6", spa_v6_ ? Json(spa_v6_->str()) : Json())
      .set("spa_family", to_string(opt_.spa_family))
      .set("local", local.str());
  if (change_to_ && select_from_new_local(dest)) return 0;  // RFC 9000 §9.6.3
  auto d = migrator_->on_preferred_address(local_info());
  if (d.outcome != Outcome::start_preferred_validation || !d.target) return 0;  // stays; logged
  auto remote = spa_endpoint(*d.target);
  std::string error;
  UdpSocket *socket = remote ? socket_towards(*remote, &error) : nullptr;
  if (!socket) {
    trace_.error("preferred address %s: no local socket to reach it: %s", remote ? remote->str().c_str() : "?",
                 error.c_str());
    // Nothing is validated: the Migrator settles on the handshake address (a fallback family
    // needs the handshake confirmed, so it is not attempted from inside this callback).
    migrator_->on_validation_result(false);
    return 0;
  }
  ngtcp2_addr_copy_byte(&dest->local, socket->local().sa(), socket->local().len);
  ngtcp2_addr_copy_byte(&dest->remote, remote->sa(), remote->len);
  dest->user_data = socket;
  run_.preferred_address = *remote;
  trace_.info("validating the preferred address %s from %s", remote->str().c_str(), socket->local().str().c_str());
  return 0;
}

bool MigrationAdapter::select_from_new_local(ngtcp2_path *dest) {
  // The network changed before the handshake was confirmed, so before the client could use the
  // preferred address: validate the preferred address from the new local address instead of
  // the old one (RFC 9000 §9.6.3), and the move and the network change are one path validation.
  // Only when a preferred address is usable from the new network; otherwise the change waits for
  // the confirmation like any other (try_change).
  if (opt_.no_preferred_addr) return false;
  auto new_local = *change_to_;
  auto only = family_of(new_local);
  if (!choose_spa_family(spa_v4_.has_value(), spa_v6_.has_value(), local_info(only), opt_.spa_family).family)
    return false;
  std::string error;
  auto *socket = host_.open_socket(new_local, &error);
  if (!socket) {
    trace_.error("network change: %s", error.c_str());
    return false;  // try_change reports it after the confirmation
  }
  change_to_.reset();
  new_socket_ = socket;
  old_local_ = host_.connection()->local();
  auto d = ask_network_change();
  auto remote = d.target ? spa_endpoint(*d.target) : std::nullopt;
  if (d.outcome != Outcome::validate_preferred_from_new_local || !remote) {
    // choose_spa_family() said yes above, so the Migrator cannot answer otherwise here.
    trace_.error("network change before the preferred address: unexpected %s", to_string(d).c_str());
    return false;
  }
  ngtcp2_addr_copy_byte(&dest->local, socket->local().sa(), socket->local().len);
  ngtcp2_addr_copy_byte(&dest->remote, remote->sa(), remote->len);
  dest->user_data = socket;
  run_.preferred_address = *remote;
  network_move_ = true;
  ++run_.migrations.attempted;
  trace_.info("validating the preferred address %s from the new local address %s (RFC 9000 §9.6.3)",
              remote->str().c_str(), socket->local().str().c_str());
  if (opt_.old_path == OldPath::drop) {
    // Not from inside ngtcp2's callback.
    if (!drop_timer_) drop_timer_ = std::make_unique<Timer>(host_.loop(), [this] { drop_old_path(); });
    drop_timer_->arm(0);
  }
  return true;
}

void MigrationAdapter::path_validated(std::uint32_t flags, const ngtcp2_path &path, const ngtcp2_path *old_path,
                                      bool success) {
  Json data = Json::object();
  data.set("path", path_json(path)).set("old_path", old_path ? path_json(*old_path) : Json()).set("success", success);
  trace_.event("path_validation", std::move(data));
  bool ours = (flags & NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR) ||
              (validating_by_migration_ && endpoint_of(path.local) == probing_local_ &&
               endpoint_of(path.remote) == probing_remote_);
  if (!ours) return;
  // ngtcp2 tears its validation state down after this callback returns: anything that starts a
  // new validation must wait for the event loop.
  if (!deferred_) deferred_ = std::make_unique<Timer>(host_.loop(), [this] { validation_ended(deferred_success_); });
  deferred_success_ = success;
  deferred_->arm(0);
}

void MigrationAdapter::validation_ended(bool success) {
  if (!migrator_) return;
  bool network_move = network_move_;
  validating_by_migration_ = false;
  probing_ = nullptr;
  network_move_ = false;
  if (network_move) ++(success ? run_.migrations.succeeded : run_.migrations.failed);
  auto d = migrator_->on_validation_result(success);
  switch (d.outcome) {
    case Outcome::moved_to_preferred_address:
      run_.moved_to_preferred_address = true;
      if (auto spa = spa_endpoint(*d.target)) run_.preferred_address = *spa;
      trace_.info("moved to the preferred address %s", run_.preferred_address ? run_.preferred_address->str().c_str() : "?");
      break;
    case Outcome::migrated:
      trace_.info("migrated to %s", host_.connection()->local().str().c_str());
      break;
    case Outcome::fallback_other_family:
      if (auto remote = spa_endpoint(*d.target)) {
        std::string error;
        auto *socket = socket_towards(*remote, &error);
        if (socket) {
          initiate(socket, *remote, false);
          break;
        }
        trace_.error("fallback preferred address %s: %s", remote->str().c_str(), error.c_str());
      }
      validation_ended(false);
      return;
    case Outcome::validation_failed_stayed:
    case Outcome::settled_on_handshake_address:
      if (network_move && opt_.old_path == OldPath::drop) {
        // The old network is gone: only a new connection can finish the job.
        plan_after_refusal("the new path failed validation and the old one is gone");
        return;
      }
      break;
    default:
      break;
  }
  if (auto *conn = host_.connection(); conn && !conn->closed()) conn->write();
  if (change_to_) try_change();  // a network change waited for this validation
}

bool MigrationAdapter::admit_datagram(const UdpSocket &socket, const ex::Endpoint &from,
                                      std::span<const std::uint8_t> data) {
  if (!migrator_ || !opt_.ignore_reset_on_probe) return true;
  // RFC 9000 §10.3: a Stateless Reset looks like a short-header packet that ends in the token
  // the server gave with one of the connection IDs.
  if (data.size() < 21 || (data[0] & 0x80)) return true;
  auto *conn = host_.connection();
  std::vector<ngtcp2_cid_token> tokens(ngtcp2_conn_get_active_dcid(conn->conn(), nullptr));
  ngtcp2_conn_get_active_dcid(conn->conn(), tokens.data());
  auto tail = data.subspan(data.size() - NGTCP2_STATELESS_RESET_TOKENLEN);
  bool is_reset = false;
  for (const auto &t : tokens)
    if (t.token_present && std::memcmp(t.token, tail.data(), tail.size()) == 0) is_reset = true;
  if (!is_reset) return true;
  bool on_active = socket.local() == conn->local() && from == conn->remote();
  context_.set("local", socket.local().str()).set("from", from.str()).set("bytes", data.size());
  if (migrator_->should_ignore_stateless_reset(on_active)) return false;
  context_ = Json::object();
  return true;
}

void MigrationAdapter::network_changed(const ex::Endpoint &local) {
  change_to_ = local;
  try_change();
}

MigrationDecision MigrationAdapter::ask_network_change() {
  auto change = new_socket_->local().same_ip(old_local_) ? Change::port_only : Change::ip_change;
  context_.set("from", old_local_.str())
      .set("to", new_socket_->local().str())
      .set("server", host_.connection()->remote().str())
      .set("old_path", to_string(opt_.old_path));
  return migrator_->request_migration(change, MigrationCause::network_change, opt_.old_path == OldPath::keep,
                                      local_info(family_of(new_socket_->local())));
}

void MigrationAdapter::try_change() {
  auto *conn = host_.connection();
  if (!change_to_ || !conn || conn->closed()) return;
  ensure_migrator();
  if (!confirmed_) {
    trace_.info("network change waits for the handshake to be confirmed (RFC 9000 §9)");
    return;  // handshake_confirmed() calls back
  }
  if (migrator_->state() == MigratorState::validating_preferred_address ||
      migrator_->state() == MigratorState::validating_migration || (deferred_ && deferred_->armed())) {
    trace_.info("network change waits for the running path validation");
    return;  // validation_ended() calls back
  }
  auto local = *change_to_;
  change_to_.reset();
  std::string error;
  new_socket_ = host_.open_socket(local, &error);
  old_local_ = conn->local();
  if (!new_socket_) {
    trace_.error("network change: %s", error.c_str());
    ++run_.migrations.failed;
    return;
  }
  auto remote = conn->remote();
  auto d = ask_network_change();
  if (is_refusal(d.outcome)) {
    ++run_.migrations.refused;
    plan_after_refusal(std::string(to_string(d.outcome)) + (d.rule ? " (" + std::string(to_string(*d.rule)) + ")" : ""));
    return;
  }
  network_move_ = true;
  switch (d.outcome) {
    case Outcome::start_path_validation:
    case Outcome::start_immediate_migration:
      if (new_socket_->local().family() != remote.family()) {
        // The new network cannot reach this server address at all.
        trace_.decision("migration", "impossible", "address-family-mismatch",
                        Json::object().set("to", new_socket_->local().str()).set("server", remote.str()));
        network_move_ = false;
        migrator_->on_validation_result(false);
        ++run_.migrations.failed;
        plan_after_refusal("the new local address cannot reach " + remote.str());
        return;
      }
      initiate(new_socket_, remote, d.outcome == Outcome::start_immediate_migration);
      break;
    case Outcome::validate_preferred_from_new_local:
      if (auto spa = d.target ? spa_endpoint(*d.target) : std::nullopt) {
        initiate(new_socket_, *spa, false);
        break;
      }
      validation_ended(false);
      break;
    default:
      network_move_ = false;
      break;
  }
}

void MigrationAdapter::initiate(UdpSocket *socket, const ex::Endpoint &remote, bool immediate) {
  auto *conn = host_.connection();
  if (!conn || conn->closed()) return;
  if (socket->local() == conn->local()) {
    // ngtcp2 validates a new path only from a new local address (a preferred address in the
    // current family, tried as a fallback): take a fresh port on the same IP.
    auto fresh = socket->local();
    fresh.set_port(0);
    std::string error;
    if (auto *s = host_.open_socket(fresh, &error)) socket = s;
  }
  auto local = socket->local();
  auto peer = remote;
  ngtcp2_path path{local.addr(), peer.addr(), socket};
  int rv = immediate ? ngtcp2_conn_initiate_immediate_migration(conn->conn(), &path, ex::now_ns())
                     : ngtcp2_conn_initiate_migration(conn->conn(), &path, ex::now_ns());
  if (rv == NGTCP2_ERR_INVALID_STATE && native() && confirmed_) {
    refused_by_ngtcp2(local, remote);
    return;
  }
  if ((rv == NGTCP2_ERR_CONN_ID_BLOCKED || rv == NGTCP2_ERR_INVALID_STATE) && retries_ < 40) {
    // No spare connection ID yet (NEW_CONNECTION_ID frames still in flight), or the handshake is
    // not confirmed yet: try again shortly.
    ++retries_;
    retry_socket_ = socket;
    retry_remote_ = remote;
    retry_immediate_ = immediate;
    if (!retry_)
      retry_ = std::make_unique<Timer>(host_.loop(), [this] {
        initiate(retry_socket_, retry_remote_, retry_immediate_);
        if (auto *c = host_.connection(); c && !c->closed()) c->write();
      });
    retry_->arm(0.05);
    return;
  }
  if (rv != 0) {
    trace_.error("cannot start the path validation to %s from %s: %s", remote.str().c_str(), local.str().c_str(),
                 ngtcp2_strerror(rv));
    validation_ended(false);
    return;
  }
  retries_ = 0;
  validating_by_migration_ = true;
  probing_ = socket;
  probing_local_ = local;
  probing_remote_ = remote;
  if (network_move_) ++run_.migrations.attempted;
  trace_.event("path_validation_started", Json::object()
                                              .set("local", local.str())
                                              .set("remote", remote.str())
                                              .set("immediate", immediate)
                                              .set("network_change", network_move_));
  trace_.info("%s %s -> %s", immediate ? "switched to" : "validating", local.str().c_str(), remote.str().c_str());
  if (network_move_ && opt_.old_path == OldPath::drop) drop_old_path();
}

bool MigrationAdapter::native() const noexcept { return opt_.enforcement == ex::Enforcement::native; }

void MigrationAdapter::refused_by_ngtcp2(const ex::Endpoint &local, const ex::Endpoint &remote) {
  // Native enforcement: the handshake is confirmed and the Migrator has no validation running,
  // so INVALID_STATE is ngtcp2 refusing by the server's policy (patch 0004).
  std::string level = "?";
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
  level = std::string(to_string(ex::from_ngtcp2(ngtcp2_conn_get_migration_level(host_.connection()->conn()))));
#endif
  retries_ = 0;
  bool network_move = network_move_;
  network_move_ = false;
  if (network_move) ++run_.migrations.refused;
  trace_.decision("migration", "refused-by-ngtcp2", "level-" + level,
                  Json::object()
                      .set("local", local.str())
                      .set("remote", remote.str())
                      .set("level", level)
                      .set("enforcement", "native"));
  migrator_->on_validation_result(false);  // back to its resting state; nothing was probed
  if (network_move) plan_after_refusal("refused by ngtcp2 (native enforcement, level " + level + ")");
}

void MigrationAdapter::plan_after_refusal(const std::string &refusal) {
  auto in = host_.transfer();
  in.old_path_usable = opt_.old_path == OldPath::keep;
  in.new_rate = opt_.new_path_rate;
  in.forced = opt_.strategy;
  auto plan = choose(in);
  Json figures = Json::object();
  figures.set("body_size", in.body_size)
      .set("received", in.received)
      .set("resumable", in.resumable)
      .set("old_rate", in.old_rate)
      .set("old_rtt_ms", in.old_rtt * 1e3)
      .set("old_path_usable", in.old_path_usable)
      .set("new_rate", in.new_rate)
      .set("forced", to_string(in.forced))
      .set("stay_s", seconds(plan.stay_s))
      .set("resume_s", seconds(plan.resume_s))
      .set("restart_s", seconds(plan.restart_s))
      .set("size_estimated", plan.size_estimated);
  Json record = Json::object();
  record.set("decision", to_string(plan.chosen))
      .set("reason", to_string(plan.reason))
      .set("refusal", refusal)
      .set("summary", to_string(plan))
      .set("figures", std::move(figures));
  run_.planner = record;
  trace_.decision("planner", to_string(plan.chosen), to_string(plan.reason), record);
  if (opt_.old_path == OldPath::drop) drop_old_path();
  if (plan.reason == PlanReason::already_complete) return;
  switch (plan.chosen) {
    case Strategy::stay:
      if (new_socket_) host_.close_socket(new_socket_);
      new_socket_ = nullptr;
      break;
    case Strategy::reconnect_resume:
      host_.reconnect(new_socket_, true);
      break;
    case Strategy::restart:
      host_.reconnect(new_socket_, false);
      break;
  }
}

void MigrationAdapter::drop_old_path() {
  if (auto *s = host_.find_socket(old_local_); s && s != new_socket_) {
    trace_.info("old network dropped: closing %s", old_local_.str().c_str());
    host_.close_socket(s);
  }
}

}  // namespace qamp::client
