// qamp/split_planner.h — use both networks at once after a network change the policy forbids
// migrating (issue 13; DESIGN.md §4 "Download planner"). Pure: the I/O adapter feeds measured
// figures (bytes received at time t per connection, RTTs, handshake done or failed, response
// status and validator) and carries out the actions `next_action(now)` returns. No hint is
// needed; `SplitStart::new_rate_hint` only seeds the first chunk sizes.
//
// Design.
// - Resumable body of known size: SPLIT. The old connection keeps streaming forward from
//   `received`; the new one fetches the body's tail in chunks from the END toward the middle
//   (`Range: bytes=a-(b-1)` with If-Range, RFC 9110 §14.2, §13.1.5), several in flight. Each chunk
//   is placed where the two connections are projected to meet with the rates measured so far:
//       M = (y/ro + Tq + L/rn) / (1/ro + 1/rn)
//   (y: old offset, L: lowest byte the new path holds or has requested, Tq: when the new path
//   will have delivered what it has outstanding, responses in send order and none before one
//   RTT after its request; at least one RTT for a chunk sent now), so the split point rebalances by
//   itself as chunks are placed one by one. The old stream must stop at L (`stop_old_at`);
//   a chunk not yet started that the new path would finish after the old one reaches it is
//   cancelled (over_committed), which moves L up again. Both finish within about one chunk.
//   Chunk size: the new path's rate x RTT x `chunk_rtts`, clamped to [min_chunk, max_chunk] and to
//   1/`chunk_granularity` of the bytes nobody has yet, so the first, unmeasured chunk is small.
//   Pipeline: rate x RTT x `pipeline_rtts` plus one chunk outstanding, twice as deep until the
//   new rate is trusted (the rate before that: the hint, else the old path's rate, raised by
//   what arrived so far counted over at least `min_sample_s` / 4 of busy time: a response's first
//   bytes come in a burst).
// - A 200 (or another version) to a hole request on the OLD connection: that request is
//   cancelled and the old path counts as failed (its bytes cannot be placed; never stitched).
// - Rates: goodput over a sliding window of `rate_window_s`, counting only time a connection
//   had bytes outstanding; trusted after `min_sample_bytes` over `min_sample_s` (or a whole
//   window of busy time: a stall is a trusted rate of ~0). Drops wait for trusted rates. The
//   new path's first `new_burst_skip` bytes are not measured: they arrive in a burst (a
//   sender's initial window, a bottleneck's queue) that reads as a faster link than it is.
// - Drop rule: a path whose projected share of the bytes left at the change (what it carried
//   plus what it is projected to carry) is below `drop_share` is dropped (new: stay; old:
//   resume). A path that stalls midway keeps its stream; the meeting point then moves to its
//   offset and the other path fetches the rest. The old path dying mid-split: the new path
//   fetches every hole. The new handshake or connection failing: the old stream runs on to the
//   first byte the new path holds and the holes above are requested on the old connection.
// - Non-resumable (or a 200 to a Range with the same validator): RACE. The whole body again on
//   the new connection while the old one continues; once both rates are trusted and the
//   projected finishes differ by `race_margin`, keep the earlier and drop the other. Bytes
//   fetched during the undecided race (both connections) are bounded by `race_max_duplicate`:
//   at that point the race is decided on the projection as it stands (old wins if the new rate
//   is not trusted yet). A race never stitches: the file is one connection's response.
// - Validator changed (the If-Range answer is a 200 with another validator, or a 206 with one):
//   START OVER: everything held is discarded, the old connection dropped, and the body comes
//   whole from the new connection (the 200 itself when there is one).
// - Unknown length: no tail, so no split: RACE (a resumable body races an open-ended
//   `bytes=<old offset>-` resume, a non-resumable one the whole body); the new connection wins
//   once it is ahead of the old one and measurably faster, the old one once the new is
//   measurably slower or the duplicate budget is spent; a body that ends decides it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qamp {

// [begin, end) body bytes.
struct ByteRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t size() const noexcept { return end > begin ? end - begin : 0; }
  bool operator==(const ByteRange &) const = default;
};

// Goodput over a sliding window; time counts only while the connection had bytes outstanding.
class RateMeter {
 public:
  RateMeter(double window_s, std::uint64_t min_bytes, double min_seconds) noexcept;
  // `total` is the connection's cumulative byte count at `now`; `busy`: bytes were outstanding
  // during the interval since the previous sample. Samples going back in time are ignored.
  void sample(double now, std::uint64_t total, bool busy);
  // Bytes/s once at least min_bytes over min_seconds of busy time (or a full window of busy
  // time, so a stall is trusted as ~0) are in the window; nullopt before.
  std::optional<double> trusted() const noexcept;
  // The same figure without the minimum sample (0 with no busy time): for sizing, never drops.
  double rough() const noexcept;
  double busy_seconds() const noexcept;  // busy time in the window
  std::uint64_t bytes() const noexcept;  // bytes in the window

 private:
  struct Sample {
    double t;
    std::uint64_t bytes;
    double busy;  // cumulative busy seconds
  };
  double window_s_;
  std::uint64_t min_bytes_;
  double min_seconds_;
  std::deque<Sample> samples_;
};

struct SplitConfig {
  double rate_window_s = 1.0;
  std::uint64_t min_sample_bytes = 32 * 1024;
  double min_sample_s = 0.02;
  std::uint64_t min_chunk = 64 * 1024;
  std::uint64_t max_chunk = 8 * 1024 * 1024;
  double chunk_rtts = 1.0;                             // chunk = new rate x new RTT x this
  unsigned chunk_granularity = 8;                      // a chunk is at most 1/this of the bytes nobody holds yet
  double pipeline_rtts = 2.0;                          // keep rate x RTT x this (plus one chunk) outstanding
  double drop_share = 0.05;                            // drop a path projected to carry less than this share
  double race_margin = 0.10;                           // projections must differ by this fraction to decide
  std::uint64_t race_max_duplicate = 8 * 1024 * 1024;  // bytes fetched while a race is open
  std::uint64_t new_burst_skip = 64 * 1024;            // the new path's first bytes are not measured
};

enum class PathId : std::uint8_t { old_path, new_path };
std::string_view to_string(PathId path) noexcept;  // "old", "new"

enum class SplitMode : std::uint8_t {
  split,     // both carry disjoint byte ranges of one response version
  race,      // both fetch the same bytes; one will be kept
  old_only,  // the new path is dropped or failed (stay)
  new_only,  // the old path is dropped, failed or lost the race (resume / restart)
  complete,
  failed,  // both paths gone
};
std::string_view to_string(SplitMode mode) noexcept;

enum class SplitActionKind : std::uint8_t {
  open_new,        // start the new connection's handshake from the new local address
  request,         // send a GET on `path`: `range` with Range + If-Range, or whole_body / open_end
  stop_old_at,     // the old forward stream must end at range.begin (cancel it there, discard beyond)
  cancel_request,  // cancel `request` (RESET_STREAM / STOP_SENDING); its bytes are not needed
  drop_new,        // close the new connection
  drop_old,        // close the old connection
  start_over,      // discard every byte held; `request` (0: none) is the new version from byte 0
  complete,        // every byte held. path new: the file is one response of the new connection
                   // (race won, start over); old: the old response plus ranges (see sources())
  fail,            // no path left
};
std::string_view to_string(SplitActionKind kind) noexcept;

enum class SplitReason : std::uint8_t {
  measure_new,             // open_new: the new path's rate can only be measured
  tail_chunk,              // request: next chunk from the end toward the meeting point
  fill_hole,               // request: bytes nobody holds after a path went away
  race_whole_body,         // request: the whole body again on the new path
  race_resume,             // request: unknown length, resumable: open-ended resume on the new path
  meeting_point,           // stop_old_at: the lowest byte the new path holds or has requested
  over_committed,          // cancel_request: the new path would finish this after the old one
  new_contribution_small,  // drop_new: projected share below drop_share (stay)
  old_contribution_small,  // drop_old: projected share below drop_share (resume)
  new_handshake_failed,    // drop_new
  new_path_failed,         // drop_new: the new connection died after its handshake
  old_path_failed,         // drop_old
  race_new_wins,           // drop_old
  race_old_wins,           // drop_new
  race_duplicate_budget,   // drop_old / drop_new: race_max_duplicate spent, decided as it stands
  ignored_range,           // the server answered a Range with 200: race the whole body
  validator_changed,       // start_over
  all_bytes_held,          // complete
  both_paths_failed,       // fail
  not_needed,              // drop_new / cancel_request at completion
};
std::string_view to_string(SplitReason reason) noexcept;

struct SplitAction {
  SplitActionKind kind;
  SplitReason reason;
  PathId path = PathId::new_path;
  std::uint32_t request = 0;  // request, cancel_request, start_over
  ByteRange range{};          // request (unless whole_body / open_end), stop_old_at (begin)
  bool whole_body = false;    // request: a plain GET of the whole body
  bool open_end = false;      // request: "bytes=<range.begin>-" (unknown length)
};
std::string to_string(const SplitAction &action);  // one log line

struct SplitStart {
  std::optional<std::uint64_t> body_size = std::nullopt;  // nullopt: unknown length
  std::uint64_t received = 0;                             // old stream's contiguous body offset at the change
  bool resumable = false;                                 // Accept-Ranges: bytes and a strong validator
  double old_rtt = 0;                                     // seconds
  std::optional<double> new_rate_hint = std::nullopt;     // bytes/s; seeds chunk sizes only
};

class SplitPlanner {
 public:
  // `now` is the time of the change; the old connection's history before it may be fed with
  // on_old_progress before start() (its rate is then trusted at once).
  explicit SplitPlanner(SplitConfig config = {});
  void start(double now, const SplitStart &start);

  // Old connection: body offset its forward stream has reached (contiguous), finished = the
  // response ended (the only way to learn the end of a body of unknown length).
  void on_old_progress(double now, std::uint64_t offset, bool finished = false);
  void on_old_failed(double now);
  void on_new_handshake(double now, double rtt);
  void on_new_failed(double now);  // handshake failed or the connection died
  // First response bytes of `request`: 206 or 200 (anything else: the new path failed);
  // same_validator: the validator equals the old response's (If-Range semantics, RFC 9110
  // §13.1.5); length: the representation's length (200: Content-Length, 206: the complete
  // length of Content-Range), used when the body starts over as a new version.
  void on_response(double now, std::uint32_t request, int status, bool same_validator,
                   std::optional<std::uint64_t> length = std::nullopt);
  // Cumulative body bytes of `request`'s response; finished: the response ended.
  void on_request_progress(double now, std::uint32_t request, std::uint64_t bytes, bool finished = false);

  // The next thing to do, or nullopt (call again after the next event). Call until nullopt.
  std::optional<SplitAction> next_action(double now);

  SplitMode mode() const noexcept { return mode_; }
  // Where every held byte of the current version came from (merged, sorted by begin).
  std::vector<std::pair<ByteRange, PathId>> sources() const;
  std::uint64_t old_stop() const noexcept { return old_stop_; }
  std::optional<double> old_rate() const noexcept { return old_meter_.trusted(); }
  std::optional<double> new_rate() const noexcept { return new_meter_.trusted(); }

 private:
  struct Request {
    std::uint32_t id;
    PathId path;
    ByteRange range;  // whole_body: [0, size or max); open_end: [begin, size or max)
    bool whole_body = false;
    bool open_end = false;
    double sent = 0;
    std::uint64_t got = 0;
    bool responded = false;
    bool finished = false;
    bool cancelled = false;
    std::uint64_t remaining() const noexcept;
    bool live() const noexcept { return !cancelled && !finished; }
  };
  enum class NewState : std::uint8_t { not_opened, connecting, up, gone };

  std::optional<SplitAction> decide(double now);
  std::optional<SplitAction> decide_split(double now);
  std::optional<SplitAction> decide_race(double now);
  std::optional<SplitAction> fill_holes(double now, PathId path);
  std::optional<SplitAction> new_request(double now, PathId path, ByteRange range, SplitReason reason, bool whole,
                                         bool open_end);
  Request *find(std::uint32_t id) noexcept;
  const Request *find(std::uint32_t id) const noexcept;
  void sample_new(double now);
  std::uint64_t new_outstanding() const noexcept;
  std::uint64_t lowest_new() const noexcept;  // lowest byte held or requested on the new path
  std::vector<ByteRange> holes() const;       // bytes nobody holds, has requested or streams
  bool all_held() const;
  double old_rate_est() const noexcept;
  double new_rate_est() const noexcept;
  std::uint64_t chunk_size(double rn) const noexcept;
  void set_old_stop(std::uint64_t stop);
  void cancel_live(PathId path, SplitReason reason);
  std::uint64_t end() const noexcept;  // body size, or the largest offset seen when unknown
  std::uint64_t race_bytes() const noexcept;
  void decide_race_winner(PathId winner, SplitReason reason);

  SplitConfig cfg_;
  bool started_ = false;
  SplitMode mode_ = SplitMode::split;
  std::optional<std::uint64_t> size_;
  bool resumable_ = false;
  std::uint64_t y0_ = 0;
  std::uint64_t old_pos_ = 0;
  std::uint64_t old_stop_ = UINT64_MAX;  // the forward stream's end; UINT64_MAX: to the body's end
  std::uint64_t emitted_stop_ = UINT64_MAX;
  bool old_alive_ = true;
  bool old_finished_ = false;
  double old_rtt_ = 0;
  std::optional<double> hint_;
  NewState new_state_ = NewState::not_opened;
  bool prev_new_busy_ = false;
  bool new_meter_started_ = false;  // past new_burst_skip bytes or one RTT after the first byte
  double new_first_byte_at_ = -1;
  bool prev_old_busy_ = true;
  double new_rtt_ = 0;
  std::uint64_t race_old_start_ = 0;
  std::uint32_t race_request_ = 0;
  bool race_requested_ = false;
  PathId file_path_ = PathId::old_path;  // whose responses make the file (race winner)
  std::vector<Request> requests_;
  std::uint32_t next_id_ = 1;
  RateMeter old_meter_;
  RateMeter new_meter_;
  std::deque<SplitAction> pending_;
};

}  // namespace qamp
