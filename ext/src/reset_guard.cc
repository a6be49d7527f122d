#include "qamp/reset_guard.h"

#include <algorithm>

namespace qamp {

std::string_view to_string(ResetMode mode) noexcept {
  switch (mode) {
    case ResetMode::automatic: return "auto";
    case ResetMode::always: return "always";
    case ResetMode::never: return "never";
  }
  return "?";
}

std::optional<ResetMode> parse_reset_mode(std::string_view text) noexcept {
  for (auto m : {ResetMode::automatic, ResetMode::always, ResetMode::never})
    if (to_string(m) == text) return m;
  return std::nullopt;
}

std::string_view to_string(ResetReason reason) noexcept {
  switch (reason) {
    case ResetReason::send_own_instance: return "send-own-instance";
    case ResetReason::send_unrestricted_address: return "send-unrestricted-address";
    case ResetReason::send_always: return "send-always";
    case ResetReason::suppress_mode_never: return "suppress-mode-never";
    case ResetReason::suppress_other_instance: return "suppress-other-instance";
    case ResetReason::suppress_restricted_address: return "suppress-restricted-address";
    case ResetReason::suppress_too_short: return "suppress-too-short";
    case ResetReason::suppress_rate_limited: return "suppress-rate-limited";
  }
  return "?";
}

std::optional<std::string_view> config_error(const ResetGuardConfig &c) noexcept {
  if (c.cluster) {
    if (c.cluster->size == 0 || c.cluster->size > 256) return "cluster size must be 1..256";
    if (c.cluster->instance_id >= c.cluster->size) return "instance id must be below cluster size";
  }
  if (c.min_reset_len < kMinStatelessResetLen) return "min reset length must be at least 21";
  if (c.max_reset_len < c.min_reset_len) return "max reset length must not be below the minimum";
  if (c.rate_limit) {
    if (!(c.rate_limit->per_second >= 0)) return "reset rate must not be negative";
    if (!(c.rate_limit->burst >= 1)) return "reset burst must be at least 1";
  }
  return std::nullopt;
}

ResetGuard::ResetGuard(ResetGuardConfig config) : config_(config) {
  config_.min_reset_len = std::max(config_.min_reset_len, kMinStatelessResetLen);
  config_.max_reset_len = std::max(config_.max_reset_len, config_.min_reset_len);
}

bool ResetGuard::take_token(ngtcp2_tstamp now) noexcept {
  // The token bucket as GCRA (virtual scheduling): `next_` is when the bucket would be full again
  // after the resets sent so far; a reset may go while that lies at most `burst - 1` intervals
  // ahead. Integer nanoseconds, so refills are exact, and a clock that steps back refills nothing.
  const RateLimit &rl = *config_.rate_limit;
  if (rl.burst < 1) return false;
  if (!(rl.per_second > 0)) {  // no refill: `burst` resets for the guard's lifetime
    if (static_cast<double>(sent_without_refill_) + 1 > rl.burst) return false;
    ++sent_without_refill_;
    return true;
  }
  constexpr double kCap = 4e18;  // keeps every sum below 2^64
  const double interval = std::clamp(1e9 / rl.per_second, 1.0, kCap);
  const double tolerance = std::min((rl.burst - 1) * interval, kCap);
  const auto t = static_cast<std::uint64_t>(interval);
  const auto tau = static_cast<std::uint64_t>(tolerance);
  const std::uint64_t next = next_ ? *next_ : now;
  if (now + tau < next) return false;
  next_ = std::max(next, now) + t;
  return true;
}

ResetDecision ResetGuard::should_reset(ByteView dcid, std::size_t datagram_len, Level level,
                                       ngtcp2_tstamp now) {
  const std::optional<std::uint8_t> instance =
      config_.cluster ? cid_instance(dcid) : std::nullopt;

  auto by_address = [&]() -> ResetReason {
    switch (config_.mode) {
      case ResetMode::never: return ResetReason::suppress_mode_never;
      case ResetMode::always: return ResetReason::send_always;
      case ResetMode::automatic: break;
    }
    if (const auto &cl = config_.cluster) {
      // Only the instance that issued a CID can know its connection is gone (§21.11).
      const bool own = instance && *instance == cl->instance_id;
      return own ? ResetReason::send_own_instance : ResetReason::suppress_other_instance;
    }
    return level == Level::any ? ResetReason::send_unrestricted_address
                               : ResetReason::suppress_restricted_address;
  };

  ResetDecision d{false, by_address(), 0};
  const bool address_says_send = d.reason == ResetReason::send_own_instance ||
                                 d.reason == ResetReason::send_unrestricted_address ||
                                 d.reason == ResetReason::send_always;
  if (address_says_send) {
    // §10.3: the reset must be smaller than the datagram (no loops) and at least 21 octets.
    const std::size_t length =
        datagram_len == 0 ? 0 : std::min(datagram_len - 1, config_.max_reset_len);
    if (length < config_.min_reset_len)
      d.reason = ResetReason::suppress_too_short;
    else if (config_.rate_limit && !take_token(now))
      d.reason = ResetReason::suppress_rate_limited;
    else
      d = {true, d.reason, length};
  }

  ++counters_.by_reason[static_cast<std::size_t>(d.reason)];
  if (d.send) {
    ++counters_.sent;
    counters_.bytes_sent += d.reset_length;
  } else {
    ++counters_.suppressed;
  }
  if (observer_) observer_(ResetEvent{d, dcid, datagram_len, level, now, instance});
  return d;
}

std::string describe(const ResetEvent &e) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = e.decision.send ? "stateless reset sent (" : "stateless reset suppressed (";
  out += to_string(e.decision.reason);
  out += "): dcid ";
  if (e.dcid.empty()) out += '-';
  for (auto b : e.dcid) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  out += ", ";
  out += std::to_string(e.datagram_len);
  out += " bytes on a";
  out += e.level == Level::any ? "n " : " ";
  out += to_string(e.level);
  out += " address";
  if (e.cid_instance) {
    out += ", instance ";
    out += std::to_string(*e.cid_instance);
  }
  if (e.decision.send) {
    out += ", reset ";
    out += std::to_string(e.decision.reset_length);
    out += " bytes";
  }
  return out;
}

Bytes make_cluster_cid(std::uint8_t instance_id, ByteView random, std::size_t len) {
  if (len < kCidInstanceOffset + 1 || len > NGTCP2_MAX_CIDLEN || random.size() < len - 1)
    return {};
  Bytes cid;
  cid.reserve(len);
  cid.push_back(random[0]);
  cid.push_back(instance_id);
  cid.insert(cid.end(), random.begin() + 1, random.begin() + static_cast<std::ptrdiff_t>(len - 1));
  return cid;
}

std::optional<std::uint8_t> cid_instance(ByteView cid) noexcept {
  if (cid.size() <= kCidInstanceOffset) return std::nullopt;
  return cid[kCidInstanceOffset];
}

}  // namespace qamp
