// examples/common/enforcement.h — who enforces the per-address policy (`--enforcement`).
//
// layer:  the default, and the only choice on the stock ngtcp2. ngtcp2 sees the permissive view
//         of the transport parameters; qamp's gate (server) and Migrator (client) enforce
//         (DESIGN.md §4).
// native: only when built against the patched ngtcp2 (`-Dngtcp2=patched`, patches/ngtcp2/).
//         ngtcp2 encodes and decodes the policy itself (the `ext` spelling, 0x2d50/0x2d51) and
//         enforces it: the server's ngtcp2 drops forbidden path changes, the client's refuses a
//         forbidden ngtcp2_conn_initiate_migration. qamp still classifies, counts and logs, and
//         the reset guard stays (resets are the application's).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <ngtcp2/ngtcp2.h>

#include "qamp/policy.h"

namespace qamp::common {

enum class Enforcement : std::uint8_t { layer, native };

#ifdef NGTCP2_TRANSPORT_PARAMS_V2
inline constexpr bool kNativeEnforcementAvailable = true;
#else
inline constexpr bool kNativeEnforcementAvailable = false;
#endif

constexpr std::string_view to_string(Enforcement e) noexcept { return e == Enforcement::native ? "native" : "layer"; }

constexpr std::optional<Enforcement> parse_enforcement(std::string_view text) noexcept {
  if (text == "layer") return Enforcement::layer;
  if (text == "native") return Enforcement::native;
  return std::nullopt;
}

// Why `native` cannot be used by this binary ("" when it can).
constexpr std::string_view native_unavailable_reason() noexcept {
  return kNativeEnforcementAvailable
             ? ""
             : "--enforcement=native needs the patched ngtcp2 (meson setup -Dngtcp2=patched, see "
               "patches/README.md); this binary is linked to the stock library";
}

#ifdef NGTCP2_TRANSPORT_PARAMS_V2
constexpr ngtcp2_migration_level to_ngtcp2(Level level) noexcept {
  switch (level) {
    case Level::none: return NGTCP2_MIGRATION_LEVEL_NONE;
    case Level::same_ip: return NGTCP2_MIGRATION_LEVEL_SAME_IP;
    case Level::any: break;
  }
  return NGTCP2_MIGRATION_LEVEL_ANY;
}

constexpr Level from_ngtcp2(ngtcp2_migration_level level) noexcept {
  switch (level) {
    case NGTCP2_MIGRATION_LEVEL_NONE: return Level::none;
    case NGTCP2_MIGRATION_LEVEL_SAME_IP: return Level::same_ip;
    default: break;
  }
  return Level::any;
}

inline ngtcp2_migration_policy to_ngtcp2(const Policy &p) noexcept {
  ngtcp2_migration_policy out{};
  out.handshake = to_ngtcp2(p.handshake);
  out.preferred_ipv4 = to_ngtcp2(p.spa_v4);
  out.preferred_ipv6 = to_ngtcp2(p.spa_v6);
  return out;
}

inline Policy from_ngtcp2(const ngtcp2_migration_policy &p) noexcept {
  return Policy{from_ngtcp2(p.handshake), from_ngtcp2(p.preferred_ipv4), from_ngtcp2(p.preferred_ipv6)};
}
#endif

}  // namespace qamp::common
