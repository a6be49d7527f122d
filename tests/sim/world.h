// tests/sim/world.h — what every simulator test starts from: a clock, a network with the same
// link both ways, and the addresses the scenarios use (documentation prefixes, RFC 5737).
#pragma once

#include "client.h"
#include "server.h"
#include "sim.h"

namespace qamp::sim {

inline Endpoint addr(const char *text) { return *Endpoint::parse(text); }

inline const Endpoint kClientInside = addr("10.0.0.1:5000");
inline const Endpoint kClientNewLocal = addr("10.0.0.3:5001");
inline const Endpoint kNatOutside = addr("198.18.0.1:40000");
inline const Endpoint kServerHandshake = addr("192.0.2.1:443");
inline const Endpoint kServerSpa = addr("192.0.2.2:443");

struct World {
  EventQueue queue;
  Network net;
  explicit World(LinkConfig link = {}, std::uint64_t seed = 42) : net(queue, link, link, seed) {}
  ngtcp2_tstamp in(ngtcp2_duration d) const noexcept { return queue.now() + d; }
};

// One client and one server on a world of their own, nothing between them; the client's first
// Initial is sent, nothing has run yet.
struct Pair {
  World w;
  Server server;
  Client client;
  Pair(const ServerConfig &sc, const ClientConfig &cc, LinkConfig link = {})
      : w(link), server(w.queue, w.net, sc), client(w.queue, w.net, cc) {
    w.net.set_client(&client);
    w.net.add_server(&server);
    client.start();
  }
};

}  // namespace qamp::sim
