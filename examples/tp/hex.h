// examples/tp/hex.h — hex text <-> bytes for the command line.
#pragma once

#include <string>
#include <string_view>

#include "qamp/result.h"
#include "qamp/tp_codec.h"

namespace qamp_tp {

// Lower-case hex, two digits a byte, no separators.
std::string to_hex(qamp::ByteView bytes);

// Strict: an even number of hex digits (either case), nothing else. "" is an empty byte string.
// Errors name `field` ("HEX", "--cid", …) and say what is wrong.
qamp::Result<qamp::Bytes> from_hex(std::string_view text, std::string_view field);

}  // namespace qamp_tp
