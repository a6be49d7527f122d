// bench/split_sim.h — an in-memory fluid simulation of two links that drives the real
// qamp::SplitPlanner with measured samples only (issue 13). Used by bench/planner_matrix.cc and
// by tests/unit/split_planner_test.cc, so the benchmark and the tests run one model.
//
// Model (time 0 = the network change; steps of `dt`):
// - Old link: `old_link.rate` bytes/s; its forward stream carries the body from `received` on
//   and stops at the planner's stop mark; hole requests on the old connection are served after
//   it, each one RTT after it was sent. Before time 0 the planner is fed one second (at most the
//   bytes received) of the old stream's history, as a client that measured it all along.
// - New link: handshake = `handshake_rtts` RTTs of the new path, then every request's first
//   byte comes `request_rtts` RTT after it was sent (or after the handshake); the link serves the
//   eligible responses first come, first served, each costing `response_overhead` bytes of
//   headers before its body. The server either honours Range, ignores it (200, same validator)
//   or holds a changed version (If-Range fails: 200 with another validator).
// - The two links are independent (two networks). The file is assembled by the simulator from
//   what each response delivered, not from the planner's own book-keeping, and checked.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "qamp/split_planner.h"

namespace qamp::sim {

struct Link {
  double rate = 2e6;  // bytes/s
  double rtt = 0.05;  // seconds
};

enum class ServerRanges : std::uint8_t { honoured, ignored, validator_changed };

struct Scenario {
  std::uint64_t size = 20'000'000;
  bool length_known = true;
  std::uint64_t received = 0;
  bool resumable = true;
  Link old_link;
  Link new_link;
  double handshake_rtts = 2;
  double request_rtts = 1;
  std::uint64_t response_overhead = 400;
  ServerRanges server = ServerRanges::honoured;  // as seen from the new connection
  bool old_ignores_range = false;                // hole requests on the old connection get 200
  std::optional<double> old_dies_at;
  std::optional<double> old_stalls_at;  // the old link carries nothing from then on (still open)
  // The links' rates change at a time (e.g. the old cell degrades, the new Wi-Fi gets busy).
  std::optional<std::pair<double, double>> old_rate_change;  // {at, new rate}
  std::optional<std::pair<double, double>> new_rate_change;
  // Each link's rate is multiplied by a factor drawn uniformly from [1 - jitter, 1 + jitter]
  // every 10 ms (seeded: the same run every time), so the planner sees noisy samples.
  double jitter = 0;
  std::uint32_t seed = 1;
  std::optional<double> new_dies_at;
  bool new_handshake_fails = false;
  std::optional<double> hint;
  double max_time = 1000;
  double dt = 0;  // 0: min(1 ms, new RTT / 4)
  SplitConfig config;
};

struct Result {
  bool completed = false;
  bool failed = false;
  double seconds = std::numeric_limits<double>::infinity();
  PathId file_from = PathId::old_path;
  bool file_ok = false;         // the assembled file is [0, size) of one version, each byte once
  std::string file_problem;     // why not
  std::uint64_t old_bytes = 0;  // body bytes each link delivered after the change
  std::uint64_t new_bytes = 0;
  std::uint64_t wasted = 0;    // delivered after the change but not in the file
  std::uint64_t overlap = 0;   // bytes of the split file delivered twice
  std::uint64_t file_old = 0;  // bytes of the file from each connection (pre-change bytes: old)
  std::uint64_t file_new = 0;
  double old_done_at = -1;  // when each path delivered its last byte of the file
  double new_done_at = -1;
  std::vector<SplitAction> actions;
  std::vector<std::pair<ByteRange, PathId>> sources;  // the planner's account at the end
};

namespace detail {

struct Req {
  std::uint32_t id;
  PathId path;
  std::uint64_t begin, end;  // body bytes the response carries
  bool whole;                // a 200 (whole body)
  bool open;                 // an open-ended race resume (unknown length)
  bool same_validator;
  double eligible;  // first byte not before
  double overhead_left;
  double got = 0;
  bool responded = false;
  bool cancelled = false;
  bool done = false;
};

// Serves `budget` bytes of the eligible requests in order; calls the planner.
inline double serve(std::vector<Req> &q, double budget, double now, SplitPlanner &p, std::uint64_t size,
                    std::uint64_t &delivered, double &last_byte_at) {
  for (auto &r : q) {
    if (budget <= 0) break;
    if (r.cancelled || r.done || now < r.eligible) continue;
    const double oh = std::min(budget, r.overhead_left);
    r.overhead_left -= oh;
    budget -= oh;
    if (r.overhead_left > 0) break;
    const double len = static_cast<double>(r.end - r.begin);
    const double take = std::min(budget, len - r.got);
    if (!r.responded) {
      r.responded = true;
      p.on_response(now, r.id, r.whole ? 200 : 206, r.same_validator, size);
    }
    if (r.cancelled) continue;  // on_response may cancel (another version)
    r.got += take;
    budget -= take;
    delivered += static_cast<std::uint64_t>(take);
    last_byte_at = now;
    const bool fin = r.got >= len;
    if (fin) r.done = true;
    p.on_request_progress(now, r.id, static_cast<std::uint64_t>(std::floor(r.got)), fin);
    if (!fin) break;  // in order: the next response waits for this one
  }
  return budget;
}

}  // namespace detail

inline Result simulate(const Scenario &s) {
  using detail::Req;
  Result res;
  SplitPlanner p(s.config);
  const std::uint64_t S = s.size;
  double ro = s.old_link.rate, rn = s.new_link.rate;
  const double dt = s.dt > 0 ? s.dt : std::min(1e-3, s.new_link.rtt / 4);
  // History of the old stream before the change.
  const double hist = std::min(1.0, static_cast<double>(s.received) / ro);
  for (int k = 0; k <= 20 && hist > 0; ++k) {
    const double t = -hist + hist * k / 20;
    p.on_old_progress(t, static_cast<std::uint64_t>(static_cast<double>(s.received) + t * ro));
  }
  SplitStart st;
  if (s.length_known) st.body_size = S;
  st.received = s.received;
  st.resumable = s.resumable;
  st.old_rtt = s.old_link.rtt;
  st.new_rate_hint = s.hint;
  p.start(0, st);

  double old_pos = static_cast<double>(s.received);
  double old_stop = static_cast<double>(S);
  bool old_alive = true;
  std::vector<Req> old_q, new_q;
  enum { none, connecting, up, gone } nstate = none;
  double hs_done = 0;
  bool old_version_valid = true;  // false after start_over
  std::uint32_t start_over_kept = 0;
  bool old_fin_reported = false;
  double next_jitter = 0, jo = 1, jn = 1;
  std::uint32_t rng = s.seed ? s.seed : 1;
  const auto next_uniform = [&rng] {  // xorshift32
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return static_cast<double>(rng) / 4294967296.0;
  };

  for (double t = 0; t < s.max_time; t += dt) {
    // Links.
    if (s.old_rate_change && t >= s.old_rate_change->first) ro = s.old_rate_change->second;
    if (s.new_rate_change && t >= s.new_rate_change->first) rn = s.new_rate_change->second;
    if (s.jitter > 0 && t >= next_jitter) {
      next_jitter = t + 0.01;
      jo = 1 + s.jitter * (2 * next_uniform() - 1);
      jn = 1 + s.jitter * (2 * next_uniform() - 1);
    }
    const double ro_base = ro, rn_base = rn;
    ro = ro_base * jo;
    rn = rn_base * jn;
    if (old_alive && s.old_dies_at && t >= *s.old_dies_at) {
      old_alive = false;
      p.on_old_failed(t);
    }
    if (old_alive) {
      double budget = s.old_stalls_at && t >= *s.old_stalls_at ? 0 : ro * dt;
      const double stop = std::min(old_stop, static_cast<double>(S));
      if (old_pos < stop) {
        const double adv = std::min(budget, stop - old_pos);
        old_pos += adv;
        budget -= adv;
        res.old_bytes += static_cast<std::uint64_t>(adv);
        res.old_done_at = t + dt;
      }
      const bool fin = old_pos >= static_cast<double>(S);
      if (!old_fin_reported) p.on_old_progress(t + dt, static_cast<std::uint64_t>(std::floor(old_pos)), fin);
      old_fin_reported = fin;
      detail::serve(old_q, budget, t + dt, p, S, res.old_bytes, res.old_done_at);
    }
    if (nstate == connecting && t >= hs_done) {
      if (s.new_handshake_fails) {
        nstate = gone;
        p.on_new_failed(t);
      } else {
        nstate = up;
        p.on_new_handshake(t, s.new_link.rtt);
        for (auto &r : new_q) r.eligible = std::max(r.eligible, t + s.request_rtts * s.new_link.rtt);
      }
    }
    if (nstate == up && s.new_dies_at && t >= *s.new_dies_at) {
      nstate = gone;
      for (auto &r : new_q) r.cancelled = true;  // what they delivered stays delivered
      p.on_new_failed(t);
    }
    if (nstate == up) detail::serve(new_q, rn * dt, t + dt, p, S, res.new_bytes, res.new_done_at);

    ro = ro_base;
    rn = rn_base;

    // Planner.
    const double now = t + dt;
    int this_step = 0;
    while (auto a = p.next_action(now)) {
      if (++this_step > 10'000) {  // a planner that never settles is a failure, not a hang
        res.failed = true;
        res.file_problem = "more than 10000 actions at one instant";
        break;
      }
      res.actions.push_back(*a);
      switch (a->kind) {
        case SplitActionKind::open_new:
          nstate = connecting;
          hs_done = now + s.handshake_rtts * s.new_link.rtt;
          break;
        case SplitActionKind::request: {
          Req r{a->request, a->path, a->range.begin, a->range.end, false, a->open_end, true, 0, 0};
          if (a->whole_body) r.begin = 0;
          if (a->whole_body || a->open_end) r.end = S;
          const bool ranged = !a->whole_body;
          if (a->path == PathId::new_path && ranged && s.server == ServerRanges::ignored) {
            r.whole = true;
            r.begin = 0;
            r.end = S;
          }
          if (a->path == PathId::new_path && s.server == ServerRanges::validator_changed) {
            r.whole = true;  // If-Range fails: the new version, whole
            r.same_validator = false;
            r.begin = 0;
            r.end = S;
          }
          if (a->path == PathId::old_path && s.old_ignores_range) {
            r.whole = true;
            r.begin = 0;
            r.end = S;
          }
          if (a->whole_body) r.whole = true;
          const Link &l = a->path == PathId::new_path ? s.new_link : s.old_link;
          const double base = a->path == PathId::new_path && nstate != up ? hs_done : now;
          r.eligible = std::max(now, base) + s.request_rtts * l.rtt;
          r.overhead_left = static_cast<double>(s.response_overhead);
          (a->path == PathId::new_path ? new_q : old_q).push_back(r);
          break;
        }
        case SplitActionKind::stop_old_at:
          old_stop = a->range.begin >= S ? static_cast<double>(S) : static_cast<double>(a->range.begin);
          if (old_pos > old_stop) old_pos = old_stop;  // delivered beyond the mark: discarded
          break;
        case SplitActionKind::cancel_request:
          for (auto *q : {&old_q, &new_q})
            for (auto &r : *q)
              if (r.id == a->request) r.cancelled = true;
          break;
        case SplitActionKind::drop_new:
          nstate = gone;
          for (auto &r : new_q) r.cancelled = true;
          break;
        case SplitActionKind::drop_old: old_alive = false; break;
        case SplitActionKind::start_over:
          old_version_valid = false;
          start_over_kept = a->request;
          break;
        case SplitActionKind::complete:
          res.completed = true;
          res.seconds = now;
          res.file_from = a->path;
          break;
        case SplitActionKind::fail: res.failed = true; break;
      }
    }
    if (res.completed || res.failed) break;
  }
  res.sources = p.sources();

  // Assemble and check the file from what the responses delivered.
  const auto total = res.old_bytes + res.new_bytes;
  if (res.completed) {
    std::vector<std::pair<ByteRange, PathId>> pieces;
    const Req *single = nullptr;
    for (const auto &r : new_q)
      if (r.whole && r.responded && r.got >= static_cast<double>(r.end - r.begin) &&
          (start_over_kept == 0 || r.id == start_over_kept))
        single = &r;
    if (res.file_from == PathId::new_path) {
      // One response of the new connection (a 200 race or the new version), or a resume after
      // the old bytes.
      const Req *open = nullptr;
      for (const auto &r : new_q)
        if (!r.whole && r.end == S && r.got >= static_cast<double>(r.end - r.begin) && !r.cancelled) open = &r;
      if (single) {
        pieces.push_back({{0, S}, PathId::new_path});
      } else if (open && old_version_valid) {
        pieces.push_back({{0, open->begin}, PathId::old_path});
        pieces.push_back({{open->begin, S}, PathId::new_path});
      } else {
        res.file_problem = "completed from new without a whole response";
      }
    } else {
      if (!old_version_valid) res.file_problem = "stitched across versions";
      pieces.push_back({{0, static_cast<std::uint64_t>(old_pos)}, PathId::old_path});
      for (const auto *q : {&old_q, &new_q})
        for (const auto &r : *q)
          if (!r.whole && !r.open && r.got > 0)  // a losing race copy is not part of the file
            pieces.push_back({{r.begin, r.begin + static_cast<std::uint64_t>(r.got)}, r.path});
    }
    std::sort(pieces.begin(), pieces.end(), [](const auto &a, const auto &b) { return a.first.begin < b.first.begin; });
    std::uint64_t at = 0, sum = 0;
    for (const auto &[r, path] : pieces) {
      if (r.begin > at && res.file_problem.empty()) res.file_problem = "gap at " + std::to_string(at);
      const std::uint64_t fresh = r.end > std::max(at, r.begin) ? r.end - std::max(at, r.begin) : 0;
      res.overlap += r.size() - fresh;
      (path == PathId::old_path ? res.file_old : res.file_new) += fresh;
      sum += fresh;
      at = std::max(at, r.end);
    }
    if (at < S && res.file_problem.empty()) res.file_problem = "short: " + std::to_string(at);
    res.file_ok = res.file_problem.empty() && sum == S;
    const std::uint64_t useful = res.file_new + res.file_old - std::min(res.file_old, s.received);
    res.wasted = total > useful ? total - useful : 0;
  }
  return res;
}

}  // namespace qamp::sim
