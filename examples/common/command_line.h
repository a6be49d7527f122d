// examples/common/command_line.h — the one command-line parser of qamp-client, qamp-server and qamp-tp,
// and the value readers their flags share (sizes, durations, rates, counts, on/off).
//
// The syntax is getopt_long's, which gtlsclient and gtlsserver use and their users type:
// `--name=value`, `--name value`, `-x value`, `-xvalue`, flags and positionals in any order, `--`
// ends the flags, a lone `-` is a positional. Unlike getopt_long it keeps no global state, does
// not reorder argv and accepts no abbreviations (`--down` is not `--download`), so a parser is
// a pure function of argv that table tests can call many times.
//
// Parsing never prints: each program's parser returns its options or an Exit, and main() decides
// where the words go (help on stdout with status 0, misuse on stderr with usage and status 2).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace qamp::common {

// One flag a program accepts.
struct FlagSpec {
  std::string_view name;  // long name without "--"
  char short_name = 0;    // 0: none
  bool takes_value = false;
  int id = 0;  // what the program's parser switches on (not kPositional)
};

inline constexpr int kPositional = -1;

// One parsed argument: a flag (with its value when it takes one) or a positional.
struct CliArg {
  int id = kPositional;    // FlagSpec::id, or kPositional
  std::string_view flag;   // "--name" or "-x", for messages (empty for a positional)
  std::string_view value;  // the flag's value, or the positional itself
};

// Why a command line was not accepted: `message` names the flag or argument.
struct CliError {
  std::string message;
};

// Walks argv[start..argc). next() returns the next argument, nullopt at the end, or a CliError
// for an unknown flag ("unknown option --x"), a missing value ("option --x needs a value") or a
// value given to a flag that takes none ("option --x takes no value"). After an error the
// parser stops (every later next() returns nullopt).
class CliParser {
 public:
  CliParser(std::span<const FlagSpec> flags, int argc, const char *const *argv, int start = 1);

  std::variant<std::monostate, CliArg, CliError> next();

 private:
  const FlagSpec *find_long(std::string_view name) const noexcept;
  const FlagSpec *find_short(char name) const noexcept;

  std::span<const FlagSpec> flags_;
  std::vector<std::string_view> args_;
  std::size_t pos_ = 0;
  bool flags_ended_ = false;  // after "--" everything is a positional
  bool failed_ = false;
};

// How a program's parser ends when it does not return options.
struct Exit {
  int status = 0;       // 0 after --help, 2 on misuse
  std::string message;  // misuse: the problem (main prints "PROGRAM: message", then the usage)
};
inline Exit help_exit() { return Exit{0, {}}; }
inline Exit misuse(std::string message) { return Exit{2, std::move(message)}; }
// "invalid value for --name: 'value'" plus, when given, what is expected.
Exit bad_value(std::string_view flag, std::string_view value, std::string_view expected = {});

// Options, or how to exit.
template <class Options>
using Parsed = std::variant<Options, Exit>;

// Shared value readers: one rule per kind of value for every program. nullopt: not valid.

// A decimal count from `min` to `max` ("0x", signs, spaces and suffixes are refused).
std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t min, std::uint64_t max) noexcept;
// "<N>[K|M|G|T]" bytes (powers of 1024, either case), at most 2^62.
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;
// "<N>[h|m|s|ms|us|ns]" (no unit: seconds) in nanoseconds, as gtlsclient's <DURATION>; N may
// have a fraction ("1.5s", "0.25"); the result is at most 2^62 ns.
std::optional<std::uint64_t> parse_duration(std::string_view text) noexcept;
// "<SIZE>/s" or "<SIZE>" bytes per second, above 0.
std::optional<double> parse_rate(std::string_view text) noexcept;
// "on" or "off".
std::optional<bool> parse_on_off(std::string_view text) noexcept;

}  // namespace qamp::common
