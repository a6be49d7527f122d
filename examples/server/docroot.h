// examples/server/docroot.h — qamp-server's document root (--htdocs): one O_PATH directory fd
// opened at start; every file is opened relative to it with openat2(RESOLVE_BENEATH), so no
// path (no "..", no absolute symlink, no symlink chain) resolves outside the root, and only
// regular files are served (a FIFO, socket, device or directory is refused without blocking:
// O_NONBLOCK, then fstat/S_ISREG).
#pragma once

#include <string>
#include <sys/stat.h>

namespace qamp::server {

// An owned file descriptor (one RAII owner per handle, STYLE.md "C boundaries").
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  ~Fd();
  Fd(Fd &&o) noexcept : fd_(o.release()) {}
  Fd &operator=(Fd &&o) noexcept;
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct OpenedFile {
  int status = 200;    // 200: fd and st are set; else 403 or 404 (or 500) with reason
  std::string reason;  // why not served (for the log line)
  Fd fd;
  struct stat st {};
};

class DocRoot {
 public:
  // Opens `dir` (O_PATH | O_DIRECTORY). False with *error when it is not a directory.
  bool open(const std::string &dir, std::string *error);
  // Opens `rel` (relative, no leading '/') beneath the root. Symlinks are followed while they
  // stay beneath the root (RESOLVE_BENEATH; a link that leaves it, absolute or by "..", is
  // refused with 403); magic links (/proc/self/fd/N) never (RESOLVE_NO_MAGICLINKS).
  // 404: does not exist; 403: outside the root, not a regular file, or permission denied.
  OpenedFile open_file(const std::string &rel) const;
  const std::string &path() const noexcept { return dir_; }
  bool is_open() const noexcept { return static_cast<bool>(root_); }

 private:
  std::string dir_;
  Fd root_;
};

// The process's document root: opened once by main() before the server starts (so a missing
// --htdocs is an error at start, not a 404 per request), then read by every connection.
bool open_document_root(const std::string &dir, std::string *error);
const DocRoot &document_root();

}  // namespace qamp::server
