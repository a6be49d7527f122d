// --enforcement: which binaries may offer native, and the Level <-> ngtcp2_migration_level map
// (patches/ngtcp2/0003: ANY 0, NONE 1, SAME_IP 2, the same values as qamp's policy byte).
#include <catch2/catch_test_macros.hpp>

#include "enforcement.h"
#include "qamp/tp_codec.h"

using namespace qamp;
using namespace qamp::common;

TEST_CASE("enforcement: parse and print") {
  CHECK(parse_enforcement("layer") == Enforcement::layer);
  CHECK(parse_enforcement("native") == Enforcement::native);
  for (auto bad : {"", "Native", "ngtcp2", "layer ", "on"}) CHECK_FALSE(parse_enforcement(bad));
  CHECK(to_string(Enforcement::layer) == "layer");
  CHECK(to_string(Enforcement::native) == "native");
}

#ifdef NGTCP2_TRANSPORT_PARAMS_V2
TEST_CASE("enforcement: a patched build offers native and maps every policy exactly") {
  CHECK(kNativeEnforcementAvailable);
  CHECK(native_unavailable_reason().empty());
  CHECK(to_ngtcp2(Level::any) == NGTCP2_MIGRATION_LEVEL_ANY);
  CHECK(to_ngtcp2(Level::none) == NGTCP2_MIGRATION_LEVEL_NONE);
  CHECK(to_ngtcp2(Level::same_ip) == NGTCP2_MIGRATION_LEVEL_SAME_IP);
  for (const Policy &p : all_policies()) {
    const ngtcp2_migration_policy n = to_ngtcp2(p);
    CHECK(from_ngtcp2(n) == p);
    // ngtcp2's wire byte and qamp's ext byte agree: 2 bits per address, handshake first.
    CHECK(encode_policy_byte(p) == (static_cast<unsigned>(n.handshake) | static_cast<unsigned>(n.preferred_ipv4) << 2 |
                                    static_cast<unsigned>(n.preferred_ipv6) << 4));
  }
}
#else
TEST_CASE("enforcement: the stock library offers the layer only, and says why") {
  CHECK_FALSE(kNativeEnforcementAvailable);
  CHECK(native_unavailable_reason().find("-Dngtcp2=patched") != std::string_view::npos);
}
#endif
