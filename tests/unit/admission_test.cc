// qamp/admission.h: the new-Initial admission table and the datagram classification.
#include <array>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "qamp/admission.h"

using namespace qamp;

TEST_CASE("admission: caps, tokens and Retry modes") {
  using A = AdmissionAction;
  using R = AdmissionReason;
  using T = TokenVerdict;
  struct Row {
    const char *name;
    RetryMode mode;
    std::size_t connections, half_open;
    T token;
    AdmissionDecision want;
  };
  // max_connections 10, max_half_open 5, retry_threshold 3.
  const std::vector<Row> rows = {
      {"idle server, retry off", RetryMode::off, 0, 0, T::none, {A::accept, R::accept_unvalidated}},
      {"retry off ignores the threshold", RetryMode::off, 4, 4, T::none, {A::accept, R::accept_unvalidated}},
      {"retry on: every unvalidated Initial (RFC 9000 §8.1.2)",
       RetryMode::on,
       0,
       0,
       T::none,
       {A::retry, R::retry_required}},
      {"retry on: a valid token is accepted", RetryMode::on, 0, 0, T::valid, {A::accept, R::accept_validated}},
      {"auto below the threshold", RetryMode::automatic, 2, 2, T::none, {A::accept, R::accept_unvalidated}},
      {"auto at the threshold", RetryMode::automatic, 3, 3, T::none, {A::retry, R::retry_above_threshold}},
      {"auto: established connections do not count",
       RetryMode::automatic,
       9,
       2,
       T::none,
       {A::accept, R::accept_unvalidated}},
      {"auto with a valid token", RetryMode::automatic, 3, 3, T::valid, {A::accept, R::accept_validated}},
      {"half-open cap", RetryMode::off, 5, 5, T::none, {A::refuse, R::refuse_max_half_open}},
      {"half-open cap binds a valid token too", RetryMode::on, 5, 5, T::valid, {A::refuse, R::refuse_max_half_open}},
      {"half-open cap before Retry (no Retry storm at the cap)",
       RetryMode::automatic,
       6,
       5,
       T::none,
       {A::refuse, R::refuse_max_half_open}},
      {"connection cap", RetryMode::off, 10, 0, T::none, {A::refuse, R::refuse_max_connections}},
      {"connection cap binds a valid token too",
       RetryMode::on,
       10,
       0,
       T::valid,
       {A::refuse, R::refuse_max_connections}},
      {"connection cap named before the half-open cap",
       RetryMode::off,
       10,
       5,
       T::none,
       {A::refuse, R::refuse_max_connections}},
      {"one under both caps", RetryMode::off, 9, 4, T::none, {A::accept, R::accept_unvalidated}},
      {"invalid Retry token: refused, not retried again",
       RetryMode::on,
       0,
       0,
       T::invalid,
       {A::refuse, R::refuse_invalid_token}},
      {"invalid Retry token with retry off", RetryMode::off, 0, 0, T::invalid, {A::refuse, R::refuse_invalid_token}},
  };
  for (auto &row : rows) {
    CAPTURE(row.name);
    AdmissionConfig c;
    c.retry = row.mode;
    c.max_connections = 10;
    c.max_half_open = 5;
    c.retry_threshold = 3;
    auto d = admit(c, {row.connections, row.half_open, row.token});
    CHECK(to_string(d.action) == to_string(row.want.action));
    CHECK(to_string(d.reason) == to_string(row.want.reason));
  }
  AdmissionConfig zero;
  zero.max_connections = 0;
  CHECK(admit(zero, {}).reason == R::refuse_max_connections);
}

TEST_CASE("admission: names round-trip") {
  for (auto m : {RetryMode::off, RetryMode::on, RetryMode::automatic}) CHECK(parse_retry_mode(to_string(m)) == m);
  CHECK(!parse_retry_mode("yes"));
  CHECK(!parse_retry_mode(""));
  std::set<std::string> names;
  for (int r = 0; r <= static_cast<int>(AdmissionReason::refuse_invalid_token); ++r)
    names.insert(std::string(to_string(static_cast<AdmissionReason>(r))));
  CHECK(names.size() == 7);
  CHECK(names.count("?") == 0);
}

namespace {

// A client Initial header (RFC 9000 §17.2.2) padded to `len`: v1, DCID 8, SCID 8, token 0.
std::vector<std::uint8_t> initial(std::size_t len, std::uint32_t version = 1) {
  std::vector<std::uint8_t> p = {
      0xc3, std::uint8_t(version >> 24), std::uint8_t(version >> 16), std::uint8_t(version >> 8), std::uint8_t(version),
      8};
  for (int i = 0; i < 8; ++i) p.push_back(0xd0 + i);
  p.push_back(8);
  for (int i = 0; i < 8; ++i) p.push_back(0x50 + i);
  p.push_back(0);  // token length
  std::size_t rest = len > p.size() + 2 ? len - p.size() - 2 : 0;
  p.push_back(std::uint8_t(0x40 | (rest >> 8)));
  p.push_back(std::uint8_t(rest));
  p.resize(len, 0);
  return p;
}

}  // namespace

TEST_CASE("classify_datagram: the dispatcher's pre-ngtcp2 table") {
  const std::array<std::uint8_t, 18> known_cid{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  auto is_known = [&](std::span<const std::uint8_t> d) {
    return d.size() == known_cid.size() && std::equal(d.begin(), d.end(), known_cid.begin());
  };
  auto short_hdr = [&](bool known) {
    std::vector<std::uint8_t> p{0x40};
    for (auto b : known_cid) p.push_back(known ? b : std::uint8_t(b ^ 0xff));
    p.resize(60, 0);
    return p;
  };
  auto truncated = initial(1200);
  truncated.resize(9);
  auto handshake_pkt = initial(1200);
  handshake_pkt[0] = 0xe3;  // long header type Handshake, unknown DCID
  struct Row {
    const char *name;
    std::vector<std::uint8_t> datagram;
    DatagramClass want;
  };
  const std::vector<Row> rows = {
      {"empty", {}, DatagramClass::drop_undecodable},
      {"one byte", {0xc0}, DatagramClass::drop_undecodable},
      {"client Initial of 1200 bytes", initial(1200), DatagramClass::new_initial},
      {"Initial under 1200 bytes (RFC 9000 §14.1)", initial(1000), DatagramClass::drop_unknown_long_header},
      {"unknown version: Version Negotiation (§6)", initial(1200, 0x1a2a3a4a), DatagramClass::version_negotiation},
      {"short header, known DCID", short_hdr(true), DatagramClass::known_connection},
      {"short header, unknown DCID: reset guard", short_hdr(false), DatagramClass::unknown_short_header},
      {"Handshake packet, unknown DCID", handshake_pkt, DatagramClass::drop_unknown_long_header},
      {"truncated long header", truncated, DatagramClass::drop_undecodable},
  };
  for (auto &row : rows) {
    CAPTURE(row.name);
    auto c = classify_datagram(row.datagram, 18, is_known);
    CHECK(to_string(c.kind) == to_string(row.want));
  }
}
