// The Stateless Reset guard: one row per case, the rule or scenario named in the row
// (RFC 9000 §10.3, §21.11; DESIGN.md §4).
#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "qamp/reset_guard.h"
#include "qamp/tp_codec.h"  // Bytes is declared in both headers: they must agree

using namespace qamp;

namespace {

constexpr auto ANY = Level::any;
constexpr auto NONE = Level::none;
constexpr auto SIP = Level::same_ip;
constexpr auto AUTO = ResetMode::automatic;
constexpr auto ALWAYS = ResetMode::always;
constexpr auto NEVER = ResetMode::never;
using RR = ResetReason;
constexpr ngtcp2_tstamp kMs = 1'000'000;  // ngtcp2_tstamp is nanoseconds

// The cluster's QUIC-LB configuration: config rotation 5, 1-octet server IDs, 6-octet nonces,
// plaintext (8-octet CIDs, first octet 0b101 | 7). This instance is server ID 3. An 8-octet CID
// issued by it, and one issued by server ID 5.
constexpr std::uint8_t kOwnId = 3;
const Bytes kOwnCid = {0xa7, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15};
const Bytes kOtherCid = {0xa7, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15};

ClusterConfig cluster_of(std::uint8_t id, std::optional<std::span<const std::uint8_t>> key = std::nullopt,
                         unsigned nonce_len = 6) {
  const std::uint8_t sid[] = {id};
  return ClusterConfig{QuicLbCodec(*make_quic_lb_config(5, 1, nonce_len, true, key)), *make_quic_lb_server_id(sid)};
}

// One source for the rows that are about the global rules (no per-prefix limit).
const Endpoint kSrc = *Endpoint::parse("192.0.2.1:4433");

ResetGuardConfig config(ResetMode mode, bool cluster, std::optional<RateLimit> rate = std::nullopt) {
  ResetGuardConfig c;
  c.mode = mode;
  c.per_prefix = std::nullopt;
  if (cluster) c.cluster = cluster_of(kOwnId);
  c.rate_limit = rate;
  return c;
}

// What the address rule says, before length and rate: mode × cluster × instance × level.
struct AddressRow {
  const char *name;
  ResetMode mode;
  bool cluster;
  bool own;  // the CID carries our instance id (meaningless without cluster mode)
  Level level;
  bool send;
  ResetReason reason;
};
const AddressRow kAddressRows[] = {
    // auto without cluster: the address level decides
    {"auto, no cluster, own-looking CID, any: reset (nothing to protect)", AUTO, false, true, ANY, true,
     RR::send_unrestricted_address},
    {"auto, no cluster, own-looking CID, none: a misrouted probe must not kill (§21.11)", AUTO, false, true, NONE,
     false, RR::suppress_restricted_address},
    {"auto, no cluster, own-looking CID, same-ip: a misrouted probe must not kill (§21.11)", AUTO, false, true, SIP,
     false, RR::suppress_restricted_address},
    {"auto, no cluster, other-looking CID, any: no server ID to read", AUTO, false, false, ANY, true,
     RR::send_unrestricted_address},
    {"auto, no cluster, other-looking CID, none: no server ID to read", AUTO, false, false, NONE, false,
     RR::suppress_restricted_address},
    {"auto, no cluster, other-looking CID, same-ip: no server ID to read", AUTO, false, false, SIP, false,
     RR::suppress_restricted_address},
    // auto with cluster: the instance id decides, whatever the level
    {"auto, cluster, own instance, any: ours and gone", AUTO, true, true, ANY, true, RR::send_own_instance},
    {"auto, cluster, own instance, none: ours and gone, level irrelevant", AUTO, true, true, NONE, true,
     RR::send_own_instance},
    {"auto, cluster, own instance, same-ip: ours and gone, level irrelevant", AUTO, true, true, SIP, true,
     RR::send_own_instance},
    {"auto, cluster, other instance, any: may be alive there (§21.11)", AUTO, true, false, ANY, false,
     RR::suppress_other_instance},
    {"auto, cluster, other instance, none: may be alive there (§21.11)", AUTO, true, false, NONE, false,
     RR::suppress_other_instance},
    {"auto, cluster, other instance, same-ip: may be alive there (§21.11)", AUTO, true, false, SIP, false,
     RR::suppress_other_instance},
    // always: stock behaviour
    {"always, no cluster, own-looking, any", ALWAYS, false, true, ANY, true, RR::send_always},
    {"always, no cluster, own-looking, none", ALWAYS, false, true, NONE, true, RR::send_always},
    {"always, no cluster, own-looking, same-ip", ALWAYS, false, true, SIP, true, RR::send_always},
    {"always, no cluster, other-looking, any", ALWAYS, false, false, ANY, true, RR::send_always},
    {"always, no cluster, other-looking, none", ALWAYS, false, false, NONE, true, RR::send_always},
    {"always, no cluster, other-looking, same-ip", ALWAYS, false, false, SIP, true, RR::send_always},
    {"always, cluster, own instance, any", ALWAYS, true, true, ANY, true, RR::send_always},
    {"always, cluster, own instance, none", ALWAYS, true, true, NONE, true, RR::send_always},
    {"always, cluster, own instance, same-ip", ALWAYS, true, true, SIP, true, RR::send_always},
    {"always, cluster, other instance, any: resets anyway", ALWAYS, true, false, ANY, true, RR::send_always},
    {"always, cluster, other instance, none: resets anyway", ALWAYS, true, false, NONE, true, RR::send_always},
    {"always, cluster, other instance, same-ip: resets anyway", ALWAYS, true, false, SIP, true, RR::send_always},
    // never
    {"never, no cluster, own-looking, any", NEVER, false, true, ANY, false, RR::suppress_mode_never},
    {"never, no cluster, own-looking, none", NEVER, false, true, NONE, false, RR::suppress_mode_never},
    {"never, no cluster, own-looking, same-ip", NEVER, false, true, SIP, false, RR::suppress_mode_never},
    {"never, no cluster, other-looking, any", NEVER, false, false, ANY, false, RR::suppress_mode_never},
    {"never, no cluster, other-looking, none", NEVER, false, false, NONE, false, RR::suppress_mode_never},
    {"never, no cluster, other-looking, same-ip", NEVER, false, false, SIP, false, RR::suppress_mode_never},
    {"never, cluster, own instance, any: never beats the cluster rule", NEVER, true, true, ANY, false,
     RR::suppress_mode_never},
    {"never, cluster, own instance, none", NEVER, true, true, NONE, false, RR::suppress_mode_never},
    {"never, cluster, own instance, same-ip", NEVER, true, true, SIP, false, RR::suppress_mode_never},
    {"never, cluster, other instance, any", NEVER, true, false, ANY, false, RR::suppress_mode_never},
    {"never, cluster, other instance, none", NEVER, true, false, NONE, false, RR::suppress_mode_never},
    {"never, cluster, other instance, same-ip", NEVER, true, false, SIP, false, RR::suppress_mode_never},
};

// What the datagram's length allows (RFC 9000 §10.3): a reset smaller than the datagram and at
// least 21 octets; for triggers of 43 octets or fewer one octet shorter, else 43.
struct LengthRow {
  const char *name;
  std::size_t datagram_len;
  bool fits;
  std::size_t reset_length;
};
const LengthRow kLengthRows[] = {
    {"20 octets: not even a valid short header", 20, false, 0},
    {"21 octets: a 21-octet reset would not be smaller", 21, false, 0},
    {"22 octets: the smallest reset, 21", 22, true, 21},
    {"43 octets: one octet shorter (§10.3)", 43, true, 42},
    {"44 octets: capped at 43", 44, true, 43},
    {"1200 octets: capped at 43", 1200, true, 43},
};

}  // namespace

TEST_CASE("reset guard: mode × cluster × instance × level × datagram length") {
  for (const auto &a : kAddressRows) {
    for (const auto &l : kLengthRows) {
      CAPTURE(a.name, l.name);
      ResetGuard guard(config(a.mode, a.cluster));
      const Bytes &cid = a.own ? kOwnCid : kOtherCid;
      const auto d = guard.should_reset(cid, l.datagram_len, a.level, kSrc, 5 * kMs);
      // The address rule is checked first; only what it would send is then measured.
      if (!a.send) {
        CHECK(d == ResetDecision{false, a.reason, 0});
      } else if (!l.fits) {
        CHECK(d == ResetDecision{false, RR::suppress_too_short, 0});
      } else {
        CHECK(d == ResetDecision{true, a.reason, l.reset_length});
        CHECK(d.reset_length < l.datagram_len);
      }
    }
  }
}

TEST_CASE("reset guard: precedence, written out") {
  struct Row {
    const char *name;
    ResetMode mode;
    bool cluster;
    Bytes cid;
    Level level;
    std::size_t datagram_len;
    ResetDecision want;
  };
  const Row rows[] = {
      {"never beats too short", NEVER, false, kOwnCid, ANY, 20, {false, RR::suppress_mode_never, 0}},
      {"restricted address beats too short",
       AUTO,
       false,
       kOwnCid,
       NONE,
       21,
       {false, RR::suppress_restricted_address, 0}},
      {"other instance beats too short", AUTO, true, kOtherCid, ANY, 20, {false, RR::suppress_other_instance, 0}},
      {"own instance, 21 octets: too short", AUTO, true, kOwnCid, NONE, 21, {false, RR::suppress_too_short, 0}},
      {"own instance, 22 octets: 21-octet reset", AUTO, true, kOwnCid, NONE, 22, {true, RR::send_own_instance, 21}},
      {"own instance, 44 octets on a none address: 43",
       AUTO,
       true,
       kOwnCid,
       NONE,
       44,
       {true, RR::send_own_instance, 43}},
      {"always, 21 octets: too short", ALWAYS, true, kOtherCid, NONE, 21, {false, RR::suppress_too_short, 0}},
      {"always, 43 octets: 42", ALWAYS, false, kOwnCid, SIP, 43, {true, RR::send_always, 42}},
      {"auto on any, 1200 octets: 43", AUTO, false, kOtherCid, ANY, 1200, {true, RR::send_unrestricted_address, 43}},
      {"empty datagram length, always: too short", ALWAYS, false, kOwnCid, ANY, 0, {false, RR::suppress_too_short, 0}},
      // cluster CIDs that cannot be ours: the QUIC-LB decoder finds no server ID of ours
      {"cluster, empty CID: no server ID", AUTO, true, Bytes{}, ANY, 1200, {false, RR::suppress_other_instance, 0}},
      {"cluster, 1-octet CID: no server ID",
       AUTO,
       true,
       Bytes{0x03},
       ANY,
       1200,
       {false, RR::suppress_other_instance, 0}},
      {"cluster, 7 octets: shorter than the configuration's 8",
       AUTO,
       true,
       Bytes{0xa7, 0x03, 1, 2, 3, 4, 5},
       ANY,
       1200,
       {false, RR::suppress_other_instance, 0}},
      {"cluster, our server ID under config rotation 0: another configuration",
       AUTO,
       true,
       Bytes{0x07, 0x03, 1, 2, 3, 4, 5, 6},
       ANY,
       1200,
       {false, RR::suppress_other_instance, 0}},
      {"cluster, our server ID under 0b111: an unroutable CID",
       AUTO,
       true,
       Bytes{0xe7, 0x03, 1, 2, 3, 4, 5, 6},
       ANY,
       1200,
       {false, RR::suppress_other_instance, 0}},
      {"cluster, our id in octet 0 only",
       AUTO,
       true,
       Bytes{0x03, 0x04, 0x03, 1, 2, 3, 4, 5},
       ANY,
       1200,
       {false, RR::suppress_other_instance, 0}},
      {"cluster, longer than the configuration's: the extra octets are the server's (§5.4)",
       AUTO,
       true,
       Bytes{0xa7, 0x03, 1, 2, 3, 4, 5, 6, 0xff, 0xff},
       SIP,
       1200,
       {true, RR::send_own_instance, 43}},
      {"cluster, length bits that do not match are not the balancer's concern",
       AUTO,
       true,
       Bytes{0xa0, 0x03, 1, 2, 3, 4, 5, 6},
       SIP,
       1200,
       {true, RR::send_own_instance, 43}},
      {"always, cluster, empty CID", ALWAYS, true, Bytes{}, NONE, 100, {true, RR::send_always, 43}},
      {"auto, no cluster, empty CID on any", AUTO, false, Bytes{}, ANY, 30, {true, RR::send_unrestricted_address, 29}},
  };
  for (const auto &r : rows) {
    CAPTURE(r.name);
    ResetGuard guard(config(r.mode, r.cluster));
    CHECK(guard.should_reset(r.cid, r.datagram_len, r.level, kSrc, 0) == r.want);
  }
}

TEST_CASE("reset guard: configured reset lengths") {
  struct Row {
    const char *name;
    std::size_t min_len;
    std::size_t max_len;
    std::size_t datagram_len;
    ResetDecision want;
  };
  const Row rows[] = {
      {"max 30: a 1200-octet trigger gets 30", 21, 30, 1200, {true, RR::send_always, 30}},
      {"max 30: a 25-octet trigger gets 24", 21, 30, 25, {true, RR::send_always, 24}},
      {"max 100: a 1200-octet trigger gets 100", 21, 100, 1200, {true, RR::send_always, 100}},
      {"max 100: never larger than the trigger", 21, 100, 60, {true, RR::send_always, 59}},
      {"min 25: a 25-octet trigger is too short", 25, 43, 25, {false, RR::suppress_too_short, 0}},
      {"min 25: a 26-octet trigger gets 25", 25, 43, 26, {true, RR::send_always, 25}},
      {"min 10 is clamped to 21: 21 octets still too short", 10, 43, 21, {false, RR::suppress_too_short, 0}},
      {"min 10 is clamped to 21: 22 octets get 21", 10, 43, 22, {true, RR::send_always, 21}},
      {"max 5 is clamped to the minimum 21", 21, 5, 1200, {true, RR::send_always, 21}},
  };
  for (const auto &r : rows) {
    CAPTURE(r.name);
    auto c = config(ALWAYS, false);
    c.min_reset_len = r.min_len;
    c.max_reset_len = r.max_len;
    ResetGuard guard(c);
    CHECK(guard.should_reset(kOwnCid, r.datagram_len, ANY, kSrc, 0) == r.want);
  }

  struct Rand {
    std::size_t reset_length;
    std::size_t rand_length;
  };
  for (const auto &r : {Rand{21, 5}, Rand{42, 26}, Rand{43, 27}}) {
    CAPTURE(r.reset_length);
    CHECK(ResetDecision{true, RR::send_always, r.reset_length}.rand_length() == r.rand_length);
  }
  CHECK(ResetDecision{false, RR::suppress_too_short, 0}.rand_length() == 0);
}

TEST_CASE("reset guard: rate limit, burst exhaustion then refill (10/s, burst 20)") {
  // Every configuration that would send, on its sending address.
  struct Sender {
    const char *name;
    ResetMode mode;
    bool cluster;
    Level level;
    ResetReason reason;
  };
  const Sender senders[] = {
      {"always", ALWAYS, false, NONE, RR::send_always},
      {"auto, cluster, own instance", AUTO, true, SIP, RR::send_own_instance},
      {"auto, no cluster, any address", AUTO, false, ANY, RR::send_unrestricted_address},
  };
  // A script against one guard: at `t_ms`, `n` datagrams of 1200 octets, of which `sent` are
  // answered (the first ones) and the rest rate limited.
  struct Step {
    const char *name;
    ngtcp2_tstamp t_ms;
    int n;
    int sent;
  };
  const Step script[] = {
      {"a full bucket: 20", 1000, 20, 20},
      {"empty", 1000, 1, 0},
      {"99 ms later: 0.99 of a token", 1099, 1, 0},
      {"100 ms later: one token", 1100, 1, 1},
      {"spent again", 1100, 1, 0},
      {"250 ms later: 2.5 tokens", 1350, 3, 2},
      {"the half token stays", 1400, 1, 1},
      {"a minute idle: refilled to the burst, not beyond", 61400, 25, 20},
      {"a clock that steps back refills nothing", 60000, 1, 0},
  };
  for (const auto &s : senders) {
    CAPTURE(s.name);
    ResetGuard guard(config(s.mode, s.cluster, RateLimit{10, 20}));
    std::uint64_t sent = 0, limited = 0;
    for (const auto &step : script) {
      CAPTURE(step.name);
      for (int i = 0; i < step.n; ++i) {
        CAPTURE(i);
        const auto d = guard.should_reset(kOwnCid, 1200, s.level, kSrc, step.t_ms * kMs);
        if (i < step.sent) {
          CHECK(d == ResetDecision{true, s.reason, 43});
          ++sent;
        } else {
          CHECK(d == ResetDecision{false, RR::suppress_rate_limited, 0});
          ++limited;
        }
      }
    }
    CHECK(guard.counters().of(s.reason) == sent);
    CHECK(guard.counters().of(RR::suppress_rate_limited) == limited);
    CHECK(sent == 44);
    CHECK(limited == 10);
  }
}

TEST_CASE("reset guard: only datagrams that would be answered take a token") {
  struct Row {
    const char *name;
    ResetMode mode;
    bool cluster;
    const Bytes *cid;
    Level level;
    std::size_t datagram_len;
    ResetReason reason;
  };
  const Row suppressed[] = {
      {"too short", ALWAYS, false, &kOwnCid, ANY, 21, RR::suppress_too_short},
      {"other instance", AUTO, true, &kOtherCid, ANY, 1200, RR::suppress_other_instance},
      {"restricted address", AUTO, false, &kOwnCid, NONE, 1200, RR::suppress_restricted_address},
      {"mode never", NEVER, false, &kOwnCid, ANY, 1200, RR::suppress_mode_never},
  };
  for (const auto &r : suppressed) {
    CAPTURE(r.name);
    ResetGuard guard(config(r.mode, r.cluster, RateLimit{10, 20}));
    for (int i = 0; i < 50; ++i) CHECK(guard.should_reset(*r.cid, r.datagram_len, r.level, kSrc, 0).reason == r.reason);
    CHECK(guard.counters().of(RR::suppress_rate_limited) == 0);
    if (r.mode == NEVER) continue;
    // The bucket is still full for datagrams that do get an answer (same instant).
    ResetGuard same(config(r.mode, r.cluster, RateLimit{10, 20}));
    for (int i = 0; i < 50; ++i) same.should_reset(*r.cid, r.datagram_len, r.level, kSrc, 0);
    int sent = 0;
    for (int i = 0; i < 25; ++i) sent += same.should_reset(kOwnCid, 1200, ANY, kSrc, 0).send ? 1 : 0;
    CHECK(sent == 20);
  }
}

TEST_CASE("reset guard: other rate limits") {
  struct Step {
    ngtcp2_tstamp t_ms;
    bool send;
  };
  struct Row {
    const char *name;
    std::optional<RateLimit> rate;
    std::vector<Step> steps;
  };
  const Row rows[] = {
      {"1/s, burst 1",
       RateLimit{1, 1},
       {{0, true}, {0, false}, {999, false}, {1000, true}, {1500, false}, {2000, true}}},
      {"no refill, burst 3", RateLimit{0, 3}, {{0, true}, {0, true}, {0, true}, {0, false}, {3'600'000, false}}},
      {"burst below 1 never sends", RateLimit{100, 0.5}, {{0, false}, {10'000, false}}},
      {"1000/s, burst 2",
       RateLimit{1000, 2},
       {{0, true}, {0, true}, {0, false}, {1, true}, {1, false}, {3, true}, {3, true}, {3, false}}},
      {"unlimited", std::nullopt, {{0, true}, {0, true}, {0, true}, {0, true}, {0, true}, {0, true}}},
  };
  for (const auto &r : rows) {
    CAPTURE(r.name);
    ResetGuard guard(config(ALWAYS, false, r.rate));
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
      CAPTURE(i);
      const auto d = guard.should_reset(kOwnCid, 1200, ANY, kSrc, r.steps[i].t_ms * kMs);
      CHECK(d.send == r.steps[i].send);
      if (!d.send) CHECK(d.reason == RR::suppress_rate_limited);
    }
  }
  ResetGuard unlimited(config(ALWAYS, false));
  int sent = 0;
  for (int i = 0; i < 1000; ++i) sent += unlimited.should_reset(kOwnCid, 1200, ANY, kSrc, 0).send ? 1 : 0;
  CHECK(sent == 1000);
}

TEST_CASE("reset guard: counters and observer") {
  ResetGuard guard(config(AUTO, true, RateLimit{10, 2}));
  std::vector<std::string> lines;
  std::vector<ResetEvent> events;
  std::vector<Bytes> dcids;
  guard.set_observer([&](const ResetEvent &e) {
    events.push_back(e);
    dcids.emplace_back(e.dcid.begin(), e.dcid.end());  // borrowed: copy during the call
    lines.push_back(describe(e));
  });
  struct Step {
    const Bytes *cid;
    std::size_t len;
    Level level;
    ResetReason reason;
  };
  const Bytes tiny = {0x07};
  const Step steps[] = {
      {&kOwnCid, 1200, NONE, RR::send_own_instance},    {&kOtherCid, 1200, ANY, RR::suppress_other_instance},
      {&kOwnCid, 30, SIP, RR::send_own_instance},       {&kOwnCid, 21, ANY, RR::suppress_too_short},
      {&kOwnCid, 1200, ANY, RR::suppress_rate_limited}, {&tiny, 1200, ANY, RR::suppress_other_instance},
  };
  for (const auto &s : steps) CHECK(guard.should_reset(*s.cid, s.len, s.level, kSrc, 7 * kMs).reason == s.reason);

  const ResetCounters &c = guard.counters();
  struct Count {
    ResetReason reason;
    std::uint64_t n;
  };
  for (const auto &want : {Count{RR::send_own_instance, 2}, Count{RR::send_unrestricted_address, 0},
                           Count{RR::send_always, 0}, Count{RR::suppress_mode_never, 0},
                           Count{RR::suppress_other_instance, 2}, Count{RR::suppress_restricted_address, 0},
                           Count{RR::suppress_too_short, 1}, Count{RR::suppress_rate_limited, 1}}) {
    CAPTURE(to_string(want.reason));
    CHECK(c.of(want.reason) == want.n);
  }
  CHECK(c.sent == 2);
  CHECK(c.suppressed == 4);
  CHECK(c.bytes_sent == 43 + 29);

  REQUIRE(events.size() == 6);  // every decision is reported, sent or not
  CHECK(dcids[0] == kOwnCid);
  CHECK(events[0].datagram_len == 1200);
  CHECK(events[0].level == NONE);
  CHECK(events[0].now == 7 * kMs);
  REQUIRE(events[0].cid_server_id.has_value());
  CHECK(events[0].cid_server_id->view()[0] == 3);
  REQUIRE(events[1].cid_server_id.has_value());
  CHECK(events[1].cid_server_id->view()[0] == 5);
  CHECK_FALSE(events[5].cid_server_id.has_value());
  CHECK(lines[0] ==
        "stateless reset sent (send-own-instance): dcid a703101112131415, 1200 bytes on a none "
        "address, server id 03, reset 43 bytes");
  CHECK(lines[1] ==
        "stateless reset suppressed (suppress-other-instance): dcid a705101112131415, 1200 bytes "
        "on an any address, server id 05");
  CHECK(lines[5] ==
        "stateless reset suppressed (suppress-other-instance): dcid 07, 1200 bytes on an any "
        "address");

  // Without cluster mode the CID has no server ID and none is reported.
  ResetGuard plain(config(AUTO, false));
  std::optional<ResetEvent> last;
  plain.set_observer([&](const ResetEvent &e) { last = e; });
  plain.should_reset(kOwnCid, 1200, SIP, kSrc, 0);
  REQUIRE(last.has_value());
  CHECK_FALSE(last->cid_server_id.has_value());
  CHECK(last->decision.reason == RR::suppress_restricted_address);
}

TEST_CASE("reset guard: cluster mode reads server IDs with the balancer's QUIC-LB decoder, also encrypted") {
  // Encrypted CIDs: the server ID is not visible in the CID, so only the decoder can tell ours
  // from another instance's. Single pass (server ID + nonce = 16) and four passes (1 + 6).
  const std::uint8_t key[] = {0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80,
                              0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66, 0x20, 0x7f};
  for (unsigned nonce_len : {6u, 15u}) {
    CAPTURE(nonce_len);
    ClusterConfig own = cluster_of(kOwnId, key, nonce_len);
    ResetGuardConfig c = config(AUTO, true);
    c.cluster = own;
    c.rate_limit = std::nullopt;
    ResetGuard guard(c);
    std::uint64_t seed = 1;
    auto fill = [&seed](std::span<std::uint8_t> out) {
      for (auto &b : out)
        b = static_cast<std::uint8_t>((seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
    };
    for (std::uint8_t id : {std::uint8_t{kOwnId}, std::uint8_t{5}, std::uint8_t{0}, std::uint8_t{255}}) {
      CAPTURE(unsigned{id});
      const std::uint8_t sid[] = {id};
      auto gen = QuicLbCidGenerator::create(own.codec, {sid, sid + 1}, fill);
      REQUIRE(gen);
      for (int i = 0; i < 64; ++i) {
        auto cid = gen->next();
        REQUIRE(cid);
        const bool ours = id == kOwnId;
        CHECK(guard.should_reset(*cid, 1200, NONE, kSrc, 0).reason ==
              (ours ? RR::send_own_instance : RR::suppress_other_instance));
      }
    }
    // The plaintext layout of our server ID means nothing under the key.
    std::vector<std::uint8_t> plain(own.codec.config().cid_len(), 0x11);
    plain[0] = 0xa0;
    plain[1] = kOwnId;
    CHECK(own.codec.server_id_of(plain) != own.server_id);
  }
}

TEST_CASE("reset guard: config checks") {
  struct Row {
    const char *name;
    ResetGuardConfig config;
    bool ok;
  };
  const auto with = [](auto change) {
    ResetGuardConfig c;
    change(c);
    return c;
  };
  const Row rows[] = {
      {"defaults", ResetGuardConfig{}, true},
      {"cluster, server ID 3", with([](auto &c) { c.cluster = cluster_of(3); }), true},
      {"cluster, server ID 255", with([](auto &c) { c.cluster = cluster_of(255); }), true},
      {"cluster, 2-octet server ID under a 1-octet configuration", with([](auto &c) {
         const std::uint8_t sid[] = {0, 3};
         c.cluster = ClusterConfig{cluster_of(0).codec, *make_quic_lb_server_id(sid)};
       }),
       false},
      {"min reset 20", with([](auto &c) { c.min_reset_len = 20; }), false},
      {"max below min", with([](auto &c) {
         c.min_reset_len = 30;
         c.max_reset_len = 29;
       }),
       false},
      {"min = max = 21", with([](auto &c) { c.max_reset_len = 21; }), true},
      {"negative rate", with([](auto &c) {
         c.rate_limit = RateLimit{-1, 20};
       }),
       false},
      {"burst 0", with([](auto &c) {
         c.rate_limit = RateLimit{10, 0};
       }),
       false},
      {"no refill", with([](auto &c) {
         c.rate_limit = RateLimit{0, 5};
       }),
       true},
      {"unlimited", with([](auto &c) { c.rate_limit.reset(); }), true},
      {"no per-prefix limit", with([](auto &c) { c.per_prefix.reset(); }), true},
      {"per-prefix without refill: entries would never free", with([](auto &c) {
         c.per_prefix->rate = RateLimit{0, 5};
       }),
       false},
      {"per-prefix burst 0", with([](auto &c) {
         c.per_prefix->rate = RateLimit{2, 0};
       }),
       false},
      {"IPv4 /0", with([](auto &c) { c.per_prefix->ipv4_prefix_len = 0; }), false},
      {"IPv4 /33", with([](auto &c) { c.per_prefix->ipv4_prefix_len = 33; }), false},
      {"IPv4 /32", with([](auto &c) { c.per_prefix->ipv4_prefix_len = 32; }), true},
      {"IPv6 /65: longer than a subnet", with([](auto &c) { c.per_prefix->ipv6_prefix_len = 65; }), false},
      {"IPv6 /64", with([](auto &c) { c.per_prefix->ipv6_prefix_len = 64; }), true},
      {"0 slots", with([](auto &c) { c.per_prefix->slots = 0; }), false},
      {"4097 slots", with([](auto &c) { c.per_prefix->slots = 4097; }), false},
  };
  for (const auto &r : rows) {
    CAPTURE(r.name);
    const auto err = config_error(r.config);
    CHECK(err.has_value() == !r.ok);
    if (err) CHECK_FALSE(err->empty());
  }
}

TEST_CASE("reset guard: modes and reasons by name") {
  struct Mode {
    const char *text;
    std::optional<ResetMode> mode;
  };
  const Mode modes[] = {
      {"auto", AUTO},         {"always", ALWAYS}, {"never", NEVER},        {"automatic", std::nullopt},
      {"AUTO", std::nullopt}, {"", std::nullopt}, {"auto ", std::nullopt},
  };
  for (const auto &m : modes) {
    CAPTURE(m.text);
    CHECK(parse_reset_mode(m.text) == m.mode);
    if (m.mode) CHECK(to_string(*m.mode) == m.text);
  }

  struct Name {
    ResetReason reason;
    const char *text;
  };
  const Name names[] = {
      {RR::send_own_instance, "send-own-instance"},
      {RR::send_unrestricted_address, "send-unrestricted-address"},
      {RR::send_always, "send-always"},
      {RR::suppress_mode_never, "suppress-mode-never"},
      {RR::suppress_other_instance, "suppress-other-instance"},
      {RR::suppress_restricted_address, "suppress-restricted-address"},
      {RR::suppress_too_short, "suppress-too-short"},
      {RR::suppress_rate_limited, "suppress-rate-limited"},
      {RR::suppress_prefix_rate_limited, "suppress-prefix-rate-limited"},
      {RR::suppress_prefix_table_full, "suppress-prefix-table-full"},
  };
  STATIC_REQUIRE(std::size(names) == kResetReasonCount);
  for (std::size_t i = 0; i < kResetReasonCount; ++i) {
    CAPTURE(names[i].text);
    CHECK(kAllResetReasons[i] == names[i].reason);
    CHECK(static_cast<std::size_t>(names[i].reason) == i);  // counters index by the enum
    CHECK(to_string(names[i].reason) == names[i].text);
  }
  CHECK(kMinStatelessResetLen == 21);
  CHECK(kMaxStatelessResetLen == 43);
}

// ---- per-source-prefix buckets (issue 10 item 7) ----

namespace {

Endpoint ep(const char *text) { return *Endpoint::parse(text); }

// auto, any address, the default limits (global 10/s burst 20; per prefix 2/s burst 5, 256 slots).
ResetGuardConfig prefix_config() {
  ResetGuardConfig c;
  c.per_prefix = PrefixLimit{};
  return c;
}

}  // namespace

TEST_CASE("reset guard: a flood from one prefix does not starve another") {
  ResetGuard guard(prefix_config());
  const Endpoint flooder = ep("198.51.100.7:4433");
  int flood_sent = 0;
  // 10,000 datagrams in one second from one address: its /24 gets its burst and its refill.
  for (int i = 0; i < 10'000; ++i) {
    const ngtcp2_tstamp t = static_cast<ngtcp2_tstamp>(i) * 100'000;  // 10 per ms
    flood_sent += guard.should_reset(kOwnCid, 1200, ANY, flooder, t).send ? 1 : 0;
  }
  CHECK(flood_sent == 5 + 1);  // burst 5, one more token after 500 ms (the next at 1000 ms)
  CHECK(guard.counters().of(RR::suppress_prefix_rate_limited) == 10'000 - 6);
  CHECK(guard.counters().of(RR::suppress_rate_limited) == 0);  // the global bucket was spared

  struct Row {
    const char *name;
    const char *source;
    bool send;
    ResetReason reason;
  };
  const Row rows[] = {
      {"same address: its prefix is spent", "198.51.100.7:4433", false, RR::suppress_prefix_rate_limited},
      {"same /24, other address and port", "198.51.100.200:9", false, RR::suppress_prefix_rate_limited},
      {"IPv4-mapped IPv6 of the same /24 is the same prefix", "[::ffff:198.51.100.9]:443", false,
       RR::suppress_prefix_rate_limited},
      {"neighbouring /24: its own bucket", "198.51.101.7:4433", true, RR::send_unrestricted_address},
      {"another network", "203.0.113.1:4433", true, RR::send_unrestricted_address},
      {"IPv6", "[2001:db8::1]:4433", true, RR::send_unrestricted_address},
  };
  for (const auto &r : rows) {
    CAPTURE(r.name);
    const auto d = guard.should_reset(kOwnCid, 1200, ANY, ep(r.source), 1'000'000'000 - 1);
    CHECK(d.send == r.send);
    CHECK(d.reason == r.reason);
  }
}

TEST_CASE("reset guard: prefix lengths group addresses (IPv4 /24, IPv6 /56)") {
  struct Row {
    const char *name;
    const char *first;
    const char *second;
    bool same_prefix;
  };
  const Row rows[] = {
      {"IPv4 same /24", "192.0.2.1:1", "192.0.2.254:2", true},
      {"IPv4 next /24", "192.0.2.1:1", "192.0.3.1:1", false},
      {"IPv6 same /64", "[2001:db8:0:1::1]:1", "[2001:db8:0:1::2]:1", true},
      {"IPv6 other /64 in the same /56", "[2001:db8:0:1::1]:1", "[2001:db8:0:ff::1]:1", true},
      {"IPv6 next /56", "[2001:db8:0:100::1]:1", "[2001:db8:0:200::1]:1", false},
      {"IPv4 and IPv6 never share", "192.0.2.1:1", "[::c000:201]:1", false},
  };
  for (const auto &r : rows) {
    CAPTURE(r.name);
    auto c = prefix_config();
    c.rate_limit.reset();
    c.per_prefix->rate = RateLimit{1, 1};
    ResetGuard guard(c);
    CHECK(guard.should_reset(kOwnCid, 1200, ANY, ep(r.first), 0).send);
    // The first spent its prefix's only token: the second gets one only from another prefix.
    CHECK(guard.should_reset(kOwnCid, 1200, ANY, ep(r.second), 0).send == !r.same_prefix);
  }
}

TEST_CASE("reset guard: the global bucket stays the outer bound") {
  // Many prefixes, one reset each: the per-prefix buckets all allow, the global one decides.
  ResetGuard guard(prefix_config());
  int sent = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string src = "10.0." + std::to_string(i) + ".1:4433";
    const auto d = guard.should_reset(kOwnCid, 1200, ANY, ep(src.c_str()), 0);
    sent += d.send ? 1 : 0;
    if (!d.send) CHECK(d.reason == RR::suppress_rate_limited);
  }
  CHECK(sent == 20);
  // A refusal by the global bucket does not spend the prefix's token, nor take a table slot.
  CHECK(guard.prefixes_in_use(0) == 20);
}

TEST_CASE("reset guard: prefix table full, and slots freed when their bucket is full again") {
  auto c = prefix_config();
  c.rate_limit.reset();  // no outer bound: the table can fill
  c.per_prefix->slots = 2;
  c.per_prefix->rate = RateLimit{2, 5};  // a slot is free 500 ms after its last reset
  ResetGuard guard(c);
  struct Step {
    const char *name;
    const char *source;
    ngtcp2_tstamp t_ms;
    bool send;
    ResetReason reason;
  };
  const Step steps[] = {
      {"prefix A takes slot 1", "192.0.2.1:1", 0, true, RR::send_unrestricted_address},
      {"prefix B takes slot 2", "198.51.100.1:1", 0, true, RR::send_unrestricted_address},
      {"prefix C: table full, refused (no eviction)", "203.0.113.1:1", 0, false, RR::suppress_prefix_table_full},
      {"prefix A still has its entry", "192.0.2.2:1", 100, true, RR::send_unrestricted_address},
      {"prefix C still refused at 499 ms", "203.0.113.1:1", 499, false, RR::suppress_prefix_table_full},
      {"B's bucket is full again at 500 ms: C takes its slot", "203.0.113.1:1", 500, true,
       RR::send_unrestricted_address},
      {"B comes back to a full table", "198.51.100.1:1", 501, false, RR::suppress_prefix_table_full},
      {"A's slot frees at 1000 ms (two resets); B gets a fresh bucket", "198.51.100.1:1", 1000, true,
       RR::send_unrestricted_address},
  };
  for (const auto &s : steps) {
    CAPTURE(s.name);
    const auto d = guard.should_reset(kOwnCid, 1200, ANY, ep(s.source), s.t_ms * kMs);
    CHECK(d.send == s.send);
    CHECK(d.reason == s.reason);
  }
  CHECK(guard.prefixes_in_use(1000 * kMs) == 1);  // B; C's bucket is full again at 1000 ms
  CHECK(guard.counters().of(RR::suppress_prefix_table_full) == 3);
}

TEST_CASE("reset guard: an empty source is one prefix of its own") {
  auto c = prefix_config();
  c.per_prefix->rate = RateLimit{1, 1};
  ResetGuard guard(c);
  CHECK(guard.should_reset(kOwnCid, 1200, ANY, Endpoint{}, 0).send);
  CHECK(guard.should_reset(kOwnCid, 1200, ANY, Endpoint{}, 0).reason == RR::suppress_prefix_rate_limited);
  CHECK(guard.should_reset(kOwnCid, 1200, ANY, ep("0.0.0.1:1"), 0).send);  // not the same as 0.0.0.0/24
}

TEST_CASE("reset guard: token bucket for other users (log budgets)") {
  TokenBucket b(RateLimit{1, 3});
  int taken = 0;
  for (int i = 0; i < 10; ++i) taken += b.try_take(0) ? 1 : 0;
  CHECK(taken == 3);
  CHECK_FALSE(b.try_take(999 * kMs));
  CHECK(b.try_take(1000 * kMs));
  TokenBucket once(RateLimit{0, 2});
  CHECK(once.try_take(0));
  CHECK(once.try_take(0));
  CHECK_FALSE(once.try_take(3'600'000 * kMs));
}

TEST_CASE("reset guard: a table of 16 slots (2 sets of 8) holds 16 prefixes, whatever the hash key") {
  for (std::uint64_t hash_key : {std::uint64_t{0}, std::uint64_t{0x0123456789abcdef}, ~std::uint64_t{0}}) {
    CAPTURE(hash_key);
    auto c = prefix_config();
    c.rate_limit.reset();
    c.per_prefix->slots = 16;
    c.per_prefix->hash_key = hash_key;
    ResetGuard guard(c);
    int sent = 0;
    for (int i = 0; i < 100; ++i) {
      const std::string src = "10.1." + std::to_string(i) + ".1:4433";
      const auto d = guard.should_reset(kOwnCid, 1200, ANY, ep(src.c_str()), 0);
      sent += d.send ? 1 : 0;
      if (!d.send) CHECK(d.reason == RR::suppress_prefix_table_full);
    }
    CHECK(sent == 16);  // both sets full, none evicted
    CHECK(guard.prefixes_in_use(0) == 16);
    // A prefix that has its entry keeps it: its second reset is not refused for a full table.
    int again = 0;
    for (int i = 0; i < 100; ++i) {
      const std::string src = "10.1." + std::to_string(i) + ".2:4433";
      const auto d = guard.should_reset(kOwnCid, 1200, ANY, ep(src.c_str()), 1);
      again += d.send ? 1 : 0;
    }
    CHECK(again == 16);
  }
}
