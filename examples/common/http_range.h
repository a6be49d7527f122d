// examples/common/http_range.h — single-range HTTP Range requests (RFC 9110 §14) and the
// deterministic /bytes/N body, shared by qamp-server and qamp-client.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qamp::common {

struct ByteRange {
  std::uint64_t first;  // inclusive
  std::uint64_t last;   // inclusive
  std::uint64_t length() const noexcept { return last - first + 1; }
  friend bool operator==(const ByteRange &, const ByteRange &) = default;
};

enum class RangeStatus {
  none,           // no Range header, a multi-range or a non-bytes unit: serve 200 whole body
  satisfiable,    // serve 206 with `range`
  unsatisfiable,  // serve 416 with Content-Range: bytes */size
};

struct RangeRequest {
  RangeStatus status = RangeStatus::none;
  ByteRange range{0, 0};
};

// Parses "bytes=a-b", "bytes=a-", "bytes=-n" against a body of `size` bytes (RFC 9110 §14.1.2).
// A syntactically invalid header is ignored (status none), as RFC 9110 §14.2 allows.
RangeRequest parse_range(std::string_view header, std::uint64_t size);
// "bytes first-last/size"
std::string content_range(const ByteRange &r, std::uint64_t size);
// Parses "bytes first-last/size" (a 206 response); nullopt when malformed.
std::optional<std::pair<ByteRange, std::uint64_t>> parse_content_range(std::string_view value);

// A header field's decimal value ("content-length", ":status"), optional whitespace around it
// (RFC 9110 §5.5); nullopt for anything else.
std::optional<std::uint64_t> parse_decimal(std::string_view value);

// The /bytes/N body: byte i of every such body is pattern_byte(i), a fixed pseudo-random
// sequence with a long period (kPatternPeriod), so a misplaced chunk changes the SHA-256.
inline constexpr std::size_t kPatternPeriod = 1048573;  // prime, ~1 MiB
// A view into a static table holding the pattern from `offset` on (at least `want` bytes or up
// to the end of the table, whichever is shorter, never empty).
std::span<const std::uint8_t> pattern_at(std::uint64_t offset, std::size_t want) noexcept;
std::uint8_t pattern_byte(std::uint64_t offset) noexcept;

}  // namespace qamp::common
