// examples/server/steering.h — the user-space half of qamp-server --workers: loads
// steering.bpf.c (a BPF_PROG_TYPE_SK_REUSEPORT program, compiled by clang's BPF target and
// embedded by bpftool's skeleton at build time) into one SO_REUSEPORT group, fills its socket
// map, attaches it, and reads its counters.
//
// Contract: one ReuseportSteering per group (per server address). The program stays attached to
// the group for as long as a socket of the group lives, whatever happens to this object; this
// object is only needed for the counters. The kernel refusing any step is an error naming the
// step: qamp-server never falls back to the kernel's hash alone, which would send a migrated
// client to a worker that does not know it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct qamp_steering;  // bpftool's skeleton (steering.skel.h)

namespace qamp::server {

// What the program did with a datagram; the indexes of its `steering` counter array.
enum class SteeringCounter : std::uint8_t {
  by_cid,       // short header, our config rotation and a worker's server ID: that worker
  long_header,  // Initial, 0-RTT, Handshake: the kernel's 4-tuple hash
  not_ours,     // short header with another config rotation or server ID: the hash
  worker_gone,  // the named worker's socket is closed: the hash
  too_short,    // fewer than 3 octets of UDP payload: the hash
};
inline constexpr std::size_t kSteeringCounterCount = 5;
std::string_view to_string(SteeringCounter counter) noexcept;  // "by-cid", "long-header", ...

struct SteeringConfig {
  std::uint8_t first_server_id = 0;  // worker k's QUIC-LB server ID is first_server_id + k
  unsigned workers = 1;              // 1..kMaxWorkers
  unsigned config_rotation = 0;      // the QUIC-LB configuration's, 0..6
};
inline constexpr unsigned kMaxWorkers = 64;  // the socket map's size (QAMP_MAX_WORKERS)

class ReuseportSteering {
 public:
  // fds[k]: worker k's socket, bound with SO_REUSEPORT (all of one group, fds.size() ==
  // config.workers). Loads the program with `config`, puts each socket in its slot and attaches
  // the program to the group. nullopt with *error naming the refused step and errno.
  static std::optional<ReuseportSteering> attach(std::span<const int> fds, const SteeringConfig &config,
                                                 std::string *error);
  ReuseportSteering(ReuseportSteering &&) noexcept;
  ReuseportSteering &operator=(ReuseportSteering &&) noexcept;
  ~ReuseportSteering();

  // Datagrams per SteeringCounter since attach (all zero when the map cannot be read).
  std::array<std::uint64_t, kSteeringCounterCount> counters() const;
  // "812 by-cid, 9 long-header, 0 not-ours, 0 worker-gone, 0 too-short".
  std::string describe_counters() const;

 private:
  struct Destroy {
    void operator()(qamp_steering *skel) const noexcept;
  };
  explicit ReuseportSteering(std::unique_ptr<qamp_steering, Destroy> skel) noexcept;
  std::unique_ptr<qamp_steering, Destroy> skel_;
};

}  // namespace qamp::server
