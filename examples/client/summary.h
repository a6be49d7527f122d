// examples/client/summary.h — the run's connection-level record and the --summary JSON file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "json.h"
#include "net.h"
#include "qamp/tls.h"
#include "quic_connection.h"

namespace qamp::client {

struct MigrationCounts {
  int attempted = 0;  // ngtcp2_conn_initiate_(immediate_)migration returned 0
  int refused = 0;    // the migrator said no
  int succeeded = 0;  // path validation succeeded
  int failed = 0;     // path validation failed, or ngtcp2 refused to start it
};

// Connection-level facts, filled in as the run goes.
struct RunRecord {
  Endpoint handshake_server;  // HOST:PORT
  std::optional<Endpoint> final_server;
  std::optional<Endpoint> final_local;
  bool moved_to_preferred_address = false;
  std::optional<Endpoint> preferred_address;  // the one chosen
  MigrationCounts migrations;                 // client-initiated (network change) only
  common::Json migrator;                      // qamp::MigratorStats summed over the run (includes the SPA move)
  common::Json planner;                       // null, or {decision, reason, figures}
  common::Json split;                         // null, or SplitDriver::json()
  int reconnects = 0;
  std::optional<double> completion_time_s;  // all bodies complete
  double run_time_s = 0;
  common::Json policy;  // what the server's transport parameters said
  std::vector<std::string> connection_errors;
  // How the last connection ended: null while open, else {by, kind, error_code, error_code_hex,
  // error_name, reason_phrase, text} (see close_json).
  common::Json close;
  // The network follower's decisions and event-to-first-byte figure (NetworkFollower::json).
  common::Json network;
};

// The summary's record of a connection's end: by "server" / "client" / "idle-timeout" /
// "stateless-reset"; for a CONNECTION_CLOSE its kind ("transport" 0x1c / "application" 0x1d),
// code as a number and in hex, RFC 9000 §20.1 name, reason phrase.
common::Json close_json(const CloseInfo &info);

// What the client learnt from the server's transport parameters, for logs and the summary.
common::Json policy_json(const ClientTpState &state);

std::string family_name(int family);

// Writes the summary; false on an I/O error.
bool write_summary(const std::string &path, const RunRecord &run, const std::vector<common::Json> &downloads,
                   bool complete, int exit_code);

}  // namespace qamp::client
