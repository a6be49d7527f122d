#include "stats.h"

#include <cstdio>
#include <utility>
#include <fstream>
#include <string_view>

#include "json.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

// Adds a member to a JSON object of counts only when the count is nonzero.
void add_nonzero(Json &object, std::string_view key, std::uint64_t count) {
  if (count != 0) object.set(std::string(key), count);
}

// The reset guard's reasons that send (the rest suppress). No default: a new reason must be
// placed here, or the build fails (-Wswitch with -Werror).
bool sends(ResetReason reason) noexcept {
  switch (reason) {
    case ResetReason::send_own_instance:
    case ResetReason::send_unrestricted_address:
    case ResetReason::send_always: return true;
    case ResetReason::suppress_mode_never:
    case ResetReason::suppress_other_instance:
    case ResetReason::suppress_restricted_address:
    case ResetReason::suppress_too_short:
    case ResetReason::suppress_rate_limited:
    case ResetReason::suppress_prefix_rate_limited:
    case ResetReason::suppress_prefix_table_full: return false;
  }
  return false;
}

}  // namespace

std::string ServerStats::json(const GateCounters &gate, const ResetCounters &resets) const {
  Json dropped = Json::object(), changes = Json::object(), suppressed = Json::object(), refused = Json::object(),
       spelled = Json::object();
  for (auto reason : kAllGateReasons) {
    if (verdict_of(reason) == GateVerdict::drop) add_nonzero(dropped, to_string(reason), gate.of(reason));
    add_nonzero(changes, to_string(reason), path_changes[static_cast<std::size_t>(reason)]);
  }
  for (auto reason : kAllResetReasons)
    if (!sends(reason)) add_nonzero(suppressed, to_string(reason), resets.of(reason));
  for (auto &[reason, n] : initials_refused) add_nonzero(refused, to_string(reason), n);
  for (auto &[spelling, n] : spellings) add_nonzero(spelled, to_string(spelling), n);

  Json s = Json::object();
  s.set("datagrams_received", datagrams_received)
      .set("datagrams_accepted", gate.accepted)
      .set("datagrams_dropped", gate.dropped)
      .set("dropped_by_reason", std::move(dropped))
      .set("path_changes_accepted", std::move(changes))
      .set("path_changes_not_taken", path_changes_not_taken)
      .set("gate_log_lines_suppressed", gate_log_lines_suppressed)
      .set("resets_sent", resets.sent)
      .set("resets_suppressed_by_reason", std::move(suppressed))
      .set("connections", connections)
      .set("connections_closed", connections_closed)
      .set("connections_peak", connections_peak)
      .set("half_open_peak", half_open_peak)
      .set("retries_sent", retries_sent)
      .set("connections_validated", connections_validated)
      .set("initials_refused_by_reason", std::move(refused))
      .set("migrations", migrations)
      .set("moves_to_preferred_address", moves_to_preferred_address)
      .set("transport_parameter_errors", transport_parameter_errors)
      .set("spellings", std::move(spelled))
      .set("enforcement", enforcement)
      .set("native_disagreements", native_disagreements);
  return s.dump(2) + "\n";
}

bool ServerStats::write(const std::string &path, const GateCounters &gate, const ResetCounters &resets) const {
  auto tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return false;
    f << json(gate, resets);
    if (!f) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace qamp::server
