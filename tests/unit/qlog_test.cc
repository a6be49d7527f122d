// The one qlog writer (examples/common/qlog.cc): qamp's events never split one of ngtcp2's
// JSON-SEQ records, however ngtcp2 cuts its writes, and nothing is lost at close.
#include <catch2/catch_test_macros.hpp>

#include <ngtcp2/ngtcp2.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "qlog.h"

using qamp::common::Json;
using qamp::common::QlogFile;

namespace {
std::string slurp(const std::string &path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::string temp_path() {
  char name[] = "/tmp/qamp-qlog-test.XXXXXX";
  int fd = mkstemp(name);
  REQUIRE(fd >= 0);
  close(fd);
  return name;
}
void write(QlogFile &q, std::string_view s, std::uint32_t flags = 0) { q.ngtcp2_write(s.data(), s.size(), flags); }
}  // namespace

TEST_CASE("QlogFile: an event waits for ngtcp2's record boundary") {
  auto path = temp_path();
  QlogFile q;
  std::string error;
  REQUIRE(q.open(path, &error));
  write(q, "\x1e{\"a\":");  // ngtcp2's record, first half
  q.event(1.5, "qamp:x", Json::object().set("k", "v"));
  write(q, "1}\n");           // ... and the rest: now the event may follow
  write(q, "\x1e{\"b\":2}");  // a record without its newline yet
  q.event(2, "qamp:y", Json::object());
  write(q, "", NGTCP2_QLOG_WRITE_FLAG_FIN);  // the end of ngtcp2's stream is a boundary too
  q.close();
  CHECK(slurp(path) ==
        "\x1e{\"a\":1}\n\x1e{\"time\":1.5,\"name\":\"qamp:x\",\"data\":{\"k\":\"v\"}}\n"
        "\x1e{\"b\":2}\x1e{\"time\":2,\"name\":\"qamp:y\",\"data\":{}}\n");
  std::remove(path.c_str());
}

TEST_CASE("QlogFile: close writes what was still waiting; closed files take nothing") {
  auto path = temp_path();
  QlogFile q;
  REQUIRE(q.open(path, nullptr));
  write(q, "\x1e{\"cut");
  q.event(0, "qamp:last", Json::object());
  q.close();
  CHECK(slurp(path) == "\x1e{\"cut\x1e{\"time\":0,\"name\":\"qamp:last\",\"data\":{}}\n");
  q.event(1, "qamp:after", Json::object());  // no file: ignored
  write(q, "x");
  CHECK_FALSE(q.is_open());
  std::remove(path.c_str());
}

TEST_CASE("QlogFile: an unopenable path is an error naming it") {
  QlogFile q;
  std::string error;
  CHECK_FALSE(q.open("/nonexistent-dir/q.sqlog", &error));
  CHECK(error == "cannot open qlog file /nonexistent-dir/q.sqlog");
}
