#include "sockets.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace qamp::client {

namespace {

// recvmsg calls per readable event; the loop comes back while the socket stays readable. With
// GRO one call can carry dozens of datagrams, so this also bounds how much is read before the
// replies (ACKs) go out.
constexpr int kMaxReadsPerEvent = 10;
// A GRO read carries at most 64 KiB (the UDP length field, and the kernel's GRO limit).
constexpr std::size_t kReadBufferSize = 64 * 1024;

// The segment size of a coalesced (GRO) read, 0 when the read is a single datagram.
std::size_t gro_segment_size(msghdr &msg) {
#ifdef UDP_GRO
  for (auto *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_UDP && cmsg->cmsg_type == UDP_GRO && cmsg->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size = 0;
      std::memcpy(&size, CMSG_DATA(cmsg), sizeof size);
      return size > 0 ? static_cast<std::size_t>(size) : 0;
    }
  }
#else
  (void)msg;
#endif
  return 0;
}

bool same(const Endpoint &e, const ngtcp2_addr &a) {
  if (!a.addr || a.addrlen == 0) return false;
  return e == Endpoint::of(a);
}

}  // namespace

Sockets::Sockets(struct ev_loop *loop, Receiver on_datagram, std::function<void()> on_batch_end)
    : loop_(loop), on_datagram_(std::move(on_datagram)), on_batch_end_(std::move(on_batch_end)) {}

Sockets::~Sockets() {
  while (!sockets_.empty()) close(sockets_.back().get());
}

UdpSocket *Sockets::open(const Endpoint &local, std::string *error) {
  int fd = common::bind_udp(local, error);
  if (fd < 0) return nullptr;
  // Loopback downloads burst faster than the default buffers drain.
  int size = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
#ifdef UDP_GRO
  // Let the kernel hand over runs of same-size datagrams from one sender in one read (a server
  // sending with GSO, or GRO on the NIC); read_all splits them. Kernels without it (< 5.0) refuse
  // the option and deliver one datagram per read, which read_all handles the same way.
  int on = 1;
  setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
#endif
  auto s = std::unique_ptr<UdpSocket>(new UdpSocket);
  s->fd_ = fd;
  s->local_ = common::local_endpoint(fd);
  s->owner_ = this;
  ev_io_init(&s->rev_, on_readable, fd, EV_READ);
  s->rev_.data = s.get();
  ev_io_init(&s->wev_, on_writable, fd, EV_WRITE);
  s->wev_.data = s.get();
  ev_io_start(loop_, &s->rev_);
  sockets_.push_back(std::move(s));
  return sockets_.back().get();
}

UdpSocket *Sockets::find(const Endpoint &local) const {
  for (const auto &s : sockets_)
    if (s->local_ == local) return s.get();
  return nullptr;
}

UdpSocket *Sockets::find(const ngtcp2_addr &local) const {
  for (const auto &s : sockets_)
    if (same(s->local_, local)) return s.get();
  return nullptr;
}

void Sockets::close(UdpSocket *socket) {
  auto it = std::find_if(sockets_.begin(), sockets_.end(), [&](const auto &p) { return p.get() == socket; });
  if (it == sockets_.end()) return;
  ev_io_stop(loop_, &socket->rev_);
  ev_io_stop(loop_, &socket->wev_);
  ::close(socket->fd_);
  if (blocked_ == socket) blocked_ = nullptr;
  sockets_.erase(it);
}

void Sockets::close_all_except(const UdpSocket *keep) {
  std::vector<UdpSocket *> doomed;
  for (const auto &s : sockets_)
    if (s.get() != keep) doomed.push_back(s.get());
  for (auto *s : doomed) close(s);
}

SendResult Sockets::send(const ngtcp2_path &path, std::span<const std::uint8_t> data) {
  auto *s = find(path.local);
  if (!s) return SendResult::failed;
  for (;;) {
    auto n = sendto(s->fd_, data.data(), data.size(), 0, path.remote.addr, path.remote.addrlen);
    if (n >= 0) return SendResult::sent;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      blocked_ = s;
      return SendResult::blocked;
    }
    if (send_error_) send_error_(errno);
    return SendResult::failed;  // e.g. EMSGSIZE for a PMTUD probe: ngtcp2 sees it as lost
  }
}

void Sockets::wait_writable(std::function<void()> ready) {
  writable_ = std::move(ready);
  if (blocked_) {
    ev_io_start(loop_, &blocked_->wev_);
  } else if (writable_) {
    auto cb = std::move(writable_);
    writable_ = nullptr;
    cb();
  }
}

void Sockets::on_writable(struct ev_loop *loop, ev_io *w, int) {
  auto *s = static_cast<UdpSocket *>(w->data);
  auto *self = s->owner_;
  ev_io_stop(loop, w);
  self->blocked_ = nullptr;
  if (auto cb = std::move(self->writable_)) {
    self->writable_ = nullptr;
    cb();
  }
}

void Sockets::on_readable(struct ev_loop *, ev_io *w, int) {
  auto *s = static_cast<UdpSocket *>(w->data);
  s->owner_->read_all(*s);
}

void Sockets::read_all(UdpSocket &s) {
  UdpSocket *sp = &s;
  auto alive = [this, sp] {
    return std::any_of(sockets_.begin(), sockets_.end(), [sp](const auto &p) { return p.get() == sp; });
  };
  if (!rbuf_) rbuf_ = std::make_unique<std::uint8_t[]>(kReadBufferSize);
  alignas(cmsghdr) std::array<std::uint8_t, CMSG_SPACE(sizeof(int))> ctrl;
  bool alive_socket = true;
  for (int i = 0; alive_socket && i < kMaxReadsPerEvent; ++i) {
    sockaddr_storage peer{};
    iovec iov{rbuf_.get(), kReadBufferSize};
    msghdr msg{};
    msg.msg_name = &peer;
    msg.msg_namelen = sizeof peer;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.data();
    msg.msg_controllen = ctrl.size();
    auto n = recvmsg(sp->fd_, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained; anything else (an ICMP error) is for ngtcp2's timers to handle
    }
    const auto from = Endpoint::from(reinterpret_cast<const sockaddr *>(&peer)).value_or(Endpoint{});
    auto len = static_cast<std::size_t>(n);
    auto seg = gro_segment_size(msg);
    if (seg == 0 || seg > len) seg = len;
    if (msg.msg_flags & MSG_TRUNC) {  // cannot happen within 64 KiB; keep only whole datagrams
      if (seg == len) continue;
      len -= len % seg;
    }
    for (std::size_t off = 0; off < len; off += seg) {
      on_datagram_(*sp, from, std::span<const std::uint8_t>(rbuf_.get() + off, std::min(seg, len - off)));
      // The receiver may have closed this very socket (a dropped network).
      if (!alive()) {
        alive_socket = false;
        break;
      }
    }
  }
  if (on_batch_end_) on_batch_end_();
}

std::optional<Endpoint> route_source(const Endpoint &remote, std::string *error) {
  int fd = socket(remote.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (connect(fd, remote.sa(), remote.size()) != 0) {
    if (error) *error = "no route to " + remote.to_string() + ": " + std::strerror(errno);
    ::close(fd);
    return std::nullopt;
  }
  auto local = common::local_endpoint(fd);
  ::close(fd);
  local.set_port(0);
  return local;
}

Timer::Timer(struct ev_loop *loop, std::function<void()> fire) : loop_(loop), fire_(std::move(fire)) {
  ev_timer_init(&w_, on_timeout, 0., 0.);
  w_.data = this;
}

Timer::~Timer() { ev_timer_stop(loop_, &w_); }

void Timer::arm(double seconds) {
  ev_timer_stop(loop_, &w_);
  ev_timer_set(&w_, std::max(seconds, 0.0), 0.);
  ev_timer_start(loop_, &w_);
}

void Timer::cancel() { ev_timer_stop(loop_, &w_); }

bool Timer::armed() const noexcept { return ev_is_active(&w_); }

void Timer::on_timeout(struct ev_loop *, ev_timer *w, int) { static_cast<Timer *>(w->data)->fire_(); }

}  // namespace qamp::client
