/* qamp-interop-curl: a small libcurl (8.14, GnuTLS flavour: ngtcp2 + nghttp3) HTTP/3 client for
 * qamp's interop suite.
 *
 * GETs every URL (each --requests times) with one easy handle, so libcurl reuses its QUIC
 * connection; CURL_HTTP_VERSION_3ONLY, and each transfer must report CURLINFO_HTTP_VERSION ==
 * CURL_HTTP_VERSION_3 (no silent fallback to TCP). Saves each body as DIR/<n>-<basename> and prints
 * one JSON object: per transfer the status, HTTP version, size and SHA-256 of the saved bytes, and
 * how many connections libcurl opened in total (CURLINFO_NUM_CONNECTS).
 *
 * Exit status: 0 when every transfer used HTTP/3, got a 2xx and was saved; 1 otherwise; 2 on
 * misuse. The caller judges the bytes against the source file. */
#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxUrls = 64, kMaxRequests = 10000 };

static void usage(FILE *out) {
  fprintf(out,
          "usage: qamp-interop-curl --out DIR [--requests N] [--ca-file FILE] [--keylog FILE] URL...\n"
          "  --out DIR       save bodies as DIR/<n>-<basename> (required)\n"
          "  --requests N    GET every URL N times on one easy handle (default 1, at most %d)\n"
          "  --ca-file FILE  verify the server against this PEM certificate (default: no verification)\n"
          "  --keylog FILE   TLS secrets for tshark (sets SSLKEYLOGFILE for GnuTLS)\n"
          "  --timeout S     per transfer, seconds (default 60)\n",
          kMaxRequests);
}

struct sink {
  FILE *file;
  gnutls_hash_hd_t hash;
  long long bytes;
  int failed;
};

static size_t on_body(char *data, size_t size, size_t n, void *user) {
  struct sink *s = user;
  size_t len = size * n;
  if (fwrite(data, 1, len, s->file) != len || gnutls_hash(s->hash, data, len) < 0) {
    s->failed = 1;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  s->bytes += (long long)len;
  return len;
}

static const char *base_name(const char *url) {
  const char *q = strpbrk(url, "?#");
  size_t len = q ? (size_t)(q - url) : strlen(url);
  const char *slash = NULL;
  for (const char *p = url; p < url + len; ++p)
    if (*p == '/') slash = p;
  if (!slash || slash + 1 >= url + len) return "index";
  static char buf[256];
  size_t n = (size_t)(url + len - slash - 1);
  if (n >= sizeof buf) n = sizeof buf - 1;
  memcpy(buf, slash + 1, n);
  buf[n] = 0;
  return buf;
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  const char *out = NULL, *ca = NULL, *keylog = NULL;
  const char *urls[kMaxUrls];
  int nurls = 0;
  long requests = 1, timeout = 60;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--out") && v) {
      out = v;
      ++i;
    } else if (!strcmp(a, "--ca-file") && v) {
      ca = v;
      ++i;
    } else if (!strcmp(a, "--keylog") && v) {
      keylog = v;
      ++i;
    } else if (!strcmp(a, "--requests") && v) {
      char *e;
      requests = strtol(v, &e, 10);
      if (*e) requests = 0;
      ++i;
    } else if (!strcmp(a, "--timeout") && v) {
      char *e;
      timeout = strtol(v, &e, 10);
      if (*e) timeout = 0;
      ++i;
    } else if (a[0] == '-') {
      fprintf(stderr, "error: unknown or incomplete option %s\n", a);
      usage(stderr);
      return 2;
    } else if (nurls < kMaxUrls)
      urls[nurls++] = a;
    else {
      fprintf(stderr, "error: at most %d URLs\n", kMaxUrls);
      return 2;
    }
  }
  if (!out || nurls == 0 || requests < 1 || requests > kMaxRequests || timeout < 1) {
    usage(stderr);
    return 2;
  }
  if (keylog) setenv("SSLKEYLOGFILE", keylog, 1); /* read by GnuTLS when a session starts */

  curl_global_init(CURL_GLOBAL_DEFAULT);
  const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
  if (!(vi->features & CURL_VERSION_HTTP3)) {
    fprintf(stderr, "error: this libcurl (%s) has no HTTP/3\n", vi->version);
    return 1;
  }
  CURL *h = curl_easy_init();
  if (!h) {
    fprintf(stderr, "error: curl_easy_init failed\n");
    return 1;
  }
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_3ONLY);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  if (ca) {
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  } else {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  int rc = 0;
  long total_connects = 0;
  printf("{\n  \"libcurl\": ");
  json_str(vi->version);
  printf(",\n  \"requests\": [");
  long n = 0;
  for (long r = 0; r < requests; ++r) {
    for (int u = 0; u < nurls; ++u, ++n) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%ld-%s", out, n, base_name(urls[u]));
      struct sink s = {fopen(path, "wb"), NULL, 0, 0};
      if (!s.file) {
        fprintf(stderr, "error: cannot write %s\n", path);
        rc = 1;
        break;
      }
      gnutls_hash_init(&s.hash, GNUTLS_DIG_SHA256);
      curl_easy_setopt(h, CURLOPT_URL, urls[u]);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
      CURLcode res = curl_easy_perform(h);
      long status = 0, version = 0, connects = 0;
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
      curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
      total_connects += connects;
      unsigned char digest[32];
      gnutls_hash_deinit(s.hash, digest);
      if (fclose(s.file) != 0) s.failed = 1;
      const char *err = NULL;
      if (res != CURLE_OK)
        err = curl_easy_strerror(res);
      else if (s.failed)
        err = "write failed";
      else if (version != CURL_HTTP_VERSION_3)
        err = "transfer did not use HTTP/3";
      else if (status / 100 != 2)
        err = "non-2xx status";
      printf("%s\n    {\"url\": ", n ? "," : "");
      json_str(urls[u]);
      printf(", \"status\": %ld, \"http_version\": %s, \"bytes\": %lld, \"sha256\": \"", status,
             version == CURL_HTTP_VERSION_3     ? "3"
             : version == CURL_HTTP_VERSION_2_0 ? "2"
                                                : "1",
             s.bytes);
      for (int i = 0; i < 32; ++i) printf("%02x", digest[i]);
      printf("\", \"new_connections\": %ld, \"file\": ", connects);
      json_str(path);
      if (err) {
        printf(", \"error\": ");
        json_str(err);
        fprintf(stderr, "error: %s: %s\n", urls[u], err);
        rc = 1;
      }
      printf("}");
    }
  }
  printf("\n  ],\n  \"connections\": %ld\n}\n", total_connects);
  curl_easy_cleanup(h);
  curl_global_cleanup();
  return rc;
}
