#include "qamp/endpoint.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>

namespace qamp {

namespace {

// An IP address in the form equality works on: IPv4-mapped IPv6 folded into IPv4.
struct IpKey {
  int family = AF_UNSPEC;
  std::array<std::uint8_t, 16> bytes{};
  std::uint32_t scope = 0;
  friend bool operator==(const IpKey &, const IpKey &) = default;
};

IpKey ip_key(const sockaddr_storage &ss) noexcept {
  IpKey k;
  if (ss.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss, sizeof sin);
    k.family = AF_INET;
    std::memcpy(k.bytes.data(), &sin.sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss, sizeof sin6);
    const auto *b = sin6.sin6_addr.s6_addr;
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, sizeof kMapped) == 0) {
      k.family = AF_INET;
      std::memcpy(k.bytes.data(), b + 12, 4);
    } else {
      k.family = AF_INET6;
      std::memcpy(k.bytes.data(), b, 16);
      k.scope = sin6.sin6_scope_id;
    }
  }
  return k;
}

std::optional<std::uint16_t> parse_port(std::string_view text) noexcept {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

enum class Compare { unknown, same, same_ip, other_ip };

// Compares two remotes of one family in place (the per-datagram common case, no copies);
// `unknown` sends mixed families (e.g. IPv4-mapped IPv6) to the Endpoint comparison.
Compare compare_raw(const sockaddr *a, const sockaddr *b) noexcept {
  if (!a || !b || a->sa_family != b->sa_family) return Compare::unknown;
  if (a->sa_family == AF_INET) {
    auto *x = reinterpret_cast<const sockaddr_in *>(a);
    auto *y = reinterpret_cast<const sockaddr_in *>(b);
    if (x->sin_addr.s_addr != y->sin_addr.s_addr) return Compare::other_ip;
    return x->sin_port == y->sin_port ? Compare::same : Compare::same_ip;
  }
  if (a->sa_family == AF_INET6) {
    auto *x = reinterpret_cast<const sockaddr_in6 *>(a);
    auto *y = reinterpret_cast<const sockaddr_in6 *>(b);
    if (IN6_IS_ADDR_V4MAPPED(&x->sin6_addr) || IN6_IS_ADDR_V4MAPPED(&y->sin6_addr)) return Compare::unknown;
    if (std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) != 0 || x->sin6_scope_id != y->sin6_scope_id)
      return Compare::other_ip;
    return x->sin6_port == y->sin6_port ? Compare::same : Compare::same_ip;
  }
  return Compare::unknown;
}

}  // namespace

Endpoint::Endpoint() noexcept : ss_{} { ss_.ss_family = AF_UNSPEC; }

std::optional<Endpoint> Endpoint::from(const sockaddr *sa) noexcept {
  if (sa == nullptr) return std::nullopt;
  Endpoint ep;
  switch (sa->sa_family) {
    case AF_INET: std::memcpy(&ep.ss_, sa, sizeof(sockaddr_in)); return ep;
    case AF_INET6: std::memcpy(&ep.ss_, sa, sizeof(sockaddr_in6)); return ep;
    default: return std::nullopt;
  }
}

Endpoint Endpoint::of(const ngtcp2_addr &a) noexcept {
  if (a.addr == nullptr) return {};
  const auto ep = from(a.addr);
  if (!ep || a.addrlen < ep->size()) return {};
  return *ep;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) noexcept {
  Endpoint ep;
  char host[INET6_ADDRSTRLEN];
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string_view::npos || close - 1 >= sizeof host) return std::nullopt;
    auto port = parse_port(text.substr(close + 2));
    if (!port) return std::nullopt;
    std::memcpy(host, text.data() + 1, close - 1);
    host[close - 1] = '\0';
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(*port);
    if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1) return std::nullopt;
    std::memcpy(&ep.ss_, &sin6, sizeof sin6);
    return ep;
  }
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon >= sizeof host) return std::nullopt;
  auto port = parse_port(text.substr(colon + 1));
  if (!port) return std::nullopt;
  std::memcpy(host, text.data(), colon);
  host[colon] = '\0';
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(*port);
  if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) return std::nullopt;
  std::memcpy(&ep.ss_, &sin, sizeof sin);
  return ep;
}

int Endpoint::family() const noexcept { return ss_.ss_family; }

std::uint16_t Endpoint::port() const noexcept {
  if (ss_.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss_, sizeof sin);
    return ntohs(sin.sin_port);
  }
  if (ss_.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss_, sizeof sin6);
    return ntohs(sin6.sin6_port);
  }
  return 0;
}

const sockaddr *Endpoint::sa() const noexcept { return reinterpret_cast<const sockaddr *>(&ss_); }

socklen_t Endpoint::size() const noexcept {
  switch (ss_.ss_family) {
    case AF_INET: return sizeof(sockaddr_in);
    case AF_INET6: return sizeof(sockaddr_in6);
    default: return 0;
  }
}

bool Endpoint::same_ip(const Endpoint &other) const noexcept { return ip_key(ss_) == ip_key(other.ss_); }

bool operator==(const Endpoint &a, const Endpoint &b) noexcept { return a.same_ip(b) && a.port() == b.port(); }

std::string Endpoint::to_string() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss_.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss_, sizeof sin);
    inet_ntop(AF_INET, &sin.sin_addr, host, sizeof host);
    return std::string(host) + ':' + std::to_string(port());
  }
  if (ss_.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss_, sizeof sin6);
    inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof host);
    return '[' + std::string(host) + "]:" + std::to_string(port());
  }
  return "-";
}

void Endpoint::set_port(std::uint16_t port) noexcept {
  if (ss_.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss_, sizeof sin);
    sin.sin_port = htons(port);
    std::memcpy(&ss_, &sin, sizeof sin);
  } else if (ss_.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss_, sizeof sin6);
    sin6.sin6_port = htons(port);
    std::memcpy(&ss_, &sin6, sizeof sin6);
  }
}

ngtcp2_addr Endpoint::addr() const noexcept { return ngtcp2_addr{const_cast<sockaddr *>(sa()), size()}; }

std::string_view to_string(AddressChange change) noexcept {
  switch (change) {
    case AddressChange::same: return "same";
    case AddressChange::port_only: return "port-only";
    case AddressChange::ip: return "ip";
    case AddressChange::unsupported: return "unsupported";
  }
  return "?";
}

AddressChange classify_change(const Endpoint &from, const Endpoint &to) noexcept {
  if (from.size() == 0 || to.size() == 0) return AddressChange::unsupported;
  if (from == to) return AddressChange::same;
  return from.same_ip(to) ? AddressChange::port_only : AddressChange::ip;
}

AddressChange classify_change(const sockaddr *from, const sockaddr *to) noexcept {
  switch (compare_raw(from, to)) {
    case Compare::same: return AddressChange::same;
    case Compare::same_ip: return AddressChange::port_only;
    case Compare::other_ip: return AddressChange::ip;
    case Compare::unknown: break;
  }
  const auto a = Endpoint::from(from);
  const auto b = Endpoint::from(to);
  if (!a || !b) return AddressChange::unsupported;
  return classify_change(*a, *b);
}

}  // namespace qamp
