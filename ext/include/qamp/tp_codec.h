// qamp/tp_codec.h — the transport-parameter codec (DESIGN.md §3), pure functions over the byte
// sequences carried in the quic_transport_parameters TLS extension (RFC 9000 §18).
//
// Three spellings carry a per-address Policy; the client announces which it parses in
// migration_policy_support (0x2d50), the server picks the first of its preference list that the
// client announced and echoes exactly that bit. A client that announced nothing gets exact
// RFC 9000 encodings. Every decoding failure is a TpError (TRANSPORT_PARAMETER_ERROR) naming the
// field.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qamp/policy.h"
#include "qamp/result.h"

namespace qamp {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Provisional codepoints, all in one place.
inline constexpr std::uint64_t kTpDisableActiveMigration = 0x0c;    // RFC 9000 §18.2
inline constexpr std::uint64_t kTpPreferredAddress = 0x0d;          // RFC 9000 §18.2
inline constexpr std::uint64_t kTpMigrationPolicySupport = 0x2d50;  // qamp: spellings bitmask
inline constexpr std::uint64_t kTpAddressMigrationPolicy = 0x2d51;  // qamp: the `ext` byte

// RFC 9000 §17.2: a connection ID is at most 20 bytes.
inline constexpr std::size_t kMaxCidLen = 20;
inline constexpr std::size_t kStatelessResetTokenLen = 16;

enum class Spelling : std::uint8_t {
  ext = 0x1,         // TP 0x2d51 beside standard 0x0c / 0x0d
  dam_values = 0x2,  // 0x0c carries the policy byte
  pr3898 = 0x4,      // 0x0d gains PR #3898's Disable Migration field
};
using SpellingSet = std::uint64_t;  // bitmask of Spelling values
inline constexpr SpellingSet kAllSpellings = 0x7;
// A server's default preference. ext first: it is the only spelling that carries every one of
// the 27 policies exactly and that readers without qamp (Wireshark's dissector, any RFC 9000
// parser) still read correctly; dam-values next (exact too, but Wireshark flags the 1-byte
// 0x0c); pr3898 last: it cannot say a same-ip handshake level or two different SPA levels, and
// Wireshark reads its Disable Migration byte as the preferred address's CID length, so the CID
// and the reset token it shows are wrong (tests/interop, cases tshark-*). All three stay
// available through the preference list.
inline constexpr std::array<Spelling, 3> kDefaultSpellingPreference = {Spelling::ext, Spelling::dam_values,
                                                                       Spelling::pr3898};

std::string_view to_string(Spelling spelling) noexcept;
// The spelling a server blob was decoded in; nullopt is plain RFC 9000 ("rfc9000").
std::string_view to_string(const std::optional<Spelling> &spelling) noexcept;
std::optional<Spelling> parse_spelling(std::string_view text) noexcept;
// "pr3898,ext" -> ordered list, no duplicates; "" -> empty list; nullopt on an unknown name or a
// duplicate.
std::optional<std::vector<Spelling>> parse_spelling_list(std::string_view text);
SpellingSet to_set(std::span<const Spelling> spellings) noexcept;
std::vector<Spelling> spellings_in(SpellingSet set);  // known bits only, in bit order

// RFC 9000 §16 variable-length integers.
namespace varint {
inline constexpr std::uint64_t kMax = (std::uint64_t{1} << 62) - 1;
std::size_t encoded_length(std::uint64_t value) noexcept;
void append(Bytes &out, std::uint64_t value);
struct Read {
  std::uint64_t value;
  std::size_t length;
};
// nullopt when `in` ends inside the integer.
std::optional<Read> read(ByteView in) noexcept;
}  // namespace varint

struct RawParam {
  std::uint64_t id;
  Bytes value;
  friend bool operator==(const RawParam &, const RawParam &) = default;
};

// Splits a blob into (id, value) pairs in wire order. Errors: truncated varint id or length,
// a length past the end, a duplicate id (RFC 9000 §7.4).
Result<std::vector<RawParam>> parse_params(ByteView blob);
Bytes serialize_params(std::span<const RawParam> params);
// Human name of a transport parameter id ("" when unknown).
std::string_view param_name(std::uint64_t id) noexcept;

// RFC 9000 §18.2 Preferred Address; with PR #3898 a 1-byte Disable Migration field follows the
// IPv6 port. An address family is absent when its address and port are all zero.
struct PreferredAddress {
  std::array<std::uint8_t, 4> ipv4{};
  std::uint16_t ipv4_port = 0;
  std::array<std::uint8_t, 16> ipv6{};
  std::uint16_t ipv6_port = 0;
  Bytes cid;
  std::array<std::uint8_t, kStatelessResetTokenLen> stateless_reset_token{};

  bool ipv4_present() const noexcept;
  bool ipv6_present() const noexcept;
  std::string ipv4_string() const;  // "A.B.C.D:PORT"
  std::string ipv6_string() const;  // "[X::Y]:PORT"
  friend bool operator==(const PreferredAddress &, const PreferredAddress &) = default;
};

struct DecodedPreferredAddress {
  PreferredAddress address;
  std::optional<Level> disable_migration;  // set only for the pr3898 form
};
// Decodes a 0x0d value in RFC 9000 form, or in PR #3898 form when `pr3898`. Errors: wrong length
// (the exact length follows from the CID length), a zero-length or over-long CID, level 3,
// non-zero reserved bits of the Disable Migration field.
Result<DecodedPreferredAddress> decode_preferred_address(ByteView value, bool pr3898);
Bytes encode_preferred_address(const PreferredAddress &pa, std::optional<Level> disable_migration = std::nullopt);

// The `ext` / `dam-values` policy byte: bits 0–1 handshake, 2–3 SPA IPv4, 4–5 SPA IPv6, 6–7 zero.
std::uint8_t encode_policy_byte(const Policy &policy) noexcept;
// `field` names the parameter in the error.
Result<Policy> decode_policy_byte(std::uint8_t byte, std::string_view field);

// ---- client ----

// Returns `client_blob` with migration_policy_support set to `support` (replacing an existing
// 0x2d50). With support == 0 the parameter is removed: a legacy RFC 9000 client.
Result<Bytes> add_policy_support(ByteView client_blob, SpellingSet support);

// ---- server ----

// The spellings a client announced in its 0x2d50 (0 when absent). Unknown bits are ignored
// (room for future spellings). Errors: a value that is not exactly one varint.
Result<SpellingSet> read_policy_support(ByteView client_blob);

// Where the chosen spelling could not say what the policy says: the level sent instead.
struct Adjustment {
  ServerAddress address;
  Level wanted;
  Level expressed;  // stricter than wanted, except for a legacy client (see below)
  std::string reason;
};

struct ServerEncoding {
  Bytes wire;                        // the blob to send
  std::optional<Spelling> spelling;  // nullopt: exact RFC 9000 (client announced nothing usable)
  Policy expressed;                  // what a client decoding `wire` learns
  // Every level that differs from what was asked. In a spelling the encoder only ever tightens;
  // for a legacy client the preferred-address levels cannot travel at all (RFC 9000 says the
  // client may migrate there), so they are listed as loosened and the server's gate enforces them.
  std::vector<Adjustment> adjustments;
};

// From ngtcp2's own encoding of the server's parameters (run with disable_active_migration off,
// the permissive view of DESIGN.md §4), produce the wire blob: any 0x0c, 0x2d50, 0x2d51 in the
// input are replaced; 0x0d is rewritten in place; new parameters are appended.
Result<ServerEncoding> encode_server_params(ByteView ngtcp2_blob, const Policy &policy,
                                            std::span<const Spelling> preference, SpellingSet client_support);

// ---- client, receiving ----

struct ParamInfo {
  std::uint64_t id;
  std::size_t length;
};

struct ServerDecoding {
  std::vector<ParamInfo> params;     // every TP in wire order, unknown ones too
  std::optional<Spelling> spelling;  // nullopt: RFC 9000 form
  Policy policy;
  bool disable_active_migration = false;  // 0x0c was present
  std::optional<PreferredAddress> preferred_address;
  SpellingSet echoed = 0;  // the server's 0x2d50 (0 when absent)
  Bytes standard_view;     // for ngtcp2: 0x0c, 0x2d50, 0x2d51 removed, 0x0d at RFC 9000 length
};

// Parses a server blob in the spelling the server echoed (RFC 9000 form without an echo; a
// 0x2d51 without an echo describes itself). `announced` is what this client put in its 0x2d50:
// an echo outside it is an error. Without a 0x2d50 in the blob, RFC 9000 form (or ext when
// 0x2d51 is present).
Result<ServerDecoding> decode_server_params(ByteView wire, SpellingSet announced = kAllSpellings);

struct ClientDecoding {
  std::vector<ParamInfo> params;
  SpellingSet support = 0;
  bool announced = false;  // 0x2d50 was present
};
Result<ClientDecoding> decode_client_params(ByteView blob);

}  // namespace qamp
