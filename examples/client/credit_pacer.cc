// examples/client/credit_pacer.cc — a token bucket over returned flow-control credit.
#include "credit_pacer.h"

#include <algorithm>
#include <cmath>

namespace qamp::client {

CreditPacer::CreditPacer(double rate, std::uint64_t burst) noexcept
    : rate_(rate), burst_(static_cast<double>(std::max<std::uint64_t>(burst, 1))), tokens_(burst_) {}

void CreditPacer::restart(std::uint64_t now) noexcept {
  tokens_ = burst_;
  refilled_ = now;
  owed_ = 0;
}

double CreditPacer::allowance(std::uint64_t now) const noexcept {
  double elapsed = now > refilled_ ? static_cast<double>(now - refilled_) / 1e9 : 0.0;
  return std::min(burst_, tokens_ + rate_ * elapsed);
}

std::uint64_t CreditPacer::consumed(std::uint64_t now, std::uint64_t n) noexcept {
  owed_ += n;
  return release(now);
}

std::uint64_t CreditPacer::release(std::uint64_t now) noexcept {
  tokens_ = allowance(now);
  refilled_ = std::max(refilled_, now);
  auto give = std::min<std::uint64_t>(owed_, static_cast<std::uint64_t>(tokens_));
  tokens_ -= static_cast<double>(give);
  owed_ -= give;
  return give;
}

std::optional<std::uint64_t> CreditPacer::due(std::uint64_t now) const noexcept {
  if (owed_ == 0) return std::nullopt;
  // The whole owed amount or one burst, whichever is smaller, so that a release returns a useful
  // amount instead of one byte per wake-up.
  double want = std::min(static_cast<double>(owed_), burst_) - allowance(now);
  if (want <= 0) return 0;
  return static_cast<std::uint64_t>(std::ceil(want / rate_ * 1e9));
}

}  // namespace qamp::client
