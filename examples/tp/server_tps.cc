#include "server_tps.h"

#include <ngtcp2/ngtcp2.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace qamp::tp {

namespace {

ngtcp2_cid make_cid(std::initializer_list<std::uint8_t> bytes) {
  ngtcp2_cid cid{};
  cid.datalen = bytes.size();
  std::copy(bytes.begin(), bytes.end(), cid.data);
  return cid;
}

void set_preferred_address(ngtcp2_preferred_addr &out, const qamp::PreferredAddress &pa) {
  if (pa.ipv4_present()) {
    out.ipv4_present = 1;
    out.ipv4.sin_family = AF_INET;
    std::memcpy(&out.ipv4.sin_addr, pa.ipv4.data(), pa.ipv4.size());
    out.ipv4.sin_port = htons(pa.ipv4_port);
  }
  if (pa.ipv6_present()) {
    out.ipv6_present = 1;
    out.ipv6.sin6_family = AF_INET6;
    std::memcpy(&out.ipv6.sin6_addr, pa.ipv6.data(), pa.ipv6.size());
    out.ipv6.sin6_port = htons(pa.ipv6_port);
  }
  out.cid.datalen = pa.cid.size();
  std::copy(pa.cid.begin(), pa.cid.end(), out.cid.data);
  std::copy(pa.stateless_reset_token.begin(), pa.stateless_reset_token.end(), out.stateless_reset_token);
}

}  // namespace

qamp::SpellingSet announced(SpellingChoice choice) noexcept {
  return choice ? static_cast<qamp::SpellingSet>(*choice) : 0;
}

qamp::Result<qamp::ServerEncoding> encode_for(qamp::ByteView ngtcp2_blob, const qamp::Policy &policy,
                                              SpellingChoice choice) {
  if (!choice) return qamp::encode_server_params(ngtcp2_blob, policy, qamp::kDefaultSpellingPreference, 0);
  const std::array<qamp::Spelling, 1> preference = {*choice};
  return qamp::encode_server_params(ngtcp2_blob, policy, preference, announced(choice));
}

qamp::Bytes ngtcp2_server_blob(const std::optional<qamp::PreferredAddress> &preferred_address) {
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.original_dcid = make_cid({0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08});
  params.original_dcid_present = 1;
  params.initial_scid = make_cid({0x51, 0x1d, 0x00, 0x01, 0xa1, 0xb2, 0xc3, 0xd4});
  params.initial_scid_present = 1;
  params.stateless_reset_token_present = 1;
  for (std::size_t i = 0; i < NGTCP2_STATELESS_RESET_TOKENLEN; ++i)
    params.stateless_reset_token[i] = static_cast<std::uint8_t>(0xa0 + i);
  params.initial_max_data = 1 << 20;
  params.initial_max_stream_data_bidi_local = 256 << 10;
  params.initial_max_stream_data_bidi_remote = 256 << 10;
  params.initial_max_stream_data_uni = 256 << 10;
  params.initial_max_streams_bidi = 100;
  params.initial_max_streams_uni = 3;
  params.max_idle_timeout = 30 * NGTCP2_SECONDS;
  params.active_connection_id_limit = 8;
  params.disable_active_migration = 0;  // qamp's permissive view: the codec adds 0x0c
  if (preferred_address) {
    params.preferred_addr_present = 1;
    set_preferred_address(params.preferred_addr, *preferred_address);
  }
  qamp::Bytes out(512);
  auto n = ngtcp2_transport_params_encode(out.data(), out.size(), &params);
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::string ngtcp2_rejects(qamp::ByteView blob) {
  ngtcp2_transport_params params;
  int rv = ngtcp2_transport_params_decode(&params, blob.data(), blob.size());
  return rv == 0 ? std::string() : std::string(ngtcp2_strerror(rv));
}

qamp::Result<std::vector<qamp::RawParam>> qamp_params(qamp::ByteView blob) {
  auto parsed = qamp::parse_params(blob);
  if (!parsed) return parsed.error();
  std::erase_if(*parsed, [](const qamp::RawParam &p) {
    return p.id != qamp::kTpDisableActiveMigration && p.id != qamp::kTpPreferredAddress &&
           p.id != qamp::kTpMigrationPolicySupport && p.id != qamp::kTpAddressMigrationPolicy;
  });
  std::sort(parsed->begin(), parsed->end(),
            [](const qamp::RawParam &a, const qamp::RawParam &b) { return a.id < b.id; });
  return std::move(*parsed);
}

qamp::Result<EncodedParams> encode_and_list(qamp::ByteView ngtcp2_blob, const qamp::Policy &policy,
                                            SpellingChoice choice) {
  auto encoding = encode_for(ngtcp2_blob, policy, choice);
  if (!encoding) return encoding.error();
  auto params = qamp_params(encoding->wire);
  if (!params) return params.error();
  return EncodedParams{std::move(*encoding), std::move(*params)};
}

}  // namespace qamp::tp
