#include "qamp/gate.h"

#include <arpa/inet.h>

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

GateDecision make(GateReason reason, std::optional<Change> change) noexcept {
  return {verdict_of(reason), reason, change};
}

}  // namespace

// ---- Endpoint ----

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

bool Endpoint::same_ip(const Endpoint &other) const noexcept {
  return ip_key(ss_) == ip_key(other.ss_);
}

bool operator==(const Endpoint &a, const Endpoint &b) noexcept {
  return a.same_ip(b) && a.port() == b.port();
}

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

// ---- enums ----

std::string_view to_string(GateVerdict verdict) noexcept {
  switch (verdict) {
    case GateVerdict::accept: return "accept";
    case GateVerdict::drop: return "drop";
  }
  return "?";
}

std::string_view to_string(GateReason reason) noexcept {
  switch (reason) {
    case GateReason::same_path: return "same-path";
    case GateReason::port_only_rebinding: return "port-only-rebinding";
    case GateReason::ip_change_allowed: return "ip-change-allowed";
    case GateReason::ip_change_forbidden_none: return "ip-change-forbidden-none";
    case GateReason::ip_change_forbidden_same_ip: return "ip-change-forbidden-same-ip";
    case GateReason::move_to_spa: return "move-to-spa";
    case GateReason::second_server_address: return "second-server-address";
    case GateReason::enforcement_off: return "enforcement-off";
    case GateReason::unsupported_address: return "unsupported-address";
  }
  return "?";
}

GateVerdict verdict_of(GateReason reason) noexcept {
  switch (reason) {
    case GateReason::same_path:
    case GateReason::port_only_rebinding:
    case GateReason::ip_change_allowed:
    case GateReason::move_to_spa:
    case GateReason::enforcement_off: return GateVerdict::accept;
    case GateReason::ip_change_forbidden_none:
    case GateReason::ip_change_forbidden_same_ip:
    case GateReason::second_server_address:
    case GateReason::unsupported_address: return GateVerdict::drop;
  }
  return GateVerdict::drop;
}

// ---- the rules ----

namespace {

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
    if (IN6_IS_ADDR_V4MAPPED(&x->sin6_addr)) return Compare::unknown;
    if (std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) != 0 ||
        x->sin6_scope_id != y->sin6_scope_id)
      return Compare::other_ip;
    return x->sin6_port == y->sin6_port ? Compare::same : Compare::same_ip;
  }
  return Compare::unknown;
}

}  // namespace

GateDecision gate_decide(const Policy &policy, bool enforce, const PathView &current,
                         const PathView &incoming) noexcept {
  auto cmp = compare_raw(current.remote, incoming.remote);
  if (cmp == Compare::unknown) {
    const auto cur = Endpoint::from(current.remote);
    const auto in = Endpoint::from(incoming.remote);
    if (!cur || !in) return make(GateReason::unsupported_address, std::nullopt);
    cmp = *cur == *in ? Compare::same : cur->same_ip(*in) ? Compare::same_ip : Compare::other_ip;
  }

  if (current.local_role == incoming.local_role) {
    if (cmp == Compare::same) return make(GateReason::same_path, std::nullopt);
    const Change change = cmp == Compare::same_ip ? Change::port_only : Change::ip_change;
    if (!enforce) return make(GateReason::enforcement_off, change);
    // The level of the address the client is talking to decides (DESIGN.md §2); port-only is
    // accepted everywhere because it looks exactly like NAT rebinding (RFC 9000 §9.3).
    const Decision d = server_accepts(policy.at(incoming.local_role), change);
    if (d.allowed)
      return make(change == Change::port_only ? GateReason::port_only_rebinding
                                              : GateReason::ip_change_allowed,
                  change);
    return make(d.rule == Rule::same_ip_forbids_ip ? GateReason::ip_change_forbidden_same_ip
                                                   : GateReason::ip_change_forbidden_none,
                change);
  }

  // A change of server address. RFC 9000 §9.6: the only one a client makes is the move from the
  // handshake address to a preferred address, once; §9.6.3 lets it use any client address for it.
  if (!enforce) return make(GateReason::enforcement_off, Change::move_to_spa);
  if (current.local_role == ServerAddress::handshake &&
      server_accepts(policy.at(incoming.local_role), Change::move_to_spa).allowed)
    return make(GateReason::move_to_spa, Change::move_to_spa);
  return make(GateReason::second_server_address, Change::move_to_spa);
}

// ---- Gate ----

std::string describe(const GateEvent &e) {
  std::string out = "gate ";
  out += to_string(e.decision.verdict);
  out += ' ';
  out += to_string(e.decision.reason);
  out += ": ";
  out += to_string(e.current_role);
  out += ' ';
  out += e.current_remote.to_string();
  out += " -> ";
  out += to_string(e.incoming_role);
  out += ' ';
  out += e.incoming_remote.to_string();
  out += " (";
  if (e.decision.change) {
    out += to_string(*e.decision.change);
    out += ", ";
  }
  out += "level ";
  out += to_string(e.level);
  out += ')';
  return out;
}

Gate::Gate(GateConfig config) : config_(config) {}

GateDecision Gate::admit(const PathView &current, const PathView &incoming) {
  return admit(current, incoming, config_.policy);
}

GateDecision Gate::admit(const PathView &current, const PathView &incoming,
                         const Policy &policy) {
  const GateDecision d = gate_decide(policy, config_.enforce, current, incoming);
  ++counters_.by_reason[static_cast<std::size_t>(d.reason)];
  ++(d.accepted() ? counters_.accepted : counters_.dropped);
  if (observer_ && (!d.accepted() || d.reason != GateReason::same_path)) {
    observer_(GateEvent{d, current.local_role, Endpoint::from(current.remote).value_or(Endpoint{}),
                        incoming.local_role, Endpoint::from(incoming.remote).value_or(Endpoint{}),
                        policy.at(incoming.local_role)});
  }
  return d;
}

}  // namespace qamp
