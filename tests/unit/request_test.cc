// qamp-server's pure request rules (examples/server/request.h): the request target (RFC 9112
// §3.2.1 origin-form, RFC 3986 §3.3, RFC 9110 §15.5.15), /bytes/N and its cap, and the log
// limiter. One row per rule. If-Range, Range methods and HEAD: http_rules_test.cc.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "request.h"

using namespace qamp::common;
using namespace qamp::server;

TEST_CASE("classify_request: request-target rules") {
  struct Row {
    const char *rule;
    std::string method, path;
    TargetKind kind;
    int status;
    std::string rel_path;
  };
  const std::string long_path = "/" + std::string(kMaxTargetLength, 'a');
  const std::string max_path = "/" + std::string(kMaxTargetLength - 1, 'a');
  const std::vector<Row> rows = {
      {"GET of a file", "GET", "/file.bin", TargetKind::file, 200, "file.bin"},
      {"HEAD of a file", "HEAD", "/d/file.bin", TargetKind::file, 200, "d/file.bin"},
      {"directory path: index.html", "GET", "/d/", TargetKind::file, 200, "d/index.html"},
      {"root: index.html", "GET", "/", TargetKind::file, 200, "index.html"},
      {"query is not part of the file", "GET", "/f?x=1", TargetKind::file, 200, "f"},
      {"percent-encoding is not decoded (a literal name)", "GET", "/a%20b", TargetKind::file, 200, "a%20b"},
      {"leading slashes: relative, never absolute", "GET", "//f", TargetKind::file, 200, "f"},
      {"inner empty segments are kept (the kernel resolves them)", "GET", "/a//f", TargetKind::file, 200, "a//f"},
      {"§15.5.6 POST: 405", "POST", "/f", TargetKind::refused, 405, ""},
      {"§15.5.6 lowercase get is another method: 405", "get", "/f", TargetKind::refused, 405, ""},
      {"§15.5.6 empty method: 405", "", "/f", TargetKind::refused, 405, ""},
      {"origin-form: empty path 400", "GET", "", TargetKind::refused, 400, ""},
      {"origin-form: asterisk 400", "GET", "*", TargetKind::refused, 400, ""},
      {"origin-form: absolute-form 400", "GET", "https://h/f", TargetKind::refused, 400, ""},
      {"RFC 3986 §3.3: space 400", "GET", "/a b", TargetKind::refused, 400, ""},
      {"RFC 3986 §3.3: tab 400", "GET", "/a\tb", TargetKind::refused, 400, ""},
      {"RFC 3986 §3.3: NUL 400", "GET", std::string("/a\0b", 4), TargetKind::refused, 400, ""},
      {"RFC 3986 §3.3: DEL 400", "GET", "/a\x7f", TargetKind::refused, 400, ""},
      {"RFC 3986 §3.3: non-ASCII 400", "GET", "/caf\xc3\xa9", TargetKind::refused, 400, ""},
      {"RFC 3986 §3.3: space in the query 400", "GET", "/f?a b", TargetKind::refused, 400, ""},
      {"RFC 9110 §7.1: fragment 400", "GET", "/f#x", TargetKind::refused, 400, ""},
      {"dot-segment ..: 400", "GET", "/../etc/passwd", TargetKind::refused, 400, ""},
      {"dot-segment .. inside: 400", "GET", "/a/../b", TargetKind::refused, 400, ""},
      {"dot-segment .. at the end: 400", "GET", "/a/..", TargetKind::refused, 400, ""},
      {"dot-segment . : 400", "GET", "/./f", TargetKind::refused, 400, ""},
      {"dots inside a name are a name", "GET", "/a..b/.c", TargetKind::file, 200, "a..b/.c"},
      {"dot-segment before the query: 400", "GET", "/a/..?x", TargetKind::refused, 400, ""},
      {"§15.5.15 target at the limit is served", "GET", max_path, TargetKind::file, 200, max_path.substr(1)},
      {"§15.5.15 target above the limit: 414", "GET", long_path, TargetKind::refused, 414, ""},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    auto t = classify_request(r.method, r.path, 1000);
    CHECK(t.kind == r.kind);
    CHECK(t.status == r.status);
    CHECK(t.rel_path == r.rel_path);
    if (t.kind == TargetKind::refused) CHECK(!t.reason.empty());
  }
}

TEST_CASE("classify_request: /bytes/N and --max-generated-bytes") {
  struct Row {
    const char *rule;
    std::string path;
    std::uint64_t cap;
    TargetKind kind;
    int status;
    std::uint64_t size;
    bool resumable;
  };
  const std::vector<Row> rows = {
      {"N below the cap", "/bytes/999", 1000, TargetKind::generated, 200, 999, true},
      {"N at the cap", "/bytes/1000", 1000, TargetKind::generated, 200, 1000, true},
      {"N above the cap: 404", "/bytes/1001", 1000, TargetKind::refused, 404, 0, true},
      {"zero", "/bytes/0", 1000, TargetKind::generated, 200, 0, true},
      {"leading zeros are digits", "/bytes/0010", 1000, TargetKind::generated, 200, 10, true},
      {"overflowing uint64: 404", "/bytes/99999999999999999999999", UINT64_MAX, TargetKind::refused, 404, 0, true},
      {"UINT64_MAX at an UINT64_MAX cap", "/bytes/18446744073709551615", UINT64_MAX, TargetKind::generated, 200,
       UINT64_MAX, true},
      {"sign: 404 (strtoull took +5 and -1)", "/bytes/+5", 1000, TargetKind::refused, 404, 0, true},
      {"negative: 404", "/bytes/-1", 1000, TargetKind::refused, 404, 0, true},
      {"empty N: 404", "/bytes/", 1000, TargetKind::refused, 404, 0, true},
      {"trailing garbage: 404", "/bytes/12x", 1000, TargetKind::refused, 404, 0, true},
      {"huge with garbage is not 'too large'", "/bytes/99999999999x", 1000, TargetKind::refused, 404, 0, true},
      {"?resumable=0", "/bytes/10?resumable=0", 1000, TargetKind::generated, 200, 10, false},
      {"other query stays resumable", "/bytes/10?x=1", 1000, TargetKind::generated, 200, 10, true},
      {"?ranges=ignored is resumable (advertised)", "/bytes/10?ranges=ignored", 1000, TargetKind::generated, 200, 10,
       true},
      {"?etag=changes is resumable", "/bytes/10?etag=changes", 1000, TargetKind::generated, 200, 10, true},
      {"?length=unknown is resumable", "/bytes/10?length=unknown", 1000, TargetKind::generated, 200, 10, true},
      {"/bytes without slash is a file", "/bytes", 1000, TargetKind::file, 200, 0, true},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    auto t = classify_request("GET", r.path, r.cap);
    CHECK(t.kind == r.kind);
    CHECK(t.status == r.status);
    if (t.kind == TargetKind::generated) {
      CHECK(t.size == r.size);
      CHECK(t.resumable == r.resumable);
      CHECK(t.ignores_range == r.path.ends_with("?ranges=ignored"));
      CHECK(t.changes_on_range == r.path.ends_with("?etag=changes"));
      CHECK(t.unknown_length == r.path.ends_with("?length=unknown"));
    }
  }
  auto big = classify_request("GET", "/bytes/1001", 1000);
  CHECK(big.reason.find("too large") != std::string::npos);
  CHECK(big.reason.find("1000") != std::string::npos);  // names the cap
}

TEST_CASE("LogLimiter: burst, then the rate, and the suppressed count") {
  LogLimiter l(10, 3);  // 3 at once, then 10 per second
  constexpr std::uint64_t s = 1'000'000'000;
  std::uint64_t t = 5 * s;
  for (int i = 0; i < 3; ++i) CHECK(l.allow(t).print);
  for (int i = 0; i < 100; ++i) CHECK_FALSE(l.allow(t).print);  // a flood in one instant
  auto v = l.allow(t + s / 10);                                 // one token back after 100 ms
  CHECK(v.print);
  CHECK(v.suppressed_before == 100);
  CHECK_FALSE(l.allow(t + s / 10).print);
  // A long pause refills to the burst only.
  for (int i = 0; i < 3; ++i) CHECK(l.allow(t + 100 * s).print);
  CHECK_FALSE(l.allow(t + 100 * s).print);
  // A clock that goes backwards refills nothing.
  CHECK_FALSE(l.allow(t).print);
}
