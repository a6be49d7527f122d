// examples/server/response.h — what qamp-server answers to a GET: files under htdocs and the
// generated /bytes/N body, with ETag, Accept-Ranges, single Range requests (206 / 416) and the
// full body's SHA-256 in x-qamp-body-sha256 so a client can check what it stitched together.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace qamp::ex {

inline constexpr const char *kBodySha256Header = "x-qamp-body-sha256";
inline constexpr std::uint64_t kMaxGeneratedBody = std::uint64_t{4} << 30;  // 4 GiB

// The bytes of a response body, readable at any offset while the object lives.
class Body {
 public:
  virtual ~Body() = default;
  virtual std::uint64_t size() const noexcept = 0;
  // Up to `want` bytes from `offset` (< size()); never empty.
  virtual std::span<const std::uint8_t> at(std::uint64_t offset, std::size_t want) const noexcept = 0;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // without :status
  std::shared_ptr<const Body> body;                          // full representation (or null)
  std::uint64_t body_offset = 0;                             // first byte to send
  std::uint64_t body_length = 0;                             // bytes to send
};

// Builds the response for `method` `path` with an optional Range / If-Range header.
Response respond(const std::string &htdocs, const std::string &method, const std::string &path,
                 const std::string &range, const std::string &if_range);

// SHA-256 (hex) of a whole body, cached by key.
std::string body_sha256(const std::string &key, const Body &body);

}  // namespace qamp::ex
