// The one JSON writer (examples/common/json.cc): RFC 8259 string escaping, the one-line form used
// in log lines, the pretty form of files, and numbers that read back exactly.
#include <catch2/catch_test_macros.hpp>

#include <cmath>
#include <string>

#include "json.h"

using qamp::common::Json;
using qamp::common::json_quote;

TEST_CASE("json_quote: RFC 8259 §7 escapes") {
  struct Row {
    std::string in;
    const char *out;
  };
  const Row rows[] = {
      {"plain", R"("plain")"},
      {"a\"b", R"("a\"b")"},
      {"back\\slash", R"("back\\slash")"},
      {"line\nfeed\r\t", R"("line\nfeed\r\t")"},
      {std::string("nul\0x", 5), R"("nul\u0000x")"},
      {"\x01\x1f", R"("\u0001\u001f")"},
      {"\x7f", "\"\x7f\""},                // DEL needs no escape
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""},  // UTF-8 passes through
      {"/", R"("/")"},
  };
  for (const auto &r : rows) {
    CAPTURE(r.in);
    CHECK(json_quote(r.in) == r.out);
  }
}

TEST_CASE("Json: one line, insertion order, set replaces") {
  Json j = Json::object();
  j.set("b", 1).set("a", "x\"y").set("n", nullptr).set("t", true).set("arr", Json::array().push(1).push(-2));
  j.set("b", 2u);
  CHECK(j.dump() == R"({"b":2,"a":"x\"y","n":null,"t":true,"arr":[1,-2]})");
  CHECK(Json::object().dump() == "{}");
  CHECK(Json::array().dump(2) == "[]");
  CHECK(Json().is_null());
  CHECK(Json(std::optional<int>{}).dump() == "null");
  CHECK(Json(std::optional<int>{7}).dump() == "7");
}

TEST_CASE("Json: pretty and partly expanded forms") {
  Json j = Json::object();
  j.set("k", Json::array().push(Json::object().set("id", 1).set("v", "a"))).set("z", Json::object().set("x", 1));
  CHECK(j.dump(2) ==
        "{\n  \"k\": [\n    {\n      \"id\": 1,\n      \"v\": \"a\"\n    }\n  ],\n  \"z\": {\n    \"x\": 1\n  }\n}");
  CHECK(j.dump(2, 1) == "{\n  \"k\": [{\"id\": 1, \"v\": \"a\"}],\n  \"z\": {\"x\": 1}\n}");
  CHECK(j.dump(2, 0) == R"({"k": [{"id": 1, "v": "a"}], "z": {"x": 1}})");
}

TEST_CASE("Json: numbers") {
  CHECK(Json(20971520.0).dump() == "20971520");  // not 2.09715e+07
  CHECK(Json(0.1).dump() == "0.1");
  CHECK(Json(std::nan("")).dump() == "null");  // JSON has no NaN
  CHECK(Json(INFINITY).dump() == "null");
  CHECK(Json(18446744073709551615ull).dump() == "18446744073709551615");
  CHECK(Json(-9223372036854775807ll - 1).dump() == "-9223372036854775808");
}
