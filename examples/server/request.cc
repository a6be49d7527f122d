#include "request.h"

#include <algorithm>

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

Target refuse(int status, std::string reason) {
  Target t;
  t.status = status;
  t.reason = std::move(reason);
  return t;
}

bool visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

bool has_dot_segment(std::string_view path) {
  // Segments between '/' (path starts with '/').
  for (std::size_t i = 1; i <= path.size();) {
    auto end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    auto seg = path.substr(i, end - i);
    if (seg == "." || seg == "..") return true;
    i = end + 1;
  }
  return false;
}

// Strict decimal (no sign, no space); nullopt when not digits or above `cap`.
std::optional<std::uint64_t> decimal_at_most(std::string_view s, std::uint64_t cap, bool *too_large) {
  *too_large = false;
  if (s.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (n > (cap - d) / 10) {
      // Keep checking the rest are digits: "/bytes/99999x" is not a size at all.
      *too_large = std::all_of(s.begin(), s.end(), [](char x) { return x >= '0' && x <= '9'; });
      return std::nullopt;
    }
    n = n * 10 + d;
  }
  return n;
}

}  // namespace

Target classify_request(std::string_view method, std::string_view path, std::uint64_t max_generated) {
  if (method != "GET" && method != "HEAD") return refuse(405, "method not allowed (GET, HEAD)");
  if (path.size() > kMaxTargetLength)
    return refuse(414, "request target longer than " + std::to_string(kMaxTargetLength) + " bytes");
  if (path.empty() || path.front() != '/') return refuse(400, "bad path: not origin-form");
  if (!visible_ascii(path)) return refuse(400, "bad path: space, control or non-ASCII byte");
  if (path.find('#') != std::string_view::npos) return refuse(400, "bad path: fragment");
  auto q = path.find('?');
  auto query = q == std::string_view::npos ? std::string_view{} : path.substr(q + 1);
  path = path.substr(0, q);
  if (has_dot_segment(path)) return refuse(400, "bad path: dot segment");

  constexpr std::string_view bytes_prefix = "/bytes/";
  if (path.starts_with(bytes_prefix)) {
    bool too_large = false;
    auto n = decimal_at_most(path.substr(bytes_prefix.size()), max_generated, &too_large);
    if (!n)
      return refuse(404, std::string(too_large ? "generated body too large: " : "bad size: ") +
                             "/bytes/N takes decimal N up to " + std::to_string(max_generated) +
                             " (--max-generated-bytes)");
    Target t;
    t.kind = TargetKind::generated;
    t.status = 200;
    t.size = *n;
    t.resumable = query != "resumable=0";
    t.ignores_range = query == "ranges=ignored";
    t.changes_on_range = query == "etag=changes";
    t.unknown_length = query == "length=unknown";
    return t;
  }
  Target t;
  t.kind = TargetKind::file;
  t.status = 200;
  // Relative to the root: every leading '/' goes ("//f" is "f", not the absolute "/f").
  auto first = path.find_first_not_of('/');
  t.rel_path = first == std::string_view::npos ? std::string() : std::string(path.substr(first));
  if (t.rel_path.empty() || t.rel_path.back() == '/') t.rel_path += "index.html";
  return t;
}

LogLimiter::Verdict LogLimiter::allow(std::uint64_t now_ns) {
  if (!bucket_.try_take(now_ns)) {
    ++suppressed_;
    return {};
  }
  Verdict v{true, suppressed_};
  suppressed_ = 0;
  return v;
}

}  // namespace qamp::server
