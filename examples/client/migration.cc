#include "migration.h"

#include "qamp/endpoint.h"

#include <cmath>
#include <cstring>
#include <utility>

namespace qamp::client {

namespace {

Endpoint endpoint_of(const ngtcp2_addr &a) { return Endpoint::of(a); }

common::Json path_json(const ngtcp2_path &p) {
  return common::Json::object()
      .set("local", endpoint_of(p.local).to_string())
      .set("remote", endpoint_of(p.remote).to_string());
}

Family family_of(const Endpoint &e) { return e.family() == AF_INET6 ? Family::v6 : Family::v4; }

StartError start_error_of(int rv) {
  switch (rv) {
    case NGTCP2_ERR_CONN_ID_BLOCKED: return StartError::conn_id_blocked;
    case NGTCP2_ERR_INVALID_STATE: return StartError::invalid_state;
    default: return StartError::other;
  }
}

// Infinity (an impossible plan) has no JSON spelling: null.
common::Json seconds(double s) { return std::isfinite(s) ? common::Json(s) : common::Json(); }

}  // namespace

MigrationAdapter::MigrationAdapter(const Options &options, Trace &trace, RunRecord &run, MigrationHost &host,
                                   const Clock &clock, Scheduler &scheduler)
    : opt_(options), trace_(trace), run_(run), host_(host), clock_(clock), scheduler_(scheduler) {}

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

std::vector<ResetToken> active_reset_tokens(ngtcp2_conn *conn) {
  std::vector<ngtcp2_cid_token> active(ngtcp2_conn_get_active_dcid(conn, nullptr));
  ngtcp2_conn_get_active_dcid(conn, active.data());
  std::vector<ResetToken> tokens;
  for (const auto &t : active) {
    if (!t.token_present) continue;
    ResetToken token;
    std::memcpy(token.data(), t.token, token.size());
    tokens.push_back(token);
  }
  return tokens;
}

void MigrationAdapter::after_now(AdapterTimer id) { scheduler_.arm(id, clock_.now()); }

void MigrationAdapter::connection_started() {
  finished_stats_ = migrator_stats();
  migrator_.reset();
  spa_v4_.reset();
  spa_v6_.reset();
  probing_.reset();
  network_move_ = false;
  retry_.reset();
  validation_result_.reset();
  for (auto id : {AdapterTimer::validation_ended, AdapterTimer::drop_old_path, AdapterTimer::retry_start})
    scheduler_.cancel(id);
}

void MigrationAdapter::handshake_completed() { ensure_migrator(); }

void MigrationAdapter::handshake_confirmed() {
  ensure_migrator();
  migrator_->on_handshake_confirmed();
  // Inside ngtcp2's callback; ngtcp2 may also be about to ask for the preferred address, which
  // can take the queued change with it (RFC 9000 §9.6.3).
  if (migrator_->has_queued()) after_now(AdapterTimer::run_queued);
}

void MigrationAdapter::on_timer(AdapterTimer id) {
  switch (id) {
    case AdapterTimer::validation_ended:
      if (auto success = std::exchange(validation_result_, std::nullopt)) validation_ended(*success);
      break;
    case AdapterTimer::run_queued: run_queued(); break;
    case AdapterTimer::drop_old_path: drop_old_path(); break;
    case AdapterTimer::retry_start:
      if (auto start = std::exchange(retry_, std::nullopt)) {
        initiate(*start);
        if (host_.connection_open()) host_.write();
      }
      break;
  }
}

void MigrationAdapter::ensure_migrator() {
  if (migrator_) return;
  Policy policy;
  bool v4 = false, v6 = false;
  if (const auto *st = host_.tp_state(); st && st->server) {
    policy = st->server->policy;
    if (const auto &pa = st->server->preferred_address) {
      if (pa->ipv4_present()) spa_v4_ = Endpoint::parse(pa->ipv4_string());
      if (pa->ipv6_present()) spa_v6_ = Endpoint::parse(pa->ipv6_string());
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

// One line and one qlog event per Migrator decision: "qamp: migration: <outcome> (reason: ...)".
void MigrationAdapter::on_event(const MigrationEvent &e) {
  const auto &d = e.decision;
  // Natively the Migrator runs with Semantics::ignore: ngtcp2, not the rule, decides.
  const bool ngtcp2_decides = d.rule && native() && *d.rule == Rule::ignore_mode;
  std::string reason = d.outcome == Outcome::refused_by_ngtcp2 ? "level-" + host_.native_migration_level()
                       : ngtcp2_decides                        ? std::string("ngtcp2-decides")
                       : d.rule                                ? std::string(to_string(*d.rule))
                       : d.family_reason                       ? std::string(to_string(*d.family_reason))
                                                               : std::string(to_string(d.outcome));
  common::Json data = std::move(context_);
  context_ = common::Json::object();
  data.set("cause", to_string(e.cause));
  if (e.change) data.set("change", to_string(*e.change));
  if (d.target) data.set("target", to_string(*d.target));
  if (d.rule) data.set("rule", ngtcp2_decides ? std::string_view("ngtcp2-decides") : to_string(*d.rule));
  if (d.family_reason) data.set("family", to_string(*d.family_reason));
  data.set("state", std::string(to_string(e.before)) + " -> " + std::string(to_string(e.after)));
  data.set("semantics", to_string(opt_.semantics));
  if (native()) data.set("enforcement", "native");
  trace_.decision("migration", to_string(d.outcome), reason, std::move(data));
  if (tap_) tap_(e);
}

LocalInfo MigrationAdapter::local_info(std::optional<Family> only) const {
  LocalInfo info;
  if (only) {
    info.current = *only;
    info.has_v4 = *only == Family::v4;
    info.has_v6 = *only == Family::v6;
    return info;
  }
  info.current = family_of(host_.local());
  // A family is usable when the kernel has a route (and so a source address) towards the
  // preferred address of that family.
  auto routable = [this](const std::optional<Endpoint> &to) {
    return to && host_.route_source(*to, nullptr).has_value();
  };
  info.has_v4 = info.current == Family::v4 || routable(spa_v4_);
  info.has_v6 = info.current == Family::v6 || routable(spa_v6_);
  return info;
}

std::optional<Endpoint> MigrationAdapter::spa_endpoint(ServerAddress target) const {
  if (target == ServerAddress::spa_v4) return spa_v4_;
  if (target == ServerAddress::spa_v6) return spa_v6_;
  return std::nullopt;
}

std::optional<Endpoint> MigrationAdapter::socket_towards(const Endpoint &remote, std::string *error) {
  auto local = host_.local();
  if (remote.family() == local.family()) {
    if (host_.has_socket(local)) return local;
    return std::nullopt;
  }
  auto source = host_.route_source(remote, error);
  return source ? host_.open_socket(*source, error) : std::nullopt;
}

std::optional<PathChoice> MigrationAdapter::select_preferred_addr() {
  ensure_migrator();
  auto local = host_.local();
  context_.set("ipv4", spa_v4_ ? common::Json(spa_v4_->to_string()) : common::Json())
      .set("ipv6", spa_v6_ ? common::Json(spa_v6_->to_string()) : common::Json())
      .set("spa_family", to_string(opt_.spa_family))
      .set("local", local.to_string());
  if (new_local_ && migrator_->has_queued()) {
    // The network changed before the client could use the preferred address: validate the
    // preferred address from the new local address (RFC 9000 §9.6.3), so the move and the
    // network change are one path validation. Otherwise the change stays queued.
    old_local_ = local;
    context_.set("from", old_local_.to_string())
        .set("to", new_local_->to_string())
        .set("server", host_.remote().to_string())
        .set("old_path", to_string(opt_.old_path));
    if (auto d = migrator_->run_queued_with_preferred_address()) {
      auto remote = d->target ? spa_endpoint(*d->target) : std::nullopt;
      if (!remote) {  // the Migrator only targets offered addresses, whose endpoints are known
        validation_ended(false);
        return std::nullopt;
      }
      run_.preferred_address = *remote;
      network_move_ = true;
      ++run_.migrations.attempted;
      trace_.info("validating the preferred address %s from the new local address %s (RFC 9000 §9.6.3)",
                  remote->to_string().c_str(), new_local_->to_string().c_str());
      if (opt_.old_path == OldPath::drop) after_now(AdapterTimer::drop_old_path);  // not inside ngtcp2
      return PathChoice{*new_local_, *remote};
    }
    context_ = common::Json::object();
  }
  auto d = migrator_->on_preferred_address(local_info());
  if (d.outcome != Outcome::start_preferred_validation || !d.target) return std::nullopt;  // stays; logged
  auto remote = spa_endpoint(*d.target);
  std::string error;
  auto from = remote ? socket_towards(*remote, &error) : std::nullopt;
  if (!from) {
    trace_.error("preferred address %s: no local socket to reach it: %s", remote ? remote->to_string().c_str() : "?",
                 error.c_str());
    // Nothing is validated: the Migrator settles on the handshake address (a fallback family
    // needs the handshake confirmed, so it is not attempted from inside this callback).
    migrator_->on_validation_result(false);
    return std::nullopt;
  }
  run_.preferred_address = *remote;
  trace_.info("validating the preferred address %s from %s", remote->to_string().c_str(), from->to_string().c_str());
  return PathChoice{*from, *remote};
}

void MigrationAdapter::path_validated(std::uint32_t flags, const ngtcp2_path &path, const ngtcp2_path *old_path,
                                      bool success) {
  common::Json data = common::Json::object();
  data.set("path", path_json(path))
      .set("old_path", old_path ? path_json(*old_path) : common::Json())
      .set("success", success);
  trace_.event("path_validation", std::move(data));
  bool ours = (flags & NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR) ||
              (probing_ && endpoint_of(path.local) == probing_->local && endpoint_of(path.remote) == probing_->remote);
  if (!ours) return;
  // ngtcp2 tears its validation state down after this callback returns: anything that starts a
  // new validation must wait for the event loop.
  validation_result_ = success;
  after_now(AdapterTimer::validation_ended);
}

void MigrationAdapter::validation_ended(bool success) {
  if (!migrator_) return;
  bool network_move = network_move_;
  probing_.reset();
  network_move_ = false;
  if (network_move) ++(success ? run_.migrations.succeeded : run_.migrations.failed);
  auto d = migrator_->on_validation_result(success);
  switch (d.outcome) {
    case Outcome::moved_to_preferred_address:
      run_.moved_to_preferred_address = true;
      if (auto spa = spa_endpoint(*d.target)) run_.preferred_address = *spa;
      trace_.info("moved to the preferred address %s",
                  run_.preferred_address ? run_.preferred_address->to_string().c_str() : "?");
      break;
    case Outcome::migrated: trace_.info("migrated to %s", host_.local().to_string().c_str()); break;
    case Outcome::fallback_other_family:
      if (auto remote = spa_endpoint(*d.target)) {
        std::string error;
        if (auto from = socket_towards(*remote, &error)) {
          initiate({*from, *remote, false});
          break;
        }
        trace_.error("fallback preferred address %s: %s", remote->to_string().c_str(), error.c_str());
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
    default: break;
  }
  if (host_.connection_open()) host_.write();
  run_queued();  // a network change may have waited for this validation
}

bool MigrationAdapter::admit_datagram(const Endpoint &local, const Endpoint &from, std::span<const std::uint8_t> data) {
  if (!migrator_ || !opt_.ignore_reset_on_probe) return true;
  if (recognize_stateless_reset(data, host_.peer_reset_tokens()) != ResetRecognition::reset) return true;
  bool on_active = local == host_.local() && from == host_.remote();
  context_.set("local", local.to_string()).set("from", from.to_string()).set("bytes", data.size());
  if (migrator_->should_ignore_stateless_reset(on_active)) return false;
  context_ = common::Json::object();
  return true;
}

void MigrationAdapter::network_changed(const Endpoint &local, MigrationCause cause) {
  if (!host_.connection_open()) return;
  ensure_migrator();
  std::string error;
  new_local_ = host_.open_socket(local, &error);
  if (!new_local_) {
    trace_.error("network change: %s", error.c_str());
    ++run_.migrations.failed;
    return;
  }
  old_local_ = host_.local();
  act(submit_network_change(cause));
}

MigrationDecision MigrationAdapter::submit_network_change(MigrationCause cause) {
  // The server's gate classifies with the same rule (qamp/endpoint.h), so both sides agree.
  // A "change" to the same address keeps the IP: it is judged as a port-only one.
  const auto kind = classify_change(old_local_.sa(), new_local_->sa());
  auto change = kind == AddressChange::same || kind == AddressChange::port_only ? Change::port_only : Change::ip_change;
  context_.set("from", old_local_.to_string())
      .set("to", new_local_->to_string())
      .set("server", host_.remote().to_string())
      .set("old_path", to_string(opt_.old_path));
  old_path_gone_ = cause == MigrationCause::network_disconnected || cause == MigrationCause::write_error ||
                   cause == MigrationCause::path_degrading || cause == MigrationCause::port_change_on_path_degrading;
  return migrator_->submit_migration(change, cause, old_path_usable(), local_info(family_of(*new_local_)));
}

void MigrationAdapter::run_queued() {
  // A validation result still waiting for its timer: validation_ended() calls back.
  if (!migrator_ || !migrator_->has_queued() || !new_local_ || validation_result_ || !host_.connection_open()) return;
  old_local_ = host_.local();  // the preferred-address move may have changed it meanwhile
  context_.set("from", old_local_.to_string())
      .set("to", new_local_->to_string())
      .set("server", host_.remote().to_string())
      .set("old_path", to_string(opt_.old_path));
  if (auto d = migrator_->run_queued()) {
    act(*d);
  } else {
    context_ = common::Json::object();
  }
}

void MigrationAdapter::act(const MigrationDecision &d) {
  if (is_refusal(d.outcome)) {
    ++run_.migrations.refused;
    plan_after_refusal(std::string(to_string(d.outcome)) +
                       (d.rule ? " (" + std::string(to_string(*d.rule)) + ")" : ""));
    return;
  }
  switch (d.outcome) {
    case Outcome::start_path_validation:
    case Outcome::start_immediate_migration: {
      auto remote = host_.remote();
      network_move_ = true;
      if (new_local_->family() != remote.family()) {
        // The new network cannot reach this server address at all.
        context_.set("to", new_local_->to_string()).set("server", remote.to_string());
        migrator_->on_start_failed(StartError::address_family_mismatch, native());
        network_move_ = false;
        migrator_->on_validation_result(false);
        ++run_.migrations.failed;
        plan_after_refusal("the new local address cannot reach " + remote.to_string());
        return;
      }
      initiate({*new_local_, remote, d.outcome == Outcome::start_immediate_migration});
      break;
    }
    case Outcome::validate_preferred_from_new_local:
      network_move_ = true;
      if (auto spa = d.target ? spa_endpoint(*d.target) : std::nullopt) {
        initiate({*new_local_, *spa, false});
        break;
      }
      validation_ended(false);
      break;
    default:  // deferred: run_queued() runs it; nothing else comes out of submit_migration()
      break;
  }
}

void MigrationAdapter::initiate(Start start) {
  if (!host_.connection_open()) return;
  if (start.local == host_.local()) {
    // ngtcp2 validates a new path only from a new local address (a preferred address in the
    // current family, tried as a fallback): take a fresh port on the same IP.
    auto fresh = start.local;
    fresh.set_port(0);
    std::string error;
    if (auto bound = host_.open_socket(fresh, &error)) start.local = *bound;
  }
  int rv = host_.initiate_migration(start.local, start.remote, start.immediate, clock_.now());
  if (rv != 0) {
    const StartError error = start_error_of(rv);
    context_.set("local", start.local.to_string())
        .set("remote", start.remote.to_string())
        .set("error", to_string(error))
        .set("ngtcp2_error", ngtcp2_strerror(rv));
    if (native()) context_.set("level", host_.native_migration_level());
    auto d = migrator_->on_start_failed(error, native());
    switch (d.outcome) {
      case Outcome::retry_conn_id_blocked:
      case Outcome::retry_invalid_state:
        retry_ = start;
        scheduler_.arm(AdapterTimer::retry_start, clock_.now() + migrator_->config().start_retry_interval);
        return;
      case Outcome::refused_by_ngtcp2: {
        bool network_move = std::exchange(network_move_, false);
        if (network_move) ++run_.migrations.refused;
        migrator_->on_validation_result(false);  // back to its resting state; nothing was probed
        if (network_move)
          plan_after_refusal("refused by ngtcp2 (native enforcement, level " + host_.native_migration_level() + ")");
        return;
      }
      default:
        trace_.error("cannot start the path validation to %s from %s: %s", start.remote.to_string().c_str(),
                     start.local.to_string().c_str(), ngtcp2_strerror(rv));
        validation_ended(false);
        return;
    }
  }
  migrator_->on_started();
  probing_ = start;
  if (network_move_) ++run_.migrations.attempted;
  trace_.event("path_validation_started", common::Json::object()
                                              .set("local", start.local.to_string())
                                              .set("remote", start.remote.to_string())
                                              .set("immediate", start.immediate)
                                              .set("network_change", network_move_));
  trace_.info("%s %s -> %s", start.immediate ? "switched to" : "validating", start.local.to_string().c_str(),
              start.remote.to_string().c_str());
  if (network_move_ && opt_.old_path == OldPath::drop) drop_old_path();
}

bool MigrationAdapter::native() const noexcept { return opt_.enforcement == common::Enforcement::native; }

void MigrationAdapter::plan_after_refusal(const std::string &refusal) {
  auto in = host_.transfer();
  in.old_path_usable = old_path_usable();
  in.new_rate = opt_.new_path_rate;
  in.forced = opt_.strategy;
  if (opt_.split && in.forced == ForcedStrategy::automatic && in.old_path_usable && new_local_ &&
      host_.start_split(*new_local_, in)) {
    // Both networks from now on; the split planner's own record goes to the summary.
    run_.planner = common::Json::object()
                       .set("decision", "split")
                       .set("reason", "measure-both-networks")
                       .set("refusal", refusal)
                       .set("figures", common::Json::object()
                                           .set("body_size", in.body_size)
                                           .set("received", in.received)
                                           .set("resumable", in.resumable)
                                           .set("old_rate", in.old_rate)
                                           .set("old_rtt_ms", in.old_rtt * 1e3)
                                           .set("new_rate", in.new_rate));
    trace_.decision("planner", "split", "measure-both-networks", run_.planner);
    return;
  }
  auto plan = Planner{}.choose(in);
  common::Json figures = common::Json::object();
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
  common::Json record = common::Json::object();
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
      if (new_local_) host_.close_socket(*new_local_);
      new_local_.reset();
      break;
    case Strategy::reconnect_resume: host_.reconnect(new_local_, true); break;
    case Strategy::restart: host_.reconnect(new_local_, false); break;
  }
}

void MigrationAdapter::drop_old_path() {
  if (host_.has_socket(old_local_) && old_local_ != new_local_) {
    trace_.info("old network dropped: closing %s", old_local_.to_string().c_str());
    host_.close_socket(old_local_);
  }
}

}  // namespace qamp::client
