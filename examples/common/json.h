// examples/common/json.h — the one JSON writer of the three programs (summary and stats files,
// qlog event data, qamp-tp output): values built in code, strings escaped per RFC 8259 §7.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace qamp::common {

// A JSON value built in code; objects keep insertion order so output reads in a fixed order.
class Json {
 public:
  using Object = std::vector<std::pair<std::string, Json>>;
  using Array = std::vector<Json>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(int n) : v_(static_cast<std::int64_t>(n)) {}
  Json(unsigned n) : v_(static_cast<std::uint64_t>(n)) {}
  Json(long n) : v_(static_cast<std::int64_t>(n)) {}
  Json(unsigned long n) : v_(static_cast<std::uint64_t>(n)) {}
  Json(long long n) : v_(static_cast<std::int64_t>(n)) {}
  Json(unsigned long long n) : v_(static_cast<std::uint64_t>(n)) {}
  Json(double d) : v_(d) {}
  Json(const char *s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  template <class T>
  Json(const std::optional<T> &o) {
    if (o) *this = Json(*o);
  }

  static Json object() {
    Json j;
    j.v_ = Object{};
    return j;
  }
  static Json array() {
    Json j;
    j.v_ = Array{};
    return j;
  }

  // Object: appends (or replaces) a member. Array: appends.
  Json &set(std::string key, Json value);
  Json &push(Json value);

  // indent < 0: one line, no spaces (log lines). indent >= 0: objects and arrays nested less than
  // `expand_depth` deep get one member per line; deeper ones stay on one line, spaced ", ".
  std::string dump(int indent = -1, int expand_depth = std::numeric_limits<int>::max()) const;
  bool is_null() const noexcept { return v_.index() == 0; }

 private:
  void dump_to(std::string &out, int indent, int expand_depth, int depth) const;
  std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, Object, Array> v_;
};

std::string json_quote(std::string_view s);

}  // namespace qamp::common
