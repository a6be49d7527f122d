// examples/client/download.h — one URI's download: the request to send (whole body, or a Range
// resume with If-Range), the response checks (status, Content-Range start, lengths), the bytes
// written at their offsets (DIR/<basename>, buffered and written once per read batch, or only
// hashed when not saving; saved to a temporary file renamed over the target only when complete),
// and the final verdict: complete only when the size matches and, when
// the server sent x-qamp-body-sha256, the SHA-256 of the saved file matches it too (hashed by a
// FileHasher thread from the file itself as it is written; a resume hashes the kept prefix
// again).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gnutls/crypto.h>

#include "file_hasher.h"
#include "h3_session.h"
#include "json.h"
#include "target.h"

namespace qamp::client {

class Download final : public ResponseSink {
 public:
  // `dir` empty: the body is hashed as it arrives, not saved.
  Download(Target target, std::string dir);
  ~Download() override;
  Download(const Download &) = delete;
  Download &operator=(const Download &) = delete;

  // The request for the next attempt. resume == true asks for the rest (Range from received(),
  // If-Range with the validator); otherwise the whole body from zero.
  Request request(const std::string &authority, bool resume);
  // Opens the output file; false with *error.
  bool open(std::string *error);
  // Called after body bytes were taken in, and when this attempt's stream has closed (both from
  // inside the HTTP/3 callbacks: defer anything that writes to the connection).
  void set_listener(std::function<void()> on_progress, std::function<void()> on_closed) {
    on_progress_ = std::move(on_progress);
    on_closed_ = std::move(on_closed);
  }

  // Writes the body bytes held in memory (up to kWriteBuffer) to the file: called at the end of
  // every read batch, so the file is current whenever the loop waits, with one write per batch
  // instead of one per DATA chunk (~1.2 kB each). Everything that looks at the file flushes.
  void flush();
  static constexpr std::size_t kWriteBuffer = 256 * 1024;

  // ResponseSink
  void on_header(std::string_view name, std::string_view value) override;
  void on_headers_end() override;
  void on_body(std::span<const std::uint8_t> data) override;
  void on_end_stream() override;
  void on_stream_close(std::uint64_t app_error) override;
  // Its connection was replaced and it is not requested again: count its stream as closed.
  void stream_gone() noexcept { closed_ = true; }

  // Split downloads (issue 13, split.h): body bytes of range responses, on either connection,
  // written at their offsets as they arrive; they join the contiguous prefix (received()) in
  // absorb_pieces(). The forward stream (this sink's own response) keeps writing until the caller
  // cancels it: bytes past the split planner's mark are the same representation's (the caller
  // checks validators), and a mark that moves up again must find them in place.
  bool write_piece(std::uint64_t offset, std::span<const std::uint8_t> data);  // false: error set
  // Joins every piece that touches the prefix into it; true when [0, total) is held (the body
  // is then whole: got_fin() and closed() are true). `end`: the body's length when no response
  // said it (the split planner learnt it from the FIN of an open-ended range).
  bool absorb_pieces(std::optional<std::uint64_t> end = std::nullopt);

  const Target &target() const noexcept { return target_; }
  std::uint64_t received() const noexcept { return received_; }  // bytes held, from offset 0
  std::uint64_t received_this_attempt() const noexcept { return attempt_bytes_; }
  std::optional<std::uint64_t> total() const noexcept { return total_; }  // full body length
  bool closed() const noexcept { return closed_; }                        // this attempt's stream
  bool got_fin() const noexcept { return fin_; }
  bool failed() const noexcept { return !error_.empty(); }
  // The first response allowed a resume: Accept-Ranges: bytes and a validator.
  bool resumable() const noexcept;
  std::string validator() const;  // strong ETag, else Last-Modified
  std::string_view accept_ranges() const noexcept { return accept_ranges_; }
  int attempts() const noexcept { return attempts_; }

  // Checks the body (size, SHA-256 against the server's header) once the transfer is over.
  // Idempotent; sets complete() and the error text.
  void verify();
  bool complete() const noexcept { return complete_; }
  const std::string &error() const noexcept { return error_; }
  const std::string &sha256() const noexcept { return sha256_; }
  bool sha256_matches_server() const noexcept { return sha_matches_.value_or(false); }
  bool server_sent_digest() const noexcept { return server_sha256_.has_value(); }
  common::Json summary() const;

 private:
  void reset_body();
  void set_error(std::string e);
  bool write_at(std::span<const std::uint8_t> data, std::uint64_t offset);
  // After verify(): renames the temporary file over the target when complete, removes it otherwise.
  void commit();

  Target target_;
  std::string dir_;
  std::function<void()> on_progress_, on_closed_;
  std::string file_path_;  // the target, DIR/<file_name>
  std::string temp_path_;  // DIR/.<file_name>.qamp-XXXXXX while not committed
  bool saved_ = false;
  int fd_ = -1;
  std::unique_ptr<std::uint8_t[]> wbuf_;  // body bytes [written_, received_) not yet in the file
  std::size_t wlen_ = 0;
  std::uint64_t written_ = 0;              // bytes in the file
  std::unique_ptr<FileHasher> file_hash_;  // the saved file's SHA-256, in a helper thread
  gnutls_hash_hd_t hash_ = nullptr;        // streaming hash when not saving

  // per attempt
  bool resume_requested_ = false;
  std::uint64_t range_start_ = 0;
  int status_ = 0;
  std::optional<std::uint64_t> content_length_;
  std::string content_range_;
  std::uint64_t attempt_bytes_ = 0;
  bool headers_done_ = false;
  bool fin_ = false;
  bool closed_ = false;
  std::uint64_t close_code_ = 0;

  // split: pieces beyond the prefix, [begin, end), sorted and merged
  std::vector<std::pair<std::uint64_t, std::uint64_t>> pieces_;

  // per download
  int attempts_ = 0;
  std::vector<std::string> attempt_log_;  // "200 0-", "206 1048576-", ...
  std::uint64_t received_ = 0;
  std::optional<std::uint64_t> total_;
  std::string etag_, last_modified_, accept_ranges_;
  bool first_response_seen_ = false;
  bool first_resumable_ = false;
  std::string first_validator_;
  std::optional<std::string> server_sha256_;
  std::string sha256_;
  std::optional<bool> sha_matches_;
  bool verified_ = false;
  bool complete_ = false;
  std::string error_;
};

}  // namespace qamp::client
