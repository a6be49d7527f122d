// qamp-server — HTTP/3 server with a per-address connection-migration policy.
#include <csignal>
#include <iostream>
#include <optional>
#include <utility>

#include <ev.h>

#include "docroot.h"
#include "ev_io.h"
#include "options.h"
#include "server.h"
#include "workers.h"

namespace {

void on_signal(struct ev_loop *, ev_signal *w, int) {
  auto *server = static_cast<qamp::server::Server *>(w->data);
  if (w->signum == SIGUSR1) {
    server->write_stats();
    return;
  }
  server->shutdown();
}

// One server (or one worker of --workers): the event loop until SIGINT / SIGTERM.
int serve(const qamp::server::ServerOptions &options, qamp::server::WorkerSetup setup) {
  std::string error;
  std::optional<qamp::ClusterConfig> cluster;
  if (!qamp::server::load_cluster_config(options, &cluster, &error)) {
    std::cerr << "qamp-server: " << error << std::endl;
    return 1;
  }
  auto *loop = EV_DEFAULT;
  qamp::server::EvServerIo io(loop, std::move(setup.fds));
  qamp::server::Server server(options, std::move(cluster), io, std::move(setup));
  if (!server.start(&error)) {
    std::cerr << "qamp-server: " << error << std::endl;
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  ev_signal sigs[3];
  int nums[3] = {SIGINT, SIGTERM, SIGUSR1};
  for (int i = 0; i < 3; ++i) {
    ev_signal_init(&sigs[i], on_signal, nums[i]);
    sigs[i].data = &server;
    ev_signal_start(loop, &sigs[i]);
  }
  ev_run(loop, 0);
  server.write_stats();
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  auto parsed = qamp::server::parse_server_options(argc, argv);
  if (auto *exit = std::get_if<qamp::server::Exit>(&parsed)) {
    if (exit->status == 0)
      std::cout << qamp::server::server_usage();
    else
      std::cerr << "qamp-server: " << exit->message << "\n\n" << qamp::server::server_usage();
    return exit->status;
  }
  const auto &options = std::get<qamp::server::ServerOptions>(parsed);
  std::string error;
  if (!qamp::server::open_document_root(options.htdocs, &error)) {
    std::cerr << "qamp-server: " << error << std::endl;
    return 1;
  }
  if (options.workers > 1) return qamp::server::run_workers(options, serve);
  return serve(options, {});
}
