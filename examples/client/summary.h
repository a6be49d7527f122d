// examples/client/summary.h — the run's connection-level record and the --summary JSON file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "json.h"
#include "net.h"
#include "qamp/tls.h"

namespace qamp::client {

struct MigrationCounts {
  int attempted = 0;  // ngtcp2_conn_initiate_(immediate_)migration returned 0
  int refused = 0;    // the migrator said no
  int succeeded = 0;  // path validation succeeded
  int failed = 0;     // path validation failed, or ngtcp2 refused to start it
};

// Connection-level facts, filled in as the run goes.
struct RunRecord {
  ex::Endpoint handshake_server;   // HOST:PORT
  std::optional<ex::Endpoint> final_server;
  std::optional<ex::Endpoint> final_local;
  bool moved_to_preferred_address = false;
  std::optional<ex::Endpoint> preferred_address;  // the one chosen
  MigrationCounts migrations;  // client-initiated (network change) only
  Json migrator;               // qamp::MigratorStats summed over the run (includes the SPA move)
  Json planner;  // null, or {decision, reason, figures}
  int reconnects = 0;
  std::optional<double> completion_time_s;  // all bodies complete
  double run_time_s = 0;
  Json policy;  // what the server's transport parameters said
  std::vector<std::string> connection_errors;
};

// What the client learnt from the server's transport parameters, for logs and the summary.
Json policy_json(const ClientTpState &state);

std::string family_name(int family);

// Writes the summary; false on an I/O error.
bool write_summary(const std::string &path, const RunRecord &run, const std::vector<Json> &downloads, bool complete,
                   int exit_code);

}  // namespace qamp::client
