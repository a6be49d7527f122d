#include "summary.h"

#include <cstdio>

namespace qamp::client {

std::string family_name(int family) {
  switch (family) {
    case AF_INET: return "ipv4";
    case AF_INET6: return "ipv6";
    default: return "unknown";
  }
}

common::Json policy_json(const ClientTpState &state) {
  common::Json j = common::Json::object();
  common::Json announced = common::Json::array();
  for (auto s : spellings_in(state.announced)) announced.push(to_string(s));
  j.set("announced", std::move(announced));
  if (state.error) j.set("error", state.error->message());
  if (!state.server) return j;
  const auto &d = *state.server;
  j.set("spelling", to_string(d.spelling));
  j.set("echoed", d.echoed);
  common::Json levels = common::Json::object();
  levels.set("handshake", to_string(d.policy.handshake))
      .set("spa_v4", to_string(d.policy.spa_v4))
      .set("spa_v6", to_string(d.policy.spa_v6));
  j.set("levels", std::move(levels));
  j.set("disable_active_migration", d.disable_active_migration);
  if (d.preferred_address) {
    common::Json pa = common::Json::object();
    pa.set("ipv4",
           d.preferred_address->ipv4_present() ? common::Json(d.preferred_address->ipv4_string()) : common::Json());
    pa.set("ipv6",
           d.preferred_address->ipv6_present() ? common::Json(d.preferred_address->ipv6_string()) : common::Json());
    j.set("preferred_address", std::move(pa));
  } else {
    j.set("preferred_address", common::Json());
  }
  return j;
}

common::Json close_json(const CloseInfo &info) {
  common::Json j = common::Json::object();
  std::string by = info.stateless_reset ? "stateless-reset"
                   : info.idle_timeout  ? "idle-timeout"
                   : info.close_error   ? (info.close_error->by_peer ? "server" : "client")
                                        : "client";
  j.set("by", by).set("error", info.error).set("text", info.reason);
  if (const auto &e = info.close_error) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(e->code));
    auto name = error_name(*e);
    j.set("kind", e->application ? "application" : "transport")
        .set("error_code", e->code)
        .set("error_code_hex", std::string(hex))
        .set("error_name", name.empty() ? common::Json() : common::Json(name))
        .set("reason_phrase", e->reason);
  }
  return j;
}

bool write_summary(const std::string &path, const RunRecord &run, const std::vector<common::Json> &downloads,
                   bool complete, int exit_code) {
  common::Json conn = common::Json::object();
  conn.set("handshake_server_address", run.handshake_server.to_string());
  conn.set("server_address", run.final_server ? common::Json(run.final_server->to_string()) : common::Json());
  conn.set("server_family", run.final_server ? common::Json(family_name(run.final_server->family())) : common::Json());
  conn.set("local_address", run.final_local ? common::Json(run.final_local->to_string()) : common::Json());
  conn.set("moved_to_preferred_address", run.moved_to_preferred_address);
  conn.set("preferred_address_chosen",
           run.preferred_address ? common::Json(run.preferred_address->to_string()) : common::Json());
  common::Json m = common::Json::object();
  m.set("attempted", run.migrations.attempted)
      .set("refused", run.migrations.refused)
      .set("succeeded", run.migrations.succeeded)
      .set("failed", run.migrations.failed);
  conn.set("migrations", std::move(m));
  conn.set("migrator", run.migrator);
  conn.set("planner", run.planner);
  conn.set("split", run.split);
  conn.set("reconnects", run.reconnects);
  conn.set("completion_time_s", run.completion_time_s);
  conn.set("run_time_s", run.run_time_s);
  conn.set("policy", run.policy);
  common::Json errors = common::Json::array();
  for (const auto &e : run.connection_errors) errors.push(e);
  conn.set("errors", std::move(errors));
  conn.set("close", run.close);

  common::Json uris = common::Json::array();
  for (const auto &d : downloads) uris.push(d);
  common::Json root = common::Json::object();
  root.set("complete", complete)
      .set("exit_code", exit_code)
      .set("uris", std::move(uris))
      .set("connection", std::move(conn))
      .set("network", run.network);

  std::FILE *f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  auto text = root.dump(2) + "\n";
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace qamp::client
