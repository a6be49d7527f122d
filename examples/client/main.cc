// qamp-client — an HTTP/3 download client that follows a server's per-address migration policy.
// `qamp-client [OPTIONS] <HOST> <PORT> [<URI>...]`; see options.h for the flags, client.h for
// the run, migration.h for every path decision.
#include <cstdio>

#include <ev.h>

#include "client.h"
#include "options.h"

namespace {

void on_sigint(struct ev_loop *, ev_signal *w, int) { static_cast<qamp::client::Client *>(w->data)->interrupt(); }

}  // namespace

int main(int argc, char **argv) {
  auto parsed = qamp::client::parse_options(argc, argv);
  if (auto *exit = std::get_if<qamp::common::Exit>(&parsed)) {
    if (exit->status == 0) {
      qamp::client::print_usage(stdout);
    } else {
      std::fprintf(stderr, "qamp-client: %s\n\n", exit->message.c_str());
      qamp::client::print_usage(stderr);
    }
    return exit->status;
  }
  auto &options = std::get<qamp::client::Options>(parsed);

  struct ev_loop *loop = EV_DEFAULT;
  qamp::client::Client client(loop, options);

  ev_signal sigint;
  ev_signal_init(&sigint, on_sigint, SIGINT);
  sigint.data = &client;
  ev_signal_start(loop, &sigint);

  if (client.start()) ev_run(loop, 0);
  ev_signal_stop(loop, &sigint);
  return client.finish();
}
