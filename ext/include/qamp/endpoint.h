// qamp/endpoint.h — the one address type of qamp (the gate, the reset guard's observers, the
// client's migration decisions and every program use it), and the one rule that classifies a
// change of address: same path, port only, or another IP.
//
// Both sides must classify a change alike: a client that called a change "port only" where the
// server sees "another IP" would migrate into a silent drop. So equality is strict and
// normalised once, here: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
// reports) equals the plain IPv4 address, and IPv6 scope ids are part of the address.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <ngtcp2/ngtcp2.h>

namespace qamp {

// A client's UDP address (IPv4 or IPv6, with port), held by value so an event can outlive the
// datagram it describes. Equality compares IP and port (IPv6: also the scope id; the flow label
// is ignored), and an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports)
// equals the plain IPv4 address.
class Endpoint {
 public:
  Endpoint() noexcept;  // no address (AF_UNSPEC): equal only to another empty Endpoint

  // nullopt when `sa` is null or its family is neither AF_INET nor AF_INET6.
  static std::optional<Endpoint> from(const sockaddr *sa) noexcept;
  // The address of an ngtcp2 path end (ngtcp2 only holds IPv4 and IPv6 there, so this is total):
  // empty when `a.addr` is null, of another family, or `a.addrlen` is shorter than its family's
  // sockaddr.
  static Endpoint of(const ngtcp2_addr &a) noexcept;
  // "198.18.0.1:443" or "[2001:db8::1]:443" (numeric only, no scope). nullopt on anything else.
  static std::optional<Endpoint> parse(std::string_view text) noexcept;

  int family() const noexcept;          // AF_INET, AF_INET6 or AF_UNSPEC
  std::uint16_t port() const noexcept;  // host byte order
  const sockaddr *sa() const noexcept;
  socklen_t size() const noexcept;  // sizeof(sockaddr_in) / sizeof(sockaddr_in6) / 0

  // Same IP address, port ignored (IPv4-mapped IPv6 normalised, IPv6 scope id compared).
  bool same_ip(const Endpoint &other) const noexcept;
  friend bool operator==(const Endpoint &a, const Endpoint &b) noexcept;

  std::string to_string() const;  // "198.18.0.1:443", "[2001:db8::1]:443", "-" when empty

  // For the I/O code (sockets, ngtcp2 paths).
  void set_port(std::uint16_t port) noexcept;  // no effect on an empty Endpoint
  // A view for ngtcp2_path / ngtcp2_addr_copy (ngtcp2 copies it; it never writes through it).
  ngtcp2_addr addr() const noexcept;

 private:
  sockaddr_storage ss_;
};

// What changed between two client addresses (RFC 9000 §9: a port-only change cannot be told
// from NAT rebinding, §9.3).
enum class AddressChange : std::uint8_t {
  same,         // the same IP and port
  port_only,    // the same IP, another port
  ip,           // another IP (or another family)
  unsupported,  // either side is not AF_INET / AF_INET6
};
std::string_view to_string(AddressChange change) noexcept;  // "same", "port-only", "ip", "unsupported"

// The classification of a move from `from` to `to`. The sockaddr form is the per-datagram fast
// path (no copies when both are of one family and not IPv4-mapped); both forms give the same
// answer for the same addresses.
AddressChange classify_change(const sockaddr *from, const sockaddr *to) noexcept;
AddressChange classify_change(const Endpoint &from, const Endpoint &to) noexcept;

}  // namespace qamp
