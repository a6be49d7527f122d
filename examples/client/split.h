// examples/client/split.h — the I/O side of qamp::SplitPlanner (issue 13; DESIGN.md "Split
// planner"): after a network change the policy forbids, use both networks at once. The planner
// decides everything; this adapter only feeds it what the two connections measure (body offsets
// at a time, RTTs, handshake done or failed, response status and validator) and carries out its
// actions:
//   open_new        a second QuicConnection + H3Session from the new local address
//   request         a GET on either connection: Range a-(b-1) / a- with If-Range, or the whole body
//   stop_old_at     the forward stream's bytes beyond the mark are not kept; at the mark it is
//                   cancelled (STOP_SENDING + RESET_STREAM, H3_REQUEST_CANCELLED)
//   cancel_request  the same for a range request
//   drop_new / drop_old  close that connection
//   start_over / complete / fail
// Range bytes (206) go into the one Download at their offsets (Download::write_piece); a whole
// body (200: a race, a server that ignored Range, a new version) goes into its own Download, a
// separate temporary file, and replaces the first only if the planner keeps it. Nothing is
// stitched across representations: a 206 counts only with the first response's validator.
// Actions run from a timer, never inside ngtcp2's or nghttp3's callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ev.h>

#include "download.h"
#include "h3_session.h"
#include "json.h"
#include "qamp/split_planner.h"
#include "quic_connection.h"
#include "sockets.h"
#include "trace.h"

namespace qamp::client {

// What the driver needs from the client that owns the old connection.
class SplitHost {
 public:
  virtual ~SplitHost() = default;
  // A second connection from `socket` (nullptr with *error).
  virtual std::unique_ptr<QuicConnection> connect_new(UdpSocket *socket, ConnectionObserver &observer,
                                                      std::string *error) = 0;
  // The old connection's HTTP/3 session, nullptr once that connection is gone.
  virtual H3Session *old_session() = 0;
  // Close the old connection (called from the driver's timer, never from a callback).
  virtual void drop_old() = 0;
  // The split is over (complete or failed): finish the run.
  virtual void split_done() = 0;
  // Another copy of the download's target (its own temporary file), nullptr with *error.
  virtual std::unique_ptr<Download> new_copy(std::string *error) = 0;
  virtual double now() = 0;  // seconds, monotonic
};

class SplitDriver final : public ConnectionObserver {
 public:
  SplitDriver(struct ev_loop *loop, Trace &trace, SplitHost &host, Download &main, UdpSocket *new_socket,
              std::string authority, std::string validator);
  ~SplitDriver() override;
  SplitDriver(const SplitDriver &) = delete;
  SplitDriver &operator=(const SplitDriver &) = delete;

  // `history`: the old forward stream's (time, body offset) samples before the change.
  void start(const SplitStart &start, const std::vector<std::pair<double, std::uint64_t>> &history);

  bool owns(const UdpSocket &socket) const noexcept { return new_quic_ && &socket == new_socket_; }
  void read(UdpSocket &socket, const Endpoint &from, std::span<const std::uint8_t> data);
  void write();                  // the new connection's pending packets
  void poke();                   // something changed: tick soon (out of the callbacks)
  void on_old_closed();          // the old connection is gone (closed, idle, reset)
  void on_old_stream_closed();   // the forward stream ended (FIN or not)
  bool over() const noexcept { return over_; }
  bool completed() const noexcept { return completed_; }
  // complete: the file's Download is a whole-body copy from the new connection (a race won, a
  // new version); nullptr: the first Download, prefix plus pieces.
  std::unique_ptr<Download> take_winner();
  SplitMode mode() const noexcept { return planner_.mode(); }
  // The end of the body as the planner holds it (the last source range), for a body whose
  // length no response announced.
  std::optional<std::uint64_t> body_end() const;
  common::Json json() const;

  // ConnectionObserver (the new connection)
  void on_handshake_completed() override;
  void on_handshake_confirmed() override {}
  int on_select_preferred_addr(ngtcp2_path *, const ngtcp2_preferred_addr &) override { return 0; }
  void on_path_validation(std::uint32_t, const ngtcp2_path &, const ngtcp2_path *, bool) override {}
  bool admit_datagram(const UdpSocket &, const Endpoint &, std::span<const std::uint8_t>) override { return true; }
  void on_closed(const CloseInfo &info) override;

 private:
  struct Fetch;
  void tick();
  void carry_out(const SplitAction &a);
  void send_request(const SplitAction &a);
  void report(Fetch &f);
  Fetch *find(std::uint32_t id);
  const Fetch *find(std::uint32_t id) const;
  void close_new(const char *why);

  Trace &trace_;
  SplitHost &host_;
  Download &main_;
  UdpSocket *new_socket_;
  std::string authority_;
  std::string validator_;
  SplitPlanner planner_;
  Timer tick_timer_;
  Timer reaper_;
  std::unique_ptr<QuicConnection> new_quic_;
  std::unique_ptr<H3Session> new_h3_;
  std::vector<std::pair<std::unique_ptr<QuicConnection>, std::unique_ptr<H3Session>>> retired_;
  std::vector<std::unique_ptr<Fetch>> fetches_;
  std::uint32_t winner_request_ = 0;  // complete from new: the whole-body copy kept
  std::uint32_t start_over_request_ = 0;
  bool new_dropped_ = false;  // by us: its close is no failure
  bool old_gone_ = false;
  bool old_stream_cut_ = false;
  bool over_ = false;
  bool completed_ = false;
  double started_at_ = 0;
  std::uint64_t old_at_change_ = 0;
  std::uint64_t old_reported_ = 0;
  bool old_fin_reported_ = false;
  std::optional<double> new_handshake_s_;
  std::vector<common::Json> log_;  // the planner's actions, in order (bounded)
  std::size_t logged_routine_ = 0, logged_other_ = 0;  // actions seen, logged or not
};

}  // namespace qamp::client
