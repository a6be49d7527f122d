// tests/fuzz/http_range_fuzzer.cc — libFuzzer target for examples/common/http_range.h: the Range
// header parser (RFC 9110 §14.1.2), the Content-Range parser a client applies to a 206 and the
// decimal header values (content-length, :status). A broken promise is an abort().
//
// Input layout: bytes 0-7 are the representation size (little-endian; the top byte is cleared
// half the time so small sizes get explored too); the rest is the header value, fed to every
// parser.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "http_range.h"

namespace {

using namespace qamp::common;

void expect(bool ok, const char *promise) {
  if (ok) return;
  std::fprintf(stderr, "http_range_fuzzer: broken promise: %s\n", promise);
  std::abort();
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void check_range(std::string_view header, std::uint64_t size) {
  auto r = parse_range(header, size);
  switch (r.status) {
    case RangeStatus::satisfiable: {
      expect(size > 0 && r.range.first <= r.range.last && r.range.last < size,
             "a satisfiable range lies inside the representation");
      expect(r.range.length() >= 1 && r.range.length() <= size, "a satisfiable range has 1..size bytes");
      auto cr = parse_content_range(content_range(r.range, size));
      expect(cr && cr->first == r.range && cr->second == size, "content_range round-trips through the parser");
      break;
    }
    case RangeStatus::unsatisfiable:
    case RangeStatus::none: break;
  }
  // Only the bytes unit is honoured, whatever follows.
  if (trim(header).substr(0, 6) != "bytes=") expect(r.status == RangeStatus::none, "a non-bytes unit is ignored");
  // A multi-range is served whole.
  if (header.find(',') != std::string_view::npos) expect(r.status == RangeStatus::none, "a multi-range is ignored");
}

void check_content_range(std::string_view value) {
  auto cr = parse_content_range(value);
  if (!cr) return;
  auto [range, size] = *cr;
  expect(range.first <= range.last && range.last < size, "a parsed Content-Range lies inside its size");
  auto again = parse_content_range(content_range(range, size));
  expect(again && *again == *cr, "a parsed Content-Range re-serialises to the same values");
}

void check_decimal(std::string_view value) {
  auto d = parse_decimal(value);
  auto t = trim(value);
  const bool digits = !t.empty() && t.size() <= 19 && std::all_of(t.begin(), t.end(), is_digit);
  if (digits) expect(d.has_value(), "up to 19 digits always parse");
  if (!d) return;
  expect(!t.empty() && std::all_of(t.begin(), t.end(), is_digit), "only digits (around optional whitespace) parse");
  expect(std::strtoull(std::string(t).c_str(), nullptr, 10) == *d, "the value is the decimal number");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t rep = 0;
  for (int i = 7; i >= 0; --i) rep = rep << 8 | data[i];
  if (data[7] & 1) rep &= 0x00ff'ffff'ffff'ffffull;
  if (data[6] & 1) rep &= 0xffff;
  const std::string_view header(reinterpret_cast<const char *>(data + 8), size - 8);
  check_range(header, rep);
  check_content_range(header);
  check_decimal(header);
  return 0;
}
