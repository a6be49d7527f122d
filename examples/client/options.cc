#include "qamp/hex.h"
#include "options.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "target.h"

namespace qamp::client {

std::string_view to_string(OldPath old_path) noexcept { return old_path == OldPath::keep ? "keep" : "drop"; }

std::optional<OldPath> parse_old_path(std::string_view text) noexcept {
  if (text == "keep") return OldPath::keep;
  if (text == "drop") return OldPath::drop;
  return std::nullopt;
}

namespace {
bool parse_at(std::string_view at, std::optional<ngtcp2_duration> &after, std::optional<double> &share);
}  // namespace

std::optional<NetworkChange> parse_network_change(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  NetworkChange nc;
  nc.text = std::string(text);
  if (!parse_at(text.substr(0, eq), nc.after, nc.share)) return std::nullopt;
  auto local = Endpoint::parse(text.substr(eq + 1));
  if (!local) return std::nullopt;
  nc.local = *local;
  return nc;
}

namespace {

// "40%" or "2s": a share of the bodies or a delay after the handshake.
bool parse_at(std::string_view at, std::optional<ngtcp2_duration> &after, std::optional<double> &share) {
  if (at.ends_with('%')) {
    at.remove_suffix(1);
    double v = 0;
    auto [p, ec] = std::from_chars(at.data(), at.data() + at.size(), v);
    if (at.empty() || ec != std::errc() || p != at.data() + at.size() || v < 0 || v > 100) return false;
    share = v / 100.0;
    return true;
  }
  after = common::parse_duration(at);
  return after.has_value();
}

std::optional<unsigned> parse_ifindex(std::string_view text) {
  auto n = common::parse_count(text, 1, 1u << 30);
  if (!n) return std::nullopt;
  return static_cast<unsigned>(*n);
}

std::optional<Endpoint> parse_ip(std::string_view text) {
  const std::string t(text);
  return Endpoint::parse(t.find(':') != std::string::npos ? "[" + t + "]:0" : t + ":0");
}

}  // namespace

std::optional<ScriptedEvent> parse_scripted_event(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  ScriptedEvent se;
  se.text = std::string(text);
  if (!parse_at(text.substr(0, eq), se.after, se.share)) return std::nullopt;
  std::vector<std::string_view> f;
  for (auto rest = text.substr(eq + 1);;) {
    // An IPv6 address is the last field: it may hold colons.
    auto c = f.size() == 2 ? std::string_view::npos : rest.find(':');
    f.push_back(rest.substr(0, c));
    if (c == std::string_view::npos) break;
    rest = rest.substr(c + 1);
  }
  const auto kind = f[0];
  if ((kind == "address-added" || kind == "address-removed") && f.size() == 3) {
    auto ifindex = parse_ifindex(f[1]);
    auto ip = parse_ip(f[2]);
    if (!ifindex || !ip) return std::nullopt;
    if (kind == "address-added")
      se.event = AddressAdded{*ifindex, *ip};
    else
      se.event = AddressRemoved{*ifindex, *ip};
    return se;
  }
  if (f.size() != 2) return std::nullopt;
  if (kind == "write-error") {
    static constexpr std::pair<std::string_view, int> kErrors[] = {{"ENETUNREACH", ENETUNREACH},
                                                                   {"EADDRNOTAVAIL", EADDRNOTAVAIL},
                                                                   {"EHOSTUNREACH", EHOSTUNREACH},
                                                                   {"ENETDOWN", ENETDOWN}};
    for (auto [name, value] : kErrors)
      if (f[1] == name) {
        se.event = WriteError{value};
        return se;
      }
    return std::nullopt;
  }
  auto ifindex = parse_ifindex(f[1]);
  if (!ifindex) return std::nullopt;
  if (kind == "default-route-v4" || kind == "default-route-v6")
    se.event = DefaultRouteChanged{kind == "default-route-v4" ? AF_INET : AF_INET6, *ifindex, Endpoint{}, false};
  else if (kind == "link-down")
    se.event = LinkDown{*ifindex};
  else if (kind == "link-up")
    se.event = LinkUp{*ifindex};
  else
    return std::nullopt;
  return se;
}

void print_usage(std::FILE *out) {
  std::fputs(
      "Usage: qamp-client [OPTIONS] <HOST> <PORT> [<URI>...]\n"
      "\n"
      "  <HOST>      Server host (IP address or name); a name is sent in TLS SNI\n"
      "  <PORT>      Server port\n"
      "  <URI>       https://HOST:PORT/PATH or /PATH (fetched with GET over HTTP/3)\n"
      "\n"
      "Options shared with gtlsclient:\n"
      "  --download=<DIR>        Save each body as DIR/<basename> (\"index.html\" when none):\n"
      "                          written to a temporary DIR/.<basename>.qamp-XXXXXX and renamed\n"
      "                          over DIR/<basename> only when complete and verified (a failed\n"
      "                          download leaves an existing file alone; a symlink there is\n"
      "                          replaced, never followed). Two <URI>s with the same basename\n"
      "                          are refused (exit 2)\n"
      "  -q, --quiet             Suppress progress output (policy decisions are still logged)\n"
      "  --no-preferred-addr     Do not move to the server's preferred address\n"
      "  --qlog-file=<PATH>      Write qlog (ngtcp2's events plus qamp's decisions) to PATH\n"
      "  --qlog-dir=<DIR>        Write qlog to DIR/<client SCID>.sqlog (exclusive with --qlog-file)\n"
      "  --exit-on-first-stream-close  Exit when the first request stream closes\n"
      "  --exit-on-all-streams-close   Exit when all request streams have closed\n"
      "  --timeout=<DURATION>    Idle timeout. Default: 30s\n"
      "  --sni=<DNSNAME>         Send DNSNAME in TLS SNI (and verify the certificate for it)\n"
      "  --max-data=<SIZE>       Connection flow-control window. Default: 24M\n"
      "  --max-stream-data-bidi-local=<SIZE>  Stream window. Default: 16M\n"
      "  --max-stream-data-uni=<SIZE>  Unidirectional stream window. Default: 16M\n"
      "  --no-quic-dump, --no-http-dump  Accepted for compatibility (nothing is dumped)\n"
      "\n"
      "Server certificate (verified by default: the system trust store, for --sni, else <HOST>,\n"
      "a DNS name or an IP address that the certificate's subjectAltName must carry):\n"
      "  --ca-file=<FILE>        Trust exactly the CA certificates in PEM FILE instead of the\n"
      "                          system store (as curl --cacert; a self-signed certificate is\n"
      "                          its own CA)\n"
      "  --insecure              Do not verify the server certificate at all (lab use; logged\n"
      "                          as a warning). Exclusive with --ca-file\n"
      "\n"
      "qamp options:\n"
      "  --semantics=<MODE>      draft28|rfc9000|per-address|ignore. Default: per-address\n"
      "  --spa-family=<F>        auto|v4|v6: preferred-address family. Default: auto (current\n"
      "                          family if offered, else the other)\n"
      "  --policy-support=<LIST> Spellings to announce: comma list of ext,dam-values,pr3898.\n"
      "                          Default: all. Empty: legacy RFC 9000 client (no 0x2d50)\n"
      "  --network-change=<AT>=<LOCALADDR>\n"
      "                          At AT (a duration after the handshake, e.g. 2s, 500ms, or a share\n"
      "                          of the bodies announced so far, e.g. 40%) move to local address LOCALADDR\n"
      "                          (127.0.0.2:0: new IP, any port; 127.0.0.1:0: new port only).\n"
      "                          0s: as the handshake completes, before the preferred address\n"
      "                          is used: it is validated from LOCALADDR (RFC 9000 §9.6.3)\n"
      "  --old-path-after-change=<keep|drop>  Keep the old socket or close it. Default: keep\n"
      "\n"
      "Network events (README \"Following the network\"; every decision one log line):\n"
      "  --follow-network=<on|off>  Migrate on the system's events: rtnetlink (an address removed,\n"
      "                          the default route moved, a link down or up), write errors\n"
      "                          (ENETUNREACH, EADDRNOTAVAIL, EHOSTUNREACH, ENETDOWN) and a degrading\n"
      "                          path (PTOs without progress), each gated by the server's\n"
      "                          per-address policy. Default: on\n"
      "  --network-event=<AT>=<EVENT>  A scripted event at AT (as --network-change), repeatable:\n"
      "                          address-added:IFINDEX:IP, address-removed:IFINDEX:IP,\n"
      "                          default-route-v4:IFINDEX, default-route-v6:IFINDEX,\n"
      "                          link-down:IFINDEX, link-up:IFINDEX, write-error:ENETUNREACH|\n"
      "                          EADDRNOTAVAIL|EHOSTUNREACH|ENETDOWN\n"
      "  --max-migrations=<N>    Migrations one connection may start, all causes. Default: 10\n"
      "  --max-migrations-per-cause=<N>  ... per cause. Default: 5\n"
      "  --max-port-migrations=<N>  Port-only migrations per connection. Default: 4\n"
      "  --max-time-on-non-default=<DURATION>  Then migrate back to the default network\n"
      "                          (0: never). Default: 128s\n"
      "  --migrate-idle=<on|off> Migrate a connection with no request outstanding. Default: off\n"
      "  --degrading-pto=<N>     PTO periods without progress that make the path degrading\n"
      "                          (0: never). Default: 4\n"
      "  --strategy=<auto|stay|reconnect>  On a refused migration: ask the planner (auto) or\n"
      "                          force its answer. Default: auto\n"
      "  --new-path-rate=<BYTES/s>  Expected throughput of the new path (K/M/G): the one-shot\n"
      "                          planner's input (--split=off), else only the first chunk size\n"
      "  --split=<on|off>        On a refused change of one download with --strategy auto: keep\n"
      "                          the old connection and open a new one, measure both, split the\n"
      "                          rest of the body between them (race a non-resumable one).\n"
      "                          off: the one-shot planner (stay, resume or restart). Default: on\n"
      "  --limit-rate=<BYTES/s>  Receive at most about this rate (K/M/G), as curl --limit-rate:\n"
      "                          connection flow-control credit (MAX_DATA) is returned no faster,\n"
      "                          so nothing is dropped. Without --max-data the initial window\n"
      "                          becomes a tenth of a second's worth (at least 64K)\n"
      "  --ignore-reset-on-probe Ignore a Stateless Reset that arrives on a path being probed\n"
      "  --summary=<FILE>        Write a JSON summary of the run\n"
      "  --enforcement=<layer|native>  Who enforces the server's policy. Default: layer (qamp's\n"
      "                          Migrator, on any ngtcp2). native: ngtcp2 itself (needs a build\n"
      "                          with -Dngtcp2=patched); announces the ext spelling only, reads\n"
      "                          per-address semantics, a forbidden migration is refused by\n"
      "                          ngtcp2_conn_initiate_migration\n"
      "  -h, --help              Display this help and exit\n"
      "\n"
      "Testing knobs (interop labs; they make the client misbehave on purpose):\n"
      "  --send-policy-support-raw=<HEX>\n"
      "                          Send HEX verbatim as the value of migration_policy_support\n"
      "                          (TP 0x2d50) instead of the --policy-support bitmask, e.g. 0a0b\n"
      "                          (2 bytes where one 1-byte varint is expected): a qamp server\n"
      "                          must close with TRANSPORT_PARAMETER_ERROR (0x8). Empty HEX sends\n"
      "                          a zero-length value\n"
      "\n"
      "Exit status: 0 when every body is complete (its size, and its SHA-256 when the server sent\n"
      "x-qamp-body-sha256; without one it is checked by size only, and said so), 1 otherwise,\n"
      "2 on misuse.\n",
      out);
}

common::Parsed<Options> parse_options(int argc, const char *const *argv) {
  enum : int {
    kHelp,
    kQuiet,
    kDownload,
    kNoPreferredAddr,
    kQlogFile,
    kQlogDir,
    kExitFirst,
    kExitAll,
    kTimeout,
    kSni,
    kMaxData,
    kMaxStreamDataBidiLocal,
    kMaxStreamDataUni,
    kNoDump,
    kSemantics,
    kSpaFamily,
    kPolicySupport,
    kNetworkChange,
    kOldPath,
    kStrategy,
    kNewPathRate,
    kSplit,
    kIgnoreReset,
    kSummary,
    kSendPolicySupportRaw,
    kEnforcement,
    kCaFile,
    kInsecure,
    kLimitRate,
    kFollowNetwork,
    kNetworkEvent,
    kMaxMigrations,
    kMaxPerCause,
    kMaxPortMigrations,
    kMaxNonDefault,
    kMigrateIdle,
    kDegradingPto,
  };
  static constexpr common::FlagSpec flags[] = {
      {"help", 'h', false, kHelp},
      {"quiet", 'q', false, kQuiet},
      {"download", 0, true, kDownload},
      {"no-preferred-addr", 0, false, kNoPreferredAddr},
      {"qlog-file", 0, true, kQlogFile},
      {"qlog-dir", 0, true, kQlogDir},
      {"exit-on-first-stream-close", 0, false, kExitFirst},
      {"exit-on-all-streams-close", 0, false, kExitAll},
      {"timeout", 0, true, kTimeout},
      {"sni", 0, true, kSni},
      {"max-data", 0, true, kMaxData},
      {"max-stream-data-bidi-local", 0, true, kMaxStreamDataBidiLocal},
      {"max-stream-data-uni", 0, true, kMaxStreamDataUni},
      {"no-quic-dump", 0, false, kNoDump},
      {"no-http-dump", 0, false, kNoDump},
      {"semantics", 0, true, kSemantics},
      {"spa-family", 0, true, kSpaFamily},
      {"policy-support", 0, true, kPolicySupport},
      {"network-change", 0, true, kNetworkChange},
      {"old-path-after-change", 0, true, kOldPath},
      {"strategy", 0, true, kStrategy},
      {"new-path-rate", 0, true, kNewPathRate},
      {"split", 0, true, kSplit},
      {"limit-rate", 0, true, kLimitRate},
      {"ignore-reset-on-probe", 0, false, kIgnoreReset},
      {"summary", 0, true, kSummary},
      {"send-policy-support-raw", 0, true, kSendPolicySupportRaw},
      {"enforcement", 0, true, kEnforcement},
      {"ca-file", 0, true, kCaFile},
      {"insecure", 0, false, kInsecure},
      {"follow-network", 0, true, kFollowNetwork},
      {"network-event", 0, true, kNetworkEvent},
      {"max-migrations", 0, true, kMaxMigrations},
      {"max-migrations-per-cause", 0, true, kMaxPerCause},
      {"max-port-migrations", 0, true, kMaxPortMigrations},
      {"max-time-on-non-default", 0, true, kMaxNonDefault},
      {"migrate-idle", 0, true, kMigrateIdle},
      {"degrading-pto", 0, true, kDegradingPto},
  };

  Options o;
  using common::misuse;
  std::vector<std::string_view> positionals;
  bool semantics_given = false, support_given = false, max_data_given = false;
  common::CliParser parser(flags, argc, argv);
  for (;;) {
    auto next = parser.next();
    if (auto *error = std::get_if<common::CliError>(&next)) return misuse(error->message);
    auto *a = std::get_if<common::CliArg>(&next);
    if (!a) break;
    std::string_view arg = a->value;
    auto bad_value = [&] { return common::bad_value(a->flag, arg); };
    switch (a->id) {
      case common::kPositional: positionals.push_back(arg); break;
      case kHelp: return common::help_exit();
      case kQuiet: o.quiet = true; break;
      case kDownload: o.download_dir = std::string(arg); break;
      case kNoPreferredAddr: o.no_preferred_addr = true; break;
      case kQlogFile: o.qlog_file = std::string(arg); break;
      case kQlogDir: o.qlog_dir = std::string(arg); break;
      case kExitFirst: o.exit_on_first_stream_close = true; break;
      case kExitAll: o.exit_on_all_streams_close = true; break;
      case kTimeout: {
        auto d = common::parse_duration(arg);
        if (!d || *d == 0) return bad_value();
        o.timeout = *d;
        break;
      }
      case kSni: o.sni = std::string(arg); break;
      case kMaxData:
      case kMaxStreamDataBidiLocal:
      case kMaxStreamDataUni: {
        auto n = common::parse_size(arg);
        if (!n) return bad_value();
        (a->id == kMaxData            ? o.max_data
         : a->id == kMaxStreamDataUni ? o.max_stream_data_uni
                                      : o.max_stream_data_bidi_local) = *n;
        max_data_given = max_data_given || a->id == kMaxData;
        break;
      }
      case kNoDump: break;
      case kSemantics: {
        auto s = parse_semantics(arg);
        if (!s) return bad_value();
        o.semantics = *s;
        semantics_given = true;
        break;
      }
      case kSpaFamily: {
        auto f = parse_spa_family(arg);
        if (!f) return bad_value();
        o.spa_family = *f;
        break;
      }
      case kPolicySupport: {
        auto list = parse_spelling_list(arg);
        if (!list) return bad_value();
        o.policy_support = to_set(*list);
        support_given = true;
        break;
      }
      case kNetworkChange: {
        auto nc = parse_network_change(arg);
        if (!nc) return bad_value();
        o.network_change = *nc;
        break;
      }
      case kOldPath: {
        auto p = parse_old_path(arg);
        if (!p) return bad_value();
        o.old_path = *p;
        break;
      }
      case kStrategy: {
        auto s = parse_forced_strategy(arg);
        if (!s) return bad_value();
        o.strategy = *s;
        break;
      }
      case kNewPathRate:
      case kLimitRate: {
        auto r = common::parse_rate(arg);
        if (!r) return bad_value();
        (a->id == kNewPathRate ? o.new_path_rate : o.limit_rate) = *r;
        break;
      }
      case kSplit: {
        auto on = common::parse_on_off(arg);
        if (!on) return bad_value();
        o.split = *on;
        break;
      }
      case kIgnoreReset: o.ignore_reset_on_probe = true; break;
      case kSummary: o.summary_file = std::string(arg); break;
      case kSendPolicySupportRaw: {
        auto raw = from_hex(arg, "--send-policy-support-raw");
        if (!raw) return bad_value();
        o.send_policy_support_raw = std::move(*raw);
        break;
      }
      case kEnforcement: {
        auto e = common::parse_enforcement(arg);
        if (!e) return bad_value();
        o.enforcement = *e;
        break;
      }
      case kCaFile:
        if (arg.empty()) return bad_value();
        o.ca_file = std::string(arg);
        break;
      case kInsecure: o.insecure = true; break;
      case kFollowNetwork:
      case kMigrateIdle: {
        auto on = common::parse_on_off(arg);
        if (!on) return bad_value();
        (a->id == kFollowNetwork ? o.follow_network : o.network_config.migrate_idle_connections) = *on;
        break;
      }
      case kNetworkEvent: {
        auto e = parse_scripted_event(arg);
        if (!e) return bad_value();
        o.network_events.push_back(std::move(*e));
        break;
      }
      case kMaxMigrations:
      case kMaxPerCause:
      case kMaxPortMigrations:
      case kDegradingPto: {
        auto n = common::parse_count(arg, 0, 1000);
        if (!n) return bad_value();
        auto &c = o.network_config;
        (a->id == kMaxMigrations       ? c.max_migrations
         : a->id == kMaxPerCause       ? c.max_migrations_per_cause
         : a->id == kMaxPortMigrations ? c.max_port_migrations
                                       : c.degrading.pto_count) = static_cast<unsigned>(*n);
        break;
      }
      case kMaxNonDefault: {
        auto d = common::parse_duration(arg);
        if (!d) return bad_value();
        o.network_config.max_time_on_non_default_network = *d;
        break;
      }
    }
  }
  if (o.enforcement == common::Enforcement::native) {
    if (!common::kNativeEnforcementAvailable) return misuse(std::string(common::native_unavailable_reason()));
    if (semantics_given && o.semantics != Semantics::per_address)
      return misuse(
          "--enforcement=native: ngtcp2 reads the policy with per-address semantics (RFC 9000 "
          "for a server without one); --semantics " +
          std::string(to_string(o.semantics)) + " needs --enforcement=layer");
    if (support_given && o.policy_support != 0 && o.policy_support != static_cast<SpellingSet>(Spelling::ext))
      return misuse(
          "--enforcement=native: ngtcp2 understands the ext spelling only; --policy-support must be "
          "ext or empty");
    if (o.send_policy_support_raw) return misuse("--send-policy-support-raw needs --enforcement=layer");
    if (!support_given) o.policy_support = static_cast<SpellingSet>(Spelling::ext);
  }
  if (o.limit_rate && !max_data_given)  // else the first 24 MiB would arrive unpaced
    o.max_data = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(*o.limit_rate / 10), 64 * 1024, o.max_data);
  if (o.ca_file && o.insecure) return misuse("--ca-file and --insecure are mutually exclusive");
  if (o.qlog_file && o.qlog_dir) return misuse("--qlog-file and --qlog-dir are mutually exclusive");
  if (positionals.size() < 2) return misuse("<HOST> and <PORT> are required");
  o.host = std::string(positionals[0]);
  o.port = std::string(positionals[1]);
  std::vector<Target> targets;
  for (std::size_t i = 2; i < positionals.size(); ++i) {
    auto t = parse_target(positionals[i]);
    if (!t) return misuse("invalid <URI>: '" + std::string(positionals[i]) + "'");
    targets.push_back(std::move(*t));
    o.uris.emplace_back(positionals[i]);
  }
  if (o.download_dir) {
    if (auto dup = duplicate_file_name(targets))
      return misuse("<URI>s '" + targets[dup->first].uri + "' and '" + targets[dup->second].uri +
                    "' would both be saved as " + *o.download_dir + "/" + targets[dup->first].file_name +
                    " (one file cannot hold both bodies)");
  }
  if (o.network_change && o.uris.empty()) return misuse("--network-change needs at least one <URI>");
  if (!o.network_events.empty() && o.uris.empty()) return misuse("--network-event needs at least one <URI>");
  return o;
}

}  // namespace qamp::client
