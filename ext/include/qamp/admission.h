// qamp/admission.h — the server dispatcher's decisions before ngtcp2 sees a datagram (issue 10
// items 2 and 13): what a datagram is (classify_datagram) and whether a new client Initial may
// create a connection (admit).
//
// Half-open connections (handshake not completed) cost a TLS handshake and ~60 kB each and can
// be created from spoofed addresses, so they are capped, and Retry (RFC 9000 §8.1.2) makes a
// client prove its address before it costs anything: a Retry is smaller than the Initial that
// caused it, carries no state, and its token binds the client address and original DCID.
//
// Pure decision logic: counts and verdicts in, a decision with its reason out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

namespace qamp {

enum class RetryMode : std::uint8_t {
  off,        // never send Retry
  on,         // every new Initial without a valid Retry token gets a Retry
  automatic,  // "auto": Retry only while half-open connections >= retry_threshold
};
std::string_view to_string(RetryMode mode) noexcept;  // "off", "on", "auto"
std::optional<RetryMode> parse_retry_mode(std::string_view text) noexcept;

struct AdmissionConfig {
  RetryMode retry = RetryMode::automatic;
  std::size_t retry_threshold = 64;    // auto: half-open count from which Retry is required
  std::size_t max_connections = 4096;  // all live connections (0: refuse every new one)
  std::size_t max_half_open = 1024;    // connections whose handshake has not completed
};

// What the new Initial's token says (the caller verifies it with
// ngtcp2_crypto_verify_retry_token against its static secret, the client address and the DCID).
enum class TokenVerdict : std::uint8_t {
  none,     // no token, or one this server did not issue (not a Retry token)
  valid,    // a Retry token of ours for this address and DCID, not expired
  invalid,  // a Retry token that fails verification (forged, expired, other address)
};
std::string_view to_string(TokenVerdict verdict) noexcept;  // "none", "valid", "invalid"

struct AdmissionInput {
  std::size_t connections = 0;  // live connections now
  std::size_t half_open = 0;    // of which not handshake-completed
  TokenVerdict token = TokenVerdict::none;
};

enum class AdmissionAction : std::uint8_t { accept, retry, refuse };
std::string_view to_string(AdmissionAction action) noexcept;  // "accept", "retry", "refuse"

enum class AdmissionReason : std::uint8_t {
  accept_unvalidated,      // under every cap, Retry not required
  accept_validated,        // a valid Retry token: the address is proven
  retry_required,          // --retry=on
  retry_above_threshold,   // --retry=auto with half_open >= retry_threshold
  refuse_max_connections,  // connections >= max_connections (even with a valid token)
  refuse_max_half_open,    // half_open >= max_half_open (even with a valid token)
  refuse_invalid_token,    // RFC 9000 §8.1.2: an invalid Retry token is not retried again
};
std::string_view to_string(AdmissionReason reason) noexcept;  // e.g. "refuse-max-half-open"

struct AdmissionDecision {
  AdmissionAction action;
  AdmissionReason reason;
  friend bool operator==(const AdmissionDecision &, const AdmissionDecision &) = default;
};

// Order: an invalid token is refused first (it can only come from a forger or a stale client);
// then the caps, which bound memory whatever the token says; then a valid token is accepted;
// then Retry per mode; else accept. Refusal is a silent drop by the caller (see README,
// "Security and robustness": no per-packet crypto and no reflection towards a spoofed source).
AdmissionDecision admit(const AdmissionConfig &config, const AdmissionInput &input) noexcept;

// The pre-ngtcp2 classification of one datagram on a server socket (RFC 9000 §5.2.2, §6, §10.3).
enum class DatagramClass : std::uint8_t {
  drop_undecodable,          // no header ngtcp2 can decode
  version_negotiation,       // long header with an unsupported version: answer with VN
  known_connection,          // DCID of a live connection: hand it to that connection
  unknown_short_header,      // short header, unknown DCID: the reset guard decides
  new_initial,               // a client Initial (ngtcp2_accept): admission decides
  drop_unknown_long_header,  // long header, unknown DCID, not an acceptable Initial
};
std::string_view to_string(DatagramClass c) noexcept;

struct Classified {
  DatagramClass kind = DatagramClass::drop_undecodable;
  std::span<const std::uint8_t> dcid;  // into the datagram; empty when undecodable
};

// `scid_len`: the length of the CIDs this server issues (short headers carry no length).
// `is_known(dcid)`: whether a live connection owns the DCID. Never reads outside `datagram`.
Classified classify_datagram(std::span<const std::uint8_t> datagram, std::size_t scid_len,
                             const std::function<bool(std::span<const std::uint8_t>)> &is_known);

}  // namespace qamp
