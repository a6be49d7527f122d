#include "stats.h"

#include <cstdio>
#include <fstream>
#include <string_view>

namespace qamp::ex {

namespace {

// A JSON object of the nonzero counts, in the order given: {"name": count, ...}.
class Object {
 public:
  void add(std::string_view key, std::uint64_t count) {
    if (count == 0) return;
    s_ += (s_.size() > 1 ? ", \"" : "\"") + std::string(key) + "\": " + std::to_string(count);
  }
  std::string str() const { return s_ + "}"; }

 private:
  std::string s_ = "{";
};

// The reset guard's reasons that send (the rest suppress). No default: a new reason must be
// placed here, or the build fails (-Wswitch with -Werror).
bool sends(ResetReason reason) noexcept {
  switch (reason) {
    case ResetReason::send_own_instance:
    case ResetReason::send_unrestricted_address:
    case ResetReason::send_always:
      return true;
    case ResetReason::suppress_mode_never:
    case ResetReason::suppress_other_instance:
    case ResetReason::suppress_restricted_address:
    case ResetReason::suppress_too_short:
    case ResetReason::suppress_rate_limited:
    case ResetReason::suppress_prefix_rate_limited:
    case ResetReason::suppress_prefix_table_full:
      return false;
  }
  return false;
}

}  // namespace

std::string ServerStats::json(const GateCounters &gate, const ResetCounters &resets) const {
  Object dropped, changes, suppressed, refused, spelled;
  for (auto reason : kAllGateReasons) {
    if (verdict_of(reason) == GateVerdict::drop) dropped.add(to_string(reason), gate.of(reason));
    changes.add(to_string(reason), path_changes[static_cast<std::size_t>(reason)]);
  }
  for (auto reason : kAllResetReasons)
    if (!sends(reason)) suppressed.add(to_string(reason), resets.of(reason));
  for (auto &[reason, n] : initials_refused) refused.add(to_string(reason), n);
  for (auto &[spelling, n] : spellings) spelled.add(to_string(spelling), n);

  std::string s = "{\n";
  s += "  \"datagrams_received\": " + std::to_string(datagrams_received) + ",\n";
  s += "  \"datagrams_accepted\": " + std::to_string(gate.accepted) + ",\n";
  s += "  \"datagrams_dropped\": " + std::to_string(gate.dropped) + ",\n";
  s += "  \"dropped_by_reason\": " + dropped.str() + ",\n";
  s += "  \"path_changes_accepted\": " + changes.str() + ",\n";
  s += "  \"path_changes_not_taken\": " + std::to_string(path_changes_not_taken) + ",\n";
  s += "  \"gate_log_lines_suppressed\": " + std::to_string(gate_log_lines_suppressed) + ",\n";
  s += "  \"resets_sent\": " + std::to_string(resets.sent) + ",\n";
  s += "  \"resets_suppressed_by_reason\": " + suppressed.str() + ",\n";
  s += "  \"connections\": " + std::to_string(connections) + ",\n";
  s += "  \"connections_closed\": " + std::to_string(connections_closed) + ",\n";
  s += "  \"connections_peak\": " + std::to_string(connections_peak) + ",\n";
  s += "  \"half_open_peak\": " + std::to_string(half_open_peak) + ",\n";
  s += "  \"retries_sent\": " + std::to_string(retries_sent) + ",\n";
  s += "  \"connections_validated\": " + std::to_string(connections_validated) + ",\n";
  s += "  \"initials_refused_by_reason\": " + refused.str() + ",\n";
  s += "  \"migrations\": " + std::to_string(migrations) + ",\n";
  s += "  \"moves_to_preferred_address\": " + std::to_string(moves_to_preferred_address) + ",\n";
  s += "  \"transport_parameter_errors\": " + std::to_string(transport_parameter_errors) + ",\n";
  s += "  \"spellings\": " + spelled.str() + ",\n";
  s += "  \"enforcement\": \"" + enforcement + "\",\n";
  s += "  \"native_disagreements\": " + std::to_string(native_disagreements) + "\n";
  return s + "}\n";
}

bool ServerStats::write(const std::string &path, const GateCounters &gate,
                        const ResetCounters &resets) const {
  auto tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return false;
    f << json(gate, resets);
    if (!f) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace qamp::ex
