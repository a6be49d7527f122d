#include "tls_creds.h"


namespace qamp::ex {

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

Creds client_creds() {
  gnutls_certificate_credentials_t c = nullptr;
  if (gnutls_certificate_allocate_credentials(&c) != 0) return nullptr;
  return Creds(c);
}

Session make_session(bool server, gnutls_certificate_credentials_t creds, const std::string &sni,
                     std::string *error) {
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
  enable_keylog(s);
  return session;
}

void enable_keylog(gnutls_session_t session) {
  // GnuTLS writes SSLKEYLOGFILE itself when the variable is set (since 3.6.x, all sessions);
  // nothing to do here beyond documenting it.
  (void)session;
}

}  // namespace qamp::ex
