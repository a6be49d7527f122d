// qamp-client's Download with split pieces (issue 13, examples/client/download.cc): range bytes
// written at their offsets, out of order and overlapping the forward stream, join the prefix
// only when they touch it; the download is complete only when [0, size) is held and the SHA-256
// of the saved file (read back by the hasher thread) matches the server's. One row per shape;
// the body is the /bytes/N pattern and every digest is computed here.
#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <gnutls/crypto.h>

#include "download.h"
#include "http_range.h"
#include "qamp/hex.h"

using qamp::client::Download;

namespace {

constexpr std::uint64_t kSize = 300000;

std::vector<std::uint8_t> body() {
  std::vector<std::uint8_t> b(kSize);
  for (std::uint64_t i = 0; i < kSize; ++i) b[i] = qamp::common::pattern_byte(i);
  return b;
}

std::string sha256_hex(const std::vector<std::uint8_t> &b) {
  std::uint8_t d[32];
  REQUIRE(gnutls_hash_fast(GNUTLS_DIG_SHA256, b.data(), b.size(), d) == 0);
  return qamp::to_hex(std::span<const std::uint8_t>(d, 32));
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/qamp-download-pieces-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

// [begin, end) of the body, with every byte flipped when `corrupt`.
struct Piece {
  std::uint64_t begin, end;
  bool corrupt = false;
};

struct Row {
  const char *name;
  std::uint64_t forward;  // bytes of the forward stream (the old connection's 200)
  std::vector<Piece> pieces;
  bool complete;
  const char *error;  // a substring of the verdict's error ("" when complete)
};

}  // namespace

TEST_CASE("split pieces: the saved file is the body only when every byte is held and the digest matches") {
  const auto b = body();
  const auto sha = sha256_hex(b);
  std::vector<Piece> reverse_small;  // 1000-byte chunks from the end down to 100000
  for (std::uint64_t e = kSize; e > 100000; e -= 1000) reverse_small.push_back({e - 1000, e});
  const std::vector<Row> rows = {
      {"tail then middle", 100000, {{200000, 300000}, {100000, 200000}}, true, ""},
      {"forward past a piece's start (overlap, same bytes)", 150000, {{120000, 300000}}, true, ""},
      {"pieces overlapping each other", 50000, {{200000, 300000}, {40000, 250000}}, true, ""},
      {"reverse 1000-byte chunks", 100000, reverse_small, true, ""},
      {"all from pieces, no forward bytes", 0, {{150000, 300000}, {0, 150000}}, true, ""},
      {"a gap between the prefix and the tail", 100000, {{200000, 300000}}, false, "incomplete"},
      {"the last byte missing", 100000, {{100000, 299999}}, false, "incomplete"},
      {"a piece with other bytes", 100000, {{200000, 300000, true}, {100000, 200000}}, false, "SHA-256 mismatch"},
  };
  for (const auto &row : rows) {
    DYNAMIC_SECTION(row.name) {
      TempDir dir;
      Download d(*qamp::client::parse_target("https://example.test/bytes/300000"), dir.path);
      std::string error;
      REQUIRE(d.open(&error));
      (void)d.request("example.test", false);
      for (const auto &[n, v] : std::vector<std::pair<std::string, std::string>>{
               {":status", "200"},
               {"content-length", std::to_string(kSize)},
               {"etag", "\"v1\""},
               {"accept-ranges", "bytes"},
               {"x-qamp-body-sha256", sha}})
        d.on_header(n, v);
      d.on_headers_end();
      for (std::uint64_t at = 0; at < row.forward; at += 1200)  // DATA-sized chunks
        d.on_body({b.data() + at, static_cast<std::size_t>(std::min<std::uint64_t>(1200, row.forward - at))});
      d.flush();
      for (const auto &p : row.pieces) {
        std::vector<std::uint8_t> bytes(b.begin() + static_cast<long>(p.begin), b.begin() + static_cast<long>(p.end));
        if (p.corrupt)
          for (auto &x : bytes) x ^= 0xff;
        REQUIRE(d.write_piece(p.begin, bytes));
      }
      CHECK(d.absorb_pieces() == (row.error != std::string("incomplete")));
      d.verify();
      CHECK(d.complete() == row.complete);
      if (row.complete) {
        CHECK(d.sha256() == sha);
        std::ifstream in(dir.path + "/300000", std::ios::binary);  // renamed over the target
        std::vector<std::uint8_t> saved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(saved == b);
      } else {
        INFO("error: " << d.error());
        CHECK(d.error().find(row.error) != std::string::npos);
        struct stat st {};
        CHECK(stat((dir.path + "/300000").c_str(), &st) != 0);  // nothing saved
      }
    }
  }
}

TEST_CASE("split pieces: a piece past the announced length is refused and fails the download") {
  TempDir dir;
  Download d(*qamp::client::parse_target("https://example.test/bytes/300000"), dir.path);
  std::string error;
  REQUIRE(d.open(&error));
  (void)d.request("example.test", false);
  d.on_header(":status", "200");
  d.on_header("content-length", std::to_string(kSize));
  d.on_headers_end();
  const std::vector<std::uint8_t> bytes(20, 0);
  CHECK_FALSE(d.write_piece(kSize - 10, bytes));
  CHECK(d.failed());
  CHECK(d.error().find("ran past the announced 300000 bytes") != std::string::npos);
}

TEST_CASE("split pieces: without a saved file there is nowhere to put a range") {
  Download d(*qamp::client::parse_target("https://example.test/bytes/300000"), "");
  std::string error;
  REQUIRE(d.open(&error));
  (void)d.request("example.test", false);
  d.on_header(":status", "200");
  d.on_headers_end();
  const std::vector<std::uint8_t> bytes(20, 0);
  CHECK_FALSE(d.write_piece(0, bytes));
  CHECK(d.error().find("needs a saved file") != std::string::npos);
}
