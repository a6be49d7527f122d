// qamp/reset_guard.h — the Stateless Reset guard (DESIGN.md §4) of the server's dispatcher: for a
// short-header datagram whose Destination Connection ID the server does not know, decide whether
// to answer with a Stateless Reset (RFC 9000 §10.3) and how long it may be.
//
// A reset is the right answer when the connection is really gone, and the wrong one when the
// datagram is a migration probe that reached an instance which never had the connection (a
// 4-tuple load balancer, Anycast): the reset carries the connection's token and kills the healthy
// connection on the old path (RFC 9000 §21.11). Cluster mode puts an instance id in every CID
// this server issues (the octet after the first, draft-ietf-quic-load-balancers' plaintext
// layout with a 1-octet server id) so the guard can tell "mine, and gone" from "someone else's".
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

#include "qamp/policy.h"

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
  send_own_instance,            // cluster mode: the CID is ours, so the connection is gone
  send_unrestricted_address,    // auto, no cluster: arrived on an `any` address
  send_always,                  // mode always
  suppress_mode_never,          // mode never
  suppress_other_instance,      // cluster mode: another instance's CID (or one too short to
                                //   carry an instance id, or an id outside the cluster); the
                                //   connection may be alive there (RFC 9000 §21.11)
  suppress_restricted_address,  // auto, no cluster: arrived on a `none` / `same-ip` address, where
                                //   a probe that reached the wrong instance is expected
  suppress_too_short,           // RFC 9000 §10.3: no reset of >= 21 octets fits below the
                                //   datagram's length (datagrams of 21 octets or fewer)
  suppress_rate_limited,        // the token bucket is empty
};
inline constexpr std::size_t kResetReasonCount = 8;
inline constexpr std::array<ResetReason, kResetReasonCount> kAllResetReasons = {
    ResetReason::send_own_instance,       ResetReason::send_unrestricted_address,
    ResetReason::send_always,             ResetReason::suppress_mode_never,
    ResetReason::suppress_other_instance, ResetReason::suppress_restricted_address,
    ResetReason::suppress_too_short,      ResetReason::suppress_rate_limited};
std::string_view to_string(ResetReason reason) noexcept;  // "send-own-instance", …

struct ClusterConfig {
  std::uint8_t instance_id = 0;  // this instance, < size
  unsigned size = 1;             // instances 0 .. size-1, at most 256
};

// Token bucket: starts full with `burst` tokens, gains `per_second` tokens per second up to
// `burst`, each reset sent takes one. per_second 0: `burst` resets in all, never refilled.
struct RateLimit {
  double per_second = 10;
  double burst = 20;
};

struct ResetGuardConfig {
  ResetMode mode = ResetMode::automatic;
  std::optional<ClusterConfig> cluster;               // cluster mode when set
  std::optional<RateLimit> rate_limit = RateLimit{};  // nullopt: unlimited
  std::size_t min_reset_len = kMinStatelessResetLen;  // clamped to >= 21
  std::size_t max_reset_len = kMaxStatelessResetLen;  // clamped to >= min_reset_len
};
// Why a config is unusable (for the CLI), or nullopt: instance id outside the cluster, cluster
// size 0 or above 256, min_reset_len below 21, max below min, a negative rate or a burst below 1.
std::optional<std::string_view> config_error(const ResetGuardConfig &config) noexcept;

struct ResetDecision {
  bool send;
  ResetReason reason;
  // Octets of the whole reset when send, else 0: min(datagram_len - 1, max_reset_len), never
  // below min_reset_len. Smaller than the trigger, so two endpoints cannot loop (§10.3.3).
  std::size_t reset_length;

  // The `randlen` for ngtcp2_pkt_write_stateless_reset (it counts the first octet too).
  std::size_t rand_length() const noexcept {
    return send ? reset_length - NGTCP2_STATELESS_RESET_TOKENLEN : 0;
  }
  friend bool operator==(const ResetDecision &, const ResetDecision &) = default;
};

// The observer's view; `dcid` is borrowed for the call only.
struct ResetEvent {
  ResetDecision decision;
  ByteView dcid;
  std::size_t datagram_len;
  Level level;
  ngtcp2_tstamp now;
  std::optional<std::uint8_t> cid_instance;  // cluster mode: the CID's instance octet, if any
};
// One log line: "stateless reset suppressed (suppress-other-instance): dcid 0a03…, 1200 bytes on
// a none address, instance 3".
std::string describe(const ResetEvent &event);

struct ResetCounters {
  std::array<std::uint64_t, kResetReasonCount> by_reason{};  // indexed by ResetReason
  std::uint64_t sent = 0;
  std::uint64_t suppressed = 0;
  std::uint64_t bytes_sent = 0;  // sum of reset_length over sent resets

  std::uint64_t of(ResetReason reason) const noexcept {
    return by_reason[static_cast<std::size_t>(reason)];
  }
};

// One per dispatcher; not thread-safe.
class ResetGuard {
 public:
  using Observer = std::function<void(const ResetEvent &)>;

  // `config` should pass config_error(); out-of-range lengths are clamped.
  explicit ResetGuard(ResetGuardConfig config);

  // `dcid`: the DCID of the short-header datagram (the server's own CID length), `datagram_len`:
  // the whole UDP payload, `level`: the level of the local server address it arrived on, `now`:
  // the caller's clock. Checked in order: mode never; the address rule (always: every CID;
  // cluster mode: own instance or not, whatever the level; auto without cluster: the level);
  // the length (§10.3); the rate limit, whose token is taken only when everything else says send.
  // Every decision is counted and reported to the observer.
  ResetDecision should_reset(ByteView dcid, std::size_t datagram_len, Level level,
                             ngtcp2_tstamp now);

  void set_observer(Observer observer) { observer_ = std::move(observer); }
  const ResetGuardConfig &config() const noexcept { return config_; }
  const ResetCounters &counters() const noexcept { return counters_; }

 private:
  bool take_token(ngtcp2_tstamp now) noexcept;

  ResetGuardConfig config_;
  ResetCounters counters_;
  Observer observer_;
  std::optional<ngtcp2_tstamp> next_;    // rate limit: the bucket is full again from here
  std::uint64_t sent_without_refill_ = 0;  // rate limit without refill: resets sent so far
};

// ---- cluster connection IDs ----

// The octet of a cluster CID that carries the instance id (draft-ietf-quic-load-balancers,
// plaintext, 1-octet server id).
inline constexpr std::size_t kCidInstanceOffset = 1;

// A CID of `len` octets (2..20, RFC 9000 §17.2): random[0] as the first octet (QUIC-LB's config
// rotation bits are not used), `instance_id` second, random[1..len-1) after it. Returns an empty
// Bytes when len is out of range or `random` has fewer than len - 1 octets.
Bytes make_cluster_cid(std::uint8_t instance_id, ByteView random, std::size_t len);

// The instance id of a cluster CID; nullopt when it is too short to carry one.
std::optional<std::uint8_t> cid_instance(ByteView cid) noexcept;

}  // namespace qamp
