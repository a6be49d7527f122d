// `qamp-tp compare`: the spellings side by side for one sample policy. Every cell is measured:
// the blobs are encoded by ngtcp2 and the codec, and judged by ngtcp2's own decoder and by the
// codec's client side.
#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "server_tps.h"

namespace qamp::tp {

namespace {

const qamp::Policy kSamplePolicy{qamp::Level::none, qamp::Level::same_ip, qamp::Level::any};

qamp::PreferredAddress sample_preferred_address() {
  qamp::PreferredAddress pa;
  inet_pton(AF_INET, "198.18.1.10", pa.ipv4.data());
  pa.ipv4_port = 4433;
  inet_pton(AF_INET6, "2001:db8:1::10", pa.ipv6.data());
  pa.ipv6_port = 4433;
  pa.cid = {0x51, 0x1d, 0x00, 0x02, 0x5a, 0x5a, 0x5a, 0x5a};
  for (std::size_t i = 0; i < pa.stateless_reset_token.size(); ++i)
    pa.stateless_reset_token[i] = static_cast<std::uint8_t>(0xb0 + i);
  return pa;
}

std::string policy_string(const qamp::Policy &p) {
  return std::string(qamp::to_string(p.handshake)) + " / " + std::string(qamp::to_string(p.spa_v4)) + " / " +
         std::string(qamp::to_string(p.spa_v6));
}

// What a qamp client that announced `choice` learns from the server's blob for `policy`.
qamp::Result<qamp::Policy> round_trip(const qamp::Bytes &ngtcp2_blob, const qamp::Policy &policy,
                                      SpellingChoice choice) {
  auto encoding = encode_for(ngtcp2_blob, policy, choice);
  if (!encoding) return encoding.error();
  auto decoded = qamp::decode_server_params(encoding->wire, announced(choice));
  if (!decoded) return decoded.error();
  return decoded->policy;
}

struct Expressiveness {
  int exact = 0;                   // of the 27 policies, how many a client learns unchanged
  bool handshake_same_ip = false;  // some policy with handshake same-ip survives
  bool per_address = false;        // some policy with SPA IPv4 != SPA IPv6 survives
};

Expressiveness measure(const qamp::Bytes &ngtcp2_blob, SpellingChoice choice) {
  Expressiveness out;
  for (auto &policy : qamp::all_policies()) {
    auto learnt = round_trip(ngtcp2_blob, policy, choice);
    if (!learnt || *learnt != policy) continue;
    ++out.exact;
    out.handshake_same_ip |= policy.handshake == qamp::Level::same_ip;
    out.per_address |= policy.spa_v4 != policy.spa_v6;
  }
  return out;
}

using Row = std::vector<std::string>;

void print_table(std::ostream &out, const std::vector<Row> &rows) {
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (auto &row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  auto line = [&](const Row &row) {
    out << "|";
    for (std::size_t i = 0; i < row.size(); ++i)
      out << " " << row[i] << std::string(width[i] - row[i].size(), ' ') << " |";
    out << "\n";
  };
  line(rows.front());
  out << "|";
  for (auto w : width) out << std::string(w + 2, '-') << "|";
  out << "\n";
  std::for_each(rows.begin() + 1, rows.end(), line);
}

}  // namespace

int run_compare(const CompareArgs &, std::ostream &out, std::ostream &err) {
  const auto pa = sample_preferred_address();
  const auto blob = ngtcp2_server_blob(pa);
  if (blob.empty()) {
    err << "error: ngtcp2_transport_params_encode failed\n";
    return 1;
  }
  out << "sample policy: handshake " << qamp::to_string(kSamplePolicy.handshake) << ", SPA " << pa.ipv4_string() << " "
      << qamp::to_string(kSamplePolicy.spa_v4) << ", SPA " << pa.ipv6_string() << " "
      << qamp::to_string(kSamplePolicy.spa_v6) << ", " << pa.cid.size() << "-byte CID\n"
      << "server blob from ngtcp2_transport_params_encode: " << blob.size() << " bytes\n\n";

  std::vector<Row> rows = {{"spelling", "qamp TPs [value length]", "bytes", "stock ngtcp2 decode", "exact",
                            "hs same-ip", "v4 != v6", "qamp client decodes hs / v4 / v6"}};
  const SpellingChoice choices[] = {qamp::Spelling::pr3898, qamp::Spelling::dam_values, qamp::Spelling::ext,
                                    std::nullopt};
  for (auto choice : choices) {
    auto encoded = encode_and_list(blob, kSamplePolicy, choice);
    if (!encoded) {
      err << "error: " << encoded.error().message() << "\n";
      return 1;
    }
    std::string tps;
    std::size_t bytes = 0;
    for (auto &p : encoded->params) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%s0x%02llx[%zu]", tps.empty() ? "" : " ", static_cast<unsigned long long>(p.id),
                    p.value.size());
      tps += buf;
      bytes += qamp::varint::encoded_length(p.id) + qamp::varint::encoded_length(p.value.size()) + p.value.size();
    }
    auto rejected = ngtcp2_rejects(encoded->encoding.wire);
    auto learnt = round_trip(blob, kSamplePolicy, choice);
    auto can = measure(blob, choice);
    rows.push_back({std::string(qamp::to_string(choice)), tps, std::to_string(bytes),
                    rejected.empty() ? "accepted" : "rejected: " + rejected, std::to_string(can.exact) + "/27",
                    can.handshake_same_ip ? "yes" : "no", can.per_address ? "yes" : "no",
                    learnt ? policy_string(*learnt) : "error: " + learnt.error().message()});
  }
  print_table(out, rows);
  out << "\nbytes: the listed TPs on the wire (id, length, value). stock ngtcp2 decode: the full server\n"
         "blob fed to ngtcp2_transport_params_decode, as an unmodified RFC 9000 client would.\n"
         "exact: of all 27 policies, how many a qamp client learns unchanged; hs same-ip: whether a\n"
         "handshake level same-ip survives (else it is sent as none); v4 != v6: whether the two\n"
         "preferred addresses can have different levels. rfc9000: what a client that announced\n"
         "nothing gets; the preferred-address levels cannot travel and the server's gate enforces them.\n";
  return 0;
}

}  // namespace qamp::tp
