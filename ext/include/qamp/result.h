// qamp/result.h — expected failures as values (STYLE.md "C boundaries").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace qamp {

// RFC 9000 §20.1 TRANSPORT_PARAMETER_ERROR: every malformed transport parameter closes the
// connection with this code.
inline constexpr std::uint64_t kTransportParameterError = 0x08;

// A transport-parameter decoding or encoding failure. `field` names what was wrong
// ("0x0d preferred_address", "varint", …); message() is "field: reason".
struct TpError {
  std::string field;
  std::string reason;
  std::uint64_t code = kTransportParameterError;
  std::string message() const { return field + ": " + reason; }
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit on purpose
  Result(TpError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T &value() & { return std::get<0>(v_); }
  const T &value() const & { return std::get<0>(v_); }
  T &&value() && { return std::get<0>(std::move(v_)); }
  const TpError &error() const { return std::get<1>(v_); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }

 private:
  std::variant<T, TpError> v_;
};

}  // namespace qamp
