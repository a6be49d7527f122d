// examples/client/client.h — the download run: resolves the server, opens sockets, drives one
// QUIC connection at a time (a reconnect replaces it) with its HTTP/3 session, feeds responses to
// the downloads, fires --network-change, and at the end verifies every body and writes the
// summary. Path decisions are the MigrationAdapter's.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <ev.h>

#include "credit_pacer.h"
#include "download.h"
#include "h3_session.h"
#include "migration.h"
#include "netlink.h"
#include "network_follower.h"
#include "options.h"
#include "quic_connection.h"
#include "sockets.h"
#include "split.h"
#include "summary.h"
#include "trace.h"

namespace qamp::client {

// The migration adapter's clock and timers on libev: ngtcp2's clock (common::now_ns) and one
// one-shot Timer per AdapterTimer, which calls `fire(id)`.
class EvMigrationTimers final : public Clock, public Scheduler {
 public:
  EvMigrationTimers(struct ev_loop *loop, std::function<void(AdapterTimer)> fire);
  ngtcp2_tstamp now() const override { return common::now_ns(); }
  void arm(AdapterTimer id, ngtcp2_tstamp at) override;
  void cancel(AdapterTimer id) override;

 private:
  std::array<std::unique_ptr<Timer>, kAdapterTimers> timers_;
};

class Client final : public ConnectionObserver, public MigrationHost, public FollowerHost, public SplitHost {
 public:
  Client(struct ev_loop *loop, const Options &options);
  ~Client() override;

  // Resolves, prepares the downloads and sends the first flight. false: could not start (the
  // reason is printed).
  bool start();
  // Verifies the bodies, writes the summary; returns the exit code (0 all complete, 1 otherwise).
  int finish();
  // SIGINT: close the connection and stop.
  void interrupt();

  // ConnectionObserver
  void on_handshake_completed() override;
  void on_handshake_confirmed() override { migration_.handshake_confirmed(); }
  int on_select_preferred_addr(ngtcp2_path *dest, const ngtcp2_preferred_addr &paddr) override;
  void on_path_validation(std::uint32_t flags, const ngtcp2_path &path, const ngtcp2_path *old_path,
                          bool success) override;
  bool admit_datagram(const UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data) override;
  void on_closed(const CloseInfo &info) override;

  // MigrationHost
  bool connection_open() override { return quic_ && !quic_->closed(); }
  Endpoint local() override { return quic_->local(); }
  Endpoint remote() override { return quic_->remote(); }
  const ClientTpState *tp_state() override { return quic_ ? quic_->tp_state() : nullptr; }
  int initiate_migration(const Endpoint &local, const Endpoint &remote, bool immediate, ngtcp2_tstamp ts) override;
  std::vector<ResetToken> peer_reset_tokens() override;
  std::string native_migration_level() override;
  void write() override { quic_->write(); }
  std::optional<Endpoint> open_socket(const Endpoint &local, std::string *error) override;
  bool has_socket(const Endpoint &local) override { return sockets_.find(local) != nullptr; }
  void close_socket(const Endpoint &local) override;
  std::optional<Endpoint> route_source(const Endpoint &remote, std::string *error) override {
    return client::route_source(remote, error);
  }
  void reconnect(std::optional<Endpoint> from, bool resume) override;
  PlannerInput transfer() override;
  bool start_split(const Endpoint &new_local, const PlannerInput &in) override;

  // SplitHost
  std::unique_ptr<QuicConnection> connect_new(UdpSocket *socket, ConnectionObserver &observer,
                                              std::string *error) override;
  H3Session *old_session() override { return quic_ && !quic_->closed() && h3_ ? h3_.get() : nullptr; }
  void drop_old() override;
  void split_done() override { split_timer_.arm(0); }
  std::unique_ptr<Download> new_copy(std::string *error) override;
  double now() override { return static_cast<double>(common::now_ns()) / 1e9; }

  // FollowerHost (connection_open, local: above)
  Level level() override;
  bool idle() override { return all_closed(); }
  unsigned ifindex_of(const Endpoint &ip) override;
  void change_network(const Endpoint &local, MigrationCause cause) override;

 private:
  bool connect(UdpSocket *socket, bool resume);
  QuicConfig quic_config(UdpSocket *socket);
  void finish_split();
  void record_history();
  void on_datagram(UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data);
  void on_batch_end();
  void on_progress();
  void check_done();
  // The scripted changes (--network-event AT=EVENT, then --network-change): one schedule.
  void build_schedule();
  void arm_schedule_after_handshake();
  void check_schedule_share();
  void fire_scheduled(std::size_t i, bool write);
  // --follow-network: the rtnetlink socket, its state at start, its events; ngtcp2's samples.
  bool start_following(std::string *error);
  static void on_netlink(struct ev_loop *loop, ev_io *w, int revents);
  void sample_path();
  void arm_trigger_timer();
  void do_reconnect();
  void retire_connection();
  void pace_credit(std::size_t n);
  void release_credit();
  void stop();
  bool all_closed() const;
  bool all_complete_so_far() const;

  struct ev_loop *loop_;
  const Options &opt_;
  Trace trace_;
  Sockets sockets_;
  RunRecord run_;
  EvMigrationTimers migration_timers_;
  MigrationAdapter migration_;
  NetworkFollower follower_;
  std::optional<NetlinkSocket> netlink_;
  ev_io netlink_watcher_{};
  Timer sample_timer_;
  Timer trigger_timer_;
  Timer write_error_timer_;  // hands send errors to the follower outside the write path
  std::vector<int> write_errors_;
  // ifindex_of's last answer: the follower asks on every sample and timer; getifaddrs walks every
  // address of the host. Forgotten on any network event (rtnetlink or scripted) and after 1 s
  // (with --follow-network=off no event says an address moved).
  struct IfindexCache {
    Endpoint ip;
    unsigned ifindex = 0;
    ngtcp2_tstamp at = 0;
  };
  std::optional<IfindexCache> ifindex_cache_;
  // One scheduled change: AT is a time after the handshake ("2s") or a share of the bodies
  // ("40%"); its timer also takes a share's firing out of the HTTP/3 callback.
  struct ScheduledChange {
    std::optional<ngtcp2_duration> after;
    std::optional<double> share;
    std::string what;                // "network event (scripted): TEXT", for the log
    // --network-change (not --network-event): waits for an open connection, and "0s" fires at
    // the handshake itself, not via a timer.
    bool connection_change = false;
    std::function<void()> act;
    std::unique_ptr<Timer> timer;
    bool fired = false;
  };
  std::vector<ScheduledChange> schedule_;
  Endpoint last_rx_local_;        // the socket of the last datagram read
  ngtcp2_tstamp last_rx_ts_ = 0;  // and when
  Endpoint server_;
  std::string authority_;
  std::vector<std::unique_ptr<Download>> downloads_;

  std::unique_ptr<QuicConnection> quic_;
  std::unique_ptr<H3Session> h3_;
  // Connections replaced by a reconnect, freed on the next loop iteration (never from inside
  // their own callbacks). The H3 session (second) goes first.
  std::vector<std::pair<std::unique_ptr<QuicConnection>, std::unique_ptr<H3Session>>> retired_;
  Timer reaper_;
  Timer done_timer_;                  // stream closes are handled out of the HTTP/3 callbacks
  Timer reconnect_timer_;             // so is a reconnect
  // --split: the second connection and its planner; the body offsets of the last ~1.5 s (what
  // the split planner knows of the old network when it starts); replaced downloads, kept until
  // the end (the old connection's HTTP/3 session may still name them).
  std::unique_ptr<SplitDriver> split_;
  Timer split_timer_;
  std::deque<std::pair<double, std::uint64_t>> history_;
  std::vector<std::unique_ptr<Download>> replaced_;
  std::optional<CreditPacer> pacer_;  // --limit-rate
  Timer pace_timer_;
  std::optional<Endpoint> reconnect_from_;
  bool reconnect_resume_ = false;
  bool reconnecting_ = false;
  bool handshake_seen_ = false;
  bool h3_failed_ = false;
  bool stopping_ = false;
  ngtcp2_tstamp start_ts_ = 0;
  ngtcp2_tstamp conn_rate_start_ts_ = 0;     // first body byte on the current connection
  std::uint64_t conn_rate_start_bytes_ = 0;  // bytes held at that moment
};

}  // namespace qamp::client
