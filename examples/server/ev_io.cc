// examples/server/ev_io.cc — see ev_io.h.
#include "ev_io.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <utility>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

namespace qamp::server {

namespace {

class EvAlarm final : public Alarm {
 public:
  EvAlarm(struct ev_loop *loop, std::function<void()> fire) : loop_(loop), fire_(std::move(fire)) {
    ev_timer_init(&timer_, on_timer, 0., 0.);
    timer_.data = this;
    ev_io_init(&writable_, on_writable, 0, EV_WRITE);
    writable_.data = this;
  }
  ~EvAlarm() override { cancel(); }
  EvAlarm(const EvAlarm &) = delete;
  EvAlarm &operator=(const EvAlarm &) = delete;

  void arm(ngtcp2_tstamp at) override {
    auto now = now_ns();
    // Never 0: libev runs a 0-second timer in this iteration's timer pass, still "later".
    double t = at <= now ? 1e-9 : static_cast<double>(at - now) / NGTCP2_SECONDS;
    ev_timer_stop(loop_, &timer_);
    ev_timer_set(&timer_, t, 0.);
    ev_timer_start(loop_, &timer_);
  }
  void arm_writable(const Socket &s) override {
    ev_io_stop(loop_, &writable_);
    ev_io_set(&writable_, s.handle, EV_WRITE);
    ev_io_start(loop_, &writable_);
  }
  void cancel() override {
    ev_timer_stop(loop_, &timer_);
    ev_io_stop(loop_, &writable_);
  }

 private:
  static void on_timer(struct ev_loop *, ev_timer *w, int) { static_cast<EvAlarm *>(w->data)->fire_(); }
  static void on_writable(struct ev_loop *loop, ev_io *w, int) {
    ev_io_stop(loop, w);
    static_cast<EvAlarm *>(w->data)->fire_();
  }

  struct ev_loop *loop_;
  std::function<void()> fire_;
  ev_timer timer_{};
  ev_io writable_{};
};

}  // namespace

EvServerIo::EvServerIo(struct ev_loop *loop, std::map<ServerAddress, int> fds) : loop_(loop), fds_(std::move(fds)) {}

EvServerIo::~EvServerIo() {
  for (auto &[role, fd] : fds_)  // those open() did not adopt
    if (fd >= 0) close(fd);
  for (auto &r : readers_) {
    ev_io_stop(loop_, &r->watcher);
    close(r->fd);  // the Socket itself may be gone (the Server goes first)
  }
}

ngtcp2_tstamp EvServerIo::now() const { return now_ns(); }

ngtcp2_tstamp EvServerIo::wall_clock() const {
  return static_cast<ngtcp2_tstamp>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

void EvServerIo::random(std::span<std::uint8_t> out) { random_bytes(out); }

bool EvServerIo::open(Socket &s, const Endpoint &at, std::string *error) {
  int fd = -1;
  if (auto given = fds_.find(s.role); given != fds_.end())
    fd = std::exchange(given->second, -1);
  else
    fd = bind_udp(at, error);
  if (fd < 0) return false;
  s.handle = fd;
  s.local = local_endpoint(fd);
  auto r = std::make_unique<Reader>();
  r->socket = &s;
  r->fd = fd;
  ev_io_init(&r->watcher, on_readable, fd, EV_READ);
  r->watcher.data = r.get();
  ev_io_start(loop_, &r->watcher);
  readers_.push_back(std::move(r));
  return true;
}

void EvServerIo::on_readable(struct ev_loop *, ev_io *w, int) {
  auto &s = *static_cast<Reader *>(w->data)->socket;
  std::array<std::uint8_t, 65536> buf;
  for (int i = 0; i < 64; ++i) {
    Endpoint remote;
    auto n = recv_from(s.handle, buf, remote);
    if (n < 0) break;
    s.server->receive(s, remote, {buf.data(), static_cast<std::size_t>(n)});
  }
  s.server->end_batch();
}

int EvServerIo::send(const Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data,
                     std::size_t gso_size) {
  if (gso_size && data.size() > gso_size && gso_ok_) {
    iovec iov{const_cast<std::uint8_t *>(data.data()), data.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr *>(remote.sa());
    msg.msg_namelen = remote.size();
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    auto *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    auto seg = static_cast<std::uint16_t>(gso_size);
    std::memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    for (;;) {
      if (sendmsg(s.handle, &msg, 0) >= 0) return 0;
      if (errno == EINTR) continue;
      if (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT) {
        gso_ok_ = false;  // no GSO here: fall back to one datagram per packet
        s.server->log("UDP GSO unavailable (" + std::string(std::strerror(errno)) + "), sending packet by packet");
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return kBlocked;
      s.server->debug("sendmsg " + remote.to_string() + ": " + std::strerror(errno));
      return 0;
    }
  }
  if (gso_size && data.size() > gso_size) {
    for (std::size_t off = 0; off < data.size(); off += gso_size)
      send(s, remote, data.subspan(off, std::min(gso_size, data.size() - off)));  // best effort
    return 0;
  }
  for (;;) {
    auto n = sendto(s.handle, data.data(), data.size(), 0, remote.sa(), remote.size());
    if (n >= 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return kBlocked;
    s.server->debug("sendto " + remote.to_string() + ": " + std::strerror(errno));
    return 0;
  }
}

std::unique_ptr<Alarm> EvServerIo::alarm(std::function<void()> fire) {
  return std::make_unique<EvAlarm>(loop_, std::move(fire));
}

Digests &EvServerIo::digests() {
  if (!digests_) digests_ = std::make_unique<DigestWorker>(loop_, DigestWorker::Limits{});
  return *digests_;
}

void EvServerIo::log(const std::string &line) { std::cerr << line << std::endl; }

void EvServerIo::stop() { ev_break(loop_, EVBREAK_ALL); }

}  // namespace qamp::server
