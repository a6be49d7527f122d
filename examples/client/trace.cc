#include "trace.h"

#include "net.h"

namespace qamp::client {

Trace::Trace(bool quiet, std::optional<std::string> qlog_file, std::optional<std::string> qlog_dir)
    : quiet_(quiet), qlog_file_(std::move(qlog_file)), qlog_dir_(std::move(qlog_dir)) {}

Trace::~Trace() = default;

bool Trace::connection_started(std::string_view scid_hex, ngtcp2_tstamp initial_ts, std::string *error) {
  reference_ts_ = initial_ts;
  if (qlog_dir_) return qlog_.open(*qlog_dir_ + "/" + std::string(scid_hex) + ".sqlog", error);
  if (!qlog_file_ || qlog_file_open_) return true;  // one file for the whole run
  qlog_file_open_ = qlog_.open(*qlog_file_, error);
  return qlog_file_open_;
}

void Trace::write_ngtcp2_qlog(const void *data, std::size_t len, std::uint32_t flags) {
  qlog_.ngtcp2_write(data, len, flags);
}

void Trace::info(const char *fmt, ...) {
  if (quiet_) return;
  std::va_list ap;
  va_start(ap, fmt);
  std::fputs("qamp-client: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

void Trace::error(const char *fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fputs("qamp-client: error: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

void Trace::warning(const char *fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fputs("qamp-client: warning: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

void Trace::decision(std::string_view name, std::string_view outcome, std::string_view reason, common::Json data) {
  auto line = "qamp: " + std::string(name) + ": " + std::string(outcome) + " (reason: " + std::string(reason) + ") " +
              data.dump();
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  common::Json ev = common::Json::object();
  ev.set("outcome", outcome).set("reason", reason).set("detail", std::move(data));
  event(name, std::move(ev));
}

void Trace::event(std::string_view name, common::Json data) {
  if (!qlog_.is_open()) return;
  auto now = common::now_ns();
  double ms = now >= reference_ts_ ? static_cast<double>(now - reference_ts_) / 1e6 : 0.0;
  qlog_.event(ms, "qamp:" + std::string(name), data);
}

}  // namespace qamp::client
