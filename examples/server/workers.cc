#include "workers.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "steering.h"

namespace qamp::server {

using namespace qamp::common;  // the programs' shared code (examples/common)

namespace {

void say(const std::string &line) { std::cerr << "qamp-server: " << line << std::endl; }

// One server address's SO_REUSEPORT group: a socket per worker, and the program steering it.
struct Group {
  ServerAddress role;
  Endpoint local;        // as bound (port 0: the port the kernel chose)
  std::vector<int> fds;  // fds[k]: worker k's; the supervisor closes its copies after forking
  std::optional<ReuseportSteering> steering;
};

void close_all(std::vector<Group> &groups) {
  for (auto &g : groups)
    for (int &fd : g.fds)
      if (fd >= 0) close(std::exchange(fd, -1));
}

bool bind_group(Group &g, Endpoint local, unsigned workers, std::string *error) {
  for (unsigned k = 0; k < workers; ++k) {
    int fd = bind_udp(local, error, true);
    if (fd < 0) return false;
    g.fds.push_back(fd);
    // Port 0: the first socket's port is the group's.
    if (k == 0 && local.port() == 0) local.set_port(local_endpoint(fd).port());
  }
  g.local = local;
  return true;
}

struct Worker {
  pid_t pid = -1;
  bool exited = false;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

int run_workers(const ServerOptions &options, ServeFn serve) {
  const unsigned n = options.workers;
  std::string error;
  std::vector<Group> groups;
  std::vector<std::pair<ServerAddress, Endpoint>> addresses = {{ServerAddress::handshake, options.handshake}};
  if (options.preferred_v4) addresses.emplace_back(ServerAddress::spa_v4, *options.preferred_v4);
  if (options.preferred_v6) addresses.emplace_back(ServerAddress::spa_v6, *options.preferred_v6);
  const SteeringConfig config{options.instance_id.value_or(0), n, options.quic_lb_config_rotation};
  for (auto &[role, local] : addresses) {
    Group &g = groups.emplace_back(Group{role, local, {}, std::nullopt});
    if (!bind_group(g, local, n, &error) || !(g.steering = ReuseportSteering::attach(g.fds, config, &error))) {
      say(error);
      close_all(groups);
      return 1;
    }
  }
  say(std::to_string(n) + " workers, QUIC-LB server IDs " + std::to_string(config.first_server_id) + ".." +
      std::to_string(config.first_server_id + n - 1) + ", steered by the kernel (SK_REUSEPORT) on " +
      std::to_string(groups.size()) + " address(es)");
  WorkerSetup shared;
  if (options.static_secret_file.empty()) {
    shared.static_secret.resize(32);
    random_bytes(shared.static_secret);
  }

  // The workers' signals arrive here first (blocked, then taken by sigtimedwait): none is lost
  // between a fork and the loop below.
  sigset_t handled, previous;
  sigemptyset(&handled);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGCHLD}) sigaddset(&handled, s);
  sigprocmask(SIG_BLOCK, &handled, &previous);

  std::vector<Worker> workers(n);
  bool stopping = false, failed = false;
  auto stop_all = [&](int sig) {
    for (auto &w : workers)
      if (w.pid > 0 && !w.exited) kill(w.pid, sig);
  };
  for (unsigned k = 0; k < n; ++k) {
    std::cout.flush();
    std::cerr.flush();
    pid_t pid = fork();
    if (pid < 0) {
      say(std::string("fork: ") + std::strerror(errno) + "; stopping the workers started so far");
      failed = stopping = true;
      stop_all(SIGTERM);
      break;
    }
    if (pid == 0) {
      sigprocmask(SIG_SETMASK, &previous, nullptr);
      WorkerSetup setup = shared;
      setup.index = k;
      for (auto &g : groups) {
        setup.fds[g.role] = std::exchange(g.fds[k], -1);
        for (int &fd : g.fds)
          if (fd >= 0) close(std::exchange(fd, -1));
      }
      int rc = serve(worker_options(options, k), std::move(setup));
      std::cout.flush();
      std::cerr.flush();
      _exit(rc);  // the supervisor's objects (the steering skeletons) are not this process's
    }
    workers[k].pid = pid;
  }
  // The workers hold the sockets now: a worker that dies takes its sockets out of the group
  // (the program then hashes what named it) instead of leaving them to fill up unread.
  close_all(groups);

  timespec tick{1, 0};
  int kill_in = -1;  // seconds until SIGKILL once stopping
  for (;;) {
    bool all_exited = true;
    for (auto &w : workers) all_exited &= w.pid <= 0 || w.exited;
    if (all_exited) break;
    siginfo_t info;
    int sig = sigtimedwait(&handled, &info, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      if (!stopping) say("stopping " + std::to_string(n) + " workers");
      stopping = true;
      kill_in = 10;
      stop_all(SIGTERM);
    } else if (sig == SIGUSR1) {
      stop_all(SIGUSR1);
    } else if (sig < 0 && stopping && kill_in >= 0 && --kill_in == 0) {
      say("workers still running 10 s after SIGTERM: SIGKILL");
      failed = true;
      stop_all(SIGKILL);
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (unsigned k = 0; k < n; ++k) {
        if (workers[k].pid != pid) continue;
        workers[k].exited = true;
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!stopping) {
          say("worker " + std::to_string(k) + " (pid " + std::to_string(pid) + ") stopped on its own (" +
              describe_status(status) + "): stopping the others");
          failed = stopping = true;
          kill_in = 10;
          stop_all(SIGTERM);
        } else if (!clean) {
          say("worker " + std::to_string(k) + " (pid " + std::to_string(pid) + ") ended with " +
              describe_status(status));
          failed = true;
        }
      }
    }
  }
  for (std::size_t i = 0; i < groups.size(); ++i)
    say("steering on " + groups[i].local.to_string() + " (" + std::string(to_string(groups[i].role)) +
        "): " + groups[i].steering->describe_counters());
  return failed ? 1 : 0;
}

}  // namespace qamp::server
