// The one command-line parser (examples/common/command_line.h) and the three programs' use of it:
// getopt_long's syntax without its global state, the shared value readers, and the options or
// Exit (or Invocation) that qamp-client's, qamp-server's and qamp-tp's parsers return for a table of
// command lines.
#include <catch2/catch_test_macros.hpp>

#include <cerrno>
#include <sstream>
#include <string>
#include <vector>

#include "command_line.h"
#include "options.h"  // qamp-client's (examples/client)
#include "../server/options.h"
#include "../tp/cli.h"
#include "../tp/commands.h"

using namespace qamp::common;
using namespace qamp::server;

namespace {

// argv from a string list, with a program name in front.
struct Argv {
  explicit Argv(std::vector<std::string> args) : strings(std::move(args)) {
    strings.insert(strings.begin(), "prog");
    for (auto &s : strings) pointers.push_back(s.c_str());
  }
  int argc() const { return static_cast<int>(pointers.size()); }
  const char *const *argv() const { return pointers.data(); }
  std::vector<std::string> strings;
  std::vector<const char *> pointers;
};

constexpr FlagSpec kFlags[] = {
    {"verbose", 'v', false, 1},
    {"out", 'o', true, 2},
    {"level", 0, true, 3},
};

// "id:flag=value" per argument, "error: ..." for an error.
std::vector<std::string> walk(std::vector<std::string> args) {
  Argv a(std::move(args));
  CliParser parser(kFlags, a.argc(), a.argv());
  std::vector<std::string> out;
  for (;;) {
    auto next = parser.next();
    if (auto *e = std::get_if<CliError>(&next)) {
      out.push_back("error: " + e->message);
      continue;  // the parser stops after an error: the next call ends the walk
    }
    auto *arg = std::get_if<CliArg>(&next);
    if (!arg) break;
    out.push_back(std::to_string(arg->id) + ":" + std::string(arg->flag) + "=" + std::string(arg->value));
  }
  return out;
}

}  // namespace

TEST_CASE("CliParser: getopt_long's syntax") {
  struct Row {
    std::vector<std::string> args;
    std::vector<std::string> expected;
  };
  const Row rows[] = {
      {{}, {}},
      {{"--verbose"}, {"1:--verbose="}},
      {{"-v"}, {"1:-v="}},
      {{"--out=f"}, {"2:--out=f"}},
      {{"--out", "f"}, {"2:--out=f"}},
      {{"--out="}, {"2:--out="}},  // an explicit empty value
      {{"-o", "f"}, {"2:-o=f"}},
      {{"-of"}, {"2:-o=f"}},
      {{"--out", "--verbose"}, {"2:--out=--verbose"}},                // a value may start with '-'
      {{"a", "--verbose", "b"}, {"-1:=a", "1:--verbose=", "-1:=b"}},  // interleaved, in order
      {{"--", "--verbose", "-"}, {"-1:=--verbose", "-1:=-"}},
      {{"-"}, {"-1:=-"}},
      {{"--level", "3", "x"}, {"3:--level=3", "-1:=x"}},
      // Errors name the flag, and the walk stops there.
      {{"--bogus", "x"}, {"error: unknown option --bogus"}},
      {{"--verb"}, {"error: unknown option --verb"}},  // no abbreviations
      {{"-x"}, {"error: unknown option -x"}},
      {{"--out"}, {"error: option --out needs a value"}},
      {{"-o"}, {"error: option -o needs a value"}},
      {{"--verbose=1"}, {"error: option --verbose takes no value"}},
      {{"-vv"}, {"error: option -v takes no value"}},  // no bundling of short flags
  };
  for (const auto &row : rows) {
    CAPTURE(row.args);
    CHECK(walk(row.args) == row.expected);
  }
}

TEST_CASE("value readers: sizes, durations, rates, counts, on/off") {
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("1500") == 1500u);
  CHECK(parse_size("64k") == 64u * 1024);
  CHECK(parse_size("16M") == 16u << 20);
  CHECK(parse_size("4G") == std::uint64_t{4} << 30);
  CHECK(parse_size("2T") == std::uint64_t{2} << 40);
  CHECK(parse_size("4194304T") == std::uint64_t{1} << 62);  // the bound itself
  CHECK_FALSE(parse_size("4194305T"));
  CHECK_FALSE(parse_size("99999999999999999999"));  // beyond uint64_t
  for (const char *bad : {"", "K", "12X", "-1", "+1", " 1", "1 ", "1.5M", "0x10"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_size(bad));
  }

  CHECK(parse_duration("30") == 30'000'000'000u);
  CHECK(parse_duration("1.5s") == 1'500'000'000u);
  CHECK(parse_duration("0.25") == 250'000'000u);
  CHECK(parse_duration("500ms") == 500'000'000u);
  CHECK(parse_duration("2m") == 120'000'000'000u);
  CHECK(parse_duration("1h") == 3'600'000'000'000u);
  CHECK(parse_duration("7us") == 7'000u);
  CHECK(parse_duration("9ns") == 9u);
  CHECK(parse_duration("0") == 0u);
  for (const char *bad : {"", "s", "ms", "1.", ".5", "1.5.2", "-1s", "1d", "1 s", "99999999999h"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }

  CHECK(parse_rate("16M") == 16.0 * (1 << 20));
  CHECK(parse_rate("16M/s") == 16.0 * (1 << 20));
  CHECK_FALSE(parse_rate("0"));
  CHECK_FALSE(parse_rate("/s"));

  CHECK(parse_count("1", 1, 10) == 1u);
  CHECK(parse_count("10", 1, 10) == 10u);
  CHECK_FALSE(parse_count("0", 1, 10));
  CHECK_FALSE(parse_count("11", 1, 10));
  CHECK_FALSE(parse_count("1e3", 1, 10000));

  CHECK(parse_on_off("on") == true);
  CHECK(parse_on_off("off") == false);
  CHECK_FALSE(parse_on_off("yes"));
}

namespace {

template <class Options, class Parse>
std::variant<Options, Exit> run(Parse parse, std::vector<std::string> args) {
  Argv a(std::move(args));
  return parse(a.argc(), a.argv());
}

std::string exit_of(const auto &parsed) {
  if (auto *e = std::get_if<Exit>(&parsed)) return std::to_string(e->status) + " " + e->message;
  return "run";
}

}  // namespace

TEST_CASE("qamp-client's command line") {
  using qamp::client::Options;
  auto client = [](std::vector<std::string> args) {
    return run<Options>(qamp::client::parse_options, std::move(args));
  };
  // Options and positionals in any order, as getopt_long allows.
  auto ok = client({"127.0.0.1", "--download=/tmp/d", "4433", "/a", "--limit-rate", "1M", "-q"});
  REQUIRE(exit_of(ok) == "run");
  const auto &o = std::get<Options>(ok);
  CHECK(o.host == "127.0.0.1");
  CHECK(o.port == "4433");
  CHECK(o.uris == std::vector<std::string>{"/a"});
  CHECK(o.download_dir == "/tmp/d");
  CHECK(o.quiet);
  CHECK(o.limit_rate == 1024.0 * 1024);
  CHECK(o.max_data == 104857u);  // a tenth of a second at the rate (credit_pacer.h)
  CHECK(o.follow_network);       // the default: follow the system's network events
  CHECK(o.network_config.degrading.pto_count == 4);

  // --network-event: each kind of scripted event, and the limits.
  auto ev = client({"h", "1", "/a", "--follow-network=off", "--network-event=2s=address-added:3:198.18.2.2",
                    "--network-event=40%=address-removed:2:2001:db8:1::2", "--network-event=1s=default-route-v6:3",
                    "--network-event=10%=write-error:ENETUNREACH", "--max-migrations=3", "--max-port-migrations=0",
                    "--max-time-on-non-default=0", "--migrate-idle=on", "--degrading-pto=0"});
  REQUIRE(exit_of(ev) == "run");
  const auto &e = std::get<Options>(ev);
  CHECK_FALSE(e.follow_network);
  REQUIRE(e.network_events.size() == 4);
  CHECK(e.network_events[0].after == 2'000'000'000u);
  CHECK(qamp::to_string(e.network_events[0].event) ==
        qamp::to_string(qamp::NetworkEvent{qamp::AddressAdded{3, *qamp::Endpoint::parse("198.18.2.2:0")}}));
  CHECK(e.network_events[1].share == 0.4);
  CHECK(std::get<qamp::AddressRemoved>(e.network_events[1].event).address ==
        *qamp::Endpoint::parse("[2001:db8:1::2]:0"));
  CHECK(std::get<qamp::DefaultRouteChanged>(e.network_events[2].event).family == AF_INET6);
  CHECK(std::get<qamp::WriteError>(e.network_events[3].event).error == ENETUNREACH);
  CHECK(e.network_config.max_migrations == 3);
  CHECK(e.network_config.max_port_migrations == 0);
  CHECK(e.network_config.max_time_on_non_default_network == 0);
  CHECK(e.network_config.migrate_idle_connections);
  CHECK(e.network_config.degrading.pto_count == 0);

  struct Row {
    std::vector<std::string> args;
    std::string expected;  // exit_of()
  };
  const Row rows[] = {
      {{"--help"}, "0 "},
      {{"h", "1", "-h"}, "0 "},
      {{"h"}, "2 <HOST> and <PORT> are required"},
      {{"--bogus", "h", "1"}, "2 unknown option --bogus"},
      {{"h", "1", "--timeout"}, "2 option --timeout needs a value"},
      {{"h", "1", "--timeout=0"}, "2 invalid value for --timeout: '0'"},
      {{"h", "1", "--max-data=12X"}, "2 invalid value for --max-data: '12X'"},
      {{"h", "1", "--semantics=maybe"}, "2 invalid value for --semantics: 'maybe'"},
      {{"h", "1", "--insecure=yes"}, "2 option --insecure takes no value"},
      {{"h", "1", "--insecure", "--ca-file=x"}, "2 --ca-file and --insecure are mutually exclusive"},
      {{"h", "1", "--network-change=40%=127.0.0.2:0"}, "2 --network-change needs at least one <URI>"},
      {{"h", "1", "ftp://x/y"}, "2 invalid <URI>: 'ftp://x/y'"},
      {{"h", "1", "--network-event=40%=link-down:1"}, "2 --network-event needs at least one <URI>"},
      {{"h", "1", "/a", "--network-event=40%=link-down:0"}, "2 invalid value for --network-event: '40%=link-down:0'"},
      {{"h", "1", "/a", "--network-event=40%=link-sideways:1"},
       "2 invalid value for --network-event: '40%=link-sideways:1'"},
      {{"h", "1", "/a", "--network-event=40%=write-error:EAGAIN"},
       "2 invalid value for --network-event: '40%=write-error:EAGAIN'"},
      {{"h", "1", "/a", "--network-event=101%=link-up:1"}, "2 invalid value for --network-event: '101%=link-up:1'"},
      {{"h", "1", "--follow-network=maybe"}, "2 invalid value for --follow-network: 'maybe'"},
      {{"h", "1", "--max-migrations=x"}, "2 invalid value for --max-migrations: 'x'"},
      {{"h", "1", "--max-time-on-non-default=soon"}, "2 invalid value for --max-time-on-non-default: 'soon'"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.args);
    CHECK(exit_of(client(row.args)) == row.expected);
  }
}

TEST_CASE("qamp-server's command line") {
  using qamp::server::ServerOptions;
  auto server = [](std::vector<std::string> args) {
    return run<ServerOptions>(qamp::server::parse_server_options, std::move(args));
  };
  auto ok = server({"-d", "/srv", "127.0.0.1", "4433", "--timeout=1.5s", "k.pem", "c.pem", "--spa-level", "none",
                    "--max-generated-bytes=64M"});
  REQUIRE(exit_of(ok) == "run");
  const auto &o = std::get<ServerOptions>(ok);
  CHECK(o.htdocs == "/srv");
  CHECK(o.handshake.to_string() == "127.0.0.1:4433");
  CHECK(o.key_file == "k.pem");
  CHECK(o.cert_file == "c.pem");
  CHECK(o.idle_timeout == 1'500'000'000u);
  CHECK(o.policy.spa_v4 == qamp::Level::none);
  CHECK(o.policy.spa_v6 == qamp::Level::none);
  CHECK(o.max_generated_bytes == 64u << 20);
  CHECK(o.workers == 1);
  CHECK(!o.instance_id);

  // --workers is cluster mode with server IDs from --instance-id (default 0): worker k is +k.
  auto workers = server(
      {"--workers=3", "--instance-id=4", "--cluster-size=8", "--stats-file=s.json", "127.0.0.1", "4433", "k", "c"});
  REQUIRE(exit_of(workers) == "run");
  const auto &w = std::get<ServerOptions>(workers);
  CHECK(w.workers == 3);
  CHECK(qamp::server::worker_options(w, 2).instance_id == 6);
  CHECK(qamp::server::worker_options(w, 2).stats_file == "s.json.worker2");
  auto plain_workers = server({"--workers=2", "--quic-lb-nonce-len=8", "127.0.0.1", "4433", "k", "c"});
  REQUIRE(exit_of(plain_workers) == "run");
  CHECK(qamp::server::worker_options(std::get<ServerOptions>(plain_workers), 1).instance_id == 1);

  const std::vector<std::string> pos = {"127.0.0.1", "4433", "k", "c"};
  auto with = [&](std::vector<std::string> flags) {
    flags.insert(flags.end(), pos.begin(), pos.end());
    return flags;
  };
  struct Row {
    std::vector<std::string> args;
    std::string expected;
  };
  const Row rows[] = {
      {{"-h"}, "0 "},
      {{"127.0.0.1", "4433"}, "2 expected <ADDR> <PORT> <PRIVATE_KEY_FILE> <CERTIFICATE_FILE>"},
      {with({"--bogus"}), "2 unknown option --bogus"},
      {with({"--handshake-level=sometimes"}), "2 --handshake-level: unknown level 'sometimes' (any, none, same-ip)"},
      {with({"--max-connections=0"}), "2 --max-connections: expected a count from 1 to 1000000, got '0'"},
      {with({"--max-half-open=1000001"}), "2 --max-half-open: expected a count from 1 to 1000000, got '1000001'"},
      {with({"--max-generated-bytes=12X"}), "2 --max-generated-bytes: bad size '12X' (e.g. 1048576, 64M, 4G)"},
      {with({"--timeout=soon"}), "2 --timeout: bad duration 'soon'"},
      {with({"--gate=maybe"}), "2 --gate: expected on or off, got 'maybe'"},
      {with({"--preferred-ipv4-addr=[::1]:1"}), "2 --preferred-ipv4-addr: expected A.B.C.D:PORT, got '[::1]:1'"},
      {with({"--instance-id=2", "--cluster-size=2"}), "2 --instance-id 2 must be below --cluster-size 2"},
      {with({"--cluster-size=2"}), "2 --cluster-size needs --instance-id"},
      {with({"--instance-id=256"}), "2 --instance-id: bad id '256'"},
      {with({"--instance-id=1", "--cluster-size=2", "--quic-lb-nonce-len=3"}),
       "2 --quic-lb-nonce-len: bad nonce length '3'"},
      {with({"--instance-id=1", "--cluster-size=2", "--quic-lb-config-rotation=7"}),
       "2 --quic-lb-config-rotation: bad config rotation '7'"},
      {with({"--quic-lb-key=k"}), "2 --quic-lb-* configure cluster mode: they need --instance-id"},
      {with({"--workers=0"}), "2 --workers: expected 1..64, got '0'"},
      {with({"--workers=65"}), "2 --workers: expected 1..64, got '65'"},
      {with({"--workers=2", "--quic-lb-key=k"}),
       "2 --workers steers by the plaintext QUIC-LB server ID in the kernel; encrypted CIDs (--quic-lb-key) "
       "need a balancer that decrypts them"},
      {with({"--workers=2", "--instance-id=255"}), "2 --workers 2 from --instance-id 255: server IDs above 255"},
      {with({"--workers=3", "--instance-id=1", "--cluster-size=3"}),
       "2 --workers 3 from --instance-id 1 need server IDs below --cluster-size 3"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.args);
    CHECK(exit_of(server(row.args)) == row.expected);
  }

  // QUIC-LB nonce length: 16 (18-octet CIDs) by default, 15 (one AES block) with a key unless
  // given.
  auto nonce_of = [&](std::vector<std::string> flags) {
    auto r = server(with(std::move(flags)));
    REQUIRE(exit_of(r) == "run");
    return std::get<ServerOptions>(r).quic_lb_nonce_len;
  };
  CHECK(nonce_of({"--instance-id=0"}) == 16);
  CHECK(nonce_of({"--instance-id=0", "--quic-lb-key=k"}) == 15);
  CHECK(nonce_of({"--instance-id=0", "--quic-lb-key=k", "--quic-lb-nonce-len=16"}) == 16);
  CHECK(nonce_of({"--instance-id=0", "--quic-lb-nonce-len=8", "--quic-lb-key=k"}) == 8);
}

TEST_CASE("qamp-tp's command line") {
  using namespace qamp::tp;
  auto tp = [](std::vector<std::string> args) {
    Argv a(std::move(args));
    return parse_command_line(a.argc(), a.argv());
  };
  auto usage_error = [](const Invocation &i) {
    auto *e = std::get_if<UsageError>(&i);
    return e ? e->message : std::string("(no usage error)");
  };
  auto enc = tp({"encode", "--spa-v4=1.2.3.4:5", "--spelling", "ext", "--handshake", "none", "--spa-level=same-ip"});
  REQUIRE(std::holds_alternative<EncodeArgs>(enc));
  const auto &e = std::get<EncodeArgs>(enc);
  CHECK(e.spelling == qamp::Spelling::ext);
  CHECK(e.policy.handshake == qamp::Level::none);
  CHECK(e.policy.spa_v4 == qamp::Level::same_ip);
  REQUIRE(e.preferred_address);
  CHECK(e.preferred_address->ipv4_port == 5);

  auto dec = tp({"decode", "00ff", "--from", "client"});
  REQUIRE(std::holds_alternative<DecodeArgs>(dec));
  CHECK(std::get<DecodeArgs>(dec).from_client);
  CHECK(std::get<DecodeArgs>(dec).hex == "00ff");

  CHECK(std::holds_alternative<Help>(tp({"--help"})));
  CHECK(std::holds_alternative<Help>(tp({"decode", "-h"})));
  CHECK(std::holds_alternative<CompareArgs>(tp({"compare"})));
  CHECK(usage_error(tp({})) == "missing command");
  CHECK(usage_error(tp({"frobnicate"})) == "unknown command frobnicate");
  CHECK(usage_error(tp({"decode"})) == "missing HEX");
  CHECK(usage_error(tp({"decode", "00", "01"})) == "one HEX argument expected");
  CHECK(usage_error(tp({"decode", "--from=peer", "00"})) == "--from needs server or client");
  CHECK(usage_error(tp({"decode", "--bogus", "00"})) == "unknown option --bogus");
  CHECK(usage_error(tp({"encode", "--spelling", "ext"})) == "missing --handshake");
  CHECK(usage_error(tp({"encode", "--spelling", "ext", "--handshake", "sometimes"})) ==
        "--handshake needs any, none or same-ip");
  CHECK(usage_error(tp({"encode", "--spelling", "ext", "--handshake", "any", "--cid"})) ==
        "option --cid needs a value");
  CHECK(usage_error(tp({"encode", "--spelling=ext", "--handshake=any", "--spa-level=any", "--spa-v4-level=none"})) ==
        "--spa-level excludes --spa-v4-level / --spa-v6-level");
  CHECK(usage_error(tp({"compare", "x"})) == "unexpected argument x");
}

TEST_CASE("qamp-tp cid encode and decode: an operator's question, answered by the balancer's decoder") {
  using namespace qamp::tp;
  auto tp = [](std::vector<std::string> args) {
    Argv a(std::move(args));
    return parse_command_line(a.argc(), a.argv());
  };
  struct Run {
    int status;
    std::string out, err;
  };
  auto run = [&](std::vector<std::string> args) {
    auto inv = tp(std::move(args));
    if (auto *e = std::get_if<UsageError>(&inv)) return Run{2, "", e->message};
    REQUIRE(std::holds_alternative<CidArgs>(inv));
    std::ostringstream out, err;
    int status = run_cid(std::get<CidArgs>(inv), out, err);
    return Run{status, out.str(), err.str()};
  };
  const std::string key = "--key=8f95f09245765f80256934e50c66207f";

  // Plaintext: first octet 0b000 | 17 (length self-encoded), server ID, nonce.
  CHECK(run({"cid", "encode", "--server-id=01", "--nonce=00112233445566778899aabbccddeeff"}).out ==
        "110100112233445566778899aabbccddeeff\n");
  CHECK(run({"cid", "encode", "--server-id=01", "--nonce=00112233", "--config-rotation=2", "--length-self-encoding=off",
             "--first-octet-bits=9"})
            .out == "490100112233\n");

  // Encrypted (single pass: server ID + nonce = 16 octets) and back, as a balancer reads it.
  auto enc = run({"cid", "encode", "--server-id=01", "--nonce=00112233445566778899aabbccddee", key});
  REQUIRE(enc.status == 0);
  REQUIRE(enc.out.size() == 2 * 17 + 1);
  CHECK(enc.out.find("0100112233") == std::string::npos);  // the server ID does not show
  const std::string cid = enc.out.substr(0, enc.out.size() - 1);
  auto dec = run({"cid", "decode", "--server-id-len=1", "--nonce-len=15", key, cid});
  CHECK(dec.status == 0);
  CHECK(dec.out.find("\"route\": \"routed\"") != std::string::npos);
  CHECK(dec.out.find("\"server_id\": \"01\"") != std::string::npos);
  CHECK(dec.out.find("\"nonce\": \"00112233445566778899aabbccddee\"") != std::string::npos);

  struct Row {
    std::vector<std::string> args;
    int status;
    std::string out_has, err_is;
  };
  const std::vector<Row> rows = {
      {{"cid", "decode", "--server-id-len=1", "--nonce-len=15", "e0112233"}, 0, "\"route\": \"unroutable\"", ""},
      {{"cid", "decode", "--server-id-len=1", "--nonce-len=15", "4011"}, 0, "\"route\": \"no-config\"", ""},
      {{"cid", "decode", "--server-id-len=1", "--nonce-len=15", "1101"}, 0, "\"route\": \"too-short\"", ""},
      {{"cid", "decode", "--server-id-len=1", "--nonce-len=15", "zz"},
       1,
       "",
       "error: CID: not a hex digit at offset 0\n"},
      {{"cid", "decode", "--server-id-len=16", "--nonce-len=4", "00"}, 2, "", "server_id_len: must be 1..15 octets"},
      {{"cid", "decode", "--server-id-len=1", "--nonce-len=4", "--config-rotation=7", "00"},
       2,
       "",
       "config_rotation: 7 (0b111) is reserved for unroutable CIDs (use 0..6)"},
      {{"cid", "decode", "--server-id-len=1", "--nonce-len=4", "--key=0011", "00"},
       2,
       "",
       "key: must be 16 octets (AES-128), got 2"},
      {{"cid", "decode", "--nonce-len=4", "00"}, 2, "", "missing --server-id-len"},
      {{"cid", "decode", "--server-id-len=1", "--nonce-len=4"}, 2, "", "missing CID"},
      {{"cid", "encode", "--nonce=00112233"}, 2, "", "missing --server-id"},
      {{"cid", "encode", "--server-id=01", "--nonce=0011"}, 2, "", "nonce_len: must be 4..18 octets"},
      {{"cid", "encode", "--server-id=01", "--nonce=00112233", "--first-octet-bits=3"},
       2,
       "",
       "--first-octet-bits needs --length-self-encoding=off (else those bits are the length)"},
      {{"cid", "encode", "--server-id=0g", "--nonce=00112233"}, 2, "", "--server-id: not a hex digit at offset 1"},
      {{"cid", "frob"}, 2, "", "unknown cid command frob"},
      {{"cid"}, 2, "", "missing encode or decode"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.args);
    auto r = run(row.args);
    CHECK(r.status == row.status);
    if (!row.out_has.empty()) CHECK(r.out.find(row.out_has) != std::string::npos);
    CHECK(r.err == row.err_is);
  }
  CHECK(std::holds_alternative<Help>(tp({"cid", "--help"})));
  CHECK(std::holds_alternative<Help>(tp({"cid", "decode", "-h"})));
}
