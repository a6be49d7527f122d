// examples/tp/server_tps.h — a server's transport parameters in one spelling, and what stock
// ngtcp2 (an unmodified RFC 9000 peer) makes of them.
#pragma once

#include <optional>
#include <string>

#include "qamp/tp_codec.h"

namespace qamp::tp {

// nullopt stands for "rfc9000": a client that announced no spelling.
using SpellingChoice = std::optional<qamp::Spelling>;

// What a client that announced `choice` puts in its 0x2d50 (0 for rfc9000).
qamp::SpellingSet announced(SpellingChoice choice) noexcept;

// encode_server_params for a client that announced exactly `choice` (the server's preference is
// that one spelling, so the server answers in it).
qamp::Result<qamp::ServerEncoding> encode_for(qamp::ByteView ngtcp2_blob, const qamp::Policy &policy,
                                              SpellingChoice choice);

// A complete server blob encoded by ngtcp2_transport_params_encode, as qamp's server runs it
// (disable_active_migration off, DESIGN.md §4): original_dcid, initial_scid, a stateless reset
// token, flow-control limits and, when given, the preferred address.
qamp::Bytes ngtcp2_server_blob(const std::optional<qamp::PreferredAddress> &preferred_address);

// ngtcp2_transport_params_decode's verdict on `blob`: "" when accepted, else its error
// (ngtcp2_strerror, e.g. "ERR_MALFORMED_TRANSPORT_PARAM").
std::string ngtcp2_rejects(qamp::ByteView blob);

// The qamp-relevant TPs of `blob` (0x0c, 0x0d, 0x2d50, 0x2d51) in ascending id order.
qamp::Result<std::vector<qamp::RawParam>> qamp_params(qamp::ByteView blob);

// encode_for, and the qamp-relevant TPs of the wire it produced (what encode and compare print).
struct EncodedParams {
  qamp::ServerEncoding encoding;
  std::vector<qamp::RawParam> params;
};
qamp::Result<EncodedParams> encode_and_list(qamp::ByteView ngtcp2_blob, const qamp::Policy &policy,
                                            SpellingChoice choice);

}  // namespace qamp::tp
