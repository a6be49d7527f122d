#include "response.h"

#include <algorithm>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_range.h"
#include "net.h"

namespace qamp::ex {

namespace {

class PatternBody final : public Body {
 public:
  explicit PatternBody(std::uint64_t n) : n_(n) {}
  std::uint64_t size() const noexcept override { return n_; }
  std::span<const std::uint8_t> at(std::uint64_t off, std::size_t want) const noexcept override {
    auto s = pattern_at(off, want);
    return s.first(static_cast<std::size_t>(std::min<std::uint64_t>(s.size(), n_ - off)));
  }

 private:
  std::uint64_t n_;
};

class FileBody final : public Body {
 public:
  FileBody(void *p, std::uint64_t n) : p_(static_cast<std::uint8_t *>(p)), n_(n) {}
  ~FileBody() override {
    if (n_) munmap(p_, n_);
  }
  std::uint64_t size() const noexcept override { return n_; }
  std::span<const std::uint8_t> at(std::uint64_t off, std::size_t want) const noexcept override {
    return {p_ + off, static_cast<std::size_t>(std::min<std::uint64_t>(want, n_ - off))};
  }

 private:
  std::uint8_t *p_;
  std::uint64_t n_;
};

class TextBody final : public Body {
 public:
  explicit TextBody(std::string s) : s_(std::move(s)) {}
  std::uint64_t size() const noexcept override { return s_.size(); }
  std::span<const std::uint8_t> at(std::uint64_t off, std::size_t want) const noexcept override {
    return {reinterpret_cast<const std::uint8_t *>(s_.data()) + off,
            static_cast<std::size_t>(std::min<std::uint64_t>(want, s_.size() - off))};
  }

 private:
  std::string s_;
};

// Mappings of served files, reused while the file is unchanged (same device, inode, size and
// mtime), as ngtcp2's example server keeps its mmaps. Mapping a file per request costs a page
// fault per 16 pages on every download (about 3,000 for 200 MB) and an munmap at the end; a
// kept mapping faults once. Bounded: the least recently served file is unmapped first (once
// no response uses it). A changed file gets a new mapping; responses in flight keep the old.
class FileMaps {
 public:
  // The body of the open file `fd` (stat `st`) at `path`; null when it cannot be mapped.
  std::shared_ptr<const Body> get(const std::string &path, int fd, const struct stat &st) {
    std::lock_guard lock(mu_);
    ++clock_;
    auto it = maps_.find(path);
    if (it != maps_.end() && it->second.dev == st.st_dev && it->second.ino == st.st_ino &&
        it->second.size == st.st_size && it->second.mtime.tv_sec == st.st_mtim.tv_sec &&
        it->second.mtime.tv_nsec == st.st_mtim.tv_nsec) {
      it->second.used = clock_;
      return it->second.body;
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    void *p = nullptr;
    if (size) {
      p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) return nullptr;
    }
    auto body = std::make_shared<FileBody>(p, size);
    if (it == maps_.end() && maps_.size() >= kMaxFiles) {
      maps_.erase(std::min_element(maps_.begin(), maps_.end(),
                                   [](auto &a, auto &b) { return a.second.used < b.second.used; }));
    }
    maps_[path] = Entry{st.st_dev, st.st_ino, st.st_size, st.st_mtim, clock_, body};
    return body;
  }

 private:
  static constexpr std::size_t kMaxFiles = 64;
  struct Entry {
    dev_t dev;
    ino_t ino;
    off_t size;
    timespec mtime;
    std::uint64_t used;
    std::shared_ptr<const Body> body;
  };
  std::mutex mu_;
  std::uint64_t clock_ = 0;
  std::map<std::string, Entry> maps_;
};

FileMaps &file_maps() {
  static FileMaps maps;
  return maps;
}

Response text(int status, std::string msg) {
  Response r;
  r.status = status;
  auto body = std::make_shared<TextBody>(std::move(msg) + "\n");
  r.headers = {{"content-type", "text/plain"}, {"content-length", std::to_string(body->size())}};
  r.body_length = body->size();
  r.body = std::move(body);
  return r;
}

// A full-representation response with validators and range support.
Response representation(std::shared_ptr<const Body> body, const std::string &etag,
                        const std::string &sha, const std::string &range, const std::string &if_range) {
  Response r;
  auto size = body->size();
  r.headers = {{"content-type", "application/octet-stream"},
               {"accept-ranges", "bytes"},
               {"etag", etag},
               {kBodySha256Header, sha}};
  // RFC 9110 §13.1.5: a Range with a non-matching If-Range gets the whole representation.
  auto req = (if_range.empty() || if_range == etag) ? parse_range(range, size) : RangeRequest{};
  switch (req.status) {
    case RangeStatus::none:
      r.status = 200;
      r.body_length = size;
      break;
    case RangeStatus::satisfiable:
      r.status = 206;
      r.body_offset = req.range.first;
      r.body_length = req.range.length();
      r.headers.emplace_back("content-range", content_range(req.range, size));
      break;
    case RangeStatus::unsatisfiable:
      r.status = 416;
      r.headers.emplace_back("content-range", "bytes */" + std::to_string(size));
      r.headers.emplace_back("content-length", "0");
      return r;
  }
  r.headers.emplace_back("content-length", std::to_string(r.body_length));
  r.body = std::move(body);
  return r;
}

}  // namespace

std::string body_sha256(const std::string &key, const Body &body) {
  static std::mutex mu;
  static std::map<std::string, std::string> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  gnutls_hash_hd_t h;
  gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
  for (std::uint64_t off = 0; off < body.size();) {
    auto s = body.at(off, 1 << 20);
    gnutls_hash(h, s.data(), s.size());
    off += s.size();
  }
  std::uint8_t digest[32];
  gnutls_hash_deinit(h, digest);
  return cache[key] = hex(digest);
}

Response respond(const std::string &htdocs, const std::string &method, const std::string &path_in,
                 const std::string &range, const std::string &if_range) {
  if (method != "GET" && method != "HEAD") return text(405, "method not allowed");
  auto path = path_in.substr(0, path_in.find('?'));
  if (path.empty() || path[0] != '/' || path.find("/../") != std::string::npos ||
      path.ends_with("/.."))
    return text(400, "bad path");

  constexpr std::string_view bytes_prefix = "/bytes/";
  if (path.starts_with(bytes_prefix)) {
    auto digits = path.substr(bytes_prefix.size());
    char *end = nullptr;
    auto n = std::strtoull(digits.c_str(), &end, 10);
    if (digits.empty() || *end || n > kMaxGeneratedBody)
      return text(404, "/bytes/N takes N up to " + std::to_string(kMaxGeneratedBody));
    auto body = std::make_shared<PatternBody>(n);
    auto key = "bytes/" + std::to_string(n);
    auto sha = body_sha256(key, *body);
    if (path_in.ends_with("?resumable=0")) {
      // A body that cannot be resumed (no Accept-Ranges, no validator, Range ignored), like a
      // generated stream: what the client's planner must restart from zero.
      Response r;
      r.status = 200;
      r.headers = {{"content-type", "application/octet-stream"},
                   {kBodySha256Header, sha},
                   {"content-length", std::to_string(n)}};
      r.body_length = n;
      r.body = std::move(body);
      return r;
    }
    return representation(body, "\"qamp-bytes-" + std::to_string(n) + "\"", sha, range, if_range);
  }

  auto file = htdocs + path;
  if (path.ends_with("/")) file += "index.html";
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text(404, "not found");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return text(404, "not found");
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  auto body = file_maps().get(file, fd, st);
  close(fd);
  if (!body) return text(500, "cannot map file");
  auto etag = "\"" + std::to_string(size) + "-" + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec) + "\"";
  return representation(body, etag, body_sha256(file + etag, *body), range, if_range);
}

}  // namespace qamp::ex
