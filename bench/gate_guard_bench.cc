// gate_guard_bench — what the server pays per datagram for qamp's two per-datagram decisions:
// Gate::admit (every datagram of a known connection, before ngtcp2_conn_read_pkt) and
// ResetGuard::should_reset (every short-header datagram with an unknown DCID).
//
// Method: a plain timing loop. Each case runs `warmup` untimed batches, then `batches` batches of
// `calls` calls, each batch timed with std::chrono::steady_clock; a batch's time divided by
// `calls` is one sample. We report the median and the 90th percentile of the samples (ns per
// call). The inputs are laundered through an empty asm statement on every call and every
// result is folded into a sink the program prints, so the compiler can neither hoist a call out
// of the loop nor drop it; the library is a separate translation unit (no LTO), so the calls are
// real calls. Each case also checks that every call returned the verdict the case is about.
//
// Usage: gate_guard_bench [--batches N] [--calls N] [--warmup N] [--json FILE] [--target-ns X]
// Exit status: 0 when every targeted case's median is below the target (default 50 ns), 3 when
// one is not, 1 when a case returned an unexpected verdict, 2 on misuse.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qamp/gate.h"
#include "qamp/policy.h"
#include "qamp/reset_guard.h"

namespace {

// Make the compiler believe `p` may have changed and its target may have been read.
template <class T>
inline void launder(T *&p) {
  asm volatile("" : "+r"(p) : : "memory");
}
template <class T>
inline void consume(const T &v) {
  asm volatile("" : : "r"(&v) : "memory");
}

struct Options {
  int batches = 1001;
  int calls = 2000;
  int warmup = 100;
  double target_ns = 50;
  std::string json;
};

struct Result {
  std::string name;
  std::string expect;    // the verdict / reason every call must return
  bool targeted = true;  // counted against the target
  double median_ns = 0;
  double p90_ns = 0;
  double min_ns = 0;
  std::map<std::string, std::uint64_t> outcomes;  // reason -> calls (all timed + warm-up calls)
  bool verdict_ok = true;
};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
  return v[std::min(idx, v.size() - 1)];
}

// Times `calls` calls of `one` as one batch; returns ns per call.
template <class F>
double time_batch(int calls, F &one) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) one();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / calls;
}

// A case: `batch()` runs one timed batch, `finish(r)` fills the verdict tally once all ran.
// The cases' batches are interleaved (batch 1 of every case, then batch 2, …) so a burst of load
// from other processes on a shared machine spreads over all cases instead of hitting one.
struct Case {
  Result result;
  std::function<double()> batch;
  std::function<void(Result &)> finish;
  std::vector<double> samples;
};

void summarize(Result &r, const std::vector<double> &samples) {
  r.median_ns = percentile(samples, 0.5);
  r.p90_ns = percentile(samples, 0.9);
  r.min_ns = *std::min_element(samples.begin(), samples.end());
}

sockaddr_in v4(const char *ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

sockaddr_in6 v6(const char *ip, std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return a;
}

std::uint64_t g_sink = 0;  // every result is folded in; printed at the end

// One Gate::admit case: `current` is the connection's path, every call sees `incoming` (both
// point at sockaddrs that outlive the case).
Case gate_case(const Options &opts, std::string name, bool targeted, qamp::Policy policy, qamp::PathView current,
               qamp::PathView incoming, qamp::GateReason expect, bool with_observer) {
  struct State {
    explicit State(qamp::Policy p) : gate(qamp::GateConfig{p, true}) {}
    qamp::Gate gate;
    qamp::PathView current, incoming;
    std::uint64_t observed = 0;
  };
  auto st = std::make_shared<State>(policy);
  st->current = current;
  st->incoming = incoming;
  if (with_observer)
    st->gate.set_observer([raw = st.get()](const qamp::GateEvent &e) { raw->observed += e.incoming_remote.port(); });
  Case c;
  c.result.name = std::move(name);
  c.result.expect = std::string(qamp::to_string(expect));
  c.result.targeted = targeted;
  const int calls = opts.calls;
  c.batch = [st, calls] {
    const qamp::PathView *cur = &st->current;
    const qamp::PathView *inc = &st->incoming;
    std::uint64_t acc = 0;
    auto one = [&] {
      launder(cur);
      launder(inc);
      const qamp::GateDecision d = st->gate.admit(*cur, *inc);
      consume(d);
      acc += static_cast<std::uint64_t>(d.reason);
    };
    double ns = time_batch(calls, one);
    g_sink += acc;
    return ns;
  };
  const auto total = static_cast<std::uint64_t>(opts.calls) * static_cast<std::uint64_t>(opts.warmup + opts.batches);
  c.finish = [st, expect, total](Result &r) {
    for (auto reason : qamp::kAllGateReasons)
      if (auto n = st->gate.counters().of(reason)) r.outcomes[std::string(qamp::to_string(reason))] = n;
    r.verdict_ok = st->gate.counters().of(expect) == total;
    g_sink += st->observed;
  };
  return c;
}

// One ResetGuard::should_reset case; the clock advances by `step_ns` per call. `sources`: the
// datagrams' source addresses, in turn (one address, or many prefixes to make the guard search
// its whole prefix table).
Case reset_case(const Options &opts, std::string name, bool targeted, qamp::ResetGuardConfig config,
                std::vector<std::uint8_t> dcid, std::size_t datagram_len, qamp::Level level, std::string expect,
                std::vector<qamp::ResetReason> allowed, std::uint64_t step_ns,
                std::vector<qamp::Endpoint> sources = {*qamp::Endpoint::parse("192.0.2.10:50000")}) {
  struct State {
    explicit State(qamp::ResetGuardConfig cfg) : guard(std::move(cfg)) {}
    qamp::ResetGuard guard;
    std::vector<std::uint8_t> dcid;
    std::vector<qamp::Endpoint> sources;
    std::size_t next_source = 0;
    ngtcp2_tstamp now = 1'000'000'000;
  };
  auto st = std::make_shared<State>(std::move(config));
  st->dcid = std::move(dcid);
  st->sources = std::move(sources);
  Case c;
  c.result.name = std::move(name);
  c.result.expect = std::move(expect);
  c.result.targeted = targeted;
  const int calls = opts.calls;
  c.batch = [st, calls, datagram_len, level, step_ns] {
    const std::uint8_t *cid = st->dcid.data();
    const std::size_t cidlen = st->dcid.size();
    std::size_t len = datagram_len;
    ngtcp2_tstamp now = st->now;
    std::uint64_t acc = 0;
    auto one = [&] {
      launder(cid);
      asm volatile("" : "+r"(len));
      now += step_ns;
      const qamp::Endpoint &source = st->sources[st->next_source];
      if (++st->next_source == st->sources.size()) st->next_source = 0;
      const qamp::ResetDecision d = st->guard.should_reset({cid, cidlen}, len, level, source, now);
      consume(d);
      acc += d.reset_length + static_cast<std::uint64_t>(d.reason);
    };
    double ns = time_batch(calls, one);
    st->now = now;
    g_sink += acc;
    return ns;
  };
  const auto total = static_cast<std::uint64_t>(opts.calls) * static_cast<std::uint64_t>(opts.warmup + opts.batches);
  c.finish = [st, allowed = std::move(allowed), total](Result &r) {
    std::uint64_t ok = 0;
    for (auto reason : qamp::kAllResetReasons) {
      auto n = st->guard.counters().of(reason);
      if (!n) continue;
      r.outcomes[std::string(qamp::to_string(reason))] = n;
      if (std::find(allowed.begin(), allowed.end(), reason) != allowed.end()) ok += n;
    }
    r.verdict_ok = ok == total;
  };
  return c;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(line.find_first_not_of(' ', p + 1));
    }
  return "unknown";
}

std::string json_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

int usage(const char *argv0, int rc) {
  std::fprintf(rc ? stderr : stdout,
               "Usage: %s [--batches N] [--calls N] [--warmup N] [--target-ns X] [--json FILE]\n"
               "Median and p90 ns per call of qamp::Gate::admit and qamp::ResetGuard::should_reset.\n",
               argv0);
  return rc;
}

}  // namespace

int main(int argc, char **argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc) std::exit(usage(argv[0], 2));
      return argv[++i];
    };
    if (a == "--batches")
      opts.batches = std::atoi(value());
    else if (a == "--calls")
      opts.calls = std::atoi(value());
    else if (a == "--warmup")
      opts.warmup = std::atoi(value());
    else if (a == "--target-ns")
      opts.target_ns = std::atof(value());
    else if (a == "--json")
      opts.json = value();
    else if (a == "-h" || a == "--help")
      return usage(argv[0], 0);
    else
      return usage(argv[0], 2);
  }
  if (opts.batches < 1 || opts.calls < 1 || opts.warmup < 0) return usage(argv[0], 2);

  using qamp::Level;
  using qamp::ServerAddress;
  const auto client = v4("192.0.2.10", 50000);
  const auto client_new_port = v4("192.0.2.10", 50001);
  const auto client_new_ip = v4("198.51.100.7", 50000);
  const auto client6 = v6("2001:db8::10", 50000);
  const auto client6_new_ip = v6("2001:db8:1::10", 50000);
  auto sa = [](const auto &a) { return reinterpret_cast<const sockaddr *>(&a); };
  const qamp::Policy restricted{Level::none, Level::none, Level::none};
  const qamp::PathView hs{ServerAddress::handshake, sa(client)};
  const qamp::PathView hs_port{ServerAddress::handshake, sa(client_new_port)};
  const qamp::PathView hs_ip{ServerAddress::handshake, sa(client_new_ip)};
  const qamp::PathView hs6{ServerAddress::handshake, sa(client6)};
  const qamp::PathView hs6_ip{ServerAddress::handshake, sa(client6_new_ip)};

  std::vector<Case> cases;
  cases.push_back(
      gate_case(opts, "Gate::admit same path (v4)", true, restricted, hs, hs, qamp::GateReason::same_path, false));
  cases.push_back(gate_case(opts, "Gate::admit forbidden IP change (v4, none)", true, restricted, hs, hs_ip,
                            qamp::GateReason::ip_change_forbidden_none, false));
  cases.push_back(gate_case(opts, "Gate::admit forbidden IP change (v6, none)", true, restricted, hs6, hs6_ip,
                            qamp::GateReason::ip_change_forbidden_none, false));
  cases.push_back(gate_case(opts, "Gate::admit port-only rebinding (v4)", true, restricted, hs, hs_port,
                            qamp::GateReason::port_only_rebinding, false));
  cases.push_back(gate_case(opts, "Gate::admit forbidden IP change + observer", false, restricted, hs, hs_ip,
                            qamp::GateReason::ip_change_forbidden_none, true));

  std::vector<std::uint8_t> dcid(17);
  for (std::size_t i = 0; i < dcid.size(); ++i) dcid[i] = static_cast<std::uint8_t>(0x40 + i * 7);
  qamp::ResetGuardConfig automatic;  // auto, no cluster, default rate limits (10/s burst 20; per /24 2/s burst 5)
  cases.push_back(reset_case(opts, "ResetGuard::should_reset restricted address", true, automatic, dcid, 1200,
                             Level::none, "suppress-restricted-address",
                             {qamp::ResetReason::suppress_restricted_address}, 1000));
  cases.push_back(reset_case(opts, "ResetGuard::should_reset any address (rate limit)", true, automatic, dcid, 1200,
                             Level::any,
                             "send-unrestricted-address | suppress-rate-limited | suppress-prefix-rate-limited",
                             {qamp::ResetReason::send_unrestricted_address, qamp::ResetReason::suppress_rate_limited,
                              qamp::ResetReason::suppress_prefix_rate_limited},
                             1000));
  // The worst case of the prefix table: a new /24 every call, so every call hashes and searches
  // a whole set of 8 (up to 45 entries in use under the global bucket).
  std::vector<qamp::Endpoint> prefixes;
  for (int i = 0; i < 256; ++i)  // 256 /24s in turn: 32 KiB of addresses, cache-resident
    prefixes.push_back(*qamp::Endpoint::parse("10.0." + std::to_string(i) + ".1:4433"));
  cases.push_back(reset_case(opts, "ResetGuard::should_reset any address, a new /24 each call", true, automatic, dcid,
                             1200, Level::any, "send-unrestricted-address | suppress-rate-limited",
                             {qamp::ResetReason::send_unrestricted_address, qamp::ResetReason::suppress_rate_limited},
                             1000, prefixes));
  // Cluster mode: the guard decodes the QUIC-LB CID of another instance (server ID 5; we are 3):
  // plaintext, one AES block (server ID + nonce = 16 octets), four AES passes (1 + 16).
  const std::uint8_t key[16] = {0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80,
                                0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66, 0x20, 0x7f};
  struct ClusterCase {
    const char *name;
    unsigned nonce_len;
    bool encrypted;
  };
  for (const ClusterCase cc :
       {ClusterCase{"ResetGuard::should_reset other instance (cluster, QUIC-LB plaintext)", 15, false},
        ClusterCase{"ResetGuard::should_reset other instance (cluster, QUIC-LB 1-pass AES)", 15, true},
        ClusterCase{"ResetGuard::should_reset other instance (cluster, QUIC-LB 4-pass AES)", 16, true}}) {
    std::optional<std::span<const std::uint8_t>> k;
    if (cc.encrypted) k = std::span<const std::uint8_t>(key);
    const qamp::QuicLbCodec codec(*qamp::make_quic_lb_config(0, 1, cc.nonce_len, true, k));
    const std::uint8_t own[] = {3}, other[] = {5};
    qamp::ResetGuardConfig cluster;
    cluster.cluster = qamp::ClusterConfig{codec, *qamp::make_quic_lb_server_id(own)};
    const std::vector<std::uint8_t> nonce(dcid.begin(), dcid.begin() + cc.nonce_len);
    // The four-pass case is informational: the server's encrypted default is one AES block
    // (--quic-lb-nonce-len 15); four passes are an operator's explicit choice of another length.
    cases.push_back(reset_case(opts, cc.name, cc.nonce_len == 15, cluster, *codec.encode(other, nonce), 1200,
                               Level::any, "suppress-other-instance", {qamp::ResetReason::suppress_other_instance},
                               1000));
  }
  // The cost of issuing a CID (QuicLbCidGenerator::next: nonce, encode, encrypt), informational:
  // a server does it once per NEW_CONNECTION_ID, not per datagram. The nonce's random octets
  // come from a counter here (the server's CSPRNG is GnuTLS's, timed by GnuTLS).
  for (const ClusterCase cc : {ClusterCase{"QuicLbCidGenerator::next (QUIC-LB plaintext)", 15, false},
                               ClusterCase{"QuicLbCidGenerator::next (QUIC-LB 1-pass AES)", 15, true},
                               ClusterCase{"QuicLbCidGenerator::next (QUIC-LB 4-pass AES)", 16, true}}) {
    std::optional<std::span<const std::uint8_t>> k;
    if (cc.encrypted) k = std::span<const std::uint8_t>(key);
    const qamp::QuicLbCodec codec(*qamp::make_quic_lb_config(0, 1, cc.nonce_len, true, k));
    auto fill = [n = std::uint64_t{0}](std::span<std::uint8_t> out) mutable {
      for (auto &b : out) b = static_cast<std::uint8_t>(++n);
    };
    auto gen = std::make_shared<qamp::QuicLbCidGenerator>(*qamp::QuicLbCidGenerator::create(codec, {3}, fill));
    auto ok = std::make_shared<std::uint64_t>(0), bad = std::make_shared<std::uint64_t>(0);
    Case c;
    c.result.name = cc.name;
    c.result.expect = "cid";
    c.result.targeted = false;
    c.batch = [gen, ok, bad, calls = opts.calls] {
      auto one = [&] {
        auto cid = gen->next();
        if (cid) {
          ++*ok;
          g_sink += (*cid)[1];
        } else {
          ++*bad;
        }
      };
      return time_batch(calls, one);
    };
    c.finish = [ok, bad](Result &r) {
      r.outcomes["cid"] = *ok;
      if (*bad) r.outcomes["error"] = *bad;
      r.verdict_ok = *bad == 0;
    };
    cases.push_back(std::move(c));
  }

  const std::string load_before = loadavg();
  for (int b = 0; b < opts.warmup + opts.batches; ++b)
    for (auto &c : cases) {
      double ns = c.batch();
      if (b >= opts.warmup) c.samples.push_back(ns);
    }
  std::vector<Result> results;
  for (auto &c : cases) {
    summarize(c.result, c.samples);
    c.finish(c.result);
    results.push_back(c.result);
  }
  const std::string load_after = loadavg();

  const std::string cpu = cpu_model();
  utsname un{};
  uname(&un);
  std::printf("gate_guard_bench: %d batches x %d calls per case (+%d warm-up batches), ns per call\n", opts.batches,
              opts.calls, opts.warmup);
  std::printf("cpu: %s (%ld online), kernel %s, compiler %s, load average %s -> %s\n", cpu.c_str(),
              sysconf(_SC_NPROCESSORS_ONLN), un.release, __VERSION__, load_before.c_str(), load_after.c_str());
  std::printf("%-52s %9s %9s %9s  %s\n", "case", "median", "p90", "min", "verdict");
  int rc = 0;
  for (const auto &r : results) {
    std::string verdict;
    for (const auto &[k, v] : r.outcomes) verdict += (verdict.empty() ? "" : ", ") + k + " " + std::to_string(v);
    const char *mark = !r.verdict_ok                  ? "  UNEXPECTED VERDICT"
                       : !r.targeted                  ? "  (informational)"
                       : r.median_ns < opts.target_ns ? ""
                                                      : "  ABOVE TARGET";
    std::printf("%-52s %9.1f %9.1f %9.1f  %s%s\n", r.name.c_str(), r.median_ns, r.p90_ns, r.min_ns, verdict.c_str(),
                mark);
    if (!r.verdict_ok)
      rc = 1;
    else if (r.targeted && r.median_ns >= opts.target_ns && rc == 0)
      rc = 3;
  }
  std::printf("target: median < %.0f ns per call: %s   (sink %llu)\n", opts.target_ns,
              rc == 0   ? "met"
              : rc == 3 ? "MISSED"
                        : "not judged (unexpected verdict)",
              static_cast<unsigned long long>(g_sink));

  if (!opts.json.empty()) {
    std::ofstream out(opts.json);
    out << "{\n  \"benchmark\": \"gate_guard\",\n  \"method\": \"steady_clock timing loop, median/p90 over batches, "
           "cases interleaved batch by batch\",\n"
        << "  \"machine\": {\"cpu\": \"" << json_escape(cpu) << "\", \"cpus_online\": " << sysconf(_SC_NPROCESSORS_ONLN)
        << ", \"kernel\": \"" << json_escape(un.release) << "\", \"compiler\": \"" << json_escape(__VERSION__)
        << "\", \"loadavg_before\": \"" << load_before << "\", \"loadavg_after\": \"" << load_after << "\"},\n"
        << "  \"batches\": " << opts.batches << ", \"calls_per_batch\": " << opts.calls
        << ", \"warmup_batches\": " << opts.warmup << ", \"target_median_ns\": " << opts.target_ns << ",\n"
        << "  \"cases\": [\n";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto &r = results[i];
      out << "    {\"name\": \"" << json_escape(r.name) << "\", \"expect\": \"" << json_escape(r.expect)
          << "\", \"targeted\": " << (r.targeted ? "true" : "false") << ", \"median_ns\": " << r.median_ns
          << ", \"p90_ns\": " << r.p90_ns << ", \"min_ns\": " << r.min_ns
          << ", \"verdict_ok\": " << (r.verdict_ok ? "true" : "false") << ", \"outcomes\": {";
      bool first = true;
      for (const auto &[k, v] : r.outcomes) {
        out << (first ? "" : ", ") << "\"" << k << "\": " << v;
        first = false;
      }
      out << "}}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    out << "  ],\n  \"target_met\": " << (rc == 0 ? "true" : "false") << "\n}\n";
    if (!out) {
      std::fprintf(stderr, "gate_guard_bench: cannot write %s\n", opts.json.c_str());
      return 1;
    }
  }
  return rc;
}
