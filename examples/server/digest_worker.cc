#include "qamp/hex.h"
#include "digest_worker.h"

#include <gnutls/crypto.h>
#include <pthread.h>

#include "net.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

DigestWorker::DigestWorker(struct ev_loop *loop, Limits limits) : loop_(loop), limits_(limits) {
  ev_async_init(&async_, on_async);
  async_.data = this;
  ev_async_start(loop_, &async_);
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "qamp-digest");
}

DigestWorker::~DigestWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  ev_async_stop(loop_, &async_);
}

std::optional<std::string> DigestWorker::cached(const std::string &key) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

bool DigestWorker::request(const std::string &key, std::shared_ptr<const Body> body, const void *owner,
                           std::function<void(const std::string &)> done) {
  if (waiter_count_ >= limits_.max_waiters) return false;
  auto it = waiters_.find(key);
  if (it == waiters_.end()) {
    if (waiters_.size() >= limits_.max_jobs) return false;
    {
      std::lock_guard lock(mu_);
      queue_.push_back({key, std::move(body)});
    }
    cv_.notify_one();
    it = waiters_.emplace(key, std::vector<Waiter>{}).first;
  }
  it->second.push_back({owner, std::move(done)});
  ++waiter_count_;
  return true;
}

void DigestWorker::cancel(const void *owner) {
  for (auto &[key, list] : waiters_) {
    auto n = std::erase_if(list, [owner](const Waiter &w) { return w.owner == owner; });
    waiter_count_ -= n;
  }
}

void DigestWorker::remember(const std::string &key, const std::string &hex) {
  if (auto it = cache_.find(key); it != cache_.end()) {
    it->second->second = hex;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, hex);
  cache_[key] = lru_.begin();
  while (lru_.size() > limits_.cache_entries) {
    cache_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void DigestWorker::on_async(struct ev_loop *, ev_async *w, int) { static_cast<DigestWorker *>(w->data)->deliver(); }

void DigestWorker::deliver() {
  std::vector<std::pair<std::string, std::string>> results;
  {
    std::lock_guard lock(mu_);
    results.swap(results_);
  }
  for (auto &[key, hex] : results) {
    remember(key, hex);
    auto it = waiters_.find(key);
    if (it == waiters_.end()) continue;
    // Taken out first: a `done` may call request() or cancel().
    auto list = std::move(it->second);
    waiters_.erase(it);
    waiter_count_ -= list.size();
    for (auto &w : list) w.done(hex);
  }
}

void DigestWorker::run() {
  struct Active {
    Job job;
    gnutls_hash_hd_t h = nullptr;
    std::uint64_t off = 0;
  };
  std::vector<Active> active;
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (active.empty()) cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) break;
      for (auto &j : queue_) {
        Active a{std::move(j)};
        if (gnutls_hash_init(&a.h, GNUTLS_DIG_SHA256) != 0) continue;  // never for SHA-256
        active.push_back(std::move(a));
      }
      queue_.clear();
    }
    // One chunk of each active job, in turn.
    std::vector<std::pair<std::string, std::string>> finished;
    for (auto &a : active) {
      auto size = a.job.body->size();
      if (a.off < size) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - a.off));
        for (std::size_t got = 0; got < want;) {
          auto s = a.job.body->at(a.off, want - got);
          gnutls_hash(a.h, s.data(), s.size());
          a.off += s.size();
          got += s.size();
        }
      }
      if (a.off >= size) {
        std::uint8_t digest[32];
        gnutls_hash_deinit(a.h, digest);
        a.h = nullptr;
        finished.emplace_back(a.job.key, to_hex(digest));
      }
    }
    std::erase_if(active, [](const Active &a) { return a.h == nullptr; });
    if (!finished.empty()) {
      {
        std::lock_guard lock(mu_);
        for (auto &f : finished) results_.push_back(std::move(f));
      }
      ev_async_send(loop_, &async_);
    }
  }
  for (auto &a : active)
    if (a.h) gnutls_hash_deinit(a.h, nullptr);
}

}  // namespace qamp::server
