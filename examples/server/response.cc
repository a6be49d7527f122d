#include "response.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>

#include "docroot.h"
#include "http_range.h"
#include "net.h"
#include "request.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

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
      maps_.erase(
          std::min_element(maps_.begin(), maps_.end(), [](auto &a, auto &b) { return a.second.used < b.second.used; }));
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

// A full-representation response with validators and range support.
Response representation(std::shared_ptr<const Body> body, const std::string &etag, const std::string &key,
                        const Request &req) {
  Response r;
  auto size = body->size();
  r.headers = {{"content-type", "application/octet-stream"}, {"accept-ranges", "bytes"}, {"etag", etag}};
  r.digest_key = key;
  r.digest_body = body;
  auto use_range = method_uses_range(req.method) && if_range_allows_range(req.if_range, etag);
  auto range = use_range ? parse_range(req.range, size) : RangeRequest{};
  switch (range.status) {
    case RangeStatus::none:
      r.status = 200;
      r.body_length = size;
      break;
    case RangeStatus::satisfiable:
      r.status = 206;
      r.body_offset = range.range.first;
      r.body_length = range.range.length();
      r.headers.emplace_back("content-range", content_range(range.range, size));
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

Response refused(int status, std::string reason) {
  auto r = text_response(status, reason);
  if (status == 405) r.headers.emplace_back("allow", "GET, HEAD");
  r.refusal = std::move(reason);
  return r;
}

Response build(const DocRoot &root, const Request &req, std::uint64_t max_generated) {
  auto target = classify_request(req.method, req.path, max_generated);
  switch (target.kind) {
    case TargetKind::refused: return refused(target.status, target.reason);
    case TargetKind::generated: {
      auto n = target.size;
      auto body = std::make_shared<PatternBody>(n);
      auto key = "bytes/" + std::to_string(n);
      if (!target.resumable) {
        // A body that cannot be resumed (no Accept-Ranges, no validator, Range ignored), like a
        // generated stream: what the client's planner must restart from zero.
        Response r;
        r.status = 200;
        r.headers = {{"content-type", "application/octet-stream"}, {"content-length", std::to_string(n)}};
        r.body_length = n;
        r.digest_key = key;
        r.digest_body = body;
        r.body = std::move(body);
        return r;
      }
      auto etag = "\"qamp-bytes-" + std::to_string(n) + "\"";
      Request r = req;
      if (target.ignores_range) r.range.clear();  // advertised, yet answered whole (RFC 9110 §14.2 allows it)
      if (target.changes_on_range && !req.range.empty()) etag = "\"qamp-bytes-" + std::to_string(n) + "-v2\"";
      auto resp = representation(body, etag, key, r);
      if (target.unknown_length)  // the body ends with the stream (RFC 9114 §4.1.2)
        std::erase_if(resp.headers, [](const auto &h) { return h.first == "content-length"; });
      return resp;
    }
    case TargetKind::file: break;
  }
  auto f = root.open_file(target.rel_path);
  if (f.status != 200) return refused(f.status, f.status == 404 ? "not found" : f.reason);
  auto &st = f.st;
  auto size = static_cast<std::uint64_t>(st.st_size);
  auto body = file_maps().get(target.rel_path, f.fd.get(), st);
  if (!body) return refused(500, "cannot map file");
  auto etag = "\"" + std::to_string(size) + "-" + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec) + "\"";
  return representation(body, etag, "file/" + target.rel_path + etag, req);
}

}  // namespace

Response text_response(int status, std::string msg) {
  Response r;
  r.status = status;
  auto body = std::make_shared<TextBody>(std::move(msg) + "\n");
  r.headers = {{"content-type", "text/plain"}, {"content-length", std::to_string(body->size())}};
  r.body_length = body->size();
  r.body = std::move(body);
  return r;
}

void add_digest(Response &r, const std::string &hex) {
  r.headers.emplace_back(kBodySha256Header, hex);
  r.digest_key.clear();
  r.digest_body.reset();
}

Response respond(const DocRoot &root, const Request &req, std::uint64_t max_generated) {
  auto r = build(root, req, max_generated);
  // RFC 9110 §9.3.2: the header section of a GET, no content.
  if (!method_sends_content(req.method)) r.body_length = 0;
  return r;
}

}  // namespace qamp::server
