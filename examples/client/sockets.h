// examples/client/sockets.h — the client's event loop plumbing: UDP sockets (one per local
// address, unconnected, so the local side of every ngtcp2_path is known exactly), libev watchers
// for them, and one-shot timers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ev.h>
#include <ngtcp2/ngtcp2.h>

#include "net.h"

namespace qamp::client {

class Sockets;

class UdpSocket {
 public:
  int fd() const noexcept { return fd_; }
  const Endpoint &local() const noexcept { return local_; }

 private:
  friend class Sockets;
  UdpSocket() = default;
  int fd_ = -1;
  Endpoint local_;
  ev_io rev_{};
  ev_io wev_{};
  Sockets *owner_ = nullptr;
};

enum class SendResult { sent, blocked, failed };

class Sockets {
 public:
  // Called for every datagram read (a coalesced UDP GRO read is split into its datagrams); then
  // `on_batch_end` once per readable event, so the caller can write its replies in one go.
  using Receiver = std::function<void(UdpSocket &, const Endpoint &from, std::span<const std::uint8_t>)>;
  Sockets(struct ev_loop *loop, Receiver on_datagram, std::function<void()> on_batch_end);
  ~Sockets();
  Sockets(const Sockets &) = delete;
  Sockets &operator=(const Sockets &) = delete;

  // Binds a socket to `local` (port 0 picks a free one) and starts reading it.
  UdpSocket *open(const Endpoint &local, std::string *error);
  // The socket bound to exactly `local`, or nullptr.
  UdpSocket *find(const Endpoint &local) const;
  UdpSocket *find(const ngtcp2_addr &local) const;
  void close(UdpSocket *socket);
  void close_all_except(const UdpSocket *keep);
  // Sends from the socket bound to path.local to path.remote. A path whose socket is gone (the
  // old network was dropped) fails quietly: ngtcp2 treats it as loss.
  SendResult send(const ngtcp2_path &path, std::span<const std::uint8_t> data);
  // Called with errno for every send that failed other than by a full buffer (the network
  // follower reads ENETUNREACH, EADDRNOTAVAIL, ... as a migration cause).
  void set_send_error_observer(std::function<void(int)> observer) { send_error_ = std::move(observer); }
  // Calls `ready` once when some blocked socket becomes writable.
  void wait_writable(std::function<void()> ready);

  struct ev_loop *loop() const noexcept {
    return loop_;
  }

 private:
  static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
  static void on_writable(struct ev_loop *loop, ev_io *w, int revents);
  void read_all(UdpSocket &s);

  struct ev_loop *loop_;
  Receiver on_datagram_;
  std::function<void()> on_batch_end_;
  std::function<void()> writable_;
  std::vector<std::unique_ptr<UdpSocket>> sockets_;
  UdpSocket *blocked_ = nullptr;
  std::function<void(int)> send_error_;
  std::unique_ptr<std::uint8_t[]> rbuf_;  // one 64 KiB read buffer, allocated on first use
};

// The local address the kernel would use to reach `remote` (a connected UDP socket's name, no
// packet is sent), port 0. nullopt with *error when there is no route.
std::optional<Endpoint> route_source(const Endpoint &remote, std::string *error);

// A one-shot timer owning its libev watcher; re-arming replaces the previous deadline.
class Timer {
 public:
  Timer(struct ev_loop *loop, std::function<void()> fire);
  ~Timer();
  Timer(const Timer &) = delete;
  Timer &operator=(const Timer &) = delete;
  void arm(double seconds);
  void cancel();
  bool armed() const noexcept;

 private:
  static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents);
  struct ev_loop *loop_;
  ev_timer w_{};
  std::function<void()> fire_;
};

}  // namespace qamp::client
