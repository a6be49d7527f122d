// Recognising a Stateless Reset on the client: one row per case (RFC 9000 §10.3).
#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <vector>

#include "qamp/reset_recognizer.h"

using namespace qamp;

namespace {

using RR = ResetRecognition;

ResetToken token(std::uint8_t fill) {
  ResetToken t;
  t.fill(fill);
  return t;
}

// `len` octets: a short-header first octet (0x40, or 0xc0 for a long header), filler, and
// `tail` as the last 16 octets.
std::vector<std::uint8_t> datagram(std::size_t len, const ResetToken &tail, bool long_header = false) {
  std::vector<std::uint8_t> d(len, 0x5a);
  if (!d.empty()) d[0] = long_header ? 0xc0 : 0x40;
  if (len >= tail.size()) std::copy(tail.begin(), tail.end(), d.end() - static_cast<std::ptrdiff_t>(tail.size()));
  return d;
}

const ResetToken kIssued = token(0x11);
const ResetToken kOther = token(0x22);
ResetToken one_bit_off() {
  auto t = kIssued;
  t[15] ^= 0x01;
  return t;
}

struct Row {
  const char *name;
  std::vector<std::uint8_t> datagram;
  std::vector<ResetToken> tokens;
  RR want;
};

}  // namespace

TEST_CASE("recognize_stateless_reset: §10.3 rules") {
  const Row rows[] = {
      {"empty datagram: too short", {}, {kIssued}, RR::too_short},
      {"20 octets ending in the token: one short of the minimum", datagram(20, kIssued), {kIssued}, RR::too_short},
      {"21 octets (5 random + token), exact minimum, token at the tail", datagram(21, kIssued), {kIssued}, RR::reset},
      {"1200 octets, token at the tail", datagram(1200, kIssued), {kIssued}, RR::reset},
      {"token matches the second issued token", datagram(43, kIssued), {kOther, kIssued}, RR::reset},
      {"tail is another token", datagram(43, kOther), {kIssued}, RR::no_token_match},
      {"tail differs in the last bit", datagram(43, one_bit_off()), {kIssued}, RR::no_token_match},
      {"no tokens issued", datagram(43, kIssued), {}, RR::no_token_match},
      {"token not at the tail (one octet earlier)",
       [] {
         auto d = datagram(43, kIssued);
         d.push_back(0x00);
         return d;
       }(),
       {kIssued},
       RR::no_token_match},
      {"long header ending in the token: never a reset", datagram(43, kIssued, true), {kIssued}, RR::long_header},
      {"long header, too short as well: the header bit decides",
       datagram(10, kIssued, true),
       {kIssued},
       RR::long_header},
  };
  for (const auto &row : rows) {
    INFO(row.name);
    CHECK(recognize_stateless_reset(row.datagram, row.tokens) == row.want);
  }
}

TEST_CASE("ResetRecognition spellings") {
  CHECK(to_string(RR::reset) == "reset");
  CHECK(to_string(RR::long_header) == "long-header");
  CHECK(to_string(RR::too_short) == "too-short");
  CHECK(to_string(RR::no_token_match) == "no-token-match");
}
