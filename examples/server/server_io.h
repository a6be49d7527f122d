// examples/server/server_io.h — what qamp-server asks of the world outside it: the clock, one-shot
// alarms, the UDP sockets of the server addresses and what is sent on them, the digest service,
// randomness and the log (STYLE.md: adapters take a clock and a scheduler).
//
// Server and Connection hold no event loop and no file descriptor; they are driven from outside:
// the I/O hands each received datagram to Server::receive and ends a read batch with
// Server::end_batch, and runs the alarms it armed. Two implementations:
//   - ev_io.h: libev and real sockets (UDP GSO, EAGAIN, the digest thread), qamp-server's;
//   - tests/sim/server.cc: the simulator's virtual clock and links, seeded randomness, inline
//     digests, so the simulator runs qamp-server's own dispatcher and connections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <ngtcp2/ngtcp2.h>

#include "net.h"
#include "qamp/policy.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

class Body;  // response.h

// One server address's socket, as Server and Connection name it. `handle` belongs to the I/O (a
// file descriptor in ev_io.h); the server never reads it.
class Server;
struct Socket {
  Endpoint local;  // the bound address (a port 0 resolved by ServerIo::open)
  ServerAddress role = ServerAddress::handshake;
  Server *server = nullptr;
  int handle = -1;
};

// A one-shot callback the I/O runs later, never from inside arm(). Re-arming moves it; cancel()
// of an idle alarm is a no-op; destroying it cancels it.
class Alarm {
 public:
  virtual ~Alarm() = default;
  // At `at` on ServerIo::now()'s clock; a time in the past: as soon as possible.
  virtual void arm(ngtcp2_tstamp at) = 0;
  // When `s` can take a datagram again (after ServerIo::send answered kBlocked).
  virtual void arm_writable(const Socket &s) = 0;
  virtual void cancel() = 0;
};

// The SHA-256 of whole response bodies (x-qamp-body-sha256), computed off the datagram path.
class Digests {
 public:
  virtual ~Digests() = default;
  // The cached digest (hex) of `key`, refreshed as most recently used; nullopt if not cached.
  virtual std::optional<std::string> cached(const std::string &key) = 0;
  // Asks for the digest of `body` under `key`; `done(hex)` runs later (never from inside this
  // call). `owner` identifies the requester for cancel(). False (nothing queued) when the
  // limits are reached: the caller answers 503.
  virtual bool request(const std::string &key, std::shared_ptr<const Body> body, const void *owner,
                       std::function<void(const std::string &)> done) = 0;
  // Forgets every pending `done` of `owner` (a connection going away).
  virtual void cancel(const void *owner) = 0;
};

class ServerIo {
 public:
  virtual ~ServerIo() = default;
  virtual ngtcp2_tstamp now() const = 0;         // ngtcp2's clock (nanoseconds)
  virtual ngtcp2_tstamp wall_clock() const = 0;  // Retry tokens: instances share no monotonic clock
  virtual void random(std::span<std::uint8_t> out) = 0;  // CIDs, nonces, reset padding, ngtcp2's rand
  // Opens the socket of `s.role` at `at` and fills s.local and s.handle; received datagrams go
  // to s.server->receive. False with *error naming the address.
  virtual bool open(Socket &s, const Endpoint &at, std::string *error) = 0;
  // Sends `data` to `remote` from `s`; with gso_size > 0 it is several packets of that size (the
  // last may be shorter). 0 when sent (or dropped on a hard error, logged), kBlocked when the
  // socket buffer is full: the caller keeps the data and retries when the socket is writable.
  static constexpr int kBlocked = 1;
  virtual int send(const Socket &s, const Endpoint &remote, std::span<const std::uint8_t> data,
                   std::size_t gso_size = 0) = 0;
  virtual std::unique_ptr<Alarm> alarm(std::function<void()> fire) = 0;
  virtual Digests &digests() = 0;
  virtual void log(const std::string &line) = 0;  // one line, no newline
  virtual void stop() = 0;                        // after shutdown: the loop ends
};

}  // namespace qamp::server
