// examples/client/credit_pacer.h — --limit-rate: the receiver paces the connection-level flow
// control credit it gives back (MAX_DATA, RFC 9000 §4.1), as curl --limit-rate paces its reads.
//
// A QUIC sender may not exceed the receiver's MAX_DATA, so a receiver that returns the credit
// for consumed bytes no faster than RATE bytes/s bounds the goodput at about RATE plus the
// initial window, without dropping anything: the path stays loss-free, unlike a policer.
// Pure: the caller passes the time (nanoseconds, any epoch) and carries out the answers.
#pragma once

#include <cstdint>
#include <optional>

namespace qamp::client {

class CreditPacer {
 public:
  // rate: bytes per second, > 0. burst: credit that may be returned at once (>= 1).
  CreditPacer(double rate, std::uint64_t burst) noexcept;

  // A new connection starts at `now` with a fresh window: nothing is owed.
  void restart(std::uint64_t now) noexcept;
  // `n` bytes were consumed at `now`. Returns the credit to return to the peer now (<= n plus
  // whatever was still owed); the rest is owed until due().
  std::uint64_t consumed(std::uint64_t now, std::uint64_t n) noexcept;
  // Credit that may be returned at `now` out of what is owed (the caller's timer fired).
  std::uint64_t release(std::uint64_t now) noexcept;
  // Nanoseconds from `now` until some owed credit may be returned; nullopt when nothing is owed.
  std::optional<std::uint64_t> due(std::uint64_t now) const noexcept;
  std::uint64_t owed() const noexcept { return owed_; }

 private:
  double allowance(std::uint64_t now) const noexcept;
  double rate_;
  double burst_;
  double tokens_ = 0;
  std::uint64_t refilled_ = 0;
  std::uint64_t owed_ = 0;
};

}  // namespace qamp::client
