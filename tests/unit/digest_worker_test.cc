// qamp-server's off-loop body digests (examples/server/digest_worker.h), with a real libev loop
// and the worker thread: correct SHA-256, a small body is not queued behind a huge one
// (round-robin), one job per key, the limits (jobs, waiters, cache) and cancel().
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <gnutls/crypto.h>
#include <string>
#include <vector>

#include "qamp/hex.h"
#include "digest_worker.h"
#include "net.h"

using namespace qamp::common;
using namespace qamp::server;

namespace {

// n bytes of one repeated byte value, read in 64 KiB spans.
class FillBody final : public Body {
 public:
  FillBody(std::uint64_t n, std::uint8_t v) : n_(n), buf_(65536, v) {}
  std::uint64_t size() const noexcept override { return n_; }
  std::span<const std::uint8_t> at(std::uint64_t off, std::size_t want) const noexcept override {
    auto n = std::min<std::uint64_t>({want, buf_.size(), n_ - off});
    return {buf_.data(), static_cast<std::size_t>(n)};
  }

 private:
  std::uint64_t n_;
  std::vector<std::uint8_t> buf_;
};

std::string sha256_of(std::uint64_t n, std::uint8_t v) {
  std::vector<std::uint8_t> all(n, v);
  std::uint8_t d[32];
  gnutls_hash_fast(GNUTLS_DIG_SHA256, all.data(), all.size(), d);
  return qamp::to_hex(d);
}

struct Loop {
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  ev_timer tick{};
  Loop() {
    ev_timer_init(
        &tick, [](struct ev_loop *, ev_timer *, int) {}, 0.05, 0.05);
    ev_timer_start(loop, &tick);
  }
  ~Loop() {
    ev_timer_stop(loop, &tick);
    ev_loop_destroy(loop);
  }
  // Runs the loop until pred() or 30 s.
  template <class P>
  bool run_until(P pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!pred() && std::chrono::steady_clock::now() < end) ev_run(loop, EVRUN_ONCE);
    return pred();
  }
};

}  // namespace

TEST_CASE("DigestWorker: the SHA-256 of a body, on the loop, then cached") {
  Loop l;
  {
    DigestWorker w(l.loop, {});
    std::string got;
    int owner;
    REQUIRE(w.request("k", std::make_shared<FillBody>(3'000'000, 7), &owner, [&](const std::string &h) { got = h; }));
    CHECK(got.empty());  // never from inside request()
    REQUIRE(l.run_until([&] { return !got.empty(); }));
    CHECK(got == sha256_of(3'000'000, 7));
    CHECK(w.cached("k") == got);
    CHECK(w.pending_jobs() == 0);
    // An empty body too.
    std::string empty;
    REQUIRE(w.request("e", std::make_shared<FillBody>(0, 0), &owner, [&](const std::string &h) { empty = h; }));
    REQUIRE(l.run_until([&] { return !empty.empty(); }));
    CHECK(empty == sha256_of(0, 0));
  }
}

TEST_CASE("DigestWorker: a small body is ready while a huge one is still being hashed") {
  Loop l;
  DigestWorker w(l.loop, {});
  int owner;
  std::vector<std::string> order;
  REQUIRE(w.request("huge", std::make_shared<FillBody>(std::uint64_t{2} << 30, 1), &owner,
                    [&](const std::string &) { order.push_back("huge"); }));
  REQUIRE(w.request("small", std::make_shared<FillBody>(100'000, 2), &owner,
                    [&](const std::string &) { order.push_back("small"); }));
  REQUIRE(l.run_until([&] { return !order.empty(); }));
  CHECK(order == std::vector<std::string>{"small"});
  CHECK(w.pending_jobs() == 1);  // the huge one is still running
  // The destructor stops the thread mid-job (at its next chunk).
}

TEST_CASE("DigestWorker: one job per key, limits, cancel") {
  Loop l;
  DigestWorker w(l.loop, {.max_jobs = 2, .max_waiters = 3, .cache_entries = 2});
  int a, b;
  int done_a = 0, done_b = 0;
  REQUIRE(w.request("k1", std::make_shared<FillBody>(10, 1), &a, [&](const std::string &) { ++done_a; }));
  REQUIRE(w.request("k1", std::make_shared<FillBody>(10, 1), &b, [&](const std::string &) { ++done_b; }));
  CHECK(w.pending_jobs() == 1);  // shared
  REQUIRE(w.request("k2", std::make_shared<FillBody>(10, 2), &a, [&](const std::string &) { ++done_a; }));
  // A third distinct body: over max_jobs.
  CHECK_FALSE(w.request("k3", std::make_shared<FillBody>(10, 3), &a, [&](const std::string &) { ++done_a; }));
  // A fourth waiter: over max_waiters, even for a running key.
  CHECK_FALSE(w.request("k1", std::make_shared<FillBody>(10, 1), &a, [&](const std::string &) { ++done_a; }));
  w.cancel(&b);  // b goes away: its callback must never run
  REQUIRE(l.run_until([&] { return done_a == 2; }));
  CHECK(done_b == 0);
  CHECK(w.pending_jobs() == 0);
  // The waiter slots came back.
  int done_c = 0;
  REQUIRE(w.request("k3", std::make_shared<FillBody>(10, 3), &a, [&](const std::string &) { ++done_c; }));
  REQUIRE(l.run_until([&] { return done_c == 1; }));
  // LRU of 2: k1 was least recently used (k2, then k3 finished after it).
  CHECK_FALSE(w.cached("k1"));
  CHECK(w.cached("k2") == sha256_of(10, 2));
  CHECK(w.cached("k3") == sha256_of(10, 3));
}
