// examples/server/options.h — qamp-server's command line (option-compatible with gtlsserver
// where they overlap).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "enforcement.h"
#include "net.h"
#include "qamp/admission.h"
#include "qamp/policy.h"
#include "qamp/reset_guard.h"
#include "qamp/tp_codec.h"

namespace qamp::ex {

struct ServerOptions {
  Endpoint handshake;  // <ADDR> <PORT>
  std::string key_file, cert_file;
  std::string htdocs = ".";
  bool quiet = false;
  std::optional<Endpoint> preferred_v4, preferred_v6;
  std::string qlog_dir;
  Policy policy;
  std::vector<Spelling> spellings{kDefaultSpellingPreference.begin(), kDefaultSpellingPreference.end()};
  ResetMode reset_mode = ResetMode::automatic;
  std::optional<std::uint8_t> instance_id;
  unsigned cluster_size = 1;
  std::string static_secret_file;
  std::string stats_file;
  bool gate = true;             // --gate off: baseline without qamp's enforcement
  Enforcement enforcement = Enforcement::layer;  // native: ngtcp2 enforces (patched build)
  double idle_timeout_s = 30;
  // New-connection admission (qamp/admission.h): Retry mode and caps.
  AdmissionConfig admission{RetryMode::automatic, 64, 4096, 256};
  std::uint64_t max_generated_bytes = std::uint64_t{1} << 30;  // /bytes/N above it: 404
};

// Parses argv. On --help prints usage to stdout and exits 0; on a bad flag prints the problem
// and usage to stderr and exits 2.
ServerOptions parse_server_options(int argc, char **argv);

}  // namespace qamp::ex
