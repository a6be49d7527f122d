// examples/common/qlog.cc — JSON-SEQ records, ngtcp2's and qamp's, never interleaved.
#include "qlog.h"

#include <ngtcp2/ngtcp2.h>

namespace qamp::common {

bool QlogFile::open(const std::string &path, std::string *error) {
  close();
  file_.reset(std::fopen(path.c_str(), "w"));
  if (!file_) {
    if (error) *error = "cannot open qlog file " + path;
    return false;
  }
  at_record_boundary_ = true;
  return true;
}

void QlogFile::close() noexcept {
  if (!file_) return;
  // Whatever ngtcp2 left unfinished, qamp's own records are complete: write them last.
  at_record_boundary_ = true;
  flush_pending();
  file_.reset();
}

void QlogFile::ngtcp2_write(const void *data, std::size_t len, std::uint32_t flags) {
  if (!file_) return;
  if (len) {
    std::fwrite(data, 1, len, file_.get());
    at_record_boundary_ = static_cast<const char *>(data)[len - 1] == '\n';
  }
  if (flags & NGTCP2_QLOG_WRITE_FLAG_FIN) at_record_boundary_ = true;
  if (at_record_boundary_) flush_pending();
}

void QlogFile::event(double time_ms, std::string_view name, const Json &data) {
  if (!file_) return;
  Json rec = Json::object();
  rec.set("time", time_ms).set("name", name).set("data", data);
  pending_ += "\x1e" + rec.dump() + "\n";
  if (at_record_boundary_) flush_pending();
}

void QlogFile::flush_pending() {
  if (!file_ || pending_.empty() || !at_record_boundary_) return;
  std::fwrite(pending_.data(), 1, pending_.size(), file_.get());
  std::fflush(file_.get());
  pending_.clear();
}

}  // namespace qamp::common
