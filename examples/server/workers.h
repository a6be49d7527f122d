// examples/server/workers.h — qamp-server --workers N: N worker processes on the same
// addresses, each a QUIC-LB server ID, with the kernel steering each datagram to the worker its
// connection ID names (steering.h).
//
// Processes, not threads: a worker is exactly the single-process server (one libev loop, one
// gate, one reset guard, no lock anywhere on the datagram path), a crash takes down one worker's
// connections and not the others' state, and this is what nginx does with quic_bpf. The
// supervisor binds every worker's sockets (SO_REUSEPORT, one group per server address), loads
// and attaches the steering program to each group, draws the static secret when none is given
// (Retry and reset tokens must verify on every worker), then forks. Before forking it creates no
// thread and no libev loop. It forwards SIGINT, SIGTERM and SIGUSR1 to the workers; a worker that
// exits on its own stops the rest (exit status 1: an operator's supervisor restarts the whole
// server; a lone restarted worker could not rejoin the steering map). On exit it logs each
// group's steering counters.
#pragma once

#include "options.h"
#include "server.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

// Runs one worker: what main() does for a single server, with the worker's options (its
// server ID, its stats file) and sockets. Returns the process exit status.
using ServeFn = int (*)(const ServerOptions &options, WorkerSetup setup);

// options.workers > 1. Returns the exit status of the supervisor: 0 when it was asked to stop and
// every worker exited 0; 1 when setup failed (message on stderr) or a worker failed.
int run_workers(const ServerOptions &options, ServeFn serve);

}  // namespace qamp::server
