#include "qamp/reset_guard.h"
#include "qamp/hex.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

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
    case ResetReason::suppress_prefix_rate_limited: return "suppress-prefix-rate-limited";
    case ResetReason::suppress_prefix_table_full: return "suppress-prefix-table-full";
  }
  return "?";
}

std::optional<std::string_view> config_error(const ResetGuardConfig &c) noexcept {
  if (c.cluster) {
    if (c.cluster->server_id.len != c.cluster->codec.config().server_id_len)
      return "cluster server id must have the QUIC-LB configuration's server id length";
  }
  if (c.min_reset_len < kMinStatelessResetLen) return "min reset length must be at least 21";
  if (c.max_reset_len < c.min_reset_len) return "max reset length must not be below the minimum";
  if (c.rate_limit) {
    if (!(c.rate_limit->per_second >= 0)) return "reset rate must not be negative";
    if (!(c.rate_limit->burst >= 1)) return "reset burst must be at least 1";
  }
  if (const auto &p = c.per_prefix) {
    if (!(p->rate.per_second > 0)) return "per-prefix reset rate must be above 0";
    if (!(p->rate.burst >= 1)) return "per-prefix reset burst must be at least 1";
    if (p->ipv4_prefix_len < 1 || p->ipv4_prefix_len > 32) return "IPv4 prefix length must be 1..32";
    if (p->ipv6_prefix_len < 1 || p->ipv6_prefix_len > 64) return "IPv6 prefix length must be 1..64";
    if (p->slots < 1 || p->slots > 4096) return "prefix table must have 1..4096 slots";
  }
  return std::nullopt;
}

TokenBucket::TokenBucket(RateLimit rl) noexcept : refills_(rl.per_second > 0), burst_(rl.burst) {
  if (!refills_) return;
  constexpr double kCap = 4e18;  // keeps every sum below 2^64
  const double interval = std::clamp(1e9 / rl.per_second, 1.0, kCap);
  interval_ = static_cast<std::uint64_t>(interval);
  tolerance_ = static_cast<std::uint64_t>(std::clamp((rl.burst - 1) * interval, 0.0, kCap));
}

bool TokenBucket::allows(ngtcp2_tstamp next, ngtcp2_tstamp now) const noexcept {
  // `next` is when the bucket would be full again after the tokens taken so far; a token may go
  // while that lies at most `burst - 1` intervals ahead.
  if (!(burst_ >= 1)) return false;
  return now + tolerance_ >= next;
}

ngtcp2_tstamp TokenBucket::after_take(ngtcp2_tstamp next, ngtcp2_tstamp now) const noexcept {
  return std::max(next, now) + interval_;
}

bool TokenBucket::available(ngtcp2_tstamp now) const noexcept {
  if (!(burst_ >= 1)) return false;
  if (!refills_) return static_cast<double>(taken_without_refill_) + 1 <= burst_;
  return allows(next_, now);
}

bool TokenBucket::try_take(ngtcp2_tstamp now) noexcept {
  if (!(burst_ >= 1)) return false;
  if (!refills_) {  // no refill: `burst` tokens for the bucket's lifetime
    if (static_cast<double>(taken_without_refill_) + 1 > burst_) return false;
    ++taken_without_refill_;
    return true;
  }
  if (!allows(next_, now)) return false;
  next_ = after_take(next_, now);
  return true;
}

ResetGuard::ResetGuard(ResetGuardConfig config) : config_(config) {
  config_.min_reset_len = std::max(config_.min_reset_len, kMinStatelessResetLen);
  config_.max_reset_len = std::max(config_.max_reset_len, config_.min_reset_len);
  if (config_.rate_limit) global_.emplace(*config_.rate_limit);
  if (auto &p = config_.per_prefix) {
    p->ipv4_prefix_len = std::clamp(p->ipv4_prefix_len, 1u, 32u);
    p->ipv6_prefix_len = std::clamp(p->ipv6_prefix_len, 1u, 64u);
    p->slots = std::clamp<std::size_t>(p->slots, 1, 4096);
    prefix_bucket_.emplace(p->rate);
    ways_ = std::min<std::size_t>(p->slots, 8);
    // A power of two of sets, so the set is the hash masked (no division per datagram).
    std::size_t sets = 1;
    while (sets * 2 * ways_ <= p->slots) sets *= 2;
    set_mask_ = sets - 1;
    prefix_slots_.resize(sets * ways_);
  }
}

ResetGuard::PrefixKey ResetGuard::prefix_of(const Endpoint &source) const noexcept {
  // The address's first 4 (IPv4) or 8 (IPv6) octets at the top of an integer, masked to the
  // prefix length (1..32, 1..64).
  auto top = [](const void *addr, unsigned octets, unsigned bits) {
    std::uint64_t v = 0;
    if (octets == 4) {
      std::uint32_t a;
      std::memcpy(&a, addr, 4);
      v = std::uint64_t{ntohl(a)} << 32;
    } else {
      std::uint32_t hi, lo;
      std::memcpy(&hi, addr, 4);
      std::memcpy(&lo, static_cast<const std::uint8_t *>(addr) + 4, 4);
      v = std::uint64_t{ntohl(hi)} << 32 | ntohl(lo);
    }
    return v & ~std::uint64_t{0} << (64 - bits);
  };
  const sockaddr *sa = source.sa();
  if (source.family() == AF_INET)
    return {top(&reinterpret_cast<const sockaddr_in *>(sa)->sin_addr, 4, config_.per_prefix->ipv4_prefix_len), 4};
  if (source.family() == AF_INET6) {
    const auto *a6 = &reinterpret_cast<const sockaddr_in6 *>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6))  // what a dual-stack socket reports for an IPv4 client
      return {top(a6->s6_addr + 12, 4, config_.per_prefix->ipv4_prefix_len), 4};
    return {top(a6->s6_addr, 8, config_.per_prefix->ipv6_prefix_len), 6};
  }
  return {};  // family 0: every unusable source shares one prefix
}

std::size_t ResetGuard::set_of(const PrefixKey &key) const noexcept {
  // splitmix64's finaliser over the keyed prefix: fast and well mixed, not a MAC (the key only
  // has to stay unknown to senders, who see nothing but whether a reset came back).
  std::uint64_t z = key.bits ^ config_.per_prefix->hash_key ^ (std::uint64_t{key.family} << 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<std::size_t>(z & set_mask_) * ways_;
}

std::size_t ResetGuard::prefixes_in_use(ngtcp2_tstamp now) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(prefix_slots_.begin(), prefix_slots_.end(), [now](const PrefixSlot &s) { return s.next > now; }));
}

ResetDecision ResetGuard::should_reset(ByteView dcid, std::size_t datagram_len, Level level, const Endpoint &source,
                                       ngtcp2_tstamp now) {
  const std::optional<QuicLbServerId> server_id =
      config_.cluster ? config_.cluster->codec.server_id_of(dcid) : std::nullopt;

  auto by_address = [&]() -> ResetReason {
    switch (config_.mode) {
      case ResetMode::never: return ResetReason::suppress_mode_never;
      case ResetMode::always: return ResetReason::send_always;
      case ResetMode::automatic: break;
    }
    if (const auto &cl = config_.cluster) {
      // Only the instance that issued a CID can know its connection is gone (§21.11).
      const bool own = server_id && *server_id == cl->server_id;
      return own ? ResetReason::send_own_instance : ResetReason::suppress_other_instance;
    }
    return level == Level::any ? ResetReason::send_unrestricted_address : ResetReason::suppress_restricted_address;
  };

  ResetDecision d{false, by_address(), 0};
  const bool address_says_send = d.reason == ResetReason::send_own_instance ||
                                 d.reason == ResetReason::send_unrestricted_address ||
                                 d.reason == ResetReason::send_always;
  if (address_says_send) {
    // §10.3: the reset must be smaller than the datagram (no loops) and at least 21 octets.
    const std::size_t length = datagram_len == 0 ? 0 : std::min(datagram_len - 1, config_.max_reset_len);
    PrefixSlot *slot = nullptr;
    PrefixKey key{};
    if (length < config_.min_reset_len) {
      d.reason = ResetReason::suppress_too_short;
    } else if (global_ && !global_->available(now)) {
      d.reason = ResetReason::suppress_rate_limited;
    } else if (prefix_bucket_) {
      // The inner bound before a token is taken from the outer one, so a flooding prefix is
      // refused by its own bucket and leaves the global one to everybody else.
      key = prefix_of(source);
      PrefixSlot *free_slot = nullptr;
      const std::size_t first = set_of(key);
      for (std::size_t i = first; i < first + ways_; ++i) {
        PrefixSlot &s = prefix_slots_[i];
        if (s.next > now) {
          if (s.key == key) {
            slot = &s;
            break;
          }
        } else if (!free_slot) {
          free_slot = &s;
        }
      }
      if (!slot) slot = free_slot;  // a free slot is a full bucket: as good as the old entry
      if (!slot)
        d.reason = ResetReason::suppress_prefix_table_full;
      else if (!prefix_bucket_->allows(slot->next, now))
        d.reason = ResetReason::suppress_prefix_rate_limited;
    }
    const bool refused =
        d.reason == ResetReason::suppress_too_short || d.reason == ResetReason::suppress_rate_limited ||
        d.reason == ResetReason::suppress_prefix_table_full || d.reason == ResetReason::suppress_prefix_rate_limited;
    if (!refused) {
      if (global_) global_->try_take(now);  // available: checked above
      if (slot) {
        slot->key = key;
        slot->next = prefix_bucket_->after_take(slot->next, now);
      }
      d = {true, d.reason, length};
    }
  }

  ++counters_.by_reason[static_cast<std::size_t>(d.reason)];
  if (d.send) {
    ++counters_.sent;
    counters_.bytes_sent += d.reset_length;
  } else {
    ++counters_.suppressed;
  }
  if (observer_) observer_(ResetEvent{d, dcid, datagram_len, level, now, server_id});
  return d;
}

std::string describe(const ResetEvent &e) {
  std::string out = e.decision.send ? "stateless reset sent (" : "stateless reset suppressed (";
  out += to_string(e.decision.reason);
  out += "): dcid ";
  out += e.dcid.empty() ? std::string("-") : to_hex(e.dcid);
  out += ", ";
  out += std::to_string(e.datagram_len);
  out += " bytes on a";
  out += e.level == Level::any ? "n " : " ";
  out += to_string(e.level);
  out += " address";
  if (e.cid_server_id) {
    out += ", server id ";
    out += to_hex(e.cid_server_id->view());
  }
  if (e.decision.send) {
    out += ", reset ";
    out += std::to_string(e.decision.reset_length);
    out += " bytes";
  }
  return out;
}

}  // namespace qamp
