#include "netlink.h"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

namespace qamp::client {

namespace {

std::string where(const char *type, std::size_t offset) {
  return std::string(type) + " at offset " + std::to_string(offset);
}

// An address attribute of `family` (4 or 16 bytes) as an Endpoint with port 0.
std::optional<Endpoint> address_of(int family, const rtattr *rta) {
  const std::size_t len = RTA_PAYLOAD(rta);
  if (family == AF_INET && len == 4) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    std::memcpy(&sin.sin_addr, RTA_DATA(rta), 4);
    return Endpoint::from(reinterpret_cast<const sockaddr *>(&sin));
  }
  if (family == AF_INET6 && len == 16) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    std::memcpy(&sin6.sin6_addr, RTA_DATA(rta), 16);
    return Endpoint::from(reinterpret_cast<const sockaddr *>(&sin6));
  }
  return std::nullopt;
}

std::optional<std::uint32_t> u32_of(const rtattr *rta) {
  if (RTA_PAYLOAD(rta) != sizeof(std::uint32_t)) return std::nullopt;
  std::uint32_t v;
  std::memcpy(&v, RTA_DATA(rta), sizeof v);
  return v;
}

// Walks the attributes after the fixed struct T of `nlh` (already checked to fit), calling
// on_attr(rta) for each; on_attr returns false for an invalid attribute. False when an attribute
// is invalid or does not fit in the message.
template <class T, class F>
bool for_each_attr(const nlmsghdr *nlh, F &&on_attr) {
  int len = static_cast<int>(nlh->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(T)));
  if (len < 0) return false;
  const auto *rta =
      reinterpret_cast<const rtattr *>(static_cast<const char *>(NLMSG_DATA(nlh)) + NLMSG_ALIGN(sizeof(T)));
  for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
    if (!on_attr(rta)) return false;
  // What is left must be nothing, or the padding the last attribute did not need (RTA_NEXT
  // subtracts the aligned length, so a final unpadded attribute leaves len just below 0).
  return len <= 0;
}

enum class Verdict { event, ignored, malformed };

Verdict parse_addr(const nlmsghdr *nlh, NetlinkParse &out, std::string &why) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) {
    why = "ifaddrmsg needs " + std::to_string(sizeof(ifaddrmsg)) + " bytes, " +
          std::to_string(nlh->nlmsg_len - NLMSG_HDRLEN) + " present";
    return Verdict::malformed;
  }
  ifaddrmsg ifa;
  std::memcpy(&ifa, NLMSG_DATA(nlh), sizeof ifa);
  if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return Verdict::ignored;
  std::optional<Endpoint> local, address;
  std::uint32_t flags = ifa.ifa_flags;
  bool bad = false;
  const bool ok = for_each_attr<ifaddrmsg>(nlh, [&](const rtattr *rta) {
    switch (rta->rta_type) {
      case IFA_LOCAL:
        local = address_of(ifa.ifa_family, rta);
        bad = !local;
        break;
      case IFA_ADDRESS:
        address = address_of(ifa.ifa_family, rta);
        bad = !address;
        break;
      case IFA_FLAGS: {
        const auto f = u32_of(rta);
        bad = !f;
        if (f) flags = *f;
        break;
      }
      default: break;
    }
    return !bad;
  });
  if (!ok) {
    why = "bad ifaddrmsg attribute";
    return Verdict::malformed;
  }
  const auto &addr = local ? local : address;  // IFA_LOCAL is ours on a point-to-point link
  if (!addr) {
    why = "no IFA_LOCAL / IFA_ADDRESS";
    return Verdict::malformed;
  }
  if (ifa.ifa_scope >= RT_SCOPE_LINK) return Verdict::ignored;  // link, host, nowhere
  const bool added = nlh->nlmsg_type == RTM_NEWADDR;
  if (added && (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))) return Verdict::ignored;
  if (added) {
    out.events.push_back(AddressAdded{ifa.ifa_index, *addr});
  } else {
    out.events.push_back(AddressRemoved{ifa.ifa_index, *addr});
  }
  return Verdict::event;
}

Verdict parse_route(const nlmsghdr *nlh, NetlinkParse &out, std::string &why) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) {
    why = "rtmsg needs " + std::to_string(sizeof(rtmsg)) + " bytes, " + std::to_string(nlh->nlmsg_len - NLMSG_HDRLEN) +
          " present";
    return Verdict::malformed;
  }
  rtmsg rtm;
  std::memcpy(&rtm, NLMSG_DATA(nlh), sizeof rtm);
  if (rtm.rtm_family != AF_INET && rtm.rtm_family != AF_INET6) return Verdict::ignored;
  std::uint32_t table = rtm.rtm_table;
  std::uint32_t oif = 0;
  std::optional<Endpoint> gateway;
  bool bad = false;
  const bool ok = for_each_attr<rtmsg>(nlh, [&](const rtattr *rta) {
    switch (rta->rta_type) {
      case RTA_TABLE: {
        const auto t = u32_of(rta);
        bad = !t;
        if (t) table = *t;
        break;
      }
      case RTA_OIF: {
        const auto o = u32_of(rta);
        bad = !o;
        if (o) oif = *o;
        break;
      }
      case RTA_GATEWAY:
        gateway = address_of(rtm.rtm_family, rta);
        bad = !gateway;
        break;
      default: break;
    }
    return !bad;
  });
  if (!ok) {
    why = "bad rtmsg attribute";
    return Verdict::malformed;
  }
  if (rtm.rtm_dst_len != 0 || table != RT_TABLE_MAIN || rtm.rtm_type != RTN_UNICAST) return Verdict::ignored;
  out.events.push_back(
      DefaultRouteChanged{rtm.rtm_family, oif, gateway.value_or(Endpoint{}), nlh->nlmsg_type == RTM_DELROUTE});
  return Verdict::event;
}

Verdict parse_link(const nlmsghdr *nlh, NetlinkParse &out, std::string &why) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) {
    why = "ifinfomsg needs " + std::to_string(sizeof(ifinfomsg)) + " bytes, " +
          std::to_string(nlh->nlmsg_len - NLMSG_HDRLEN) + " present";
    return Verdict::malformed;
  }
  ifinfomsg ifi;
  std::memcpy(&ifi, NLMSG_DATA(nlh), sizeof ifi);
  std::optional<std::uint8_t> operstate;
  const bool ok = for_each_attr<ifinfomsg>(nlh, [&](const rtattr *rta) {
    if (rta->rta_type != IFLA_OPERSTATE) return true;
    if (RTA_PAYLOAD(rta) != 1) return false;
    operstate = *static_cast<const std::uint8_t *>(RTA_DATA(rta));
    return true;
  });
  if (!ok) {
    why = "bad ifinfomsg attribute";
    return Verdict::malformed;
  }
  if (ifi.ifi_index <= 0) {
    why = "ifinfomsg with ifindex " + std::to_string(ifi.ifi_index);
    return Verdict::malformed;
  }
  const auto ifindex = static_cast<unsigned>(ifi.ifi_index);
  const bool flags_up = (ifi.ifi_flags & IFF_UP) && (ifi.ifi_flags & IFF_RUNNING);
  const bool oper_up = !operstate || *operstate == IF_OPER_UP || *operstate == IF_OPER_UNKNOWN;
  if (nlh->nlmsg_type == RTM_NEWLINK && flags_up && oper_up) {
    out.events.push_back(LinkUp{ifindex});
  } else {
    out.events.push_back(LinkDown{ifindex});
  }
  return Verdict::event;
}

const char *type_name(std::uint16_t type) {
  switch (type) {
    case RTM_NEWADDR: return "RTM_NEWADDR";
    case RTM_DELADDR: return "RTM_DELADDR";
    case RTM_NEWROUTE: return "RTM_NEWROUTE";
    case RTM_DELROUTE: return "RTM_DELROUTE";
    case RTM_NEWLINK: return "RTM_NEWLINK";
    case RTM_DELLINK: return "RTM_DELLINK";
    case RTM_GETADDR: return "RTM_GETADDR";
    case RTM_GETROUTE: return "RTM_GETROUTE";
    case RTM_GETLINK: return "RTM_GETLINK";
    default: return "message";
  }
}

void parse_aligned(const nlmsghdr *first, int len, NetlinkParse &out) {
  const auto *base = reinterpret_cast<const char *>(first);
  const nlmsghdr *nlh = first;
  for (; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
    const std::size_t offset = static_cast<std::size_t>(reinterpret_cast<const char *>(nlh) - base);
    std::string why;
    Verdict v = Verdict::ignored;
    switch (nlh->nlmsg_type) {
      case RTM_NEWADDR:
      case RTM_DELADDR: v = parse_addr(nlh, out, why); break;
      case RTM_NEWROUTE:
      case RTM_DELROUTE: v = parse_route(nlh, out, why); break;
      case RTM_NEWLINK:
      case RTM_DELLINK: v = parse_link(nlh, out, why); break;
      case NLMSG_DONE: out.dump_done = true; break;
      case NLMSG_ERROR: {
        // The answer to a request: error 0 is an ACK, a negative errno a refusal.
        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
          v = Verdict::malformed;
          why = "nlmsgerr needs " + std::to_string(sizeof(nlmsgerr)) + " bytes";
          break;
        }
        nlmsgerr err;
        std::memcpy(&err, NLMSG_DATA(nlh), sizeof err);
        if (err.error < 0 && !out.error)
          out.error = std::string("netlink: request refused: ") + std::strerror(-err.error);
        break;
      }
      default: break;  // NLMSG_NOOP / OVERRUN, neighbours, rules, …
    }
    if (v == Verdict::ignored) ++out.ignored;
    if (v == Verdict::malformed) {
      ++out.malformed;
      if (!out.error) out.error = "netlink: malformed " + where(type_name(nlh->nlmsg_type), offset) + ": " + why;
    }
  }
  // NLMSG_NEXT subtracts the aligned length: a final record without its padding leaves len just
  // below 0, which is fine. Anything left over is a record cut short.
  if (len > 0 && !out.error) {
    const std::size_t offset = static_cast<std::size_t>(reinterpret_cast<const char *>(nlh) - base);
    out.error = "netlink: truncated at offset " + std::to_string(offset) + ": " + std::to_string(len) +
                " bytes are not a whole message";
  }
}

}  // namespace

NetlinkParse parse_netlink(std::span<const std::uint8_t> buffer) {
  NetlinkParse out;
  if (buffer.empty()) return out;
  if (buffer.size() > static_cast<std::size_t>(INT32_MAX)) {
    out.error = "netlink: buffer too large";
    return out;
  }
  const int len = static_cast<int>(buffer.size());
  if (reinterpret_cast<std::uintptr_t>(buffer.data()) % alignof(nlmsghdr) == 0) {
    parse_aligned(reinterpret_cast<const nlmsghdr *>(buffer.data()), len, out);
  } else {
    // The netlink macros cast to struct pointers: give them aligned storage.
    std::vector<std::uint32_t> aligned((buffer.size() + 3) / 4);
    std::memcpy(aligned.data(), buffer.data(), buffer.size());
    parse_aligned(reinterpret_cast<const nlmsghdr *>(aligned.data()), len, out);
  }
  return out;
}

unsigned netlink_groups() noexcept {
  return RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_LINK;
}

std::string_view to_string(DumpKind kind) noexcept {
  switch (kind) {
    case DumpKind::links: return "links";
    case DumpKind::addresses: return "addresses";
    case DumpKind::routes: return "routes";
  }
  return "?";
}

namespace {

std::uint16_t dump_type(DumpKind kind) noexcept {
  switch (kind) {
    case DumpKind::links: return RTM_GETLINK;
    case DumpKind::addresses: return RTM_GETADDR;
    case DumpKind::routes: return RTM_GETROUTE;
  }
  return RTM_GETLINK;
}

// The fixed struct after the header of each dump request, zeroed but for the family.
template <class T>
std::vector<std::uint8_t> request_of(std::uint16_t type, std::uint32_t seq, T body) {
  std::vector<std::uint8_t> out(NLMSG_SPACE(sizeof(T)), 0);
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_LENGTH(sizeof(T));
  h.nlmsg_type = type;
  h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h.nlmsg_seq = seq;
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + NLMSG_HDRLEN, &body, sizeof body);
  out.resize(h.nlmsg_len);
  return out;
}

}  // namespace

std::vector<std::uint8_t> dump_request(DumpKind kind, std::uint32_t seq) {
  switch (kind) {
    case DumpKind::links: {
      ifinfomsg m{};
      m.ifi_family = AF_UNSPEC;
      return request_of(dump_type(kind), seq, m);
    }
    case DumpKind::addresses: {
      ifaddrmsg m{};
      m.ifa_family = AF_UNSPEC;
      return request_of(dump_type(kind), seq, m);
    }
    case DumpKind::routes: {
      rtmsg m{};
      m.rtm_family = AF_UNSPEC;
      return request_of(dump_type(kind), seq, m);
    }
  }
  return {};
}

bool NetlinkSocket::request_dump(DumpKind kind, std::string *error) {
  const auto req = dump_request(kind, ++seq_);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = ::sendto(fd_, req.data(), req.size(), 0, reinterpret_cast<const sockaddr *>(&kernel), sizeof kernel);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(req.size())) {
    if (error) {
      *error = std::string("send(") + type_name(dump_type(kind)) +
               " dump): " + (n < 0 ? std::strerror(errno) : "short write");
    }
    return false;
  }
  return true;
}

std::optional<NetlinkSocket> NetlinkSocket::open(std::string *error) {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    if (error) *error = std::string("socket(AF_NETLINK, NETLINK_ROUTE): ") + std::strerror(errno);
    return std::nullopt;
  }
  NetlinkSocket sock(fd);  // owns fd from here on
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = netlink_groups();
  if (::bind(fd, reinterpret_cast<const sockaddr *>(&sa), sizeof sa) != 0) {
    if (error) {
      char groups[16];
      std::snprintf(groups, sizeof groups, "0x%x", netlink_groups());
      *error = std::string("bind(AF_NETLINK, groups ") + groups + "): " + std::strerror(errno);
    }
    return std::nullopt;
  }
  // A bigger receive queue makes ENOBUFS (lost events) rarer during bursts; best effort.
  const int rcvbuf = 1 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  return std::optional<NetlinkSocket>(std::move(sock));
}

NetlinkSocket::NetlinkSocket(int fd) : fd_(fd), buffer_(65536 / sizeof(std::uint32_t)) {}

NetlinkSocket::NetlinkSocket(NetlinkSocket &&other) noexcept
    : fd_(std::exchange(other.fd_, -1)), seq_(other.seq_), buffer_(std::move(other.buffer_)) {}

NetlinkSocket &NetlinkSocket::operator=(NetlinkSocket &&other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    seq_ = other.seq_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

NetlinkSocket::~NetlinkSocket() {
  if (fd_ >= 0) ::close(fd_);
}

NetlinkParse NetlinkSocket::read_events() {
  NetlinkParse all;
  const std::size_t cap = buffer_.size() * sizeof(std::uint32_t);
  for (;;) {
    sockaddr_nl from{};
    iovec iov{buffer_.data(), cap};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        all.lost_events = true;
        continue;
      }
      if (!all.error) all.error = std::string("recvmsg(NETLINK_ROUTE): ") + std::strerror(errno);
      break;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      if (!all.error) all.error = "recvmsg(NETLINK_ROUTE): datagram larger than " + std::to_string(cap) + " bytes";
      break;
    }
    if (from.nl_pid != 0) continue;  // not from the kernel
    NetlinkParse one =
        parse_netlink({reinterpret_cast<const std::uint8_t *>(buffer_.data()), static_cast<std::size_t>(n)});
    for (auto &e : one.events) all.events.push_back(std::move(e));
    all.ignored += one.ignored;
    all.malformed += one.malformed;
    all.dump_done = all.dump_done || one.dump_done;
    if (one.error && !all.error) all.error = std::move(one.error);
  }
  return all;
}

}  // namespace qamp::client
