#include "split.h"

#include <algorithm>

#include "http_range.h"
#include "http_rules.h"

namespace qamp::client {

namespace {

constexpr std::size_t kMaxLoggedRoutine = 200;     // the summary's action log: requests, stop marks
constexpr std::size_t kMaxLoggedOther = 64;        // and every other kind
constexpr std::size_t kMaxFetches = 4096;          // requests one split may make
constexpr double kTickSeconds = 0.01;              // rate samples while nothing arrives
constexpr int kMaxActionsPerTick = 10'000;         // a planner that never settles is a bug

}  // namespace

// One request of the split, on either connection: a range (206, written into the Download at its
// offset) or a whole body (200, into its own copy).
struct SplitDriver::Fetch final : ResponseSink {
  Fetch(SplitDriver &driver, const SplitAction &a)
      : d(driver), id(a.request), path(a.path), range(a.range), whole(a.whole_body), open_end(a.open_end) {}

  void on_header(std::string_view name, std::string_view value) override {
    headers.emplace_back(std::string(name), std::string(value));
    if (name == ":status") status = static_cast<int>(common::parse_decimal(value).value_or(0));
    if (name == "content-range") content_range = std::string(value);
    if (name == "content-length") content_length = common::parse_decimal(value);
    if (name == "etag") etag = std::string(value);
    if (name == "last-modified") last_modified = std::string(value);
  }

  void on_headers_end() override {
    const double now = d.host_.now();
    const auto validator = common::if_range_validator(etag, last_modified);
    // The same representation as far as can be told: equal validators, or none on either side
    // (a non-resumable body's race copy: never stitched, so nothing rests on it).
    const bool same = validator == d.validator_;
    std::optional<std::uint64_t> length;
    int seen = status;
    if (status == 206) {
      auto cr = common::parse_content_range(content_range);
      const bool fits = cr && cr->first.first == range.begin &&
                        (open_end ? cr->first.last + 1 == cr->second : cr->first.last + 1 == range.end);
      if (cr) length = cr->second;
      if (!fits) {
        problem = "206 with Content-Range '" + content_range + "' for bytes " + std::to_string(range.begin) + "-";
        seen = 0;  // the planner: that path failed
      } else if (!same || validator.empty()) {
        problem = "206 of another representation (validator " + validator + ")";  // never written
      } else {
        writes = true;
      }
    } else if (status == 200) {
      length = content_length;
      std::string error;
      // One whole-body copy at a time (each is a temporary file and a hashing thread): a
      // server that ignores Range answers every chunk with 200; the planner races the first.
      const bool another = std::any_of(d.fetches_.begin(), d.fetches_.end(),
                                       [this](const auto &f) { return f.get() != this && f->copy && !f->cancelled; });
      if (!another) copy = d.host_.new_copy(&error);
      if (another) {
        problem = "a second whole body while one is being received (not kept)";
      } else if (!copy) {
        problem = error;
        seen = 0;
      } else {
        (void)copy->request(d.authority_, false);
        for (const auto &[n, v] : headers) copy->on_header(n, v);
        copy->on_headers_end();
      }
    } else {
      problem = "status " + std::to_string(status);
    }
    if (!problem.empty()) d.trace_.warning("split: request %u: %s", id, problem.c_str());
    responded = true;
    d.planner_.on_response(now, id, seen, same, length);
    d.poke();
  }

  void on_body(std::span<const std::uint8_t> data) override {
    if (cancelled) return;
    if (copy) {
      copy->on_body(data);
    } else if (writes) {
      if (!open_end && range.begin + got + data.size() > range.end) {
        problem = "more bytes than the range asked for";
        writes = false;
        return;
      }
      if (!d.main_.write_piece(range.begin + got, data)) {
        writes = false;
        return;
      }
    } else {
      return;
    }
    got += data.size();
  }

  void on_end_stream() override {
    fin = true;
    if (copy) copy->on_end_stream();
    d.poke();
  }

  void on_stream_close(std::uint64_t app_error) override {
    closed = true;
    if (copy) copy->on_stream_close(app_error);
    d.poke();
  }

  SplitDriver &d;
  std::uint32_t id;
  PathId path;
  ByteRange range;
  bool whole, open_end;
  std::vector<std::pair<std::string, std::string>> headers;  // replayed into `copy` on a 200
  int status = 0;
  std::string content_range, etag, last_modified, problem;
  std::optional<std::uint64_t> content_length;
  std::unique_ptr<Download> copy;  // a 200: the whole body, its own file
  bool writes = false;             // a 206 of the first representation: written into the Download
  bool responded = false, fin = false, closed = false, cancelled = false, fin_reported = false;
  std::uint64_t got = 0;
};

SplitDriver::SplitDriver(struct ev_loop *loop, Trace &trace, SplitHost &host, Download &main, UdpSocket *new_socket,
                         std::string authority, std::string validator)
    : trace_(trace),
      host_(host),
      main_(main),
      new_socket_(new_socket),
      authority_(std::move(authority)),
      validator_(std::move(validator)),
      tick_timer_(loop, [this] { tick(); }),
      reaper_(loop, [this] { retired_.clear(); }) {}

SplitDriver::~SplitDriver() {
  // The sessions go before their connections; the fetches (sinks) after both.
  new_h3_.reset();
  new_quic_.reset();
  retired_.clear();
}

void SplitDriver::start(const SplitStart &start, const std::vector<std::pair<double, std::uint64_t>> &history) {
  for (const auto &[t, offset] : history) planner_.on_old_progress(t, offset);
  started_at_ = host_.now();
  old_at_change_ = start.received;
  old_reported_ = start.received;
  planner_.start(started_at_, start);
  trace_.decision("split", "start", start.resumable ? "resumable" : "not-resumable",
                  common::Json::object()
                      .set("body_size", start.body_size)
                      .set("received", start.received)
                      .set("resumable", start.resumable)
                      .set("old_rtt_ms", start.old_rtt * 1e3)
                      .set("new_rate_hint", start.new_rate_hint));
  poke();
}

void SplitDriver::poke() {
  if (!over_) tick_timer_.arm(0);
}

void SplitDriver::read(UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data) {
  if (new_quic_ && !new_quic_->closed()) new_quic_->read(socket, from, data);
}

void SplitDriver::write() {
  if (new_quic_ && !new_quic_->closed()) new_quic_->write();
}

const SplitDriver::Fetch *SplitDriver::find(std::uint32_t id) const {
  for (const auto &f : fetches_)
    if (f->id == id) return f.get();
  return nullptr;
}

SplitDriver::Fetch *SplitDriver::find(std::uint32_t id) {
  return const_cast<Fetch *>(static_cast<const SplitDriver *>(this)->find(id));
}

void SplitDriver::tick() {
  if (over_) return;
  const double now = host_.now();
  if (!old_gone_) {
    // The forward stream as the planner sees it: up to its stop mark (bytes beyond are kept
    // in the file but not counted; they are credited if the mark moves up).
    const auto offset = std::min(main_.received(), planner_.old_stop());
    const bool fin = main_.got_fin();
    if (!old_fin_reported_) planner_.on_old_progress(now, offset, fin);
    old_fin_reported_ = fin;
    old_reported_ = offset;
  }
  for (auto &f : fetches_) {
    if (!f->responded || f->cancelled || f->fin_reported) continue;
    // A stream that closed without its last byte: that connection failed (a reset stream is
    // a server that will not serve this; the planner has no finer event).
    if (f->closed && !f->fin) {
      f->cancelled = true;
      if (f->path == PathId::new_path)
        close_new("a request's stream was closed early");
      else if (!old_gone_) {
        old_gone_ = true;
        planner_.on_old_failed(now);
      }
      continue;
    }
    planner_.on_request_progress(now, f->id, f->got, f->fin);
    f->fin_reported = f->fin;
  }
  int n = 0;
  while (!over_) {
    auto a = planner_.next_action(now);
    if (!a) break;
    if (++n > kMaxActionsPerTick) {
      trace_.error("split: the planner did not settle (%d actions at one instant)", n);
      over_ = true;
      host_.split_done();
      return;
    }
    carry_out(*a);
  }
  // The forward stream reached its mark and the mark is final (the range starting there has its
  // response: the planner only cancels chunks that have none, which moves the mark up): stop
  // the server sending the rest. Until then the bytes beyond the mark are kept.
  const auto firm = [this] {
    const auto stop = planner_.old_stop();
    return std::any_of(fetches_.begin(), fetches_.end(),
                       [stop](const auto &f) { return f->range.begin == stop && f->responded && f->writes; });
  };
  if (!over_ && main_.received() >= planner_.old_stop() && !old_stream_cut_ && !main_.got_fin() && firm()) {
    old_stream_cut_ = true;
    if (auto *s = host_.old_session()) s->cancel(&main_);
    trace_.info("split: the old connection's stream stopped at byte %llu",
                static_cast<unsigned long long>(main_.received()));
  }
  write();
  if (!over_) tick_timer_.arm(kTickSeconds);
}

void SplitDriver::carry_out(const SplitAction &a) {
  const double now = host_.now();
  const bool routine = a.kind == SplitActionKind::request || a.kind == SplitActionKind::stop_old_at;
  if (routine)  // one a chunk: a log line, not a qlog decision
    trace_.info("split: %s", to_string(a).c_str());
  else
    trace_.decision("split", to_string(a.kind), to_string(a.reason),
                    common::Json::object().set("network", to_string(a.path)).set("request", a.request));
  if ((routine ? logged_routine_ : logged_other_)++ < (routine ? kMaxLoggedRoutine : kMaxLoggedOther)) {
    auto j = common::Json::object();
    j.set("t_ms", (now - started_at_) * 1e3)
        .set("action", to_string(a.kind))
        .set("reason", to_string(a.reason))
        .set("network", to_string(a.path));
    if (a.request) j.set("request", a.request);
    if (a.kind == SplitActionKind::request || a.kind == SplitActionKind::stop_old_at) {
      j.set("begin", a.range.begin);
      if (!a.whole_body && !a.open_end && a.kind == SplitActionKind::request) j.set("end", a.range.end);
      if (a.whole_body) j.set("whole_body", true);
    }
    log_.push_back(std::move(j));
  }
  switch (a.kind) {
    case SplitActionKind::open_new: {
      std::string error;
      new_quic_ = host_.connect_new(new_socket_, *this, &error);
      if (!new_quic_) {
        trace_.error("split: cannot open the new connection: %s", error.c_str());
        planner_.on_new_failed(now);
        return;
      }
      new_h3_ = std::make_unique<H3Session>(*new_quic_);
      trace_.info("split: connecting from %s (scid %s)", new_socket_->local().to_string().c_str(),
                  new_quic_->scid_hex().c_str());
      return;
    }
    case SplitActionKind::request: return send_request(a);
    case SplitActionKind::stop_old_at: return;  // the planner holds the mark; tick() cuts the stream there
    case SplitActionKind::cancel_request: {
      auto *f = find(a.request);
      if (!f || f->cancelled) return;
      f->cancelled = true;
      auto *s = f->path == PathId::new_path ? new_h3_.get() : host_.old_session();
      if (s) s->cancel(f);
      f->copy.reset();  // a losing copy: its temporary file goes now
      return;
    }
    case SplitActionKind::drop_new: return close_new("not needed by the split planner");
    case SplitActionKind::drop_old:
      if (!old_gone_) {
        old_gone_ = true;
        host_.drop_old();
      }
      return;
    case SplitActionKind::start_over: start_over_request_ = a.request; return;
    case SplitActionKind::complete: {
      completed_ = true;
      if (a.path == PathId::new_path) {
        // One whole response of the new connection (the race's, the new version's); else an
        // open-ended resume stitched after the old prefix (same representation).
        for (const auto &f : fetches_)
          if (f->copy && f->fin && (start_over_request_ == 0 || f->id == start_over_request_)) winner_request_ = f->id;
      }
      over_ = true;
      close_new("the download is complete");
      host_.split_done();
      return;
    }
    case SplitActionKind::fail:
      over_ = true;
      close_new("both networks failed");
      host_.split_done();
      return;
  }
}

void SplitDriver::send_request(const SplitAction &a) {
  const double now = host_.now();
  auto *session = a.path == PathId::new_path ? new_h3_.get() : host_.old_session();
  if (!session || fetches_.size() >= kMaxFetches) {
    trace_.warning("split: request %u on the %s connection cannot be sent (%s)", a.request,
                   std::string(to_string(a.path)).c_str(), session ? "request limit" : "connection gone");
    if (a.path == PathId::new_path)
      close_new("cannot send a request");
    else if (!old_gone_) {
      old_gone_ = true;
      planner_.on_old_failed(now);
    }
    return;
  }
  Request r;
  r.authority = main_.target().authority.empty() ? authority_ : main_.target().authority;
  r.path = main_.target().path;
  if (!a.whole_body) {
    std::string range = "bytes=" + std::to_string(a.range.begin) + "-";
    if (!a.open_end) range += std::to_string(a.range.end - 1);
    r.headers.emplace_back("range", std::move(range));
    r.headers.emplace_back("if-range", validator_);
  }
  auto f = std::make_unique<Fetch>(*this, a);
  session->submit(std::move(r), f.get());
  fetches_.push_back(std::move(f));
}

void SplitDriver::close_new(const char *why) {
  for (auto &f : fetches_)
    if (f->path == PathId::new_path) f->cancelled = true;
  if (!new_quic_) return;
  new_dropped_ = true;
  if (!new_quic_->closed()) new_quic_->close(why);  // reports on_closed, which retires it
}

void SplitDriver::on_handshake_completed() {
  const double now = host_.now();
  ngtcp2_conn_info info;
  ngtcp2_conn_get_conn_info(new_quic_->conn(), &info);
  const double rtt = static_cast<double>(info.smoothed_rtt) / 1e9;
  new_handshake_s_ = now - started_at_;
  trace_.info("split: the new connection is up from %s (RTT %.1f ms)", new_quic_->local().to_string().c_str(),
              rtt * 1e3);
  std::string error;
  if (new_h3_->start(&error) != 0) {
    trace_.error("split: HTTP/3 on the new connection: %s", error.c_str());
    planner_.on_new_failed(now);
    poke();
    return;
  }
  planner_.on_new_handshake(now, rtt);
  poke();
}

void SplitDriver::on_closed(const CloseInfo &info) {
  if (!new_dropped_ && !over_) {
    trace_.warning("split: the new connection failed: %s", info.reason.c_str());
    planner_.on_new_failed(host_.now());
  }
  for (auto &f : fetches_)
    if (f->path == PathId::new_path) f->cancelled = true;
  // Never destroyed from inside its own callbacks.
  retired_.emplace_back(std::move(new_quic_), std::move(new_h3_));
  reaper_.arm(0);
  poke();
}

void SplitDriver::on_old_closed() {
  for (auto &f : fetches_)
    if (f->path == PathId::old_path) f->cancelled = true;
  if (old_gone_) return;
  old_gone_ = true;
  if (!over_) {
    trace_.warning("split: the old connection is gone");
    planner_.on_old_failed(host_.now());
    poke();
  }
}

void SplitDriver::on_old_stream_closed() {
  if (main_.got_fin() || old_stream_cut_ || old_gone_) {
    poke();
    return;
  }
  old_gone_ = true;
  trace_.warning("split: the old connection's response ended early");
  planner_.on_old_failed(host_.now());
  poke();
}

std::optional<std::uint64_t> SplitDriver::body_end() const {
  const auto s = planner_.sources();
  if (s.empty()) return std::nullopt;
  return s.back().first.end;
}

std::unique_ptr<Download> SplitDriver::take_winner() {
  if (!winner_request_) return nullptr;
  auto *f = find(winner_request_);
  return f ? std::move(f->copy) : nullptr;
}

common::Json SplitDriver::json() const {
  auto j = common::Json::object();
  j.set("mode", to_string(planner_.mode()));
  j.set("completed", completed_);
  j.set("file_from", winner_request_ ? "new-connection-copy" : "ranges");
  std::uint64_t by_old = 0, by_new = 0;
  auto ranges = common::Json::array();
  if (!winner_request_) {
    for (const auto &[r, path] : planner_.sources()) {
      ranges.push(common::Json::object()
                      .set("begin", r.begin)
                      .set("end", r.end)
                      .set("network", to_string(path)));
      (path == PathId::old_path ? by_old : by_new) += r.size();
    }
  } else if (const auto *f = find(winner_request_)) {
    ranges.push(common::Json::object().set("begin", 0).set("end", f->got).set("network", "new"));
    by_new = f->got;
  }
  j.set("ranges", std::move(ranges));
  j.set("file_bytes_old", by_old).set("file_bytes_new", by_new);
  // Body bytes that crossed the networks, and what of them the file does not use: a race's
  // losing copy (with a new connection's copy kept, everything the old one received), overlap
  // at the meeting point. Bytes beyond the stop mark are counted by neither (never kept).
  std::uint64_t fetched_new = 0, fetched_old = 0;
  for (const auto &f : fetches_) (f->path == PathId::new_path ? fetched_new : fetched_old) += f->got;
  const std::uint64_t forward = old_reported_ > old_at_change_ ? old_reported_ - old_at_change_ : 0;
  const std::uint64_t received = old_at_change_ + forward + fetched_new + fetched_old;
  j.set("received_at_change", old_at_change_)
      .set("forward_bytes_after_change", forward)
      .set("request_bytes_new", fetched_new)
      .set("request_bytes_old", fetched_old)
      .set("bytes_not_kept", received > by_old + by_new ? received - by_old - by_new : 0);
  std::uint64_t n200 = 0, n206 = 0, nother = 0;
  for (const auto &f : fetches_)
    if (f->responded) (f->status == 200 ? n200 : f->status == 206 ? n206 : nother)++;
  j.set("responses", common::Json::object().set("200", n200).set("206", n206).set("other", nother));
  j.set("old_rate", planner_.old_rate()).set("new_rate", planner_.new_rate());
  j.set("new_handshake_s", new_handshake_s_);
  auto actions = common::Json::array();
  for (const auto &a : log_) actions.push(a);
  j.set("actions", std::move(actions));
  j.set("actions_total", logged_routine_ + logged_other_);
  return j;
}

}  // namespace qamp::client
