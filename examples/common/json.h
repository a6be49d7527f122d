// examples/client/json.h — a minimal JSON value for the summary file and qlog event data.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace qamp::client {

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

  static Json object() { Json j; j.v_ = Object{}; return j; }
  static Json array() { Json j; j.v_ = Array{}; return j; }

  // Object: appends (or replaces) a member. Array: appends.
  Json &set(std::string key, Json value);
  Json &push(Json value);

  std::string dump(int indent = -1) const;  // indent < 0: one line
  bool is_null() const noexcept { return v_.index() == 0; }

 private:
  void dump_to(std::string &out, int indent, int depth) const;
  std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, Object, Array> v_;
};

std::string json_quote(std::string_view s);

}  // namespace qamp::client
