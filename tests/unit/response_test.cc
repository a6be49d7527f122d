// qamp-server's responses (examples/server/response.cc) over a real document root in a
// temporary directory: what is served and what is refused (docroot.h: openat2 with
// RESOLVE_BENEATH, regular files only), the HEAD rule (RFC 9110 §9.3.2), Range with GET only
// (§14.2), If-Range (§13.1.5) and that no response is ever hashed inline (digest_key).
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "docroot.h"
#include "response.h"

using namespace qamp::server;
namespace fs = std::filesystem;

namespace {

struct TempRoot {
  fs::path base, root;
  TempRoot() {
    char tmpl[] = "/tmp/qamp-docroot-test.XXXXXX";
    base = mkdtemp(tmpl);
    root = base / "htdocs";
    fs::create_directories(root / "dir");
    write(root / "file.bin", std::string(1000, 'f'));
    write(root / "dir" / "index.html", "<p>index</p>");
    write(base / "secret.txt", "outside the root");
    mkfifo((root / "fifo").c_str(), 0644);
    fs::create_symlink("file.bin", root / "inside-link");                          // stays beneath
    fs::create_symlink("../secret.txt", root / "relative-escape");                 // leaves by ..
    fs::create_symlink((base / "secret.txt").string(), root / "absolute-escape");  // absolute
    fs::create_symlink("/etc/passwd", root / "passwd");
    fs::create_directory_symlink("/", root / "slash");      // a directory link out
    fs::create_directory_symlink("dir", root / "dirlink");  // a directory link in
    fs::create_symlink("loop2", root / "loop1");
    fs::create_symlink("loop1", root / "loop2");
  }
  ~TempRoot() { fs::remove_all(base); }
  static void write(const fs::path &p, const std::string &s) { std::ofstream(p, std::ios::binary) << s; }
};

std::string header(const Response &r, const std::string &name) {
  for (auto &[n, v] : r.headers)
    if (n == name) return v;
  return "";
}

}  // namespace

TEST_CASE("document root: regular files beneath the root only") {
  TempRoot t;
  DocRoot root;
  std::string err;
  REQUIRE(root.open(t.root.string(), &err));
  struct Row {
    const char *rule;
    const char *path;
    int status;
  };
  const std::vector<Row> rows = {
      {"a regular file", "/file.bin", 200},
      {"a directory's index.html", "/dir/", 200},
      {"a symlink that stays beneath the root", "/inside-link", 200},
      {"a directory symlink that stays beneath the root", "/dirlink/index.html", 200},
      {"missing: 404", "/nope", 404},
      {"a file as a directory: 404", "/file.bin/x", 404},
      {"a directory without '/': 403", "/dir", 403},
      {"a FIFO: 403 without blocking (O_NONBLOCK, S_ISREG)", "/fifo", 403},
      {"a symlink leaving by ..: 403", "/relative-escape", 403},
      {"an absolute symlink out: 403", "/absolute-escape", 403},
      {"a symlink to /etc/passwd: 403", "/passwd", 403},
      {"through a directory symlink to /: 403", "/slash/etc/passwd", 403},
      {"a symlink loop: 403", "/loop1", 403},
      {"dot-dot in the target: 400 before any open", "/../secret.txt", 400},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    auto start = std::chrono::steady_clock::now();
    auto resp = respond(root, {"GET", r.path, "", ""}, 1 << 20);
    CHECK(resp.status == r.status);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));  // a FIFO blocked forever
    if (r.status != 200) {
      CHECK_FALSE(resp.refusal.empty());
      CHECK(header(resp, kBodySha256Header).empty());
      CHECK(resp.digest_key.empty());
    }
  }
}

TEST_CASE("document root: a missing --htdocs is an error naming it") {
  DocRoot root;
  std::string err;
  CHECK_FALSE(root.open("/nonexistent/qamp-htdocs", &err));
  CHECK(err.find("/nonexistent/qamp-htdocs") != std::string::npos);
}

TEST_CASE("responses: HEAD, Range, If-Range, digest deferred") {
  TempRoot t;
  DocRoot root;
  std::string err;
  REQUIRE(root.open(t.root.string(), &err));
  auto get = respond(root, {"GET", "/bytes/100", "", ""}, 1 << 20);
  REQUIRE(get.status == 200);
  auto etag = header(get, "etag");
  struct Row {
    const char *rule;
    Request req;
    int status;
    std::uint64_t offset, length;
  };
  const std::vector<Row> rows = {
      {"GET: whole body", {"GET", "/bytes/100", "", ""}, 200, 0, 100},
      {"GET + Range: 206", {"GET", "/bytes/100", "bytes=10-19", ""}, 206, 10, 10},
      {"GET + Range past the end: 416", {"GET", "/bytes/100", "bytes=100-", ""}, 416, 0, 0},
      {"§13.1.5 If-Range matching: 206", {"GET", "/bytes/100", "bytes=10-19", etag}, 206, 10, 10},
      {"§13.1.5 If-Range other tag: 200 whole", {"GET", "/bytes/100", "bytes=10-19", "\"old\""}, 200, 0, 100},
      {"§13.1.5 If-Range weak: 200 whole", {"GET", "/bytes/100", "bytes=10-19", "W/" + etag}, 200, 0, 100},
      {"§13.1.5 If-Range date: 200 whole",
       {"GET", "/bytes/100", "bytes=10-19", "Sun, 06 Nov 1994 08:49:37 GMT"},
       200,
       0,
       100},
      {"§13.1.5 If-Range without Range: 200", {"GET", "/bytes/100", "", etag}, 200, 0, 100},
      {"§9.3.2 HEAD: 200, no content", {"HEAD", "/bytes/100", "", ""}, 200, 0, 0},
      {"§14.2 HEAD + Range: Range ignored, 200", {"HEAD", "/bytes/100", "bytes=10-19", ""}, 200, 0, 0},
      {"resumable=0 ignores Range", {"GET", "/bytes/100?resumable=0", "bytes=10-19", ""}, 200, 0, 100},
      {"ranges=ignored: Range answered whole", {"GET", "/bytes/100?ranges=ignored", "bytes=10-19", etag}, 200, 0, 100},
      {"etag=changes: If-Range fails once a Range is asked",
       {"GET", "/bytes/100?etag=changes", "bytes=10-19", etag},
       200,
       0,
       100},
      {"length=unknown: whole body, no content-length", {"GET", "/bytes/100?length=unknown", "", ""}, 200, 0, 100},
      {"length=unknown: 206 with Content-Range", {"GET", "/bytes/100?length=unknown", "bytes=10-", etag}, 206, 10, 90},
      {"etag=changes: Range without If-Range still served", {"GET", "/bytes/100?etag=changes", "bytes=10-19", ""},
       206,
       10,
       10},
      {"above the cap: 404", {"GET", "/bytes/1048577", "", ""}, 404, 0, 0},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    auto resp = respond(root, r.req, 1 << 20);
    CHECK(resp.status == r.status);
    if (r.req.path.ends_with("?ranges=ignored")) {  // still advertised: the server misbehaves knowingly
      CHECK(header(resp, "accept-ranges") == "bytes");
      CHECK(header(resp, "etag") == etag);
    }
    if (r.req.path.ends_with("?length=unknown")) {
      CHECK(header(resp, "content-length").empty());
      if (r.status == 206) CHECK(header(resp, "content-range") == "bytes 10-99/100");
    }
    if (r.req.path.ends_with("?etag=changes"))  // the new version's tag
      CHECK(header(resp, "etag") == "\"qamp-bytes-100-v2\"");
    if (r.status == 200 || r.status == 206) {
      CHECK(resp.body_offset == r.offset);
      CHECK(resp.body_length == r.length);
      // Never hashed inline: the caller gets the key and the full body to hash off the loop.
      CHECK(header(resp, kBodySha256Header).empty());
      CHECK(resp.digest_key == "bytes/100");
      REQUIRE(resp.digest_body);
      CHECK(resp.digest_body->size() == 100);
    }
  }
  // §9.3.2: HEAD's header section is GET's (content-length of the whole body included).
  auto head = respond(root, {"HEAD", "/bytes/100", "", ""}, 1 << 20);
  CHECK(head.headers == get.headers);
  CHECK(header(head, "content-length") == "100");
  auto head_file = respond(root, {"HEAD", "/file.bin", "", ""}, 1 << 20);
  auto get_file = respond(root, {"GET", "/file.bin", "", ""}, 1 << 20);
  CHECK(head_file.headers == get_file.headers);
  CHECK(head_file.body_length == 0);
  CHECK(get_file.body_length == 1000);
  // A 405 says what is allowed (RFC 9110 §15.5.6).
  auto post = respond(root, {"POST", "/file.bin", "", ""}, 1 << 20);
  CHECK(post.status == 405);
  CHECK(header(post, "allow") == "GET, HEAD");
  // add_digest puts the header on and clears the request for it.
  add_digest(get, "ab");
  CHECK(header(get, kBodySha256Header) == "ab");
  CHECK(get.digest_key.empty());
}
