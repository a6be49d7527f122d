#include "qamp/quic_lb.h"

#include <nettle/aes.h>

#include <algorithm>
#include <string>

namespace qamp {

namespace {

TpError config_error(std::string field, std::string reason) { return TpError{std::move(field), std::move(reason)}; }

// The two halves of a body of `len` octets (§5.4.2 step 2): `half` = ceil(len / 2) octets each;
// for an odd length the middle octet is split, its low nibble cleared in the left half and its
// high nibble cleared in the right half.
struct Halves {
  std::array<std::uint8_t, 10> left{}, right{};
};

Halves split(std::span<const std::uint8_t> body) {
  const std::size_t len = body.size(), half = (len + 1) / 2;
  Halves h;
  std::copy_n(body.begin(), half, h.left.begin());
  std::copy_n(body.begin() + static_cast<std::ptrdiff_t>(len - half), half, h.right.begin());
  if (len % 2) {
    h.left[half - 1] &= 0xf0;
    h.right[0] &= 0x0f;
  }
  return h;
}

// The inverse of split (step 12): an odd length shares the middle octet's nibbles.
void join(const Halves &h, std::span<std::uint8_t> body) {
  const std::size_t len = body.size(), half = (len + 1) / 2;
  std::copy_n(h.left.begin(), half, body.begin());
  for (std::size_t i = 0; i < half; ++i) body[len - half + i] |= h.right[i];  // body is zeroed
}

}  // namespace

Result<QuicLbConfig> make_quic_lb_config(unsigned config_rotation, unsigned server_id_len, unsigned nonce_len,
                                         bool self_encode_length, std::optional<std::span<const std::uint8_t>> key) {
  if (config_rotation == kQuicLbUnroutable)
    return config_error("config_rotation", "7 (0b111) is reserved for unroutable CIDs (use 0..6)");
  if (config_rotation > 6) return config_error("config_rotation", "must be 0..6");
  if (server_id_len < 1 || server_id_len > 15) return config_error("server_id_len", "must be 1..15 octets");
  if (nonce_len < 4 || nonce_len > 18) return config_error("nonce_len", "must be 4..18 octets");
  if (server_id_len + nonce_len > kQuicLbMaxBody)
    return config_error("server_id_len", "server ID and nonce must sum to at most 19 octets (" +
                                             std::to_string(server_id_len + nonce_len) + ")");
  QuicLbConfig c;
  c.config_rotation = static_cast<std::uint8_t>(config_rotation);
  c.server_id_len = static_cast<std::uint8_t>(server_id_len);
  c.nonce_len = static_cast<std::uint8_t>(nonce_len);
  c.self_encode_length = self_encode_length;
  if (key) {
    if (key->size() != kQuicLbKeyLen)
      return config_error("key", "must be 16 octets (AES-128), got " + std::to_string(key->size()));
    c.key.emplace();
    std::copy(key->begin(), key->end(), c.key->begin());
  }
  return c;
}

struct QuicLbCodec::Schedule {
  aes128_ctx encrypt;
  aes128_ctx decrypt;  // only the single-pass case decrypts; the Feistel rounds only encrypt
};

QuicLbCodec::QuicLbCodec(QuicLbConfig config) : config_(config) {
  if (!config_.key) return;
  auto schedule = std::make_shared<Schedule>();
  aes128_set_encrypt_key(&schedule->encrypt, config_.key->data());
  aes128_invert_key(&schedule->decrypt, &schedule->encrypt);
  schedule_ = std::move(schedule);
}

QuicLbCodec::QuicLbCodec(const QuicLbCodec &other) = default;
QuicLbCodec::QuicLbCodec(QuicLbCodec &&other) noexcept = default;
QuicLbCodec &QuicLbCodec::operator=(const QuicLbCodec &other) = default;
QuicLbCodec &QuicLbCodec::operator=(QuicLbCodec &&other) noexcept = default;
QuicLbCodec::~QuicLbCodec() = default;

void QuicLbCodec::encrypt_block(const std::uint8_t in[16], std::uint8_t out[16]) const {
  aes128_encrypt(&schedule_->encrypt, 16, out, in);
}

void QuicLbCodec::decrypt_block(const std::uint8_t in[16], std::uint8_t out[16]) const {
  aes128_decrypt(&schedule_->decrypt, 16, out, in);
}

// §5.4.2: four rounds; round i XORs truncate(AES(expand(len, i, other half)), half) into one
// half. Encryption runs passes 1..4, decryption 4..1; after each the shared nibble is cleared.
void QuicLbCodec::feistel(std::span<std::uint8_t> body, bool decrypt) const {
  const std::size_t len = body.size(), half = (len + 1) / 2;
  const bool odd = len % 2;
  Halves h = split(body);
  auto round = [&](std::uint8_t pass) {
    // Odd passes read the left half and change the right one; even passes the reverse.
    const bool into_right = pass % 2 == 1;
    auto &from = into_right ? h.left : h.right;
    auto &into = into_right ? h.right : h.left;
    std::uint8_t block[16] = {}, result[16];
    std::copy_n(from.begin(), half, block);  // expand(): input || zero pad || len || pass
    block[14] = static_cast<std::uint8_t>(len);
    block[15] = pass;
    encrypt_block(block, result);
    for (std::size_t i = 0; i < half; ++i) into[i] ^= result[i];
    if (odd) {
      if (into_right)
        into[0] &= 0x0f;
      else
        into[half - 1] &= 0xf0;
    }
  };
  if (decrypt) {
    for (std::uint8_t pass = 4; pass >= 1; --pass) round(pass);
  } else {
    for (std::uint8_t pass = 1; pass <= 4; ++pass) round(pass);
  }
  std::fill(body.begin(), body.end(), std::uint8_t{0});
  join(h, body);
}

Result<std::vector<std::uint8_t>> QuicLbCodec::encode(std::span<const std::uint8_t> server_id,
                                                      std::span<const std::uint8_t> nonce,
                                                      std::uint8_t first_octet_random) const {
  if (server_id.size() != config_.server_id_len)
    return config_error("server_id", "needs " + std::to_string(config_.server_id_len) + " octets, got " +
                                         std::to_string(server_id.size()));
  if (nonce.size() != config_.nonce_len)
    return config_error("nonce",
                        "needs " + std::to_string(config_.nonce_len) + " octets, got " + std::to_string(nonce.size()));
  std::vector<std::uint8_t> cid(config_.cid_len());
  const auto low5 = config_.self_encode_length ? static_cast<std::uint8_t>(config_.body_len())
                                               : static_cast<std::uint8_t>(first_octet_random & 0x1f);
  cid[0] = static_cast<std::uint8_t>(config_.config_rotation << 5 | low5);
  std::copy(server_id.begin(), server_id.end(), cid.begin() + 1);
  std::copy(nonce.begin(), nonce.end(), cid.begin() + 1 + static_cast<std::ptrdiff_t>(server_id.size()));
  if (!schedule_) return cid;
  std::span<std::uint8_t> body(cid.data() + 1, config_.body_len());
  if (body.size() == 16) {
    std::uint8_t in[16];
    std::copy(body.begin(), body.end(), in);
    encrypt_block(in, body.data());  // §5.4.1: exactly one AES-ECB block
  } else {
    feistel(body, false);
  }
  return cid;
}

void QuicLbCodec::open(std::span<const std::uint8_t> cid, std::span<std::uint8_t> body) const {
  std::copy_n(cid.begin() + 1, body.size(), body.begin());
  if (!schedule_) return;
  if (body.size() == 16) {
    std::uint8_t in[16];
    std::copy(body.begin(), body.end(), in);
    decrypt_block(in, body.data());
  } else {
    feistel(body, true);
  }
}

Result<QuicLbPlaintext> QuicLbCodec::decode(std::span<const std::uint8_t> cid) const {
  if (cid.size() < config_.cid_len())
    return config_error(
        "cid", "needs at least " + std::to_string(config_.cid_len()) + " octets, got " + std::to_string(cid.size()));
  const auto cr = static_cast<std::uint8_t>(cid[0] >> 5);
  if (cr != config_.config_rotation)
    return config_error("cid", "config rotation " + std::to_string(cr) + " is not this configuration's " +
                                   std::to_string(config_.config_rotation));
  std::array<std::uint8_t, kQuicLbMaxBody> buf;
  const std::span<std::uint8_t> body(buf.data(), config_.body_len());
  open(cid, body);
  QuicLbPlaintext p;
  p.config_rotation = cr;
  p.server_id.assign(body.begin(), body.begin() + config_.server_id_len);
  p.nonce.assign(body.begin() + config_.server_id_len, body.end());
  return p;
}

std::optional<QuicLbServerId> QuicLbCodec::server_id_of(std::span<const std::uint8_t> cid) const noexcept {
  if (cid.size() < config_.cid_len() || cid[0] >> 5 != config_.config_rotation) return std::nullopt;
  std::array<std::uint8_t, kQuicLbMaxBody> buf;
  const std::span<std::uint8_t> body(buf.data(), config_.body_len());
  open(cid, body);
  QuicLbServerId id;
  id.len = config_.server_id_len;
  std::copy_n(body.begin(), id.len, id.octets.begin());
  return id;
}

std::string_view to_string(QuicLbRoute route) noexcept {
  switch (route) {
    case QuicLbRoute::routed: return "routed";
    case QuicLbRoute::unroutable: return "unroutable";
    case QuicLbRoute::no_config: return "no-config";
    case QuicLbRoute::too_short: return "too-short";
  }
  return "?";
}

QuicLbRouting route_cid(std::span<const QuicLbCodec> configs, std::span<const std::uint8_t> cid) {
  QuicLbRouting r;
  if (cid.empty()) return r;
  r.config_rotation = static_cast<std::uint8_t>(cid[0] >> 5);
  if (r.config_rotation == kQuicLbUnroutable) {
    r.route = QuicLbRoute::unroutable;
    return r;
  }
  auto codec = std::find_if(configs.begin(), configs.end(),
                            [&](const QuicLbCodec &c) { return c.config().config_rotation == r.config_rotation; });
  if (codec == configs.end()) {
    r.route = QuicLbRoute::no_config;
    return r;
  }
  auto plain = codec->decode(cid);
  if (!plain) return r;  // the only other error is the length: too_short
  r.route = QuicLbRoute::routed;
  r.server_id = std::move(plain->server_id);
  return r;
}

QuicLbCidGenerator::QuicLbCidGenerator(QuicLbCodec codec, std::vector<std::uint8_t> server_id, RandomFill random)
    : codec_(std::move(codec)), server_id_(std::move(server_id)), random_(std::move(random)) {
  if (!codec_.config().key) return;  // unkeyed: every nonce is drawn fresh
  counter_.resize(codec_.config().nonce_len);
  random_(counter_);  // §10: start the counter at a random value
  const unsigned bits = 8u * codec_.config().nonce_len;
  capacity_ = bits >= 64 ? UINT64_MAX : std::uint64_t{1} << bits;
}

Result<QuicLbCidGenerator> QuicLbCidGenerator::create(QuicLbCodec codec, std::vector<std::uint8_t> server_id,
                                                      RandomFill random) {
  if (server_id.size() != codec.config().server_id_len)
    return config_error("server_id", "needs " + std::to_string(codec.config().server_id_len) + " octets, got " +
                                         std::to_string(server_id.size()));
  return QuicLbCidGenerator(std::move(codec), std::move(server_id), std::move(random));
}

Result<std::vector<std::uint8_t>> QuicLbCidGenerator::next() {
  std::uint8_t first_random = 0;
  if (!codec_.config().self_encode_length) random_(std::span(&first_random, 1));
  std::vector<std::uint8_t> nonce;
  if (codec_.config().key) {
    if (issued_ >= capacity_)
      return config_error("nonce", "counter exhausted after " + std::to_string(issued_) +
                                       " CIDs: the server needs a new configuration");
    nonce = counter_;
    for (auto i = counter_.size(); i-- > 0;)  // big-endian increment, wrapping: values repeat
      if (++counter_[i] != 0) break;          // only after capacity_ of them
  } else {
    nonce.resize(codec_.config().nonce_len);
    random_(nonce);
  }
  auto cid = codec_.encode(server_id_, nonce, first_random);
  if (cid) ++issued_;
  return cid;
}

Result<std::vector<std::uint8_t>> unroutable_cid(std::size_t len, const RandomFill &random) {
  if (len < kServerWithoutConfig.min_cid_len || len > 20)
    return config_error("len", "an unroutable CID needs 8..20 octets, got " + std::to_string(len));
  std::vector<std::uint8_t> cid(len);
  random(std::span(cid).subspan(1));
  cid[0] = static_cast<std::uint8_t>(kQuicLbUnroutable << 5 | (len - 1));
  return cid;
}

std::optional<QuicLbServerId> make_quic_lb_server_id(std::span<const std::uint8_t> id) noexcept {
  if (id.empty() || id.size() > kQuicLbMaxServerIdLen) return std::nullopt;
  QuicLbServerId out;
  out.len = static_cast<std::uint8_t>(id.size());
  std::copy(id.begin(), id.end(), out.octets.begin());
  return out;
}

}  // namespace qamp
