// qamp/quic_lb.h — QUIC-LB routable connection IDs (draft-ietf-quic-load-balancers-21).
//
// A server behind a load balancer that routes by connection ID writes its server ID into every
// CID it issues; the balancer reads it back with the same configuration. Layout (§3, §5.2):
//
//   first octet: config rotation (3 bits) | length of the rest (5 bits) or random bits
//   then:        server ID (1..15 octets) || nonce (4..18 octets), at most 19 octets together
//
// Plaintext when the configuration has no key. With a 16-octet key the server ID and nonce are
// encrypted with AES-128: one ECB block when they are exactly 16 octets (§5.4.1), otherwise a
// four-round Feistel network whose round function is AES-ECB over expand(len, pass, half)
// (§5.4.2). AES comes from nettle, so this file stays in the pure qamp_core library.
//
// Config rotation 0b111 is reserved (§3.2): a server with no configuration issues 0b111 CIDs
// that self-encode their length, sends disable_active_migration and no NEW_CONNECTION_ID
// (unroutable_cid(), kServerWithoutConfig).
//
// Pure: randomness comes in through a RandomFill (the programs pass gnutls_rnd; tests a seeded
// fill), no clocks, no global state.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "qamp/result.h"

namespace qamp {

inline constexpr std::uint8_t kQuicLbUnroutable = 0b111;  // reserved config rotation codepoint
inline constexpr std::size_t kQuicLbKeyLen = 16;
inline constexpr std::size_t kQuicLbMaxBody = 19;  // server ID + nonce (QUIC v1: CID <= 20)
inline constexpr std::size_t kQuicLbMaxServerIdLen = 15;

// Fills the span with unpredictable bytes (a CSPRNG in the programs).
using RandomFill = std::function<void(std::span<std::uint8_t>)>;

struct QuicLbConfig {
  std::uint8_t config_rotation = 0;                            // 0..6
  std::uint8_t server_id_len = 1;                              // 1..15
  std::uint8_t nonce_len = 4;                                  // 4..18; server_id_len + nonce_len <= 19
  bool self_encode_length = true;                              // low 5 bits of the first octet = CID length - 1
  std::optional<std::array<std::uint8_t, kQuicLbKeyLen>> key;  // none: plaintext server ID

  std::size_t body_len() const noexcept { return std::size_t{server_id_len} + nonce_len; }
  std::size_t cid_len() const noexcept { return 1 + body_len(); }
};

// Checks every limit of §5.3; the error's field names the parameter ("config_rotation",
// "server_id_len", "nonce_len", "key") and its reason the rule.
Result<QuicLbConfig> make_quic_lb_config(unsigned config_rotation, unsigned server_id_len, unsigned nonce_len,
                                         bool self_encode_length, std::optional<std::span<const std::uint8_t>> key);

// A CID's plaintext: what the server put in, what a balancer with the config reads out.
struct QuicLbPlaintext {
  std::uint8_t config_rotation = 0;
  std::vector<std::uint8_t> server_id;
  std::vector<std::uint8_t> nonce;
  friend bool operator==(const QuicLbPlaintext &, const QuicLbPlaintext &) = default;
};

// A server ID held without allocation: the reset guard decodes one for every datagram with an
// unknown CID. Octets past `len` are zero, so == compares IDs.
struct QuicLbServerId {
  std::array<std::uint8_t, kQuicLbMaxServerIdLen> octets{};
  std::uint8_t len = 0;
  std::span<const std::uint8_t> view() const noexcept { return {octets.data(), len}; }
  friend bool operator==(const QuicLbServerId &, const QuicLbServerId &) = default;
};
// The server ID in `id` (1..15 octets), else nullopt.
std::optional<QuicLbServerId> make_quic_lb_server_id(std::span<const std::uint8_t> id) noexcept;

// One configuration with its AES key schedule computed once. Cheap to copy (shared schedule).
class QuicLbCodec {
 public:
  explicit QuicLbCodec(QuicLbConfig config);
  // Out of line on purpose: inlined into copies of std::optional<ClusterConfig>, GCC 12 warns
  // -Wmaybe-uninitialized about the shared_ptr of a disengaged optional (GCC PR 80635) in the
  // ASan build.
  QuicLbCodec(const QuicLbCodec &other);
  QuicLbCodec(QuicLbCodec &&other) noexcept;
  QuicLbCodec &operator=(const QuicLbCodec &other);
  QuicLbCodec &operator=(QuicLbCodec &&other) noexcept;
  ~QuicLbCodec();

  const QuicLbConfig &config() const noexcept { return config_; }

  // The CID for `server_id` and `nonce` (exactly server_id_len and nonce_len octets, else an
  // error naming which). Without self-encoding the first octet's low 5 bits are
  // `first_octet_random`'s low 5 bits (§3.3: no observable relation to earlier CIDs).
  Result<std::vector<std::uint8_t>> encode(std::span<const std::uint8_t> server_id, std::span<const std::uint8_t> nonce,
                                           std::uint8_t first_octet_random = 0) const;
  // The server ID and nonce of a CID of this configuration. Errors: shorter than cid_len(), or
  // config rotation bits of another configuration. Octets past cid_len() are the server's own
  // (§5.4) and ignored.
  Result<QuicLbPlaintext> decode(std::span<const std::uint8_t> cid) const;
  // decode()'s server ID without allocating or naming the error: nullopt when decode() fails.
  std::optional<QuicLbServerId> server_id_of(std::span<const std::uint8_t> cid) const noexcept;

 private:
  void encrypt_block(const std::uint8_t in[16], std::uint8_t out[16]) const;
  void decrypt_block(const std::uint8_t in[16], std::uint8_t out[16]) const;
  void feistel(std::span<std::uint8_t> body, bool decrypt) const;
  // The plaintext server ID || nonce of `cid` (at least cid_len() octets) into `body`
  // (body_len() octets).
  void open(std::span<const std::uint8_t> cid, std::span<std::uint8_t> body) const;

  QuicLbConfig config_;
  struct Schedule;
  std::shared_ptr<const Schedule> schedule_;  // null without a key
};

// How a load balancer routes a CID (§4, §4.2).
enum class QuicLbRoute : std::uint8_t {
  routed,      // server_id is set
  unroutable,  // config rotation 0b111: a server without a configuration issued it
  no_config,   // no configuration for these config rotation bits
  too_short,   // shorter than the configuration's CID (or empty)
};
std::string_view to_string(QuicLbRoute route) noexcept;

struct QuicLbRouting {
  QuicLbRoute route = QuicLbRoute::too_short;
  std::uint8_t config_rotation = 0;  // of the first octet, when there is one
  std::vector<std::uint8_t> server_id;
};

// The balancer's decision for a short-header DCID given its active configurations (at most one
// per config rotation value; the first match wins).
QuicLbRouting route_cid(std::span<const QuicLbCodec> configs, std::span<const std::uint8_t> cid);

// Nonces for one server (§5.4, §10 "CID entropy"): with a key, a counter that starts at a
// random value and never repeats (exhausted after 2^(8·nonce_len) values, or 2^64 for nonces of
// 8 octets and more); without a key every nonce is random (a counter would let an observer link
// the CIDs).
class QuicLbCidGenerator {
 public:
  // `server_id` must have config.server_id_len octets (else an error naming "server_id").
  static Result<QuicLbCidGenerator> create(QuicLbCodec codec, std::vector<std::uint8_t> server_id, RandomFill random);

  // The next CID; an error once the counter is exhausted (the server needs a new config).
  Result<std::vector<std::uint8_t>> next();
  const QuicLbCodec &codec() const noexcept { return codec_; }
  const std::vector<std::uint8_t> &server_id() const noexcept { return server_id_; }
  std::uint64_t issued() const noexcept { return issued_; }

 private:
  QuicLbCidGenerator(QuicLbCodec codec, std::vector<std::uint8_t> server_id, RandomFill random);

  QuicLbCodec codec_;
  std::vector<std::uint8_t> server_id_;
  RandomFill random_;
  std::vector<std::uint8_t> counter_;  // big-endian nonce counter (keyed configs)
  std::uint64_t issued_ = 0;
  std::uint64_t capacity_ = 0;  // counter values available (keyed configs)
};

// §3.2: what a server without an active configuration does.
struct QuicLbNoConfigRules {
  bool self_encode_length;             // its 0b111 CIDs MUST self-encode their length
  bool send_disable_active_migration;  // SHOULD send disable_active_migration
  bool send_new_connection_ids;        // SHOULD NOT send NEW_CONNECTION_ID: one CID per connection
  std::size_t min_cid_len;             // SHOULD be at least 8 octets (7 random after the first)
};
inline constexpr QuicLbNoConfigRules kServerWithoutConfig{true, true, false, 8};

// A 0b111 CID of `len` octets (8..20, else an error naming "len"): the first octet 0b111 and
// len - 1, the rest random.
Result<std::vector<std::uint8_t>> unroutable_cid(std::size_t len, const RandomFill &random);

}  // namespace qamp
