// `qamp-tp cid encode|decode`: QUIC-LB connection IDs (qamp/quic_lb.h) on the command line.
#include <array>

#include "commands.h"
#include "json.h"  // examples/common: the one JSON writer
#include "qamp/hex.h"
#include "qamp/quic_lb.h"

namespace qamp::tp {

namespace {

int encode(const CidArgs &args, std::ostream &out, std::ostream &err) {
  const qamp::QuicLbCodec codec(args.config);
  auto cid = codec.encode(args.server_id, args.nonce, args.first_octet_bits);
  if (!cid) {
    err << "error: " << cid.error().message() << "\n";
    return 1;
  }
  out << qamp::to_hex(*cid) << "\n";
  return 0;
}

int decode(const CidArgs &args, std::ostream &out, std::ostream &err) {
  auto cid = qamp::from_hex(args.cid_hex, "CID");
  if (!cid) {
    err << "error: " << cid.error().message() << "\n";
    return 1;
  }
  // The balancer's answer first (route_cid), then what the server put in for a routed CID.
  const std::array<qamp::QuicLbCodec, 1> configs{qamp::QuicLbCodec(args.config)};
  const auto routing = qamp::route_cid(configs, *cid);
  auto json = qamp::common::Json::object().set("route", qamp::to_string(routing.route));
  if (!cid->empty()) json.set("config_rotation", unsigned{routing.config_rotation});
  if (routing.route == qamp::QuicLbRoute::routed) {
    auto plain = configs[0].decode(*cid);
    json.set("server_id", qamp::to_hex(plain->server_id)).set("nonce", qamp::to_hex(plain->nonce));
    if (cid->size() > args.config.cid_len())
      json.set("server_use_octets", qamp::to_hex(std::span(*cid).subspan(args.config.cid_len())));
  }
  out << json.dump(2) << "\n";
  return 0;
}

}  // namespace

int run_cid(const CidArgs &args, std::ostream &out, std::ostream &err) {
  return args.encode ? encode(args, out, err) : decode(args, out, err);
}

}  // namespace qamp::tp
