// qamp/quic_lb.h: QUIC-LB connection IDs (draft-ietf-quic-load-balancers-21). The draft's test
// vectors (§A "Load Balancer Test Vectors" and the §5.4.2 worked example), each checked for its
// own consistency first, then round trips over every length split, the config limits, the
// balancer's routing verdicts and the nonce rules.
#include <catch2/catch_test_macros.hpp>

#include <set>
#include <string>
#include <vector>

#include "qamp/hex.h"
#include "qamp/quic_lb.h"

using namespace qamp;

namespace {

std::vector<std::uint8_t> hex(std::string_view text) { return from_hex(text, "test").value(); }

QuicLbCodec codec(unsigned cr, unsigned sid_len, unsigned nonce_len, std::string_view key_hex = {},
                  bool self_encode = true) {
  std::optional<std::vector<std::uint8_t>> key;
  if (!key_hex.empty()) key = hex(key_hex);
  auto config = make_quic_lb_config(cr, sid_len, nonce_len, self_encode,
                                    key ? std::optional<std::span<const std::uint8_t>>(*key) : std::nullopt);
  REQUIRE(config);
  return QuicLbCodec(*config);
}

// A deterministic "CSPRNG" for tests: a counter per byte.
RandomFill counting_fill(std::uint8_t start = 0) {
  return [next = start](std::span<std::uint8_t> out) mutable {
    for (auto &b : out) b = next++;
  };
}

constexpr std::string_view kVectorKey = "8f95f09245765f80256934e50c66207f";

}  // namespace

TEST_CASE("draft vectors: unencrypted CIDs") {
  // Row 0 is consistent: CR 0, length 7 = 3 + 4, server ID then nonce in the clear.
  auto c = codec(0, 3, 4);
  auto cid = c.encode(hex("c4605e"), hex("4504cc4f"));
  REQUIRE(cid);
  CHECK(to_hex(*cid) == "07c4605e4504cc4f");
  auto plain = c.decode(*cid);
  REQUIRE(plain);
  CHECK(to_hex(plain->server_id) == "c4605e");
  CHECK(to_hex(plain->nonce) == "4504cc4f");

  // Row 1 is malformed, so it cannot be a test of any encoder: "1 350d28b420 3487d970b
  // 20a350d28b4203487d970b". Its nonce has 9 hex digits (half an octet), and its CID's first
  // octet 0x20 claims config rotation 1 with a self-encoded length of 0 while 10 octets follow,
  // and the server ID does not start at the second octet.
  CHECK(std::string_view("3487d970b").size() % 2 == 1);
  auto row1 = hex("20a350d28b4203487d970b");
  CHECK((row1[0] >> 5) == 1);
  CHECK((row1[0] & 0x1f) == 0);
  CHECK(row1.size() - 1 == 10);
  CHECK(to_hex(std::span(row1).subspan(1, 5)) != "350d28b420");
}

TEST_CASE("draft vectors: encrypted CIDs (key 8f95f092...)") {
  struct Row {
    unsigned cr, sid_len, nonce_len;
    const char *sid, *nonce, *cid, *algorithm;
  };
  const Row rows[] = {
      {0, 3, 4, "ed793a", "ee080dbf", "0720b1d07b359d3c", "four-pass, odd length"},
      {1, 10, 5, "ed793a51d49b8f5fab65", "ee080dbf48", "2fcc381bc74cb4fbad2823a3d1f8fed2",
       "four-pass, server ID longer than the nonce (the balancer needs the 4th pass)"},
      {2, 8, 8, "ed793a51d49b8f5f", "ee080dbf48c0d1e5", "504dd2d05a7b0de9b2b9907afb5ecf8cc3",
       "single pass: server ID + nonce = 16"},
  };
  for (const auto &r : rows) {
    INFO(r.algorithm);
    auto expected = hex(r.cid);
    // The vector's own consistency: its first octet says its CR and its length.
    CHECK((expected[0] >> 5) == r.cr);
    CHECK((expected[0] & 0x1f) == r.sid_len + r.nonce_len);
    auto c = codec(r.cr, r.sid_len, r.nonce_len, kVectorKey);
    auto cid = c.encode(hex(r.sid), hex(r.nonce));
    REQUIRE(cid);
    CHECK(to_hex(*cid) == r.cid);
    auto plain = c.decode(expected);
    REQUIRE(plain);
    CHECK(to_hex(plain->server_id) == r.sid);
    CHECK(to_hex(plain->nonce) == r.nonce);
    std::vector<QuicLbCodec> configs{c};
    auto routing = route_cid(configs, expected);
    CHECK(routing.route == QuicLbRoute::routed);
    CHECK(to_hex(routing.server_id) == r.sid);
  }

  // Row 3 is mislabelled: "3 ed793a51d49b8f5fab ee080dbf48c0d1e55d 125779c9...". Its first
  // octet 0x12 is config rotation 0 (a CR 3 CID starts 0x72) with length 18 = 9 + 9. The body
  // is right: encoding with CR 0 gives exactly the published CID.
  auto row3 = hex("125779c9cc86beb3a3a4a3ca96fce4bfe0cdbc");
  CHECK((row3[0] >> 5) == 0);
  CHECK((row3[0] & 0x1f) == 18);
  auto c0 = codec(0, 9, 9, kVectorKey);
  auto cid = c0.encode(hex("ed793a51d49b8f5fab"), hex("ee080dbf48c0d1e55d"));
  REQUIRE(cid);
  CHECK(to_hex(*cid) == "125779c9cc86beb3a3a4a3ca96fce4bfe0cdbc");
  auto c3 = codec(3, 9, 9, kVectorKey);
  auto cid3 = c3.encode(hex("ed793a51d49b8f5fab"), hex("ee080dbf48c0d1e55d"));
  REQUIRE(cid3);
  CHECK(to_hex(*cid3) == "725779c9cc86beb3a3a4a3ca96fce4bfe0cdbc");
}

TEST_CASE("draft §5.4.2 worked example (odd length, key fdf726a9...)") {
  // The example's step 10 prints the AES output as b334357c... but XORs b3e4357c: the result
  // it then prints (0x67947d2c) is d4a04850 ^ b334357c, so "b3e4" is a typo and the CID stands.
  CHECK((0xd4a04850u ^ 0xb334357cu) == 0x67947d2cu);
  CHECK((0xd4a04850u ^ 0xb3e4357cu) != 0x67947d2cu);
  auto c = codec(0, 3, 4, "fdf726a9893ec05c0632d3956680baf0");
  auto cid = c.encode(hex("31441a"), hex("9c69c275"));
  REQUIRE(cid);
  CHECK(to_hex(*cid) == "0767947d29be054a");
  // The balancer's pseudocode clears the first bits of left_1 after computing right_1; it means
  // right_1 (the encoder's step 9 mirror). Decoding with the right reading recovers the input.
  auto plain = c.decode(*cid);
  REQUIRE(plain);
  CHECK(to_hex(plain->server_id) == "31441a");
  CHECK(to_hex(plain->nonce) == "9c69c275");
}

TEST_CASE("round trips: every server ID / nonce split, keyed and not, both first-octet modes") {
  auto fill = counting_fill(0x5a);
  unsigned splits = 0;
  for (unsigned sid_len = 1; sid_len <= 15; ++sid_len) {
    for (unsigned nonce_len = 4; nonce_len <= 18 && sid_len + nonce_len <= 19; ++nonce_len) {
      for (bool keyed : {false, true}) {
        for (bool self_encode : {true, false}) {
          CAPTURE(sid_len, nonce_len, keyed, self_encode);
          auto c = codec(5, sid_len, nonce_len, keyed ? kVectorKey : "", self_encode);
          ++splits;
          std::vector<std::uint8_t> sid(sid_len), nonce(nonce_len);
          fill(sid);
          fill(nonce);
          auto cid = c.encode(sid, nonce, 0x1b);
          REQUIRE(cid);
          REQUIRE(cid->size() == 1 + sid_len + nonce_len);
          CHECK((cid->front() >> 5) == 5);
          CHECK((cid->front() & 0x1f) == (self_encode ? sid_len + nonce_len : 0x1b));
          if (keyed) {
            // Encrypted: the server ID is not visible at the second octet.
            CHECK(!std::equal(sid.begin(), sid.end(), cid->begin() + 1));
          } else {
            CHECK(std::equal(sid.begin(), sid.end(), cid->begin() + 1));
          }
          auto plain = c.decode(*cid);
          REQUIRE(plain);
          CHECK(plain->server_id == sid);
          CHECK(plain->nonce == nonce);
          // Octets past the configuration's length are the server's own and ignored (§5.4).
          auto longer = *cid;
          longer.push_back(0xee);
          CHECK(c.decode(longer).value() == *plain);
        }
      }
    }
  }
  CHECK(splits == 120 * 4);  // 120 length splits (sid 1..15, nonce 4..18, sum <= 19) x 4 modes
}

TEST_CASE("config limits: every error names its parameter") {
  struct Row {
    unsigned cr, sid_len, nonce_len;
    std::size_t key_len;
    const char *field;
  };
  const Row rows[] = {
      {7, 3, 4, 0, "config_rotation"},  // 0b111 is reserved
      {8, 3, 4, 0, "config_rotation"}, {0, 0, 4, 0, "server_id_len"}, {0, 16, 4, 0, "server_id_len"},
      {0, 3, 3, 0, "nonce_len"},       {0, 1, 19, 0, "nonce_len"},    {0, 15, 5, 0, "server_id_len"},  // 20 > 19
      {0, 10, 10, 0, "server_id_len"}, {0, 3, 4, 15, "key"},          {0, 3, 4, 17, "key"},
  };
  for (const auto &r : rows) {
    CAPTURE(r.cr, r.sid_len, r.nonce_len, r.key_len);
    std::vector<std::uint8_t> key(r.key_len);
    auto config = make_quic_lb_config(r.cr, r.sid_len, r.nonce_len, true,
                                      r.key_len ? std::optional<std::span<const std::uint8_t>>(key) : std::nullopt);
    REQUIRE_FALSE(config);
    CHECK(config.error().field == r.field);
  }
  CHECK(make_quic_lb_config(6, 15, 4, true, std::nullopt));
  CHECK(make_quic_lb_config(0, 1, 18, false, std::nullopt));

  auto c = codec(0, 3, 4);
  CHECK(c.encode(hex("0102"), hex("01020304")).error().field == "server_id");
  CHECK(c.encode(hex("010203"), hex("010203")).error().field == "nonce");
}

TEST_CASE("route_cid: the balancer's verdicts") {
  std::vector<QuicLbCodec> configs{codec(0, 3, 4), codec(2, 8, 8, kVectorKey)};
  auto routed = route_cid(configs, hex("07c4605e4504cc4f"));
  CHECK(routed.route == QuicLbRoute::routed);
  CHECK(to_hex(routed.server_id) == "c4605e");
  CHECK(to_string(route_cid(configs, hex("504dd2d05a7b0de9b2b9907afb5ecf8cc3")).route) == std::string("routed"));

  CHECK(route_cid(configs, hex("e7c4605e4504cc4f")).route == QuicLbRoute::unroutable);  // CR 0b111
  auto unknown = route_cid(configs, hex("27c4605e4504cc4f"));                           // CR 1
  CHECK(unknown.route == QuicLbRoute::no_config);
  CHECK(unknown.config_rotation == 1);
  CHECK(route_cid(configs, hex("07c4605e4504cc")).route == QuicLbRoute::too_short);
  CHECK(route_cid(configs, {}).route == QuicLbRoute::too_short);
  CHECK(route_cid({}, hex("07c4605e4504cc4f")).route == QuicLbRoute::no_config);
}

TEST_CASE("nonces: a counter from a random start with a key, fresh random bytes without") {
  // Keyed, 4-octet nonce: the counter starts at the random value 00 01 02 03 and counts up.
  auto keyed = QuicLbCidGenerator::create(codec(0, 3, 4, kVectorKey), hex("ed793a"), counting_fill());
  REQUIRE(keyed);
  auto first = keyed->next();
  auto second = keyed->next();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(to_hex(keyed->codec().decode(*first)->nonce) == "00010203");
  CHECK(to_hex(keyed->codec().decode(*second)->nonce) == "00010204");
  CHECK(keyed->issued() == 2);

  // Unkeyed: no counter an observer could follow; every nonce comes from the random source.
  auto plain = QuicLbCidGenerator::create(codec(0, 3, 4), hex("c4605e"), counting_fill(0x10));
  REQUIRE(plain);
  CHECK(to_hex(*plain->next()) == "07c4605e10111213");
  CHECK(to_hex(*plain->next()) == "07c4605e14151617");

  // Without self-encoding the first octet's low bits are random too.
  auto random_first = QuicLbCidGenerator::create(codec(1, 3, 4, "", false), hex("c4605e"), counting_fill(0x1f));
  REQUIRE(random_first);
  CHECK(to_hex(*random_first->next()) == "3fc4605e20212223");

  CHECK(QuicLbCidGenerator::create(codec(0, 3, 4), hex("c460"), counting_fill()).error().field == "server_id");
}

TEST_CASE("nonces: the counter wraps through zero without repeating") {
  // A 4-octet counter starting at ff ff ff fe: 2^32 values, wrapping through zero. Check the
  // wrap and the distinctness over a window (2^32 CIDs to exhaustion is too many for a test).
  auto gen = QuicLbCidGenerator::create(codec(0, 1, 4, kVectorKey), hex("2a"), [](std::span<std::uint8_t> out) {
    std::fill(out.begin(), out.end(), std::uint8_t{0xff});
    out.back() = 0xfe;
  });
  REQUIRE(gen);
  std::set<std::string> nonces;
  for (int i = 0; i < 4; ++i) nonces.insert(to_hex(gen->codec().decode(*gen->next())->nonce));
  CHECK(nonces == std::set<std::string>{"fffffffe", "ffffffff", "00000000", "00000001"});
}

TEST_CASE("a server without a configuration (§3.2)") {
  CHECK(kServerWithoutConfig.self_encode_length);
  CHECK(kServerWithoutConfig.send_disable_active_migration);
  CHECK_FALSE(kServerWithoutConfig.send_new_connection_ids);
  auto cid = unroutable_cid(8, counting_fill(1));
  REQUIRE(cid);
  CHECK(to_hex(*cid) == "e701020304050607");  // 0b111, length 7, then random
  std::vector<QuicLbCodec> configs{codec(0, 3, 4)};
  CHECK(route_cid(configs, *cid).route == QuicLbRoute::unroutable);
  CHECK(unroutable_cid(20, counting_fill())->front() == 0xf3);
  CHECK(unroutable_cid(7, counting_fill()).error().field == "len");
  CHECK(unroutable_cid(21, counting_fill()).error().field == "len");
}
