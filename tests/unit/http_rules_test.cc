// The HTTP rules both programs apply (examples/common/http_rules.h), one row per rule: the
// server's If-Range (RFC 9110 §13.1.5), Range only with GET (§14.2), HEAD (§9.3.2); the client's
// If-Range validator, when a body is resumable, and what a response to a resume means (§15.3.7).
#include <catch2/catch_test_macros.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http_rules.h"

using namespace qamp::common;

TEST_CASE("if_range_allows_range: RFC 9110 §13.1.5") {
  struct Row {
    const char *rule;
    const char *if_range, *etag;
    bool allows;
  };
  const std::vector<Row> rows = {
      {"no If-Range: the Range applies", "", "\"v1\"", true},
      {"strong match", "\"v1\"", "\"v1\"", true},
      {"other tag: whole representation", "\"v0\"", "\"v1\"", false},
      {"weak tag never matches (strong comparison)", "W/\"v1\"", "\"v1\"", false},
      {"weak current tag never matches", "\"v1\"", "W/\"v1\"", false},
      {"unquoted tag is not the tag", "v1", "\"v1\"", false},
      {"a date: no Last-Modified sent, never an exact match", "Sun, 06 Nov 1994 08:49:37 GMT", "\"v1\"", false},
      {"case matters", "\"V1\"", "\"v1\"", false},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    CHECK(if_range_allows_range(r.if_range, r.etag) == r.allows);
  }
}

TEST_CASE("methods: Range only with GET (RFC 9110 §14.2), HEAD sends no content (§9.3.2)") {
  struct Row {
    const char *method;
    bool range, content;
  };
  const std::vector<Row> rows = {{"GET", true, true}, {"HEAD", false, false}};
  for (auto &r : rows) {
    CAPTURE(r.method);
    CHECK(method_uses_range(r.method) == r.range);
    CHECK(method_sends_content(r.method) == r.content);
  }
}

TEST_CASE("if_range_validator: a strong ETag, else Last-Modified (RFC 9110 §13.1.5)") {
  struct Row {
    const char *rule;
    const char *etag, *last_modified, *validator;
  };
  const std::vector<Row> rows = {
      {"strong ETag", "\"v1\"", "", "\"v1\""},
      {"strong ETag preferred over Last-Modified", "\"v1\"", "Sun, 06 Nov 1994 08:49:37 GMT", "\"v1\""},
      {"weak ETag cannot be sent: Last-Modified", "W/\"v1\"", "Sun, 06 Nov 1994 08:49:37 GMT",
       "Sun, 06 Nov 1994 08:49:37 GMT"},
      {"weak ETag, no Last-Modified: none", "W/\"v1\"", "", ""},
      {"no ETag: Last-Modified", "", "Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT"},
      {"neither: none", "", "", ""},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    CHECK(if_range_validator(r.etag, r.last_modified) == r.validator);
  }
}

TEST_CASE("response_allows_resume: 200, Accept-Ranges: bytes and a validator (RFC 9110 §14.3)") {
  struct Row {
    const char *rule;
    int status;
    const char *accept_ranges, *validator;
    bool resumable;
  };
  const std::vector<Row> rows = {
      {"200, bytes, validator", 200, "bytes", "\"v1\"", true},
      {"range unit is case-insensitive", 200, "Bytes", "\"v1\"", true},
      {"no Accept-Ranges", 200, "", "\"v1\"", false},
      {"Accept-Ranges: none (§14.3)", 200, "none", "\"v1\"", false},
      {"another unit", 200, "bytesx", "\"v1\"", false},
      {"no validator: a resume could stitch two versions", 200, "bytes", "", false},
      {"a 206 first response is not a basis", 206, "bytes", "\"v1\"", false},
      {"an error status", 404, "bytes", "\"v1\"", false},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    CHECK(response_allows_resume(r.status, r.accept_ranges, r.validator) == r.resumable);
  }
}

TEST_CASE("judge_response: what the response to a request means for the bytes received (RFC 9110 §15.3.7)") {
  using A = ResponseAction;
  constexpr auto none = std::nullopt;
  struct Row {
    const char *rule;
    int status;
    std::optional<std::uint64_t> range_start, known_total, content_length;
    const char *content_range;
    A action;
    std::optional<std::uint64_t> total;
    const char *error;  // a substring of the error, for fail rows
  };
  const std::vector<Row> rows = {
      {"200 to a whole request", 200, none, none, 1000, "", A::take_whole, 1000, ""},
      {"200 without Content-Length: length unknown", 200, none, none, none, "", A::take_whole, none, ""},
      {"200 to a resume: validator changed, start over", 200, 400, 1000, 1200, "", A::restart, 1200, ""},
      {"206 continuing at the offset", 206, 400, 1000, 600, "bytes 400-999/1000", A::take_range, 1000, ""},
      {"206 with the full length first learned here", 206, 400, none, 600, "bytes 400-999/1000", A::take_range, 1000,
       ""},
      {"206 without Range asked", 206, none, none, 600, "bytes 400-999/1000", A::fail, none, "without Range"},
      {"206 starting elsewhere", 206, 400, 1000, 600, "bytes 0-999/1000", A::fail, none, "starts at 0, expected 400"},
      {"206 naming another full length", 206, 400, 1000, 600, "bytes 400-1199/1200", A::fail, none,
       "full length 1200 differs from 1000"},
      {"206 with a malformed Content-Range", 206, 400, 1000, 600, "bytes 400-", A::fail, none, "malformed"},
      {"206 without Content-Range", 206, 400, 1000, 600, "", A::fail, none, "malformed"},
      {"416", 416, 400, 1000, 0, "bytes */1000", A::fail, none, "HTTP status 416"},
      {"404", 404, none, none, 10, "", A::fail, none, "HTTP status 404"},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    auto v = judge_response(r.status, r.range_start, r.known_total, r.content_length, r.content_range);
    CHECK(v.action == r.action);
    if (r.action == A::fail) {
      CHECK(v.error.find(r.error) != std::string::npos);
    } else {
      CHECK(v.total == r.total);
      CHECK(v.error.empty());
    }
  }
}
