#include "qamp/tp_codec.h"
#include "qamp/hex.h"

#include <algorithm>
#include <arpa/inet.h>
#include <bit>
#include <cstdio>
#include <set>

namespace qamp {

namespace {

std::string hex_id(std::uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%02llx", static_cast<unsigned long long>(id));
  return buf;
}

// "0x0d preferred_address"
std::string field_name(std::uint64_t id) {
  auto name = param_name(id);
  return name.empty() ? hex_id(id) : hex_id(id) + " " + std::string(name);
}

TpError error(std::uint64_t id, std::string reason) { return TpError{field_name(id), std::move(reason)}; }

const RawParam *find(const std::vector<RawParam> &params, std::uint64_t id) {
  auto it = std::find_if(params.begin(), params.end(), [id](const RawParam &p) { return p.id == id; });
  return it == params.end() ? nullptr : &*it;
}

void erase(std::vector<RawParam> &params, std::uint64_t id) {
  std::erase_if(params, [id](const RawParam &p) { return p.id == id; });
}

Bytes varint_bytes(std::uint64_t v) {
  Bytes b;
  varint::append(b, v);
  return b;
}

// A value that must be exactly one varint.
Result<std::uint64_t> single_varint(const RawParam &p) {
  auto r = varint::read(p.value);
  if (!r) return error(p.id, p.value.empty() ? "empty value, expected a varint" : "truncated varint");
  if (r->length != p.value.size())
    return error(p.id,
                 "wrong length " + std::to_string(p.value.size()) + ", the varint takes " + std::to_string(r->length));
  return r->value;
}

std::vector<ParamInfo> infos(const std::vector<RawParam> &params) {
  std::vector<ParamInfo> out;
  out.reserve(params.size());
  for (auto &p : params) out.push_back({p.id, p.value.size()});
  return out;
}

}  // namespace

// ---- names ----

std::string_view to_string(Spelling spelling) noexcept {
  switch (spelling) {
    case Spelling::ext: return "ext";
    case Spelling::dam_values: return "dam-values";
    case Spelling::pr3898: return "pr3898";
  }
  return "?";
}

std::string_view to_string(const std::optional<Spelling> &spelling) noexcept {
  return spelling ? to_string(*spelling) : std::string_view("rfc9000");
}

std::optional<Spelling> parse_spelling(std::string_view text) noexcept {
  for (auto s : {Spelling::ext, Spelling::dam_values, Spelling::pr3898})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

std::optional<std::vector<Spelling>> parse_spelling_list(std::string_view text) {
  std::vector<Spelling> out;
  if (text.empty()) return out;
  std::size_t pos = 0;
  while (true) {
    auto comma = text.find(',', pos);
    auto item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    auto s = parse_spelling(item);
    if (!s || std::find(out.begin(), out.end(), *s) != out.end()) return std::nullopt;
    out.push_back(*s);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

SpellingSet to_set(std::span<const Spelling> spellings) noexcept {
  SpellingSet set = 0;
  for (auto s : spellings) set |= static_cast<SpellingSet>(s);
  return set;
}

std::vector<Spelling> spellings_in(SpellingSet set) {
  std::vector<Spelling> out;
  for (auto s : {Spelling::ext, Spelling::dam_values, Spelling::pr3898})
    if (set & static_cast<SpellingSet>(s)) out.push_back(s);
  return out;
}

std::string_view param_name(std::uint64_t id) noexcept {
  switch (id) {
    case 0x00: return "original_destination_connection_id";
    case 0x01: return "max_idle_timeout";
    case 0x02: return "stateless_reset_token";
    case 0x03: return "max_udp_payload_size";
    case 0x04: return "initial_max_data";
    case 0x05: return "initial_max_stream_data_bidi_local";
    case 0x06: return "initial_max_stream_data_bidi_remote";
    case 0x07: return "initial_max_stream_data_uni";
    case 0x08: return "initial_max_streams_bidi";
    case 0x09: return "initial_max_streams_uni";
    case 0x0a: return "ack_delay_exponent";
    case 0x0b: return "max_ack_delay";
    case 0x0c: return "disable_active_migration";
    case 0x0d: return "preferred_address";
    case 0x0e: return "active_connection_id_limit";
    case 0x0f: return "initial_source_connection_id";
    case 0x10: return "retry_source_connection_id";
    case 0x11: return "version_information";
    case 0x20: return "max_datagram_frame_size";
    case 0x2ab2: return "grease_quic_bit";
    case kTpMigrationPolicySupport: return "migration_policy_support";
    case kTpAddressMigrationPolicy: return "address_migration_policy";
    default: return "";
  }
}

// ---- varints ----

namespace varint {

std::size_t encoded_length(std::uint64_t v) noexcept {
  if (v < 64) return 1;
  if (v < 16384) return 2;
  if (v < 1073741824) return 4;
  return 8;
}

void append(Bytes &out, std::uint64_t v) {
  auto n = encoded_length(v);
  std::uint8_t prefix = n == 1 ? 0x00 : n == 2 ? 0x40 : n == 4 ? 0x80 : 0xc0;
  for (std::size_t i = 0; i < n; ++i) {
    auto byte = static_cast<std::uint8_t>(v >> (8 * (n - 1 - i)));
    out.push_back(i == 0 ? static_cast<std::uint8_t>(byte | prefix) : byte);
  }
}

std::optional<Read> read(ByteView in) noexcept {
  if (in.empty()) return std::nullopt;
  std::size_t n = std::size_t{1} << (in[0] >> 6);
  if (in.size() < n) return std::nullopt;
  std::uint64_t v = in[0] & 0x3f;
  for (std::size_t i = 1; i < n; ++i) v = (v << 8) | in[i];
  return Read{v, n};
}

}  // namespace varint

// ---- parameter lists ----

Result<std::vector<RawParam>> parse_params(ByteView blob) {
  std::vector<RawParam> out;
  std::set<std::uint64_t> seen;
  std::size_t pos = 0;
  while (pos < blob.size()) {
    auto id = varint::read(blob.subspan(pos));
    if (!id) return TpError{"varint", "truncated transport parameter id at offset " + std::to_string(pos)};
    pos += id->length;
    auto len = varint::read(blob.subspan(pos));
    if (!len) return error(id->value, "truncated length varint at offset " + std::to_string(pos));
    pos += len->length;
    if (len->value > blob.size() - pos)
      return error(id->value, "length " + std::to_string(len->value) + " runs past the end (" +
                                  std::to_string(blob.size() - pos) + " bytes left)");
    if (!seen.insert(id->value).second) return error(id->value, "duplicate transport parameter");
    auto start = blob.begin() + static_cast<std::ptrdiff_t>(pos);
    out.push_back({id->value, Bytes(start, start + static_cast<std::ptrdiff_t>(len->value))});
    pos += len->value;
  }
  return out;
}

Bytes serialize_params(std::span<const RawParam> params) {
  Bytes out;
  for (auto &p : params) {
    varint::append(out, p.id);
    varint::append(out, p.value.size());
    out.insert(out.end(), p.value.begin(), p.value.end());
  }
  return out;
}

// ---- preferred address ----

bool PreferredAddress::ipv4_present() const noexcept {
  return ipv4_port != 0 || std::any_of(ipv4.begin(), ipv4.end(), [](auto b) { return b != 0; });
}

bool PreferredAddress::ipv6_present() const noexcept {
  return ipv6_port != 0 || std::any_of(ipv6.begin(), ipv6.end(), [](auto b) { return b != 0; });
}

std::string PreferredAddress::ipv4_string() const {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, ipv4.data(), buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ipv4_port);
}

std::string PreferredAddress::ipv6_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, ipv6.data(), buf, sizeof buf);
  return "[" + std::string(buf) + "]:" + std::to_string(ipv6_port);
}

Result<DecodedPreferredAddress> decode_preferred_address(ByteView v, bool pr3898) {
  const std::size_t fixed = 4 + 2 + 16 + 2 + (pr3898 ? 1 : 0);  // up to Connection ID Length
  const std::string form = pr3898 ? " (PR #3898 form)" : " (RFC 9000 form)";
  if (v.size() < fixed + 1)
    return error(kTpPreferredAddress,
                 "wrong length " + std::to_string(v.size()) + form + ", too short for the connection ID length");
  DecodedPreferredAddress out;
  auto &pa = out.address;
  std::copy_n(v.begin(), 4, pa.ipv4.begin());
  pa.ipv4_port = static_cast<std::uint16_t>(v[4] << 8 | v[5]);
  std::copy_n(v.begin() + 6, 16, pa.ipv6.begin());
  pa.ipv6_port = static_cast<std::uint16_t>(v[22] << 8 | v[23]);
  if (pr3898) {
    std::uint8_t dm = v[24];
    if (dm > 3)
      return error(kTpPreferredAddress, "Disable Migration field " + hex_id(dm) + " has non-zero reserved bits");
    auto level = level_from_code(dm);
    if (!level) return error(kTpPreferredAddress, "Disable Migration field uses reserved level 3");
    out.disable_migration = level;
  }
  std::size_t cidlen = v[fixed];
  if (cidlen == 0) return error(kTpPreferredAddress, "zero-length connection ID");
  if (cidlen > kMaxCidLen)
    return error(kTpPreferredAddress, "connection ID length " + std::to_string(cidlen) + " exceeds 20");
  const std::size_t want = fixed + 1 + cidlen + kStatelessResetTokenLen;
  if (v.size() != want)
    return error(kTpPreferredAddress, "wrong length " + std::to_string(v.size()) + form + ", expected " +
                                          std::to_string(want) + " for a " + std::to_string(cidlen) +
                                          "-byte connection ID");
  pa.cid.assign(v.begin() + static_cast<std::ptrdiff_t>(fixed + 1),
                v.begin() + static_cast<std::ptrdiff_t>(fixed + 1 + cidlen));
  std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(fixed + 1 + cidlen), kStatelessResetTokenLen,
              pa.stateless_reset_token.begin());
  return out;
}

Bytes encode_preferred_address(const PreferredAddress &pa, std::optional<Level> dm) {
  Bytes out;
  out.insert(out.end(), pa.ipv4.begin(), pa.ipv4.end());
  out.push_back(static_cast<std::uint8_t>(pa.ipv4_port >> 8));
  out.push_back(static_cast<std::uint8_t>(pa.ipv4_port));
  out.insert(out.end(), pa.ipv6.begin(), pa.ipv6.end());
  out.push_back(static_cast<std::uint8_t>(pa.ipv6_port >> 8));
  out.push_back(static_cast<std::uint8_t>(pa.ipv6_port));
  if (dm) out.push_back(static_cast<std::uint8_t>(code(*dm)));
  out.push_back(static_cast<std::uint8_t>(pa.cid.size()));
  out.insert(out.end(), pa.cid.begin(), pa.cid.end());
  out.insert(out.end(), pa.stateless_reset_token.begin(), pa.stateless_reset_token.end());
  return out;
}

// ---- policy byte ----

std::uint8_t encode_policy_byte(const Policy &p) noexcept {
  return static_cast<std::uint8_t>(code(p.handshake) | code(p.spa_v4) << 2 | code(p.spa_v6) << 4);
}

Result<Policy> decode_policy_byte(std::uint8_t b, std::string_view field) {
  if (b & 0xc0)
    return TpError{std::string(field), "non-zero reserved bits 6-7 in policy byte 0x" + to_hex(std::span(&b, 1))};
  static constexpr const char *names[] = {"handshake", "SPA IPv4", "SPA IPv6"};
  Level levels[3];
  for (int i = 0; i < 3; ++i) {
    auto l = level_from_code((b >> (2 * i)) & 0x3);
    if (!l) return TpError{std::string(field), std::string(names[i]) + " level uses reserved code 3"};
    levels[i] = *l;
  }
  return Policy{levels[0], levels[1], levels[2]};
}

// ---- client side ----

Result<Bytes> add_policy_support(ByteView client_blob, SpellingSet support) {
  if (support > varint::kMax)
    return TpError{field_name(kTpMigrationPolicySupport), "bitmask does not fit a varint (max 2^62-1)"};
  auto params = parse_params(client_blob);
  if (!params) return params.error();
  erase(*params, kTpMigrationPolicySupport);
  if (support != 0) params->push_back({kTpMigrationPolicySupport, varint_bytes(support)});
  return serialize_params(*params);
}

Result<ClientDecoding> decode_client_params(ByteView blob) {
  auto params = parse_params(blob);
  if (!params) return params.error();
  ClientDecoding out;
  out.params = infos(*params);
  if (auto *p = find(*params, kTpMigrationPolicySupport)) {
    auto v = single_varint(*p);
    if (!v) return v.error();
    out.support = *v;
    out.announced = true;
  }
  return out;
}

Result<SpellingSet> read_policy_support(ByteView client_blob) {
  auto d = decode_client_params(client_blob);
  if (!d) return d.error();
  return d->support;
}

// ---- server side ----

Result<ServerEncoding> encode_server_params(ByteView ngtcp2_blob, const Policy &policy,
                                            std::span<const Spelling> preference, SpellingSet client_support) {
  auto parsed = parse_params(ngtcp2_blob);
  if (!parsed) return parsed.error();
  auto &params = *parsed;
  erase(params, kTpDisableActiveMigration);
  erase(params, kTpMigrationPolicySupport);
  erase(params, kTpAddressMigrationPolicy);

  std::optional<PreferredAddress> pa;
  auto pa_it =
      std::find_if(params.begin(), params.end(), [](const RawParam &p) { return p.id == kTpPreferredAddress; });
  if (pa_it != params.end()) {
    auto d = decode_preferred_address(pa_it->value, false);
    if (!d) return d.error();
    pa = d->address;
  }

  ServerEncoding out;
  for (auto s : preference)
    if (client_support & static_cast<SpellingSet>(s)) {
      out.spelling = s;
      break;
    }

  auto adjust = [&](ServerAddress where, Level wanted, Level expressed, std::string why) {
    if (wanted != expressed) out.adjustments.push_back({where, wanted, expressed, std::move(why)});
  };
  // 0x0c alone says "handshake address restricted"; it cannot tell same-ip from none.
  auto dam_level = policy.handshake == Level::any ? Level::any : Level::none;
  auto zero_length_dam = [&] {
    if (policy.handshake != Level::any) params.push_back({kTpDisableActiveMigration, {}});
    adjust(ServerAddress::handshake, policy.handshake, dam_level,
           "a zero-length disable_active_migration cannot say same-ip");
  };

  out.expressed = policy;
  if (!out.spelling) {
    zero_length_dam();
    out.expressed = Policy{dam_level, Level::any, Level::any};
    if (pa) {
      // RFC 9000 §18.2: 0x0c does not apply after the move; a legacy client cannot learn more.
      if (pa->ipv4_present())
        adjust(ServerAddress::spa_v4, policy.spa_v4, Level::any,
               "legacy RFC 9000 client: preferred-address levels cannot travel; the gate enforces them");
      if (pa->ipv6_present())
        adjust(ServerAddress::spa_v6, policy.spa_v6, Level::any,
               "legacy RFC 9000 client: preferred-address levels cannot travel; the gate enforces them");
    }
    out.wire = serialize_params(params);
    return out;
  }

  switch (*out.spelling) {
    case Spelling::ext:
      zero_length_dam();
      out.expressed.handshake = policy.handshake;  // 0x2d51 carries the exact level
      out.adjustments.clear();
      params.push_back({kTpAddressMigrationPolicy, {encode_policy_byte(policy)}});
      break;
    case Spelling::dam_values:
      if (auto b = encode_policy_byte(policy); b != 0) params.push_back({kTpDisableActiveMigration, {b}});
      break;
    case Spelling::pr3898: {
      zero_length_dam();
      out.expressed.handshake = dam_level;
      Level dm = Level::any;
      if (pa) {
        // One Disable Migration field for both preferred addresses: the stricter of those offered.
        if (pa->ipv4_present()) dm = stricter(dm, policy.spa_v4);
        if (pa->ipv6_present()) dm = stricter(dm, policy.spa_v6);
        if (pa->ipv4_present())
          adjust(ServerAddress::spa_v4, policy.spa_v4, dm, "pr3898 has one level for both preferred addresses");
        if (pa->ipv6_present())
          adjust(ServerAddress::spa_v6, policy.spa_v6, dm, "pr3898 has one level for both preferred addresses");
        pa_it =
            std::find_if(params.begin(), params.end(), [](const RawParam &p) { return p.id == kTpPreferredAddress; });
        pa_it->value = encode_preferred_address(*pa, dm);
        out.expressed.spa_v4 = out.expressed.spa_v6 = dm;
      } else {
        out.expressed.spa_v4 = out.expressed.spa_v6 = Level::any;  // nothing to carry them
      }
      break;
    }
  }
  params.push_back({kTpMigrationPolicySupport, varint_bytes(static_cast<SpellingSet>(*out.spelling))});
  out.wire = serialize_params(params);
  return out;
}

// ---- client side, receiving ----

Result<ServerDecoding> decode_server_params(ByteView wire, SpellingSet announced) {
  auto parsed = parse_params(wire);
  if (!parsed) return parsed.error();
  auto &params = *parsed;
  ServerDecoding out;
  out.params = infos(params);

  if (auto *p = find(params, kTpMigrationPolicySupport)) {
    auto v = single_varint(*p);
    if (!v) return v.error();
    if (std::popcount(*v) != 1 || (*v & ~kAllSpellings))
      return error(p->id, "server echo must have exactly one known spelling bit set, got " + std::to_string(*v));
    if (!(*v & announced))
      return error(p->id, "server echoed spelling " + std::string(to_string(static_cast<Spelling>(*v))) +
                              " that the client did not announce");
    out.echoed = *v;
    out.spelling = static_cast<Spelling>(*v);
  }
  const RawParam *ext = find(params, kTpAddressMigrationPolicy);
  if (ext && !out.spelling) out.spelling = Spelling::ext;  // 0x2d51 describes itself
  if (ext && out.spelling != Spelling::ext)
    return error(ext->id, "present although the server echoed " + std::string(to_string(out.spelling)));

  const RawParam *dam = find(params, kTpDisableActiveMigration);
  out.disable_active_migration = dam != nullptr;
  if (dam) {
    auto want = out.spelling == Spelling::dam_values ? 1u : 0u;
    if (dam->value.size() != want)
      return error(dam->id, "wrong length " + std::to_string(dam->value.size()) + ", expected " + std::to_string(want) +
                                " in " + std::string(to_string(out.spelling)) + " spelling");
  }

  std::optional<Level> dm;
  if (auto *p = find(params, kTpPreferredAddress)) {
    auto d = decode_preferred_address(p->value, out.spelling == Spelling::pr3898);
    if (!d) return d.error();
    out.preferred_address = d->address;
    dm = d->disable_migration;
  }

  const Level dam_level = dam ? Level::none : Level::any;
  if (!out.spelling) {
    out.policy = Policy{dam_level, Level::any, Level::any};
  } else {
    switch (*out.spelling) {
      case Spelling::pr3898: {
        auto l = dm.value_or(Level::any);
        out.policy = Policy{dam_level, l, l};
        break;
      }
      case Spelling::dam_values: {
        if (!dam) break;  // all any
        auto pol = decode_policy_byte(dam->value[0], field_name(kTpDisableActiveMigration));
        if (!pol) return pol.error();
        out.policy = *pol;
        break;
      }
      case Spelling::ext: {
        if (!ext) return error(kTpAddressMigrationPolicy, "missing although the server echoed ext");
        if (ext->value.size() != 1)
          return error(ext->id, "wrong length " + std::to_string(ext->value.size()) + ", expected 1");
        auto pol = decode_policy_byte(ext->value[0], field_name(kTpAddressMigrationPolicy));
        if (!pol) return pol.error();
        if ((pol->handshake != Level::any) != (dam != nullptr))
          return error(ext->id, "handshake level " + std::string(to_string(pol->handshake)) +
                                    (dam ? " contradicts" : " needs") + " disable_active_migration");
        out.policy = *pol;
        break;
      }
    }
  }

  std::vector<RawParam> view;
  for (auto &p : params) {
    if (p.id == kTpDisableActiveMigration || p.id == kTpMigrationPolicySupport || p.id == kTpAddressMigrationPolicy)
      continue;
    if (p.id == kTpPreferredAddress) {
      view.push_back({p.id, encode_preferred_address(*out.preferred_address)});
      continue;
    }
    view.push_back(p);
  }
  out.standard_view = serialize_params(view);
  return out;
}

}  // namespace qamp
