#include "net.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

namespace qamp::ex {

std::uint16_t Endpoint::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in *>(&ss)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_port);
  return 0;
}

void Endpoint::set_port(std::uint16_t p) noexcept {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in *>(&ss)->sin_port = htons(p);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port = htons(p);
}

bool Endpoint::same_ip(const Endpoint &o) const noexcept {
  if (family() != o.family()) return false;
  if (family() == AF_INET)
    return reinterpret_cast<const sockaddr_in *>(&ss)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in *>(&o.ss)->sin_addr.s_addr;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6 *>(&o.ss)->sin6_addr, 16) == 0;
}

bool Endpoint::operator==(const Endpoint &o) const noexcept { return same_ip(o) && port() == o.port(); }

std::string Endpoint::str() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(&ss)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  return "?";
}

Endpoint Endpoint::from(const sockaddr *sa, socklen_t len) {
  Endpoint e;
  std::memcpy(&e.ss, sa, std::min<std::size_t>(len, sizeof e.ss));
  e.len = len;
  return e;
}

std::optional<Endpoint> parse_host_port(std::string_view host, std::string_view port) {
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char *end = nullptr;
  std::string p(port);
  long n = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end || n < 0 || n > 65535) return std::nullopt;
  Endpoint e;
  std::string h(host);
  auto *in4 = reinterpret_cast<sockaddr_in *>(&e.ss);
  auto *in6 = reinterpret_cast<sockaddr_in6 *>(&e.ss);
  if (inet_pton(AF_INET, h.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    e.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    e.len = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;
  }
  e.set_port(static_cast<std::uint16_t>(n));
  return e;
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = text.substr(0, colon);
  if (host.find(':') != std::string_view::npos && (host.empty() || host.front() != '['))
    return std::nullopt;  // IPv6 must be bracketed
  return parse_host_port(host, text.substr(colon + 1));
}

int bind_udp(const Endpoint &local, std::string *error) {
  int fd = socket(local.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int on = 1;
  // Only for a fixed port (quick restarts); with port 0 it could hand out a port in use.
  if (local.port() != 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
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
  if (bind(fd, local.sa(), local.len) != 0) {
    if (error) *error = "bind " + local.str() + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

Endpoint local_endpoint(int fd) {
  Endpoint e;
  e.len = sizeof e.ss;
  getsockname(fd, e.sa(), &e.len);
  return e;
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

}  // namespace qamp::ex
