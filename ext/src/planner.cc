#include "qamp/planner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace qamp {

std::string_view to_string(Strategy strategy) noexcept {
  switch (strategy) {
    case Strategy::stay: return "stay";
    case Strategy::reconnect_resume: return "resume";
    case Strategy::restart: return "restart";
  }
  return "?";
}

std::string_view to_string(ForcedStrategy forced) noexcept {
  switch (forced) {
    case ForcedStrategy::automatic: return "auto";
    case ForcedStrategy::stay: return "stay";
    case ForcedStrategy::reconnect: return "reconnect";
  }
  return "?";
}

std::optional<ForcedStrategy> parse_forced_strategy(std::string_view text) noexcept {
  for (auto f : {ForcedStrategy::automatic, ForcedStrategy::stay, ForcedStrategy::reconnect})
    if (to_string(f) == text) return f;
  return std::nullopt;
}

std::string_view to_string(PlanReason reason) noexcept {
  switch (reason) {
    case PlanReason::stay_faster: return "stay-faster";
    case PlanReason::resume_faster: return "resume-faster";
    case PlanReason::restart_faster: return "restart-faster";
    case PlanReason::old_path_gone_resume: return "old-path-gone-resume";
    case PlanReason::old_path_gone_restart: return "old-path-gone-restart";
    case PlanReason::non_resumable_near_end_stay: return "non-resumable-near-end-stay";
    case PlanReason::forced_stay: return "forced-stay";
    case PlanReason::forced_reconnect: return "forced-reconnect";
    case PlanReason::already_complete: return "already-complete";
  }
  return "?";
}

double Plan::seconds(Strategy strategy) const noexcept {
  switch (strategy) {
    case Strategy::stay: return stay_s;
    case Strategy::reconnect_resume: return resume_s;
    case Strategy::restart: return restart_s;
  }
  return std::numeric_limits<double>::infinity();
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A rate that is missing, negative or NaN means "nothing arrives".
double sane(double value) noexcept { return std::isfinite(value) && value > 0 ? value : 0.0; }

double transfer_time(double bytes, double rate) noexcept {
  if (bytes <= 0) return 0;
  return rate > 0 ? bytes / rate : kInf;
}

}  // namespace

Plan Planner::choose(const PlannerInput &in) const noexcept {
  const bool size_known = in.body_size.has_value();
  const bool resumable = in.resumable && size_known;
  double remaining = 0;
  double total = 0;
  if (size_known) {
    remaining = *in.body_size > in.received ? static_cast<double>(*in.body_size - in.received) : 0;
    total = static_cast<double>(std::max(*in.body_size, in.received));
  } else {
    remaining = static_cast<double>(std::max(in.received, kUnknownSizeMinRemaining));
    total = static_cast<double>(in.received) + remaining;
  }

  const double old_rate = sane(in.old_rate);
  const double new_rate = in.new_rate ? sane(*in.new_rate) : old_rate;
  const double new_rtt = sane(in.new_rtt.value_or(in.old_rtt));
  const double setup = in.handshake_cost ? sane(*in.handshake_cost) : 2 * new_rtt;

  Plan plan{};
  plan.size_estimated = !size_known;
  const bool complete = size_known && remaining <= 0;
  plan.stay_s = complete ? 0 : in.old_path_usable ? transfer_time(remaining, old_rate) : kInf;
  // What a Range resume would cost if the server allowed it: tells "near the end" apart.
  const double resume_if_possible = setup + transfer_time(remaining, new_rate);
  plan.resume_s = resumable ? resume_if_possible : kInf;
  plan.restart_s = setup + transfer_time(total, new_rate);
  const Strategy reconnect = resumable ? Strategy::reconnect_resume : Strategy::restart;

  if (complete) {
    plan.chosen = Strategy::stay;
    plan.reason = PlanReason::already_complete;
    return plan;
  }
  switch (in.forced) {
    case ForcedStrategy::stay:
      plan.chosen = Strategy::stay;
      plan.reason = PlanReason::forced_stay;
      return plan;
    case ForcedStrategy::reconnect:
      plan.chosen = reconnect;
      plan.reason = PlanReason::forced_reconnect;
      return plan;
    case ForcedStrategy::automatic: break;
  }
  if (!in.old_path_usable) {
    plan.chosen = reconnect;
    plan.reason = resumable ? PlanReason::old_path_gone_resume : PlanReason::old_path_gone_restart;
    return plan;
  }
  // Ties: stay, then resume, then restart.
  if (plan.stay_s <= plan.resume_s && plan.stay_s <= plan.restart_s) {
    plan.chosen = Strategy::stay;
    plan.reason = !resumable && resume_if_possible < plan.stay_s ? PlanReason::non_resumable_near_end_stay
                                                                 : PlanReason::stay_faster;
  } else if (plan.resume_s <= plan.restart_s) {
    plan.chosen = Strategy::reconnect_resume;
    plan.reason = PlanReason::resume_faster;
  } else {
    plan.chosen = Strategy::restart;
    plan.reason = PlanReason::restart_faster;
  }
  return plan;
}

std::string range_header(std::uint64_t received) { return "bytes=" + std::to_string(received) + "-"; }

namespace {

std::string seconds_text(double s) {
  if (!std::isfinite(s)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

}  // namespace

std::string to_string(const Plan &plan) {
  std::string out(to_string(plan.chosen));
  out += ": " + seconds_text(plan.seconds(plan.chosen));
  for (auto s : {Strategy::stay, Strategy::reconnect_resume, Strategy::restart}) {
    if (s == plan.chosen) continue;
    out += " vs ";
    out += to_string(s);
    out += ' ' + seconds_text(plan.seconds(s));
  }
  out += " (";
  out += to_string(plan.reason);
  if (plan.size_estimated) out += ", size estimated";
  out += ')';
  return out;
}

}  // namespace qamp
