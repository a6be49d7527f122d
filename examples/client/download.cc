#include "qamp/hex.h"
#include "download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "http_range.h"
#include "http_rules.h"
#include "net.h"

namespace qamp::client {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

constexpr std::size_t kSha256Len = 32;

}  // namespace

Download::Download(Target target, std::string dir) : target_(std::move(target)), dir_(std::move(dir)) {}

Download::~Download() {
  file_hash_.reset();  // its thread reads fd_
  if (fd_ >= 0) ::close(fd_);
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());  // never renamed: not a download
  if (hash_) gnutls_hash_deinit(hash_, nullptr);
}

bool Download::open(std::string *error) {
  if (dir_.empty()) return gnutls_hash_init(&hash_, GNUTLS_DIG_SHA256) == 0;
  file_path_ = dir_ + "/" + target_.file_name;
  // The body goes to a fresh temporary file next to the target (mkostemp: O_CREAT|O_EXCL, so a
  // planted file or symlink there is never opened) and replaces the target only when it is
  // complete and verified (commit()): a 404 or a broken transfer leaves an existing file alone,
  // and rename() replaces a symlink at the target instead of following it.
  std::string tmpl = dir_ + "/." + target_.file_name + ".qamp-XXXXXX";
  fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd_ < 0) {
    *error = "cannot create a temporary file " + tmpl + " for " + file_path_ + ": " + std::strerror(errno);
    return false;
  }
  temp_path_ = tmpl;
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd_, 0666 & ~mask) != 0) {
    *error = "cannot chmod " + temp_path_ + ": " + std::strerror(errno);
    return false;
  }
  wbuf_ = std::make_unique<std::uint8_t[]>(kWriteBuffer);
  file_hash_ = FileHasher::start(fd_, error);
  return file_hash_ != nullptr;
}

bool Download::resumable() const noexcept { return first_resumable_; }

std::string Download::validator() const { return first_validator_; }

void Download::set_error(std::string e) {
  if (error_.empty()) error_ = std::move(e);
}

void Download::reset_body() {
  received_ = 0;
  written_ = 0;
  wlen_ = 0;
  if (file_hash_) file_hash_->rewind(0);  // before the truncation: the thread may be reading
  if (fd_ >= 0 && ftruncate(fd_, 0) != 0) set_error("cannot truncate " + file_path_ + ": " + std::strerror(errno));
  if (hash_) {
    gnutls_hash_deinit(hash_, nullptr);
    hash_ = nullptr;
    gnutls_hash_init(&hash_, GNUTLS_DIG_SHA256);
  }
}

Request Download::request(const std::string &authority, bool resume) {
  ++attempts_;
  status_ = 0;
  content_length_.reset();
  content_range_.clear();
  attempt_bytes_ = 0;
  headers_done_ = fin_ = closed_ = false;
  close_code_ = 0;

  Request r;
  r.authority = target_.authority.empty() ? authority : target_.authority;
  r.path = target_.path;
  resume_requested_ = resume && resumable() && received_ > 0;
  if (resume_requested_) {
    range_start_ = received_;
    flush();
    // The digest must be the saved file's: hash the kept prefix again, as it is on disk.
    if (file_hash_) file_hash_->rewind(received_);
    r.headers.emplace_back("range", "bytes=" + std::to_string(received_) + "-");
    r.headers.emplace_back("if-range", first_validator_);
  } else {
    range_start_ = 0;
    reset_body();
  }
  return r;
}

void Download::on_header(std::string_view name, std::string_view value) {
  if (name == ":status") {
    status_ = static_cast<int>(common::parse_decimal(value).value_or(0));
  } else if (name == "content-length") {
    content_length_ = common::parse_decimal(value);
  } else if (name == "content-range") {
    content_range_ = std::string(value);
  } else if (name == "etag") {
    etag_ = std::string(value);
  } else if (name == "last-modified") {
    last_modified_ = std::string(value);
  } else if (name == "accept-ranges") {
    accept_ranges_ = lower(value);
  } else if (name == "x-qamp-body-sha256") {
    server_sha256_ = lower(value);
  }
}

void Download::on_headers_end() {
  headers_done_ = true;
  attempt_log_.push_back(std::to_string(status_) +
                         (resume_requested_ ? " range " + std::to_string(range_start_) + "-" : std::string(" whole")));
  if (!first_response_seen_) {
    first_response_seen_ = true;
    first_validator_ = common::if_range_validator(etag_, last_modified_);
    first_resumable_ = common::response_allows_resume(status_, accept_ranges_, first_validator_);
  }
  auto v =
      common::judge_response(status_, resume_requested_ ? std::optional<std::uint64_t>(range_start_) : std::nullopt,
                             total_, content_length_, content_range_);
  switch (v.action) {
    case common::ResponseAction::restart:
      // The validator no longer matched (or the range was ignored): the server sent the whole
      // body, so start over from offset zero.
      reset_body();
      resume_requested_ = false;
      range_start_ = 0;
      [[fallthrough]];
    case common::ResponseAction::take_whole:
    case common::ResponseAction::take_range:
      if (v.total) total_ = v.total;
      return;
    case common::ResponseAction::fail: return set_error(std::move(v.error));
  }
}

void Download::on_body(std::span<const std::uint8_t> data) {
  if (failed() || !headers_done_) return;
  if (total_ && received_ + data.size() > *total_) {
    set_error("server sent more than the announced " + std::to_string(*total_) + " bytes");
    return;
  }
  if (fd_ >= 0) {
    if (wlen_ + data.size() > kWriteBuffer) {
      flush();
      if (failed()) return;
    }
    if (data.size() >= kWriteBuffer) {  // cannot happen with nghttp3's chunks; no copy anyway
      if (!write_at(data, written_)) return;
      written_ += data.size();
      file_hash_->advance(written_);
    } else {
      std::memcpy(wbuf_.get() + wlen_, data.data(), data.size());
      wlen_ += data.size();
    }
  }
  if (hash_) gnutls_hash(hash_, data.data(), data.size());
  received_ += data.size();
  attempt_bytes_ += data.size();
  if (on_progress_) on_progress_();
}

bool Download::write_piece(std::uint64_t offset, std::span<const std::uint8_t> data) {
  if (failed() || data.empty()) return !failed();
  if (total_ && offset + data.size() > *total_) {
    set_error("a range response ran past the announced " + std::to_string(*total_) + " bytes");
    return false;
  }
  if (fd_ < 0) {
    set_error("a split download needs a saved file (--download)");
    return false;
  }
  if (!write_at(data, offset)) return false;
  std::uint64_t b = offset, e = offset + data.size();
  // Merge into the sorted, disjoint list (pieces arrive in order per response: usually the
  // last element grows).
  auto it = std::lower_bound(pieces_.begin(), pieces_.end(), b,
                             [](const auto &p, std::uint64_t v) { return p.second < v; });
  while (it != pieces_.end() && it->first <= e) {
    b = std::min(b, it->first);
    e = std::max(e, it->second);
    it = pieces_.erase(it);
  }
  pieces_.insert(it, {b, e});
  return true;
}

bool Download::absorb_pieces(std::optional<std::uint64_t> end) {
  flush();
  if (!total_ && end) total_ = end;
  while (!pieces_.empty() && pieces_.front().first <= received_) {
    received_ = std::max(received_, pieces_.front().second);
    pieces_.erase(pieces_.begin());
  }
  written_ = std::max(written_, received_);
  if (file_hash_) file_hash_->advance(received_);  // the pieces are in the file (pwrite)
  if (!total_ || received_ != *total_) return false;
  fin_ = true;
  closed_ = true;
  return true;
}

bool Download::write_at(std::span<const std::uint8_t> data, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      set_error("cannot write " + file_path_ + ": " + std::strerror(errno));
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void Download::flush() {
  if (wlen_ == 0) return;
  auto n = wlen_;
  wlen_ = 0;
  // A failed write leaves the file short of received_: verify() reports it.
  if (!write_at({wbuf_.get(), n}, written_)) return;
  written_ += n;
  file_hash_->advance(written_);
}

void Download::on_end_stream() {
  fin_ = true;
  flush();
}

void Download::on_stream_close(std::uint64_t app_error) {
  flush();
  closed_ = true;
  close_code_ = app_error;
  if (on_closed_) on_closed_();
}

void Download::verify() {
  if (verified_) return;
  verified_ = true;
  std::array<std::uint8_t, kSha256Len> digest{};
  bool have_digest = false;
  if (!pieces_.empty()) {  // a split that ended with holes: name the first one
    std::uint64_t held = 0;
    for (const auto &[b, e] : pieces_) held += e - b;
    set_error("incomplete: bytes " + std::to_string(received_) + "-" + std::to_string(pieces_.front().first - 1) +
              " never arrived (" + std::to_string(held) + " bytes held beyond them)");
  }
  if (fd_ >= 0) {
    flush();
    struct stat st {};
    if (fstat(fd_, &st) != 0) {
      set_error("cannot stat " + file_path_);
    } else if (static_cast<std::uint64_t>(st.st_size) != received_) {
      set_error("saved file has " + std::to_string(st.st_size) + " bytes, received " + std::to_string(received_));
    }
    // The helper thread has read back and hashed [0, received_) of the file as it was written;
    // a file shorter than that is an error here (and the size check above).
    std::string why;
    if (auto d = file_hash_->finish(received_, &why)) {
      digest = *d;
      have_digest = true;
    } else {
      set_error("cannot hash " + file_path_ + ": " + why);
    }
  } else if (hash_) {
    gnutls_hash_output(hash_, digest.data());
    have_digest = true;
  }
  if (have_digest) sha256_ = to_hex(digest);

  if (!fin_ && !failed()) {
    std::string why = !headers_done_ ? "no response" : "the response ended without its last byte";
    if (closed_ && close_code_ != NGHTTP3_H3_NO_ERROR) {
      char code[24];
      std::snprintf(code, sizeof code, "0x%llx", static_cast<unsigned long long>(close_code_));
      why += std::string(", stream closed with HTTP/3 error ") + code;
    }
    set_error("incomplete: " + why + " (" + std::to_string(received_) + " of " +
              (total_ ? std::to_string(*total_) : std::string("?")) + " bytes)");
  }
  if (total_ && received_ != *total_ && !failed())
    set_error("size mismatch: " + std::to_string(received_) + " bytes, expected " + std::to_string(*total_));
  if (server_sha256_ && have_digest) {
    sha_matches_ = *server_sha256_ == sha256_;
    if (!*sha_matches_) set_error("SHA-256 mismatch: got " + sha256_ + ", server says " + *server_sha256_);
  }
  if (server_sha256_ && !have_digest && !failed()) set_error("cannot check the server's x-qamp-body-sha256");
  complete_ = !failed() && fin_ && have_digest;
  if (fd_ >= 0) commit();
}

void Download::commit() {
  if (temp_path_.empty()) return;
  if (complete_ && ::rename(temp_path_.c_str(), file_path_.c_str()) != 0) {
    set_error("cannot rename " + temp_path_ + " to " + file_path_ + ": " + std::strerror(errno));
    complete_ = false;
  }
  if (complete_) {
    saved_ = true;
  } else {
    ::unlink(temp_path_.c_str());
  }
  temp_path_.clear();
}

common::Json Download::summary() const {
  common::Json j = common::Json::object();
  j.set("uri", target_.uri);
  j.set("file", file_path_.empty() ? common::Json() : common::Json(file_path_));
  j.set("saved", saved_);  // the file was replaced by this body (only when complete)
  j.set("status", status_);
  j.set("bytes", received_);
  j.set("expected_bytes", total_);
  j.set("sha256", sha256_.empty() ? common::Json() : common::Json(sha256_));
  j.set("server_sha256", server_sha256_);
  j.set("sha256_matches_server", sha_matches_);
  // How the body was checked: "sha256" (the server's digest matched), or "size" only (the
  // server sent no x-qamp-body-sha256: nothing to compare the bytes with).
  j.set("verified_by", complete_ ? common::Json(server_sha256_ ? "sha256" : "size") : common::Json());
  j.set("complete", complete_);
  j.set("resumable", first_resumable_);
  j.set("validator", first_validator_.empty() ? common::Json() : common::Json(first_validator_));
  j.set("attempts", attempts_);
  common::Json log = common::Json::array();
  for (const auto &a : attempt_log_) log.push(a);
  j.set("responses", std::move(log));
  j.set("error", error_.empty() ? common::Json() : common::Json(error_));
  return j;
}

}  // namespace qamp::client
