#include "qamp/admission.h"

#include <ngtcp2/ngtcp2.h>

namespace qamp {

std::string_view to_string(RetryMode mode) noexcept {
  switch (mode) {
    case RetryMode::off: return "off";
    case RetryMode::on: return "on";
    case RetryMode::automatic: return "auto";
  }
  return "?";
}

std::optional<RetryMode> parse_retry_mode(std::string_view text) noexcept {
  for (auto m : {RetryMode::off, RetryMode::on, RetryMode::automatic})
    if (text == to_string(m)) return m;
  return std::nullopt;
}

std::string_view to_string(TokenVerdict verdict) noexcept {
  switch (verdict) {
    case TokenVerdict::none: return "none";
    case TokenVerdict::valid: return "valid";
    case TokenVerdict::invalid: return "invalid";
  }
  return "?";
}

std::string_view to_string(AdmissionAction action) noexcept {
  switch (action) {
    case AdmissionAction::accept: return "accept";
    case AdmissionAction::retry: return "retry";
    case AdmissionAction::refuse: return "refuse";
  }
  return "?";
}

std::string_view to_string(AdmissionReason reason) noexcept {
  switch (reason) {
    case AdmissionReason::accept_unvalidated: return "accept-unvalidated";
    case AdmissionReason::accept_validated: return "accept-validated";
    case AdmissionReason::retry_required: return "retry-required";
    case AdmissionReason::retry_above_threshold: return "retry-above-threshold";
    case AdmissionReason::refuse_max_connections: return "refuse-max-connections";
    case AdmissionReason::refuse_max_half_open: return "refuse-max-half-open";
    case AdmissionReason::refuse_invalid_token: return "refuse-invalid-token";
  }
  return "?";
}

AdmissionDecision admit(const AdmissionConfig &c, const AdmissionInput &in) noexcept {
  using A = AdmissionAction;
  using R = AdmissionReason;
  if (in.token == TokenVerdict::invalid) return {A::refuse, R::refuse_invalid_token};
  if (in.connections >= c.max_connections) return {A::refuse, R::refuse_max_connections};
  if (in.half_open >= c.max_half_open) return {A::refuse, R::refuse_max_half_open};
  if (in.token == TokenVerdict::valid) return {A::accept, R::accept_validated};
  if (c.retry == RetryMode::on) return {A::retry, R::retry_required};
  if (c.retry == RetryMode::automatic && in.half_open >= c.retry_threshold) return {A::retry, R::retry_above_threshold};
  return {A::accept, R::accept_unvalidated};
}

std::string_view to_string(DatagramClass c) noexcept {
  switch (c) {
    case DatagramClass::drop_undecodable: return "drop-undecodable";
    case DatagramClass::version_negotiation: return "version-negotiation";
    case DatagramClass::known_connection: return "known-connection";
    case DatagramClass::unknown_short_header: return "unknown-short-header";
    case DatagramClass::new_initial: return "new-initial";
    case DatagramClass::drop_unknown_long_header: return "drop-unknown-long-header";
  }
  return "?";
}

Classified classify_datagram(std::span<const std::uint8_t> d, std::size_t scid_len,
                             const std::function<bool(std::span<const std::uint8_t>)> &is_known) {
  Classified out;
  if (d.empty()) return out;
  ngtcp2_version_cid vc;
  int rv = ngtcp2_pkt_decode_version_cid(&vc, d.data(), d.size(), scid_len);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    out.kind = DatagramClass::version_negotiation;
    out.dcid = {vc.dcid, vc.dcidlen};
    return out;
  }
  if (rv != 0) return out;
  out.dcid = {vc.dcid, vc.dcidlen};
  if (is_known && is_known(out.dcid)) {
    out.kind = DatagramClass::known_connection;
    return out;
  }
  if (!(d[0] & 0x80)) {
    out.kind = DatagramClass::unknown_short_header;
    return out;
  }
  ngtcp2_pkt_hd hd;
  out.kind = ngtcp2_accept(&hd, d.data(), d.size()) == 0 ? DatagramClass::new_initial
                                                         : DatagramClass::drop_unknown_long_header;
  return out;
}

}  // namespace qamp
