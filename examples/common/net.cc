#include "net.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

namespace qamp::common {

std::optional<Endpoint> parse_host_port(std::string_view host, std::string_view port) {
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  // An IPv6 host is bracketed in Endpoint's text form; a bracket in `host` itself stays invalid.
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string text;
  text.reserve(host.size() + port.size() + 3);
  text.append(v6 ? "[" : "").append(host).append(v6 ? "]:" : ":").append(port);
  return Endpoint::parse(text);
}

int bind_udp(const Endpoint &local, std::string *error, bool reuse_port) {
  int fd = socket(local.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int on = 1;
  // Only for a fixed port (quick restarts); with port 0 it could hand out a port in use.
  if (local.port() != 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    if (error) *error = std::string("SO_REUSEPORT: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  // Room for a burst (a GSO batch is up to 64 packets): a full buffer is packet loss. The
  // FORCE variants pass net.core.{r,w}mem_max when we may; the plain ones are the fallback.
  int bufsize = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof bufsize) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof bufsize) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
  if (local.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  // Don't fragment (RFC 9000 §14): let the kernel refuse oversized datagrams instead.
  int pmtu = IP_PMTUDISC_DO;
  if (local.family() == AF_INET) setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  if (bind(fd, local.sa(), local.size()) != 0) {
    if (error) *error = "bind " + local.to_string() + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

Endpoint local_endpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) != 0) return {};
  return Endpoint::from(reinterpret_cast<const sockaddr *>(&ss)).value_or(Endpoint{});
}

ssize_t recv_from(int fd, std::span<std::uint8_t> buf, Endpoint &from) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  auto n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr *>(&ss), &len);
  from = n < 0 ? Endpoint{} : Endpoint::from(reinterpret_cast<const sockaddr *>(&ss)).value_or(Endpoint{});
  return n;
}

ngtcp2_tstamp now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<ngtcp2_tstamp>(ts.tv_sec) * NGTCP2_SECONDS + static_cast<ngtcp2_tstamp>(ts.tv_nsec);
}

void random_bytes(std::span<std::uint8_t> out) noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    auto n = getrandom(out.data() + done, out.size() - done, 0);
    if (n <= 0) continue;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace qamp::common
