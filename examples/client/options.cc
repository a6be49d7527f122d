#include "qamp/hex.h"
#include "options.h"

#include <getopt.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "target.h"

namespace qamp::client {

namespace {

std::optional<std::uint64_t> number(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Multiplies with an overflow check.
std::optional<std::uint64_t> scaled(std::uint64_t n, std::uint64_t unit) noexcept {
  if (unit && n > UINT64_MAX / unit) return std::nullopt;
  return n * unit;
}

}  // namespace

std::string_view to_string(OldPath old_path) noexcept {
  return old_path == OldPath::keep ? "keep" : "drop";
}

std::optional<OldPath> parse_old_path(std::string_view text) noexcept {
  if (text == "keep") return OldPath::keep;
  if (text == "drop") return OldPath::drop;
  return std::nullopt;
}

std::optional<ngtcp2_duration> parse_duration(std::string_view text) noexcept {
  struct Unit {
    std::string_view suffix;
    std::uint64_t ns;
  };
  // Longest suffixes first so "ms" is not read as "s".
  static constexpr Unit units[] = {{"ms", NGTCP2_MILLISECONDS}, {"us", NGTCP2_MICROSECONDS},
                                   {"ns", NGTCP2_NANOSECONDS},  {"h", 3600 * NGTCP2_SECONDS},
                                   {"m", 60 * NGTCP2_SECONDS},  {"s", NGTCP2_SECONDS}};
  for (const auto &u : units) {
    if (text.size() > u.suffix.size() && text.ends_with(u.suffix)) {
      auto n = number(text.substr(0, text.size() - u.suffix.size()));
      return n ? scaled(*n, u.ns) : std::nullopt;
    }
  }
  auto n = number(text);
  return n ? scaled(*n, NGTCP2_SECONDS) : std::nullopt;
}

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t unit = 1;
  switch (text.back()) {
    case 'K': case 'k': unit = 1024; break;
    case 'M': case 'm': unit = 1024 * 1024; break;
    case 'G': case 'g': unit = 1024 * 1024 * 1024; break;
    default: break;
  }
  if (unit != 1) text.remove_suffix(1);
  auto n = number(text);
  return n ? scaled(*n, unit) : std::nullopt;
}

std::optional<double> parse_rate(std::string_view text) noexcept {
  if (text.ends_with("/s")) text.remove_suffix(2);
  auto n = parse_size(text);
  if (!n || *n == 0) return std::nullopt;
  return static_cast<double>(*n);
}

std::optional<NetworkChange> parse_network_change(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  NetworkChange nc;
  nc.text = std::string(text);
  auto at = text.substr(0, eq);
  if (at.ends_with('%')) {
    at.remove_suffix(1);
    double v = 0;
    auto [p, ec] = std::from_chars(at.data(), at.data() + at.size(), v);
    if (at.empty() || ec != std::errc() || p != at.data() + at.size() || v < 0 || v > 100) return std::nullopt;
    nc.share = v / 100.0;
  } else {
    nc.after = parse_duration(at);
    if (!nc.after) return std::nullopt;
  }
  auto local = Endpoint::parse(text.substr(eq + 1));
  if (!local) return std::nullopt;
  nc.local = *local;
  return nc;
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
      "  --strategy=<auto|stay|reconnect>  On a refused migration: ask the planner (auto) or\n"
      "                          force its answer. Default: auto\n"
      "  --new-path-rate=<BYTES/s>  Expected throughput of the new path (planner input; K/M/G)\n"
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

ParseResult parse_options(int argc, char **argv) {
  enum : int {
    kDownload = 256, kNoPreferredAddr, kQlogFile, kQlogDir, kExitFirst, kExitAll, kTimeout, kSni,
    kMaxData, kMaxStreamDataBidiLocal, kMaxStreamDataUni, kNoDump, kSemantics, kSpaFamily,
    kPolicySupport, kNetworkChange, kOldPath, kStrategy, kNewPathRate, kIgnoreReset, kSummary,
    kSendPolicySupportRaw, kEnforcement, kCaFile, kInsecure, kLimitRate,
  };
  static const option long_options[] = {
      {"download", required_argument, nullptr, kDownload},
      {"quiet", no_argument, nullptr, 'q'},
      {"no-preferred-addr", no_argument, nullptr, kNoPreferredAddr},
      {"qlog-file", required_argument, nullptr, kQlogFile},
      {"qlog-dir", required_argument, nullptr, kQlogDir},
      {"exit-on-first-stream-close", no_argument, nullptr, kExitFirst},
      {"exit-on-all-streams-close", no_argument, nullptr, kExitAll},
      {"timeout", required_argument, nullptr, kTimeout},
      {"sni", required_argument, nullptr, kSni},
      {"max-data", required_argument, nullptr, kMaxData},
      {"max-stream-data-bidi-local", required_argument, nullptr, kMaxStreamDataBidiLocal},
      {"max-stream-data-uni", required_argument, nullptr, kMaxStreamDataUni},
      {"no-quic-dump", no_argument, nullptr, kNoDump},
      {"no-http-dump", no_argument, nullptr, kNoDump},
      {"semantics", required_argument, nullptr, kSemantics},
      {"spa-family", required_argument, nullptr, kSpaFamily},
      {"policy-support", required_argument, nullptr, kPolicySupport},
      {"network-change", required_argument, nullptr, kNetworkChange},
      {"old-path-after-change", required_argument, nullptr, kOldPath},
      {"strategy", required_argument, nullptr, kStrategy},
      {"new-path-rate", required_argument, nullptr, kNewPathRate},
      {"limit-rate", required_argument, nullptr, kLimitRate},
      {"ignore-reset-on-probe", no_argument, nullptr, kIgnoreReset},
      {"summary", required_argument, nullptr, kSummary},
      {"send-policy-support-raw", required_argument, nullptr, kSendPolicySupportRaw},
      {"enforcement", required_argument, nullptr, kEnforcement},
      {"ca-file", required_argument, nullptr, kCaFile},
      {"insecure", no_argument, nullptr, kInsecure},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };

  Options o;
  auto misuse = [](const std::string &why) {
    std::fprintf(stderr, "qamp-client: %s\n\n", why.c_str());
    print_usage(stderr);
    return ParseResult{std::nullopt, 2};
  };
  auto bad_value = [&](const char *name, const char *value) {
    return misuse(std::string("invalid value for --") + name + ": '" + value + "'");
  };

  bool semantics_given = false, support_given = false, max_data_given = false;
  optind = 0;  // glibc: full re-initialisation, so the parser can run more than once
  opterr = 0;
  for (;;) {
    int idx = 0;
    int c = getopt_long(argc, argv, ":hq", long_options, &idx);
    if (c == -1) break;
    const char *arg = optarg;
    switch (c) {
      case 'h':
        print_usage(stdout);
        return ParseResult{std::nullopt, 0};
      case 'q': o.quiet = true; break;
      case kDownload: o.download_dir = arg; break;
      case kNoPreferredAddr: o.no_preferred_addr = true; break;
      case kQlogFile: o.qlog_file = arg; break;
      case kQlogDir: o.qlog_dir = arg; break;
      case kExitFirst: o.exit_on_first_stream_close = true; break;
      case kExitAll: o.exit_on_all_streams_close = true; break;
      case kTimeout: {
        auto d = parse_duration(arg);
        if (!d || *d == 0) return bad_value("timeout", arg);
        o.timeout = *d;
        break;
      }
      case kSni: o.sni = arg; break;
      case kMaxData:
      case kMaxStreamDataBidiLocal:
      case kMaxStreamDataUni: {
        auto n = parse_size(arg);
        if (!n) return bad_value(long_options[idx].name, arg);
        (c == kMaxData ? o.max_data : c == kMaxStreamDataUni ? o.max_stream_data_uni
                                                             : o.max_stream_data_bidi_local) = *n;
        max_data_given = max_data_given || c == kMaxData;
        break;
      }
      case kNoDump: break;
      case kSemantics: {
        auto s = parse_semantics(arg);
        if (!s) return bad_value("semantics", arg);
        o.semantics = *s;
        semantics_given = true;
        break;
      }
      case kSpaFamily: {
        auto f = parse_spa_family(arg);
        if (!f) return bad_value("spa-family", arg);
        o.spa_family = *f;
        break;
      }
      case kPolicySupport: {
        auto list = parse_spelling_list(arg);
        if (!list) return bad_value("policy-support", arg);
        o.policy_support = to_set(*list);
        support_given = true;
        break;
      }
      case kNetworkChange: {
        auto nc = parse_network_change(arg);
        if (!nc) return bad_value("network-change", arg);
        o.network_change = *nc;
        break;
      }
      case kOldPath: {
        auto p = parse_old_path(arg);
        if (!p) return bad_value("old-path-after-change", arg);
        o.old_path = *p;
        break;
      }
      case kStrategy: {
        auto s = parse_forced_strategy(arg);
        if (!s) return bad_value("strategy", arg);
        o.strategy = *s;
        break;
      }
      case kNewPathRate: {
        auto r = parse_rate(arg);
        if (!r) return bad_value("new-path-rate", arg);
        o.new_path_rate = *r;
        break;
      }
      case kLimitRate: {
        auto r = parse_rate(arg);
        if (!r) return bad_value("limit-rate", arg);
        o.limit_rate = *r;
        break;
      }
      case kIgnoreReset: o.ignore_reset_on_probe = true; break;
      case kSummary: o.summary_file = arg; break;
      case kSendPolicySupportRaw: {
        auto raw = from_hex(arg, "--send-policy-support-raw");
        if (!raw) return bad_value("send-policy-support-raw", arg);
        o.send_policy_support_raw = std::move(*raw);
        break;
      }
      case kEnforcement: {
        auto e = ex::parse_enforcement(arg);
        if (!e) return bad_value("enforcement", arg);
        o.enforcement = *e;
        break;
      }
      case kCaFile:
        if (!*arg) return bad_value("ca-file", arg);
        o.ca_file = arg;
        break;
      case kInsecure: o.insecure = true; break;
      case ':':
        return misuse(std::string("option requires an argument: ") + argv[optind - 1]);
      default:
        return misuse(std::string("unknown option: ") + argv[optind - 1]);
    }
  }
  if (o.enforcement == ex::Enforcement::native) {
    if (!ex::kNativeEnforcementAvailable) return misuse(std::string(ex::native_unavailable_reason()));
    if (semantics_given && o.semantics != Semantics::per_address)
      return misuse("--enforcement=native: ngtcp2 reads the policy with per-address semantics (RFC 9000 "
                    "for a server without one); --semantics " + std::string(to_string(o.semantics)) +
                    " needs --enforcement=layer");
    if (support_given && o.policy_support != 0 && o.policy_support != static_cast<SpellingSet>(Spelling::ext))
      return misuse("--enforcement=native: ngtcp2 understands the ext spelling only; --policy-support must be "
                    "ext or empty");
    if (o.send_policy_support_raw) return misuse("--send-policy-support-raw needs --enforcement=layer");
    if (!support_given) o.policy_support = static_cast<SpellingSet>(Spelling::ext);
  }
  if (o.limit_rate && !max_data_given)  // else the first 24 MiB would arrive unpaced
    o.max_data = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(*o.limit_rate / 10), 64 * 1024, o.max_data);
  if (o.ca_file && o.insecure) return misuse("--ca-file and --insecure are mutually exclusive");
  if (o.qlog_file && o.qlog_dir) return misuse("--qlog-file and --qlog-dir are mutually exclusive");
  if (argc - optind < 2) return misuse("<HOST> and <PORT> are required");
  o.host = argv[optind++];
  o.port = argv[optind++];
  std::vector<Target> targets;
  for (; optind < argc; ++optind) {
    auto t = parse_target(argv[optind]);
    if (!t) return misuse(std::string("invalid <URI>: '") + argv[optind] + "'");
    targets.push_back(std::move(*t));
    o.uris.emplace_back(argv[optind]);
  }
  if (o.download_dir) {
    if (auto dup = duplicate_file_name(targets))
      return misuse("<URI>s '" + targets[dup->first].uri + "' and '" + targets[dup->second].uri + "' would both be saved as " +
                    *o.download_dir + "/" + targets[dup->first].file_name + " (one file cannot hold both bodies)");
  }
  if (o.network_change && o.uris.empty())
    return misuse("--network-change needs at least one <URI>");
  return ParseResult{std::move(o), 0};
}

}  // namespace qamp::client
