#include "json.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "qamp/hex.h"

namespace qamp_tp {

namespace {

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// "0x0c", "0x2d50": at least two digits, like the codec's error messages.
std::string hex_id(std::uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%02llx", static_cast<unsigned long long>(id));
  return buf;
}

void write_params(std::ostream &out, const std::vector<qamp::ParamInfo> &params) {
  out << "  \"params\": [";
  const char *sep = "\n";
  for (auto &p : params) {
    out << sep << "    {\"id\": " << quote(hex_id(p.id)) << ", \"name\": " << quote(qamp::param_name(p.id))
        << ", \"length\": " << p.length << "}";
    sep = ",\n";
  }
  out << (params.empty() ? "],\n" : "\n  ],\n");
}

void write_policy(std::ostream &out, const qamp::ServerDecoding &d) {
  out << "  \"policy\": {\"spelling\": " << quote(qamp::to_string(d.spelling))
      << ", \"handshake\": " << quote(qamp::to_string(d.policy.handshake))
      << ", \"spa_v4\": " << quote(qamp::to_string(d.policy.spa_v4))
      << ", \"spa_v6\": " << quote(qamp::to_string(d.policy.spa_v6)) << "},\n";
}

void write_preferred_address(std::ostream &out, const std::optional<qamp::PreferredAddress> &pa) {
  out << "  \"preferred_address\": ";
  if (!pa) {
    out << "null,\n";
    return;
  }
  out << "{\"ipv4\": " << (pa->ipv4_present() ? quote(pa->ipv4_string()) : "null")
      << ", \"ipv6\": " << (pa->ipv6_present() ? quote(pa->ipv6_string()) : "null")
      << ", \"cid\": " << quote(qamp::to_hex(pa->cid))
      << ", \"stateless_reset_token\": " << quote(qamp::to_hex(pa->stateless_reset_token)) << "},\n";
}

void write_support(std::ostream &out, qamp::SpellingSet set) {
  out << "  \"policy_support\": [";
  const char *sep = "";
  for (auto s : qamp::spellings_in(set)) {
    out << sep << quote(qamp::to_string(s));
    sep = ", ";
  }
  out << "]\n";
}

}  // namespace

void write_json(std::ostream &out, const qamp::ServerDecoding &d) {
  out << "{\n";
  write_params(out, d.params);
  write_policy(out, d);
  write_preferred_address(out, d.preferred_address);
  write_support(out, d.echoed);
  out << "}\n";
}

void write_json(std::ostream &out, const qamp::ClientDecoding &d) {
  out << "{\n";
  write_params(out, d.params);
  out << "  \"policy\": null,\n";
  write_preferred_address(out, std::nullopt);
  write_support(out, d.support);
  out << "}\n";
}

}  // namespace qamp_tp
