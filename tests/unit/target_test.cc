// qamp-client's <URI> targets (examples/client/target.cc): the file name a body is saved as, and
// the refusal of two <URI>s that would save to one file.
#include <catch2/catch_test_macros.hpp>

#include "target.h"

using qamp::client::duplicate_file_name;
using qamp::client::parse_target;
using qamp::client::Target;

namespace {
std::vector<Target> targets(std::initializer_list<const char *> uris) {
  std::vector<Target> out;
  for (const char *u : uris) out.push_back(*parse_target(u));
  return out;
}
}  // namespace

TEST_CASE("parse_target: file names") {
  struct Row {
    const char *uri;
    const char *path, *authority, *file;
  };
  const Row rows[] = {
      {"https://127.0.0.1:4433/a/b.bin", "/a/b.bin", "127.0.0.1:4433", "b.bin"},
      {"https://h:1/a/b.bin?x=1#f", "/a/b.bin?x=1#f", "h:1", "b.bin"},
      {"https://h:1", "/", "h:1", "index.html"},
      {"/dir/", "/dir/", "", "index.html"},
      {"/..", "/..", "", "index.html"},
      {"/.", "/.", "", "index.html"},
      {"/x/..?q", "/x/..?q", "", "index.html"},
  };
  for (const auto &r : rows) {
    INFO(r.uri);
    auto t = parse_target(r.uri);
    REQUIRE(t);
    CHECK(t->path == r.path);
    CHECK(t->authority == r.authority);
    CHECK(t->file_name == r.file);
  }
  CHECK_FALSE(parse_target("relative"));
  CHECK_FALSE(parse_target(""));
  CHECK_FALSE(parse_target("https:///x"));
  // HTTP/3 is https only (RFC 9114 §3.1); the scheme is case-insensitive (RFC 3986 §3.1).
  CHECK(parse_target("HTTPS://h:1/x"));
  CHECK_FALSE(parse_target("http://h:1/x"));
  CHECK_FALSE(parse_target("ftp://h/x"));
  CHECK_FALSE(parse_target("://h/x"));
}

TEST_CASE("duplicate_file_name: same basename from different paths or queries") {
  CHECK_FALSE(duplicate_file_name({}));
  CHECK_FALSE(duplicate_file_name(targets({"/a/x", "/a/y", "/b/z"})));
  auto d = duplicate_file_name(targets({"/a/x", "/b/y", "/c/x"}));
  REQUIRE(d);
  CHECK(d->first == 0);
  CHECK(d->second == 2);
  d = duplicate_file_name(targets({"/f?v=1", "/f?v=2"}));
  REQUIRE(d);
  CHECK(*d == std::pair<std::size_t, std::size_t>{0, 1});
  // Both end in "/": both are index.html.
  CHECK(duplicate_file_name(targets({"/a/", "https://h:1/b/"})));
  // The same URI twice is a duplicate too.
  CHECK(duplicate_file_name(targets({"/f", "/f"})));
}
