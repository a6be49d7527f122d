// examples/server/request.h — the pure HTTP decisions of qamp-server (no files, no sockets, no
// clocks): which resource a request names, when a Range applies, what a HEAD sends, and the
// per-request limits. response.cc and connection.cc call these; tests/unit/request_test.cc
// holds one table row per rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http_rules.h"
#include "qamp/reset_guard.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

// What a server bounds per request (item 5 of issue 10). The header budget counts name + value
// bytes of every field of one request (RFC 9114 §4.2.2, SETTINGS_MAX_FIELD_SECTION_SIZE counts
// 32 more per field; we advertise kMaxFieldSection including that overhead).
inline constexpr std::size_t kMaxTargetLength = 8 * 1024;   // longer :path -> 414
inline constexpr std::size_t kMaxFieldSection = 16 * 1024;  // more header bytes -> 431
inline constexpr std::size_t kFieldOverhead = 32;           // RFC 9114 §4.2.2 / RFC 9204 §3.2.1
inline constexpr std::uint64_t kDefaultMaxGeneratedBytes = std::uint64_t{1} << 30;  // 1 GiB

enum class TargetKind {
  generated,  // /bytes/N: N pattern bytes
  file,       // a path under the document root
  refused,    // answered with `status` and `reason`, nothing opened
};

struct Target {
  TargetKind kind = TargetKind::refused;
  int status = 400;        // refused: the status to answer
  std::string reason;      // refused: one line for the log and the body
  std::string rel_path;    // file: relative to the document root, never empty, no leading '/'
  std::uint64_t size = 0;  // generated: N
  bool resumable = true;   // generated: false for ?resumable=0 (no validator, Range ignored)
  // Testing knobs for clients that split or resume (issue 13), generated bodies only:
  bool ignores_range = false;     // ?ranges=ignored: ETag and Accept-Ranges, yet every Range gets 200
  bool changes_on_range = false;  // ?etag=changes: a request with Range sees a new version (another
                                  // ETag, so If-Range fails: 200 whole), same bytes
  bool unknown_length = false;    // ?length=unknown: no content-length (a 206 keeps Content-Range)
};

// Classifies `method` `path` (the :method and :path pseudo-headers, RFC 9114 §4.3.1).
//  - only GET and HEAD are served: anything else is 405 (RFC 9110 §15.5.6);
//  - the target must be origin-form (RFC 9112 §3.2.1): starts with '/', at most
//    kMaxTargetLength bytes (414, RFC 9110 §15.5.15), only visible ASCII (RFC 3986 §3.3: no
//    space, control, DEL or non-ASCII byte) and no fragment (RFC 9110 §7.1) — else 400;
//  - no "." or ".." segment (RFC 3986 §3.3 dot-segments are not resolved here: refused, 400);
//  - /bytes/N: N decimal digits only, N <= max_generated; beyond it (or overflowing) 404 naming
//    the cap (this server has no such resource). ?resumable=0 makes it non-resumable,
//    ?ranges=ignored a server that advertises ranges and answers 200, ?etag=changes a body
//    replaced by a new version (same bytes, another ETag) as soon as a Range is asked;
//  - otherwise a file: the path without its query, "index.html" appended to a directory path.
Target classify_request(std::string_view method, std::string_view path, std::uint64_t max_generated);

// If-Range, Range only with GET, HEAD without content: examples/common/http_rules.h.

// Log lines an attacker can trigger (refused requests): `burst` lines at once, then
// `per_second`, on qamp's one token bucket (qamp/reset_guard.h: TokenBucket). Time is an argument
// (nanoseconds). allow() returns whether to print and how many lines were suppressed since the
// last printed one.
class LogLimiter {
 public:
  LogLimiter(double per_second, double burst) : bucket_(RateLimit{per_second, burst}) {}
  struct Verdict {
    bool print = false;
    std::uint64_t suppressed_before = 0;
  };
  Verdict allow(std::uint64_t now_ns);

 private:
  TokenBucket bucket_;
  std::uint64_t suppressed_ = 0;
};

}  // namespace qamp::server
