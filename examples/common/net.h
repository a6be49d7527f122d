// examples/common/net.h — addresses, UDP sockets, clock and randomness for the example programs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include <ngtcp2/ngtcp2.h>

namespace qamp::ex {

// A socket address by value (IPv4 or IPv6).
struct Endpoint {
  sockaddr_storage ss{};
  socklen_t len = 0;

  int family() const noexcept { return ss.ss_family; }
  sockaddr *sa() noexcept { return reinterpret_cast<sockaddr *>(&ss); }
  const sockaddr *sa() const noexcept { return reinterpret_cast<const sockaddr *>(&ss); }
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;
  bool same_ip(const Endpoint &o) const noexcept;
  bool operator==(const Endpoint &o) const noexcept;
  std::string str() const;  // "1.2.3.4:443", "[::1]:443"
  ngtcp2_addr addr() noexcept { return ngtcp2_addr{sa(), len}; }
  static Endpoint from(const sockaddr *sa, socklen_t len);
};

// "A.B.C.D:PORT" or "[X::Y]:PORT"; nullopt when malformed.
std::optional<Endpoint> parse_endpoint(std::string_view text);
// Numeric host and port, as on the command line of gtlsserver/gtlsclient.
std::optional<Endpoint> parse_host_port(std::string_view host, std::string_view port);

// A non-blocking UDP socket bound to `local` (port 0 picks one). Returns the fd or -1 with errno.
int bind_udp(const Endpoint &local, std::string *error);
Endpoint local_endpoint(int fd);

ngtcp2_tstamp now_ns() noexcept;
void random_bytes(std::span<std::uint8_t> out) noexcept;

}  // namespace qamp::ex
