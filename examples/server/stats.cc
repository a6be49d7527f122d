#include "stats.h"

#include <cstdio>
#include <fstream>

namespace qamp::ex {

namespace {
std::string object(const std::map<std::string, std::uint64_t> &m) {
  std::string s = "{";
  bool first = true;
  for (auto &[k, v] : m) {
    s += (first ? "" : ", ") + ("\"" + k + "\": " + std::to_string(v));
    first = false;
  }
  return s + "}";
}
}  // namespace

std::string ServerStats::json() const {
  std::string s = "{\n";
  s += "  \"datagrams_received\": " + std::to_string(datagrams_received) + ",\n";
  s += "  \"datagrams_accepted\": " + std::to_string(datagrams_accepted) + ",\n";
  std::uint64_t total = 0;
  for (auto &[k, v] : dropped) total += v;
  s += "  \"datagrams_dropped\": " + std::to_string(total) + ",\n";
  s += "  \"dropped_by_reason\": " + object(dropped) + ",\n";
  s += "  \"path_changes_accepted\": " + object(path_changes) + ",\n";
  s += "  \"path_changes_not_taken\": " + std::to_string(path_changes_not_taken) + ",\n";
  s += "  \"gate_log_lines_suppressed\": " + std::to_string(gate_log_lines_suppressed) + ",\n";
  s += "  \"resets_sent\": " + std::to_string(resets_sent) + ",\n";
  s += "  \"resets_suppressed_by_reason\": " + object(resets_suppressed) + ",\n";
  s += "  \"connections\": " + std::to_string(connections) + ",\n";
  s += "  \"connections_closed\": " + std::to_string(connections_closed) + ",\n";
  s += "  \"migrations\": " + std::to_string(migrations) + ",\n";
  s += "  \"moves_to_preferred_address\": " + std::to_string(moves_to_preferred_address) + ",\n";
  s += "  \"transport_parameter_errors\": " + std::to_string(transport_parameter_errors) + ",\n";
  s += "  \"spellings\": " + object(spellings) + ",\n";
  s += "  \"enforcement\": \"" + enforcement + "\",\n";
  s += "  \"native_disagreements\": " + std::to_string(native_disagreements) + "\n";
  return s + "}\n";
}

bool ServerStats::write(const std::string &path) const {
  auto tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return false;
    f << json();
    if (!f) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace qamp::ex
