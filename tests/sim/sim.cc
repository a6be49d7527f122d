// tests/sim/sim.cc — see sim.h.
#include "sim.h"

#include <algorithm>
#include <cstring>

namespace qamp::sim {

std::uint64_t Prng::next() noexcept {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545f4914f6cdd1dull;
}

void Prng::fill(std::span<std::uint8_t> out) noexcept {
  for (auto &b : out) b = static_cast<std::uint8_t>(next() >> 56);
}

bool Prng::chance(double p) noexcept {
  if (p <= 0) return false;
  if (p >= 1) return true;
  // 53 bits: exactly representable in a double.
  return static_cast<double>(next() >> 11) < p * static_cast<double>(1ull << 53);
}

void EventQueue::at(ngtcp2_tstamp t, std::function<void()> fn) {
  events_.push({std::max(t, now_), seq_++, std::move(fn)});
}

bool EventQueue::run_one(ngtcp2_tstamp limit) {
  if (events_.empty() || events_.top().t > limit) return false;
  auto fn = std::move(const_cast<Event &>(events_.top()).fn);
  now_ = events_.top().t;
  events_.pop();
  fn();
  return true;
}

void EventQueue::run_until(ngtcp2_tstamp t) {
  while (run_one(t)) {
  }
  now_ = std::max(now_, t);
}

bool EventQueue::run_while_not(const std::function<bool()> &done, ngtcp2_tstamp deadline) {
  while (!done()) {
    if (!run_one(deadline)) {
      now_ = std::max(now_, deadline);
      return done();
    }
  }
  return true;
}

void Link::send(Datagram d, std::function<void(Datagram)> arrive) {
  ++counters_.sent;
  auto leaves = std::max(queue_.now(), busy_until_) + config_.ns_per_byte * d.data.size();
  busy_until_ = leaves;
  if (prng_.chance(config_.loss)) {
    ++counters_.lost;
    return;
  }
  queue_.at(leaves + config_.delay, [d = std::move(d), arrive = std::move(arrive)]() mutable { arrive(std::move(d)); });
}

void Nat::rebind(Endpoint new_outside) {
  old_.push_back(outside_);
  outside_ = new_outside;
}

bool Nat::outbound(Datagram &d, ngtcp2_tstamp) {
  if (!(d.from == inside_)) return true;
  d.from = outside_;
  if (rebound()) ++client_to_server_after_rebind;
  return true;
}

bool Nat::inbound(Datagram &d, ngtcp2_tstamp) {
  if (d.to == outside_) {
    if (rebound()) ++server_to_client_after_rebind;
    d.to = inside_;
    return true;
  }
  if (std::find(old_.begin(), old_.end(), d.to) != old_.end()) d.to = inside_;
  return true;
}

std::size_t FourTupleBalancer::pick(const Datagram &d, std::size_t instances) {
  // FNV-1a over both addresses as they are on the wire (family, IP, port).
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto *e : {&d.from, &d.to}) {
    const auto *p = reinterpret_cast<const std::uint8_t *>(e->sa());
    for (socklen_t i = 0; i < e->size(); ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
  return static_cast<std::size_t>(h % instances);
}

void Network::from_client(Datagram d) {
  if (!client_ || servers_.empty()) return;
  up_.send(std::move(d), [this](Datagram d) {
    for (auto *box : boxes_)
      if (!box->outbound(d, queue_.now())) return;
    if (router_) {
      servers_[router_->pick(d, servers_.size())]->receive(d);
      return;
    }
    for (auto *s : servers_)
      if (s->owns(d.to)) {
        s->receive(d);
        return;
      }
    ++undeliverable;
  });
}

void Network::from_server(Datagram d) {
  down_.send(std::move(d), [this](Datagram d) {
    for (auto it = boxes_.rbegin(); it != boxes_.rend(); ++it)
      if (!(*it)->inbound(d, queue_.now())) return;
    if (client_ && client_->owns(d.to))
      client_->receive(d);
    else
      ++undeliverable;
  });
}

}  // namespace qamp::sim
