#include "command_line.h"

#include <charconv>

namespace qamp::common {

namespace {

constexpr std::uint64_t kMaxValue = std::uint64_t{1} << 62;

// Decimal digits only, no sign, no spaces; nullopt on overflow of uint64_t.
std::optional<std::uint64_t> digits(std::string_view s) noexcept {
  if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "N" or "N.F" times `unit`, exact in integers (the fraction's digits past 18 are ignored),
// at most kMaxValue.
std::optional<std::uint64_t> scaled_decimal(std::string_view text, std::uint64_t unit) noexcept {
  auto dot = text.find('.');
  auto whole = digits(text.substr(0, dot));
  if (!whole) return std::nullopt;
  unsigned __int128 value = static_cast<unsigned __int128>(*whole) * unit;
  if (dot != std::string_view::npos) {
    auto frac = text.substr(dot + 1);
    if (frac.empty() || !digits(frac)) return std::nullopt;
    if (frac.size() > 18) frac = frac.substr(0, 18);
    std::uint64_t scale = 1;
    for (std::size_t i = 0; i < frac.size(); ++i) scale *= 10;
    value += static_cast<unsigned __int128>(*digits(frac)) * unit / scale;
  }
  if (value > kMaxValue) return std::nullopt;
  return static_cast<std::uint64_t>(value);
}

}  // namespace

CliParser::CliParser(std::span<const FlagSpec> flags, int argc, const char *const *argv, int start) : flags_(flags) {
  for (int i = start; i < argc; ++i) args_.emplace_back(argv[i]);
}

const FlagSpec *CliParser::find_long(std::string_view name) const noexcept {
  for (const auto &f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

const FlagSpec *CliParser::find_short(char name) const noexcept {
  for (const auto &f : flags_)
    if (f.short_name && f.short_name == name) return &f;
  return nullptr;
}

std::variant<std::monostate, CliArg, CliError> CliParser::next() {
  if (failed_ || pos_ >= args_.size()) return std::monostate{};
  std::string_view arg = args_[pos_++];
  auto fail = [this](std::string message) {
    failed_ = true;
    return CliError{std::move(message)};
  };
  if (flags_ended_ || arg == "-" || !arg.starts_with('-')) return CliArg{kPositional, {}, arg};
  if (arg == "--") {
    flags_ended_ = true;
    return next();
  }
  const FlagSpec *spec = nullptr;
  std::string_view flag;
  std::optional<std::string_view> inline_value;
  if (arg.starts_with("--")) {
    auto eq = arg.find('=');
    flag = arg.substr(0, eq);
    if (eq != std::string_view::npos) inline_value = arg.substr(eq + 1);
    spec = find_long(flag.substr(2));
  } else {
    flag = arg.substr(0, 2);
    if (arg.size() > 2) inline_value = arg.substr(2);
    spec = find_short(arg[1]);
  }
  if (!spec) return fail("unknown option " + std::string(flag));
  if (!spec->takes_value) {
    if (inline_value) return fail("option " + std::string(flag) + " takes no value");
    return CliArg{spec->id, flag, {}};
  }
  if (inline_value) return CliArg{spec->id, flag, *inline_value};
  if (pos_ >= args_.size()) return fail("option " + std::string(flag) + " needs a value");
  return CliArg{spec->id, flag, args_[pos_++]};
}

Exit bad_value(std::string_view flag, std::string_view value, std::string_view expected) {
  std::string message = "invalid value for " + std::string(flag) + ": '" + std::string(value) + "'";
  if (!expected.empty()) message += " (" + std::string(expected) + ")";
  return misuse(std::move(message));
}

std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t min, std::uint64_t max) noexcept {
  auto n = digits(text);
  if (!n || *n < min || *n > max) return std::nullopt;
  return n;
}

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t unit = 1;
  switch (text.back()) {
    case 'K':
    case 'k': unit = std::uint64_t{1} << 10; break;
    case 'M':
    case 'm': unit = std::uint64_t{1} << 20; break;
    case 'G':
    case 'g': unit = std::uint64_t{1} << 30; break;
    case 'T':
    case 't': unit = std::uint64_t{1} << 40; break;
    default: break;
  }
  if (unit != 1) text.remove_suffix(1);
  auto n = digits(text);
  if (!n || *n > kMaxValue / unit) return std::nullopt;
  return *n * unit;
}

std::optional<std::uint64_t> parse_duration(std::string_view text) noexcept {
  struct Unit {
    std::string_view suffix;
    std::uint64_t ns;
  };
  // Longest suffixes first so "ms" is not read as "s".
  static constexpr Unit units[] = {{"ms", 1'000'000},        {"us", 1'000},         {"ns", 1},
                                   {"h", 3'600'000'000'000}, {"m", 60'000'000'000}, {"s", 1'000'000'000}};
  for (const auto &u : units)
    if (text.size() > u.suffix.size() && text.ends_with(u.suffix))
      return scaled_decimal(text.substr(0, text.size() - u.suffix.size()), u.ns);
  return scaled_decimal(text, 1'000'000'000);
}

std::optional<double> parse_rate(std::string_view text) noexcept {
  if (text.ends_with("/s")) text.remove_suffix(2);
  auto n = parse_size(text);
  if (!n || *n == 0) return std::nullopt;
  return static_cast<double>(*n);
}

std::optional<bool> parse_on_off(std::string_view text) noexcept {
  if (text == "on") return true;
  if (text == "off") return false;
  return std::nullopt;
}

}  // namespace qamp::common
