// Download planner: one row per scenario; expected strategies, reasons and times are written in
// the tables (worked out by hand from the numbers in each block's comment).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_floating_point.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "qamp/planner.h"

using namespace qamp;
using Catch::Matchers::WithinAbs;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_seconds(double got, double want) {
  if (std::isinf(want)) {
    CHECK(std::isinf(got));
  } else {
    CHECK_THAT(got, WithinAbs(want, 1e-9));
  }
}

void check_times(const Plan &plan, double stay, double resume, double restart) {
  check_seconds(plan.stay_s, stay);
  check_seconds(plan.resume_s, resume);
  check_seconds(plan.restart_s, restart);
}

}  // namespace

// Body 100 MB, old path 1 MB/s with 100 ms RTT (a new connection costs 2 * 0.1 = 0.2 s).
// New path: faster 4 MB/s, slower 0.5 MB/s, equal 1 MB/s.
//   stay    = remaining / 1 MB/s                        (inf with the old path gone)
//   resume  = 0.2 + remaining / new                     (inf when not resumable)
//   restart = 0.2 + 100 MB / new                        (25.2 / 200.2 / 100.2)
TEST_CASE("planner: share received x resumable x new path speed x old path") {
  enum class NewPath { faster, slower, equal };
  struct Row {
    const char *name;
    int percent;
    bool resumable;
    NewPath speed;
    bool old_usable;
    Strategy chosen;
    PlanReason reason;
    double stay_s, resume_s, restart_s;
  };
  using S = Strategy;
  using R = PlanReason;
  constexpr auto F = NewPath::faster;
  constexpr auto L = NewPath::slower;
  constexpr auto E = NewPath::equal;
  const std::vector<Row> rows = {
      // 10 % received: 90 MB left.
      {"10% resumable faster usable: resume wins", 10, true, F, true, S::reconnect_resume, R::resume_faster, 90, 22.7,
       25.2},
      {"10% resumable slower usable: stay", 10, true, L, true, S::stay, R::stay_faster, 90, 180.2, 200.2},
      {"10% resumable equal usable: handshake cost tips it to stay", 10, true, E, true, S::stay, R::stay_faster, 90,
       90.2, 100.2},
      {"10% resumable faster gone", 10, true, F, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 22.7, 25.2},
      {"10% resumable slower gone", 10, true, L, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 180.2,
       200.2},
      {"10% resumable equal gone", 10, true, E, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 90.2, 100.2},
      {"10% non-resumable faster usable: restart beats 90 s", 10, false, F, true, S::restart, R::restart_faster, 90,
       kInf, 25.2},
      {"10% non-resumable slower usable: stay", 10, false, L, true, S::stay, R::stay_faster, 90, kInf, 200.2},
      {"10% non-resumable equal usable: stay", 10, false, E, true, S::stay, R::stay_faster, 90, kInf, 100.2},
      {"10% non-resumable faster gone", 10, false, F, false, S::restart, R::old_path_gone_restart, kInf, kInf, 25.2},
      {"10% non-resumable slower gone", 10, false, L, false, S::restart, R::old_path_gone_restart, kInf, kInf, 200.2},
      {"10% non-resumable equal gone", 10, false, E, false, S::restart, R::old_path_gone_restart, kInf, kInf, 100.2},
      // 50 %: 50 MB left.
      {"50% resumable faster usable", 50, true, F, true, S::reconnect_resume, R::resume_faster, 50, 12.7, 25.2},
      {"50% resumable slower usable", 50, true, L, true, S::stay, R::stay_faster, 50, 100.2, 200.2},
      {"50% resumable equal usable", 50, true, E, true, S::stay, R::stay_faster, 50, 50.2, 100.2},
      {"50% resumable faster gone", 50, true, F, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 12.7, 25.2},
      {"50% resumable slower gone", 50, true, L, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 100.2,
       200.2},
      {"50% resumable equal gone", 50, true, E, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 50.2, 100.2},
      {"50% non-resumable faster usable: restart 25.2 < stay 50", 50, false, F, true, S::restart, R::restart_faster, 50,
       kInf, 25.2},
      {"50% non-resumable slower usable", 50, false, L, true, S::stay, R::stay_faster, 50, kInf, 200.2},
      {"50% non-resumable equal usable", 50, false, E, true, S::stay, R::stay_faster, 50, kInf, 100.2},
      {"50% non-resumable faster gone", 50, false, F, false, S::restart, R::old_path_gone_restart, kInf, kInf, 25.2},
      {"50% non-resumable slower gone", 50, false, L, false, S::restart, R::old_path_gone_restart, kInf, kInf, 200.2},
      {"50% non-resumable equal gone", 50, false, E, false, S::restart, R::old_path_gone_restart, kInf, kInf, 100.2},
      // 95 %: 5 MB left.
      {"95% resumable faster usable", 95, true, F, true, S::reconnect_resume, R::resume_faster, 5, 1.45, 25.2},
      {"95% resumable slower usable", 95, true, L, true, S::stay, R::stay_faster, 5, 10.2, 200.2},
      {"95% resumable equal usable", 95, true, E, true, S::stay, R::stay_faster, 5, 5.2, 100.2},
      {"95% resumable faster gone", 95, true, F, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 1.45, 25.2},
      {"95% resumable slower gone", 95, true, L, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 10.2,
       200.2},
      {"95% resumable equal gone", 95, true, E, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 5.2, 100.2},
      {"95% non-resumable faster usable: last few percent slowly beats starting over", 95, false, F, true, S::stay,
       R::non_resumable_near_end_stay, 5, kInf, 25.2},
      {"95% non-resumable slower usable", 95, false, L, true, S::stay, R::stay_faster, 5, kInf, 200.2},
      {"95% non-resumable equal usable", 95, false, E, true, S::stay, R::stay_faster, 5, kInf, 100.2},
      {"95% non-resumable faster gone", 95, false, F, false, S::restart, R::old_path_gone_restart, kInf, kInf, 25.2},
      {"95% non-resumable slower gone", 95, false, L, false, S::restart, R::old_path_gone_restart, kInf, kInf, 200.2},
      {"95% non-resumable equal gone", 95, false, E, false, S::restart, R::old_path_gone_restart, kInf, kInf, 100.2},
      // 99 %: 1 MB left.
      {"99% resumable faster usable", 99, true, F, true, S::reconnect_resume, R::resume_faster, 1, 0.45, 25.2},
      {"99% resumable slower usable", 99, true, L, true, S::stay, R::stay_faster, 1, 2.2, 200.2},
      {"99% resumable equal usable", 99, true, E, true, S::stay, R::stay_faster, 1, 1.2, 100.2},
      {"99% resumable faster gone", 99, true, F, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 0.45, 25.2},
      {"99% resumable slower gone", 99, true, L, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 2.2, 200.2},
      {"99% resumable equal gone", 99, true, E, false, S::reconnect_resume, R::old_path_gone_resume, kInf, 1.2, 100.2},
      {"99% non-resumable faster usable: near the end, stay", 99, false, F, true, S::stay,
       R::non_resumable_near_end_stay, 1, kInf, 25.2},
      {"99% non-resumable slower usable", 99, false, L, true, S::stay, R::stay_faster, 1, kInf, 200.2},
      {"99% non-resumable equal usable", 99, false, E, true, S::stay, R::stay_faster, 1, kInf, 100.2},
      {"99% non-resumable faster gone", 99, false, F, false, S::restart, R::old_path_gone_restart, kInf, kInf, 25.2},
      {"99% non-resumable slower gone", 99, false, L, false, S::restart, R::old_path_gone_restart, kInf, kInf, 200.2},
      {"99% non-resumable equal gone", 99, false, E, false, S::restart, R::old_path_gone_restart, kInf, kInf, 100.2},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    PlannerInput in;
    in.body_size = 100'000'000;
    in.received = static_cast<std::uint64_t>(row.percent) * 1'000'000;
    in.resumable = row.resumable;
    in.old_rate = 1e6;
    in.old_rtt = 0.1;
    in.old_path_usable = row.old_usable;
    in.new_rate = row.speed == NewPath::faster ? 4e6 : row.speed == NewPath::slower ? 0.5e6 : 1e6;
    const Plan plan = Planner{}.choose(in);
    CHECK(plan.chosen == row.chosen);
    CHECK(plan.reason == row.reason);
    CHECK_FALSE(plan.size_estimated);
    check_times(plan, row.stay_s, row.resume_s, row.restart_s);
  }
}

// Forced strategies, same numbers: 50 MB of 100 MB left, old 1 MB/s, 0.2 s to reconnect.
TEST_CASE("planner: forced strategies") {
  struct Row {
    const char *name;
    ForcedStrategy forced;
    bool resumable;
    double new_rate;
    bool old_usable;
    std::uint64_t received;
    Strategy chosen;
    PlanReason reason;
    double stay_s, resume_s, restart_s;
  };
  using S = Strategy;
  using R = PlanReason;
  using FS = ForcedStrategy;
  const std::vector<Row> rows = {
      {"forced stay although resume is faster", FS::stay, true, 4e6, true, 50'000'000, S::stay, R::forced_stay, 50,
       12.7, 25.2},
      {"forced stay with the old path gone: obeyed, never finishes", FS::stay, true, 4e6, false, 50'000'000, S::stay,
       R::forced_stay, kInf, 12.7, 25.2},
      {"forced reconnect, resumable: resume", FS::reconnect, true, 0.5e6, true, 50'000'000, S::reconnect_resume,
       R::forced_reconnect, 50, 100.2, 200.2},
      {"forced reconnect, non-resumable: restart", FS::reconnect, false, 4e6, true, 95'000'000, S::restart,
       R::forced_reconnect, 5, kInf, 25.2},
      {"forced reconnect, old path gone, resumable", FS::reconnect, true, 1e6, false, 50'000'000, S::reconnect_resume,
       R::forced_reconnect, kInf, 50.2, 100.2},
      {"forced reconnect on a complete body: nothing to do", FS::reconnect, true, 4e6, true, 100'000'000, S::stay,
       R::already_complete, 0, 0.2, 25.2},
      {"auto", FS::automatic, true, 4e6, true, 50'000'000, S::reconnect_resume, R::resume_faster, 50, 12.7, 25.2},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    PlannerInput in;
    in.body_size = 100'000'000;
    in.received = row.received;
    in.resumable = row.resumable;
    in.old_rate = 1e6;
    in.old_rtt = 0.1;
    in.old_path_usable = row.old_usable;
    in.new_rate = row.new_rate;
    in.forced = row.forced;
    const Plan plan = Planner{}.choose(in);
    CHECK(plan.chosen == row.chosen);
    CHECK(plan.reason == row.reason);
    check_times(plan, row.stay_s, row.resume_s, row.restart_s);
  }
}

TEST_CASE("planner: edge cases") {
  struct Row {
    const char *name;
    PlannerInput in;
    Strategy chosen;
    PlanReason reason;
    double stay_s, resume_s, restart_s;
    bool estimated;
  };
  using S = Strategy;
  using R = PlanReason;
  constexpr std::uint64_t MB = 1'000'000;
  // Designated initialisers: body_size, received, resumable, old_rate, old_rtt, old_path_usable,
  // new_rate, new_rtt, handshake_cost, forced.
  const std::vector<Row> rows = {
      {"0 bytes received, equal paths: stay (no reconnect cost)",
       {.body_size = 100 * MB, .received = 0, .resumable = true, .old_rate = 1e6, .old_rtt = 0.1},
       S::stay,
       R::stay_faster,
       100,
       100.2,
       100.2,
       false},
      {"0 bytes received, faster path: resume and restart tie, resume preferred",
       {.body_size = 100 * MB, .received = 0, .resumable = true, .old_rate = 1e6, .old_rtt = 0.1, .new_rate = 4e6},
       S::reconnect_resume,
       R::resume_faster,
       100,
       25.2,
       25.2,
       false},
      {"0 bytes received, non-resumable, faster path: restart",
       {.body_size = 100 * MB, .received = 0, .resumable = false, .old_rate = 1e6, .old_rtt = 0.1, .new_rate = 4e6},
       S::restart,
       R::restart_faster,
       100,
       kInf,
       25.2,
       false},
      {"complete body: nothing to do",
       {.body_size = 100 * MB,
        .received = 100 * MB,
        .resumable = true,
        .old_rate = 1e6,
        .old_rtt = 0.1,
        .new_rate = 4e6},
       S::stay,
       R::already_complete,
       0,
       0.2,
       25.2,
       false},
      {"complete body, old path gone: still nothing to do",
       {.body_size = 100 * MB,
        .received = 100 * MB,
        .resumable = false,
        .old_rate = 1e6,
        .old_rtt = 0.1,
        .old_path_usable = false},
       S::stay,
       R::already_complete,
       0,
       kInf,
       100.2,
       false},
      {"more received than announced: complete",
       {.body_size = 10 * MB, .received = 11 * MB, .resumable = true, .old_rate = 1e6, .old_rtt = 0.1},
       S::stay,
       R::already_complete,
       0,
       0.2,
       11.2,
       false},
      {"old path stalled (rate 0), resumable: resume",
       {.body_size = 100 * MB, .received = 50 * MB, .resumable = true, .old_rate = 0, .old_rtt = 0.1, .new_rate = 1e6},
       S::reconnect_resume,
       R::resume_faster,
       kInf,
       50.2,
       100.2,
       false},
      {"old path stalled (rate 0), non-resumable: restart",
       {.body_size = 100 * MB, .received = 50 * MB, .resumable = false, .old_rate = 0, .old_rtt = 0.1, .new_rate = 1e6},
       S::restart,
       R::restart_faster,
       kInf,
       kInf,
       100.2,
       false},
      {"negative old rate counts as stalled",
       {.body_size = 100 * MB, .received = 50 * MB, .resumable = true, .old_rate = -5, .old_rtt = 0.1, .new_rate = 1e6},
       S::reconnect_resume,
       R::resume_faster,
       kInf,
       50.2,
       100.2,
       false},
      {"new path rate 0: stay",
       {.body_size = 100 * MB, .received = 50 * MB, .resumable = true, .old_rate = 1e6, .old_rtt = 0.1, .new_rate = 0},
       S::stay,
       R::stay_faster,
       50,
       kInf,
       kInf,
       false},
      {"both rates 0: stay (ties go to stay)",
       {.body_size = 100 * MB, .received = 50 * MB, .resumable = true, .old_rate = 0, .old_rtt = 0.1},
       S::stay,
       R::stay_faster,
       kInf,
       kInf,
       kInf,
       false},
      {"both rates 0, old path gone: resume anyway",
       {.body_size = 100 * MB,
        .received = 50 * MB,
        .resumable = true,
        .old_rate = 0,
        .old_rtt = 0.1,
        .old_path_usable = false},
       S::reconnect_resume,
       R::old_path_gone_resume,
       kInf,
       kInf,
       kInf,
       false},
      {"given handshake cost 10 s: resume 11.25 s loses to stay 5 s",
       {.body_size = 100 * MB,
        .received = 95 * MB,
        .resumable = true,
        .old_rate = 1e6,
        .old_rtt = 0.1,
        .new_rate = 4e6,
        .handshake_cost = 10.0},
       S::stay,
       R::stay_faster,
       5,
       11.25,
       35,
       false},
      {"new path RTT 1 s: resume 3.25 s beats stay 5 s",
       {.body_size = 100 * MB,
        .received = 95 * MB,
        .resumable = true,
        .old_rate = 1e6,
        .old_rtt = 0.1,
        .new_rate = 4e6,
        .new_rtt = 1.0},
       S::reconnect_resume,
       R::resume_faster,
       5,
       3.25,
       27,
       false},
      {"new path RTT 2 s: resume 5.25 s loses to stay 5 s",
       {.body_size = 100 * MB,
        .received = 95 * MB,
        .resumable = true,
        .old_rate = 1e6,
        .old_rtt = 0.1,
        .new_rate = 4e6,
        .new_rtt = 2.0},
       S::stay,
       R::stay_faster,
       5,
       5.25,
       29,
       false},
      {"unknown size: non-resumable estimate, 10 MB assumed left, restart 5.2 s < stay 10 s",
       {.received = 10 * MB, .resumable = true, .old_rate = 1e6, .old_rtt = 0.1, .new_rate = 4e6},
       S::restart,
       R::restart_faster,
       10,
       kInf,
       5.2,
       true},
      {"unknown size, nothing received: 1 MiB assumed left, stay",
       {.received = 0, .resumable = false, .old_rate = 1e6, .old_rtt = 0.1},
       S::stay,
       R::stay_faster,
       1.048576,
       kInf,
       1.248576,
       true},
      {"unknown size, old path gone: restart",
       {.received = 10 * MB, .resumable = true, .old_rate = 1e6, .old_rtt = 0.1, .old_path_usable = false},
       S::restart,
       R::old_path_gone_restart,
       kInf,
       kInf,
       20.2,
       true},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    const Plan plan = Planner{}.choose(row.in);
    CHECK(plan.chosen == row.chosen);
    CHECK(plan.reason == row.reason);
    CHECK(plan.size_estimated == row.estimated);
    check_times(plan, row.stay_s, row.resume_s, row.restart_s);
  }
}

TEST_CASE("planner: range header") {
  struct Row {
    const char *name;
    std::uint64_t received;
    const char *header;
  };
  const std::vector<Row> rows = {
      {"nothing received", 0, "bytes=0-"},
      {"resume after 12345 bytes (RFC 9110 §14.1.2 open range)", 12345, "bytes=12345-"},
      {"largest offset", UINT64_MAX, "bytes=18446744073709551615-"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    CHECK(range_header(row.received) == row.header);
  }
}

TEST_CASE("planner: log line") {
  struct Row {
    const char *name;
    Plan plan;
    const char *line;
  };
  using S = Strategy;
  using R = PlanReason;
  const std::vector<Row> rows = {
      {"stay", {S::stay, R::stay_faster, 3.2, 5.1, 9.0}, "stay: 3.2s vs resume 5.1s vs restart 9.0s (stay-faster)"},
      {"resume",
       {S::reconnect_resume, R::resume_faster, 50, 12.7, 25.2},
       "resume: 12.7s vs stay 50.0s vs restart 25.2s (resume-faster)"},
      {"restart, resume impossible",
       {S::restart, R::restart_faster, 50, kInf, 25.2},
       "restart: 25.2s vs stay 50.0s vs resume inf (restart-faster)"},
      {"old path gone",
       {S::restart, R::old_path_gone_restart, kInf, kInf, 25.2},
       "restart: 25.2s vs stay inf vs resume inf (old-path-gone-restart)"},
      {"estimated size",
       {S::restart, R::restart_faster, 10, kInf, 5.2, true},
       "restart: 5.2s vs stay 10.0s vs resume inf (restart-faster, size estimated)"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    CHECK(to_string(row.plan) == row.line);
  }
}

TEST_CASE("planner: names and parsers") {
  struct Row {
    const char *text;
    std::optional<ForcedStrategy> value;
  };
  for (const auto &row : std::vector<Row>{{"auto", ForcedStrategy::automatic},
                                          {"stay", ForcedStrategy::stay},
                                          {"reconnect", ForcedStrategy::reconnect},
                                          {"resume", std::nullopt},
                                          {"", std::nullopt}}) {
    CAPTURE(row.text);
    CHECK(parse_forced_strategy(row.text) == row.value);
    if (row.value) CHECK(to_string(*row.value) == row.text);
  }
  CHECK(to_string(Strategy::reconnect_resume) == "resume");
  CHECK(to_string(PlanReason::non_resumable_near_end_stay) == "non-resumable-near-end-stay");
  for (int i = 0; i <= static_cast<int>(PlanReason::already_complete); ++i) {
    CAPTURE(i);
    CHECK(to_string(static_cast<PlanReason>(i)) != "?");
  }
}
