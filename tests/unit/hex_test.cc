// qamp/hex.h: the one hex codec. Lower-case out; strict in (either case, even length, nothing
// else), errors naming the field and the offset.
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

#include "qamp/hex.h"

using namespace qamp;

TEST_CASE("to_hex: lower case, two digits a byte") {
  CHECK(to_hex(std::vector<std::uint8_t>{}).empty());
  CHECK(to_hex(std::vector<std::uint8_t>{0x00, 0x0f, 0xa5, 0xff}) == "000fa5ff");
}

TEST_CASE("from_hex: strict") {
  struct Row {
    const char *rule, *text;
    bool ok;
    std::vector<std::uint8_t> bytes;
    const char *error;  // a substring of the reason
  };
  const std::vector<Row> rows = {
      {"empty is an empty byte string", "", true, {}, ""},
      {"lower case", "00ffa5", true, {0x00, 0xff, 0xa5}, ""},
      {"upper case accepted", "A5Ff", true, {0xa5, 0xff}, ""},
      {"odd length", "abc", false, {}, "odd number of hex digits (3)"},
      {"a non-hex digit, at its offset", "ab0g", false, {}, "not a hex digit at offset 3"},
      {"no separators", "ab cd", false, {}, "not a hex digit at offset 2"},
      {"no 0x prefix", "0xab", false, {}, "not a hex digit at offset 1"},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    auto got = from_hex(r.text, "--cid");
    REQUIRE(got.ok() == r.ok);
    if (r.ok) {
      CHECK(*got == r.bytes);
      CHECK(from_hex(to_hex(*got), "x").value() == *got);  // round trip
    } else {
      CHECK(got.error().field == "--cid");
      CHECK(got.error().reason.find(r.error) != std::string::npos);
    }
  }
}
