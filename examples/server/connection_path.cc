// examples/server/connection_path.cc — the connection's paths: the server's gate in front of
// ngtcp2_conn_read_pkt (DESIGN.md §4), the accounting of path changes ngtcp2 actually took, the
// gate's log lines and qlog events within their budgets, native enforcement's cross-check, path
// validation (client migration, the move to a preferred address) and the migration-policy
// negotiation log.
#include <algorithm>
#include <cstring>
#include <string_view>

#include "connection.h"
#include "server.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

std::string path_str(const ngtcp2_path &p) {
  return Endpoint::of(p.remote).to_string() + " -> " + Endpoint::of(p.local).to_string();
}

}  // namespace

bool Connection::pass_gate(const Socket &s, const Endpoint &remote, ngtcp2_tstamp now) {
  const ngtcp2_path *cur = ngtcp2_conn_get_path(conn_.get());
  auto cur_role = server_.role_of(cur->local).value_or(ServerAddress::handshake);
  PathView current{cur_role, cur->remote.addr};
  PathView incoming{s.role, remote.sa()};
  pending_change_.reset();
  // Counted by the server's gate; its observer calls on_gate_event before admit_path returns.
  auto d = server_.admit_path(*this, current, incoming);
  if (pending_change_ && remember_path(*pending_change_) && log_budget_.try_take(now) && qlog_.is_open()) {
    // Evidence for traces (tests/lab/analyze.py): the first datagram the gate let through on a
    // new path, written before ngtcp2 reads it, so the next packet_received record is that
    // datagram. Not a change of path (ngtcp2 may discard it, or answer a probe without moving);
    // once per path among the last kRecentPaths, within the connection's log budget.
    qlog_event("qamp:path_datagram", Json::object()
                                         .set("from", pending_change_->current_remote.to_string())
                                         .set("to", pending_change_->incoming_remote.to_string())
                                         .set("server_address", to_string(pending_change_->incoming_role)));
  }
  return d.accepted();
}

void Connection::settle_path_change(const Socket &s, const Endpoint &remote, bool forbidden) {
  if (forbidden) check_native_drop(s, remote);
  if (!pending_change_) return;
  // Count a change of path only when ngtcp2 took it: its current path is now the datagram's.
  // A datagram that did not decrypt, or a probe ngtcp2 answered without moving, is not one.
  const ngtcp2_path *after = ngtcp2_conn_get_path(conn_.get());
  bool taken = Endpoint::of(after->local) == s.local && Endpoint::of(after->remote) == remote;
  if (taken) {
    ++server_.stats().path_changes[static_cast<std::size_t>(pending_change_->decision.reason)];
    log_gate(*pending_change_);
  } else {
    ++server_.stats().path_changes_not_taken;
  }
  pending_change_.reset();
}

void Connection::on_gate_event(const GateEvent &ev) {
  if (ev.decision.verdict != GateVerdict::drop) {
    // An accepted change is counted and logged only if ngtcp2 takes the path (settle_path_change): a
    // datagram from a spoofed address with a live DCID passes the gate on an `any` address and
    // is then discarded by ngtcp2 (it does not decrypt).
    pending_change_ = ev;
    return;
  }
  // The gate counted it (every forbidden datagram); each new path is logged once while it is
  // among the last kRecentPaths (a probe is many datagrams), within the log budgets. Nothing is
  // formatted before these checks: a flood of forbidden datagrams costs no allocation here.
  if (!remember_path(ev)) return;
  log_gate(ev);
}

bool Connection::remember_path(const GateEvent &ev) {
  // The key is built on the stack: a flood of datagrams on new paths allocates nothing here.
  PathKey key{};
  key[0] = ev.decision.verdict == GateVerdict::drop;
  key[1] = static_cast<std::uint8_t>(ev.incoming_role);
  const auto *sa = ev.incoming_remote.sa();
  std::memcpy(key.data() + 2, sa, std::min<std::size_t>(ev.incoming_remote.size(), key.size() - 2));
  auto end = recent_paths_.begin() + static_cast<std::ptrdiff_t>(recent_used_);
  if (std::find(recent_paths_.begin(), end, key) != end) return false;
  recent_paths_[recent_next_] = key;
  recent_next_ = (recent_next_ + 1) % kRecentPaths;
  recent_used_ = std::min(recent_used_ + 1, kRecentPaths);
  return true;
}

bool Connection::log_gate(const GateEvent &ev) {
  auto now = server_.io().now();
  // Both budgets must have a token; the connection's is asked first so one noisy connection
  // spends its own budget before the server's.
  if (!log_budget_.try_take(now) || !server_.gate_log_budget().try_take(now)) {
    ++log_suppressed_;
    ++server_.stats().gate_log_lines_suppressed;
    return false;
  }
  std::string more;
  if (log_suppressed_)
    more = " (" + std::to_string(log_suppressed_) + " more gate log lines suppressed before this one)";
  log_suppressed_ = 0;
  server_.log("[" + id_ + "] " + describe(ev) + more);
  if (!qlog_.is_open()) return true;
  auto change = ev.decision.change ? to_string(*ev.decision.change) : std::string_view("none");
  bool drop = ev.decision.verdict == GateVerdict::drop;
  qlog_event(drop ? "qamp:gate_drop" : "qamp:gate_accept", Json::object()
                                                               .set("reason", to_string(ev.decision.reason))
                                                               .set("change", change)
                                                               .set("from", ev.current_remote.to_string())
                                                               .set("to", ev.incoming_remote.to_string())
                                                               .set("server_address", to_string(ev.incoming_role))
                                                               .set("level", to_string(ev.level)));
  return true;
}

bool Connection::native() const noexcept { return server_.options().enforcement == Enforcement::native; }

void Connection::check_native_drop(const Socket &s, const Endpoint &remote) {
  // The gate classified the datagram as forbidden and ngtcp2 had the last word. ngtcp2 must have
  // dropped it: had it taken the path, its current path is now the datagram's. Say so loudly.
  const ngtcp2_path *now_path = ngtcp2_conn_get_path(conn_.get());
  auto local = Endpoint::of(now_path->local);
  auto peer = Endpoint::of(now_path->remote);
  if (!(local == s.local && peer == remote)) return;
  ++server_.stats().native_disagreements;
  server_.log("[" + id_ + "] NATIVE ENFORCEMENT DISAGREES: ngtcp2 took the path " + remote.to_string() + " -> " +
              s.local.to_string() + " which the policy forbids");
}

int Connection::on_path_validation(uint32_t flags, const ngtcp2_path *path, const ngtcp2_path *old_path,
                                   ngtcp2_path_validation_result res) {
  bool ok = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS;
  auto role = server_.role_of(path->local);
  auto old_role = old_path ? server_.role_of(old_path->local) : std::nullopt;
  (void)old_role;
  (void)flags;
  // The first validated path on a preferred address is the move (RFC 9000 §9.6); any other
  // validated path is a client migration (or NAT rebinding).
  bool move = ok && role && *role != ServerAddress::handshake && !moved_to_spa_;
  if (move) {
    moved_to_spa_ = true;
    ++server_.stats().moves_to_preferred_address;
  } else if (ok) {
    ++server_.stats().migrations;
  }
  auto what = move ? "move to preferred address" : "path validation";
  server_.log("[" + id_ + "] " + what + " " + (ok ? "succeeded" : "failed") + ": " + path_str(*path) +
              (old_path ? " (was " + path_str(*old_path) + ")" : ""));
  qlog_event("qamp:path_validated",
             Json::object().set("success", ok).set("move_to_spa", move).set("path", path_str(*path)));
  return 0;
}

void Connection::on_policy_negotiated(const ServerTpState &st) {
  auto &enc = *st.encoding;
  ++server_.stats().spellings[enc.spelling];
  auto spelling = std::string(to_string(enc.spelling));
  std::string adj;
  for (auto &a : enc.adjustments)
    adj += std::string(", ") + std::string(to_string(a.address)) + " " + std::string(to_string(a.wanted)) +
           " sent as " + std::string(to_string(a.expressed)) + " (" + a.reason + ")";
  server_.log("[" + id_ + "] transport parameters: client announced 0x" + std::to_string(st.client_support) +
              ", sent spelling " + spelling + " (" + std::to_string(enc.wire.size()) + " bytes)" + adj);
  qlog_event("qamp:policy_negotiated", Json::object()
                                           .set("client_support", st.client_support)
                                           .set("spelling", spelling)
                                           .set("handshake", to_string(enc.expressed.handshake))
                                           .set("spa_v4", to_string(enc.expressed.spa_v4))
                                           .set("spa_v6", to_string(enc.expressed.spa_v6))
                                           .set("adjustments", enc.adjustments.size()));
}

void Connection::log_native_policy() {
#ifdef NGTCP2_TRANSPORT_PARAMS_V2
  // What the client announced decides what ngtcp2 sent (patches/README.md, "Wire format").
  const auto *rp = ngtcp2_conn_get_remote_transport_params(conn_.get());
  bool ext = rp && rp->migration_policy_support && !server_.options().spellings.empty();
  ++server_.stats().spellings[ext ? std::optional<Spelling>(Spelling::ext) : std::nullopt];
  const auto &p = server_.options().policy;
  server_.log(
      "[" + id_ + "] transport parameters (native enforcement): client announced 0x" +
      std::to_string(rp ? rp->migration_policy_support : 0) + ", ngtcp2 sent spelling " +
      (ext ? std::string("ext (handshake ") + std::string(to_string(p.handshake)) + ", spa-v4 " +
                 std::string(to_string(p.spa_v4)) + ", spa-v6 " + std::string(to_string(p.spa_v6)) + ")"
           : std::string("rfc9000 (plain RFC 9000 parameters)")) +
      "; level in force now: " + std::string(to_string(from_ngtcp2(ngtcp2_conn_get_migration_level(conn_.get())))));
  qlog_event("qamp:policy_negotiated",
             Json::object().set("enforcement", "native").set("spelling", ext ? "ext" : "rfc9000"));
#endif
}

}  // namespace qamp::server
