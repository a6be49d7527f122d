// examples/client/trace.h — what the client tells people: progress lines on stderr (unless -q),
// one stderr line per policy decision (always), and the qlog file, which interleaves ngtcp2's own
// JSON-SEQ records with qamp's decision events ("qamp:<name>").
#pragma once

#include <cstdarg>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <ngtcp2/ngtcp2.h>

#include "json.h"
#include "qlog.h"

namespace qamp::client {

class Trace {
 public:
  Trace(bool quiet, std::optional<std::string> qlog_file, std::optional<std::string> qlog_dir);
  ~Trace();
  Trace(const Trace &) = delete;
  Trace &operator=(const Trace &) = delete;

  bool qlog_enabled() const noexcept { return qlog_file_ || qlog_dir_; }
  // A new QUIC connection starts: qlog events from now on are timed from `initial_ts` (ngtcp2's
  // reference time). With --qlog-dir it opens DIR/<scid>.sqlog; with --qlog-file every connection
  // of the run appends to the same file. Returns false with *error when the file cannot be opened.
  bool connection_started(std::string_view scid_hex, ngtcp2_tstamp initial_ts, std::string *error);
  // ngtcp2's settings.qlog_write, forwarded.
  void write_ngtcp2_qlog(const void *data, std::size_t len, std::uint32_t flags);

  // Progress, suppressed by -q.
  void info(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  // Always printed.
  void error(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
  // "qamp-client: warning: ..." on stderr, even with --quiet.
  void warning(const char *fmt, ...) __attribute__((format(printf, 2, 3)));

  // A policy decision: one stderr line "qamp: <name>: <outcome> (reason: <reason>) <data>"
  // whatever -q says, and a qlog event "qamp:<name>" with outcome, reason and data.
  void decision(std::string_view name, std::string_view outcome, std::string_view reason,
                common::Json data = common::Json::object());
  // A qlog-only event (state changes that are not decisions).
  void event(std::string_view name, common::Json data);

 private:
  bool quiet_;
  std::optional<std::string> qlog_file_;
  std::optional<std::string> qlog_dir_;
  common::QlogFile qlog_;
  bool qlog_file_open_ = false;  // --qlog-file: opened once for the whole run
  ngtcp2_tstamp reference_ts_ = 0;
};

}  // namespace qamp::client
