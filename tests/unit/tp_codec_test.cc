// Unit tests for qamp/tp_codec.h: the transport-parameter codec (DESIGN.md §3, RFC 9000 §16,
// §18). Byte vectors are hand-computed from the RFC and DESIGN.md; server blobs come from
// ngtcp2's own encoder, and ngtcp2's own decoder judges what a stock RFC 9000 peer accepts.
// One row per case, the rule or scenario named in the row.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "qamp/hex.h"
#include "qamp/tp_codec.h"

using namespace qamp;

namespace {

// ---- helpers ----

Bytes hex(std::string_view s) {
  Bytes out;
  int hi = -1;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '|') continue;
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      throw std::invalid_argument("bad hex digit in test vector");
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  if (hi >= 0) throw std::invalid_argument("odd number of hex digits in test vector");
  return out;
}

std::string str(const Policy &p) {
  return std::string(to_string(p.handshake)) + "/" + std::string(to_string(p.spa_v4)) + "/" +
         std::string(to_string(p.spa_v6));
}

RawParam P(std::uint64_t id, std::string_view value_hex) { return RawParam{id, hex(value_hex)}; }
RawParam P(std::uint64_t id, Bytes value) { return RawParam{id, std::move(value)}; }

const RawParam *find(const std::vector<RawParam> &ps, std::uint64_t id) {
  for (auto &p : ps)
    if (p.id == id) return &p;
  return nullptr;
}
// The returned pointer is into `ps`: a temporary list would leave it dangling.
const RawParam *find(std::vector<RawParam> &&ps, std::uint64_t id) = delete;

std::size_t count(const std::vector<RawParam> &ps, std::uint64_t id) {
  return static_cast<std::size_t>(std::count_if(ps.begin(), ps.end(), [id](const RawParam &p) { return p.id == id; }));
}

std::vector<RawParam> parsed(ByteView b) {
  auto r = parse_params(b);
  REQUIRE(r.ok());
  return *r;
}

template <class T>
void check_tp_error(const Result<T> &r, std::initializer_list<std::string_view> needles) {
  REQUIRE_FALSE(r.ok());
  const auto &e = r.error();
  CAPTURE(e.message());
  CHECK(e.code == 0x08);
  CHECK(e.code == kTransportParameterError);
  CHECK_FALSE(e.field.empty());
  CHECK_FALSE(e.reason.empty());
  CHECK(e.message() == e.field + ": " + e.reason);
  for (auto n : needles) {
    CAPTURE(n);
    CHECK(e.message().find(n) != std::string::npos);
  }
}

int ngtcp2_decode(ByteView b, ngtcp2_transport_params *out = nullptr) {
  ngtcp2_transport_params tmp;
  static const std::uint8_t empty = 0;
  return ngtcp2_transport_params_decode(out ? out : &tmp, b.empty() ? &empty : b.data(), b.size());
}

// ---- the server fixture: ngtcp2's own encoding of realistic server parameters ----

enum class Spa { both, v4_only, v6_only, absent };
constexpr Spa kAllSpa[] = {Spa::both, Spa::v4_only, Spa::v6_only, Spa::absent};
std::string_view to_string(Spa s) {
  switch (s) {
    case Spa::both: return "SPA IPv4+IPv6";
    case Spa::v4_only: return "SPA IPv4 only";
    case Spa::v6_only: return "SPA IPv6 only";
    case Spa::absent: return "no preferred address";
  }
  return "?";
}
bool has_v4(Spa s) { return s == Spa::both || s == Spa::v4_only; }
bool has_v6(Spa s) { return s == Spa::both || s == Spa::v6_only; }

constexpr std::array<std::uint8_t, 4> kV4 = {198, 18, 0, 10};
constexpr std::array<std::uint8_t, 16> kV6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
constexpr std::uint16_t kV4Port = 4433;
constexpr std::uint16_t kV6Port = 4434;

PreferredAddress fixture_pa(Spa spa, std::size_t cidlen = 8) {
  PreferredAddress pa;
  if (has_v4(spa)) {
    pa.ipv4 = kV4;
    pa.ipv4_port = kV4Port;
  }
  if (has_v6(spa)) {
    pa.ipv6 = kV6;
    pa.ipv6_port = kV6Port;
  }
  for (std::size_t i = 0; i < cidlen; ++i) pa.cid.push_back(static_cast<std::uint8_t>(0xc1 + i));
  for (std::size_t i = 0; i < kStatelessResetTokenLen; ++i)
    pa.stateless_reset_token[i] = static_cast<std::uint8_t>(0xb0 + i);
  return pa;
}

struct Fixture {
  Bytes blob;  // what ngtcp2_transport_params_encode produced
  std::optional<PreferredAddress> pa;
};

Fixture server_fixture(Spa spa, std::size_t cidlen = 8) {
  ngtcp2_transport_params p;
  ngtcp2_transport_params_default(&p);
  const std::uint8_t odcid[] = {1, 2, 3, 4, 5, 6, 7, 8};
  const std::uint8_t iscid[] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
  ngtcp2_cid_init(&p.original_dcid, odcid, sizeof odcid);
  p.original_dcid_present = 1;
  ngtcp2_cid_init(&p.initial_scid, iscid, sizeof iscid);
  p.initial_scid_present = 1;
  p.stateless_reset_token_present = 1;
  for (std::size_t i = 0; i < NGTCP2_STATELESS_RESET_TOKENLEN; ++i)
    p.stateless_reset_token[i] = static_cast<std::uint8_t>(0xa0 + i);
  p.initial_max_data = 1048576;
  p.initial_max_streams_bidi = 100;
  p.max_idle_timeout = 30 * NGTCP2_SECONDS;
  p.disable_active_migration = 0;  // the permissive view of DESIGN.md §4

  Fixture f;
  if (spa != Spa::absent) {
    const auto pa = fixture_pa(spa, cidlen);
    f.pa = pa;
    p.preferred_addr_present = 1;
    auto &npa = p.preferred_addr;
    ngtcp2_cid_init(&npa.cid, pa.cid.data(), pa.cid.size());
    if (has_v4(spa)) {
      npa.ipv4_present = 1;
      npa.ipv4.sin_family = AF_INET;
      npa.ipv4.sin_port = htons(kV4Port);
      std::memcpy(&npa.ipv4.sin_addr, kV4.data(), kV4.size());
    }
    if (has_v6(spa)) {
      npa.ipv6_present = 1;
      npa.ipv6.sin6_family = AF_INET6;
      npa.ipv6.sin6_port = htons(kV6Port);
      std::memcpy(&npa.ipv6.sin6_addr, kV6.data(), kV6.size());
    }
    std::memcpy(npa.stateless_reset_token, pa.stateless_reset_token.data(), kStatelessResetTokenLen);
  }
  const auto n = ngtcp2_transport_params_encode(nullptr, 0, &p);
  REQUIRE(n > 0);
  f.blob.resize(static_cast<std::size_t>(n));
  REQUIRE(ngtcp2_transport_params_encode(f.blob.data(), f.blob.size(), &p) == n);
  return f;
}

// Hand-computed pieces of the fixture (RFC 9000 §18, §18.2; varints §16).
constexpr std::string_view kOdcidTp = "00 08 0102030405060708";
constexpr std::string_view kSrtTp = "02 10 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
constexpr std::string_view kIscidTp = "0f 08 1112131415161718";
// initial_max_data 1048576 (4-byte varint), initial_max_streams_bidi 100 (2-byte), idle 30000 ms.
constexpr std::string_view kLimitsTp = "04 04 80100000 | 08 02 4064 | 01 04 80007530";
constexpr std::string_view kPaCidToken = "08 c1c2c3c4c5c6c7c8 | b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

std::string pa_v4_hex(Spa s) { return has_v4(s) ? "c612000a 1151" : "00000000 0000"; }
std::string pa_v6_hex(Spa s) {
  return has_v6(s) ? "20010db8000000000000000000000010 1152" : "00000000000000000000000000000000 0000";
}
// The 0x0d TP (id, length, value) in RFC 9000 form: 4+2+16+2+1+8+16 = 49 = 0x31 bytes.
std::string rfc_pa_tp(Spa s) {
  return "0d 31 | " + pa_v4_hex(s) + " | " + pa_v6_hex(s) + " | " + std::string(kPaCidToken);
}
// PR #3898 form: Disable Migration after the IPv6 Port, before the CID length: 50 = 0x32 bytes.
std::string pr_pa_tp(Spa s, std::string_view dm) {
  return "0d 32 | " + pa_v4_hex(s) + " | " + pa_v6_hex(s) + " | " + std::string(dm) + " | " + std::string(kPaCidToken);
}
// The whole ngtcp2 blob with the given 0x0d TP (empty: no preferred address), in ngtcp2's order.
std::string base_hex(const std::string &pa_tp) {
  return std::string(kOdcidTp) + " | " + std::string(kSrtTp) + " | " + pa_tp + " | " + std::string(kIscidTp) + " | " +
         std::string(kLimitsTp);
}
std::string rfc_base(Spa s) { return base_hex(s == Spa::absent ? "" : rfc_pa_tp(s)); }

// Just the 0x0d value (no id / length), for hand-built blobs.
Bytes pa_value_rfc() { return hex(rfc_pa_tp(Spa::both).substr(5)); }
Bytes pa_value_pr(std::string_view dm) { return hex(pr_pa_tp(Spa::both, dm).substr(5)); }

constexpr Level kAny = Level::any;
constexpr Level kNone = Level::none;
constexpr Level kSame = Level::same_ip;
constexpr auto kHs = ServerAddress::handshake;
constexpr auto kV4a = ServerAddress::spa_v4;
constexpr auto kV6a = ServerAddress::spa_v6;

constexpr SpellingSet kExt = 0x1, kDam = 0x2, kPr = 0x4;

void check_ngtcp2_pa(const ngtcp2_preferred_addr &n, const PreferredAddress &pa) {
  CHECK(n.cid.datalen == pa.cid.size());
  CHECK(std::equal(pa.cid.begin(), pa.cid.end(), n.cid.data));
  CHECK(std::memcmp(n.stateless_reset_token, pa.stateless_reset_token.data(), kStatelessResetTokenLen) == 0);
  CHECK(static_cast<bool>(n.ipv4_present) == pa.ipv4_present());
  CHECK(static_cast<bool>(n.ipv6_present) == pa.ipv6_present());
  if (pa.ipv4_present()) {
    CHECK(std::memcmp(&n.ipv4.sin_addr, pa.ipv4.data(), 4) == 0);
    CHECK(ntohs(n.ipv4.sin_port) == pa.ipv4_port);
  }
  if (pa.ipv6_present()) {
    CHECK(std::memcmp(&n.ipv6.sin6_addr, pa.ipv6.data(), 16) == 0);
    CHECK(ntohs(n.ipv6.sin6_port) == pa.ipv6_port);
  }
}

}  // namespace

// =============================================================================================
// Names
// =============================================================================================

TEST_CASE("Spelling: to_string / parse round trip; nullopt is rfc9000", "[tp][names]") {
  struct Row {
    std::string_view name;
    Spelling spelling;
    std::string_view text;
    SpellingSet bit;
  };
  static constexpr Row rows[] = {
      {"ext: TP 0x2d51, bit 0x1", Spelling::ext, "ext", 0x1},
      {"dam-values: policy byte in 0x0c, bit 0x2", Spelling::dam_values, "dam-values", 0x2},
      {"pr3898: Disable Migration in 0x0d, bit 0x4", Spelling::pr3898, "pr3898", 0x4},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(to_string(row.spelling) == row.text);
  CHECK(to_string(std::optional<Spelling>(row.spelling)) == row.text);
  REQUIRE(parse_spelling(row.text).has_value());
  CHECK(*parse_spelling(row.text) == row.spelling);
  CHECK(static_cast<SpellingSet>(row.spelling) == row.bit);
  CHECK(to_string(std::optional<Spelling>{}) == "rfc9000");
  CHECK_FALSE(parse_spelling("rfc9000").has_value());
  CHECK_FALSE(parse_spelling("dam_values").has_value());
  CHECK_FALSE(parse_spelling("").has_value());
}

TEST_CASE("parse_spelling_list: ordered, no duplicates, unknown names rejected", "[tp][names]") {
  struct Row {
    std::string_view name;
    std::string_view text;
    std::optional<std::vector<Spelling>> want;
  };
  const std::vector<Row> rows = {
      {"the default preference", "pr3898,ext,dam-values",
       std::vector{Spelling::pr3898, Spelling::ext, Spelling::dam_values}},
      {"order is kept", "dam-values,pr3898", std::vector{Spelling::dam_values, Spelling::pr3898}},
      {"one spelling", "ext", std::vector{Spelling::ext}},
      {"empty text: empty list (offer nothing, RFC 9000 only)", "", std::vector<Spelling>{}},
      {"duplicate rejected", "ext,ext", std::nullopt},
      {"duplicate later rejected", "ext,pr3898,ext", std::nullopt},
      {"unknown name rejected", "ext,quux", std::nullopt},
      {"rfc9000 is not a spelling", "rfc9000", std::nullopt},
      {"trailing comma rejected", "ext,", std::nullopt},
      {"leading comma rejected", ",ext", std::nullopt},
      {"spaces are not trimmed", "ext, pr3898", std::nullopt},
  };
  auto row = GENERATE_REF(from_range(rows));
  CAPTURE(row.name, row.text);
  auto got = parse_spelling_list(row.text);
  REQUIRE(got.has_value() == row.want.has_value());
  if (got) CHECK(*got == *row.want);
}

TEST_CASE("to_set / spellings_in", "[tp][names]") {
  CHECK(to_set(kDefaultSpellingPreference) == kAllSpellings);
  CHECK(to_set(std::vector<Spelling>{}) == 0);
  CHECK(to_set(std::vector{Spelling::pr3898, Spelling::ext}) == 0x5);
  CHECK(spellings_in(0) == std::vector<Spelling>{});
  CHECK(spellings_in(0x7) == std::vector{Spelling::ext, Spelling::dam_values, Spelling::pr3898});
  CHECK(spellings_in(0x6) == std::vector{Spelling::dam_values, Spelling::pr3898});
  CHECK(spellings_in(0x8 | 0x10 | 0x1) == std::vector{Spelling::ext});  // unknown bits dropped
  // ext first, pr3898 last (tp_codec.h says why: the interop suite's tshark evidence).
  CHECK(std::vector(kDefaultSpellingPreference.begin(), kDefaultSpellingPreference.end()) ==
        std::vector{Spelling::ext, Spelling::dam_values, Spelling::pr3898});
}

TEST_CASE("param_name: RFC 9000 §18.2 and qamp names", "[tp][names]") {
  struct Row {
    std::uint64_t id;
    std::string_view name;
  };
  static constexpr Row rows[] = {
      {0x00, "original_destination_connection_id"},
      {0x02, "stateless_reset_token"},
      {0x0c, "disable_active_migration"},
      {0x0d, "preferred_address"},
      {0x0f, "initial_source_connection_id"},
      {0x2d50, "migration_policy_support"},
      {0x2d51, "address_migration_policy"},
      {0x2d52, ""},
      {0x1234567, ""},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.id);
  CHECK(param_name(row.id) == row.name);
}

// =============================================================================================
// Varints (RFC 9000 §16, examples from Appendix A.1)
// =============================================================================================

TEST_CASE("varint::read: RFC 9000 examples and length prefixes", "[tp][varint]") {
  struct Row {
    std::string_view name;
    std::string_view bytes;
    std::uint64_t value;
    std::size_t length;
  };
  static constexpr Row rows[] = {
      {"A.1: 1-byte 0x25 = 37", "25", 37, 1},
      {"A.1: 2-byte 0x7bbd = 15293", "7bbd", 15293, 2},
      {"A.1: 4-byte 0x9d7f3e7d = 494878333", "9d7f3e7d", 494878333, 4},
      {"A.1: 8-byte 0xc2197c5eff14e88c = 151288809941952652", "c2197c5eff14e88c", 151288809941952652ull, 8},
      {"A.1: non-minimal 2-byte 0x4025 = 37", "4025", 37, 2},
      {"trailing bytes are not read", "25ff", 37, 1},
      {"trailing bytes after a 2-byte varint", "7bbd 00 00", 15293, 2},
      {"zero", "00", 0, 1},
      {"largest 1-byte", "3f", 63, 1},
      {"largest 8-byte (2^62-1)", "ffffffffffffffff", varint::kMax, 8},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  const auto b = hex(row.bytes);
  auto r = varint::read(b);
  REQUIRE(r.has_value());
  CHECK(r->value == row.value);
  CHECK(r->length == row.length);
}

TEST_CASE("varint::append: the shortest encoding", "[tp][varint]") {
  struct Row {
    std::string_view name;
    std::uint64_t value;
    std::string_view bytes;
  };
  static constexpr Row rows[] = {
      {"0 in 1 byte", 0, "00"},
      {"A.1: 37 in 1 byte", 37, "25"},
      {"63: last 1-byte value", 63, "3f"},
      {"64: first 2-byte value", 64, "4040"},
      {"A.1: 15293 in 2 bytes", 15293, "7bbd"},
      {"16383: last 2-byte value", 16383, "7fff"},
      {"16384: first 4-byte value", 16384, "80004000"},
      {"0x2d50 (qamp codepoint) in 2 bytes", 0x2d50, "6d50"},
      {"A.1: 494878333 in 4 bytes", 494878333, "9d7f3e7d"},
      {"2^30-1: last 4-byte value", (1ull << 30) - 1, "bfffffff"},
      {"2^30: first 8-byte value", 1ull << 30, "c000000040000000"},
      {"A.1: 151288809941952652 in 8 bytes", 151288809941952652ull, "c2197c5eff14e88c"},
      {"2^62-1: the maximum", varint::kMax, "ffffffffffffffff"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  Bytes out = {0xaa};  // appends, never overwrites
  varint::append(out, row.value);
  CHECK(to_hex(out) == "aa" + std::string(row.bytes));
  CHECK(varint::encoded_length(row.value) == row.bytes.size() / 2);
  auto r = varint::read(ByteView(out).subspan(1));
  REQUIRE(r.has_value());
  CHECK(r->value == row.value);
  CHECK(r->length == row.bytes.size() / 2);
}

TEST_CASE("varint::read: truncated input is nullopt", "[tp][varint]") {
  struct Row {
    std::string_view name;
    std::string_view bytes;
  };
  static constexpr Row rows[] = {
      {"empty", ""},
      {"2-byte prefix, 1 byte", "7b"},
      {"2-byte prefix 0x40 alone", "40"},
      {"4-byte prefix, 3 bytes", "9d7f3e"},
      {"4-byte prefix, 1 byte", "80"},
      {"8-byte prefix, 7 bytes", "c2197c5eff14e8"},
      {"8-byte prefix, 1 byte", "c0"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  const auto b = hex(row.bytes);
  CHECK_FALSE(varint::read(b).has_value());
}

// =============================================================================================
// Parameter lists
// =============================================================================================

TEST_CASE("parse_params: errors are TRANSPORT_PARAMETER_ERROR naming the parameter", "[tp][params]") {
  struct Row {
    std::string_view name;
    std::string_view blob;
    std::string_view field;
    std::string_view reason;
  };
  static constexpr Row rows[] = {
      {"truncated varint id (2-byte id, 1 byte)", "40", "varint", "truncated"},
      {"truncated varint id after a good parameter", "01 01 00 | 80 00", "varint", "truncated"},
      {"truncated 8-byte id", "c0 00 00", "varint", "id"},
      {"id without a length", "0d", "0x0d", "length"},
      {"truncated length varint", "0d 40", "0x0d", "truncated length"},
      {"truncated 4-byte length varint", "6d50 80 00", "0x2d50", "truncated length"},
      {"length past the end", "0d 05 0102", "0x0d", "past the end"},
      {"length past the end by one byte", "0c 01", "0x0c", "past the end"},
      {"huge length", "01 bfffffff 00", "0x01", "past the end"},
      {"duplicate 0x0c (RFC 9000 §7.4)", "0c 00 | 0c 00", "0x0c", "duplicate"},
      {"duplicate 0x2d50, not adjacent", "6d50 01 01 | 01 01 00 | 6d50 01 02", "0x2d50", "duplicate"},
      {"duplicate with different values", "0d 00 | 0d 01 00", "0x0d", "duplicate"},
      {"duplicate unknown id 0xabc", "4abc 00 | 4abc 00", "0xabc", "duplicate"},
      {"duplicate id spelled with different varint lengths", "0c 00 | 400c 00", "0x0c", "duplicate"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  const auto b = hex(row.blob);
  auto r = parse_params(b);
  check_tp_error(r, {row.field, row.reason});
  CHECK(r.error().field.find(row.field) == 0);
}

TEST_CASE("parse_params / serialize_params: wire order, values, round trip", "[tp][params]") {
  CHECK(parsed(Bytes{}).empty());
  const auto b = hex("0f 02 abcd | 4abc 00 | 6d50 01 07 | 00 01 ff");
  const auto ps = parsed(b);
  REQUIRE(ps.size() == 4);
  CHECK(ps[0] == P(0x0f, "abcd"));
  CHECK(ps[1] == P(0xabc, ""));
  CHECK(ps[2] == P(0x2d50, "07"));
  CHECK(ps[3] == P(0x00, "ff"));
  CHECK(serialize_params(ps) == b);
  // Non-minimal varints are legal on the wire (RFC 9000 §16) and re-serialise minimally.
  const auto nm = parsed(hex("400c 4000"));
  REQUIRE(nm.size() == 1);
  CHECK(nm[0] == P(0x0c, ""));
  CHECK(to_hex(serialize_params(nm)) == "0c00");

  auto spa = GENERATE(from_range(kAllSpa));
  CAPTURE(to_string(spa));
  const auto f = server_fixture(spa);
  CHECK(serialize_params(parsed(f.blob)) == f.blob);
}

// =============================================================================================
// The ngtcp2 fixture itself (so the exact-bytes vectors below rest on checked ground)
// =============================================================================================

TEST_CASE("fixture: ngtcp2 encodes the server parameters as hand-computed", "[tp][fixture]") {
  auto spa = GENERATE(from_range(kAllSpa));
  CAPTURE(to_string(spa));
  const auto f = server_fixture(spa);
  CHECK(to_hex(f.blob) == to_hex(hex(rfc_base(spa))));
  CHECK(f.pa.has_value() == (spa != Spa::absent));
  if (f.pa) {
    CHECK(f.pa->ipv4_present() == has_v4(spa));
    CHECK(f.pa->ipv6_present() == has_v6(spa));
  }
}

TEST_CASE("PreferredAddress: presence and printable addresses", "[tp][pa]") {
  const auto pa = fixture_pa(Spa::both);
  CHECK(pa.ipv4_string() == "198.18.0.10:4433");
  CHECK(pa.ipv6_string() == "[2001:db8::10]:4434");
  PreferredAddress only_port;
  CHECK_FALSE(only_port.ipv4_present());
  CHECK_FALSE(only_port.ipv6_present());
  only_port.ipv4_port = 1;  // RFC 9000 §18.2: absent only when address AND port are zero
  CHECK(only_port.ipv4_present());
  only_port.ipv6[15] = 1;
  CHECK(only_port.ipv6_present());
}

TEST_CASE("encode/decode_preferred_address: RFC 9000 and PR #3898 forms", "[tp][pa]") {
  const auto pa = fixture_pa(Spa::both);
  SECTION("RFC 9000 form") {
    const auto v = encode_preferred_address(pa);
    CHECK(to_hex(v) == to_hex(pa_value_rfc()));
    auto d = decode_preferred_address(v, false);
    REQUIRE(d.ok());
    CHECK(d->address == pa);
    CHECK_FALSE(d->disable_migration.has_value());
  }
  SECTION("PR #3898 form, every level") {
    struct Row {
      std::string_view name;
      Level level;
      std::string_view dm;
    };
    static constexpr Row rows[] = {
        {"0x0 permitted", Level::any, "00"},
        {"0x1 prohibited", Level::none, "01"},
        {"0x2 same-ip (qamp)", Level::same_ip, "02"},
    };
    for (const auto &row : rows) {
      CAPTURE(row.name);
      const auto v = encode_preferred_address(pa, row.level);
      CHECK(to_hex(v) == to_hex(pa_value_pr(row.dm)));
      CHECK(v.size() == 50);
      auto d = decode_preferred_address(v, true);
      REQUIRE(d.ok());
      CHECK(d->address == pa);
      REQUIRE(d->disable_migration.has_value());
      CHECK(*d->disable_migration == row.level);
    }
  }
  SECTION("CID lengths 1..20 round trip in both forms") {
    for (std::size_t n = 1; n <= kMaxCidLen; ++n) {
      CAPTURE(n);
      const auto p = fixture_pa(Spa::both, n);
      const auto v = encode_preferred_address(p);
      CHECK(v.size() == 24 + 1 + n + 16);
      auto d = decode_preferred_address(v, false);
      REQUIRE(d.ok());
      CHECK(d->address == p);
      const auto w = encode_preferred_address(p, Level::none);
      CHECK(w.size() == 24 + 1 + 1 + n + 16);
      auto e = decode_preferred_address(w, true);
      REQUIRE(e.ok());
      CHECK(e->address == p);
    }
  }
}

// =============================================================================================
// The policy byte (ext 0x2d51 and dam-values 0x0c): bits 0-1 handshake, 2-3 v4, 4-5 v6
// =============================================================================================

TEST_CASE("policy byte: bit layout", "[tp][policy-byte]") {
  struct Row {
    std::string_view name;
    Policy policy;
    std::uint8_t byte;
  };
  static constexpr Row rows[] = {
      {"all any", {kAny, kAny, kAny}, 0x00},
      {"handshake none: bits 0-1 = 01", {kNone, kAny, kAny}, 0x01},
      {"handshake same-ip: bits 0-1 = 10", {kSame, kAny, kAny}, 0x02},
      {"SPA v4 none: bits 2-3 = 01", {kAny, kNone, kAny}, 0x04},
      {"SPA v4 same-ip: bits 2-3 = 10", {kAny, kSame, kAny}, 0x08},
      {"SPA v6 none: bits 4-5 = 01", {kAny, kAny, kNone}, 0x10},
      {"SPA v6 same-ip: bits 4-5 = 10", {kAny, kAny, kSame}, 0x20},
      {"all none", {kNone, kNone, kNone}, 0x15},
      {"all same-ip", {kSame, kSame, kSame}, 0x2a},
      {"same-ip / none / any", {kSame, kNone, kAny}, 0x06},
      {"none / same-ip / same-ip", {kNone, kSame, kSame}, 0x29},
      {"any / none / same-ip", {kAny, kNone, kSame}, 0x24},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  CHECK(int(encode_policy_byte(row.policy)) == int(row.byte));
  auto d = decode_policy_byte(row.byte, "field");
  REQUIRE(d.ok());
  CHECK(*d == row.policy);
}

TEST_CASE("policy byte: all 27 policies round trip, bits 6-7 always zero", "[tp][policy-byte]") {
  for (const auto &p : all_policies()) {
    CAPTURE(str(p));
    const auto b = encode_policy_byte(p);
    CHECK((b & 0xc0) == 0);
    auto d = decode_policy_byte(b, "x");
    REQUIRE(d.ok());
    CHECK(*d == p);
  }
}

TEST_CASE("policy byte: reserved level 3 and reserved bits are errors naming the field", "[tp][policy-byte]") {
  struct Row {
    std::string_view name;
    std::uint8_t byte;
    std::string_view reason;
  };
  static constexpr Row rows[] = {
      {"handshake level 3", 0x03, "handshake"}, {"SPA IPv4 level 3", 0x0c, "IPv4"},
      {"SPA IPv6 level 3", 0x30, "IPv6"},       {"all level 3", 0x3f, "reserved"},
      {"bit 6 set", 0x40, "reserved bits"},     {"bit 7 set", 0x80, "reserved bits"},
      {"bits 6-7 set", 0xc0, "reserved bits"},  {"bit 6 beside a valid policy", 0x55, "reserved bits"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  auto d = decode_policy_byte(row.byte, "0x2d51 address_migration_policy");
  check_tp_error(d, {"0x2d51", row.reason});
  CHECK(d.error().field == "0x2d51 address_migration_policy");
}

// =============================================================================================
// Client: announcing support (0x2d50)
// =============================================================================================

namespace {

// A client blob from ngtcp2: initial_scid, initial_max_data 65536, idle 30000 ms.
Bytes client_blob() {
  ngtcp2_transport_params p;
  ngtcp2_transport_params_default(&p);
  const std::uint8_t iscid[] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
  ngtcp2_cid_init(&p.initial_scid, iscid, sizeof iscid);
  p.initial_scid_present = 1;
  p.initial_max_data = 65536;
  p.max_idle_timeout = 30 * NGTCP2_SECONDS;
  const auto n = ngtcp2_transport_params_encode(nullptr, 0, &p);
  REQUIRE(n > 0);
  Bytes b(static_cast<std::size_t>(n));
  REQUIRE(ngtcp2_transport_params_encode(b.data(), b.size(), &p) == n);
  return b;
}
constexpr std::string_view kClientHex = "0f 08 1112131415161718 | 04 04 80010000 | 01 04 80007530";

}  // namespace

TEST_CASE("add_policy_support: appends 0x2d50 (6d 50, length, varint bitmask)", "[tp][client]") {
  REQUIRE(to_hex(client_blob()) == to_hex(hex(kClientHex)));
  struct Row {
    std::string_view name;
    SpellingSet support;
    std::string_view tp;
  };
  static constexpr Row rows[] = {
      {"every spelling", 0x7, "6d50 01 07"},
      {"ext only", 0x1, "6d50 01 01"},
      {"dam-values only", 0x2, "6d50 01 02"},
      {"pr3898 only", 0x4, "6d50 01 04"},
      {"pr3898 + ext", 0x5, "6d50 01 05"},
      {"future bits travel as given (1-byte varint)", 0x3f, "6d50 01 3f"},
      {"a 2-byte varint bitmask: length 2", 0x47, "6d50 02 4047"},
      {"support 0 adds nothing: a legacy RFC 9000 client", 0x0, ""},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  auto r = add_policy_support(client_blob(), row.support);
  REQUIRE(r.ok());
  CHECK(to_hex(*r) == to_hex(hex(std::string(kClientHex) + std::string(row.tp))));
  // ngtcp2 ignores the unknown TP: the blob stays valid for a stock server.
  CHECK(ngtcp2_decode(*r) == 0);
  auto s = read_policy_support(*r);
  REQUIRE(s.ok());
  CHECK(*s == row.support);
}

TEST_CASE("add_policy_support: replaces an existing 0x2d50, 0 removes it", "[tp][client]") {
  struct Row {
    std::string_view name;
    std::string_view in;
    SpellingSet support;
    std::string_view out;
  };
  static constexpr Row rows[] = {
      {"replace in the middle: moved to the end, one copy", "0f 01 aa | 6d50 01 01 | 04 01 10", 0x4,
       "0f01aa 040110 6d5001 04"},
      {"replace at the end", "0f 01 aa | 6d50 01 07", 0x2, "0f01aa 6d5001 02"},
      {"replace a malformed (2-byte) value", "6d50 02 0100 | 0f 01 aa", 0x1, "0f01aa 6d5001 01"},
      {"support 0 removes it", "0f 01 aa | 6d50 01 07 | 04 01 10", 0x0, "0f01aa 040110"},
      {"support 0 without one: unchanged", "0f 01 aa | 04 01 10", 0x0, "0f01aa 040110"},
      {"empty blob gains just 0x2d50", "", 0x7, "6d50 01 07"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  auto r = add_policy_support(hex(row.in), row.support);
  REQUIRE(r.ok());
  CHECK(to_hex(*r) == to_hex(hex(row.out)));
  CHECK(count(parsed(*r), kTpMigrationPolicySupport) == (row.support ? 1u : 0u));
}

TEST_CASE("add_policy_support: a malformed client blob is an error", "[tp][client]") {
  check_tp_error(add_policy_support(hex("0f 05 aa"), 0x7), {"0x0f", "past the end"});
  check_tp_error(add_policy_support(hex("0c 00 0c 00"), 0x7), {"0x0c", "duplicate"});
  check_tp_error(add_policy_support(hex("40"), 0x7), {"varint"});
}

TEST_CASE("read_policy_support: absent is 0, value otherwise, wrong length is an error", "[tp][client]") {
  struct Row {
    std::string_view name;
    std::string_view blob;
    std::optional<SpellingSet> want;  // nullopt: TRANSPORT_PARAMETER_ERROR on 0x2d50
  };
  const std::vector<Row> rows = {
      {"absent: a legacy client announced nothing", kClientHex, SpellingSet{0}},
      {"empty blob", "", SpellingSet{0}},
      {"every spelling", "0f 01 aa | 6d50 01 07", SpellingSet{7}},
      {"explicit 0", "6d50 01 00", SpellingSet{0}},
      {"non-minimal 2-byte varint is still one varint (RFC 9000 §16)", "6d50 02 4004", SpellingSet{4}},
      {"unknown bits are not an error", "6d50 01 0f", SpellingSet{0x0f}},
      {"2 bytes where the varint takes 1", "6d50 02 0700", std::nullopt},
      {"empty value", "6d50 00", std::nullopt},
      {"truncated 2-byte varint", "6d50 01 40", std::nullopt},
      {"4 bytes where the varint takes 2", "6d50 04 40070000", std::nullopt},
  };
  auto row = GENERATE_REF(from_range(rows));
  CAPTURE(row.name);
  auto r = read_policy_support(hex(row.blob));
  if (row.want) {
    REQUIRE(r.ok());
    CHECK(*r == *row.want);
  } else {
    check_tp_error(r, {"0x2d50", "migration_policy_support"});
  }
}

TEST_CASE("decode_client_params: parameters in wire order, support bits", "[tp][client]") {
  auto d = decode_client_params(hex("0f 08 1112131415161718 | 6d50 01 05 | 04 04 80010000 | 4abc 00"));
  REQUIRE(d.ok());
  REQUIRE(d->params.size() == 4);
  CHECK(d->params[0].id == 0x0f);
  CHECK(d->params[0].length == 8);
  CHECK(d->params[1].id == 0x2d50);
  CHECK(d->params[1].length == 1);
  CHECK(d->params[2].id == 0x04);
  CHECK(d->params[2].length == 4);
  CHECK(d->params[3].id == 0xabc);
  CHECK(d->params[3].length == 0);
  CHECK(d->support == 0x5);
  CHECK(d->announced);

  auto legacy = decode_client_params(client_blob());
  REQUIRE(legacy.ok());
  CHECK(legacy->params.size() == 3);
  CHECK(legacy->support == 0);
  CHECK_FALSE(legacy->announced);

  auto zero = decode_client_params(hex("6d50 01 00"));
  REQUIRE(zero.ok());
  CHECK(zero->announced);  // present, even if it announces nothing
  CHECK(zero->support == 0);

  check_tp_error(decode_client_params(hex("6d50 02 0100")), {"0x2d50", "length"});
  check_tp_error(decode_client_params(hex("6d50 05 01")), {"0x2d50", "past the end"});
}

// =============================================================================================
// Server: encoding
// =============================================================================================

namespace {

struct Adj {
  ServerAddress address;
  Level wanted;
  Level expressed;
};

struct EncodeRow {
  std::string name;
  Spa spa;
  Policy policy;
  SpellingSet support;
  std::optional<Spelling> spelling;
  std::string wire;
  Policy expressed;
  std::vector<Adj> adjustments;
};

std::vector<EncodeRow> encode_rows() {
  const Policy p1{kSame, kNone, kAny};
  const Policy all_any{};
  const Policy nss{kNone, kSame, kSame};
  const Policy asn{kAny, kSame, kNone};
  const Policy nnn{kNone, kNone, kNone};
  const auto B = Spa::both;
  const auto pr = std::optional<Spelling>(Spelling::pr3898);
  const auto ext = std::optional<Spelling>(Spelling::ext);
  const auto dam = std::optional<Spelling>(Spelling::dam_values);
  const std::optional<Spelling> rfc;
  return {
      {"pr3898: DM after IPv6 port = stricter(none, any) = none; hs same-ip -> 0x0c, both reported",
       B,
       p1,
       kPr,
       pr,
       base_hex(pr_pa_tp(B, "01")) + "0c00 6d50 01 04",
       {kNone, kNone, kNone},
       {{kHs, kSame, kNone}, {kV6a, kAny, kNone}}},
      {"ext: 0x2d51 = 0x06 (hs same-ip 2, v4 none 1<<2) beside zero-length 0x0c",
       B,
       p1,
       kExt,
       ext,
       rfc_base(B) + "0c00 6d51 01 06 6d50 01 01",
       p1,
       {}},
      {"ext+dam announced: default preference picks ext",
       B,
       p1,
       kExt | kDam,
       ext,
       rfc_base(B) + "0c00 6d51 01 06 6d50 01 01",
       p1,
       {}},
      {"dam-values: 0x0c carries 1 byte, 0x06", B, p1, kDam, dam, rfc_base(B) + "0c 01 06 6d50 01 02", p1, {}},
      {"rfc9000 legacy: zero-length 0x0c, standard 0x0d, no qamp TPs; v4 none reported loosened",
       B,
       p1,
       0,
       rfc,
       rfc_base(B) + "0c00",
       {kNone, kAny, kAny},
       {{kHs, kSame, kNone}, {kV4a, kNone, kAny}}},
      {"pr3898 all any: DM 0, no 0x0c", B, all_any, kPr, pr, base_hex(pr_pa_tp(B, "00")) + "6d50 01 04", all_any, {}},
      {"ext all any: 0x2d51 = 00, no 0x0c", B, all_any, kExt, ext, rfc_base(B) + "6d51 01 00 6d50 01 01", all_any, {}},
      {"dam-values all any: no 0x0c at all", B, all_any, kDam, dam, rfc_base(B) + "6d50 01 02", all_any, {}},
      {"rfc9000 all any: ngtcp2's blob unchanged", B, all_any, 0, rfc, rfc_base(B), all_any, {}},
      {"pr3898 none/same-ip/same-ip: DM 2, nothing adjusted",
       B,
       nss,
       kPr,
       pr,
       base_hex(pr_pa_tp(B, "02")) + "0c00 6d50 01 04",
       nss,
       {}},
      {"ext none/same-ip/same-ip = 0x29", B, nss, kExt, ext, rfc_base(B) + "0c00 6d51 01 29 6d50 01 01", nss, {}},
      {"dam-values none/same-ip/same-ip = 0x29", B, nss, kDam, dam, rfc_base(B) + "0c 01 29 6d50 01 02", nss, {}},
      {"rfc9000 none/same-ip/same-ip: both SPA levels reported loosened",
       B,
       nss,
       0,
       rfc,
       rfc_base(B) + "0c00",
       {kNone, kAny, kAny},
       {{kV4a, kSame, kAny}, {kV6a, kSame, kAny}}},
      {"pr3898 hs same-ip, SPAs equal: only the handshake tightened",
       B,
       {kSame, kAny, kAny},
       kPr,
       pr,
       base_hex(pr_pa_tp(B, "00")) + "0c00 6d50 01 04",
       {kNone, kAny, kAny},
       {{kHs, kSame, kNone}}},
      {"pr3898 v4 any, v6 same-ip: v4 tightened to same-ip",
       B,
       {kAny, kAny, kSame},
       kPr,
       pr,
       base_hex(pr_pa_tp(B, "02")) + "6d50 01 04",
       {kAny, kSame, kSame},
       {{kV4a, kAny, kSame}}},
      {"pr3898 v4 same-ip, v6 none: v4 tightened to none",
       B,
       asn,
       kPr,
       pr,
       base_hex(pr_pa_tp(B, "01")) + "6d50 01 04",
       {kAny, kNone, kNone},
       {{kV4a, kSame, kNone}}},
      {"pr3898 IPv4-only SPA: DM from the v4 level alone",
       Spa::v4_only,
       asn,
       kPr,
       pr,
       base_hex(pr_pa_tp(Spa::v4_only, "02")) + "6d50 01 04",
       {kAny, kSame, kSame},
       {}},
      {"pr3898 IPv6-only SPA: DM from the v6 level alone",
       Spa::v6_only,
       asn,
       kPr,
       pr,
       base_hex(pr_pa_tp(Spa::v6_only, "01")) + "6d50 01 04",
       {kAny, kNone, kNone},
       {}},
      {"dam-values IPv4-only SPA: byte 0x18 (v4 same-ip, v6 none)",
       Spa::v4_only,
       asn,
       kDam,
       dam,
       rfc_base(Spa::v4_only) + "0c 01 18 6d50 01 02",
       asn,
       {}},
      {"ext IPv6-only SPA: byte 0x18",
       Spa::v6_only,
       asn,
       kExt,
       ext,
       rfc_base(Spa::v6_only) + "6d51 01 18 6d50 01 01",
       asn,
       {}},
      {"rfc9000 IPv4-only SPA: only the offered v4 address reported",
       Spa::v4_only,
       asn,
       0,
       rfc,
       rfc_base(Spa::v4_only),
       {kAny, kAny, kAny},
       {{kV4a, kSame, kAny}}},
      {"rfc9000 IPv6-only SPA: only the offered v6 address reported",
       Spa::v6_only,
       asn,
       0,
       rfc,
       rfc_base(Spa::v6_only),
       {kAny, kAny, kAny},
       {{kV6a, kNone, kAny}}},
      {"pr3898 without a preferred address: no 0x0d to carry SPA levels",
       Spa::absent,
       nnn,
       kPr,
       pr,
       rfc_base(Spa::absent) + "0c00 6d50 01 04",
       {kNone, kAny, kAny},
       {}},
      {"ext without a preferred address still carries all three (0x15)",
       Spa::absent,
       nnn,
       kExt,
       ext,
       rfc_base(Spa::absent) + "0c00 6d51 01 15 6d50 01 01",
       nnn,
       {}},
      {"dam-values without a preferred address (0x15)",
       Spa::absent,
       nnn,
       kDam,
       dam,
       rfc_base(Spa::absent) + "0c 01 15 6d50 01 02",
       nnn,
       {}},
      {"rfc9000 without a preferred address: 0x0c only, hs same-ip tightened",
       Spa::absent,
       {kSame, kNone, kNone},
       0,
       rfc,
       rfc_base(Spa::absent) + "0c00",
       {kNone, kAny, kAny},
       {{kHs, kSame, kNone}}},
      {"unknown future bit only: rfc9000",
       B,
       p1,
       0x8,
       rfc,
       rfc_base(B) + "0c00",
       {kNone, kAny, kAny},
       {{kHs, kSame, kNone}, {kV4a, kNone, kAny}}},
  };
}

}  // namespace

TEST_CASE("encode_server_params: exact bytes per spelling", "[tp][server][encode]") {
  auto row = GENERATE(from_range(encode_rows()));
  CAPTURE(row.name, to_string(row.spa), str(row.policy), row.support);
  const auto f = server_fixture(row.spa);
  auto r = encode_server_params(f.blob, row.policy, kDefaultSpellingPreference, row.support);
  REQUIRE(r.ok());
  CHECK(to_string(r->spelling) == to_string(row.spelling));
  CHECK(to_hex(r->wire) == to_hex(hex(row.wire)));
  CHECK(str(r->expressed) == str(row.expressed));
  REQUIRE(r->adjustments.size() == row.adjustments.size());
  for (std::size_t i = 0; i < row.adjustments.size(); ++i) {
    CAPTURE(i);
    const auto &got = r->adjustments[i];
    const auto &want = row.adjustments[i];
    CHECK(to_string(got.address) == to_string(want.address));
    CHECK(to_string(got.wanted) == to_string(want.wanted));
    CHECK(to_string(got.expressed) == to_string(want.expressed));
    CHECK_FALSE(got.reason.empty());
  }
  // And the client reads back exactly what the server says it expressed.
  auto d = decode_server_params(r->wire, row.support);
  REQUIRE(d.ok());
  CHECK(str(d->policy) == str(row.expressed));
}

TEST_CASE(
    "encode_server_params: spelling = first of the preference list the client announced; "
    "echo has exactly that bit",
    "[tp][server][encode]") {
  struct Row {
    std::string_view name;
    std::vector<Spelling> preference;
    SpellingSet support;
    std::optional<Spelling> want;
  };
  const std::vector<Spelling> def(kDefaultSpellingPreference.begin(), kDefaultSpellingPreference.end());
  const std::vector<Row> rows = {
      {"default, client parses all: ext", def, 0x7, Spelling::ext},
      {"default, client ext+dam: ext", def, 0x3, Spelling::ext},
      {"default, client dam only: dam-values", def, 0x2, Spelling::dam_values},
      {"default, client ext only: ext", def, 0x1, Spelling::ext},
      {"default, client pr3898+dam: dam-values", def, 0x6, Spelling::dam_values},
      {"default, client pr3898+ext: ext", def, 0x5, Spelling::ext},
      {"default, client pr3898 only", def, 0x4, Spelling::pr3898},
      {"nothing announced: rfc9000", def, 0x0, std::nullopt},
      {"only unknown future bits: rfc9000", def, 0x18, std::nullopt},
      {"unknown bit beside pr3898 ignored", def, 0x4 | 0x8, Spelling::pr3898},
      {"server prefers dam-values", {Spelling::dam_values, Spelling::ext, Spelling::pr3898}, 0x7, Spelling::dam_values},
      {"server prefers ext, client all", {Spelling::ext, Spelling::pr3898}, 0x7, Spelling::ext},
      {"second preference when the first is not announced",
       {Spelling::dam_values, Spelling::pr3898},
       0x5,
       Spelling::pr3898},
      {"server offers only what the client lacks: rfc9000", {Spelling::dam_values}, 0x5, std::nullopt},
      {"empty preference list: rfc9000", {}, 0x7, std::nullopt},
  };
  auto row = GENERATE_REF(from_range(rows));
  CAPTURE(row.name);
  const auto f = server_fixture(Spa::both);
  const Policy pol{kNone, kNone, kNone};
  auto r = encode_server_params(f.blob, pol, row.preference, row.support);
  REQUIRE(r.ok());
  CHECK(to_string(r->spelling) == to_string(row.want));
  const auto ps = parsed(r->wire);
  if (row.want) {
    REQUIRE(count(ps, kTpMigrationPolicySupport) == 1);
    const auto *echo = find(ps, kTpMigrationPolicySupport);
    auto v = varint::read(echo->value);
    REQUIRE(v.has_value());
    CHECK(v->length == echo->value.size());
    CHECK(v->value == static_cast<SpellingSet>(*row.want));
    CHECK(std::popcount(v->value) == 1);
    CHECK((v->value & row.support) == v->value);
    CHECK(count(ps, kTpAddressMigrationPolicy) == (*row.want == Spelling::ext ? 1u : 0u));
  } else {
    CHECK(count(ps, kTpMigrationPolicySupport) == 0);
    CHECK(count(ps, kTpAddressMigrationPolicy) == 0);
  }
}

TEST_CASE("encode_server_params: stale 0x0c / 0x2d50 / 0x2d51 in ngtcp2's blob are replaced", "[tp][server][encode]") {
  // As if ngtcp2 ran with disable_active_migration on and something had added qamp TPs.
  const auto in = hex("0f 01 aa | 0c 00 | 6d50 01 07 | 6d51 01 3f | 04 01 10");
  struct Row {
    std::string_view name;
    SpellingSet support;
    Policy policy;
    std::string_view out;
  };
  static constexpr Row rows[] = {
      {"ext all any: 0x0c dropped, fresh 0x2d51/0x2d50", kExt, {}, "0f01aa 040110 6d5101 00 6d5001 01"},
      {"dam-values none/any/any: one 1-byte 0x0c", kDam, {kNone, kAny, kAny}, "0f01aa 040110 0c0101 6d5001 02"},
      {"rfc9000 all any: stale 0x0c and qamp TPs removed", 0, {}, "0f01aa 040110"},
      {"rfc9000 none: exactly one zero-length 0x0c", 0, {kNone, kAny, kAny}, "0f01aa 040110 0c00"},
  };
  auto row = GENERATE(from_range(rows));
  CAPTURE(row.name);
  auto r = encode_server_params(in, row.policy, kDefaultSpellingPreference, row.support);
  REQUIRE(r.ok());
  CHECK(to_hex(r->wire) == to_hex(hex(row.out)));
}

TEST_CASE("encode_server_params: malformed input is an error, not a guess", "[tp][server][encode]") {
  const Policy pol{kNone, kNone, kNone};
  check_tp_error(encode_server_params(hex("0d 05 00"), pol, kDefaultSpellingPreference, 7), {"0x0d", "past the end"});
  Bytes zero_cid = hex("0d 29");  // 41 = 24 + 1 + 0 + 16
  const auto v = hex(pa_v4_hex(Spa::both) + pa_v6_hex(Spa::both) + "00 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
  REQUIRE(v.size() == 41);
  zero_cid.insert(zero_cid.end(), v.begin(), v.end());
  check_tp_error(encode_server_params(zero_cid, pol, kDefaultSpellingPreference, 7), {"0x0d", "zero-length"});
}

TEST_CASE("encode_server_params: never loosens silently (every policy x spelling x SPA set)", "[tp][server][encode]") {
  // For every address the client can reach (handshake, and each offered SPA family): if the
  // expressed level differs from the wanted one, exactly one adjustment says so; in a spelling it
  // is always stricter, for a legacy client a SPA level may be looser (the gate enforces it).
  auto spa = GENERATE(from_range(kAllSpa));
  auto support = GENERATE(kPr, kExt, kDam, SpellingSet{0});
  CAPTURE(to_string(spa), support);
  const auto f = server_fixture(spa);
  for (const auto &pol : all_policies()) {
    CAPTURE(str(pol));
    auto r = encode_server_params(f.blob, pol, kDefaultSpellingPreference, support);
    REQUIRE(r.ok());
    std::vector<ServerAddress> reachable = {kHs};
    if (has_v4(spa)) reachable.push_back(kV4a);
    if (has_v6(spa)) reachable.push_back(kV6a);
    for (auto a : {kHs, kV4a, kV6a}) {
      CAPTURE(to_string(a));
      const auto n = std::count_if(r->adjustments.begin(), r->adjustments.end(),
                                   [a](const Adjustment &x) { return x.address == a; });
      const bool is_reachable = std::find(reachable.begin(), reachable.end(), a) != reachable.end();
      if (!is_reachable) {
        CHECK(n == 0);  // nothing to say about an address the server does not offer
        continue;
      }
      const Level want = pol.at(a), got = r->expressed.at(a);
      if (want == got) {
        CHECK(n == 0);
        continue;
      }
      REQUIRE(n == 1);
      const auto &adj = *std::find_if(r->adjustments.begin(), r->adjustments.end(),
                                      [a](const Adjustment &x) { return x.address == a; });
      CHECK(adj.wanted == want);
      CHECK(adj.expressed == got);
      if (r->spelling || a == kHs)
        CHECK(strictness(got) > strictness(want));  // tightened
      else
        CHECK(got == Level::any);  // legacy client: SPA level cannot travel
    }
  }
}

// =============================================================================================
// Round trip: every policy in every spelling, through ngtcp2's own decoder too
// =============================================================================================

TEST_CASE("round trip: 27 policies x {pr3898, ext, dam-values, rfc9000} x SPA sets", "[tp][server][roundtrip]") {
  auto spa = GENERATE(from_range(kAllSpa));
  auto support = GENERATE(kPr, kExt, kDam, SpellingSet{0});
  CAPTURE(to_string(spa), support);
  const auto f = server_fixture(spa);
  for (const auto &pol : all_policies()) {
    CAPTURE(str(pol));
    auto enc = encode_server_params(f.blob, pol, kDefaultSpellingPreference, support);
    REQUIRE(enc.ok());
    const auto wire_params = parsed(enc->wire);
    auto dec = decode_server_params(enc->wire, support);
    REQUIRE(dec.ok());
    CAPTURE(to_string(enc->spelling), to_hex(enc->wire));

    CHECK(dec->policy == enc->expressed);
    CHECK(dec->spelling == enc->spelling);
    CHECK(dec->echoed == support);
    CHECK(dec->disable_active_migration == (find(wire_params, kTpDisableActiveMigration) != nullptr));
    CHECK(dec->params.size() == wire_params.size());

    // Expressed exactly whenever the spelling can say it.
    bool expressible = false;
    if (!enc->spelling) {
      expressible = pol.handshake != kSame && (!has_v4(spa) || pol.spa_v4 == kAny) &&
                    (!has_v6(spa) || pol.spa_v6 == kAny) && spa == Spa::both;
    } else if (*enc->spelling == Spelling::pr3898) {
      expressible = pol.handshake != kSame && pol.spa_v4 == pol.spa_v6 && spa == Spa::both;
    } else {
      expressible = true;  // ext and dam-values carry all three levels
    }
    if (expressible) {
      CHECK(enc->expressed == pol);
      CHECK(enc->adjustments.empty());
    }
    if (spa == Spa::both) {
      // With both SPA families offered, the converse holds too.
      CHECK((enc->expressed == pol) == expressible);
    }

    // The legacy (rfc9000) form: 0x0c iff handshake != any, standard 0x0d, no qamp TPs.
    if (!enc->spelling) {
      CHECK((find(wire_params, kTpDisableActiveMigration) != nullptr) == (pol.handshake != kAny));
      if (auto *dam = find(wire_params, kTpDisableActiveMigration)) CHECK(dam->value.empty());
      CHECK(find(wire_params, kTpMigrationPolicySupport) == nullptr);
      CHECK(find(wire_params, kTpAddressMigrationPolicy) == nullptr);
      if (auto *pa = find(wire_params, kTpPreferredAddress)) CHECK(pa->value.size() == 49);
      CHECK(enc->expressed.spa_v4 == kAny);
      CHECK(enc->expressed.spa_v6 == kAny);
    }

    // ngtcp2's view: the original ngtcp2 blob, byte for byte, accepted by ngtcp2 itself.
    CHECK(to_hex(dec->standard_view) == to_hex(f.blob));
    const auto view = parsed(dec->standard_view);
    CHECK(find(view, kTpDisableActiveMigration) == nullptr);
    CHECK(find(view, kTpMigrationPolicySupport) == nullptr);
    CHECK(find(view, kTpAddressMigrationPolicy) == nullptr);
    ngtcp2_transport_params np;
    REQUIRE(ngtcp2_decode(dec->standard_view, &np) == 0);
    CHECK(np.disable_active_migration == 0);
    CHECK(static_cast<bool>(np.preferred_addr_present) == f.pa.has_value());
    CHECK(dec->preferred_address.has_value() == f.pa.has_value());
    if (f.pa) {
      CHECK(*dec->preferred_address == *f.pa);
      check_ngtcp2_pa(np.preferred_addr, *f.pa);
    }
  }
}

// =============================================================================================
// Why negotiate: ngtcp2's own decoder on what the encoder emits
// =============================================================================================

TEST_CASE("ngtcp2 accepts the rfc9000 and ext forms and rejects pr3898 / dam-values", "[tp][server][ngtcp2]") {
  auto spa = GENERATE(from_range(kAllSpa));
  CAPTURE(to_string(spa));
  const auto f = server_fixture(spa);
  for (const auto &pol : all_policies()) {
    CAPTURE(str(pol));
    {
      INFO("rfc9000 form (a client that announced nothing): accepted");
      auto r = encode_server_params(f.blob, pol, kDefaultSpellingPreference, 0);
      REQUIRE(r.ok());
      ngtcp2_transport_params np;
      CHECK(ngtcp2_decode(r->wire, &np) == 0);
      CHECK(static_cast<bool>(np.disable_active_migration) == (pol.handshake != kAny));
      if (f.pa) check_ngtcp2_pa(np.preferred_addr, *f.pa);
    }
    {
      INFO("ext: unknown 0x2d50/0x2d51 ignored, standard 0x0c/0x0d: accepted");
      auto r = encode_server_params(f.blob, pol, kDefaultSpellingPreference, kExt);
      REQUIRE(r.ok());
      REQUIRE(r->spelling == Spelling::ext);
      ngtcp2_transport_params np;
      CHECK(ngtcp2_decode(r->wire, &np) == 0);
      CHECK(static_cast<bool>(np.disable_active_migration) == (pol.handshake != kAny));
      if (f.pa) check_ngtcp2_pa(np.preferred_addr, *f.pa);
    }
    {
      INFO("pr3898: the longer 0x0d is malformed for RFC 9000 (only when a 0x0d is sent)");
      auto r = encode_server_params(f.blob, pol, kDefaultSpellingPreference, kPr);
      REQUIRE(r.ok());
      REQUIRE(r->spelling == Spelling::pr3898);
      if (f.pa)
        CHECK(ngtcp2_decode(r->wire) == NGTCP2_ERR_MALFORMED_TRANSPORT_PARAM);
      else
        CHECK(ngtcp2_decode(r->wire) == 0);
    }
    {
      INFO("dam-values: a non-empty 0x0c is malformed for RFC 9000 (absent when all any)");
      auto r = encode_server_params(f.blob, pol, kDefaultSpellingPreference, kDam);
      REQUIRE(r.ok());
      REQUIRE(r->spelling == Spelling::dam_values);
      if (pol == Policy{})
        CHECK(ngtcp2_decode(r->wire) == 0);
      else
        CHECK(ngtcp2_decode(r->wire) == NGTCP2_ERR_MALFORMED_TRANSPORT_PARAM);
    }
  }
}

TEST_CASE("a 43-byte 0x0d parses both ways: why the client never guesses the form from its length",
          "[tp][server][ngtcp2]") {
  // A 1-byte CID in PR #3898 form with Disable Migration 2 is 43 bytes, the RFC 9000 length for
  // a 2-byte CID: ngtcp2 accepts it and reads the wrong CID.
  const auto f = server_fixture(Spa::both, 1);
  auto r = encode_server_params(f.blob, Policy{kAny, kSame, kSame}, kDefaultSpellingPreference, kPr);
  REQUIRE(r.ok());
  // The parameter list outlives `pa` (a pointer into a temporary list was a heap-use-after-free
  // that ASan found; the deleted find() overload above keeps it from coming back).
  const auto params = parsed(r->wire);
  const auto *pa = find(params, kTpPreferredAddress);
  REQUIRE(pa != nullptr);
  CHECK(pa->value.size() == 43);
  ngtcp2_transport_params np;
  REQUIRE(ngtcp2_decode(r->wire, &np) == 0);
  CHECK(np.preferred_addr.cid.datalen == 2);  // misread: the DM byte taken as the CID length
  auto as_rfc = decode_preferred_address(pa->value, false);
  REQUIRE(as_rfc.ok());
  CHECK(as_rfc->address.cid.size() == 2);
  CHECK_FALSE(as_rfc->address == *f.pa);
  // The echo tells the client which form it is.
  auto d = decode_server_params(r->wire, kAllSpellings);
  REQUIRE(d.ok());
  CHECK(d->spelling == Spelling::pr3898);
  CHECK(*d->preferred_address == *f.pa);
  CHECK(d->policy == Policy{kAny, kSame, kSame});
}

// =============================================================================================
// Client: decoding the server's parameters
// =============================================================================================

namespace {

RawParam dam(std::string_view v) { return P(kTpDisableActiveMigration, v); }
RawParam ext(std::string_view v) { return P(kTpAddressMigrationPolicy, v); }
RawParam echo(std::string_view v) { return P(kTpMigrationPolicySupport, v); }
RawParam pa_rfc() { return P(kTpPreferredAddress, pa_value_rfc()); }
RawParam pa_pr(std::string_view dm) { return P(kTpPreferredAddress, pa_value_pr(dm)); }
RawParam pa_raw(std::string_view v) { return P(kTpPreferredAddress, v); }

const std::string kV4V6 = "c612000a 1151 20010db8000000000000000000000010 1152";
const std::string kToken = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const std::string kCid21 = "15 c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5";

struct DecodeOkRow {
  std::string name;
  SpellingSet announced;
  std::vector<RawParam> params;
  std::optional<Spelling> spelling;
  Policy policy;
  bool dam;
  SpellingSet echoed;
};

std::vector<DecodeOkRow> decode_ok_rows() {
  const auto pr = std::optional<Spelling>(Spelling::pr3898);
  const auto ex = std::optional<Spelling>(Spelling::ext);
  const auto dv = std::optional<Spelling>(Spelling::dam_values);
  const std::optional<Spelling> rfc;
  return {
      {"no qamp TPs, no 0x0c: RFC 9000, all any", 7, {P(0x01, "01")}, rfc, {}, false, 0},
      {"zero-length 0x0c, no echo: handshake none", 7, {dam("")}, rfc, {kNone, kAny, kAny}, true, 0},
      {"0x0c + RFC 0x0d, no echo: SPA any after the move (§18.2)",
       7,
       {pa_rfc(), dam("")},
       rfc,
       {kNone, kAny, kAny},
       true,
       0},
      {"client announced nothing, RFC form", 0, {pa_rfc(), dam("")}, rfc, {kNone, kAny, kAny}, true, 0},
      {"pr3898: DM 2 + 0x0c", 7, {pa_pr("02"), dam(""), echo("04")}, pr, {kNone, kSame, kSame}, true, 4},
      {"pr3898: DM 1, no 0x0c", 7, {pa_pr("01"), echo("04")}, pr, {kAny, kNone, kNone}, false, 4},
      {"pr3898: DM 0", 4, {pa_pr("00"), echo("04")}, pr, {}, false, 4},
      {"pr3898 echoed without a 0x0d", 7, {dam(""), echo("04")}, pr, {kNone, kAny, kAny}, true, 4},
      {"pr3898 echo as a non-minimal 2-byte varint",
       7,
       {pa_pr("01"), echo("4004")},
       pr,
       {kAny, kNone, kNone},
       false,
       4},
      {"dam-values 0x29", 7, {pa_rfc(), dam("29"), echo("02")}, dv, {kNone, kSame, kSame}, true, 2},
      {"dam-values 0x24: any / none / same-ip", 2, {dam("24"), echo("02")}, dv, {kAny, kNone, kSame}, true, 2},
      {"dam-values byte 0x00: all any", 7, {dam("00"), echo("02")}, dv, {}, true, 2},
      {"dam-values without 0x0c: all any", 7, {pa_rfc(), echo("02")}, dv, {}, false, 2},
      {"ext 0x26 with 0x0c: same-ip / none / same-ip",
       7,
       {pa_rfc(), dam(""), ext("26"), echo("01")},
       ex,
       {kSame, kNone, kSame},
       true,
       1},
      {"ext 0x14 without 0x0c: any / none / none", 1, {ext("14"), echo("01")}, ex, {kAny, kNone, kNone}, false, 1},
      {"ext without echo: 0x2d51 describes itself", 7, {dam(""), ext("15")}, ex, {kNone, kNone, kNone}, true, 0},
      {"ext without echo though the client announced nothing", 0, {ext("20")}, ex, {kAny, kAny, kSame}, false, 0},
  };
}

struct DecodeErrRow {
  std::string name;
  SpellingSet announced;
  std::vector<RawParam> params;
  std::vector<std::string_view> needles;
};

std::vector<DecodeErrRow> decode_err_rows() {
  return {
      // 0x0c lengths
      {"0x0c of 1 byte in rfc9000 form (no echo)", 7, {dam("01")}, {"0x0c", "length"}},
      {"0x0c of 1 byte in pr3898 form", 7, {pa_pr("01"), dam("01"), echo("04")}, {"0x0c", "length"}},
      {"0x0c of 1 byte in ext form", 7, {dam("00"), ext("01"), echo("01")}, {"0x0c", "length"}},
      {"0x0c of 1 byte, ext self-described", 7, {dam("01"), ext("01")}, {"0x0c", "length"}},
      {"0x0c of 0 bytes in dam-values", 7, {dam(""), echo("02")}, {"0x0c", "length"}},
      {"0x0c of 2 bytes in dam-values", 7, {dam("0100"), echo("02")}, {"0x0c", "length"}},
      // 0x0d lengths per form
      {"0x0d of RFC length when pr3898 was echoed", 7, {pa_rfc(), echo("04")}, {"0x0d"}},
      {"0x0d of PR #3898 length in rfc9000 form", 7, {pa_pr("01")}, {"0x0d", "length"}},
      {"0x0d of PR #3898 length when ext was echoed", 7, {pa_pr("01"), ext("00"), echo("01")}, {"0x0d", "length"}},
      {"0x0d of PR #3898 length when dam-values was echoed", 7, {pa_pr("01"), echo("02")}, {"0x0d", "length"}},
      {"0x0d too short for a CID length (RFC form, 24 bytes)", 7, {pa_raw(kV4V6)}, {"0x0d", "length"}},
      {"0x0d too short for a CID length (PR form, 25 bytes)",
       7,
       {pa_raw(kV4V6 + "01"), echo("04")},
       {"0x0d", "length"}},
      {"0x0d one byte too long (RFC form)", 7, {pa_raw(kV4V6 + std::string(kPaCidToken) + "00")}, {"0x0d", "length"}},
      {"0x0d one byte short (PR form)",
       7,
       {pa_raw(kV4V6 + "01" + std::string(kPaCidToken).substr(0, std::string(kPaCidToken).size() - 2)), echo("04")},
       {"0x0d", "length"}},
      // 0x2d50 / 0x2d51 lengths
      {"0x2d50 of 2 bytes where the varint takes 1", 7, {echo("0400")}, {"0x2d50", "length"}},
      {"0x2d50 empty", 7, {echo("")}, {"0x2d50", "varint"}},
      {"0x2d50 truncated 2-byte varint", 7, {echo("40")}, {"0x2d50", "varint"}},
      {"0x2d51 of 2 bytes (ext echoed)", 7, {ext("0000"), echo("01")}, {"0x2d51", "length"}},
      {"0x2d51 empty (ext echoed)", 7, {ext(""), echo("01")}, {"0x2d51", "length"}},
      {"0x2d51 of 2 bytes without echo", 7, {ext("0000")}, {"0x2d51", "length"}},
      // reserved level 3
      {"level 3 in the dam-values byte: handshake", 7, {dam("03"), echo("02")}, {"0x0c", "reserved code 3"}},
      {"level 3 in the dam-values byte: SPA IPv4", 7, {dam("0c"), echo("02")}, {"0x0c", "IPv4"}},
      {"level 3 in the dam-values byte: SPA IPv6", 7, {dam("30"), echo("02")}, {"0x0c", "IPv6"}},
      {"level 3 in the ext byte: handshake", 7, {dam(""), ext("03"), echo("01")}, {"0x2d51", "reserved code 3"}},
      {"level 3 in the ext byte: SPA IPv4", 7, {ext("0c"), echo("01")}, {"0x2d51", "IPv4"}},
      {"level 3 in the ext byte: SPA IPv6", 7, {ext("30"), echo("01")}, {"0x2d51", "IPv6"}},
      {"level 3 in PR #3898 Disable Migration", 7, {pa_pr("03"), echo("04")}, {"0x0d", "reserved level 3"}},
      // reserved bits
      {"bit 6 of the dam-values byte", 7, {dam("40"), echo("02")}, {"0x0c", "reserved bits"}},
      {"bit 7 of the dam-values byte", 7, {dam("80"), echo("02")}, {"0x0c", "reserved bits"}},
      {"bit 6 of the ext byte", 7, {ext("40"), echo("01")}, {"0x2d51", "reserved bits"}},
      {"bit 7 of the ext byte", 7, {dam(""), ext("81"), echo("01")}, {"0x2d51", "reserved bits"}},
      {"bits 6-7 of the ext byte, no echo", 7, {ext("c0")}, {"0x2d51", "reserved bits"}},
      {"PR #3898 field 4", 7, {pa_pr("04"), echo("04")}, {"0x0d", "reserved bits", "0x04"}},
      {"PR #3898 field 0x10", 7, {pa_pr("10"), echo("04")}, {"0x0d", "reserved bits", "0x10"}},
      {"PR #3898 field 0xff", 7, {pa_pr("ff"), echo("04")}, {"0x0d", "reserved bits", "0xff"}},
      // the echo
      {"echo with no bit set", 7, {echo("00")}, {"0x2d50", "exactly one"}},
      {"echo with 2 bits (ext|dam-values)", 7, {echo("03")}, {"0x2d50", "exactly one"}},
      {"echo with 2 bits (pr3898|ext)", 7, {ext("00"), echo("05")}, {"0x2d50", "exactly one"}},
      {"echo with all 3 bits", 7, {echo("07")}, {"0x2d50", "exactly one"}},
      {"echo with an unknown bit 0x8", 7, {echo("08")}, {"0x2d50", "exactly one"}},
      {"echo with an unknown bit 0x40 (2-byte varint)", 7, {echo("4040")}, {"0x2d50", "exactly one"}},
      {"echo of pr3898, client announced ext+dam", 3, {pa_pr("01"), echo("04")}, {"0x2d50", "did not announce"}},
      {"echo of ext, client announced nothing", 0, {ext("00"), echo("01")}, {"0x2d50", "did not announce"}},
      {"echo of dam-values, client announced pr3898", 4, {dam("01"), echo("02")}, {"0x2d50", "did not announce"}},
      // 0x2d51 and the echo
      {"0x2d51 present when pr3898 was echoed", 7, {pa_pr("00"), ext("00"), echo("04")}, {"0x2d51", "pr3898"}},
      {"0x2d51 present when dam-values was echoed", 7, {dam("01"), ext("01"), echo("02")}, {"0x2d51", "dam-values"}},
      {"ext echoed without 0x2d51", 7, {echo("01")}, {"0x2d51", "missing"}},
      {"ext echoed without 0x2d51, with 0x0c", 7, {dam(""), echo("01")}, {"0x2d51", "missing"}},
      {"ext handshake none without 0x0c", 7, {ext("01"), echo("01")}, {"0x2d51", "disable_active_migration"}},
      {"ext handshake same-ip without 0x0c", 7, {ext("02"), echo("01")}, {"0x2d51", "disable_active_migration"}},
      {"ext handshake any with 0x0c", 7, {dam(""), ext("00"), echo("01")}, {"0x2d51", "disable_active_migration"}},
      {"ext handshake any with 0x0c, self-described", 7, {dam(""), ext("14")}, {"0x2d51", "disable_active_migration"}},
      // the CID in 0x0d
      {"zero-length CID, RFC form", 7, {pa_raw(kV4V6 + "00" + kToken)}, {"0x0d", "zero-length"}},
      {"zero-length CID, PR form", 7, {pa_raw(kV4V6 + "01 00" + kToken), echo("04")}, {"0x0d", "zero-length"}},
      {"21-byte CID, RFC form", 7, {pa_raw(kV4V6 + kCid21 + kToken)}, {"0x0d", "exceeds 20"}},
      {"21-byte CID, PR form", 7, {pa_raw(kV4V6 + "01" + kCid21 + kToken), echo("04")}, {"0x0d", "exceeds 20"}},
      // the list itself
      {"duplicate 0x0c", 7, {dam(""), dam("")}, {"0x0c", "duplicate"}},
      {"duplicate 0x2d50", 7, {echo("04"), echo("04")}, {"0x2d50", "duplicate"}},
  };
}

}  // namespace

TEST_CASE("decode_server_params: each spelling read back", "[tp][server][decode]") {
  auto row = GENERATE(from_range(decode_ok_rows()));
  CAPTURE(row.name);
  const auto wire = serialize_params(row.params);
  auto d = decode_server_params(wire, row.announced);
  REQUIRE(d.ok());
  CHECK(to_string(d->spelling) == to_string(row.spelling));
  CHECK(str(d->policy) == str(row.policy));
  CHECK(d->disable_active_migration == row.dam);
  CHECK(d->echoed == row.echoed);
  REQUIRE(d->params.size() == row.params.size());
  for (std::size_t i = 0; i < row.params.size(); ++i) {
    CHECK(d->params[i].id == row.params[i].id);
    CHECK(d->params[i].length == row.params[i].value.size());
  }
  const bool has_pa = find(row.params, kTpPreferredAddress) != nullptr;
  REQUIRE(d->preferred_address.has_value() == has_pa);
  if (has_pa) CHECK(*d->preferred_address == fixture_pa(Spa::both));
  // ngtcp2's view: no qamp parts, RFC 0x0d, and ngtcp2 takes it.
  const auto view = parsed(d->standard_view);
  CHECK(find(view, kTpDisableActiveMigration) == nullptr);
  CHECK(find(view, kTpMigrationPolicySupport) == nullptr);
  CHECK(find(view, kTpAddressMigrationPolicy) == nullptr);
  if (has_pa) CHECK(find(view, kTpPreferredAddress)->value == pa_value_rfc());
  CHECK(ngtcp2_decode(d->standard_view) == 0);
}

TEST_CASE("decode_server_params: malformed policy TPs are TRANSPORT_PARAMETER_ERROR naming the field",
          "[tp][server][decode]") {
  auto row = GENERATE(from_range(decode_err_rows()));
  CAPTURE(row.name);
  const auto wire = serialize_params(row.params);
  CAPTURE(to_hex(wire));
  auto d = decode_server_params(wire, row.announced);
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == 0x08);
  CHECK(d.error().field.find(row.needles.front()) == 0);  // the field names the parameter
  for (auto n : row.needles) {
    CAPTURE(n);
    CHECK(d.error().message().find(n) != std::string::npos);
  }
}

TEST_CASE("decode_server_params: a broken list is an error before anything else", "[tp][server][decode]") {
  check_tp_error(decode_server_params(hex("0d 40")), {"0x0d", "truncated"});
  check_tp_error(decode_server_params(hex("6d50 01 04 | 40")), {"varint"});
  check_tp_error(decode_server_params(hex("0c 03 00")), {"0x0c", "past the end"});
}

TEST_CASE("decode_server_params: unknown TPs are listed in wire order and kept for ngtcp2", "[tp][server][decode]") {
  const auto wire = hex("4abc 02 0102 | 0c 00 | 0f 01 aa | 6d51 01 05 | 6d50 01 01 | 7fff 00");
  auto d = decode_server_params(wire, kExt);
  REQUIRE(d.ok());
  REQUIRE(d->params.size() == 6);
  const std::uint64_t ids[] = {0xabc, 0x0c, 0x0f, 0x2d51, 0x2d50, 0x3fff};
  const std::size_t lens[] = {2, 0, 1, 1, 1, 0};
  for (std::size_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(d->params[i].id == ids[i]);
    CHECK(d->params[i].length == lens[i]);
  }
  CHECK(d->spelling == Spelling::ext);
  CHECK(d->policy == Policy{kNone, kNone, kAny});
  CHECK(to_hex(d->standard_view) ==
        "4abc020102"
        "0f01aa"
        "7fff00");
}
