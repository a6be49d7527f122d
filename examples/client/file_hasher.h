// examples/client/file_hasher.h — the SHA-256 of a file that is being written front to back,
// computed in a helper thread while the download runs, so the event loop never pays for it
// (0.135 s per 200 MB on the benchmark machine, in the loop's thread before).
//
// The thread hashes what is in the file, not the bytes the writer was handed: it reads every
// range back (pread) after the writer has said it is written. rewind(end) starts the digest over
// from offset 0 with [0, end) already in the file: 0 after a truncation (a restart), the bytes
// kept before a resume (the prefix is read back from the file, so the digest is that of the file
// as it ends up, whatever happened to it in between).
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <gnutls/crypto.h>

namespace qamp::client {

class FileHasher {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  // Starts the thread; `fd` must stay open and readable (pread) for the hasher's life. nullptr
  // with *error when the hash or the thread cannot be had.
  static std::unique_ptr<FileHasher> start(int fd, std::string *error);
  ~FileHasher();  // stops the thread (an unfinished digest is dropped)
  FileHasher(const FileHasher &) = delete;
  FileHasher &operator=(const FileHasher &) = delete;

  // The file now holds [0, end) (end only grows between rewinds). Cheap: the thread is woken
  // once per kBatch bytes, not per call.
  void advance(std::uint64_t end);
  // Forget what was hashed; the file holds [0, end). Returns once the thread is not reading, so
  // the caller may truncate the file right after.
  void rewind(std::uint64_t end);
  // Waits until [0, end) is hashed; false with *error when a read failed or the file was
  // shorter than end.
  bool drain(std::uint64_t end, std::string *error);
  // drain(end), then the digest of [0, end) (the state starts over afterwards);
  // nullopt with *error as drain().
  std::optional<Digest> finish(std::uint64_t end, std::string *error);

  static constexpr std::uint64_t kBatch = 256 * 1024;  // bytes per wake-up
  static constexpr std::size_t kChunk = 256 * 1024;    // bytes per pread (fits in L2)

 private:
  FileHasher(int fd, gnutls_hash_hd_t hash);
  void run();
  void publish(std::uint64_t end);

  const int fd_;
  gnutls_hash_hd_t hash_;  // touched by the thread outside the lock only while reading_
  std::unique_ptr<std::uint8_t[]> buf_;
  std::uint64_t published_ = 0;  // writer side: the last end handed to the thread

  std::mutex m_;
  std::condition_variable cv_;
  std::uint64_t avail_ = 0;   // [0, avail_) is in the file
  std::uint64_t hashed_ = 0;  // [0, hashed_) went into hash_
  bool reading_ = false;      // the thread is reading / hashing a chunk without the lock
  bool stop_ = false;
  std::string error_;  // a failed read: nothing more is hashed until a rewind

  std::jthread thread_;  // last: joined before the members it uses go away
};

}  // namespace qamp::client
