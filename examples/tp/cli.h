// examples/tp/cli.h — qamp-tp's command line: what each command was asked to do, or why not.
//
// Parsing never prints: it returns an Invocation and main() decides where the words go
// (help to stdout with exit 0, usage errors to stderr with exit 2).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "qamp/policy.h"
#include "qamp/quic_lb.h"
#include "qamp/tp_codec.h"

namespace qamp::tp {

enum class Command { top, decode, encode, compare, cid, cid_encode, cid_decode };

// Used by `encode` when a preferred address is given without --cid / --token.
inline constexpr std::string_view kDefaultCidHex = "0123456789abcdef";
inline constexpr std::string_view kDefaultTokenHex = "00112233445566778899aabbccddeeff";

struct DecodeArgs {
  bool from_client = false;  // --from client: a client's blob (0x2d50 announces spellings)
  std::string hex;
};

struct EncodeArgs {
  std::optional<qamp::Spelling> spelling;  // nullopt: rfc9000, a client that announced nothing
  qamp::Policy policy;
  // Addresses, CID and token; nullopt when neither --spa-v4 nor --spa-v6 was given (no 0x0d).
  std::optional<qamp::PreferredAddress> preferred_address;
  // --full: the whole server blob (ngtcp2-encoded sample parameters with the codec's changes)
  // in wire order, instead of the qamp-relevant TPs alone.
  bool full = false;
};

struct CompareArgs {};

// `cid encode`: the QUIC-LB CID for a server ID and nonce under a configuration whose lengths
// are theirs; `cid decode`: which server a CID names under a configuration (an operator's "which
// instance does this CID belong to?").
struct CidArgs {
  bool encode = true;
  qamp::QuicLbConfig config;                   // checked by make_quic_lb_config
  std::vector<std::uint8_t> server_id, nonce;  // encode
  std::uint8_t first_octet_bits = 0;           // encode without length self-encoding: the low 5 bits
  std::string cid_hex;                         // decode (checked by the command: exit 1 when malformed)
};

struct Help {
  Command command;
};

struct UsageError {
  Command command;
  std::string message;
};

using Invocation = std::variant<Help, UsageError, DecodeArgs, EncodeArgs, CompareArgs, CidArgs>;

Invocation parse_command_line(int argc, const char *const *argv);

// The usage text of one command (Command::top: the whole program).
std::string_view usage(Command command) noexcept;

}  // namespace qamp::tp
