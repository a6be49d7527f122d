#include "cli.h"

#include <arpa/inet.h>

#include <charconv>
#include <vector>

#include "qamp/hex.h"

namespace qamp_tp {

namespace {

constexpr std::string_view kTopUsage = R"(usage: qamp-tp COMMAND [OPTIONS]

Encode, decode and compare qamp's transport parameters (DESIGN.md §3).

commands:
  decode    decode a transport-parameter blob given in hex, print JSON
  encode    print the qamp-relevant TPs a server sends for a policy in one spelling
  compare   print a table of the spellings for a sample policy, checked against ngtcp2

Run `qamp-tp COMMAND --help` for a command's options.
)";

constexpr std::string_view kDecodeUsage = R"(usage: qamp-tp decode [--from server|client] HEX

Decodes a quic_transport_parameters blob and prints one JSON object: every TP in wire order,
the policy a qamp client learns, the preferred address, and the spellings in 0x2d50.

  --from server   (default) a server's blob, parsed in the spelling it echoed in 0x2d50
  --from client   a client's blob: "policy_support" lists the spellings it announced

Malformed input: exit 1 with "error: FIELD: REASON" on stderr.
)";

constexpr std::string_view kEncodeUsage = R"(usage: qamp-tp encode --spelling S --handshake L [--spa-v4 A.B.C.D:PORT]
         [--spa-v6 [X::Y]:PORT] [--spa-level L | --spa-v4-level L --spa-v6-level L]
         [--cid HEX] [--token HEX] [--full]

Prints, in hex and ascending id order, the qamp-relevant TPs (0x0c, 0x0d, 0x2d50, 0x2d51) a
server sends to a client that announced spelling S.

  --spelling S        pr3898 | dam-values | ext | rfc9000 (a client that announced nothing)
  --handshake L       level of the handshake address: any | none | same-ip
  --spa-v4 ADDR:PORT  preferred IPv4 address        --spa-v6 [ADDR]:PORT  preferred IPv6 address
  --spa-level L       level of both preferred addresses (default any)
  --spa-v4-level L    level of the preferred IPv4 address (default any)
  --spa-v6-level L    level of the preferred IPv6 address (default any)
  --cid HEX           preferred-address connection ID, 1-20 bytes (default 0123456789abcdef)
  --token HEX         its stateless reset token, 16 bytes
                      (default 00112233445566778899aabbccddeeff)
  --full              print the whole server blob in wire order: sample parameters encoded by
                      ngtcp2_transport_params_encode (original_dcid, initial_scid, limits, ...),
                      then rewritten by the codec

Where the spelling cannot express a level, a "note:" line on stderr says what was sent instead.
)";

constexpr std::string_view kCompareUsage = R"(usage: qamp-tp compare

Prints one row per spelling for a sample policy (handshake none, SPA IPv4 same-ip, SPA IPv6 any,
both preferred addresses, 8-byte CID): the bytes of qamp-relevant TPs on the wire, whether
ngtcp2's own ngtcp2_transport_params_decode (an unmodified RFC 9000 peer) accepts the full
server blob, what the spelling can express (measured by round-tripping all 27 policies) and the
policy a qamp client decodes back.
)";

// Walks argv of one command: --flag VALUE or --flag=VALUE, and positionals.
class ArgCursor {
 public:
  ArgCursor(int argc, const char *const *argv, int start) : args_(argv + start, argv + argc) {}

  bool done() const noexcept { return pos_ >= args_.size(); }
  std::string_view next() { return args_[pos_++]; }

  // For a flag `name` (already split off an "--name=value"), the value; nullopt when missing.
  std::optional<std::string_view> value(std::optional<std::string_view> inline_value) {
    if (inline_value) return inline_value;
    if (done()) return std::nullopt;
    return next();
  }

 private:
  std::vector<std::string_view> args_;
  std::size_t pos_ = 0;
};

struct Flag {
  std::string_view name;
  std::optional<std::string_view> inline_value;
};

// "--name=value" -> {"--name", "value"}; anything else -> {arg, nullopt}.
Flag split_flag(std::string_view arg) {
  if (arg.starts_with("--"))
    if (auto eq = arg.find('='); eq != std::string_view::npos)
      return {arg.substr(0, eq), arg.substr(eq + 1)};
  return {arg, std::nullopt};
}

bool is_help(std::string_view arg) { return arg == "-h" || arg == "--help"; }

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// "A.B.C.D:PORT"
bool parse_v4(std::string_view text, qamp::PreferredAddress &pa) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  auto port = parse_port(text.substr(colon + 1));
  std::string host(text.substr(0, colon));
  if (!port || inet_pton(AF_INET, host.c_str(), pa.ipv4.data()) != 1) return false;
  pa.ipv4_port = *port;
  return true;
}

// "[X::Y]:PORT"
bool parse_v6(std::string_view text, qamp::PreferredAddress &pa) {
  auto close = text.find("]:");
  if (!text.starts_with('[') || close == std::string_view::npos) return false;
  auto port = parse_port(text.substr(close + 2));
  std::string host(text.substr(1, close - 1));
  if (!port || inet_pton(AF_INET6, host.c_str(), pa.ipv6.data()) != 1) return false;
  pa.ipv6_port = *port;
  return true;
}

Invocation parse_decode(ArgCursor &args) {
  DecodeArgs out;
  std::optional<std::string_view> hex;
  auto fail = [](std::string message) { return UsageError{Command::decode, std::move(message)}; };
  while (!args.done()) {
    auto arg = args.next();
    auto flag = split_flag(arg);
    if (is_help(arg)) return Help{Command::decode};
    if (flag.name == "--from") {
      auto v = args.value(flag.inline_value);
      if (v == "server") out.from_client = false;
      else if (v == "client") out.from_client = true;
      else return fail("--from needs server or client");
    } else if (arg.starts_with("-") && arg != "-") {
      return fail("unknown option " + std::string(arg));
    } else if (hex) {
      return fail("one HEX argument expected");
    } else {
      hex = arg;
    }
  }
  if (!hex) return fail("missing HEX");
  out.hex = std::string(*hex);
  return out;
}

Invocation parse_encode(ArgCursor &args) {
  auto fail = [](std::string message) { return UsageError{Command::encode, std::move(message)}; };
  EncodeArgs out;
  bool have_spelling = false, have_handshake = false, have_both_level = false, have_one_level = false;
  bool have_v4 = false, have_v6 = false;
  std::optional<std::string_view> cid_hex, token_hex;
  qamp::PreferredAddress pa;

  while (!args.done()) {
    auto arg = args.next();
    if (is_help(arg)) return Help{Command::encode};
    auto flag = split_flag(arg);
    auto level_flag = [&](qamp::Level &level) -> std::optional<UsageError> {
      auto v = args.value(flag.inline_value);
      auto l = v ? qamp::parse_level(*v) : std::nullopt;
      if (!l) return fail(std::string(flag.name) + " needs any, none or same-ip");
      level = *l;
      return std::nullopt;
    };
    std::optional<UsageError> error;
    if (flag.name == "--spelling") {
      auto v = args.value(flag.inline_value);
      if (v == "rfc9000") out.spelling = std::nullopt;
      else if (auto s = v ? qamp::parse_spelling(*v) : std::nullopt) out.spelling = s;
      else return fail("--spelling needs pr3898, dam-values, ext or rfc9000");
      have_spelling = true;
    } else if (flag.name == "--handshake") {
      error = level_flag(out.policy.handshake);
      have_handshake = true;
    } else if (flag.name == "--spa-level") {
      error = level_flag(out.policy.spa_v4);
      out.policy.spa_v6 = out.policy.spa_v4;
      have_both_level = true;
    } else if (flag.name == "--spa-v4-level") {
      error = level_flag(out.policy.spa_v4);
      have_one_level = true;
    } else if (flag.name == "--spa-v6-level") {
      error = level_flag(out.policy.spa_v6);
      have_one_level = true;
    } else if (flag.name == "--spa-v4") {
      auto v = args.value(flag.inline_value);
      if (!v || !parse_v4(*v, pa)) return fail("--spa-v4 needs A.B.C.D:PORT (port 1-65535)");
      have_v4 = true;
    } else if (flag.name == "--spa-v6") {
      auto v = args.value(flag.inline_value);
      if (!v || !parse_v6(*v, pa)) return fail("--spa-v6 needs [X::Y]:PORT (port 1-65535)");
      have_v6 = true;
    } else if (arg == "--full") {
      out.full = true;
    } else if (flag.name == "--cid") {
      if (!(cid_hex = args.value(flag.inline_value))) return fail("--cid needs HEX");
    } else if (flag.name == "--token") {
      if (!(token_hex = args.value(flag.inline_value))) return fail("--token needs HEX");
    } else {
      return fail("unknown argument " + std::string(arg));
    }
    if (error) return *error;
  }

  if (!have_spelling) return fail("missing --spelling");
  if (!have_handshake) return fail("missing --handshake");
  if (have_both_level && have_one_level)
    return fail("--spa-level excludes --spa-v4-level / --spa-v6-level");
  if ((cid_hex || token_hex) && !have_v4 && !have_v6)
    return fail("--cid / --token need --spa-v4 or --spa-v6");
  if (!have_v4 && !have_v6) return out;

  auto cid = qamp::from_hex(cid_hex.value_or(kDefaultCidHex), "--cid");
  if (!cid) return fail(cid.error().message());
  if (cid->empty() || cid->size() > qamp::kMaxCidLen) return fail("--cid: needs 1 to 20 bytes");
  auto token = qamp::from_hex(token_hex.value_or(kDefaultTokenHex), "--token");
  if (!token) return fail(token.error().message());
  if (token->size() != qamp::kStatelessResetTokenLen) return fail("--token: needs 16 bytes");
  pa.cid = *cid;
  std::copy(token->begin(), token->end(), pa.stateless_reset_token.begin());
  out.preferred_address = pa;
  return out;
}

Invocation parse_compare(ArgCursor &args) {
  while (!args.done()) {
    auto arg = args.next();
    if (is_help(arg)) return Help{Command::compare};
    return UsageError{Command::compare, "unexpected argument " + std::string(arg)};
  }
  return CompareArgs{};
}

}  // namespace

Invocation parse_command_line(int argc, const char *const *argv) {
  if (argc < 2) return UsageError{Command::top, "missing command"};
  std::string_view command = argv[1];
  ArgCursor args(argc, argv, 2);
  if (is_help(command) || command == "help") return Help{Command::top};
  if (command == "decode") return parse_decode(args);
  if (command == "encode") return parse_encode(args);
  if (command == "compare") return parse_compare(args);
  return UsageError{Command::top, "unknown command " + std::string(command)};
}

std::string_view usage(Command command) noexcept {
  switch (command) {
    case Command::top: return kTopUsage;
    case Command::decode: return kDecodeUsage;
    case Command::encode: return kEncodeUsage;
    case Command::compare: return kCompareUsage;
  }
  return kTopUsage;
}

}  // namespace qamp_tp
