// examples/server/digest_worker.h — the SHA-256 of whole response bodies (x-qamp-body-sha256),
// computed off the event loop. Hashing /bytes/N or a large file on the loop stalled every
// connection (issue 10 item 3: three 4 GiB requests delayed an unrelated one by 26 s).
//
// One thread ("qamp-digest") hashes the queued bodies round-robin, 1 MiB of each in turn, so a
// small body is ready after about (its size x active jobs) bytes of hashing, not behind a huge
// one. Results come back to the loop through an ev_async; `done` callbacks run there. Requests
// for the same key share one job. Bounded: at most `max_jobs` distinct bodies in flight and
// `max_waiters` waiting requests (request() says busy beyond that: answer 503), and an LRU of
// `cache_entries` digests.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <ev.h>

#include "response.h"
#include "server_io.h"

namespace qamp::server {

class DigestWorker final : public Digests {
 public:
  struct Limits {
    std::size_t max_jobs = 16;
    std::size_t max_waiters = 1024;
    std::size_t cache_entries = 64;
  };
  DigestWorker(struct ev_loop *loop, Limits limits);
  ~DigestWorker() override;  // stops the thread (a job in progress stops at its next chunk)
  DigestWorker(const DigestWorker &) = delete;
  DigestWorker &operator=(const DigestWorker &) = delete;

  // Digests (server_io.h). `done` runs on the loop. cancel() keeps the job running for the other
  // waiters and the cache.
  std::optional<std::string> cached(const std::string &key) override;
  bool request(const std::string &key, std::shared_ptr<const Body> body, const void *owner,
               std::function<void(const std::string &)> done) override;
  void cancel(const void *owner) override;
  std::size_t pending_jobs() const noexcept { return waiters_.size(); }

 private:
  struct Job {
    std::string key;
    std::shared_ptr<const Body> body;
  };
  struct Waiter {
    const void *owner;
    std::function<void(const std::string &)> done;
  };
  void run();
  static void on_async(struct ev_loop *, ev_async *w, int);
  void deliver();
  void remember(const std::string &key, const std::string &hex);

  struct ev_loop *loop_;
  Limits limits_;
  ev_async async_{};
  // Loop thread only.
  std::map<std::string, std::vector<Waiter>> waiters_;  // key -> requests waiting for it
  std::size_t waiter_count_ = 0;
  std::list<std::pair<std::string, std::string>> lru_;  // front: most recent
  std::unordered_map<std::string, decltype(lru_)::iterator> cache_;
  // Shared with the thread.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> queue_;                                    // not started yet
  std::vector<std::pair<std::string, std::string>> results_;  // key, hex
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace qamp::server
