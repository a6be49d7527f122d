#include "docroot.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace qamp::server {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd &Fd::operator=(Fd &&o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

bool DocRoot::open(const std::string &dir, std::string *error) {
  int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = "--htdocs " + dir + ": " + std::strerror(errno);
    return false;
  }
  root_ = Fd(fd);
  dir_ = dir;
  return true;
}

namespace {
DocRoot &process_root() {
  static DocRoot root;
  return root;
}
}  // namespace

bool open_document_root(const std::string &dir, std::string *error) { return process_root().open(dir, error); }

const DocRoot &document_root() { return process_root(); }

OpenedFile DocRoot::open_file(const std::string &rel) const {
  OpenedFile f;
  open_how how{};
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (and freeze the
  // event loop); O_NOCTTY: a terminal never becomes ours.
  how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);  // RESOLVE_BENEATH retries on concurrent renames
  if (fd < 0) {
    int e = errno;
    switch (e) {
      case ENOENT:
      case ENOTDIR:
      case ENAMETOOLONG:
        f.status = 404;
        f.reason = "not found";
        break;
      case EXDEV:
        f.status = 403;
        f.reason = "resolves outside the document root";
        break;
      case ELOOP:
        f.status = 403;
        f.reason = "symlink loop or magic link";
        break;
      case EACCES:
      case EPERM:
        f.status = 403;
        f.reason = "permission denied";
        break;
      default: f.status = 500; f.reason = std::string("openat2: ") + std::strerror(e);
    }
    return f;
  }
  f.fd = Fd(static_cast<int>(fd));
  if (fstat(f.fd.get(), &f.st) != 0) {
    f.status = 500;
    f.reason = std::string("fstat: ") + std::strerror(errno);
    f.fd = Fd();
    return f;
  }
  if (!S_ISREG(f.st.st_mode)) {
    f.status = 403;
    f.reason = S_ISDIR(f.st.st_mode) ? "a directory (ask for DIR/)" : "not a regular file";
    f.fd = Fd();
    return f;
  }
  return f;
}

}  // namespace qamp::server
