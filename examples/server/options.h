// examples/server/options.h — qamp-server's command line (option-compatible with gtlsserver
// where they overlap).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ngtcp2/ngtcp2.h>

#include "command_line.h"
#include "enforcement.h"
#include "net.h"
#include "qamp/admission.h"
#include "qamp/policy.h"
#include "qamp/reset_guard.h"
#include "qamp/tp_codec.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

// Encrypted QUIC-LB CIDs' default nonce: 1-octet server ID + 15 = one AES block (single pass).
inline constexpr unsigned kEncryptedDefaultNonceLen = 15;

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
  std::optional<std::uint8_t> instance_id;  // cluster mode: this instance's QUIC-LB server ID
  unsigned cluster_size = 1;
  // Cluster mode's QUIC-LB configuration (qamp/quic_lb.h), shared by the instances: 1-octet
  // server IDs, the length self-encoded in the first octet.
  unsigned quic_lb_config_rotation = 0;  // 0..6
  unsigned quic_lb_nonce_len = 16;       // 4..18: 18-octet CIDs, as outside cluster mode
                                         // (with a key: kEncryptedDefaultNonceLen)
  std::string quic_lb_key_file;          // 32 hex digits: encrypted CIDs; empty: plaintext
  std::string static_secret_file;
  std::string stats_file;
  // --workers: worker processes on the same addresses (workers.h), each a QUIC-LB server ID
  // (instance_id, default 0, plus its index), steered by the kernel. 1: a single process.
  unsigned workers = 1;
  bool gate = true;                              // --gate off: baseline without qamp's enforcement
  Enforcement enforcement = Enforcement::layer;  // native: ngtcp2 enforces (patched build)
  ngtcp2_duration idle_timeout = 30 * NGTCP2_SECONDS;
  // New-connection admission (qamp/admission.h): Retry mode and caps.
  AdmissionConfig admission{RetryMode::automatic, 64, 4096, 256};
  std::uint64_t max_generated_bytes = std::uint64_t{1} << 30;  // /bytes/N above it: 404
};

// --workers: worker k's options, server ID instance_id + k (parse_server_options sets
// instance_id, default 0), stats file "<stats_file>.worker<k>".
ServerOptions worker_options(const ServerOptions &options, unsigned k);

// Parses argv (examples/common/command_line.h's syntax): the options, or help_exit() for --help, or
// misuse() naming the bad flag or argument. Never prints; main() does.
Parsed<ServerOptions> parse_server_options(int argc, const char *const *argv);
std::string_view server_usage() noexcept;

}  // namespace qamp::server
