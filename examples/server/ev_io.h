// examples/server/ev_io.h — qamp-server's ServerIo (server_io.h) on libev and real UDP sockets:
// one read watcher per server address (up to 64 datagrams per wake-up, then Server::end_batch),
// sendmsg with UDP_SEGMENT (GSO, falling back to one datagram per packet where the kernel has
// none), EAGAIN answered as kBlocked with a writable watcher, ev timers for the alarms, the
// digest thread (digest_worker.h), the CSPRNG, and stderr for the log.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include <ev.h>

#include "digest_worker.h"
#include "server_io.h"

namespace qamp::server {

class EvServerIo final : public ServerIo {
 public:
  // `fds`: sockets already bound for some roles (--workers' supervisor, workers.h); owned from
  // here on, adopted by open() for their role, closed at destruction otherwise.
  explicit EvServerIo(struct ev_loop *loop, std::map<ServerAddress, int> fds = {});
  ~EvServerIo() override;
  EvServerIo(const EvServerIo &) = delete;
  EvServerIo &operator=(const EvServerIo &) = delete;

  ngtcp2_tstamp now() const override;
  ngtcp2_tstamp wall_clock() const override;
  void random(std::span<std::uint8_t> out) override;
  bool open(Socket &s, const Endpoint &at, std::string *error) override;
  int send(const Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data,
           std::size_t gso_size = 0) override;
  std::unique_ptr<Alarm> alarm(std::function<void()> fire) override;
  Digests &digests() override;
  void log(const std::string &line) override;
  void stop() override;

 private:
  struct Reader {
    ev_io watcher{};
    Socket *socket = nullptr;
    int fd = -1;
  };
  static void on_readable(struct ev_loop *, ev_io *w, int);

  struct ev_loop *loop_;
  std::map<ServerAddress, int> fds_;  // the supervisor's, until open() adopts them
  std::vector<std::unique_ptr<Reader>> readers_;
  std::unique_ptr<DigestWorker> digests_;  // started on first use (its thread)
  bool gso_ok_ = true;
};

}  // namespace qamp::server
