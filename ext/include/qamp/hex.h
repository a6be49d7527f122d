// qamp/hex.h — the one hex codec of qamp (logs, qlog, stats, the CLI, test vectors): bytes to
// lower-case hex, and strict hex text back to bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qamp/result.h"

namespace qamp {

// Lower-case hex, two digits a byte, no separators.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Strict: an even number of hex digits (either case), nothing else; "" is an empty byte string.
// Errors name `field` ("HEX", "--cid", ...) and say what is wrong.
Result<std::vector<std::uint8_t>> from_hex(std::string_view text, std::string_view field);

}  // namespace qamp
