// examples/tp/commands.h — qamp-tp's commands. Each returns the process exit code:
// 0 done, 1 malformed input (one "error: FIELD: REASON" line on `err`, nothing on `out`).
#pragma once

#include <ostream>

#include "cli.h"

namespace qamp::tp {

int run_decode(const DecodeArgs &args, std::ostream &out, std::ostream &err);
int run_encode(const EncodeArgs &args, std::ostream &out, std::ostream &err);
int run_compare(const CompareArgs &args, std::ostream &out, std::ostream &err);
int run_cid(const CidArgs &args, std::ostream &out, std::ostream &err);

}  // namespace qamp::tp
