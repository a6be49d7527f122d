// tests/fuzz/decode_fuzzer.cc — libFuzzer target for the transport-parameter decoders
// (qamp/tp_codec.h). Every decoder must fail cleanly or return a value that keeps the codec's
// promises; a broken promise is an abort(), so libFuzzer (and the fuzz-smoke replay) report it.
//
// Input layout: byte 0 selects the spellings the client "announced" (bits 0-2, the 0x2d50 bits);
// the remaining bytes are fed to every decoder: as a server blob, as a client blob, as a 0x0d
// value in both forms, and (first byte) as a policy byte.
#include <arpa/inet.h>
#include <ngtcp2/ngtcp2.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "qamp/tp_codec.h"

namespace {

using namespace qamp;

void expect(bool ok, const char *promise) {
  if (ok) return;
  std::fprintf(stderr, "decode_fuzzer: broken promise: %s\n", promise);
  std::abort();
}

bool contains(const std::vector<RawParam> &params, std::uint64_t id) {
  return std::any_of(params.begin(), params.end(), [id](const RawParam &p) { return p.id == id; });
}

bool is_qamp_id(std::uint64_t id) {
  return id == kTpDisableActiveMigration || id == kTpMigrationPolicySupport || id == kTpAddressMigrationPolicy;
}

// ngtcp2's own decoder; `out` is filled when it accepts.
bool ngtcp2_accepts(ByteView blob, ngtcp2_transport_params &out) {
  return ngtcp2_transport_params_decode(&out, blob.data(), blob.size()) == 0;
}

// qamp's and ngtcp2's reading of one preferred address agree.
void expect_same_preferred_address(const PreferredAddress &pa, const ngtcp2_preferred_addr &ng) {
  expect(ng.cid.datalen == pa.cid.size() && std::equal(pa.cid.begin(), pa.cid.end(), ng.cid.data),
         "ngtcp2 reads the preferred-address CID the codec read");
  expect(std::memcmp(ng.stateless_reset_token, pa.stateless_reset_token.data(), kStatelessResetTokenLen) == 0,
         "ngtcp2 reads the preferred-address token the codec read");
  expect(!!ng.ipv4_present == pa.ipv4_present() && !!ng.ipv6_present == pa.ipv6_present(),
         "ngtcp2 and the codec agree which preferred-address families are present");
  if (pa.ipv4_present())
    expect(std::memcmp(&ng.ipv4.sin_addr, pa.ipv4.data(), 4) == 0 && ntohs(ng.ipv4.sin_port) == pa.ipv4_port,
           "ngtcp2 reads the preferred IPv4 address the codec read");
  if (pa.ipv6_present())
    expect(std::memcmp(&ng.ipv6.sin6_addr, pa.ipv6.data(), 16) == 0 && ntohs(ng.ipv6.sin6_port) == pa.ipv6_port,
           "ngtcp2 reads the preferred IPv6 address the codec read");
}

// The server, given the standard view and the decoded policy, says the same thing again.
void check_reencode(const ServerDecoding &d) {
  std::array<Spelling, 1> one{};
  std::span<const Spelling> preference = kDefaultSpellingPreference;
  SpellingSet support = 0;
  if (d.spelling) {
    one[0] = *d.spelling;
    preference = one;
    support = static_cast<SpellingSet>(*d.spelling);
  }
  auto enc = encode_server_params(d.standard_view, d.policy, preference, support);
  expect(enc.ok(), "the standard view of a decoded blob re-encodes");
  expect(enc->spelling == d.spelling, "re-encoding keeps the spelling");
  auto again = decode_server_params(enc->wire, support ? support : kAllSpellings);
  expect(again.ok(), "a re-encoded blob decodes");
  expect(again->policy == enc->expressed, "a client learns exactly ServerEncoding::expressed");
  expect(again->spelling == d.spelling, "the re-encoded blob decodes in the same spelling");
  expect(again->preferred_address == d.preferred_address, "re-encoding keeps the preferred address");
  expect(again->standard_view == d.standard_view, "re-encoding keeps the standard view");
  // pr3898 drops the level of a preferred address that has neither family (nothing to apply it
  // to); every other decoded policy is expressible in its own spelling.
  const bool pa_without_family =
      d.preferred_address && !d.preferred_address->ipv4_present() && !d.preferred_address->ipv6_present();
  if (!(d.spelling == Spelling::pr3898 && pa_without_family))
    expect(enc->expressed == d.policy, "a decoded policy re-encodes unchanged in its spelling");
}

void check_server(ByteView blob, SpellingSet announced) {
  auto d = decode_server_params(blob, announced);
  if (!d) {
    expect(!d.error().field.empty() && d.error().code == kTransportParameterError,
           "a decoding error names a field and is TRANSPORT_PARAMETER_ERROR");
    return;
  }
  auto raw = parse_params(blob);
  expect(raw.ok(), "a decoded server blob parses as a parameter list");
  expect(d->params.size() == raw->size(), "ServerDecoding::params lists every TP");
  for (std::size_t i = 0; i < raw->size(); ++i)
    expect(d->params[i].id == (*raw)[i].id && d->params[i].length == (*raw)[i].value.size(),
           "ServerDecoding::params keeps wire order and lengths");
  if (d->echoed) {
    expect(std::popcount(d->echoed) == 1 && (d->echoed & announced) && d->spelling &&
               static_cast<SpellingSet>(*d->spelling) == d->echoed,
           "an accepted echo is one announced spelling and selects it");
  }
  expect(d->disable_active_migration == contains(*raw, kTpDisableActiveMigration), "0x0c presence is reported");
  expect(d->preferred_address.has_value() == contains(*raw, kTpPreferredAddress), "0x0d presence is reported");
  if (!d->spelling)
    expect(d->policy.spa_v4 == Level::any && d->policy.spa_v6 == Level::any &&
               (d->policy.handshake == Level::none) == d->disable_active_migration,
           "RFC 9000 form: 0x0c alone means handshake none");

  // A superset of announced spellings decodes the same blob the same way.
  auto all = decode_server_params(blob, kAllSpellings);
  expect(all.ok() && all->policy == d->policy && all->spelling == d->spelling,
         "announcing more spellings does not change the decoding");

  // The standard view is what ngtcp2 gets: a plain RFC 9000 list without qamp's parts.
  auto view = parse_params(d->standard_view);
  expect(view.ok(), "the standard view parses");
  expect(std::none_of(view->begin(), view->end(), [](const RawParam &p) { return is_qamp_id(p.id); }),
         "the standard view has no 0x0c, 0x2d50, 0x2d51");
  expect(view->size() == static_cast<std::size_t>(std::count_if(raw->begin(), raw->end(),
                                                                [](const RawParam &p) { return !is_qamp_id(p.id); })),
         "the standard view keeps every other TP");
  ngtcp2_transport_params ng;
  if (ngtcp2_accepts(d->standard_view, ng)) {
    expect(!ng.disable_active_migration, "ngtcp2 sees no disable_active_migration in the view");
    expect(!!ng.preferred_addr_present == d->preferred_address.has_value(),
           "ngtcp2 sees the preferred address the codec saw");
    if (d->preferred_address) expect_same_preferred_address(*d->preferred_address, ng.preferred_addr);
    // ngtcp2's own round trip of what it accepted.
    std::array<std::uint8_t, 4096> buf;
    auto n = ngtcp2_transport_params_encode(buf.data(), buf.size(), &ng);
    ngtcp2_transport_params ng2;
    expect(n >= 0 && ngtcp2_accepts(ByteView(buf.data(), static_cast<std::size_t>(n)), ng2),
           "ngtcp2 accepts its re-encoding of the view");
  } else if (!d->spelling && !d->disable_active_migration) {
    ngtcp2_transport_params ng_wire;
    expect(!ngtcp2_accepts(blob, ng_wire), "a plain RFC 9000 blob and its view fare alike in ngtcp2");
  }
  check_reencode(*d);
}

void check_client(ByteView blob) {
  auto c = decode_client_params(blob);
  auto raw = parse_params(blob);
  if (!c) {
    expect(!raw || contains(*raw, kTpMigrationPolicySupport), "a client blob fails only on its list or 0x2d50");
    return;
  }
  expect(raw.ok() && c->params.size() == raw->size(), "ClientDecoding::params lists every TP");
  expect(c->announced == contains(*raw, kTpMigrationPolicySupport), "0x2d50 presence is reported");
  auto support = read_policy_support(blob);
  expect(support.ok() && *support == c->support, "read_policy_support agrees with decode_client_params");
  for (SpellingSet s : {c->support, SpellingSet{0}, kAllSpellings, SpellingSet{0x4}}) {
    auto with = add_policy_support(blob, s);
    expect(with.ok(), "add_policy_support takes a blob that decodes");
    auto again = decode_client_params(*with);
    expect(again.ok() && again->support == s && again->announced == (s != 0),
           "add_policy_support sets exactly the support asked for");
    expect(again->params.size() == raw->size() - (c->announced ? 1 : 0) + (s != 0 ? 1 : 0),
           "add_policy_support touches 0x2d50 only");
  }
}

void check_preferred_address(ByteView value) {
  for (bool pr3898 : {false, true}) {
    auto d = decode_preferred_address(value, pr3898);
    if (!d) continue;
    expect(d->disable_migration.has_value() == pr3898, "only the PR #3898 form has Disable Migration");
    auto bytes = encode_preferred_address(d->address, d->disable_migration);
    expect(std::equal(bytes.begin(), bytes.end(), value.begin(), value.end()),
           "a decoded preferred address re-encodes byte for byte");
    expect(!d->address.ipv4_string().empty() && !d->address.ipv6_string().empty(), "addresses print");
    if (pr3898) continue;
    // Differential: ngtcp2 reads the same RFC 9000 value the same way.
    const std::array<RawParam, 1> one = {RawParam{kTpPreferredAddress, Bytes(value.begin(), value.end())}};
    auto blob = serialize_params(one);
    ngtcp2_transport_params ng;
    expect(ngtcp2_accepts(blob, ng) && ng.preferred_addr_present, "ngtcp2 accepts what the codec accepts");
    expect_same_preferred_address(d->address, ng.preferred_addr);
  }
}

void check_policy_byte(std::uint8_t byte) {
  auto p = decode_policy_byte(byte, "fuzz");
  const bool reserved = (byte & 0xc0) || (byte & 0x3) == 3 || (byte >> 2 & 0x3) == 3 || (byte >> 4 & 0x3) == 3;
  expect(p.ok() == !reserved, "a policy byte fails exactly on reserved bits or level 3");
  if (p) expect(encode_policy_byte(*p) == byte, "a policy byte round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size == 0) return 0;
  const SpellingSet announced = data[0] & kAllSpellings;
  const ByteView payload(data + 1, size - 1);
  check_server(payload, announced);
  check_client(payload);
  check_preferred_address(payload);
  if (!payload.empty()) check_policy_byte(payload[0]);
  return 0;
}
