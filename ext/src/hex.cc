#include "qamp/hex.h"

namespace qamp {

namespace {

int digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

Result<std::vector<std::uint8_t>> from_hex(std::string_view text, std::string_view field) {
  for (std::size_t i = 0; i < text.size(); ++i)
    if (digit_value(text[i]) < 0) return TpError{std::string(field), "not a hex digit at offset " + std::to_string(i)};
  if (text.size() % 2 != 0)
    return TpError{std::string(field), "odd number of hex digits (" + std::to_string(text.size()) + ")"};
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(digit_value(text[i]) << 4 | digit_value(text[i + 1])));
  return out;
}

}  // namespace qamp
