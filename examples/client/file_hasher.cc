#include "file_hasher.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace qamp::client {

std::unique_ptr<FileHasher> FileHasher::start(int fd, std::string *error) {
  gnutls_hash_hd_t hash = nullptr;
  if (gnutls_hash_init(&hash, GNUTLS_DIG_SHA256) != 0) {
    *error = "cannot initialise SHA-256";
    return nullptr;
  }
  std::unique_ptr<FileHasher> h;
  try {
    h.reset(new FileHasher(fd, hash));
  } catch (const std::exception &e) {  // no thread (or no buffer): the destructor did not run
    gnutls_hash_deinit(hash, nullptr);
    *error = std::string("cannot start the hashing thread: ") + e.what();
    return nullptr;
  }
  return h;
}

FileHasher::FileHasher(int fd, gnutls_hash_hd_t hash)
    : fd_(fd), hash_(hash), buf_(new std::uint8_t[kChunk]), thread_([this] { run(); }) {}

FileHasher::~FileHasher() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  gnutls_hash_deinit(hash_, nullptr);
}

void FileHasher::run() {
  pthread_setname_np(pthread_self(), "qamp-sha256");  // for top -H and perf
  std::unique_lock lk(m_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || (error_.empty() && hashed_ < avail_); });
    if (stop_) return;
    auto from = hashed_;
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, avail_ - hashed_));
    reading_ = true;
    lk.unlock();
    std::size_t got = 0;
    std::string err;
    while (got < n) {
      auto r = pread(fd_, buf_.get() + got, n - got, static_cast<off_t>(from + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        err = std::string("cannot read back the saved file: ") + std::strerror(errno);
        break;
      }
      if (r == 0) {
        err = "the saved file ends at " + std::to_string(from + got) + " bytes, " + std::to_string(from + n) +
              " were written";
        break;
      }
      got += static_cast<std::size_t>(r);
    }
    if (err.empty()) gnutls_hash(hash_, buf_.get(), n);
    lk.lock();
    reading_ = false;
    if (err.empty())
      hashed_ += n;
    else
      error_ = std::move(err);
    cv_.notify_all();
  }
}

void FileHasher::publish(std::uint64_t end) {
  {
    std::lock_guard lk(m_);
    avail_ = end;
  }
  published_ = end;
  cv_.notify_all();
}

void FileHasher::advance(std::uint64_t end) {
  if (end >= published_ + kBatch) publish(end);
}

void FileHasher::rewind(std::uint64_t end) {
  {
    std::unique_lock lk(m_);
    cv_.wait(lk, [this] { return !reading_; });
    Digest scratch;
    gnutls_hash_output(hash_, scratch.data());  // outputs and resets the state
    hashed_ = 0;
    avail_ = end;
    error_.clear();
  }
  published_ = end;
  cv_.notify_all();
}

bool FileHasher::drain(std::uint64_t end, std::string *error) {
  publish(end);
  std::unique_lock lk(m_);
  cv_.wait(lk, [this, end] { return !error_.empty() || (!reading_ && hashed_ >= end); });
  if (!error_.empty()) {
    *error = error_;
    return false;
  }
  if (hashed_ != end) {  // end below what was published before: a caller's mistake
    *error = "hashed " + std::to_string(hashed_) + " bytes, asked for " + std::to_string(end);
    return false;
  }
  return true;
}

std::optional<FileHasher::Digest> FileHasher::finish(std::uint64_t end, std::string *error) {
  if (!drain(end, error)) return std::nullopt;
  std::lock_guard lk(m_);
  Digest d;
  gnutls_hash_output(hash_, d.data());
  hashed_ = 0;
  avail_ = 0;
  published_ = 0;
  return d;
}

}  // namespace qamp::client
