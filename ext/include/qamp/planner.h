// qamp/planner.h — what to do with a running download when the client's network changes and
// the policy forbids migrating the connection (DESIGN.md §4 "Download planner").
//
// Pure function over numbers: finish on the old path, or open a new connection on the new path
// and either resume with an HTTP Range request (RFC 9110 §14.2) or start over. Only a response
// that is resumable (Accept-Ranges: bytes and a validator, ETag or Last-Modified, RFC 9110
// §13.1) can be resumed; a non-resumable one restarts from zero, so near its end it stays
// ("the last few percent slowly is better than starting over").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qamp {

enum class Strategy : std::uint8_t {
  stay,              // keep the connection on the old path and finish there
  reconnect_resume,  // new connection on the new path, "Range: bytes=<received>-"
  restart,           // new connection on the new path, the whole body again
};
std::string_view to_string(Strategy strategy) noexcept;  // "stay", "resume", "restart"

// CLI --reconnect: let the planner choose, or force a side (lab comparisons).
enum class ForcedStrategy : std::uint8_t { automatic, stay, reconnect };
std::string_view to_string(ForcedStrategy forced) noexcept;  // "auto", "stay", "reconnect"
std::optional<ForcedStrategy> parse_forced_strategy(std::string_view text) noexcept;

enum class PlanReason : std::uint8_t {
  stay_faster,                  // finishing on the old path is the quickest
  resume_faster,                // a new connection resuming with Range is the quickest
  restart_faster,               // non-resumable, yet starting over on the new path is quicker
  old_path_gone_resume,         // the old path is gone; resumable: resume
  old_path_gone_restart,        // the old path is gone; non-resumable: start over
  non_resumable_near_end_stay,  // a resume would win, but the body cannot be resumed and a
                                // restart costs more than finishing slowly
  forced_stay,                  // ForcedStrategy::stay (obeyed even with the old path gone)
  forced_reconnect,             // ForcedStrategy::reconnect (restart if non-resumable)
  already_complete,             // nothing left to download
};
std::string_view to_string(PlanReason reason) noexcept;

struct PlannerInput {
  // Content-Length (or the complete length of a Content-Range). Unknown (chunked, no length):
  // the body is planned as non-resumable (a Range resume cannot be checked for completeness)
  // and the bytes left are estimated as max(received, kUnknownSizeMinRemaining).
  std::optional<std::uint64_t> body_size = std::nullopt;
  std::uint64_t received = 0;                     // body bytes already received
  bool resumable = false;                         // Accept-Ranges: bytes AND a validator (ETag / Last-Modified)
  double old_rate = 0;                            // measured goodput of the old path, bytes/s (0: stalled)
  double old_rtt = 0;                             // smoothed RTT of the old path, seconds
  bool old_path_usable = true;                    // false: the old path is gone, staying cannot finish
  std::optional<double> new_rate = std::nullopt;  // new path goodput estimate; default old_rate
  std::optional<double> new_rtt = std::nullopt;   // new path RTT estimate; default old_rtt
  // Seconds before the first body byte on a new connection; default 2 * new RTT (handshake,
  // then the request).
  std::optional<double> handshake_cost = std::nullopt;
  ForcedStrategy forced = ForcedStrategy::automatic;
};

// Bytes assumed left when the body size is unknown and little was received.
inline constexpr std::uint64_t kUnknownSizeMinRemaining = 1024 * 1024;

struct Plan {
  Strategy chosen;
  PlanReason reason;
  // Expected seconds until the body is complete for each candidate; +infinity when impossible
  // (stay with the old path gone, resume of a non-resumable body) or stalled (a rate of 0).
  double stay_s;
  double resume_s;
  double restart_s;
  bool size_estimated = false;  // body_size was unknown: the times rest on a guess
  double seconds(Strategy strategy) const noexcept;
};

// The download planner. Stateless today (every figure comes in PlannerInput); a class so that
// measured-rate state and knobs (issue 13) have one home and callers already hold one.
class Planner {
 public:
  // Picks the strategy with the least expected completion time; ties go to stay, then resume
  // (no change is cheaper than a change). Forced strategies are obeyed, except that nothing is
  // done for a complete body (already_complete).
  Plan choose(const PlannerInput &input) const noexcept;
};

// "bytes=N-": the Range header value that resumes after `received` bytes (RFC 9110 §14.1.2).
std::string range_header(std::uint64_t received);

// "stay: 3.2s vs resume 5.1s vs restart 9.0s (stay-faster)"; "inf" for an impossible candidate.
std::string to_string(const Plan &plan);

}  // namespace qamp
