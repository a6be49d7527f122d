// `qamp-tp decode`: hex in, the codec's view of it out as JSON.
#include "commands.h"
#include "qamp/hex.h"
#include "tp_json.h"

namespace qamp::tp {

int run_decode(const DecodeArgs &args, std::ostream &out, std::ostream &err) {
  auto blob = qamp::from_hex(args.hex, "HEX");
  if (!blob) {
    err << "error: " << blob.error().message() << "\n";
    return 1;
  }
  if (args.from_client) {
    auto decoded = qamp::decode_client_params(*blob);
    if (!decoded) {
      err << "error: " << decoded.error().message() << "\n";
      return 1;
    }
    write_json(out, *decoded);
    return 0;
  }
  auto decoded = qamp::decode_server_params(*blob);
  if (!decoded) {
    err << "error: " << decoded.error().message() << "\n";
    return 1;
  }
  write_json(out, *decoded);
  return 0;
}

}  // namespace qamp::tp
