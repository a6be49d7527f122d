// examples/common/http_rules.h — the HTTP semantics both programs apply to a download, in one
// tested place (tests/unit/http_rules_test.cc): which validator a client may send in If-Range,
// when a server honours it, which methods use Range and send content, when a first response
// makes a body resumable, and what a client does with the response to a resume. Range syntax
// (bytes=a-b, Content-Range) is http_range.h's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qamp::common {

// Server, RFC 9110 §13.1.5 If-Range: does a Range apply to a representation whose strong ETag is
// `etag` (and which has no Last-Modified)? True when If-Range is absent; when it is present
// only for an exact strong match: a weak tag (W/"...") never matches, nor does a date (we send
// no Last-Modified, so no date can be an exact match of it).
bool if_range_allows_range(std::string_view if_range, std::string_view etag);

// RFC 9110 §14.2: GET is the only method with range handling; a Range with HEAD (or any other
// method) is ignored, so HEAD answers what a GET without Range would.
bool method_uses_range(std::string_view method);

// RFC 9110 §9.3.2: HEAD gets the header section a GET would get (content-length included) and
// no content.
bool method_sends_content(std::string_view method);

// Client, RFC 9110 §13.1.5: the validator to send in If-Range when resuming: the ETag when it
// is strong; a weak one (W/"...") cannot be used, so Last-Modified then; empty when neither.
std::string if_range_validator(std::string_view etag, std::string_view last_modified);

// Client: a first response makes the body resumable when it is a 200 with Accept-Ranges: bytes
// (RFC 9110 §14.3, compared case-insensitively) and a validator to send in If-Range. Without a
// validator a resume could stitch two versions of the body together, so it is never attempted.
bool response_allows_resume(int status, std::string_view accept_ranges, std::string_view validator);

// Client: what the response head to a request means for the bytes already received.
enum class ResponseAction {
  take_whole,  // 200 to a request without Range: the body from offset 0
  restart,     // 200 to a resume (validator changed or Range ignored): discard, start at 0
  take_range,  // 206 continuing exactly at the requested offset
  fail,        // anything else: `error` names why
};

struct ResponseVerdict {
  ResponseAction action = ResponseAction::fail;
  std::optional<std::uint64_t> total;  // the full body length, when the response says it
  std::string error;
};

// `range_start` is the offset asked for with Range (nullopt: no Range sent); `known_total` the
// full length learned from an earlier response; `content_length` and `content_range` the
// response's own fields (empty content_range: none). RFC 9110 §15.3.7: a 206 without a Range,
// with a malformed Content-Range, starting elsewhere than asked, or naming a different full
// length than before fails the download instead of being stitched in.
ResponseVerdict judge_response(int status, std::optional<std::uint64_t> range_start,
                               std::optional<std::uint64_t> known_total, std::optional<std::uint64_t> content_length,
                               std::string_view content_range);

}  // namespace qamp::common
