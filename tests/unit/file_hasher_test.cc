// qamp-client's FileHasher: the digest is always the SHA-256 of the file as it ends up, across
// rewinds (restart: truncated, resume: kept prefix re-read), and a short file is an error, not a
// hang. One row per scenario; every expected digest is computed here from the file itself.
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <gnutls/crypto.h>

#include "file_hasher.h"

using qamp::client::FileHasher;

namespace {

struct TempFile {
  std::string path;
  int fd = -1;
  TempFile() {
    char tmpl[] = "/tmp/qamp-file-hasher-XXXXXX";
    fd = mkstemp(tmpl);
    path = tmpl;
  }
  ~TempFile() {
    if (fd >= 0) close(fd);
    unlink(path.c_str());
  }
  void write_at(const std::vector<std::uint8_t> &data, std::uint64_t off) const {
    REQUIRE(pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)) == static_cast<ssize_t>(data.size()));
  }
  FileHasher::Digest digest() const {  // of the whole file as it is now
    std::vector<std::uint8_t> all(static_cast<std::size_t>(lseek(fd, 0, SEEK_END)));
    REQUIRE(pread(fd, all.data(), all.size(), 0) == static_cast<ssize_t>(all.size()));
    FileHasher::Digest d;
    REQUIRE(gnutls_hash_fast(GNUTLS_DIG_SHA256, all.data(), all.size(), d.data()) == 0);
    return d;
  }
};

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto &b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

// Writes `n` bytes at `from` in uneven chunks (like DATA frames and batch flushes), advancing
// the hasher after each.
void write_in_chunks(const TempFile &f, FileHasher &h, std::uint64_t from, std::size_t n, unsigned seed) {
  auto data = random_bytes(n, seed);
  std::size_t off = 0, step = 1;
  while (off < n) {
    auto len = std::min<std::size_t>(n - off, 1 + (step * 7919) % 70000);
    f.write_at({data.begin() + static_cast<long>(off), data.begin() + static_cast<long>(off + len)}, from + off);
    off += len;
    ++step;
    h.advance(from + off);
  }
}

}  // namespace

TEST_CASE("FileHasher: the digest is the file's, one row per scenario") {
  enum class Step { write, restart, corrupt_then_resume };
  struct Row {
    const char *name;
    std::vector<std::pair<Step, std::size_t>> steps;  // (what, bytes)
  };
  const std::vector<Row> rows = {
      {"empty file", {}},
      {"below one batch", {{Step::write, 1000}}},
      {"several MB in uneven chunks", {{Step::write, 3 * 1024 * 1024 + 17}}},
      {"restart: truncated, written again", {{Step::write, 700000}, {Step::restart, 0}, {Step::write, 400000}}},
      {"restart to nothing", {{Step::write, 700000}, {Step::restart, 0}}},
      {"resume after the saved prefix changed on disk",
       {{Step::write, 900000}, {Step::corrupt_then_resume, 0}, {Step::write, 500000}}},
      {"resume twice",
       {{Step::write, 300000},
        {Step::corrupt_then_resume, 0},
        {Step::write, 300000},
        {Step::corrupt_then_resume, 0},
        {Step::write, 1}}},
  };
  for (const auto &row : rows) {
    INFO(row.name);
    TempFile f;
    REQUIRE(f.fd >= 0);
    std::string error;
    auto h = FileHasher::start(f.fd, &error);
    REQUIRE(h);
    std::uint64_t end = 0;
    unsigned seed = 1;
    for (auto [step, n] : row.steps) {
      switch (step) {
        case Step::write:
          write_in_chunks(f, *h, end, n, seed++);
          end += n;
          break;
        case Step::restart:
          h->rewind(0);
          REQUIRE(ftruncate(f.fd, 0) == 0);
          end = 0;
          break;
        case Step::corrupt_then_resume: {
          // Let the thread hash the prefix first, so only a re-read can see the change.
          std::string e;
          REQUIRE(h->drain(end, &e));
          f.write_at({0x5a}, end / 2);
          h->rewind(end);
          break;
        }
      }
    }
    auto d = h->finish(end, &error);
    REQUIRE(d);
    CHECK(*d == f.digest());
  }
}

TEST_CASE("FileHasher: a file shorter than what was announced is an error, not a hang") {
  TempFile f;
  std::string error;
  auto h = FileHasher::start(f.fd, &error);
  REQUIRE(h);
  write_in_chunks(f, *h, 0, 500000, 7);
  REQUIRE(ftruncate(f.fd, 400000) == 0);
  CHECK_FALSE(h->finish(500000, &error));
  CHECK(error.find("ends at") != std::string::npos);
  // A rewind clears the error: a restart starts clean.
  h->rewind(0);
  REQUIRE(ftruncate(f.fd, 0) == 0);
  write_in_chunks(f, *h, 0, 1234, 8);
  auto d = h->finish(1234, &error);
  REQUIRE(d);
  CHECK(*d == f.digest());
}
