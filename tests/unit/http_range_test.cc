// Range handling of qamp-server / qamp-client (RFC 9110 §14) and the /bytes/N pattern.
#include <catch2/catch_test_macros.hpp>
#include <set>
#include <string>
#include <vector>

#include "http_range.h"

using namespace qamp::common;

TEST_CASE("parse_range: one row per RFC 9110 §14.1.2 form") {
  struct Row {
    const char *name;
    const char *header;
    std::uint64_t size;
    RangeStatus status;
    ByteRange range;
  };
  const std::vector<Row> rows = {
      {"no header", "", 100, RangeStatus::none, {}},
      {"first-last", "bytes=10-19", 100, RangeStatus::satisfiable, {10, 19}},
      {"open end (resume)", "bytes=40-", 100, RangeStatus::satisfiable, {40, 99}},
      {"last clamped to size", "bytes=90-1000", 100, RangeStatus::satisfiable, {90, 99}},
      {"suffix", "bytes=-10", 100, RangeStatus::satisfiable, {90, 99}},
      {"suffix longer than body", "bytes=-1000", 100, RangeStatus::satisfiable, {0, 99}},
      {"whitespace tolerated", " bytes= 5-6 ", 100, RangeStatus::satisfiable, {5, 6}},
      {"first at size: 416", "bytes=100-", 100, RangeStatus::unsatisfiable, {}},
      {"first past size: 416", "bytes=500-600", 100, RangeStatus::unsatisfiable, {}},
      {"zero suffix: 416", "bytes=-0", 100, RangeStatus::unsatisfiable, {}},
      {"empty body, any range: 416", "bytes=0-", 0, RangeStatus::unsatisfiable, {}},
      {"multi-range ignored", "bytes=0-1,5-6", 100, RangeStatus::none, {}},
      {"other unit ignored", "items=0-1", 100, RangeStatus::none, {}},
      {"last before first ignored", "bytes=9-3", 100, RangeStatus::none, {}},
      {"garbage ignored", "bytes=a-b", 100, RangeStatus::none, {}},
      {"no dash ignored", "bytes=5", 100, RangeStatus::none, {}},
  };
  for (auto &r : rows) {
    CAPTURE(r.name);
    auto got = parse_range(r.header, r.size);
    CHECK(got.status == r.status);
    if (r.status == RangeStatus::satisfiable) CHECK(got.range == r.range);
  }
}

TEST_CASE("content_range round trip and malformed Content-Range") {
  CHECK(content_range({40, 99}, 100) == "bytes 40-99/100");
  auto p = parse_content_range("bytes 40-99/100");
  REQUIRE(p);
  CHECK(p->first == ByteRange{40, 99});
  CHECK(p->second == 100);
  for (auto bad : {"bytes 40-99", "bytes 99-40/100", "bytes 40-100/100", "items 1-2/3", "bytes */100", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_content_range(bad));
  }
}

TEST_CASE("pattern: deterministic, contiguous slices, long period") {
  // Slices agree with byte-wise access, across the period boundary too.
  for (std::uint64_t off : {std::uint64_t{0}, std::uint64_t{12345}, kPatternPeriod - 3, 5 * kPatternPeriod + 7}) {
    CAPTURE(off);
    auto s = pattern_at(off, 10);
    REQUIRE(s.size() == 10);
    for (std::size_t i = 0; i < s.size(); ++i) CHECK(s[i] == pattern_byte(off + i));
  }
  // Not trivially periodic at small shifts: a chunk misplaced by a few KiB changes the bytes.
  std::set<std::uint64_t> shifts = {1, 1024, 4096, 65536, 1 << 20};
  for (auto shift : shifts) {
    CAPTURE(shift);
    auto a = pattern_at(1000, 64), b = pattern_at(1000 + shift, 64);
    CHECK(std::vector<std::uint8_t>(a.begin(), a.end()) != std::vector<std::uint8_t>(b.begin(), b.end()));
  }
}

TEST_CASE("parse_decimal: a header's decimal value, whitespace around it allowed") {
  struct Row {
    std::string_view in;
    std::optional<std::uint64_t> want;
  };
  for (const Row &r : {Row{"200", 200}, Row{" 1048576 ", 1048576}, Row{"\t7\t", 7}, Row{"0", 0},
                       Row{"18446744073709551615", UINT64_MAX}, Row{"18446744073709551616", std::nullopt},
                       Row{"", std::nullopt}, Row{"  ", std::nullopt}, Row{"-1", std::nullopt}, Row{"+1", std::nullopt},
                       Row{"12a", std::nullopt}, Row{"1 2", std::nullopt}, Row{"0x10", std::nullopt}}) {
    INFO("'" << r.in << "'");
    CHECK(parse_decimal(r.in) == r.want);
  }
}
