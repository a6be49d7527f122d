// tests/sim/sim.h — the simulator's world: a virtual clock with an event queue, one-way links
// with delay, serialisation rate and seeded loss, and middleboxes that rewrite or route
// datagrams (a rebinding NAT, Anycast, a 4-tuple balancer). No sockets, no threads, no sleeps:
// time advances only when the queue runs the next event, so a run is a function of its
// configuration and seeds (ngtcp2's examples/sim, aioquic's test_connection.py). GnuTLS draws its
// own randomness (key shares, signatures): TLS bytes differ between runs, decisions do not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <span>
#include <vector>

#include <ngtcp2/ngtcp2.h>

#include "harness.h"

namespace qamp::sim {

// xorshift64*: fixed output for a fixed seed on every platform and library (std::
// distributions are not specified bit for bit).
class Prng {
 public:
  explicit Prng(std::uint64_t seed) noexcept : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  std::uint64_t next() noexcept;
  void fill(std::span<std::uint8_t> out) noexcept;
  // True with probability p (0 never, 1 always).
  bool chance(double p) noexcept;

 private:
  std::uint64_t state_;
};

// The clock and the agenda. Events run in time order, ties in the order they were scheduled.
class EventQueue {
 public:
  explicit EventQueue(ngtcp2_tstamp start = 1'000'000'000) noexcept : now_(start) {}
  ngtcp2_tstamp now() const noexcept { return now_; }
  // Runs `fn` at `t` (a time in the past means now).
  void at(ngtcp2_tstamp t, std::function<void()> fn);
  // Runs every event due by `t`, then sets the clock to `t`.
  void run_until(ngtcp2_tstamp t);
  // Runs events until `done()` holds (checked after each) or the clock would pass `deadline`.
  // True when `done()` held.
  bool run_while_not(const std::function<bool()> &done, ngtcp2_tstamp deadline);

 private:
  struct Event {
    ngtcp2_tstamp t;
    std::uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event &o) const noexcept { return t != o.t ? t > o.t : seq > o.seq; }
  };
  bool run_one(ngtcp2_tstamp limit);
  ngtcp2_tstamp now_;
  std::uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
};

struct LinkConfig {
  ngtcp2_duration delay = 10 * NGTCP2_MILLISECONDS;  // one way
  std::uint64_t ns_per_byte = 80;                    // serialisation: 80 ns/byte = 100 Mbit/s
  double loss = 0;                                   // per datagram, from the link's Prng
};

struct LinkCounters {
  std::uint64_t sent = 0, lost = 0;
};

// One direction of a path. A datagram leaves when the previous one has been serialised (a FIFO
// with no size limit) and arrives `delay` later, unless the PRNG drops it.
class Link {
 public:
  Link(EventQueue &queue, LinkConfig config, std::uint64_t seed) : queue_(queue), config_(config), prng_(seed) {}
  void send(Datagram d, std::function<void(Datagram)> arrive);
  const LinkCounters &counters() const noexcept { return counters_; }

 private:
  EventQueue &queue_;
  LinkConfig config_;
  Prng prng_;
  ngtcp2_tstamp busy_until_ = 0;
  LinkCounters counters_;
};

// Something on the path that rewrites addresses. Returns false to drop the datagram.
class Middlebox {
 public:
  virtual ~Middlebox() = default;
  virtual bool outbound(Datagram &d, ngtcp2_tstamp now) = 0;  // client -> server
  virtual bool inbound(Datagram &d, ngtcp2_tstamp now) = 0;   // server -> client
};

// A NAT for one inside address. rebind() gives it a new outside address (a new port, or a new
// IP: a NAT pool or a carrier-grade NAT changing its mapping); like tests/e2e/server/nat_relay,
// the old mapping still delivers inbound afterwards, so what the client hears never depends on
// what was in flight, only what the server sends to the new mapping counts as an answer there.
class Nat : public Middlebox {
 public:
  Nat(Endpoint inside, Endpoint outside) : inside_(inside), outside_(outside) {}
  void rebind(Endpoint new_outside);
  bool outbound(Datagram &d, ngtcp2_tstamp now) override;
  bool inbound(Datagram &d, ngtcp2_tstamp now) override;

  const Endpoint &outside() const noexcept { return outside_; }
  bool rebound() const noexcept { return !old_.empty(); }
  std::uint64_t client_to_server_after_rebind = 0;  // datagrams sent from the new mapping
  std::uint64_t server_to_client_after_rebind = 0;  // datagrams the server sent to it

 private:
  Endpoint inside_, outside_;
  std::vector<Endpoint> old_;
};

// Picks the server instance a client -> server datagram reaches.
class Router {
 public:
  virtual ~Router() = default;
  virtual std::size_t pick(const Datagram &d, std::size_t instances) = 0;
};

// Anycast: every instance announces the same address; the route decides, until it changes.
class Anycast : public Router {
 public:
  void route_to(std::size_t instance) noexcept { instance_ = instance; }
  std::size_t pick(const Datagram &, std::size_t instances) override { return instance_ % instances; }

 private:
  std::size_t instance_ = 0;
};

// A 4-tuple load balancer: a hash of (source, destination) picks the instance, so any change of
// the client's address may land on another instance (DESIGN.md §2).
class FourTupleBalancer : public Router {
 public:
  std::size_t pick(const Datagram &d, std::size_t instances) override;
};

// Anything the network delivers to.
class Node {
 public:
  virtual ~Node() = default;
  virtual bool owns(const Endpoint &address) const = 0;
  virtual void receive(const Datagram &d) = 0;
};

// One client behind a chain of middleboxes, in front of server instances. Without a Router a
// datagram reaches the first instance that owns its destination address.
class Network {
 public:
  Network(EventQueue &queue, LinkConfig up, LinkConfig down, std::uint64_t seed)
      : up_(queue, up, seed), down_(queue, down, seed + 1), queue_(queue) {}
  void set_client(Node *client) noexcept { client_ = client; }
  void add_server(Node *server) { servers_.push_back(server); }
  void add_middlebox(Middlebox *box) { boxes_.push_back(box); }  // in order from the client
  void set_router(Router *router) noexcept { router_ = router; }

  void from_client(Datagram d);
  void from_server(Datagram d);

  std::uint64_t undeliverable = 0;  // no node owned the destination
  const Link &up() const noexcept { return up_; }
  const Link &down() const noexcept { return down_; }

 private:
  Link up_, down_;
  EventQueue &queue_;
  Node *client_ = nullptr;
  std::vector<Node *> servers_;
  std::vector<Middlebox *> boxes_;
  Router *router_ = nullptr;
};

}  // namespace qamp::sim
