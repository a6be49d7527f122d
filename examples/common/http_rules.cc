#include "http_rules.h"

#include <strings.h>

#include "http_range.h"

namespace qamp::common {

bool if_range_allows_range(std::string_view if_range, std::string_view etag) {
  if (if_range.empty()) return true;
  if (if_range.starts_with("W/") || etag.starts_with("W/")) return false;  // strong comparison only
  return if_range == etag;
}

bool method_uses_range(std::string_view method) { return method == "GET"; }

bool method_sends_content(std::string_view method) { return method != "HEAD"; }

std::string if_range_validator(std::string_view etag, std::string_view last_modified) {
  if (!etag.empty() && !etag.starts_with("W/")) return std::string(etag);
  return std::string(last_modified);
}

bool response_allows_resume(int status, std::string_view accept_ranges, std::string_view validator) {
  constexpr std::string_view bytes = "bytes";
  return status == 200 && accept_ranges.size() == bytes.size() &&
         ::strncasecmp(accept_ranges.data(), bytes.data(), bytes.size()) == 0 && !validator.empty();
}

ResponseVerdict judge_response(int status, std::optional<std::uint64_t> range_start,
                               std::optional<std::uint64_t> known_total, std::optional<std::uint64_t> content_length,
                               std::string_view content_range) {
  ResponseVerdict v;
  if (status == 200) {
    v.action = range_start ? ResponseAction::restart : ResponseAction::take_whole;
    v.total = content_length;
    return v;
  }
  if (status != 206) {
    v.error = "HTTP status " + std::to_string(status);
    return v;
  }
  if (!range_start) {
    v.error = "206 Partial Content to a request without Range";
    return v;
  }
  auto cr = parse_content_range(content_range);
  if (!cr) {
    v.error = "206 with a malformed Content-Range '" + std::string(content_range) + "'";
    return v;
  }
  if (cr->first.first != *range_start) {
    v.error =
        "206 Content-Range starts at " + std::to_string(cr->first.first) + ", expected " + std::to_string(*range_start);
    return v;
  }
  if (known_total && *known_total != cr->second) {
    v.error =
        "206 Content-Range full length " + std::to_string(cr->second) + " differs from " + std::to_string(*known_total);
    return v;
  }
  v.action = ResponseAction::take_range;
  v.total = cr->second;
  return v;
}

}  // namespace qamp::common
