// examples/tp/tp_json.h — `qamp-tp decode`'s JSON (examples/common/json.h), pretty-printed.
#pragma once

#include <ostream>

#include "qamp/tp_codec.h"

namespace qamp::tp {

// {"params": [...], "policy": {...}, "preferred_address": {...} | null, "policy_support": [...]}
void write_json(std::ostream &out, const qamp::ServerDecoding &decoding);
// The same keys; "policy" and "preferred_address" are null.
void write_json(std::ostream &out, const qamp::ClientDecoding &decoding);

}  // namespace qamp::tp
