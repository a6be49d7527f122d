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

#include "qamp/endpoint.h"

namespace qamp::common {

// Addresses are qamp::Endpoint (qamp/endpoint.h): one type and one equality for the library
// and the programs. "A.B.C.D:PORT" / "[X::Y]:PORT" text is Endpoint::parse.

// Numeric host and port, as on the command line of gtlsserver/gtlsclient.
std::optional<Endpoint> parse_host_port(std::string_view host, std::string_view port);

// A non-blocking UDP socket bound to `local` (port 0 picks one). Returns the fd or -1 with errno.
// reuse_port: SO_REUSEPORT before bind, to join the group of sockets bound to `local` by the
// same user (qamp-server --workers).
int bind_udp(const Endpoint &local, std::string *error, bool reuse_port = false);
Endpoint local_endpoint(int fd);  // empty when getsockname fails
// recvfrom into `buf`; `from` is the sender (empty when it is not IPv4/IPv6). Returns recvfrom's.
ssize_t recv_from(int fd, std::span<std::uint8_t> buf, Endpoint &from) noexcept;

ngtcp2_tstamp now_ns() noexcept;
void random_bytes(std::span<std::uint8_t> out) noexcept;

}  // namespace qamp::common
