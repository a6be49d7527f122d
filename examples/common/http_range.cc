#include "http_range.h"

#include <algorithm>
#include <charconv>
#include <vector>

namespace qamp::common {

namespace {

std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::uint64_t> parse_decimal(std::string_view value) { return number(trim(value)); }

RangeRequest parse_range(std::string_view header, std::uint64_t size) {
  header = trim(header);
  constexpr std::string_view unit = "bytes=";
  if (header.substr(0, unit.size()) != unit) return {};
  auto spec = trim(header.substr(unit.size()));
  if (spec.find(',') != std::string_view::npos) return {};  // multi-range: serve whole body
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  auto a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  if (a.empty()) {  // suffix: last n bytes
    auto n = number(b);
    if (!n) return {};
    if (*n == 0 || size == 0) return {RangeStatus::unsatisfiable, {}};
    auto len = std::min(*n, size);
    return {RangeStatus::satisfiable, {size - len, size - 1}};
  }
  auto first = number(a);
  if (!first) return {};
  std::uint64_t last = size ? size - 1 : 0;
  if (!b.empty()) {
    auto l = number(b);
    if (!l || *l < *first) return {};
    last = std::min(*l, last);
  }
  if (*first >= size) return {RangeStatus::unsatisfiable, {}};
  return {RangeStatus::satisfiable, {*first, last}};
}

std::string content_range(const ByteRange &r, std::uint64_t size) {
  return "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" + std::to_string(size);
}

std::optional<std::pair<ByteRange, std::uint64_t>> parse_content_range(std::string_view v) {
  v = trim(v);
  constexpr std::string_view unit = "bytes ";
  if (v.substr(0, unit.size()) != unit) return std::nullopt;
  v.remove_prefix(unit.size());
  auto dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return std::nullopt;
  auto f = number(v.substr(0, dash)), l = number(v.substr(dash + 1, slash - dash - 1)), s = number(v.substr(slash + 1));
  if (!f || !l || !s || *l < *f || *l >= *s) return std::nullopt;
  return std::pair{ByteRange{*f, *l}, *s};
}

namespace {

// Twice the period so that any slice of up to one period is contiguous.
const std::vector<std::uint8_t> &table() {
  static const std::vector<std::uint8_t> t = [] {
    std::vector<std::uint8_t> v(2 * kPatternPeriod);
    std::uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift64*
    for (std::size_t i = 0; i < kPatternPeriod; ++i) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      v[i] = static_cast<std::uint8_t>((x * 0x2545f4914f6cdd1dull) >> 56);
    }
    std::copy_n(v.begin(), kPatternPeriod, v.begin() + kPatternPeriod);
    return v;
  }();
  return t;
}

}  // namespace

std::span<const std::uint8_t> pattern_at(std::uint64_t offset, std::size_t want) noexcept {
  auto &t = table();
  auto start = static_cast<std::size_t>(offset % kPatternPeriod);
  auto n = std::min(want == 0 ? std::size_t{1} : want, kPatternPeriod);
  return {t.data() + start, n};
}

std::uint8_t pattern_byte(std::uint64_t offset) noexcept { return table()[offset % kPatternPeriod]; }

}  // namespace qamp::common
