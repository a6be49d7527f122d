// qamp/reset_recognizer.h — the client's side of a Stateless Reset (RFC 9000 §10.3): is this
// datagram one? The server's side (whether to send one) is reset_guard.h.
//
// Pure: the caller hands in the datagram and the reset tokens the peer issued with its
// connection IDs (ngtcp2_conn_get_active_dcid); no socket, no ngtcp2_conn.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include <ngtcp2/ngtcp2.h>

#include "qamp/reset_guard.h"  // kMinStatelessResetLen: one minimum for both sides

namespace qamp {

using ResetToken = std::array<std::uint8_t, NGTCP2_STATELESS_RESET_TOKENLEN>;

enum class ResetRecognition : std::uint8_t {
  reset,           // short header, long enough, ends in one of the tokens
  long_header,     // the first bit is set: a long-header packet is never a reset (§10.3)
  too_short,       // fewer than kMinStatelessResetLen (21) octets: cannot carry a reset (§10.3)
  no_token_match,  // ends in none of the peer's tokens: an ordinary (or undecryptable) packet
};
// "reset", "long-header", "too-short", "no-token-match".
std::string_view to_string(ResetRecognition recognition) noexcept;

// RFC 9000 §10.3: a datagram is a Stateless Reset when it is a short-header packet of at least
// 21 octets whose last 16 octets equal a stateless reset token the peer issued. Every token is
// compared in constant time (§10.3.1: the comparison must not leak the token through timing),
// and all of them are compared whatever the first one says.
ResetRecognition recognize_stateless_reset(std::span<const std::uint8_t> datagram,
                                           std::span<const ResetToken> peer_tokens) noexcept;

}  // namespace qamp
