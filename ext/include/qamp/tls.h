// qamp/tls.h — GnuTLS session set-up that owns the quic_transport_parameters extension
// (DESIGN.md §4). Drop-in replacements for ngtcp2_crypto_gnutls_configure_{server,client}_session.
//
// With GnuTLS the application registers TLS extension 0x39 itself; these functions register it
// with qamp's send/receive functions (and the same secret / read / alert functions ngtcp2's
// helper installs, written against ngtcp2's public crypto API), so qamp sees every
// transport-parameter blob:
//   server send:    ngtcp2_conn_encode_local_transport_params -> encode_server_params -> wire
//   client send:    ngtcp2's encoding + migration_policy_support (0x2d50)
//   client receive: decode_server_params -> standard view -> ngtcp2_conn_decode_and_set_remote_...
// so the wire carries the policy while ngtcp2 sees the permissive view (no 0x0c).
//
// Requirements, as for ngtcp2's helper: gnutls_session_set_ptr(session, ngtcp2_crypto_conn_ref*)
// and ngtcp2_conn_set_tls_native_handle(conn, session). A malformed parameter makes the handshake
// fail with NGTCP2_ERR_TRANSPORT_PARAM set via ngtcp2_conn_set_tls_error, which ngtcp2's
// ngtcp2_ccerr_set_liberr maps to TRANSPORT_PARAMETER_ERROR (RFC 9000 §7.4).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gnutls/gnutls.h>

#include "qamp/policy.h"
#include "qamp/tp_codec.h"

namespace qamp {

struct ServerTpConfig {
  Policy policy;
  std::vector<Spelling> preference{kDefaultSpellingPreference.begin(), kDefaultSpellingPreference.end()};
  // Called once per handshake with what was negotiated (for logs / qlog / stats).
  std::function<void(const struct ServerTpState &)> on_negotiated;
  // Interop/test hook: rewrites the outgoing blob after encoding (e.g. to send a malformed
  // parameter on purpose). Unset in normal use.
  std::function<void(Bytes &)> tamper_outgoing;
};

struct ServerTpState {
  SpellingSet client_support = 0;  // the client's 0x2d50 (0: legacy RFC 9000 client)
  bool client_announced = false;
  std::optional<ServerEncoding> encoding;  // set once the server's parameters were sent
  std::optional<TpError> error;            // a malformed client parameter, if any
};

// Returns 0, or a negative GnuTLS error code. `config` is copied.
int configure_server_session(gnutls_session_t session, const ServerTpConfig &config);
// The per-session state, or nullptr when the session was not configured by qamp.
const ServerTpState *server_tp_state(gnutls_session_t session);

struct ClientTpConfig {
  SpellingSet support = kAllSpellings;  // 0 behaves as a legacy RFC 9000 client
  std::function<void(const struct ClientTpState &)> on_received;
  std::function<void(Bytes &)> tamper_outgoing;  // as ServerTpConfig::tamper_outgoing
};

struct ClientTpState {
  SpellingSet announced = 0;
  std::optional<ServerDecoding> server;  // the server's policy, spelling and preferred address
  std::optional<TpError> error;          // why the server's parameters were rejected
};

int configure_client_session(gnutls_session_t session, const ClientTpConfig &config);
const ClientTpState *client_tp_state(gnutls_session_t session);

// RFC 9001 §8.2: a ClientHello without quic_transport_parameters (0x39) must be refused with a
// missing_extension alert. GnuTLS would complete such a handshake and ngtcp2 1.11 then aborts
// (conn_write_pkt asserts negotiated_version, which only the client's parameters set). Installs
// a ClientHello hook (gnutls_handshake_set_hook_function, before the message is processed) that
// looks for 0x39; without it the hook calls ngtcp2_conn_set_tls_alert(conn, 109) and fails the
// handshake with GNUTLS_E_MISSING_EXTENSION, so ngtcp2_conn_read_pkt returns NGTCP2_ERR_CRYPTO
// and the server's CONNECTION_CLOSE carries CRYPTO_ERROR 0x16d. An unparseable ClientHello
// fails with GNUTLS_E_UNEXPECTED_PACKET_LENGTH (decode_error, 0x132).
// Works with either glue (configure_server_session or ngtcp2_crypto_gnutls_configure_server_
// session): call it after either, with the same requirements (session ptr = conn_ref). It
// replaces any hook set before. Returns 0.
int require_transport_params_extension(gnutls_session_t session);

}  // namespace qamp
