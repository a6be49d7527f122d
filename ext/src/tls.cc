#include "qamp/tls.h"

#include <array>
#include <exception>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace qamp {

namespace {

constexpr unsigned kTpExtension = NGTCP2_TLSEXT_QUIC_TRANSPORT_PARAMETERS_V1;
constexpr std::size_t kMaxTpLen = 4096;

// Per-session state lives in GnuTLS's extension private data for 0x39, freed by GnuTLS.
struct SessionData {
  bool server;
  ServerTpConfig server_config;
  ServerTpState server_state;
  ClientTpConfig client_config;
  ClientTpState client_state;
};

SessionData *data_of(gnutls_session_t session) {
  gnutls_ext_priv_data_t p = nullptr;
  if (gnutls_ext_get_data(session, kTpExtension, &p) != 0) return nullptr;
  return static_cast<SessionData *>(p);
}

void free_data(gnutls_ext_priv_data_t p) { delete static_cast<SessionData *>(p); }

ngtcp2_conn *conn_of(gnutls_session_t session) {
  auto *ref = static_cast<ngtcp2_crypto_conn_ref *>(gnutls_session_get_ptr(session));
  return ref->get_conn(ref);
}

// The same job as ngtcp2's helper: install keys, pass handshake bytes, record alerts.
int secret_func(gnutls_session_t session, gnutls_record_encryption_level_t gtls_level, const void *rx_secret,
                const void *tx_secret, size_t secretlen) {
  auto *conn = conn_of(session);
  auto level = ngtcp2_crypto_gnutls_from_gnutls_record_encryption_level(gtls_level);
  if (rx_secret && ngtcp2_crypto_derive_and_install_rx_key(conn, nullptr, nullptr, nullptr, level,
                                                           static_cast<const uint8_t *>(rx_secret), secretlen) != 0)
    return -1;
  if (tx_secret && ngtcp2_crypto_derive_and_install_tx_key(conn, nullptr, nullptr, nullptr, level,
                                                           static_cast<const uint8_t *>(tx_secret), secretlen) != 0)
    return -1;
  return 0;
}

int read_func(gnutls_session_t session, gnutls_record_encryption_level_t gtls_level,
              gnutls_handshake_description_t htype, const void *data, size_t datalen) {
  if (htype == GNUTLS_HANDSHAKE_CHANGE_CIPHER_SPEC) return 0;
  auto *conn = conn_of(session);
  auto level = ngtcp2_crypto_gnutls_from_gnutls_record_encryption_level(gtls_level);
  int rv = ngtcp2_conn_submit_crypto_data(conn, level, static_cast<const uint8_t *>(data), datalen);
  if (rv != 0) {
    ngtcp2_conn_set_tls_error(conn, rv);
    return -1;
  }
  return 0;
}

int alert_read_func(gnutls_session_t session, gnutls_record_encryption_level_t, gnutls_alert_level_t,
                    gnutls_alert_description_t desc) {
  ngtcp2_conn_set_tls_alert(conn_of(session), static_cast<uint8_t>(desc));
  return 0;
}

int append(gnutls_buffer_t extdata, ByteView bytes) {
  return gnutls_buffer_append_data(extdata, bytes.data(), bytes.size()) == 0 ? 0 : -1;
}

// ngtcp2's own encoding of the local parameters (the permissive view), or nullopt.
std::optional<Bytes> local_params(gnutls_session_t session) {
  std::array<uint8_t, kMaxTpLen> buf;
  auto n = ngtcp2_conn_encode_local_transport_params(conn_of(session), buf.data(), buf.size());
  if (n < 0) return std::nullopt;
  return Bytes(buf.begin(), buf.begin() + n);
}

// ---- server ----

int server_tp_recv(gnutls_session_t session, const unsigned char *data, size_t len) noexcept try {
  auto *conn = conn_of(session);
  auto *sd = data_of(session);
  ByteView blob(data, len);
  auto client = decode_client_params(blob);
  if (!client) {
    sd->server_state.error = client.error();
    ngtcp2_conn_set_tls_error(conn, NGTCP2_ERR_TRANSPORT_PARAM);
    return -1;
  }
  sd->server_state.client_support = client->support;
  sd->server_state.client_announced = client->announced;
  // ngtcp2 ignores the unknown 0x2d50: hand it the blob as is.
  int rv = ngtcp2_conn_decode_and_set_remote_transport_params(conn, data, len);
  if (rv != 0) {
    ngtcp2_conn_set_tls_error(conn, rv);
    return -1;
  }
  return 0;
} catch (const std::exception &) {
  return -1;
}

int server_tp_send(gnutls_session_t session, gnutls_buffer_t extdata) noexcept try {
  auto *sd = data_of(session);
  auto local = local_params(session);
  if (!local) return -1;
  auto &cfg = sd->server_config;
  auto enc = encode_server_params(*local, cfg.policy, cfg.preference, sd->server_state.client_support);
  if (!enc) {
    sd->server_state.error = enc.error();
    return -1;
  }
  sd->server_state.encoding = *enc;
  if (cfg.on_negotiated) cfg.on_negotiated(sd->server_state);
  if (cfg.tamper_outgoing) cfg.tamper_outgoing(enc->wire);
  return append(extdata, enc->wire);
} catch (const std::exception &) {
  return -1;
}

// ---- client ----

int client_tp_send(gnutls_session_t session, gnutls_buffer_t extdata) noexcept try {
  auto *sd = data_of(session);
  auto local = local_params(session);
  if (!local) return -1;
  auto blob = add_policy_support(*local, sd->client_config.support);
  if (!blob) return -1;
  sd->client_state.announced = sd->client_config.support;
  if (sd->client_config.tamper_outgoing) sd->client_config.tamper_outgoing(*blob);
  return append(extdata, *blob);
} catch (const std::exception &) {
  return -1;
}

int client_tp_recv(gnutls_session_t session, const unsigned char *data, size_t len) noexcept try {
  auto *conn = conn_of(session);
  auto *sd = data_of(session);
  auto dec = decode_server_params(ByteView(data, len), sd->client_config.support);
  if (!dec) {
    sd->client_state.error = dec.error();
    if (sd->client_config.on_received) sd->client_config.on_received(sd->client_state);
    ngtcp2_conn_set_tls_error(conn, NGTCP2_ERR_TRANSPORT_PARAM);
    return -1;
  }
  sd->client_state.server = *dec;
  if (sd->client_config.on_received) sd->client_config.on_received(sd->client_state);
  // ngtcp2 gets the permissive view: without 0x0c, 0x0d at RFC 9000 length (DESIGN.md §4).
  int rv =
      ngtcp2_conn_decode_and_set_remote_transport_params(conn, dec->standard_view.data(), dec->standard_view.size());
  if (rv != 0) {
    ngtcp2_conn_set_tls_error(conn, rv);
    return -1;
  }
  return 0;
} catch (const std::exception &) {
  return -1;
}

int configure(gnutls_session_t session, SessionData *sd, gnutls_ext_recv_func recv, gnutls_ext_send_func send) {
  gnutls_handshake_set_secret_function(session, secret_func);
  gnutls_handshake_set_read_function(session, read_func);
  gnutls_alert_set_read_function(session, alert_read_func);
  int rv = gnutls_session_ext_register(session, "QUIC Transport Parameters", kTpExtension, GNUTLS_EXT_TLS, recv, send,
                                       free_data, nullptr, nullptr,
                                       GNUTLS_EXT_FLAG_TLS | GNUTLS_EXT_FLAG_CLIENT_HELLO | GNUTLS_EXT_FLAG_EE);
  if (rv != 0) {
    delete sd;
    return rv;
  }
  gnutls_ext_set_data(session, kTpExtension, sd);
  return 0;
}

}  // namespace

int configure_server_session(gnutls_session_t session, const ServerTpConfig &config) {
  auto *sd = new SessionData{};
  sd->server = true;
  sd->server_config = config;
  return configure(session, sd, server_tp_recv, server_tp_send);
}

const ServerTpState *server_tp_state(gnutls_session_t session) {
  auto *sd = data_of(session);
  return sd && sd->server ? &sd->server_state : nullptr;
}

int configure_client_session(gnutls_session_t session, const ClientTpConfig &config) {
  auto *sd = new SessionData{};
  sd->server = false;
  sd->client_config = config;
  return configure(session, sd, client_tp_recv, client_tp_send);
}

namespace {

int note_tp_extension(void *ctx, unsigned tls_id, const unsigned char *, unsigned) {
  if (tls_id == kTpExtension) *static_cast<bool *>(ctx) = true;
  return 0;
}

int client_hello_hook(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
                      const gnutls_datum_t *msg) noexcept {
  if (htype != GNUTLS_HANDSHAKE_CLIENT_HELLO || when != GNUTLS_HOOK_PRE || !incoming) return 0;
  bool found = false;
  if (gnutls_ext_raw_parse(&found, note_tp_extension, msg, GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO) < 0) {
    if (gnutls_session_get_ptr(session)) ngtcp2_conn_set_tls_alert(conn_of(session), GNUTLS_A_DECODE_ERROR);
    return GNUTLS_E_UNEXPECTED_PACKET_LENGTH;
  }
  if (found) return 0;
  if (gnutls_session_get_ptr(session)) ngtcp2_conn_set_tls_alert(conn_of(session), GNUTLS_A_MISSING_EXTENSION);
  return GNUTLS_E_MISSING_EXTENSION;
}

}  // namespace

int require_transport_params_extension(gnutls_session_t session) {
  gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE, client_hello_hook);
  return 0;
}

const ClientTpState *client_tp_state(gnutls_session_t session) {
  auto *sd = data_of(session);
  return sd && !sd->server ? &sd->client_state : nullptr;
}

}  // namespace qamp
