#include "tp_json.h"

#include "json.h"  // examples/common: the one JSON writer

#include <cstdio>
#include <string>
#include <vector>

#include "qamp/hex.h"

namespace qamp::tp {

namespace {

using qamp::common::Json;

// "0x0c", "0x2d50": at least two digits, like the codec's error messages.
std::string hex_id(std::uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%02llx", static_cast<unsigned long long>(id));
  return buf;
}

Json params(const std::vector<qamp::ParamInfo> &list) {
  Json out = Json::array();
  for (auto &p : list)
    out.push(Json::object().set("id", hex_id(p.id)).set("name", qamp::param_name(p.id)).set("length", p.length));
  return out;
}

Json policy(const qamp::ServerDecoding &d) {
  return Json::object()
      .set("spelling", qamp::to_string(d.spelling))
      .set("handshake", qamp::to_string(d.policy.handshake))
      .set("spa_v4", qamp::to_string(d.policy.spa_v4))
      .set("spa_v6", qamp::to_string(d.policy.spa_v6));
}

Json preferred_address(const std::optional<qamp::PreferredAddress> &pa) {
  if (!pa) return nullptr;
  return Json::object()
      .set("ipv4", pa->ipv4_present() ? Json(pa->ipv4_string()) : Json())
      .set("ipv6", pa->ipv6_present() ? Json(pa->ipv6_string()) : Json())
      .set("cid", qamp::to_hex(pa->cid))
      .set("stateless_reset_token", qamp::to_hex(pa->stateless_reset_token));
}

Json support(qamp::SpellingSet set) {
  Json out = Json::array();
  for (auto s : qamp::spellings_in(set)) out.push(qamp::to_string(s));
  return out;
}

// Pretty-printed as `jq .` does (README "qamp-tp decode").
void write(std::ostream &out, const Json &doc) { out << doc.dump(2) << "\n"; }

}  // namespace

void write_json(std::ostream &out, const qamp::ServerDecoding &d) {
  write(out, Json::object()
                 .set("params", params(d.params))
                 .set("policy", policy(d))
                 .set("preferred_address", preferred_address(d.preferred_address))
                 .set("policy_support", support(d.echoed)));
}

void write_json(std::ostream &out, const qamp::ClientDecoding &d) {
  write(out, Json::object()
                 .set("params", params(d.params))
                 .set("policy", nullptr)
                 .set("preferred_address", nullptr)
                 .set("policy_support", support(d.support)));
}

}  // namespace qamp::tp
