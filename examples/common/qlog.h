// examples/common/qlog.h — the one qlog writer of the client and the server: ngtcp2's own
// JSON-SEQ records (RFC 7464, settings.qlog_write) interleaved with qamp's events ("qamp:<name>").
//
// ngtcp2 may hand a record over in several writes; a qamp event written between two of them
// would split ngtcp2's record and make the file unreadable to qlog tools. So qamp's events wait
// until ngtcp2's last write ended a record (a trailing '\n' or NGTCP2_QLOG_WRITE_FLAG_FIN).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "handles.h"
#include "json.h"

namespace qamp::common {

class QlogFile {
 public:
  QlogFile() = default;
  ~QlogFile() { close(); }
  QlogFile(const QlogFile &) = delete;
  QlogFile &operator=(const QlogFile &) = delete;

  // Opens (truncates) `path`, closing any file open before. False with *error naming the path.
  bool open(const std::string &path, std::string *error);
  // Flushes qamp events still waiting, then closes. A no-op when nothing is open.
  void close() noexcept;
  bool is_open() const noexcept { return file_ != nullptr; }

  // ngtcp2's settings.qlog_write: `data` as given, in order.
  void ngtcp2_write(const void *data, std::size_t len, std::uint32_t flags);
  // A qamp record {"time": ms, "name": name, "data": data}, written at the next record boundary.
  void event(double time_ms, std::string_view name, const Json &data);

 private:
  void flush_pending();
  File file_;
  bool at_record_boundary_ = true;  // ngtcp2's last write ended a JSON-SEQ record
  std::string pending_;             // qamp records waiting for a record boundary
};

}  // namespace qamp::common
