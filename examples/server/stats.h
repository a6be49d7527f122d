// examples/server/stats.h — the counters an operator reads (--stats-file, SIGUSR1).
//
// What a component already counts is read from it when the file is written, not counted again:
// the gate's GateCounters (datagrams accepted / dropped by reason) and the reset guard's
// ResetCounters (resets sent / suppressed by reason). ServerStats holds only what no component
// counts: the dispatcher's, admission's (qamp::admit is a pure function and keeps no counters)
// and what the connections learn after ngtcp2 read a datagram. Keys are the components' enums;
// their to_string names appear only in the JSON.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "qamp/admission.h"
#include "qamp/gate.h"
#include "qamp/reset_guard.h"
#include "qamp/tp_codec.h"

namespace qamp::server {

struct ServerStats {
  std::uint64_t datagrams_received = 0;
  // Path changes ngtcp2 took, by the gate reason that let them through.
  std::array<std::uint64_t, kGateReasonCount> path_changes{};
  // Datagrams on a new path that the gate let through but ngtcp2 did not move to (they did not
  // decrypt, e.g. spoofed with a live DCID, or a probe answered on the side).
  std::uint64_t path_changes_not_taken = 0;
  std::uint64_t gate_log_lines_suppressed = 0;  // over the per-connection or server-wide budget
  std::uint64_t connections = 0;
  // New-Initial admission (qamp/admission.h): Retry packets sent, Initials accepted with a valid
  // Retry token, and Initials refused (dropped) by reason (refuse-max-connections, ...).
  std::uint64_t retries_sent = 0;
  std::uint64_t connections_validated = 0;
  std::map<AdmissionReason, std::uint64_t> initials_refused;
  std::uint64_t connections_peak = 0, half_open_peak = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t migrations = 0;                  // validated client address changes
  std::uint64_t moves_to_preferred_address = 0;  // validated moves to a preferred address
  std::uint64_t transport_parameter_errors = 0;
  // Negotiated spelling per connection; nullopt: plain RFC 9000 ("rfc9000").
  std::map<std::optional<Spelling>, std::uint64_t> spellings;
  std::string enforcement = "layer";  // --enforcement
  // native: datagrams the gate calls forbidden whose path ngtcp2 nevertheless took (must be 0)
  std::uint64_t native_disagreements = 0;

  // The stats file: these counters with the gate's and the reset guard's. Maps by reason list
  // only the reasons that occurred (tests read an empty object as "none").
  std::string json(const GateCounters &gate, const ResetCounters &resets) const;
  // Writes json() to `path` atomically (tmp + rename). Returns false on error.
  bool write(const std::string &path, const GateCounters &gate, const ResetCounters &resets) const;
};

}  // namespace qamp::server
