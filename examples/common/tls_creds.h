// examples/common/tls_creds.h — GnuTLS credentials and sessions (RAII), with the priorities and
// ALPN ("h3") the stock ngtcp2 examples use.
#pragma once

#include <memory>
#include <string>

#include <gnutls/gnutls.h>

namespace qamp::common {

struct CredsDeleter {
  void operator()(gnutls_certificate_credentials_t c) const noexcept { gnutls_certificate_free_credentials(c); }
};
using Creds = std::unique_ptr<std::remove_pointer_t<gnutls_certificate_credentials_t>, CredsDeleter>;

struct SessionDeleter {
  void operator()(gnutls_session_t s) const noexcept { gnutls_deinit(s); }
};
using Session = std::unique_ptr<std::remove_pointer_t<gnutls_session_t>, SessionDeleter>;

// Loads a PEM key and certificate; nullptr with *error set on failure.
Creds server_creds(const std::string &key_file, const std::string &cert_file, std::string *error);
// How a client checks the server's certificate chain.
struct ClientTrust {
  bool insecure = false;  // no verification at all (--insecure)
  std::string ca_file;    // PEM: trust exactly these CAs (--ca-file); empty: the system trust store
};
// Client credentials with the trust anchors of `trust` loaded; nullptr with *error set (no CA in
// the file, an empty system store) otherwise.
Creds client_creds(const ClientTrust &trust, std::string *error);

inline constexpr const char *kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"
    "%DISABLE_TLS13_COMPAT_MODE";

// A session with priorities, credentials and ALPN h3 set; the caller then configures the QUIC
// transport-parameter extension (qamp::configure_*_session). `sni` may be empty. A client with a
// non-empty `verify_name` (a DNS name or an IP literal) fails the handshake unless the server's
// chain verifies against the credentials' trust anchors and names `verify_name`
// (gnutls_session_set_verify_cert); verify_failure() then says why. GnuTLS keeps a pointer to
// `verify_name`'s characters: the string must outlive the session.
Session make_session(bool server, gnutls_certificate_credentials_t creds, const std::string &sni, std::string *error,
                     const std::string &verify_name = {});

// After a failed handshake: "the server certificate ... (reason)" when the certificate check
// failed, else empty.
std::string verify_failure(gnutls_session_t session);

// Writes SSLKEYLOGFILE lines when the variable is set (so tshark can decode captures).
void enable_keylog(gnutls_session_t session);

}  // namespace qamp::common
