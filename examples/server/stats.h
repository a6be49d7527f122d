// examples/server/stats.h — the counters an operator reads (--stats-file, SIGUSR1).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace qamp::ex {

struct ServerStats {
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagrams_accepted = 0;  // passed the gate (or new/known connection, gate off)
  std::map<std::string, std::uint64_t> dropped;           // forbidden datagrams by reason (dropped by the gate, or by ngtcp2 when native)
  std::map<std::string, std::uint64_t> path_changes;      // path changes ngtcp2 took, by gate reason
  // Datagrams on a new path that the gate let through but ngtcp2 did not move to (they did not
  // decrypt, e.g. spoofed with a live DCID, or a probe answered on the side).
  std::uint64_t path_changes_not_taken = 0;
  std::uint64_t gate_log_lines_suppressed = 0;  // over the per-connection or server-wide budget
  std::uint64_t resets_sent = 0;
  std::map<std::string, std::uint64_t> resets_suppressed;  // by reason
  std::uint64_t connections = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t migrations = 0;                   // validated client address changes
  std::uint64_t moves_to_preferred_address = 0;   // validated moves to a preferred address
  std::uint64_t transport_parameter_errors = 0;
  std::map<std::string, std::uint64_t> spellings;  // negotiated spelling per connection
  std::string enforcement = "layer";               // --enforcement
  // native: datagrams the gate calls forbidden whose path ngtcp2 nevertheless took (must be 0)
  std::uint64_t native_disagreements = 0;

  std::string json() const;
  // Writes json() to `path` atomically (tmp + rename). Returns false on error.
  bool write(const std::string &path) const;
};

}  // namespace qamp::ex
