#include "trace.h"

#include "net.h"

namespace qamp::client {

Trace::Trace(bool quiet, std::optional<std::string> qlog_file, std::optional<std::string> qlog_dir)
    : quiet_(quiet), qlog_file_(std::move(qlog_file)), qlog_dir_(std::move(qlog_dir)) {}

Trace::~Trace() {
  if (qlog_) {
    flush_pending();
    std::fclose(qlog_);
  }
}

bool Trace::connection_started(std::string_view scid_hex, ngtcp2_tstamp initial_ts, std::string *error) {
  reference_ts_ = initial_ts;
  if (!qlog_enabled()) return true;
  std::string path;
  const char *mode = "w";
  if (qlog_dir_) {
    if (qlog_) {
      flush_pending();
      std::fclose(qlog_);
      qlog_ = nullptr;
    }
    path = *qlog_dir_ + "/" + std::string(scid_hex) + ".sqlog";
  } else {
    if (qlog_) return true;  // one file for the whole run
    path = *qlog_file_;
  }
  qlog_ = std::fopen(path.c_str(), mode);
  if (!qlog_) {
    if (error) *error = "cannot open qlog file " + path;
    return false;
  }
  at_record_boundary_ = true;
  return true;
}

void Trace::write_ngtcp2_qlog(const void *data, std::size_t len, std::uint32_t flags) {
  if (!qlog_) return;
  if (len) {
    std::fwrite(data, 1, len, qlog_);
    at_record_boundary_ = static_cast<const char *>(data)[len - 1] == '\n';
  }
  if (flags & NGTCP2_QLOG_WRITE_FLAG_FIN) at_record_boundary_ = true;
  if (at_record_boundary_) flush_pending();
}

void Trace::emit_record(const std::string &record) {
  if (!qlog_) return;
  pending_ += record;
  if (at_record_boundary_) flush_pending();
}

void Trace::flush_pending() {
  if (!qlog_ || pending_.empty()) return;
  std::fwrite(pending_.data(), 1, pending_.size(), qlog_);
  std::fflush(qlog_);
  pending_.clear();
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

void Trace::decision(std::string_view name, std::string_view outcome, std::string_view reason, Json data) {
  auto line = "qamp: " + std::string(name) + ": " + std::string(outcome) + " (reason: " +
              std::string(reason) + ") " + data.dump();
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  Json ev = Json::object();
  ev.set("outcome", outcome).set("reason", reason).set("detail", std::move(data));
  event(name, std::move(ev));
}

void Trace::event(std::string_view name, Json data) {
  if (!qlog_) return;
  auto now = ex::now_ns();
  double ms = now >= reference_ts_ ? static_cast<double>(now - reference_ts_) / 1e6 : 0.0;
  Json rec = Json::object();
  rec.set("time", ms).set("name", "qamp:" + std::string(name)).set("data", std::move(data));
  emit_record("\x1e" + rec.dump() + "\n");
}

}  // namespace qamp::client
