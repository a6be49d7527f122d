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

namespace qamp::server {

class DocRoot;

inline constexpr const char *kBodySha256Header = "x-qamp-body-sha256";

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
  // Non-empty: the x-qamp-body-sha256 header of `digest_body` (the full representation) is
  // still to be added with add_digest() before the header section is sent. Computing it is
  // the caller's (off the loop: digest_worker.h); `digest_key` names the bytes for a cache.
  std::string digest_key;
  std::shared_ptr<const Body> digest_body;
  std::string refusal;  // a refused request (4xx/5xx): why, for the log; empty when served
};

struct Request {
  std::string method, path, range, if_range;
};

// Builds the response to `req` (rules in request.h): /bytes/N up to `max_generated` bytes, or
// a regular file beneath `root` (docroot.h), with ETag, Accept-Ranges and a single Range
// (206 / 416, GET only, If-Range per RFC 9110 §13.1.5); HEAD gets the same header section and
// no content. Never blocks on a file and never hashes: see digest_key.
Response respond(const DocRoot &root, const Request &req, std::uint64_t max_generated);

// Adds the x-qamp-body-sha256 header (`hex`) to a response that asked for it.
void add_digest(Response &r, const std::string &hex);

// A small text/plain response (refusals, 503 when the digest queue is full).
Response text_response(int status, std::string msg);

}  // namespace qamp::server
