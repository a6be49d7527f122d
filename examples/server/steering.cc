#include "steering.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steering.skel.h"

namespace qamp::server {

namespace {

std::string failed(std::string_view step, int err) {
  return "--workers: the kernel refused the SK_REUSEPORT steering program (" + std::string(step) + ": " +
         std::strerror(err) +
         "); it needs root (CAP_BPF and CAP_NET_ADMIN) and a kernel with BPF_PROG_TYPE_SK_REUSEPORT. "
         "qamp-server does not fall back to the kernel's hash alone: a migrated client would reach a worker "
         "that does not know its connection";
}

}  // namespace

std::string_view to_string(SteeringCounter counter) noexcept {
  switch (counter) {
    case SteeringCounter::by_cid: return "by-cid";
    case SteeringCounter::long_header: return "long-header";
    case SteeringCounter::not_ours: return "not-ours";
    case SteeringCounter::worker_gone: return "worker-gone";
    case SteeringCounter::too_short: return "too-short";
  }
  return "?";
}

void ReuseportSteering::Destroy::operator()(qamp_steering *skel) const noexcept { qamp_steering__destroy(skel); }

ReuseportSteering::ReuseportSteering(std::unique_ptr<qamp_steering, Destroy> skel) noexcept : skel_(std::move(skel)) {}
ReuseportSteering::ReuseportSteering(ReuseportSteering &&) noexcept = default;
ReuseportSteering &ReuseportSteering::operator=(ReuseportSteering &&) noexcept = default;
ReuseportSteering::~ReuseportSteering() = default;

std::optional<ReuseportSteering> ReuseportSteering::attach(std::span<const int> fds, const SteeringConfig &config,
                                                           std::string *error) {
  if (fds.empty() || fds.size() != config.workers || config.workers > kMaxWorkers) {
    *error = "--workers: " + std::to_string(fds.size()) + " sockets for " + std::to_string(config.workers) +
             " workers (at most " + std::to_string(kMaxWorkers) + ")";
    return std::nullopt;
  }
  std::unique_ptr<qamp_steering, Destroy> skel(qamp_steering__open());
  if (!skel) {
    *error = failed("open", errno);
    return std::nullopt;
  }
  skel->rodata->first_server_id = config.first_server_id;
  skel->rodata->worker_count = config.workers;
  skel->rodata->config_rotation = config.config_rotation;
  if (int rc = qamp_steering__load(skel.get()); rc != 0) {
    *error = failed("load", -rc);
    return std::nullopt;
  }
  const int map = bpf_map__fd(skel->maps.workers);
  for (std::uint32_t k = 0; k < fds.size(); ++k) {
    std::uint64_t fd = static_cast<std::uint64_t>(fds[k]);
    if (bpf_map_update_elem(map, &k, &fd, BPF_ANY) != 0) {
      *error = failed("socket map, worker " + std::to_string(k), errno);
      return std::nullopt;
    }
  }
  // Attaching to one socket attaches to its whole SO_REUSEPORT group.
  int prog = bpf_program__fd(skel->progs.qamp_steer);
  if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog, sizeof prog) != 0) {
    *error = failed("SO_ATTACH_REUSEPORT_EBPF", errno);
    return std::nullopt;
  }
  return ReuseportSteering(std::move(skel));
}

std::array<std::uint64_t, kSteeringCounterCount> ReuseportSteering::counters() const {
  std::array<std::uint64_t, kSteeringCounterCount> out{};
  const int map = bpf_map__fd(skel_->maps.steering);
  for (std::uint32_t k = 0; k < out.size(); ++k) {
    std::uint64_t v = 0;
    if (bpf_map_lookup_elem(map, &k, &v) == 0) out[k] = v;
  }
  return out;
}

std::string ReuseportSteering::describe_counters() const {
  auto c = counters();
  std::string out;
  for (std::size_t k = 0; k < c.size(); ++k) {
    if (k) out += ", ";
    out += std::to_string(c[k]) + " " + std::string(to_string(static_cast<SteeringCounter>(k)));
  }
  return out;
}

}  // namespace qamp::server
