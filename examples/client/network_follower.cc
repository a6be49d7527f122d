#include "network_follower.h"

#include <algorithm>

namespace qamp::client {

namespace {

std::string target_text(const std::optional<TriggerTarget> &t) {
  if (!t) return "-";
  return std::string(to_string(t->kind)) + " " + t->address.to_string() + " if " + std::to_string(t->ifindex);
}

// The trigger's view of a user request: another IP is a new network, the same IP a new port.
TriggerTarget request_target(const Endpoint &local, const Endpoint &current, unsigned ifindex) {
  return {local.same_ip(current) ? TargetKind::new_port : TargetKind::new_network, ifindex, local};
}

}  // namespace

NetworkFollower::NetworkFollower(const NetworkEventConfig &config, Trace &trace, FollowerHost &host, const Clock &clock)
    : trace_(trace), host_(host), clock_(clock), trigger_(config), start_(clock.now()) {}

ConnectionView NetworkFollower::view() {
  ConnectionView v;
  v.local = host_.local();
  v.ifindex = host_.ifindex_of(v.local);
  v.level = host_.level();
  v.idle = host_.idle();
  return v;
}

void NetworkFollower::seed(const std::vector<NetworkEvent> &events) {
  const ConnectionView none{};  // no connection yet: the events are learnt, nothing is decided
  for (const auto &e : events) trigger_.on_event(e, clock_.now(), none);
}

void NetworkFollower::on_event(const NetworkEvent &event, std::string_view source) {
  if (!host_.connection_open()) {
    trigger_.on_event(event, clock_.now(), ConnectionView{});
    return;
  }
  act(trigger_.on_event(event, clock_.now(), view()), std::string(source) + ": " + to_string(event));
}

void NetworkFollower::on_write_error(int error) {
  if (!send_error_from(error) ||
      std::find(write_errors_seen_.begin(), write_errors_seen_.end(), error) != write_errors_seen_.end())
    return;
  write_errors_seen_.push_back(error);
  on_event(WriteError{error}, "sendmsg");
}

void NetworkFollower::on_path_sample(const PathSample &sample) {
  if (!host_.connection_open()) return;
  act(trigger_.on_path_sample(sample, clock_.now(), view()),
      "ngtcp2: " + std::to_string(sample.pto_count) + " PTO period(s) without progress, srtt " +
          std::to_string(sample.smoothed_rtt / 1000000) + " ms, min rtt " + std::to_string(sample.min_rtt / 1000000) +
          " ms");
}

void NetworkFollower::request(const Endpoint &local) {
  if (!host_.connection_open()) return;
  auto v = view();
  act(trigger_.on_request(MigrationCause::network_change, request_target(local, v.local, host_.ifindex_of(local)), v),
      "--network-change " + local.to_string());
}

void NetworkFollower::on_path_changed() {
  write_errors_seen_.clear();
  if (host_.connection_open()) trigger_.on_path_changed(view(), clock_.now());
}

void NetworkFollower::on_timer() {
  if (!host_.connection_open()) return;
  act(trigger_.on_timer(clock_.now(), view()), "timer: on a non-default network");
}

void NetworkFollower::act(const std::optional<TriggerDecision> &decision, const std::string &event) {
  if (!decision) return;
  const auto &d = *decision;
  const auto now = clock_.now();
  common::Json data = common::Json::object();
  data.set("cause", to_string(d.cause))
      .set("event", event)
      .set("target", target_text(d.target))
      .set("policy_rule", d.policy_rule ? common::Json(to_string(*d.policy_rule)) : common::Json())
      .set("signal", d.signal ? common::Json(to_string(*d.signal)) : common::Json())
      .set("from", host_.local().to_string());
  // The trigger's verdict is checked again by the Migrator, which may still redirect a network
  // change to the preferred address (RFC 9000 §9.6.3) or refuse it: its own line follows.
  if (d.action != TriggerAction::refused) data.set("next", "migrator");
  trace_.decision("network-event", to_string(d.action), to_string(d.rule), data);
  common::Json rec = common::Json::object();
  rec.set("t_s", static_cast<double>(now - start_) / 1e9)
      .set("event", event)
      .set("cause", to_string(d.cause))
      .set("action", to_string(d.action))
      .set("rule", to_string(d.rule))
      .set("target", target_text(d.target));
  decisions_.push(std::move(rec));
  if (d.action == TriggerAction::refused || !d.target) return;
  const auto old_local = host_.local();
  if (!pending_ && !event_to_first_byte_ms_) pending_ = Pending{now, old_local, *d.target};
  // Event targets hold port 0 (a new socket, any port); a --network-change keeps the port it
  // names (the lab picks ports the balancers hash to a given instance).
  host_.change_network(d.target->address, d.cause);
}

void NetworkFollower::on_body_bytes(const Endpoint &rx_local) {
  if (!pending_ || rx_local == pending_->old_local) return;
  const bool arrived = pending_->target.kind == TargetKind::new_port ? rx_local.same_ip(pending_->old_local)
                                                                     : rx_local.same_ip(pending_->target.address);
  if (!arrived) return;
  event_to_first_byte_ms_ = static_cast<double>(clock_.now() - pending_->at) / 1e6;
  trace_.info("network event to the first body byte on %s: %.1f ms", rx_local.to_string().c_str(),
              *event_to_first_byte_ms_);
  pending_.reset();
}

common::Json NetworkFollower::json() const {
  common::Json j = common::Json::object();
  j.set("decisions", decisions_).set("event_to_first_byte_ms", event_to_first_byte_ms_);
  return j;
}

}  // namespace qamp::client
