// qamp-client's migration adapter (examples/client/migration.cc) driven for real, in memory: a
// fake host records what the adapter asks of ngtcp2 and the sockets, a fake clock and scheduler
// run its timers, the qlog file shows each decision. One row per scenario.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "migration.h"

using namespace qamp;
using namespace qamp::client;

namespace {

Endpoint ep(const char *text) { return *Endpoint::parse(text); }

constexpr ngtcp2_tstamp kMs = 1'000'000;

// The handshake path, the server's preferred address and the networks the client moves to.
const Endpoint kOldLocal = ep("192.0.2.10:5000");
const Endpoint kServer = ep("198.51.100.1:443");
const Endpoint kSpa = ep("198.51.100.2:443");
const Endpoint kNewIp = ep("192.0.2.20:0");    // another IP: Change::ip_change
const Endpoint kNewPort = ep("192.0.2.10:0");  // same IP: Change::port_only
const Endpoint kOtherIp = ep("192.0.2.30:0");
const Endpoint kV6 = ep("[2001:db8::5]:0");

// Records every request; sockets get ports 40001, 40002... in the order they are opened.
struct FakeHost final : MigrationHost {
  bool open = true;
  Endpoint local_ep = kOldLocal;
  Endpoint remote_ep = kServer;
  ClientTpState tp;
  std::vector<Endpoint> sockets{kOldLocal};
  std::vector<int> initiate_results;  // consumed in order; 0 once empty
  std::vector<ResetToken> tokens;
  std::vector<std::string> calls;
  std::uint16_t next_port = 40001;

  bool connection_open() override { return open; }
  Endpoint local() override { return local_ep; }
  Endpoint remote() override { return remote_ep; }
  const ClientTpState *tp_state() override { return &tp; }
  std::vector<ngtcp2_tstamp> initiate_ts;
  int initiate_migration(const Endpoint &l, const Endpoint &r, bool immediate, ngtcp2_tstamp ts) override {
    initiate_ts.push_back(ts);
    calls.push_back(std::string(immediate ? "immediate " : "initiate ") + l.to_string() + " -> " + r.to_string());
    if (initiate_results.empty()) return 0;
    int rv = initiate_results.front();
    initiate_results.erase(initiate_results.begin());
    return rv;
  }
  std::vector<ResetToken> peer_reset_tokens() override { return tokens; }
  std::string native_migration_level() override { return "none"; }
  void write() override {}
  std::optional<Endpoint> open_socket(const Endpoint &l, std::string *) override {
    auto bound = l;
    if (bound.port() == 0) bound.set_port(next_port++);
    sockets.push_back(bound);
    calls.push_back("open " + bound.to_string());
    return bound;
  }
  bool has_socket(const Endpoint &l) override {
    for (const auto &s : sockets)
      if (s == l) return true;
    return false;
  }
  void close_socket(const Endpoint &l) override { calls.push_back("close " + l.to_string()); }
  std::optional<Endpoint> route_source(const Endpoint &r, std::string *error) override {
    if (r.family() == AF_INET) return ep("192.0.2.10:0");
    if (error) *error = "no IPv6 route";
    return std::nullopt;
  }
  void reconnect(std::optional<Endpoint> from, bool resume) override {
    calls.push_back(std::string(resume ? "reconnect-resume " : "reconnect-restart ") +
                    (from ? from->to_string() : "-"));
  }
  PlannerInput transfer() override {
    PlannerInput in;
    in.body_size = 1'000'000;
    in.received = 100'000;
    in.resumable = true;
    in.old_rate = 1e6;
    in.old_rtt = 0.01;
    return in;
  }
};

// A virtual clock and the adapter's timers on it.
struct FakeTimers final : Clock, Scheduler {
  ngtcp2_tstamp t = 1'000 * kMs;
  std::map<AdapterTimer, ngtcp2_tstamp> armed;
  MigrationAdapter *adapter = nullptr;

  ngtcp2_tstamp now() const override { return t; }
  void arm(AdapterTimer id, ngtcp2_tstamp at) override { armed[id] = at; }
  void cancel(AdapterTimer id) override { armed.erase(id); }
  // Fires every timer due by now + `dt` in deadline order, moving the clock along.
  void advance(ngtcp2_tstamp dt = 0) {
    const ngtcp2_tstamp end = t + dt;
    for (;;) {
      auto next = armed.end();
      for (auto it = armed.begin(); it != armed.end(); ++it)
        if (it->second <= end && (next == armed.end() || it->second < next->second)) next = it;
      if (next == armed.end()) break;
      const AdapterTimer id = next->first;
      t = std::max(t, next->second);
      armed.erase(next);
      adapter->on_timer(id);
    }
    t = end;
  }
};

// One client connection: options, trace (qlog to a temporary file), host, timers, adapter.
struct Rig {
  Options opt;
  std::string qlog_path;
  std::unique_ptr<Trace> trace;
  RunRecord run;
  FakeHost host;
  FakeTimers timers;
  std::unique_ptr<MigrationAdapter> adapter;

  // Server policy `policy`; a preferred address (IPv4) when `spa`.
  explicit Rig(Policy policy, bool spa = false, Options options = {}) : opt(std::move(options)) {
    char name[] = "/tmp/qamp-adapter-test-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    qlog_path = name;
    opt.quiet = true;
    trace = std::make_unique<Trace>(true, qlog_path, std::nullopt);
    std::string error;
    REQUIRE(trace->connection_started("00", 0, &error));
    ServerDecoding server;
    server.policy = policy;
    if (spa) {
      PreferredAddress pa;
      pa.ipv4 = {198, 51, 100, 2};
      pa.ipv4_port = 443;
      server.preferred_address = pa;
    }
    host.tp.server = server;
    adapter = std::make_unique<MigrationAdapter>(opt, *trace, run, host, timers, timers);
    timers.adapter = adapter.get();
    adapter->connection_started();
    adapter->handshake_completed();
  }
  ~Rig() { std::remove(qlog_path.c_str()); }

  // ngtcp2's path_validation for the path the adapter asked for last.
  void validated(const Endpoint &local, const Endpoint &remote, bool success, std::uint32_t flags = 0) {
    auto l = local;
    auto r = remote;
    ngtcp2_path path{l.addr(), r.addr(), nullptr};
    adapter->path_validated(flags, path, nullptr, success);
    timers.advance();
  }
  // The qamp:migration decisions in the qlog: "outcome" or, with `reasons`, "outcome/reason",
  // in order, space-separated. Closes the trace: call once per Rig, at the end.
  std::string outcomes(bool reasons = false) {
    trace.reset();  // flushes and closes the qlog file
    std::ifstream in(qlog_path);
    std::string line, out;
    auto field = [&](const std::string &key) {
      auto at = line.find("\"" + key + "\":\"");
      if (at == std::string::npos) return std::string();
      at += key.size() + 4;
      return line.substr(at, line.find('"', at) - at);
    };
    while (std::getline(in, line)) {
      if (line.find("\"name\":\"qamp:migration\"") == std::string::npos) continue;
      if (!out.empty()) out += ' ';
      out += field("outcome");
      if (reasons) out += "/" + field("reason");
    }
    return out;
  }
  const Migrator &migrator() const { return *adapter->migrator(); }
};

std::string joined(const std::vector<std::string> &v) {
  std::string out;
  for (const auto &s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

constexpr auto A = Level::any;
constexpr auto N = Level::none;
constexpr auto S = Level::same_ip;

}  // namespace

TEST_CASE("adapter: a change before the handshake is confirmed waits for it (RFC 9000 §9)") {
  struct Row {
    const char *name;
    Policy policy;
    Endpoint to;
    std::string calls_before;  // before the confirmation
    std::string calls_after;   // after it
    std::string outcomes;
  };
  const std::vector<Row> rows = {
      {"handshake address any, IP change: queued, then validated from the new socket", Policy{A, A, A}, kNewIp,
       "open 192.0.2.20:40001", "open 192.0.2.20:40001; initiate 192.0.2.20:40001 -> 198.51.100.1:443",
       "deferred-until-confirmed start-path-validation"},
      {"handshake address same-ip, port change: queued, then validated", Policy{S, A, A}, kNewPort,
       "open 192.0.2.10:40001", "open 192.0.2.10:40001; initiate 192.0.2.10:40001 -> 198.51.100.1:443",
       "deferred-until-confirmed start-path-validation"},
      {"handshake address none, IP change: queued, then refused; the planner stays", Policy{N, A, A}, kNewIp,
       "open 192.0.2.20:40001", "open 192.0.2.20:40001; close 192.0.2.20:40001",
       "deferred-until-confirmed refused-by-policy"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Rig rig(row.policy);
    rig.adapter->network_changed(row.to);
    rig.timers.advance();
    CHECK(joined(rig.host.calls) == row.calls_before);
    CHECK(rig.migrator().has_queued());
    rig.adapter->handshake_confirmed();
    rig.timers.advance();
    CHECK(joined(rig.host.calls) == row.calls_after);
    CHECK_FALSE(rig.migrator().has_queued());
    CHECK(rig.outcomes() == row.outcomes);
  }
}

TEST_CASE("adapter: changes the server's policy forbids are refused with the rule, nothing probed") {
  struct Row {
    const char *name;
    Policy policy;
    Endpoint to;
    bool refused;
    std::string outcome_line;
  };
  const std::vector<Row> rows = {
      {"none forbids an IP change", Policy{N, A, A}, kNewIp, true, "refused-by-policy/level-none"},
      {"none forbids a port change", Policy{N, A, A}, kNewPort, true, "refused-by-policy/level-none"},
      {"same-ip forbids an IP change", Policy{S, A, A}, kNewIp, true, "refused-by-policy/same-ip-forbids-ip-change"},
      {"same-ip allows a port change", Policy{S, A, A}, kNewPort, false,
       "start-path-validation/same-ip-allows-port-change"},
      {"any allows an IP change", Policy{A, A, A}, kNewIp, false, "start-path-validation/level-any"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Rig rig(row.policy);
    rig.adapter->handshake_confirmed();
    rig.timers.advance();
    rig.adapter->network_changed(row.to);
    rig.timers.advance();
    const bool probed = joined(rig.host.calls).find("initiate") != std::string::npos;
    CHECK(probed == !row.refused);
    CHECK(rig.run.migrations.refused == (row.refused ? 1 : 0));
    CHECK(rig.run.migrations.attempted == (row.refused ? 0 : 1));
    CHECK(rig.migrator().stats().refused == (row.refused ? 1u : 0u));
    if (row.refused) CHECK(!rig.run.planner.is_null());
    CHECK(rig.outcomes(true) == row.outcome_line);
  }
}

TEST_CASE("adapter: ngtcp2 not ready to start a validation: retried up to the limit") {
  struct Row {
    const char *name;
    std::vector<int> results;
    std::size_t initiates;
    bool validating;  // the validation finally started
    ngtcp2_tstamp elapsed;
    std::string last_outcome;
  };
  std::vector<int> blocked_forever(41, NGTCP2_ERR_CONN_ID_BLOCKED);
  const std::vector<Row> rows = {
      {"started at once", {}, 1, true, 0, "start-path-validation"},
      {"CONN_ID_BLOCKED once: retried after 50 ms",
       {NGTCP2_ERR_CONN_ID_BLOCKED},
       2,
       true,
       50 * kMs,
       "retry-conn-id-blocked"},
      {"INVALID_STATE three times",
       {NGTCP2_ERR_INVALID_STATE, NGTCP2_ERR_INVALID_STATE, NGTCP2_ERR_INVALID_STATE},
       4,
       true,
       150 * kMs,
       "retry-invalid-state"},
      {"CONN_ID_BLOCKED 41 times: 40 retries, then give up and stay", blocked_forever, 41, false, 2000 * kMs,
       "validation-failed-stayed"},
      {"another error: no retry", {NGTCP2_ERR_NOMEM}, 1, false, 0, "validation-failed-stayed"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Rig rig(Policy{A, A, A});
    rig.host.initiate_results = row.results;
    rig.adapter->handshake_confirmed();
    rig.adapter->network_changed(kNewIp);
    rig.timers.advance(5000 * kMs);
    std::size_t initiates = 0;
    for (const auto &c : rig.host.calls) initiates += c.rfind("initiate", 0) == 0;
    CHECK(initiates == row.initiates);
    CHECK((rig.migrator().state() == MigratorState::validating_migration) == row.validating);
    CHECK(rig.run.migrations.attempted == (row.validating ? 1 : 0));
    CHECK(rig.run.migrations.failed == (row.validating ? 0 : 1));
    CHECK(rig.host.initiate_ts.back() - rig.host.initiate_ts.front() == row.elapsed);
    const auto outcomes = rig.outcomes();
    CHECK(outcomes.substr(outcomes.rfind(' ') + 1) == row.last_outcome);
    if (row.initiates == 41) CHECK(outcomes.find("gave-up-after-retries") != std::string::npos);
  }
}

TEST_CASE("adapter: a Stateless Reset while a path is probed (--ignore-reset-on-probe)") {
  ResetToken token;
  token.fill(0x77);
  std::vector<std::uint8_t> reset(30, 0x41);
  std::copy(token.begin(), token.end(), reset.end() - 16);
  std::vector<std::uint8_t> not_reset = reset;
  not_reset.back() ^= 1;
  const Endpoint probed = ep("192.0.2.20:40001");
  struct Row {
    const char *name;
    bool hardened;
    bool probing;
    Endpoint arrived_on;
    const std::vector<std::uint8_t> *datagram;
    bool admitted;
  };
  const std::vector<Row> rows = {
      {"reset on the probed path: ignored", true, true, probed, &reset, false},
      {"reset on the old (active) path: the connection is really gone", true, true, kOldLocal, &reset, true},
      {"datagram ending in another token: an ordinary packet", true, true, probed, &not_reset, true},
      {"reset on the probed path without the hardening", false, true, probed, &reset, true},
      {"reset with nothing being probed", true, false, probed, &reset, true},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Options opt;
    opt.ignore_reset_on_probe = row.hardened;
    Rig rig(Policy{A, A, A}, false, opt);
    rig.host.tokens = {token};
    rig.adapter->handshake_confirmed();
    if (row.probing) rig.adapter->network_changed(kNewIp);
    rig.timers.advance();
    CHECK(rig.adapter->admit_datagram(row.arrived_on, kServer, *row.datagram) == row.admitted);
    CHECK(rig.migrator().stats().resets_ignored == (row.admitted ? 0u : 1u));
    CHECK((rig.outcomes().find("ignored-reset-on-probe") != std::string::npos) == !row.admitted);
  }
}

TEST_CASE("adapter: a second change while one is validated runs after it") {
  struct Row {
    const char *name;
    bool first_succeeds;
    std::string calls;
    std::string outcomes;
  };
  const std::vector<Row> rows = {
      {"first validates, then the second starts from the newest network", true,
       "open 192.0.2.20:40001; initiate 192.0.2.20:40001 -> 198.51.100.1:443; open 192.0.2.30:40002; "
       "initiate 192.0.2.30:40002 -> 198.51.100.1:443",
       "start-path-validation deferred-validation-in-progress migrated start-path-validation"},
      {"first fails, the second still runs", false,
       "open 192.0.2.20:40001; initiate 192.0.2.20:40001 -> 198.51.100.1:443; open 192.0.2.30:40002; "
       "initiate 192.0.2.30:40002 -> 198.51.100.1:443",
       "start-path-validation deferred-validation-in-progress validation-failed-stayed start-path-validation"},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    Rig rig(Policy{A, A, A});
    rig.adapter->handshake_confirmed();
    rig.adapter->network_changed(kNewIp);
    rig.timers.advance();
    rig.adapter->network_changed(kOtherIp);
    rig.timers.advance();
    CHECK(rig.migrator().has_queued());
    if (row.first_succeeds) rig.host.local_ep = ep("192.0.2.20:40001");
    rig.validated(ep("192.0.2.20:40001"), kServer, row.first_succeeds);
    CHECK(joined(rig.host.calls) == row.calls);
    CHECK(rig.migrator().state() == MigratorState::validating_migration);
    CHECK(rig.outcomes() == row.outcomes);
  }
}

TEST_CASE("adapter: the preferred address, and a change queued before it (RFC 9000 §9.6.3)") {
  // No change: the preferred address is validated from the current socket, then moved to.
  {
    Rig rig(Policy{N, A, A}, true);
    auto choice = rig.adapter->select_preferred_addr();
    REQUIRE(choice);
    CHECK(choice->local == kOldLocal);
    CHECK(choice->remote == kSpa);
    rig.adapter->handshake_confirmed();
    rig.validated(kOldLocal, kSpa, true, NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR);
    CHECK(rig.run.moved_to_preferred_address);
    CHECK(rig.migrator().current() == ServerAddress::spa_v4);
    CHECK(rig.outcomes() == "start-preferred-address-validation moved-to-preferred-address");
  }
  // A network change before the confirmation: the preferred address from the new local address.
  {
    Rig rig(Policy{N, A, A}, true);
    rig.adapter->network_changed(kNewIp);
    auto choice = rig.adapter->select_preferred_addr();
    REQUIRE(choice);
    CHECK(choice->local == ep("192.0.2.20:40001"));
    CHECK(choice->remote == kSpa);
    CHECK(rig.run.migrations.attempted == 1);
    rig.adapter->handshake_confirmed();
    rig.validated(ep("192.0.2.20:40001"), kSpa, true, NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR);
    CHECK(rig.run.migrations.succeeded == 1);
    CHECK_FALSE(rig.migrator().has_queued());
    CHECK(rig.outcomes() ==
          "deferred-until-confirmed validate-preferred-address-from-new-local moved-to-preferred-address");
  }
  // A change to IPv6 while the preferred address is IPv4 only: not §9.6.3; the change stays
  // queued, the move happens from the old address, then the change is refused... by family.
  {
    Rig rig(Policy{A, A, A}, true);
    rig.adapter->network_changed(kV6);
    auto choice = rig.adapter->select_preferred_addr();
    REQUIRE(choice);
    CHECK(choice->local == kOldLocal);
    CHECK(rig.migrator().has_queued());
    rig.adapter->handshake_confirmed();
    rig.validated(kOldLocal, kSpa, true, NGTCP2_PATH_VALIDATION_FLAG_PREFERRED_ADDR);
    CHECK(rig.run.migrations.failed == 1);
    CHECK(rig.outcomes() ==
          "deferred-until-confirmed start-preferred-address-validation moved-to-preferred-address "
          "start-path-validation impossible-address-family validation-failed-stayed");
  }
}
