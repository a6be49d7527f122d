// qamp/endpoint.h: the one address type and the one change classifier (RFC 9000 §9, §9.3), one
// row per rule. Both forms of classify_change (raw sockaddr, Endpoint) must agree on every row:
// the server's gate uses the first, the client's migration decisions the second.
#include <catch2/catch_test_macros.hpp>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <vector>

#include "qamp/endpoint.h"

using namespace qamp;

namespace {

Endpoint ep(const char *text) {
  auto e = Endpoint::parse(text);
  REQUIRE(e);
  return *e;
}

Endpoint with_scope(const char *text, std::uint32_t scope) {
  auto e = ep(text);
  sockaddr_in6 sin6;
  std::memcpy(&sin6, e.sa(), sizeof sin6);
  sin6.sin6_scope_id = scope;
  return *Endpoint::from(reinterpret_cast<const sockaddr *>(&sin6));
}

}  // namespace

TEST_CASE("classify_change: same, port only, another IP (RFC 9000 §9.3)") {
  using C = AddressChange;
  struct Row {
    const char *rule;
    Endpoint from, to;
    C change;
  };
  const std::vector<Row> rows = {
      {"IPv4 unchanged", ep("198.18.0.1:443"), ep("198.18.0.1:443"), C::same},
      {"IPv4 new port: port only (NAT rebinding)", ep("198.18.0.1:443"), ep("198.18.0.1:444"), C::port_only},
      {"IPv4 new address", ep("198.18.0.1:443"), ep("198.18.0.2:443"), C::ip},
      {"IPv6 unchanged", ep("[2001:db8::1]:443"), ep("[2001:db8::1]:443"), C::same},
      {"IPv6 new port", ep("[2001:db8::1]:443"), ep("[2001:db8::1]:9"), C::port_only},
      {"IPv6 new address", ep("[2001:db8::1]:443"), ep("[2001:db8::2]:443"), C::ip},
      {"IPv4-mapped equals plain IPv4", ep("[::ffff:198.18.0.1]:443"), ep("198.18.0.1:443"), C::same},
      {"plain IPv4 to IPv4-mapped, new port", ep("198.18.0.1:443"), ep("[::ffff:198.18.0.1]:80"), C::port_only},
      {"IPv4-mapped to another IPv4", ep("[::ffff:198.18.0.1]:443"), ep("198.18.0.9:443"), C::ip},
      {"family change is an IP change", ep("198.18.0.1:443"), ep("[2001:db8::1]:443"), C::ip},
      {"IPv6 scope id is part of the address", with_scope("[fe80::1]:443", 1), with_scope("[fe80::1]:443", 2), C::ip},
      {"IPv6 same scope, new port", with_scope("[fe80::1]:443", 1), with_scope("[fe80::1]:80", 1), C::port_only},
      {"empty endpoint", Endpoint{}, ep("198.18.0.1:443"), C::unsupported},
  };
  for (auto &r : rows) {
    CAPTURE(r.rule);
    CHECK(classify_change(r.from, r.to) == r.change);
    CHECK(classify_change(r.from.sa(), r.to.sa()) == r.change);
    if (r.change != C::unsupported) CHECK(classify_change(r.to, r.from) == r.change);  // symmetric
  }
}

TEST_CASE("classify_change: only IPv4 and IPv6 are addresses") {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  auto v4 = ep("198.18.0.1:443");
  CHECK(classify_change(reinterpret_cast<const sockaddr *>(&un), v4.sa()) == AddressChange::unsupported);
  CHECK(classify_change(nullptr, v4.sa()) == AddressChange::unsupported);
  CHECK_FALSE(Endpoint::from(reinterpret_cast<const sockaddr *>(&un)));
}

TEST_CASE("Endpoint: set_port and the ngtcp2 view") {
  auto v4 = ep("198.18.0.1:443");
  v4.set_port(8443);
  CHECK(v4.to_string() == "198.18.0.1:8443");
  auto v6 = ep("[2001:db8::1]:443");
  v6.set_port(1);
  CHECK(v6.to_string() == "[2001:db8::1]:1");
  Endpoint empty;
  empty.set_port(5);
  CHECK(empty.port() == 0);
  auto a = v6.addr();
  CHECK(a.addrlen == sizeof(sockaddr_in6));
  CHECK(a.addr == v6.sa());
}

TEST_CASE("Endpoint::of: the address of an ngtcp2 path end") {
  const auto v4 = ep("198.18.0.1:443");
  const auto v6 = with_scope("[fe80::1]:443", 3);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  auto *unix_sa = reinterpret_cast<sockaddr *>(&un);
  struct Row {
    const char *rule;
    ngtcp2_addr addr;
    Endpoint want;
  };
  const std::vector<Row> rows = {
      {"IPv4 round trip", v4.addr(), v4},
      {"IPv6 round trip keeps the scope id", v6.addr(), v6},
      {"null address: empty", ngtcp2_addr{nullptr, 0}, Endpoint{}},
      {"AF_UNIX: empty", ngtcp2_addr{unix_sa, sizeof un}, Endpoint{}},
      {"IPv6 family in an IPv4-sized buffer: empty", ngtcp2_addr{v6.addr().addr, sizeof(sockaddr_in)}, Endpoint{}},
  };
  for (const auto &r : rows) {
    CAPTURE(r.rule);
    const auto got = Endpoint::of(r.addr);
    CHECK(got == r.want);
    CHECK(got.to_string() == r.want.to_string());
  }
}

TEST_CASE("Endpoint: printed forms the logs and tests grep for") {
  struct Row {
    Endpoint e;
    const char *text;
  };
  const std::vector<Row> rows = {
      {ep("127.0.0.3:4433"), "127.0.0.3:4433"},
      {ep("[::1]:443"), "[::1]:443"},
      {ep("[2001:db8::1]:0"), "[2001:db8::1]:0"},
      {ep("[::ffff:127.0.0.1]:443"), "[::ffff:127.0.0.1]:443"},  // printed as received, compared as IPv4
      {with_scope("[fe80::1]:443", 2), "[fe80::1]:443"},         // no scope in the text
      {Endpoint{}, "-"},
  };
  for (const auto &r : rows) {
    CAPTURE(r.text);
    CHECK(r.e.to_string() == r.text);
  }
}
