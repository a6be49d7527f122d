#include "qamp/split_planner.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qamp {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::uint64_t kNoEnd = UINT64_MAX;

// Sorted, merged union of ranges.
std::vector<ByteRange> merged(std::vector<ByteRange> v) {
  std::sort(v.begin(), v.end(), [](const ByteRange &a, const ByteRange &b) { return a.begin < b.begin; });
  std::vector<ByteRange> out;
  for (const auto &r : v) {
    if (r.size() == 0) continue;
    if (!out.empty() && r.begin <= out.back().end)
      out.back().end = std::max(out.back().end, r.end);
    else
      out.push_back(r);
  }
  return out;
}

}  // namespace

// ---- RateMeter -------------------------------------------------------------------------------

RateMeter::RateMeter(double window_s, std::uint64_t min_bytes, double min_seconds) noexcept
    : window_s_(window_s), min_bytes_(min_bytes), min_seconds_(min_seconds) {}

void RateMeter::sample(double now, std::uint64_t total, bool busy) {
  if (samples_.empty()) {
    samples_.push_back({now, total, 0});
    return;
  }
  const Sample &last = samples_.back();
  if (now < last.t || total < last.bytes) return;
  samples_.push_back({now, total, last.busy + (busy ? now - last.t : 0)});
  // Keep one sample at or before the window's start.
  while (samples_.size() > 2 && samples_[1].t <= now - window_s_) samples_.pop_front();
}

double RateMeter::rough() const noexcept {
  if (samples_.size() < 2) return 0;
  const double busy = samples_.back().busy - samples_.front().busy;
  if (busy <= 0) return 0;
  return static_cast<double>(samples_.back().bytes - samples_.front().bytes) / busy;
}

double RateMeter::busy_seconds() const noexcept {
  return samples_.size() < 2 ? 0 : samples_.back().busy - samples_.front().busy;
}

std::uint64_t RateMeter::bytes() const noexcept {
  return samples_.size() < 2 ? 0 : samples_.back().bytes - samples_.front().bytes;
}

std::optional<double> RateMeter::trusted() const noexcept {
  if (samples_.size() < 2) return std::nullopt;
  const double busy = samples_.back().busy - samples_.front().busy;
  const std::uint64_t bytes = samples_.back().bytes - samples_.front().bytes;
  if (busy < min_seconds_) return std::nullopt;
  if (bytes < min_bytes_ && busy < window_s_ * 0.9) return std::nullopt;
  return static_cast<double>(bytes) / busy;
}

// ---- names -----------------------------------------------------------------------------------

std::string_view to_string(PathId path) noexcept { return path == PathId::old_path ? "old" : "new"; }

std::string_view to_string(SplitMode mode) noexcept {
  switch (mode) {
    case SplitMode::split: return "split";
    case SplitMode::race: return "race";
    case SplitMode::old_only: return "old-only";
    case SplitMode::new_only: return "new-only";
    case SplitMode::complete: return "complete";
    case SplitMode::failed: return "failed";
  }
  return "?";
}

std::string_view to_string(SplitActionKind kind) noexcept {
  switch (kind) {
    case SplitActionKind::open_new: return "open-new";
    case SplitActionKind::request: return "request";
    case SplitActionKind::stop_old_at: return "stop-old-at";
    case SplitActionKind::cancel_request: return "cancel-request";
    case SplitActionKind::drop_new: return "drop-new";
    case SplitActionKind::drop_old: return "drop-old";
    case SplitActionKind::start_over: return "start-over";
    case SplitActionKind::complete: return "complete";
    case SplitActionKind::fail: return "fail";
  }
  return "?";
}

std::string_view to_string(SplitReason reason) noexcept {
  switch (reason) {
    case SplitReason::measure_new: return "measure-new";
    case SplitReason::tail_chunk: return "tail-chunk";
    case SplitReason::fill_hole: return "fill-hole";
    case SplitReason::race_whole_body: return "race-whole-body";
    case SplitReason::race_resume: return "race-resume";
    case SplitReason::meeting_point: return "meeting-point";
    case SplitReason::over_committed: return "over-committed";
    case SplitReason::new_contribution_small: return "new-contribution-small";
    case SplitReason::old_contribution_small: return "old-contribution-small";
    case SplitReason::new_handshake_failed: return "new-handshake-failed";
    case SplitReason::new_path_failed: return "new-path-failed";
    case SplitReason::old_path_failed: return "old-path-failed";
    case SplitReason::race_new_wins: return "race-new-wins";
    case SplitReason::race_old_wins: return "race-old-wins";
    case SplitReason::race_duplicate_budget: return "race-duplicate-budget";
    case SplitReason::ignored_range: return "ignored-range";
    case SplitReason::validator_changed: return "validator-changed";
    case SplitReason::all_bytes_held: return "all-bytes-held";
    case SplitReason::both_paths_failed: return "both-paths-failed";
    case SplitReason::not_needed: return "not-needed";
  }
  return "?";
}

std::string to_string(const SplitAction &a) {
  std::string out(to_string(a.kind));
  switch (a.kind) {
    case SplitActionKind::request:
      out += " #" + std::to_string(a.request) + " on " + std::string(to_string(a.path)) + ' ';
      if (a.whole_body)
        out += "whole body";
      else if (a.open_end)
        out += "bytes=" + std::to_string(a.range.begin) + "-";
      else
        out += "bytes=" + std::to_string(a.range.begin) + "-" + std::to_string(a.range.end - 1);
      break;
    case SplitActionKind::stop_old_at:
      out += ' ' + (a.range.begin == kNoEnd ? std::string("end") : std::to_string(a.range.begin));
      break;
    case SplitActionKind::cancel_request:
    case SplitActionKind::start_over: out += " #" + std::to_string(a.request); break;
    case SplitActionKind::complete: out += " from " + std::string(to_string(a.path)); break;
    default: break;
  }
  out += " (";
  out += to_string(a.reason);
  out += ')';
  return out;
}

// ---- SplitPlanner ----------------------------------------------------------------------------

std::uint64_t SplitPlanner::Request::remaining() const noexcept {
  if (range.end == kNoEnd) return kNoEnd;
  return range.size() > got ? range.size() - got : 0;
}

SplitPlanner::SplitPlanner(SplitConfig config)
    : cfg_(config),
      old_meter_(config.rate_window_s, config.min_sample_bytes, config.min_sample_s),
      new_meter_(config.rate_window_s, config.min_sample_bytes, config.min_sample_s) {}

void SplitPlanner::start(double now, const SplitStart &s) {
  started_ = true;
  size_ = s.body_size;
  resumable_ = s.resumable;
  y0_ = s.received;
  old_pos_ = std::max(old_pos_, s.received);
  old_rtt_ = s.old_rtt;
  hint_ = s.new_rate_hint;
  old_meter_.sample(now, old_pos_, true);
  mode_ = size_ && resumable_ ? SplitMode::split : SplitMode::race;
}

std::uint64_t SplitPlanner::end() const noexcept { return size_ ? *size_ : kNoEnd; }

SplitPlanner::Request *SplitPlanner::find(std::uint32_t id) noexcept {
  for (auto &r : requests_)
    if (r.id == id) return &r;
  return nullptr;
}

const SplitPlanner::Request *SplitPlanner::find(std::uint32_t id) const noexcept {
  for (const auto &r : requests_)
    if (r.id == id) return &r;
  return nullptr;
}

void SplitPlanner::on_old_progress(double now, std::uint64_t offset, bool finished) {
  if (!old_alive_) return;
  offset = std::max(old_pos_, std::min(offset, old_stop_));  // never backwards, never past the mark
  old_meter_.sample(now, offset, prev_old_busy_);
  old_pos_ = offset;
  if (finished) {
    old_finished_ = true;
    if (!size_ && started_) size_ = old_pos_;
  }
  prev_old_busy_ = !old_finished_ && old_pos_ < std::min(old_stop_, end());
}

void SplitPlanner::on_old_failed(double) {
  if (!old_alive_ || !started_) return;
  old_alive_ = false;
  pending_.push_back({SplitActionKind::drop_old, SplitReason::old_path_failed, PathId::old_path});
  if (mode_ == SplitMode::race) {
    file_path_ = PathId::new_path;
    mode_ = SplitMode::new_only;
  } else if (mode_ == SplitMode::split) {
    mode_ = SplitMode::new_only;
  }
}

void SplitPlanner::on_new_handshake(double now, double rtt) {
  if (new_state_ != NewState::connecting) return;
  new_state_ = NewState::up;
  new_rtt_ = rtt > 0 ? rtt : old_rtt_;
  new_meter_.sample(now, 0, false);
}

void SplitPlanner::on_new_failed(double) {
  if (new_state_ == NewState::gone || !started_) return;
  const bool in_handshake = new_state_ != NewState::up;
  new_state_ = NewState::gone;
  for (auto &r : requests_)
    if (r.path == PathId::new_path && r.live()) r.cancelled = true;
  pending_.push_back(
      {SplitActionKind::drop_new, in_handshake ? SplitReason::new_handshake_failed : SplitReason::new_path_failed});
  if (mode_ == SplitMode::split) {
    mode_ = SplitMode::old_only;
    set_old_stop(lowest_new());
  } else if (mode_ == SplitMode::race) {
    mode_ = SplitMode::old_only;
    set_old_stop(kNoEnd);
  }
}

void SplitPlanner::on_response(double now, std::uint32_t id, int status, bool same_validator,
                               std::optional<std::uint64_t> length) {
  Request *r = find(id);
  if (!r || r->cancelled || mode_ == SplitMode::complete || mode_ == SplitMode::failed) return;
  if (status != 200 && status != 206) {
    if (r->path == PathId::new_path) on_new_failed(now);
    return;
  }
  r->responded = true;
  if (r->path != PathId::new_path) {
    // A hole request on the old connection answered with the whole body or another version:
    // its bytes cannot be placed; the old connection is treated as failed (never stitched).
    if (status != 206 || !same_validator) {
      r->cancelled = true;
      pending_.push_back({SplitActionKind::cancel_request, SplitReason::old_path_failed, r->path, r->id});
      on_old_failed(now);
    }
    return;
  }
  if (!same_validator) {
    // Another version: never stitch. Keep a 200 (the new version from byte 0), drop the rest.
    const bool keep = status == 200;
    for (auto &o : requests_) {
      if (o.cancelled || (keep && o.id == id)) continue;
      if (o.live()) pending_.push_back({SplitActionKind::cancel_request, SplitReason::validator_changed, o.path, o.id});
      o.cancelled = true;
    }
    if (old_alive_) {
      old_alive_ = false;
      pending_.push_back({SplitActionKind::drop_old, SplitReason::validator_changed, PathId::old_path});
    }
    std::vector<Request> kept;
    if (keep) {
      r->whole_body = true;
      r->open_end = false;
      r->range = {0, length ? *length : kNoEnd};
      kept.push_back(*r);
    }
    requests_ = std::move(kept);
    size_ = length;
    resumable_ = false;
    y0_ = old_pos_ = 0;
    race_request_ = keep ? id : 0;
    file_path_ = PathId::new_path;
    mode_ = SplitMode::new_only;
    pending_.push_back({SplitActionKind::start_over, SplitReason::validator_changed, PathId::new_path, keep ? id : 0u});
    return;
  }
  if (status == 200 && !r->whole_body) {
    // The server ignored the Range: this response is the whole body; race it, never stitch.
    r->whole_body = true;
    r->open_end = false;
    r->range = {0, end()};
    race_request_ = id;
    race_requested_ = true;
    for (auto &o : requests_)
      if (o.id != id && o.path == PathId::new_path && o.live()) {
        o.cancelled = true;
        pending_.push_back({SplitActionKind::cancel_request, SplitReason::ignored_range, o.path, o.id});
      }
    if (old_alive_) {
      mode_ = SplitMode::race;
      race_old_start_ = old_pos_;
      set_old_stop(kNoEnd);
    } else {
      mode_ = SplitMode::new_only;
      file_path_ = PathId::new_path;
    }
  }
}

void SplitPlanner::on_request_progress(double now, std::uint32_t id, std::uint64_t bytes, bool finished) {
  Request *r = find(id);
  if (!r || r->cancelled) return;
  r->got = std::max(r->got, r->range.end == kNoEnd ? bytes : std::min(bytes, r->range.size()));
  if (finished || (r->range.end != kNoEnd && r->got >= r->range.size())) {
    r->finished = true;
    if (r->range.end == kNoEnd) {
      r->range.end = r->range.begin + r->got;
      if (!size_ && (r->whole_body || r->open_end)) size_ = r->range.end;
    }
  }
  if (r->path == PathId::new_path) sample_new(now);
}

void SplitPlanner::sample_new(double now) {
  std::uint64_t total = 0;
  bool busy = false;
  for (const auto &r : requests_) {
    if (r.path != PathId::new_path) continue;
    total += r.got;
    if (r.live() && r.responded) busy = true;
  }
  // The first new_burst_skip bytes are not measured: they come in a burst (the sender's initial
  // window drained through a bottleneck's queue: 20 ms of the e2e relay's 4 MB/s link measured
  // 6 MB/s, and a race was decided for the wrong path). The meter starts over after them.
  if (!new_meter_started_) {
    if (total > 0 && new_first_byte_at_ < 0) new_first_byte_at_ = now;
    const bool burst_over = new_first_byte_at_ >= 0 && now >= new_first_byte_at_ + new_rtt_;
    if (total < cfg_.new_burst_skip && !burst_over) {
      prev_new_busy_ = busy;
      return;
    }
    new_meter_started_ = true;
    new_meter_ = RateMeter(cfg_.rate_window_s, cfg_.min_sample_bytes, cfg_.min_sample_s);
    new_meter_.sample(now, total, false);
    prev_new_busy_ = busy;
    return;
  }
  new_meter_.sample(now, total, prev_new_busy_);
  prev_new_busy_ = busy;
}

std::uint64_t SplitPlanner::new_outstanding() const noexcept {
  std::uint64_t sum = 0;
  for (const auto &r : requests_)
    if (r.path == PathId::new_path && r.live()) {
      const auto left = r.remaining();
      sum = left == kNoEnd ? kNoEnd : sum + left;
      if (sum == kNoEnd) break;
    }
  return sum;
}

std::uint64_t SplitPlanner::lowest_new() const noexcept {
  std::uint64_t low = end();
  for (const auto &r : requests_)
    if (r.path == PathId::new_path && !r.whole_body && !r.open_end && (!r.cancelled || r.got > 0))
      low = std::min(low, r.range.begin);
  return low;
}

std::vector<ByteRange> SplitPlanner::holes() const {
  const std::uint64_t S = end();
  std::vector<ByteRange> have{{0, old_pos_}};
  if (old_alive_ && !old_finished_) have.push_back({old_pos_, std::min(old_stop_, S)});
  for (const auto &r : requests_) {
    if (r.whole_body) continue;
    if (r.cancelled)
      have.push_back({r.range.begin, r.range.begin + r.got});
    else
      have.push_back(r.range);
  }
  std::vector<ByteRange> out;
  std::uint64_t at = 0;
  for (const auto &h : merged(have)) {
    if (h.begin > at) out.push_back({at, std::min(h.begin, S)});
    at = std::max(at, h.end);
    if (at >= S) break;
  }
  if (at < S) out.push_back({at, S});
  return out;
}

bool SplitPlanner::all_held() const {
  if (!size_) return false;
  std::vector<ByteRange> have{{0, old_pos_}};
  for (const auto &r : requests_)
    if (!r.whole_body) have.push_back({r.range.begin, r.range.begin + r.got});
  const auto m = merged(have);
  return !m.empty() && m.front().begin == 0 && m.front().end >= *size_;
}

double SplitPlanner::old_rate_est() const noexcept {
  if (auto r = old_meter_.trusted()) return *r;
  return old_meter_.rough();
}

double SplitPlanner::new_rate_est() const noexcept {
  if (auto r = new_meter_.trusted()) return *r;
  // Before the rate is trusted: the hint, else the old path's rate, raised by what arrived only
  // as far as it is credible. The first bytes of a response come in a burst (the sender's
  // initial window, a bottleneck's queue: 64 KiB in 1 ms on a 4 MB/s link, measured on the
  // e2e relay), so they count over at least a quarter of min_sample_s of busy time (64 KiB:
  // 13 MB/s). Taken at face value (64 MB/s, 16x the link) they put the whole tail in flight at
  // once and left the old path nothing (the first e2e split run).
  const double floor = hint_ ? *hint_ : old_rate_est();
  const double busy = new_meter_.busy_seconds();
  if (busy <= 0) return floor;
  return std::max(floor, static_cast<double>(new_meter_.bytes()) / std::max(busy, cfg_.min_sample_s / 4));
}

std::uint64_t SplitPlanner::chunk_size(double rn) const noexcept {
  double c = rn * new_rtt_ * cfg_.chunk_rtts;
  c = std::clamp(c, static_cast<double>(cfg_.min_chunk), static_cast<double>(cfg_.max_chunk));
  std::uint64_t unassigned = 0;
  for (const auto &h : holes()) unassigned += h.size();
  if (mode_ == SplitMode::split && old_alive_) unassigned = lowest_new() - std::min(old_pos_, lowest_new());
  const double cap = std::max(static_cast<double>(unassigned) / std::max(1u, cfg_.chunk_granularity), 16.0 * 1024);
  return static_cast<std::uint64_t>(std::min(c, cap));
}

void SplitPlanner::set_old_stop(std::uint64_t stop) {
  stop = std::max(stop, old_pos_);  // what the old stream delivered stays delivered
  old_stop_ = stop;
  if (!old_alive_ || stop == emitted_stop_) return;
  emitted_stop_ = stop;
  SplitAction a{SplitActionKind::stop_old_at, SplitReason::meeting_point, PathId::old_path};
  a.range = {stop, stop};
  pending_.push_back(a);
  prev_old_busy_ = !old_finished_ && old_pos_ < std::min(old_stop_, end());
}

std::uint64_t SplitPlanner::race_bytes() const noexcept {
  std::uint64_t got = 0;
  if (const auto *r = find(race_request_)) got = r->got;
  return got + (old_pos_ - std::min(old_pos_, race_old_start_));
}

std::optional<SplitAction> SplitPlanner::new_request(double now, PathId path, ByteRange range, SplitReason reason,
                                                     bool whole, bool open_end) {
  Request r{next_id_++, path, range};
  r.whole_body = whole;
  r.open_end = open_end;
  r.sent = now;
  requests_.push_back(r);
  SplitAction a{SplitActionKind::request, reason, path, r.id, range};
  a.whole_body = whole;
  a.open_end = open_end;
  return a;
}

std::optional<SplitAction> SplitPlanner::next_action(double now) {
  if (!pending_.empty()) {
    auto a = pending_.front();
    pending_.pop_front();
    return a;
  }
  auto a = decide(now);
  if (a || pending_.empty()) return a;
  a = pending_.front();
  pending_.pop_front();
  return a;
}

std::optional<SplitAction> SplitPlanner::decide(double now) {
  if (!started_ || mode_ == SplitMode::complete || mode_ == SplitMode::failed) return std::nullopt;
  // Complete?
  bool done = false;
  PathId from = PathId::old_path;
  const Request *race = find(race_request_);
  if (file_path_ == PathId::new_path && race) {
    done = race->finished && (mode_ == SplitMode::new_only || mode_ == SplitMode::race);
    from = PathId::new_path;
  }
  if (!done && mode_ == SplitMode::race && race && race->finished) {
    done = true;  // the new connection finished its copy first
    from = PathId::new_path;
    file_path_ = PathId::new_path;
    if (old_alive_) {
      old_alive_ = false;
      pending_.push_back({SplitActionKind::drop_old, SplitReason::race_new_wins, PathId::old_path});
    }
  }
  if (!done && (mode_ != SplitMode::new_only || file_path_ == PathId::old_path)) {
    if (size_ ? all_held() : old_finished_) done = true;
    from = PathId::old_path;
  }
  if (done) {
    for (auto &r : requests_)
      if (r.live()) {
        r.cancelled = true;
        pending_.push_back({SplitActionKind::cancel_request, SplitReason::not_needed, r.path, r.id});
      }
    if (new_state_ == NewState::connecting)  // never carried a byte
      pending_.push_back({SplitActionKind::drop_new, SplitReason::not_needed});
    mode_ = SplitMode::complete;
    pending_.push_back({SplitActionKind::complete, SplitReason::all_bytes_held, from});
    return std::nullopt;
  }
  if (new_state_ == NewState::not_opened) {
    new_state_ = NewState::connecting;
    return SplitAction{SplitActionKind::open_new, SplitReason::measure_new};
  }
  if (!old_alive_ && new_state_ == NewState::gone) {
    mode_ = SplitMode::failed;
    return SplitAction{SplitActionKind::fail, SplitReason::both_paths_failed};
  }
  switch (mode_) {
    case SplitMode::split: return decide_split(now);
    case SplitMode::race: return decide_race(now);
    case SplitMode::old_only: return fill_holes(now, PathId::old_path);
    case SplitMode::new_only:
      if (file_path_ == PathId::new_path || !size_ || !resumable_) {
        if (race_request_ != 0 || new_state_ != NewState::up) return std::nullopt;
        file_path_ = PathId::new_path;
        const bool open = resumable_ && !size_;
        auto a = new_request(now, PathId::new_path, {open ? old_pos_ : 0, end()},
                             open ? SplitReason::race_resume : SplitReason::race_whole_body, !open, open);
        race_request_ = a->request;
        return a;
      }
      return fill_holes(now, PathId::new_path);
    default: return std::nullopt;
  }
}

std::optional<SplitAction> SplitPlanner::fill_holes(double now, PathId path) {
  if (!size_) return std::nullopt;
  auto h = holes();
  if (h.empty()) return std::nullopt;
  if (path == PathId::old_path) {
    if (!old_alive_) return std::nullopt;
    // The forward stream covers [old_pos, old_stop); request the other holes whole.
    return new_request(now, path, h.front(), SplitReason::fill_hole, false, false);
  }
  if (new_state_ != NewState::up) return std::nullopt;
  const double rn = new_rate_est();
  const std::uint64_t c = std::max<std::uint64_t>(chunk_size(rn), 16 * 1024);
  const double target = rn * new_rtt_ * cfg_.pipeline_rtts + static_cast<double>(c);
  if (static_cast<double>(new_outstanding()) >= target) return std::nullopt;
  const ByteRange top = h.back();
  const std::uint64_t begin = top.size() > c ? top.end - c : top.begin;
  return new_request(now, path, {begin, top.end}, SplitReason::fill_hole, false, false);
}

std::optional<SplitAction> SplitPlanner::decide_split(double now) {
  if (new_state_ != NewState::up) return std::nullopt;
  const std::uint64_t S = *size_;
  const double ro = old_rate_est();
  const double rn = new_rate_est();
  const auto ro_t = old_meter_.trusted();
  const auto rn_t = new_meter_.trusted();
  const std::uint64_t L = lowest_new();
  const double y = static_cast<double>(old_pos_);
  const double Ld = static_cast<double>(L);
  const std::uint64_t out = new_outstanding();
  // When the new path will have delivered what it has outstanding: responses come in the order
  // the requests were sent, none before one RTT after its request.
  double Tq = 0;
  if (rn <= 0) {
    Tq = out > 0 ? kInf : 0;
  } else {
    double t = now;
    for (const auto &r : requests_)  // in send order
      if (r.path == PathId::new_path && r.live()) {
        if (!r.responded) t = std::max(t, r.sent + new_rtt_);
        t += static_cast<double>(r.remaining()) / rn;
      }
    Tq = t - now;
  }
  const auto meet = [&](double tq) {
    if (ro <= 0) return y;
    if (rn <= 0) return Ld;
    return std::min(std::max((y / ro + tq + Ld / rn) / (1 / ro + 1 / rn), y), std::max(y, Ld));
  };

  // A chunk not started yet that the new path would finish after the old one got there.
  if (ro_t && rn_t && ro > 0 && rn > 0) {
    Request *low = nullptr;
    for (auto &r : requests_)
      if (r.path == PathId::new_path && r.live() && !r.whole_body && (!low || r.range.begin < low->range.begin))
        low = &r;
    // (Never one sent at this instant: a placement and its cancellation cannot alternate.)
    if (low && low->range.begin == L && low->got == 0 && !low->responded && low->sent < now) {
      const double f1 = std::max(Tq, (Ld - y) / ro);
      const double Tq2 = Tq - static_cast<double>(low->range.size()) / rn;
      const double f2 = std::max(Tq2, (static_cast<double>(low->range.end) - y) / ro);
      if (f2 < f1 * 0.999) {
        low->cancelled = true;
        const SplitAction a{SplitActionKind::cancel_request, SplitReason::over_committed, PathId::new_path, low->id};
        set_old_stop(lowest_new());
        return a;
      }
    }
  }
  // Drops, on trusted rates only.
  if (ro_t && rn_t && S > old_pos_) {
    // Shares of the whole plan (the bytes left at the change), so that the end of a split, where
    // both paths have little left, is not mistaken for a path not worth having.
    const double M = meet(std::max(Tq, 0.0));
    const double plan = static_cast<double>(S - std::min(S, y0_));
    const double new_share = (static_cast<double>(S) - M) / plan;
    const double old_share = (M - static_cast<double>(y0_)) / plan;
    if (new_share < cfg_.drop_share) {
      // What the new path already delivered is kept; the old stream runs to it and the holes
      // its cancelled chunks leave are requested on the old connection (old_only).
      cancel_live(PathId::new_path, SplitReason::new_contribution_small);
      new_state_ = NewState::gone;
      mode_ = SplitMode::old_only;
      set_old_stop(lowest_new());
      return SplitAction{SplitActionKind::drop_new, SplitReason::new_contribution_small};
    }
    if (old_share < cfg_.drop_share) {
      old_alive_ = false;
      mode_ = SplitMode::new_only;
      return SplitAction{SplitActionKind::drop_old, SplitReason::old_contribution_small, PathId::old_path};
    }
  }
  // The next chunk from the end toward the meeting point.
  if (rn <= 0 || L <= old_pos_) return std::nullopt;
  const std::uint64_t c = chunk_size(rn);
  // Before the new rate is trusted the pipeline is twice as deep, so a fast path does not idle
  // while it is measured; too much is cancelled (over_committed) once it is trusted.
  const double depth = cfg_.pipeline_rtts * (rn_t ? 1 : 2);
  const double target = rn * new_rtt_ * depth + static_cast<double>(c);
  if (static_cast<double>(out) >= target) return std::nullopt;
  const double M = meet(std::max(Tq, new_rtt_));
  if (M >= Ld) return std::nullopt;
  auto m = static_cast<std::uint64_t>(std::ceil(M));
  if (L - m < cfg_.min_chunk / 4) return std::nullopt;  // not worth a request
  std::uint64_t begin = L - m > c ? L - c : m;
  if (begin - m < cfg_.min_chunk / 2) begin = m;  // no sliver left for the old path
  begin = std::max(begin, old_pos_);
  auto a = new_request(now, PathId::new_path, {begin, L}, SplitReason::tail_chunk, false, false);
  set_old_stop(begin);
  return a;
}

void SplitPlanner::cancel_live(PathId path, SplitReason reason) {
  for (auto &r : requests_)
    if (r.path == path && r.live()) {
      r.cancelled = true;
      pending_.push_back({SplitActionKind::cancel_request, reason, path, r.id});
    }
}

void SplitPlanner::decide_race_winner(PathId winner, SplitReason reason) {
  if (winner == PathId::new_path) {
    old_alive_ = false;
    file_path_ = PathId::new_path;
    mode_ = SplitMode::new_only;
    pending_.push_back({SplitActionKind::drop_old, reason, PathId::old_path});
  } else {
    cancel_live(PathId::new_path, reason);
    new_state_ = NewState::gone;
    mode_ = SplitMode::old_only;
    pending_.push_back({SplitActionKind::drop_new, reason});
  }
}

std::optional<SplitAction> SplitPlanner::decide_race(double now) {
  if (!race_requested_) {
    if (new_state_ != NewState::up) return std::nullopt;
    race_requested_ = true;
    race_old_start_ = old_pos_;
    const bool open = resumable_ && !size_;
    auto a = new_request(now, PathId::new_path, {open ? old_pos_ : 0, end()},
                         open ? SplitReason::race_resume : SplitReason::race_whole_body, !open, open);
    race_request_ = a->request;
    return a;
  }
  const Request *r = find(race_request_);
  if (!r || !r->responded) return std::nullopt;
  const auto ro = old_meter_.trusted();
  const auto rn = new_meter_.trusted();
  const double newpos = static_cast<double>((r->open_end ? r->range.begin : 0) + r->got);
  const double y = static_cast<double>(old_pos_);
  const double m = cfg_.race_margin;
  const bool budget_spent = race_bytes() >= cfg_.race_max_duplicate;
  if (size_) {
    const double S = static_cast<double>(*size_);
    const double t_old = ro && *ro > 0 ? (S - y) / *ro : kInf;
    const double t_new = rn && *rn > 0 ? (S - newpos) / *rn : kInf;
    if (ro && rn) {
      if (t_new * (1 + m) < t_old) {
        decide_race_winner(PathId::new_path, SplitReason::race_new_wins);
        return std::nullopt;
      }
      if (t_old * (1 + m) < t_new) {
        decide_race_winner(PathId::old_path, SplitReason::race_old_wins);
        return std::nullopt;
      }
    }
    if (budget_spent) {
      decide_race_winner(rn && t_new < t_old ? PathId::new_path : PathId::old_path, SplitReason::race_duplicate_budget);
    }
    return std::nullopt;
  }
  if (ro && rn) {
    if (newpos >= y && *rn > *ro * (1 + m)) {
      decide_race_winner(PathId::new_path, SplitReason::race_new_wins);
      return std::nullopt;
    }
    if (*rn * (1 + m) < *ro) {
      decide_race_winner(PathId::old_path, SplitReason::race_old_wins);
      return std::nullopt;
    }
  }
  if (budget_spent)
    decide_race_winner(rn && ro && newpos >= y && *rn > *ro ? PathId::new_path : PathId::old_path,
                       SplitReason::race_duplicate_budget);
  return std::nullopt;
}

std::vector<std::pair<ByteRange, PathId>> SplitPlanner::sources() const {
  std::vector<std::pair<ByteRange, PathId>> out;
  const auto add = [&](ByteRange r, PathId p) {
    if (r.size() == 0) return;
    if (!out.empty() && out.back().second == p && out.back().first.end == r.begin)
      out.back().first.end = r.end;
    else
      out.push_back({r, p});
  };
  const Request *race = find(race_request_);
  if (file_path_ == PathId::new_path && race) {
    if (race->open_end) add({0, race->range.begin}, PathId::old_path);
    add({race->range.begin, race->range.begin + race->got}, PathId::new_path);
    return out;
  }
  std::vector<std::pair<ByteRange, PathId>> all{{{0, old_pos_}, PathId::old_path}};
  for (const auto &r : requests_)
    if (!r.whole_body) all.push_back({{r.range.begin, r.range.begin + r.got}, r.path});
  std::sort(all.begin(), all.end(), [](const auto &a, const auto &b) { return a.first.begin < b.first.begin; });
  std::uint64_t at = 0;
  for (auto [r, p] : all) {
    r.begin = std::max(r.begin, at);  // overlapping copies of one version: the first one counts
    if (r.size() == 0) continue;
    add(r, p);
    at = r.end;
  }
  return out;
}

}  // namespace qamp
