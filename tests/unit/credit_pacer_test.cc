// qamp-client's --limit-rate pacer (examples/client/credit_pacer.cc): credit for consumed bytes
// is returned no faster than the rate, after an initial burst, and nothing owed is ever lost.
#include <catch2/catch_test_macros.hpp>

#include <cstdint>

#include "credit_pacer.h"

using qamp::client::CreditPacer;

namespace {
constexpr std::uint64_t kMs = 1'000'000;
}

TEST_CASE("CreditPacer: a burst at once, then the rate") {
  // 1 MB/s, bursts of 10 kB: 1 kB per millisecond.
  CreditPacer p(1e6, 10'000);
  p.restart(0);
  struct Row {
    std::uint64_t now_ms, consumed, give, owed;
  };
  const Row rows[] = {
      {0, 4'000, 4'000, 0},           // within the burst: returned at once
      {0, 10'000, 6'000, 4'000},      // the rest of the burst; 4 kB owed
      {1, 0, 1'000, 3'000},           // one millisecond later, 1 kB more
      {4, 0, 3'000, 0},               // all of it
      {4, 0, 0, 0},                   // nothing owed, nothing given
      {100, 50'000, 10'000, 40'000},  // an idle spell refills one burst, no more
  };
  for (const auto &r : rows) {
    CAPTURE(r.now_ms, r.consumed);
    auto give = r.consumed ? p.consumed(r.now_ms * kMs, r.consumed) : p.release(r.now_ms * kMs);
    CHECK(give == r.give);
    CHECK(p.owed() == r.owed);
  }
}

TEST_CASE("CreditPacer: due() says when a useful amount is ready") {
  CreditPacer p(1e6, 10'000);
  p.restart(0);
  CHECK_FALSE(p.due(0).has_value());  // nothing owed
  CHECK(p.consumed(0, 15'000) == 10'000);
  // 5 kB owed, less than a burst: due when 5 kB have accrued, 5 ms.
  REQUIRE(p.due(0).has_value());
  CHECK(*p.due(0) == 5 * kMs);
  CHECK(*p.due(2 * kMs) == 3 * kMs);
  CHECK(*p.due(5 * kMs) == 0);
  CHECK(p.release(5 * kMs) == 5'000);
  CHECK_FALSE(p.due(5 * kMs).has_value());
  // More owed than a burst: due once a whole burst has accrued.
  CHECK(p.consumed(5 * kMs, 30'000) == 0);
  CHECK(*p.due(5 * kMs) == 10 * kMs);
}

TEST_CASE("CreditPacer: over a long run the credit rate is the configured rate") {
  CreditPacer p(2e6, 8'000);
  p.restart(0);
  std::uint64_t given = 0;
  // The peer fills the window faster than the rate: 4 kB consumed every 0.5 ms (8 MB/s).
  std::uint64_t now = 0;
  for (int i = 0; i < 2'000; ++i, now += kMs / 2) given += p.consumed(now, 4'000);
  // 1 s at 2 MB/s plus the first burst; never more.
  CHECK(given <= 2'000'000 + 8'000);
  CHECK(given >= 2'000'000 - 8'000);
  CHECK(given + p.owed() == 8'000'000);
}

TEST_CASE("CreditPacer: restart forgets what was owed to the old connection") {
  CreditPacer p(1e6, 1'000);
  p.restart(0);
  CHECK(p.consumed(0, 5'000) == 1'000);
  CHECK(p.owed() == 4'000);
  p.restart(10 * kMs);
  CHECK(p.owed() == 0);
  CHECK(p.consumed(10 * kMs, 500) == 500);
}
