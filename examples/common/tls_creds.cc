#include "tls_creds.h"

#include <gnutls/x509.h>

namespace qamp::common {

Creds server_creds(const std::string &key_file, const std::string &cert_file, std::string *error) {
  gnutls_certificate_credentials_t c = nullptr;
  if (gnutls_certificate_allocate_credentials(&c) != 0) return nullptr;
  Creds creds(c);
  int rv = gnutls_certificate_set_x509_key_file(c, cert_file.c_str(), key_file.c_str(), GNUTLS_X509_FMT_PEM);
  if (rv != 0) {
    if (error) *error = "cannot load key " + key_file + " / certificate " + cert_file + ": " + gnutls_strerror(rv);
    return nullptr;
  }
  return creds;
}

Creds client_creds(const ClientTrust &trust, std::string *error) {
  gnutls_certificate_credentials_t c = nullptr;
  if (gnutls_certificate_allocate_credentials(&c) != 0) {
    if (error) *error = "cannot allocate GnuTLS credentials";
    return nullptr;
  }
  Creds creds(c);
  if (trust.insecure) return creds;
  if (!trust.ca_file.empty()) {
    int n = gnutls_certificate_set_x509_trust_file(c, trust.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
    if (n <= 0) {
      if (error)
        *error = "--ca-file " + trust.ca_file + ": " +
                 (n < 0 ? std::string(gnutls_strerror(n)) : std::string("no PEM certificate in it"));
      return nullptr;
    }
    return creds;
  }
  int n = gnutls_certificate_set_x509_system_trust(c);
  if (n <= 0) {
    if (error)
      *error = "the system trust store " +
               (n < 0 ? std::string("cannot be loaded: ") + gnutls_strerror(n) : std::string("has no certificates")) +
               " (install ca-certificates, or use --ca-file FILE or --insecure)";
    return nullptr;
  }
  return creds;
}

std::string verify_failure(gnutls_session_t session) {
  unsigned status = gnutls_session_get_verify_cert_status(session);
  // 0: verified; (unsigned)-1: no verification took place (none asked for, or not got that far).
  if (status == 0 || status == static_cast<unsigned>(-1)) return {};
  gnutls_datum_t out{};
  if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) != 0)
    return "the server certificate did not verify (status 0x" + std::to_string(status) + ")";
  std::string text(reinterpret_cast<const char *>(out.data), out.size);
  gnutls_free(out.data);
  return "the server certificate did not verify: " + text;
}

Session make_session(bool server, gnutls_certificate_credentials_t creds, const std::string &sni, std::string *error,
                     const std::string &verify_name) {
  gnutls_session_t s = nullptr;
  unsigned flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA;
  if (int rv = gnutls_init(&s, flags); rv != 0) {
    if (error) *error = std::string("gnutls_init: ") + gnutls_strerror(rv);
    return nullptr;
  }
  Session session(s);
  const char *err_pos = nullptr;
  if (int rv = gnutls_priority_set_direct(s, kPriority, &err_pos); rv != 0) {
    if (error) *error = std::string("gnutls_priority_set_direct: ") + gnutls_strerror(rv);
    return nullptr;
  }
  gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds);
  gnutls_datum_t alpn{const_cast<unsigned char *>(reinterpret_cast<const unsigned char *>("h3")), 2};
  gnutls_alpn_set_protocols(s, &alpn, 1, server ? GNUTLS_ALPN_MANDATORY : 0);
  if (!server && !sni.empty()) gnutls_server_name_set(s, GNUTLS_NAME_DNS, sni.data(), sni.size());
  // GnuTLS matches an IP literal against the certificate's IP address SANs, a name against its
  // DNS SANs; the handshake fails (GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) on any mismatch.
  if (!server && !verify_name.empty()) gnutls_session_set_verify_cert(s, verify_name.c_str(), 0);
  enable_keylog(s);
  return session;
}

void enable_keylog(gnutls_session_t session) {
  // GnuTLS writes SSLKEYLOGFILE itself when the variable is set (since 3.6.x, all sessions);
  // nothing to do here beyond documenting it.
  (void)session;
}

}  // namespace qamp::common
