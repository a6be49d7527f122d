// qamp/reset_guard.h — the Stateless Reset guard (DESIGN.md §4) of the server's dispatcher: for a
// short-header datagram whose Destination Connection ID the server does not know, decide whether
// to answer with a Stateless Reset (RFC 9000 §10.3) and how long it may be.
//
// A reset is the right answer when the connection is really gone, and the wrong one when the
// datagram is a migration probe that reached an instance which never had the connection (a
// 4-tuple load balancer, Anycast): the reset carries the connection's token and kills the healthy
// connection on the old path (RFC 9000 §21.11). In cluster mode every CID this server issues is
// a QUIC-LB CID (draft-ietf-quic-load-balancers-21) carrying its server ID, plaintext or
// encrypted, and the guard reads it back with the balancer's decoder to tell "mine, and gone"
// from "someone else's".
//
// Pure decision logic: bytes, lengths and timestamps in (ngtcp2_tstamp nanoseconds, the caller's
// clock), verdicts out.
#pragma once

#include <ngtcp2/ngtcp2.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "qamp/gate.h"  // Endpoint: the one address type
#include "qamp/policy.h"
#include "qamp/quic_lb.h"

namespace qamp {

using Bytes = std::vector<std::uint8_t>;  // as in tp_codec.h
using ByteView = std::span<const std::uint8_t>;

// RFC 9000 §10.3: a reset is at least 5 unpredictable octets (the first carries the header bits)
// plus the 16-octet token; §10.3 suggests answering a packet of 43 octets or fewer with a reset
// one octet shorter, so 43 is the largest reset worth sending.
inline constexpr std::size_t kMinStatelessResetLen =
    NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN;  // 21
inline constexpr std::size_t kMaxStatelessResetLen = 43;

enum class ResetMode : std::uint8_t {
  automatic,  // "auto": cluster rule in cluster mode, else reset only on `any` addresses
  always,     // reset every unknown CID (stock behaviour; still size- and rate-limited)
  never,      // never reset
};
std::string_view to_string(ResetMode mode) noexcept;  // "auto", "always", "never"
// Accepts "auto", "always", "never". Returns nullopt for anything else.
std::optional<ResetMode> parse_reset_mode(std::string_view text) noexcept;

enum class ResetReason : std::uint8_t {
  send_own_instance,             // cluster mode: the CID is ours, so the connection is gone
  send_unrestricted_address,     // auto, no cluster: arrived on an `any` address
  send_always,                   // mode always
  suppress_mode_never,           // mode never
  suppress_other_instance,       // cluster mode: another server ID, or not a CID of our QUIC-LB
                                 //   configuration (config rotation, 0b111, too short); the
                                 //   connection may be alive elsewhere (RFC 9000 §21.11)
  suppress_restricted_address,   // auto, no cluster: arrived on a `none` / `same-ip` address, where
                                 //   a probe that reached the wrong instance is expected
  suppress_too_short,            // RFC 9000 §10.3: no reset of >= 21 octets fits below the
                                 //   datagram's length (datagrams of 21 octets or fewer)
  suppress_rate_limited,         // the global token bucket is empty
  suppress_prefix_rate_limited,  // the bucket of the source's prefix is empty (a flood from
                                 //   one network spends its own tokens, not everyone's)
  suppress_prefix_table_full,    // every slot of the prefix table holds a prefix whose bucket is
                                 //   not full again yet: a new prefix is refused (fail closed)
};
inline constexpr std::size_t kResetReasonCount = 10;
inline constexpr std::array<ResetReason, kResetReasonCount> kAllResetReasons = {
    ResetReason::send_own_instance,
    ResetReason::send_unrestricted_address,
    ResetReason::send_always,
    ResetReason::suppress_mode_never,
    ResetReason::suppress_other_instance,
    ResetReason::suppress_restricted_address,
    ResetReason::suppress_too_short,
    ResetReason::suppress_rate_limited,
    ResetReason::suppress_prefix_rate_limited,
    ResetReason::suppress_prefix_table_full};
std::string_view to_string(ResetReason reason) noexcept;  // "send-own-instance", …

// Cluster mode: the instances share one QUIC-LB configuration (qamp/quic_lb.h) and each issues
// CIDs carrying its own server ID. A CID with another server ID, or of no configuration we know
// (other config rotation bits, 0b111, too short), belongs to a connection this instance cannot
// know about: only the issuing instance may reset it (RFC 9000 §21.11).
struct ClusterConfig {
  QuicLbCodec codec;
  QuicLbServerId server_id;  // this instance's: codec.config().server_id_len octets
};

// Token bucket: starts full with `burst` tokens, gains `per_second` tokens per second up to
// `burst`, each reset sent takes one. per_second 0: `burst` resets in all, never refilled.
struct RateLimit {
  double per_second = 10;
  double burst = 20;
};

// A token bucket as GCRA (virtual scheduling) in integer nanoseconds: refills are exact and a
// clock that steps back refills nothing. Also the server's log budgets.
class TokenBucket {
 public:
  explicit TokenBucket(RateLimit limit) noexcept;
  // Takes a token if there is one. True when taken.
  bool try_take(ngtcp2_tstamp now) noexcept;
  // Whether try_take(now) would take one.
  bool available(ngtcp2_tstamp now) const noexcept;

 private:
  friend class ResetGuard;
  // The GCRA rule on an external state `next` (when the bucket is full again; 0: full), so a
  // table of buckets with one limit stores one timestamp per bucket.
  bool allows(ngtcp2_tstamp next, ngtcp2_tstamp now) const noexcept;
  ngtcp2_tstamp after_take(ngtcp2_tstamp next, ngtcp2_tstamp now) const noexcept;

  bool refills_;  // per_second > 0
  double burst_;
  std::uint64_t interval_ = 0;   // ns per token
  std::uint64_t tolerance_ = 0;  // (burst - 1) intervals
  ngtcp2_tstamp next_ = 0;
  std::uint64_t taken_without_refill_ = 0;
};

// The second, inner rate limit: one token bucket per source prefix, in a table of fixed size.
//
// Why prefixes, and these: one host (or one attacker spoofing within its own network, the case
// BCP 38 filtering leaves open) controls a whole prefix, not one address. IPv4 /24 is the
// smallest prefix routed between networks and what one site or NAT pool holds; IPv6 /56 is the
// usual delegation to one site (RFC 6177: /48 to /64, /56 the common residential size), so a
// host cannot spread over many buckets by changing its interface identifier or its /64.
// Addresses of one prefix share one bucket: a flood from one network starves only that network.
//
// The table: `slots` entries (rounded down to a power of two of sets) in sets of 8 (fewer slots:
// one set), a prefix's set chosen by a
// keyed hash (`hash_key`, random per server), so a lookup reads 8 entries and a sender who does
// not know the key cannot aim many prefixes at one set. An entry whose bucket is full again is
// free (forgetting it loses nothing). A prefix takes an entry only when a reset is actually
// sent, so under the global bucket (R per second, burst B) at most B + R * burst/per_second
// entries are in use at once: 20 + 10 * 2.5 = 45 with the defaults, in 256 slots (6 KiB). When
// the set of a new prefix has no free entry (all 8 in use, the full table's case too; with the
// defaults only when 8 of those 45 land in one of 32 sets), the prefix is refused
// (suppress_prefix_table_full) rather than evicting an entry in use, which would hand the evicted
// prefix a fresh burst: fail closed, a reset is only ever a courtesy.
struct PrefixLimit {
  RateLimit rate{2, 5};           // per prefix; per_second must be > 0 (entries must become free)
  unsigned ipv4_prefix_len = 24;  // 1..32
  unsigned ipv6_prefix_len = 56;  // 1..64 (a /64 is one subnet; longer would split one host)
  std::size_t slots = 256;        // 1..4096; 24 bytes each
  std::uint64_t hash_key = 0;     // the set hash's key; the server draws it at random
};

struct ResetGuardConfig {
  ResetMode mode = ResetMode::automatic;
  std::optional<ClusterConfig> cluster;                   // cluster mode when set
  std::optional<RateLimit> rate_limit = RateLimit{};      // nullopt: unlimited (the outer bound)
  std::optional<PrefixLimit> per_prefix = PrefixLimit{};  // nullopt: no per-prefix limit
  std::size_t min_reset_len = kMinStatelessResetLen;      // clamped to >= 21
  std::size_t max_reset_len = kMaxStatelessResetLen;      // clamped to >= min_reset_len
};
// Why a config is unusable (for the CLI), or nullopt: a cluster server ID whose length is not the
// QUIC-LB configuration's, min_reset_len below 21, max below min, a negative rate or a burst below 1,
// a per-prefix rate that does not refill, prefix lengths or a slot count out of range.
std::optional<std::string_view> config_error(const ResetGuardConfig &config) noexcept;

struct ResetDecision {
  bool send;
  ResetReason reason;
  // Octets of the whole reset when send, else 0: min(datagram_len - 1, max_reset_len), never
  // below min_reset_len. Smaller than the trigger, so two endpoints cannot loop (§10.3.3).
  std::size_t reset_length;

  // The `randlen` for ngtcp2_pkt_write_stateless_reset (it counts the first octet too).
  std::size_t rand_length() const noexcept { return send ? reset_length - NGTCP2_STATELESS_RESET_TOKENLEN : 0; }
  friend bool operator==(const ResetDecision &, const ResetDecision &) = default;
};

// The observer's view; `dcid` is borrowed for the call only.
struct ResetEvent {
  ResetDecision decision;
  ByteView dcid;
  std::size_t datagram_len;
  Level level;
  ngtcp2_tstamp now;
  std::optional<QuicLbServerId> cid_server_id;  // cluster mode: the CID's, if of our configuration
};
// One log line: "stateless reset suppressed (suppress-other-instance): dcid 1103…, 1200 bytes on
// a none address, server id 03".
std::string describe(const ResetEvent &event);

struct ResetCounters {
  std::array<std::uint64_t, kResetReasonCount> by_reason{};  // indexed by ResetReason
  std::uint64_t sent = 0;
  std::uint64_t suppressed = 0;
  std::uint64_t bytes_sent = 0;  // sum of reset_length over sent resets

  std::uint64_t of(ResetReason reason) const noexcept { return by_reason[static_cast<std::size_t>(reason)]; }
};

// One per dispatcher; not thread-safe.
class ResetGuard {
 public:
  using Observer = std::function<void(const ResetEvent &)>;

  // `config` should pass config_error(); out-of-range lengths are clamped.
  explicit ResetGuard(ResetGuardConfig config);

  // `dcid`: the DCID of the short-header datagram (the server's own CID length), `datagram_len`:
  // the whole UDP payload, `level`: the level of the local server address it arrived on,
  // `source`: the address it came from (an empty or unusable Endpoint counts as one prefix of
  // its own; IPv4-mapped IPv6 counts as IPv4), `now`: the caller's clock. Checked in order:
  // mode never; the address rule (always: every CID; cluster mode: own instance or not,
  // whatever the level; auto without cluster: the level); the length (§10.3); the global bucket
  // (empty: suppress_rate_limited, without looking the prefix up, which keeps a flood from many
  // prefixes cheap); the source prefix's bucket (no free entry, then empty). Tokens are taken
  // from both buckets only when everything says send, so a prefix refused by its own bucket
  // spends nothing of the global one. Every decision is counted and reported.
  ResetDecision should_reset(ByteView dcid, std::size_t datagram_len, Level level, const Endpoint &source,
                             ngtcp2_tstamp now);

  void set_observer(Observer observer) { observer_ = std::move(observer); }
  const ResetGuardConfig &config() const noexcept { return config_; }
  const ResetCounters &counters() const noexcept { return counters_; }
  // Prefix-table entries in use at `now` (their bucket is not full again yet).
  std::size_t prefixes_in_use(ngtcp2_tstamp now) const noexcept;

 private:
  // The masked address in the high bits of one integer (IPv6 prefixes are at most /64) and the
  // family (4, 6, or 0 for an unusable source): one compare per slot.
  struct PrefixKey {
    std::uint64_t bits = 0;
    std::uint8_t family = 0;
    friend bool operator==(const PrefixKey &, const PrefixKey &) = default;
  };
  struct PrefixSlot {
    ngtcp2_tstamp next = 0;  // the prefix's bucket is full again from here; <= now: slot free
    PrefixKey key;
  };
  PrefixKey prefix_of(const Endpoint &source) const noexcept;
  std::size_t set_of(const PrefixKey &key) const noexcept;  // first slot of the key's set

  ResetGuardConfig config_;
  ResetCounters counters_;
  Observer observer_;
  std::optional<TokenBucket> global_;
  std::optional<TokenBucket> prefix_bucket_;  // the rule; the state is in prefix_slots_
  std::vector<PrefixSlot> prefix_slots_;      // fixed size from construction, sets of ways_
  std::size_t ways_ = 0;
  std::uint64_t set_mask_ = 0;  // sets - 1, sets a power of two
};

}  // namespace qamp
