// `qamp-tp encode`: the qamp-relevant TPs a server sends for a policy in one spelling.
#include "commands.h"
#include "qamp/hex.h"
#include "server_tps.h"

namespace qamp::tp {

namespace {

// What the server's ngtcp2 produced before the codec: with --full a whole blob, else only the
// 0x0d (every other qamp TP is the codec's to add).
qamp::Bytes input_blob(const EncodeArgs &args) {
  if (args.full) return ngtcp2_server_blob(args.preferred_address);
  std::vector<qamp::RawParam> params;
  if (args.preferred_address)
    params.push_back({qamp::kTpPreferredAddress, qamp::encode_preferred_address(*args.preferred_address)});
  return qamp::serialize_params(params);
}

}  // namespace

int run_encode(const EncodeArgs &args, std::ostream &out, std::ostream &err) {
  auto encoded = encode_and_list(input_blob(args), args.policy, args.spelling);
  if (!encoded) {
    err << "error: " << encoded.error().message() << "\n";
    return 1;
  }
  const auto &encoding = encoded->encoding;
  for (auto &a : encoding.adjustments)
    err << "note: " << qamp::to_string(a.address) << " level " << qamp::to_string(a.wanted) << " sent as "
        << qamp::to_string(a.expressed) << ": " << a.reason << "\n";
  out << qamp::to_hex(args.full ? encoding.wire : qamp::serialize_params(encoded->params)) << "\n";
  return 0;
}

}  // namespace qamp::tp
