// examples/client/options.h — qamp-client's command line: gtlsclient's options where they overlap
// (`qamp-client [OPTIONS] <HOST> <PORT> [<URI>...]`) plus qamp's migration knobs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ngtcp2/ngtcp2.h>

#include "command_line.h"
#include "enforcement.h"
#include "net.h"
#include "qamp/migrator.h"
#include "qamp/network_events.h"
#include "qamp/planner.h"
#include "qamp/policy.h"
#include "qamp/tp_codec.h"

namespace qamp::client {

// What happens to the old network after --network-change (lab stand-in for "the Wi-Fi is gone").
enum class OldPath : std::uint8_t { keep, drop };
std::string_view to_string(OldPath old_path) noexcept;
std::optional<OldPath> parse_old_path(std::string_view text) noexcept;

// --network-change AT=LOCALADDR: after a delay (counted from handshake completion) or once a share
// of the body has arrived, the client's network becomes LOCALADDR (port 0: any port).
struct NetworkChange {
  std::optional<ngtcp2_duration> after;  // set for "2s", "500ms"
  std::optional<double> share;           // set for "40%" (0..1)
  Endpoint local;
  std::string text;  // as given, for logs
};
std::optional<NetworkChange> parse_network_change(std::string_view text);

// --network-event AT=EVENT: a scripted operating-system event (tests and labs without a real
// network change), fed to the same MigrationTrigger as rtnetlink's. EVENT is one of
//   address-added:IFINDEX:IP  address-removed:IFINDEX:IP  default-route-v4:IFINDEX
//   default-route-v6:IFINDEX  link-down:IFINDEX  link-up:IFINDEX  write-error:ENETUNREACH|
//   EADDRNOTAVAIL|EHOSTUNREACH|ENETDOWN
// AT as for --network-change.
struct ScriptedEvent {
  std::optional<ngtcp2_duration> after;
  std::optional<double> share;
  NetworkEvent event;
  std::string text;
};
std::optional<ScriptedEvent> parse_scripted_event(std::string_view text);

struct Options {
  std::string host;
  std::string port;
  std::vector<std::string> uris;
  std::string sni;  // --sni, else HOST when it is a name
  // Server certificate: verified against the system trust store, or exactly --ca-file's CAs,
  // for the name --sni, else HOST (a name or an IP literal); --insecure: not verified.
  std::optional<std::string> ca_file;
  bool insecure = false;

  // gtlsclient's
  std::optional<std::string> download_dir;
  bool quiet = false;
  bool no_preferred_addr = false;
  std::optional<std::string> qlog_file;
  std::optional<std::string> qlog_dir;
  bool exit_on_first_stream_close = false;
  bool exit_on_all_streams_close = false;
  ngtcp2_duration timeout = 30 * NGTCP2_SECONDS;
  std::uint64_t max_data = 24 * 1024 * 1024;
  std::uint64_t max_stream_data_bidi_local = 16 * 1024 * 1024;
  std::uint64_t max_stream_data_uni = 16 * 1024 * 1024;

  // qamp's
  Semantics semantics = Semantics::per_address;
  SpaFamily spa_family = SpaFamily::automatic;  // qamp/migrator.h
  SpellingSet policy_support = kAllSpellings;
  std::optional<NetworkChange> network_change;
  // Event-driven migration (issue 14, network_follower.h): rtnetlink and write errors, path
  // degrading from ngtcp2's signals, with these limits; --follow-network=off: none of it (only
  // --network-change and --network-event, which go through the same trigger).
  bool follow_network = true;
  std::vector<ScriptedEvent> network_events;
  NetworkEventConfig network_config;
  OldPath old_path = OldPath::keep;
  ForcedStrategy strategy = ForcedStrategy::automatic;  // qamp/planner.h
  std::optional<double> new_path_rate;                  // bytes/s, planner input (a hint only with --split)
  bool split = true;  // --split: a refused change of one download uses both networks (split.h)
  std::optional<double> limit_rate;                     // bytes/s: pace the returned MAX_DATA credit (credit_pacer.h)
  bool ignore_reset_on_probe = false;
  std::optional<std::string> summary_file;
  common::Enforcement enforcement = common::Enforcement::layer;  // native: ngtcp2 enforces (patched build)
  // Testing knob: the value of migration_policy_support (0x2d50) sent verbatim instead of the
  // encoded --policy-support, e.g. a malformed one to see the server's TRANSPORT_PARAMETER_ERROR.
  std::optional<std::vector<std::uint8_t>> send_policy_support_raw;
};

// Parses argv (examples/common/command_line.h's syntax): the options, or common::help_exit() for --help, or
// common::misuse() naming the bad flag or missing argument. Never prints; main() does.
common::Parsed<Options> parse_options(int argc, const char *const *argv);
void print_usage(std::FILE *out);

}  // namespace qamp::client
