#include "qamp/network_events.h"

#include <cerrno>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace qamp {

namespace {

std::string_view family_name(int family) noexcept {
  switch (family) {
    case AF_INET: return "v4";
    case AF_INET6: return "v6";
    default: return "unspec";
  }
}

std::string ifname(unsigned ifindex) { return "if " + std::to_string(ifindex); }

}  // namespace

std::string to_string(const NetworkEvent &event) {
  return std::visit(
      [](const auto &e) -> std::string {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, AddressAdded>) {
          return "address-added " + ifname(e.ifindex) + " " + e.address.to_string();
        } else if constexpr (std::is_same_v<T, AddressRemoved>) {
          return "address-removed " + ifname(e.ifindex) + " " + e.address.to_string();
        } else if constexpr (std::is_same_v<T, DefaultRouteChanged>) {
          std::string out = e.removed ? "default-route-removed " : "default-route-changed ";
          out += family_name(e.family);
          out += " " + ifname(e.ifindex);
          if (e.gateway.family() != AF_UNSPEC) out += " via " + e.gateway.to_string();
          return out;
        } else if constexpr (std::is_same_v<T, LinkDown>) {
          return "link-down " + ifname(e.ifindex);
        } else if constexpr (std::is_same_v<T, LinkUp>) {
          return "link-up " + ifname(e.ifindex);
        } else {
          static_assert(std::is_same_v<T, WriteError>);
          const auto counted = send_error_from(e.error);
          return "write-error errno " + std::to_string(e.error) +
                 (counted ? " " + std::string(to_string(*counted)) : std::string(" (not a network error)"));
        }
      },
      event);
}

std::string_view to_string(SendError error) noexcept {
  switch (error) {
    case SendError::network_unreachable: return "network-unreachable";
    case SendError::address_not_available: return "address-not-available";
    case SendError::host_unreachable: return "host-unreachable";
    case SendError::network_down: return "network-down";
  }
  return "?";
}

std::optional<SendError> send_error_from(int error) noexcept {
  switch (error) {
    case ENETUNREACH: return SendError::network_unreachable;
    case EADDRNOTAVAIL: return SendError::address_not_available;
    case EHOSTUNREACH: return SendError::host_unreachable;
    case ENETDOWN: return SendError::network_down;
    default: return std::nullopt;
  }
}

std::string_view to_string(DegradingSignal signal) noexcept {
  switch (signal) {
    case DegradingSignal::pto_count: return "pto-count";
    case DegradingSignal::rtt_growth: return "rtt-growth";
    case DegradingSignal::packet_loss: return "packet-loss";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------

std::optional<DegradingSignal> DegradingDetector::on_sample(const PathSample &s, Timestamp now) {
  const bool have_min = s.min_rtt != 0 && s.min_rtt != std::numeric_limits<Duration>::max();
  const double srtt = static_cast<double>(s.smoothed_rtt);
  const double min_rtt = static_cast<double>(s.min_rtt);
  const bool rtt_high = config_.rtt_factor > 0 && have_min && srtt > config_.rtt_factor * min_rtt;
  if (!rtt_high) {
    rtt_high_since_.reset();
  } else if (!rtt_high_since_) {
    rtt_high_since_ = now;
  }
  const bool by_pto = config_.pto_count != 0 && s.pto_count >= config_.pto_count;
  const bool by_loss = config_.lost_packets != 0 && s.lost_packets >= config_.lost_packets;
  const bool by_rtt = rtt_high && now >= *rtt_high_since_ && now - *rtt_high_since_ >= config_.rtt_hold;

  if (degrading_) {
    // Hysteresis: recovered only when every signal is clearly back, not just under its threshold.
    const bool rtt_ok = !have_min || srtt <= config_.recover_rtt_factor * min_rtt;
    if (s.pto_count == 0 && !by_loss && rtt_ok) degrading_ = false;
    return std::nullopt;
  }
  std::optional<DegradingSignal> fired;
  if (by_pto) {
    fired = DegradingSignal::pto_count;
  } else if (by_rtt) {
    fired = DegradingSignal::rtt_growth;
  } else if (by_loss) {
    fired = DegradingSignal::packet_loss;
  }
  if (fired) degrading_ = true;
  return fired;
}

void DegradingDetector::reset() noexcept {
  degrading_ = false;
  rtt_high_since_.reset();
}

// ---------------------------------------------------------------------------------------------

std::string_view to_string(TriggerRule rule) noexcept {
  switch (rule) {
    case TriggerRule::allowed_by_policy: return "allowed-by-policy";
    case TriggerRule::idle_connection: return "idle-connection";
    case TriggerRule::max_migrations: return "max-migrations";
    case TriggerRule::max_migrations_per_cause: return "max-migrations-per-cause";
    case TriggerRule::max_port_migrations: return "max-port-migrations";
    case TriggerRule::no_alternate_network: return "no-alternate-network";
    case TriggerRule::forbidden_by_policy: return "forbidden-by-policy";
  }
  return "?";
}

std::string_view to_string(TriggerAction action) noexcept {
  switch (action) {
    case TriggerAction::migrate: return "migrate";
    case TriggerAction::to_planner: return "to-planner";
    case TriggerAction::refused: return "refused";
  }
  return "?";
}

std::string_view to_string(TargetKind kind) noexcept {
  switch (kind) {
    case TargetKind::new_network: return "new-network";
    case TargetKind::new_port: return "new-port";
  }
  return "?";
}

Change TriggerDecision::change() const noexcept {
  return target && target->kind == TargetKind::new_port ? Change::port_only : Change::ip_change;
}

std::string to_string(const TriggerDecision &d) {
  std::string out(to_string(d.cause));
  out += ": ";
  out += to_string(d.action);
  if (d.target) {
    out += " to ";
    out += to_string(d.target->kind);
    out += " " + ifname(d.target->ifindex) + " " + d.target->address.to_string();
  }
  out += " (rule ";
  out += to_string(d.rule);
  if (d.policy_rule) {
    out += ", policy ";
    out += to_string(*d.policy_rule);
  }
  if (d.signal) {
    out += ", signal ";
    out += to_string(*d.signal);
  }
  out += ")";
  return out;
}

// ---------------------------------------------------------------------------------------------

MigrationTrigger::MigrationTrigger(NetworkEventConfig config) : config_(config), detector_(config.degrading) {}

void MigrationTrigger::set_default_route(int family, unsigned ifindex) {
  (family == AF_INET6 ? default_v6_ : default_v4_) = ifindex;
}

std::optional<unsigned> MigrationTrigger::default_ifindex(int family) const noexcept {
  return family == AF_INET6 ? default_v6_ : default_v4_;
}

unsigned MigrationTrigger::migrations(MigrationCause cause) const noexcept {
  return per_cause_[static_cast<std::size_t>(cause)];
}

void MigrationTrigger::learn(const NetworkEvent &event) {
  std::visit(
      [this](const auto &e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, AddressAdded>) {
          auto &addrs = interfaces_[e.ifindex].addresses;
          for (const auto &a : addrs)
            if (a.same_ip(e.address)) return;
          addrs.push_back(e.address);
        } else if constexpr (std::is_same_v<T, AddressRemoved>) {
          auto it = interfaces_.find(e.ifindex);
          if (it == interfaces_.end()) return;
          std::erase_if(it->second.addresses, [&](const Endpoint &a) { return a.same_ip(e.address); });
        } else if constexpr (std::is_same_v<T, DefaultRouteChanged>) {
          auto &slot = e.family == AF_INET6 ? default_v6_ : default_v4_;
          if (!e.removed && e.ifindex != 0) {
            slot = e.ifindex;
          } else if (e.removed && slot == e.ifindex) {
            slot.reset();
          }
        } else if constexpr (std::is_same_v<T, LinkDown>) {
          interfaces_[e.ifindex].up = false;
        } else if constexpr (std::is_same_v<T, LinkUp>) {
          interfaces_[e.ifindex].up = true;
        }
      },
      event);
}

std::optional<TriggerTarget> MigrationTrigger::address_on(unsigned ifindex, int family, const Endpoint *exclude) const {
  auto it = interfaces_.find(ifindex);
  if (it == interfaces_.end() || !it->second.up) return std::nullopt;
  for (const auto &a : it->second.addresses)
    if (a.family() == family && !(exclude && a.same_ip(*exclude)))
      return TriggerTarget{TargetKind::new_network, ifindex, a};
  return std::nullopt;
}

std::optional<TriggerTarget> MigrationTrigger::alternate(const ConnectionView &view, bool same_interface_ok) const {
  const int family = view.local.family();
  const auto usable_other = [&](unsigned ifindex) -> std::optional<TriggerTarget> {
    if (ifindex == view.ifindex && !same_interface_ok) return std::nullopt;
    return address_on(ifindex, family, &view.local);
  };
  if (auto d = default_ifindex(family)) {
    if (auto t = usable_other(*d)) return t;
  }
  for (const auto &[ifindex, state] : interfaces_) {
    if (ifindex == view.ifindex) continue;
    if (auto t = address_on(ifindex, family, &view.local)) return t;
  }
  if (same_interface_ok) return address_on(view.ifindex, family, &view.local);
  return std::nullopt;
}

bool MigrationTrigger::on_default(const ConnectionView &view) const noexcept {
  const auto d = default_ifindex(view.local.family());
  return !d || *d == view.ifindex;
}

void MigrationTrigger::track_default(const ConnectionView &view, Timestamp now) {
  if (on_default(view)) {
    off_default_since_.reset();
    back_deadline_armed_ = false;
  } else if (!off_default_since_) {
    off_default_since_ = now;
    back_deadline_armed_ = config_.max_time_on_non_default_network != 0;
  }
}

TriggerDecision MigrationTrigger::decide(MigrationCause cause, std::optional<TriggerTarget> target,
                                         const ConnectionView &view, std::optional<DegradingSignal> signal) {
  TriggerDecision d{cause, TriggerAction::refused, TriggerRule::idle_connection, target, std::nullopt, signal};
  if (view.idle && !config_.migrate_idle_connections) return d;
  if (!target) {
    d.rule = TriggerRule::no_alternate_network;
    return d;
  }
  const Decision may = level_allows(view.level, d.change());
  d.policy_rule = may.rule;
  if (!may.allowed) {
    d.action = TriggerAction::to_planner;
    d.rule = TriggerRule::forbidden_by_policy;
    return d;
  }
  const bool port = target->kind == TargetKind::new_port;
  auto &cause_count = per_cause_[static_cast<std::size_t>(cause)];
  if (migrations_ >= config_.max_migrations) {
    d.rule = TriggerRule::max_migrations;
  } else if (cause_count >= config_.max_migrations_per_cause) {
    d.rule = TriggerRule::max_migrations_per_cause;
  } else if (port && port_migrations_ >= config_.max_port_migrations) {
    d.rule = TriggerRule::max_port_migrations;
  } else {
    d.action = TriggerAction::migrate;
    d.rule = TriggerRule::allowed_by_policy;
    ++migrations_;
    ++cause_count;
    if (port) ++port_migrations_;
  }
  return d;
}

TriggerDecision MigrationTrigger::on_request(MigrationCause cause, const TriggerTarget &target,
                                             const ConnectionView &view) {
  ConnectionView asked = view;
  asked.idle = false;
  return decide(cause, target, asked, std::nullopt);
}

std::optional<TriggerDecision> MigrationTrigger::on_event(const NetworkEvent &event, Timestamp now,
                                                          const ConnectionView &view) {
  const int family = view.local.family();
  // "Became usable" needs the state before the event.
  const auto d_before = default_ifindex(family);
  const bool default_usable_before = d_before && address_on(*d_before, family, nullptr).has_value();
  learn(event);
  track_default(view, now);

  if (const auto *e = std::get_if<AddressRemoved>(&event)) {
    if (!e->address.same_ip(view.local)) return std::nullopt;
    return decide(MigrationCause::network_disconnected, alternate(view, true), view, std::nullopt);
  }
  if (const auto *e = std::get_if<LinkDown>(&event)) {
    if (e->ifindex != view.ifindex) return std::nullopt;
    return decide(MigrationCause::network_disconnected, alternate(view, false), view, std::nullopt);
  }
  if (const auto *e = std::get_if<WriteError>(&event)) {
    if (!send_error_from(e->error)) return std::nullopt;
    return decide(MigrationCause::write_error, alternate(view, true), view, std::nullopt);
  }
  if (const auto *e = std::get_if<DefaultRouteChanged>(&event)) {
    if (e->removed || e->family != family || e->ifindex == view.ifindex) return std::nullopt;
    auto target = address_on(e->ifindex, family, nullptr);
    if (!target) return std::nullopt;  // no address there yet: AddressAdded will tell
    return decide(MigrationCause::network_made_default, target, view, std::nullopt);
  }
  // AddressAdded / LinkUp: the default network (elsewhere) just became usable.
  unsigned ifindex = 0;
  if (const auto *e = std::get_if<AddressAdded>(&event)) ifindex = e->ifindex;
  if (const auto *e = std::get_if<LinkUp>(&event)) ifindex = e->ifindex;
  if (ifindex == 0 || default_usable_before) return std::nullopt;
  const auto d = default_ifindex(family);
  if (!d || *d != ifindex || ifindex == view.ifindex) return std::nullopt;
  auto target = address_on(ifindex, family, nullptr);
  if (!target) return std::nullopt;
  return decide(MigrationCause::network_made_default, target, view, std::nullopt);
}

std::optional<TriggerDecision> MigrationTrigger::on_path_sample(const PathSample &sample, Timestamp now,
                                                                const ConnectionView &view) {
  track_default(view, now);
  const auto signal = detector_.on_sample(sample, now);
  if (!signal) return std::nullopt;
  if (view.level == Level::any) {
    if (auto better = alternate(view, false)) return decide(MigrationCause::path_degrading, better, view, signal);
  }
  Endpoint same = view.local;
  same.set_port(0);
  return decide(MigrationCause::port_change_on_path_degrading, TriggerTarget{TargetKind::new_port, view.ifindex, same},
                view, signal);
}

void MigrationTrigger::on_path_changed(const ConnectionView &view, Timestamp now) {
  detector_.reset();
  off_default_since_.reset();
  back_deadline_armed_ = false;
  track_default(view, now);
}

std::optional<Timestamp> MigrationTrigger::next_deadline() const noexcept {
  if (!back_deadline_armed_ || !off_default_since_) return std::nullopt;
  return *off_default_since_ + config_.max_time_on_non_default_network;
}

std::optional<TriggerDecision> MigrationTrigger::on_timer(Timestamp now, const ConnectionView &view) {
  track_default(view, now);
  const auto deadline = next_deadline();
  if (!deadline || now < *deadline) return std::nullopt;
  back_deadline_armed_ = false;
  const int family = view.local.family();
  std::optional<TriggerTarget> target;
  if (auto d = default_ifindex(family)) target = address_on(*d, family, nullptr);
  return decide(MigrationCause::migrate_back_to_default_network, target, view, std::nullopt);
}

}  // namespace qamp
