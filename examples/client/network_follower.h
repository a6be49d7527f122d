// examples/client/network_follower.h — qamp-client follows the system's network (issue 14):
// the thin adapter between the event sources (rtnetlink through netlink.h, the client's own
// sendmsg errors, ngtcp2's path samples, and --network-event / --network-change scripts) and the
// MigrationAdapter. Every decision is MigrationTrigger's (qamp/network_events.h); this class only
// describes the connection to it (ConnectionView), logs each decision (one stderr line and a
// qlog event "qamp:network-event" with the cause and the rule), and carries out a migrate or
// to-planner decision with MigrationAdapter::network_changed(target, cause), where the Migrator
// has the last word (it knows the preferred address, RFC 9000 §9.6.3) and a refused change goes
// to the download planner as before.
//
// No I/O and no event loop of its own: the client owns the netlink socket and the timers and
// hands events in; time comes from the Clock.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"
#include "migration.h"
#include "qamp/network_events.h"
#include "trace.h"

namespace qamp::client {

// What the follower asks of the client.
class FollowerHost {
 public:
  virtual ~FollowerHost() = default;
  virtual bool connection_open() = 0;
  virtual Endpoint local() = 0;  // the connection's current local address
  virtual Level level() = 0;     // the level of the server address the connection uses now
  virtual bool idle() = 0;       // no request outstanding
  // The interface holding `ip` (getifaddrs), 0 when none does.
  virtual unsigned ifindex_of(const Endpoint &ip) = 0;
  // MigrationAdapter::network_changed.
  virtual void change_network(const Endpoint &local, MigrationCause cause) = 0;
};

class NetworkFollower {
 public:
  NetworkFollower(const NetworkEventConfig &config, Trace &trace, FollowerHost &host, const Clock &clock);

  // The system's state at start (rtnetlink dumps): learnt, no decision is acted on.
  void seed(const std::vector<NetworkEvent> &events);
  // An event from `source` ("rtnetlink", "script"): the trigger decides, the decision is logged
  // and carried out. Without an open connection the event is only learnt.
  void on_event(const NetworkEvent &event, std::string_view source);
  // sendmsg() on the connection's socket failed with `error`: a WriteError event when
  // send_error_from() counts it (once per distinct errno until the path changes).
  void on_write_error(int error);
  // A sample of ngtcp2's path health (the client samples every 100 ms while bytes are in flight).
  void on_path_sample(const PathSample &sample);
  // --network-change: the user moves the connection to `local` (port 0: any port).
  void request(const Endpoint &local);
  // The connection now uses another path (a validated migration, a new connection).
  void on_path_changed();
  // The trigger's timer (migrate back to the default network).
  std::optional<ngtcp2_tstamp> next_deadline() const noexcept { return trigger_.next_deadline(); }
  void on_timer();
  // Body bytes arrived in a datagram received on the socket bound to `rx_local`: the first
  // after a moving decision, on the new local address, ends its event-to-first-byte figure.
  void on_body_bytes(const Endpoint &rx_local);

  // The summary's "network": {"decisions": [...], "event_to_first_byte_ms": N | null}.
  common::Json json() const;
  const MigrationTrigger &trigger() const noexcept { return trigger_; }

 private:
  ConnectionView view();
  void act(const std::optional<TriggerDecision> &decision, const std::string &event);

  Trace &trace_;
  FollowerHost &host_;
  const Clock &clock_;
  MigrationTrigger trigger_;
  ngtcp2_tstamp start_ = 0;
  common::Json decisions_ = common::Json::array();
  std::vector<int> write_errors_seen_;  // since the last path change
  struct Pending {                      // a moving decision waiting for its first byte
    ngtcp2_tstamp at;
    Endpoint old_local;
    TriggerTarget target;
  };
  std::optional<Pending> pending_;
  std::optional<double> event_to_first_byte_ms_;
};

}  // namespace qamp::client
