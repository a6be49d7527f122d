#include "cli.h"

#include <arpa/inet.h>

#include <charconv>
#include <span>
#include <vector>

#include "command_line.h"  // examples/common: the one command-line parser
#include "qamp/hex.h"

namespace qamp::tp {

namespace {

constexpr std::string_view kTopUsage = R"(usage: qamp-tp COMMAND [OPTIONS]

Encode, decode and compare qamp's transport parameters (DESIGN.md §3).

commands:
  decode    decode a transport-parameter blob given in hex, print JSON
  encode    print the qamp-relevant TPs a server sends for a policy in one spelling
  compare   print a table of the spellings for a sample policy, checked against ngtcp2
  cid       encode or decode a QUIC-LB connection ID (draft-ietf-quic-load-balancers-21)

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

constexpr std::string_view kCidUsage = R"(usage: qamp-tp cid encode|decode [OPTIONS]

QUIC-LB connection IDs (draft-ietf-quic-load-balancers-21), as qamp-server issues them in
cluster mode and as a load balancer routes them. Run `qamp-tp cid encode --help` or
`qamp-tp cid decode --help`.
)";

constexpr std::string_view kCidEncodeUsage =
    R"(usage: qamp-tp cid encode --server-id HEX --nonce HEX [--config-rotation N] [--key HEX]
         [--length-self-encoding on|off] [--first-octet-bits N]

Prints the connection ID (hex) that a server with this server ID issues with this nonce. The
configuration's server ID and nonce lengths are those of --server-id and --nonce.

  --server-id HEX                 1-15 octets
  --nonce HEX                     4-18 octets; server ID plus nonce at most 19
  --config-rotation N             0-6 (default 0; 7 is the unroutable codepoint)
  --key HEX                       16-octet AES-128 key: encrypted CID (default: plaintext)
  --length-self-encoding on|off   the first octet's low 5 bits carry the CID length - 1
                                  (default on)
  --first-octet-bits N            0-31: those low 5 bits when self-encoding is off (default 0)

A bad configuration: exit 2 naming the field.
)";

constexpr std::string_view kCidDecodeUsage =
    R"(usage: qamp-tp cid decode --server-id-len N --nonce-len N [--config-rotation N]
         [--key HEX] [--length-self-encoding on|off] CID

Prints one JSON object: how a load balancer with this configuration routes the CID ("routed",
"unroutable" for config rotation 7, "no-config" for other config rotation bits, "too-short"),
and for a routed CID its server ID and nonce.

  --server-id-len N               1-15
  --nonce-len N                   4-18; server ID plus nonce at most 19
  --config-rotation N             0-6 (default 0)
  --key HEX                       16-octet AES-128 key of an encrypted configuration
  --length-self-encoding on|off   as the server's configuration (default on)

A bad configuration: exit 2 naming the field. CID not hex: exit 1 with "error: CID: REASON".
)";

using qamp::common::CliArg;
using qamp::common::CliError;
using qamp::common::CliParser;
using qamp::common::FlagSpec;
using qamp::common::kPositional;

// One command's walk over argv (examples/common/command_line.h): calls `on_arg` for each flag or
// positional; the first usage error (from the parser or from on_arg) ends it.
template <class OnArg>
std::optional<UsageError> walk(Command command, std::span<const FlagSpec> flags, int argc, const char *const *argv,
                               OnArg on_arg) {
  CliParser parser(flags, argc, argv, 2);
  for (;;) {
    auto next = parser.next();
    if (auto *e = std::get_if<CliError>(&next)) return UsageError{command, e->message};
    auto *arg = std::get_if<CliArg>(&next);
    if (!arg) return std::nullopt;
    if (auto message = on_arg(*arg)) return UsageError{command, std::move(*message)};
  }
}

enum : int {
  kHelp,
  kFrom,
  kSpelling,
  kHandshake,
  kSpaLevel,
  kSpaV4Level,
  kSpaV6Level,
  kSpaV4,
  kSpaV6,
  kFull,
  kCid,
  kToken,
  kServerId,
  kNonce,
  kServerIdLen,
  kNonceLen,
  kConfigRotation,
  kKey,
  kSelfEncoding,
  kFirstOctetBits,
};
constexpr FlagSpec kHelpFlag{"help", 'h', false, kHelp};

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) return std::nullopt;
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

Invocation parse_decode(int argc, const char *const *argv) {
  static constexpr FlagSpec flags[] = {kHelpFlag, {"from", 0, true, kFrom}};
  DecodeArgs out;
  std::optional<std::string_view> hex;
  bool help = false;
  auto error = walk(Command::decode, flags, argc, argv, [&](const CliArg &a) -> std::optional<std::string> {
    switch (a.id) {
      case kHelp: help = true; break;
      case kFrom:
        if (a.value == "server")
          out.from_client = false;
        else if (a.value == "client")
          out.from_client = true;
        else
          return "--from needs server or client";
        break;
      default:
        if (hex) return "one HEX argument expected";
        hex = a.value;
    }
    return std::nullopt;
  });
  if (help) return Help{Command::decode};
  if (error) return *error;
  if (!hex) return UsageError{Command::decode, "missing HEX"};
  out.hex = std::string(*hex);
  return out;
}

Invocation parse_encode(int argc, const char *const *argv) {
  static constexpr FlagSpec flags[] = {
      kHelpFlag,
      {"spelling", 0, true, kSpelling},
      {"handshake", 0, true, kHandshake},
      {"spa-level", 0, true, kSpaLevel},
      {"spa-v4-level", 0, true, kSpaV4Level},
      {"spa-v6-level", 0, true, kSpaV6Level},
      {"spa-v4", 0, true, kSpaV4},
      {"spa-v6", 0, true, kSpaV6},
      {"full", 0, false, kFull},
      {"cid", 0, true, kCid},
      {"token", 0, true, kToken},
  };
  auto fail = [](std::string message) { return UsageError{Command::encode, std::move(message)}; };
  EncodeArgs out;
  bool have_spelling = false, have_handshake = false, have_both_level = false, have_one_level = false;
  bool have_v4 = false, have_v6 = false, help = false;
  std::optional<std::string_view> cid_hex, token_hex;
  qamp::PreferredAddress pa;

  auto error = walk(Command::encode, flags, argc, argv, [&](const CliArg &a) -> std::optional<std::string> {
    auto level = [&](qamp::Level &out_level) -> std::optional<std::string> {
      auto l = qamp::parse_level(a.value);
      if (!l) return std::string(a.flag) + " needs any, none or same-ip";
      out_level = *l;
      return std::nullopt;
    };
    switch (a.id) {
      case kHelp: help = true; return std::nullopt;
      case kSpelling:
        if (a.value == "rfc9000")
          out.spelling = std::nullopt;
        else if (auto sp = qamp::parse_spelling(a.value))
          out.spelling = sp;
        else
          return "--spelling needs pr3898, dam-values, ext or rfc9000";
        have_spelling = true;
        return std::nullopt;
      case kHandshake: have_handshake = true; return level(out.policy.handshake);
      case kSpaLevel: {
        have_both_level = true;
        auto e = level(out.policy.spa_v4);
        out.policy.spa_v6 = out.policy.spa_v4;
        return e;
      }
      case kSpaV4Level: have_one_level = true; return level(out.policy.spa_v4);
      case kSpaV6Level: have_one_level = true; return level(out.policy.spa_v6);
      case kSpaV4:
        if (!parse_v4(a.value, pa)) return "--spa-v4 needs A.B.C.D:PORT (port 1-65535)";
        have_v4 = true;
        return std::nullopt;
      case kSpaV6:
        if (!parse_v6(a.value, pa)) return "--spa-v6 needs [X::Y]:PORT (port 1-65535)";
        have_v6 = true;
        return std::nullopt;
      case kFull: out.full = true; return std::nullopt;
      case kCid: cid_hex = a.value; return std::nullopt;
      case kToken: token_hex = a.value; return std::nullopt;
      default: return "unexpected argument " + std::string(a.value);
    }
  });
  if (help) return Help{Command::encode};
  if (error) return *error;

  if (!have_spelling) return fail("missing --spelling");
  if (!have_handshake) return fail("missing --handshake");
  if (have_both_level && have_one_level) return fail("--spa-level excludes --spa-v4-level / --spa-v6-level");
  if ((cid_hex || token_hex) && !have_v4 && !have_v6) return fail("--cid / --token need --spa-v4 or --spa-v6");
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

Invocation parse_compare(int argc, const char *const *argv) {
  static constexpr FlagSpec flags[] = {kHelpFlag};
  bool help = false;
  auto error = walk(Command::compare, flags, argc, argv, [&](const CliArg &a) -> std::optional<std::string> {
    if (a.id == kHelp) {
      help = true;
      return std::nullopt;
    }
    return "unexpected argument " + std::string(a.value);
  });
  if (help) return Help{Command::compare};
  if (error) return *error;
  return CompareArgs{};
}

// `cid encode` (argv[2] == "encode") and `cid decode`.
Invocation parse_cid(int argc, const char *const *argv) {
  if (argc < 3) return UsageError{Command::cid, "missing encode or decode"};
  const std::string_view verb = argv[2];
  if (verb == "-h" || verb == "--help") return Help{Command::cid};
  if (verb != "encode" && verb != "decode") return UsageError{Command::cid, "unknown cid command " + std::string(verb)};
  const bool encode = verb == "encode";
  const Command command = encode ? Command::cid_encode : Command::cid_decode;
  static constexpr FlagSpec encode_flags[] = {
      kHelpFlag,
      {"server-id", 0, true, kServerId},
      {"nonce", 0, true, kNonce},
      {"config-rotation", 0, true, kConfigRotation},
      {"key", 0, true, kKey},
      {"length-self-encoding", 0, true, kSelfEncoding},
      {"first-octet-bits", 0, true, kFirstOctetBits},
  };
  static constexpr FlagSpec decode_flags[] = {
      kHelpFlag,
      {"server-id-len", 0, true, kServerIdLen},
      {"nonce-len", 0, true, kNonceLen},
      {"config-rotation", 0, true, kConfigRotation},
      {"key", 0, true, kKey},
      {"length-self-encoding", 0, true, kSelfEncoding},
  };
  auto fail = [command](std::string message) { return UsageError{command, std::move(message)}; };
  CidArgs out;
  out.encode = encode;
  bool help = false, self_encode = true;
  std::optional<std::uint64_t> server_id_len, nonce_len, config_rotation, first_octet_bits;
  std::optional<std::vector<std::uint8_t>> key, server_id, nonce;
  std::optional<std::string_view> cid;

  // argv[2] is the verb: the walk starts after it.
  auto error =
      walk(command, encode ? std::span<const FlagSpec>(encode_flags) : std::span<const FlagSpec>(decode_flags),
           argc - 1, argv + 1, [&](const CliArg &a) -> std::optional<std::string> {
             auto octets = [&](std::optional<std::vector<std::uint8_t>> &slot) -> std::optional<std::string> {
               auto bytes = qamp::from_hex(a.value, a.flag);
               if (!bytes) return bytes.error().message();
               slot = std::move(*bytes);
               return std::nullopt;
             };
             auto number = [&](std::optional<std::uint64_t> &slot, std::uint64_t max) -> std::optional<std::string> {
               slot = qamp::common::parse_count(a.value, 0, max);
               if (!slot)
                 return std::string(a.flag) + ": expected a number 0-" + std::to_string(max) + ", got '" +
                        std::string(a.value) + "'";
               return std::nullopt;
             };
             switch (a.id) {
               case kHelp: help = true; return std::nullopt;
               case kServerId: return octets(server_id);
               case kNonce: return octets(nonce);
               case kKey: return octets(key);
               // Wider than the draft's limits on purpose: make_quic_lb_config names the rule.
               case kServerIdLen: return number(server_id_len, 255);
               case kNonceLen: return number(nonce_len, 255);
               case kConfigRotation: return number(config_rotation, 255);
               case kFirstOctetBits: return number(first_octet_bits, 31);
               case kSelfEncoding: {
                 auto on = qamp::common::parse_on_off(a.value);
                 if (!on) return std::string(a.flag) + ": expected on or off, got '" + std::string(a.value) + "'";
                 self_encode = *on;
                 return std::nullopt;
               }
               default:
                 if (encode || cid) return "unexpected argument " + std::string(a.value);
                 cid = a.value;
                 return std::nullopt;
             }
           });
  if (help) return Help{command};
  if (error) return *error;
  if (encode) {
    if (!server_id) return fail("missing --server-id");
    if (!nonce) return fail("missing --nonce");
    server_id_len = server_id->size();
    nonce_len = nonce->size();
    if (first_octet_bits && self_encode)
      return fail("--first-octet-bits needs --length-self-encoding=off (else those bits are the length)");
  } else {
    if (!server_id_len) return fail("missing --server-id-len");
    if (!nonce_len) return fail("missing --nonce-len");
    if (!cid) return fail("missing CID");
    out.cid_hex = std::string(*cid);
  }
  std::optional<std::span<const std::uint8_t>> key_view;
  if (key) key_view = std::span<const std::uint8_t>(*key);
  auto config = qamp::make_quic_lb_config(static_cast<unsigned>(config_rotation.value_or(0)),
                                          static_cast<unsigned>(*server_id_len), static_cast<unsigned>(*nonce_len),
                                          self_encode, key_view);
  if (!config) return fail(config.error().message());
  out.config = *config;
  if (server_id) out.server_id = std::move(*server_id);
  if (nonce) out.nonce = std::move(*nonce);
  out.first_octet_bits = static_cast<std::uint8_t>(first_octet_bits.value_or(0));
  return out;
}

}  // namespace

Invocation parse_command_line(int argc, const char *const *argv) {
  if (argc < 2) return UsageError{Command::top, "missing command"};
  std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") return Help{Command::top};
  if (command == "decode") return parse_decode(argc, argv);
  if (command == "encode") return parse_encode(argc, argv);
  if (command == "compare") return parse_compare(argc, argv);
  if (command == "cid") return parse_cid(argc, argv);
  return UsageError{Command::top, "unknown command " + std::string(command)};
}

std::string_view usage(Command command) noexcept {
  switch (command) {
    case Command::top: return kTopUsage;
    case Command::decode: return kDecodeUsage;
    case Command::encode: return kEncodeUsage;
    case Command::compare: return kCompareUsage;
    case Command::cid: return kCidUsage;
    case Command::cid_encode: return kCidEncodeUsage;
    case Command::cid_decode: return kCidDecodeUsage;
  }
  return kTopUsage;
}

}  // namespace qamp::tp
