#include "qamp/migrator.h"

#include <utility>

namespace qamp {

std::string_view to_string(Family family) noexcept {
  switch (family) {
    case Family::v4: return "v4";
    case Family::v6: return "v6";
  }
  return "?";
}

std::optional<Family> parse_family(std::string_view text) noexcept {
  for (auto f : {Family::v4, Family::v6})
    if (to_string(f) == text) return f;
  return std::nullopt;
}

ServerAddress spa_of(Family family) noexcept {
  return family == Family::v4 ? ServerAddress::spa_v4 : ServerAddress::spa_v6;
}

std::string_view to_string(SpaFamily family) noexcept {
  switch (family) {
    case SpaFamily::automatic: return "auto";
    case SpaFamily::v4: return "v4";
    case SpaFamily::v6: return "v6";
  }
  return "?";
}

std::optional<SpaFamily> parse_spa_family(std::string_view text) noexcept {
  for (auto f : {SpaFamily::automatic, SpaFamily::v4, SpaFamily::v6})
    if (to_string(f) == text) return f;
  return std::nullopt;
}

std::string_view to_string(FamilyReason reason) noexcept {
  switch (reason) {
    case FamilyReason::same_family: return "same-family";
    case FamilyReason::switched_family: return "switched-family";
    case FamilyReason::forced_family: return "forced-family";
    case FamilyReason::none_offered: return "none-offered";
    case FamilyReason::no_usable_family: return "no-usable-family";
    case FamilyReason::forced_family_not_offered: return "forced-family-not-offered";
    case FamilyReason::forced_family_not_local: return "forced-family-not-local";
  }
  return "?";
}

namespace {

Family other(Family family) noexcept { return family == Family::v4 ? Family::v6 : Family::v4; }

}  // namespace

FamilyChoice choose_spa_family(bool offered_v4, bool offered_v6, const LocalInfo &local,
                               SpaFamily preference) noexcept {
  auto offered = [&](Family f) { return f == Family::v4 ? offered_v4 : offered_v6; };
  auto usable = [&](Family f) { return offered(f) && local.has(f); };
  if (!offered_v4 && !offered_v6) return {std::nullopt, FamilyReason::none_offered};
  switch (preference) {
    case SpaFamily::automatic:
      if (usable(local.current)) return {local.current, FamilyReason::same_family};
      if (usable(other(local.current))) return {other(local.current), FamilyReason::switched_family};
      return {std::nullopt, FamilyReason::no_usable_family};
    case SpaFamily::v4:
    case SpaFamily::v6: {
      const Family f = preference == SpaFamily::v4 ? Family::v4 : Family::v6;
      if (!offered(f)) return {std::nullopt, FamilyReason::forced_family_not_offered};
      if (!local.has(f)) return {std::nullopt, FamilyReason::forced_family_not_local};
      return {f, FamilyReason::forced_family};
    }
  }
  return {std::nullopt, FamilyReason::no_usable_family};
}

std::string_view to_string(MigrationCause cause) noexcept {
  switch (cause) {
    case MigrationCause::preferred_address_available: return "preferred-address-available";
    case MigrationCause::network_change: return "network-change";
    case MigrationCause::user_request: return "user-request";
    case MigrationCause::path_failed: return "path-failed";
    case MigrationCause::network_made_default: return "network-made-default";
    case MigrationCause::network_disconnected: return "network-disconnected";
    case MigrationCause::path_degrading: return "path-degrading";
    case MigrationCause::write_error: return "write-error";
    case MigrationCause::migrate_back_to_default_network: return "migrate-back-to-default-network";
    case MigrationCause::port_change_on_path_degrading: return "port-change-on-path-degrading";
  }
  return "?";
}

std::optional<MigrationCause> parse_migration_cause(std::string_view text) noexcept {
  for (auto c : kAllMigrationCauses)
    if (to_string(c) == text) return c;
  return std::nullopt;
}

bool changes_network(MigrationCause cause) noexcept {
  switch (cause) {
    case MigrationCause::network_change:
    case MigrationCause::path_failed:
    case MigrationCause::network_made_default:
    case MigrationCause::network_disconnected:
    case MigrationCause::path_degrading:
    case MigrationCause::write_error:
    case MigrationCause::migrate_back_to_default_network: return true;
    case MigrationCause::preferred_address_available:
    case MigrationCause::user_request:
    case MigrationCause::port_change_on_path_degrading: return false;
  }
  return false;
}

std::string_view to_string(MigratorState state) noexcept {
  switch (state) {
    case MigratorState::on_handshake_address: return "on-handshake-address";
    case MigratorState::validating_preferred_address: return "validating-preferred-address";
    case MigratorState::on_preferred_address: return "on-preferred-address";
    case MigratorState::validating_migration: return "validating-migration";
  }
  return "?";
}

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::refused_by_policy: return "refused-by-policy";
    case Outcome::refused_validation_in_progress: return "refused-validation-in-progress";
    case Outcome::refused_no_preferred_address: return "refused-no-preferred-address";
    case Outcome::refused_preferred_disabled: return "refused-preferred-address-disabled";
    case Outcome::refused_preferred_already_tried: return "refused-preferred-address-already-tried";
    case Outcome::start_preferred_validation: return "start-preferred-address-validation";
    case Outcome::start_path_validation: return "start-path-validation";
    case Outcome::start_immediate_migration: return "start-immediate-migration";
    case Outcome::validate_preferred_from_new_local: return "validate-preferred-address-from-new-local";
    case Outcome::fallback_other_family: return "fallback-other-family";
    case Outcome::moved_to_preferred_address: return "moved-to-preferred-address";
    case Outcome::migrated: return "migrated";
    case Outcome::validation_failed_stayed: return "validation-failed-stayed";
    case Outcome::settled_on_handshake_address: return "settled-on-handshake-address";
    case Outcome::no_validation_pending: return "no-validation-pending";
    case Outcome::ignored_reset_on_probe: return "ignored-reset-on-probe";
    case Outcome::deferred_until_confirmed: return "deferred-until-confirmed";
    case Outcome::deferred_validation_in_progress: return "deferred-validation-in-progress";
    case Outcome::retry_conn_id_blocked: return "retry-conn-id-blocked";
    case Outcome::retry_invalid_state: return "retry-invalid-state";
    case Outcome::refused_by_ngtcp2: return "refused-by-ngtcp2";
    case Outcome::impossible_address_family: return "impossible-address-family";
    case Outcome::gave_up_after_retries: return "gave-up-after-retries";
    case Outcome::start_failed: return "start-failed";
  }
  return "?";
}

std::string_view to_string(StartError error) noexcept {
  switch (error) {
    case StartError::conn_id_blocked: return "conn-id-blocked";
    case StartError::invalid_state: return "invalid-state";
    case StartError::address_family_mismatch: return "address-family-mismatch";
    case StartError::other: return "other";
  }
  return "?";
}

bool starts_path(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::start_preferred_validation:
    case Outcome::start_path_validation:
    case Outcome::start_immediate_migration:
    case Outcome::validate_preferred_from_new_local:
    case Outcome::fallback_other_family: return true;
    default: return false;
  }
}

bool is_refusal(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::refused_by_policy:
    case Outcome::refused_validation_in_progress:
    case Outcome::refused_no_preferred_address:
    case Outcome::refused_preferred_disabled:
    case Outcome::refused_preferred_already_tried: return true;
    default: return false;
  }
}

std::string to_string(const MigrationDecision &d) {
  std::string out(to_string(d.outcome));
  std::string details;
  auto add = [&](std::string_view key, std::string_view value) {
    if (!details.empty()) details += ", ";
    details += key;
    details += ' ';
    details += value;
  };
  if (d.rule) add("rule", to_string(*d.rule));
  if (d.target) add("target", to_string(*d.target));
  if (d.family_reason) add("family", to_string(*d.family_reason));
  if (!details.empty()) out += " (" + details + ")";
  return out;
}

std::string to_string(const MigrationEvent &e) {
  std::string out(to_string(e.cause));
  if (e.change) {
    out += ' ';
    out += to_string(*e.change);
  }
  out += ": ";
  out += to_string(e.decision);
  out += " [";
  out += to_string(e.before);
  if (e.after != e.before) {
    out += " -> ";
    out += to_string(e.after);
  }
  out += ']';
  return out;
}

Migrator::Migrator(MigratorConfig config, Policy policy, bool spa_offered_v4, bool spa_offered_v6)
    : config_(config), policy_(policy), offered_v4_(spa_offered_v4), offered_v6_(spa_offered_v6) {}

MigratorState Migrator::resting_state() const noexcept {
  return current_ == ServerAddress::handshake ? MigratorState::on_handshake_address
                                              : MigratorState::on_preferred_address;
}

MigrationDecision Migrator::finish(MigrationCause cause, std::optional<Change> change, MigratorState before,
                                   MigrationDecision decision) {
  if (is_refusal(decision.outcome)) ++stats_.refused;
  if (starts_path(decision.outcome)) ++stats_.attempted;
  if (observer_) observer_(MigrationEvent{cause, change, decision, before, state_});
  return decision;
}

MigrationDecision Migrator::start_preferred(const LocalInfo &local, MigrationCause cause,
                                            std::optional<Change> change) {
  const MigratorState before = state_;
  auto refuse = [&](MigrationDecision d) { return finish(cause, change, before, d); };

  if (state_ == MigratorState::validating_preferred_address || state_ == MigratorState::validating_migration)
    return refuse({Outcome::refused_validation_in_progress, {}, {}, {}});
  const MigrationContext ctx{config_.semantics, policy_, current_, current_ != ServerAddress::handshake,
                             offered_v4_ || offered_v6_};
  const Decision may = client_may(ctx, Change::move_to_spa);
  if (!may.allowed) {
    if (may.rule == Rule::spa_not_offered)
      return refuse({Outcome::refused_no_preferred_address, may.rule, {}, FamilyReason::none_offered});
    return refuse({Outcome::refused_by_policy, may.rule, {}, {}});
  }
  if (!config_.use_preferred_address) return refuse({Outcome::refused_preferred_disabled, {}, {}, {}});
  if (spa_failed_) return refuse({Outcome::refused_preferred_already_tried, {}, {}, {}});
  const FamilyChoice choice = choose_spa_family(offered_v4_, offered_v6_, local, config_.spa_family);
  if (!choice.family) return refuse({Outcome::refused_no_preferred_address, {}, {}, choice.reason});

  local_ = local;
  pending_target_ = spa_of(*choice.family);
  pending_cause_ = cause;
  pending_change_ = change;
  spa_tries_ = 1;
  state_ = MigratorState::validating_preferred_address;
  return finish(cause, change, before, {Outcome::start_preferred_validation, may.rule, pending_target_, choice.reason});
}

MigrationDecision Migrator::on_preferred_address(const LocalInfo &local) {
  local_ = local;
  return start_preferred(local, MigrationCause::preferred_address_available, std::nullopt);
}

MigrationDecision Migrator::request_migration(Change change, MigrationCause cause, bool old_path_usable,
                                              std::optional<LocalInfo> new_local) {
  const LocalInfo local = new_local.value_or(local_.value_or(LocalInfo{}));
  if (change == Change::move_to_spa) return start_preferred(local, cause, change);

  const MigratorState before = state_;
  if (state_ == MigratorState::validating_preferred_address || state_ == MigratorState::validating_migration)
    return finish(cause, change, before, {Outcome::refused_validation_in_progress, {}, {}, {}});

  // RFC 9000 §9.6.3: a client that has to move anyway before it used the preferred address
  // validates the preferred address from its new local address instead of migrating on the
  // handshake address (where the server may forbid it). Only for a change of network, not for
  // an explicit user request, which asks for exactly this change.
  const bool network_moved = changes_network(cause);
  if (network_moved && state_ == MigratorState::on_handshake_address && spa_tries_ == 0 &&
      config_.use_preferred_address && (offered_v4_ || offered_v6_)) {
    const FamilyChoice choice = choose_spa_family(offered_v4_, offered_v6_, local, config_.spa_family);
    if (choice.family) {
      local_ = local;
      pending_target_ = spa_of(*choice.family);
      pending_cause_ = cause;
      pending_change_ = change;
      spa_tries_ = 1;
      state_ = MigratorState::validating_preferred_address;
      return finish(cause, change, before,
                    {Outcome::validate_preferred_from_new_local, Rule::spa_move_once, pending_target_, choice.reason});
    }
  }

  const MigrationContext ctx{config_.semantics, policy_, current_, current_ != ServerAddress::handshake,
                             offered_v4_ || offered_v6_};
  const Decision may = client_may(ctx, change);
  if (!may.allowed) return finish(cause, change, before, {Outcome::refused_by_policy, may.rule, {}, {}});

  if (new_local) local_ = new_local;
  pending_cause_ = cause;
  pending_change_ = change;
  state_ = MigratorState::validating_migration;
  // RFC 9000 §9.6.1 / §8.2.4: validate first while the old path still carries the connection;
  // only when it is gone is there nothing to lose by switching at once.
  const Outcome start = old_path_usable ? Outcome::start_path_validation : Outcome::start_immediate_migration;
  return finish(cause, change, before, {start, may.rule, current_, {}});
}

MigrationDecision Migrator::on_validation_result(bool success) {
  const MigratorState before = state_;
  const MigrationCause cause = pending_cause_;
  const std::optional<Change> change = pending_change_;

  if (state_ == MigratorState::validating_migration) {
    state_ = resting_state();
    pending_change_.reset();
    if (success) {
      ++stats_.succeeded;
      return finish(cause, change, before, {Outcome::migrated, {}, current_, {}});
    }
    ++stats_.failed;
    return finish(cause, change, before, {Outcome::validation_failed_stayed, {}, current_, {}});
  }

  if (state_ == MigratorState::validating_preferred_address && pending_target_) {
    const ServerAddress tried = *pending_target_;
    if (success) {
      ++stats_.succeeded;
      current_ = tried;
      pending_target_.reset();
      pending_change_.reset();
      state_ = MigratorState::on_preferred_address;
      return finish(cause, change, before, {Outcome::moved_to_preferred_address, {}, current_, {}});
    }
    ++stats_.failed;
    const Family failed_family = tried == ServerAddress::spa_v4 ? Family::v4 : Family::v6;
    const Family alt = other(failed_family);
    const LocalInfo local = local_.value_or(LocalInfo{});
    // Only auto switches families; a forced family means "this one or none".
    if (spa_tries_ == 1 && config_.spa_family == SpaFamily::automatic && offered(alt) && local.has(alt)) {
      spa_tries_ = 2;
      pending_target_ = spa_of(alt);
      return finish(
          cause, change, before,
          {Outcome::fallback_other_family, Rule::spa_move_once, pending_target_, FamilyReason::switched_family});
    }
    spa_failed_ = true;
    pending_target_.reset();
    pending_change_.reset();
    state_ = MigratorState::on_handshake_address;
    return finish(cause, change, before, {Outcome::settled_on_handshake_address, {}, ServerAddress::handshake, {}});
  }

  return finish(cause, change, before, {Outcome::no_validation_pending, {}, {}, {}});
}

MigrationDecision Migrator::submit_migration(Change change, MigrationCause cause, bool old_path_usable,
                                             std::optional<LocalInfo> new_local) {
  if (confirmed_ && !validating()) return request_migration(change, cause, old_path_usable, new_local);
  queued_ = Request{change, cause, old_path_usable, new_local};
  const Outcome deferral = confirmed_ ? Outcome::deferred_validation_in_progress : Outcome::deferred_until_confirmed;
  return finish(cause, change, state_, {deferral, {}, {}, {}});
}

std::optional<MigrationDecision> Migrator::run_queued() {
  if (!queued_ || !confirmed_ || validating()) return std::nullopt;
  const Request r = *queued_;
  queued_.reset();
  return request_migration(r.change, r.cause, r.old_path_usable, r.new_local);
}

std::optional<MigrationDecision> Migrator::run_queued_with_preferred_address() {
  if (!queued_) return std::nullopt;
  const Request &r = *queued_;
  // The same conditions as request_migration()'s §9.6.3 branch, checked before anything runs so
  // that a request it would not turn into a preferred-address validation stays queued.
  const bool network_moved = changes_network(r.cause);
  if (!network_moved || r.change == Change::move_to_spa || state_ != MigratorState::on_handshake_address ||
      spa_tries_ != 0 || !config_.use_preferred_address)
    return std::nullopt;
  const LocalInfo local = r.new_local.value_or(local_.value_or(LocalInfo{}));
  if (!choose_spa_family(offered_v4_, offered_v6_, local, config_.spa_family).family) return std::nullopt;
  const Request run = r;
  queued_.reset();
  return request_migration(run.change, run.cause, run.old_path_usable, run.new_local);
}

MigrationDecision Migrator::on_start_failed(StartError error, bool native) {
  auto outcome = [&] {
    switch (error) {
      case StartError::address_family_mismatch: return Outcome::impossible_address_family;
      case StartError::other: return Outcome::start_failed;
      case StartError::conn_id_blocked:
      case StartError::invalid_state: break;
    }
    // Native: after the confirmation and with no validation of ours running, INVALID_STATE is
    // ngtcp2 applying the server's policy (the patched ngtcp2's initiate_migration).
    if (error == StartError::invalid_state && native && confirmed_) return Outcome::refused_by_ngtcp2;
    if (start_retries_ >= config_.start_retry_attempts) return Outcome::gave_up_after_retries;
    ++start_retries_;
    return error == StartError::conn_id_blocked ? Outcome::retry_conn_id_blocked : Outcome::retry_invalid_state;
  }();
  if (outcome != Outcome::retry_conn_id_blocked && outcome != Outcome::retry_invalid_state) start_retries_ = 0;
  const std::optional<ServerAddress> target =
      state_ == MigratorState::validating_migration ? std::optional{current_} : pending_target_;
  return finish(pending_cause_, pending_change_, state_, {outcome, {}, target, {}});
}

bool Migrator::should_ignore_stateless_reset(bool on_active_path) {
  const bool probing =
      state_ == MigratorState::validating_preferred_address || state_ == MigratorState::validating_migration;
  if (!config_.ignore_reset_on_probe || on_active_path || !probing) return false;
  ++stats_.resets_ignored;
  finish(pending_cause_, std::nullopt, state_, {Outcome::ignored_reset_on_probe, {}, pending_target_, {}});
  return true;
}

}  // namespace qamp
