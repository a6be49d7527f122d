#include "qamp/reset_recognizer.h"

namespace qamp {

std::string_view to_string(ResetRecognition recognition) noexcept {
  switch (recognition) {
    case ResetRecognition::reset: return "reset";
    case ResetRecognition::long_header: return "long-header";
    case ResetRecognition::too_short: return "too-short";
    case ResetRecognition::no_token_match: return "no-token-match";
  }
  return "?";
}

ResetRecognition recognize_stateless_reset(std::span<const std::uint8_t> datagram,
                                           std::span<const ResetToken> peer_tokens) noexcept {
  if (!datagram.empty() && (datagram[0] & 0x80)) return ResetRecognition::long_header;
  if (datagram.size() < kMinStatelessResetLen) return ResetRecognition::too_short;
  const auto tail = datagram.last(NGTCP2_STATELESS_RESET_TOKENLEN);
  bool match = false;
  for (const auto &token : peer_tokens) {
    // OR of the XORs: no early exit, so the time does not depend on where the bytes differ.
    std::uint8_t diff = 0;
    for (std::size_t i = 0; i < token.size(); ++i) diff |= static_cast<std::uint8_t>(token[i] ^ tail[i]);
    match |= diff == 0;
  }
  return match ? ResetRecognition::reset : ResetRecognition::no_token_match;
}

}  // namespace qamp
