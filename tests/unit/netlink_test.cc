// qamp-client's rtnetlink parser (examples/client/netlink.cc): messages crafted here with the
// kernel's own structs, one row per message kind; truncated, malformed and random buffers; and a
// real NETLINK_ROUTE socket in a fresh network namespace.
#include <catch2/catch_test_macros.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "netlink.h"

using namespace qamp;
using namespace qamp::client;

namespace {

using Bytes = std::vector<std::uint8_t>;

struct Attr {
  std::uint16_t type;
  Bytes data;
};

Bytes v4(const char *text) {
  Bytes b(4);
  REQUIRE(inet_pton(AF_INET, text, b.data()) == 1);
  return b;
}
Bytes v6(const char *text) {
  Bytes b(16);
  REQUIRE(inet_pton(AF_INET6, text, b.data()) == 1);
  return b;
}
Bytes u32(std::uint32_t v) {
  Bytes b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}
Bytes u8(std::uint8_t v) { return Bytes{v}; }

void pad_to(Bytes &b, std::size_t aligned) { b.resize(aligned, 0); }

// One nlmsghdr record: header, the fixed struct, the attributes, each padded; nlmsg_len covers
// it all (as the kernel writes it).
template <class T>
Bytes message(std::uint16_t type, const T &body, const std::vector<Attr> &attrs = {}) {
  Bytes out(NLMSG_HDRLEN, 0);
  const std::size_t body_at = out.size();
  out.resize(body_at + sizeof(T));
  std::memcpy(out.data() + body_at, &body, sizeof(T));
  pad_to(out, NLMSG_ALIGN(out.size()));
  for (const auto &a : attrs) {
    rtattr rta{};
    rta.rta_len = static_cast<unsigned short>(RTA_LENGTH(a.data.size()));
    rta.rta_type = a.type;
    const std::size_t at = out.size();
    out.resize(at + sizeof rta + a.data.size());
    std::memcpy(out.data() + at, &rta, sizeof rta);
    if (!a.data.empty()) std::memcpy(out.data() + at + sizeof rta, a.data.data(), a.data.size());
    pad_to(out, at + RTA_ALIGN(rta.rta_len));
  }
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(out.size());
  h.nlmsg_type = type;
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

Bytes concat(const std::vector<Bytes> &parts) {
  Bytes out;
  for (const auto &p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ifaddrmsg ifa(int family, unsigned ifindex, std::uint8_t scope = RT_SCOPE_UNIVERSE, std::uint8_t flags = 0) {
  ifaddrmsg m{};
  m.ifa_family = static_cast<std::uint8_t>(family);
  m.ifa_prefixlen = family == AF_INET ? 24 : 64;
  m.ifa_flags = flags;
  m.ifa_scope = scope;
  m.ifa_index = ifindex;
  return m;
}
rtmsg rtm(int family, std::uint8_t dst_len = 0, std::uint8_t table = RT_TABLE_MAIN, std::uint8_t type = RTN_UNICAST) {
  rtmsg m{};
  m.rtm_family = static_cast<std::uint8_t>(family);
  m.rtm_dst_len = dst_len;
  m.rtm_table = table;
  m.rtm_protocol = RTPROT_STATIC;
  m.rtm_scope = RT_SCOPE_UNIVERSE;
  m.rtm_type = type;
  return m;
}
ifinfomsg ifi(int ifindex, unsigned flags) {
  ifinfomsg m{};
  m.ifi_family = AF_UNSPEC;
  m.ifi_index = ifindex;
  m.ifi_flags = flags;
  m.ifi_change = 0xffffffff;
  return m;
}

Endpoint ep(const char *text) {
  auto e = Endpoint::parse(text);
  REQUIRE(e);
  return *e;
}

NetlinkParse parse(const Bytes &b) { return parse_netlink({b.data(), b.size()}); }

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("netlink: one message of each kind") {
  struct Row {
    const char *name;
    Bytes buffer;
    std::vector<NetworkEvent> events;
    unsigned ignored;
  };
  constexpr unsigned up_running = IFF_UP | IFF_RUNNING | IFF_LOWER_UP;
  const std::vector<Row> rows = {
      {"RTM_NEWADDR v4: IFA_LOCAL and IFA_ADDRESS",
       message(RTM_NEWADDR, ifa(AF_INET, 3), {{IFA_ADDRESS, v4("198.18.1.2")}, {IFA_LOCAL, v4("198.18.1.2")}}),
       {AddressAdded{3, ep("198.18.1.2:0")}},
       0},
      {"RTM_NEWADDR v4 point-to-point: IFA_LOCAL is ours, IFA_ADDRESS the peer",
       message(RTM_NEWADDR, ifa(AF_INET, 4), {{IFA_ADDRESS, v4("198.18.9.1")}, {IFA_LOCAL, v4("198.18.9.2")}}),
       {AddressAdded{4, ep("198.18.9.2:0")}},
       0},
      {"RTM_NEWADDR v6: IFA_ADDRESS only",
       message(RTM_NEWADDR, ifa(AF_INET6, 5), {{IFA_ADDRESS, v6("2001:db8:1::2")}}),
       {AddressAdded{5, ep("[2001:db8:1::2]:0")}},
       0},
      {"RTM_DELADDR v4",
       message(RTM_DELADDR, ifa(AF_INET, 3), {{IFA_LOCAL, v4("198.18.1.2")}}),
       {AddressRemoved{3, ep("198.18.1.2:0")}},
       0},
      {"RTM_DELADDR v6",
       message(RTM_DELADDR, ifa(AF_INET6, 5), {{IFA_ADDRESS, v6("2001:db8:1::2")}}),
       {AddressRemoved{5, ep("[2001:db8:1::2]:0")}},
       0},
      {"RTM_NEWADDR v6 tentative (DAD running): ignored",
       message(RTM_NEWADDR, ifa(AF_INET6, 5, RT_SCOPE_UNIVERSE, IFA_F_TENTATIVE), {{IFA_ADDRESS, v6("2001:db8:1::2")}}),
       {},
       1},
      {"RTM_NEWADDR v6, IFA_FLAGS says DAD failed: ignored",
       message(RTM_NEWADDR, ifa(AF_INET6, 5), {{IFA_ADDRESS, v6("2001:db8:1::2")}, {IFA_FLAGS, u32(IFA_F_DADFAILED)}}),
       {},
       1},
      {"RTM_NEWADDR v6 IFA_FLAGS (32 bits) overrides ifa_flags: nodad address is usable",
       message(RTM_NEWADDR, ifa(AF_INET6, 5, RT_SCOPE_UNIVERSE, IFA_F_TENTATIVE),
               {{IFA_ADDRESS, v6("2001:db8:1::2")}, {IFA_FLAGS, u32(IFA_F_NODAD)}}),
       {AddressAdded{5, ep("[2001:db8:1::2]:0")}},
       0},
      {"RTM_NEWADDR v6 link-local scope: ignored",
       message(RTM_NEWADDR, ifa(AF_INET6, 5, RT_SCOPE_LINK), {{IFA_ADDRESS, v6("fe80::2")}}),
       {},
       1},
      {"RTM_NEWADDR host scope (127.0.0.1): ignored",
       message(RTM_NEWADDR, ifa(AF_INET, 1, RT_SCOPE_HOST), {{IFA_LOCAL, v4("127.0.0.1")}}),
       {},
       1},
      {"RTM_NEWADDR of another family (AF_PACKET): ignored",
       message(RTM_NEWADDR, ifa(AF_PACKET, 1), {{IFA_LOCAL, v4("198.18.1.2")}}),
       {},
       1},
      {"RTM_NEWROUTE default v4 via a gateway",
       message(RTM_NEWROUTE, rtm(AF_INET),
               {{RTA_TABLE, u32(RT_TABLE_MAIN)}, {RTA_GATEWAY, v4("198.18.2.1")}, {RTA_OIF, u32(3)}}),
       {DefaultRouteChanged{AF_INET, 3, ep("198.18.2.1:0"), false}},
       0},
      {"RTM_NEWROUTE default v4 on-link (no gateway)",
       message(RTM_NEWROUTE, rtm(AF_INET), {{RTA_OIF, u32(7)}}),
       {DefaultRouteChanged{AF_INET, 7, Endpoint{}, false}},
       0},
      {"RTM_DELROUTE default v4",
       message(RTM_DELROUTE, rtm(AF_INET), {{RTA_GATEWAY, v4("198.18.1.1")}, {RTA_OIF, u32(2)}}),
       {DefaultRouteChanged{AF_INET, 2, ep("198.18.1.1:0"), true}},
       0},
      {"RTM_NEWROUTE default v6 via 2001:db8::1",
       message(RTM_NEWROUTE, rtm(AF_INET6), {{RTA_GATEWAY, v6("2001:db8::1")}, {RTA_OIF, u32(4)}}),
       {DefaultRouteChanged{AF_INET6, 4, ep("[2001:db8::1]:0"), false}},
       0},
      {"RTM_NEWROUTE multipath default (no RTA_OIF): ifindex 0",
       message(RTM_NEWROUTE, rtm(AF_INET), {{RTA_MULTIPATH, Bytes(8, 0)}}),
       {DefaultRouteChanged{AF_INET, 0, Endpoint{}, false}},
       0},
      {"RTM_NEWROUTE 198.18.2.0/24: not a default route, ignored",
       message(RTM_NEWROUTE, rtm(AF_INET, 24), {{RTA_DST, v4("198.18.2.0")}, {RTA_OIF, u32(3)}}),
       {},
       1},
      {"RTM_NEWROUTE default in the local table: ignored",
       message(RTM_NEWROUTE, rtm(AF_INET, 0, RT_TABLE_LOCAL), {{RTA_OIF, u32(3)}}),
       {},
       1},
      {"RTM_NEWROUTE default, RTA_TABLE 100 overrides rtm_table: ignored",
       message(RTM_NEWROUTE, rtm(AF_INET, 0, RT_TABLE_MAIN), {{RTA_TABLE, u32(100)}, {RTA_OIF, u32(3)}}),
       {},
       1},
      {"RTM_NEWROUTE default unreachable: ignored",
       message(RTM_NEWROUTE, rtm(AF_INET, 0, RT_TABLE_MAIN, RTN_UNREACHABLE), {}),
       {},
       1},
      {"RTM_NEWLINK up and running, no operstate", message(RTM_NEWLINK, ifi(3, up_running)), {LinkUp{3}}, 0},
      {"RTM_NEWLINK up, running, operstate up",
       message(RTM_NEWLINK, ifi(3, up_running), {{IFLA_IFNAME, Bytes{'n', '1', 0}}, {IFLA_OPERSTATE, u8(IF_OPER_UP)}}),
       {LinkUp{3}},
       0},
      {"RTM_NEWLINK loopback: operstate unknown counts as up",
       message(RTM_NEWLINK, ifi(1, up_running | IFF_LOOPBACK), {{IFLA_OPERSTATE, u8(IF_OPER_UNKNOWN)}}),
       {LinkUp{1}},
       0},
      {"RTM_NEWLINK up but not running (no carrier)", message(RTM_NEWLINK, ifi(3, IFF_UP)), {LinkDown{3}}, 0},
      {"RTM_NEWLINK up and running flags, operstate down",
       message(RTM_NEWLINK, ifi(3, up_running), {{IFLA_OPERSTATE, u8(IF_OPER_DOWN)}}),
       {LinkDown{3}},
       0},
      {"RTM_NEWLINK administratively down", message(RTM_NEWLINK, ifi(3, 0)), {LinkDown{3}}, 0},
      {"RTM_DELLINK", message(RTM_DELLINK, ifi(3, up_running)), {LinkDown{3}}, 0},
      {"NLMSG_DONE: no event (ends a dump)", message(NLMSG_DONE, std::uint32_t{0}), {}, 1},
      {"RTM_NEWNEIGH: unknown to us, ignored", message(RTM_NEWNEIGH, ifa(AF_INET, 3)), {}, 1},
      {"empty buffer", {}, {}, 0},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    const auto got = parse(row.buffer);
    CHECK(got.error == std::nullopt);
    CHECK(got.malformed == 0);
    CHECK(got.ignored == row.ignored);
    CHECK(got.events == row.events);
  }
}

TEST_CASE("netlink: dump requests and their answers (NLMSG_DONE, NLMSG_ERROR)") {
  struct Row {
    DumpKind kind;
    const char *name;
    std::uint16_t type;
    std::size_t body;
  };
  for (const auto &row : std::vector<Row>{{DumpKind::links, "links", RTM_GETLINK, sizeof(ifinfomsg)},
                                          {DumpKind::addresses, "addresses", RTM_GETADDR, sizeof(ifaddrmsg)},
                                          {DumpKind::routes, "routes", RTM_GETROUTE, sizeof(rtmsg)}}) {
    CAPTURE(row.name);
    CHECK(to_string(row.kind) == row.name);
    const auto req = dump_request(row.kind, 7);
    REQUIRE(req.size() == NLMSG_LENGTH(row.body));
    nlmsghdr h;
    std::memcpy(&h, req.data(), sizeof h);
    CHECK(h.nlmsg_len == req.size());
    CHECK(h.nlmsg_type == row.type);
    CHECK(h.nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
    CHECK(h.nlmsg_seq == 7u);
    CHECK(req[NLMSG_HDRLEN] == AF_UNSPEC);  // the family, first byte of each body
  }
  nlmsgerr busy{};
  busy.error = -EBUSY;
  nlmsgerr ack{};
  const auto done =
      parse(concat({message(RTM_NEWLINK, ifi(3, IFF_UP | IFF_RUNNING)), message(NLMSG_DONE, std::uint32_t{0})}));
  CHECK(done.dump_done);
  CHECK(done.error == std::nullopt);
  CHECK(done.events.size() == 1);
  CHECK_FALSE(parse(message(RTM_NEWLINK, ifi(3, IFF_UP))).dump_done);
  const auto refused = parse(message(NLMSG_ERROR, busy));
  REQUIRE(refused.error);
  CHECK(refused.error->find("request refused") != std::string::npos);
  CHECK(parse(message(NLMSG_ERROR, ack)).error == std::nullopt);
  const auto short_err = parse(message(NLMSG_ERROR, std::uint16_t{0}));
  CHECK(short_err.malformed == 1);
}

TEST_CASE("netlink: several messages in one datagram, in order; unaligned input gives the same") {
  const Bytes buf = concat({
      message(RTM_NEWLINK, ifi(3, IFF_UP | IFF_RUNNING)),
      message(RTM_NEWNEIGH, ifa(AF_INET, 3)),
      message(RTM_NEWADDR, ifa(AF_INET, 3), {{IFA_LOCAL, v4("198.18.2.2")}}),
      message(RTM_NEWROUTE, rtm(AF_INET), {{RTA_OIF, u32(3)}}),
      message(RTM_DELADDR, ifa(AF_INET, 2), {{IFA_LOCAL, v4("198.18.1.2")}}),
  });
  const std::vector<NetworkEvent> want = {LinkUp{3}, AddressAdded{3, ep("198.18.2.2:0")},
                                          DefaultRouteChanged{AF_INET, 3, Endpoint{}, false},
                                          AddressRemoved{2, ep("198.18.1.2:0")}};
  const auto got = parse(buf);
  CHECK(got.error == std::nullopt);
  CHECK(got.events == want);
  CHECK(got.ignored == 1);
  Bytes shifted(buf.size() + 1);
  std::memcpy(shifted.data() + 1, buf.data(), buf.size());
  const auto odd = parse_netlink({shifted.data() + 1, buf.size()});
  CHECK(odd.error == std::nullopt);
  CHECK(odd.events == want);
}

// ---------------------------------------------------------------------------------------------
// Every prefix of a valid datagram: the messages wholly inside it are parsed, a cut inside a
// message is an error, and nothing is read beyond the prefix (each prefix is its own heap block,
// so ASan would see an overread).
TEST_CASE("netlink: every truncation of a valid datagram") {
  const std::vector<Bytes> parts = {
      message(RTM_NEWADDR, ifa(AF_INET, 3), {{IFA_LOCAL, v4("198.18.2.2")}}),
      message(RTM_NEWLINK, ifi(3, IFF_UP | IFF_RUNNING), {{IFLA_OPERSTATE, u8(IF_OPER_UP)}}),
      message(RTM_NEWROUTE, rtm(AF_INET6), {{RTA_GATEWAY, v6("2001:db8::1")}, {RTA_OIF, u32(3)}}),
  };
  const Bytes whole = concat(parts);
  std::vector<std::size_t> ends;
  std::size_t at = 0;
  for (const auto &p : parts) ends.push_back(at += p.size());
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    CAPTURE(cut);
    const Bytes prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
    const auto got = parse(prefix);
    std::size_t whole_messages = 0;
    bool on_boundary = cut == 0;
    for (std::size_t e : ends) {
      if (e <= cut) ++whole_messages;
      if (e == cut) on_boundary = true;
    }
    CHECK(got.events.size() == whole_messages);
    CHECK(got.error.has_value() == !on_boundary);
    if (!on_boundary) CHECK(got.error->find("truncated") != std::string::npos);
  }
}

TEST_CASE("netlink: malformed messages are counted and skipped, never read out of bounds") {
  const Bytes good = message(RTM_NEWLINK, ifi(9, IFF_UP | IFF_RUNNING));
  auto with_len = [](Bytes b, std::uint32_t len) {
    std::memcpy(b.data(), &len, sizeof len);  // nlmsg_len is the first field
    return b;
  };
  struct Row {
    const char *name;
    Bytes buffer;
    bool truncated;      // the parse stops (error mentions "truncated")
    unsigned malformed;  // messages skipped as malformed
    std::size_t events;  // events still parsed (the trailing good message)
  };
  // An attribute whose rta_len claims more than the message holds.
  Bytes long_attr = message(RTM_NEWADDR, ifa(AF_INET, 3), {{IFA_LOCAL, v4("198.18.1.2")}});
  {
    unsigned short rta_len = 200;
    std::memcpy(long_attr.data() + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifaddrmsg)), &rta_len, sizeof rta_len);
  }
  Bytes tiny_attr = message(RTM_NEWADDR, ifa(AF_INET, 3), {{IFA_LOCAL, v4("198.18.1.2")}});
  {
    unsigned short rta_len = 2;  // shorter than struct rtattr itself
    std::memcpy(tiny_attr.data() + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifaddrmsg)), &rta_len, sizeof rta_len);
  }
  const std::vector<Row> rows = {
      {"3 bytes: not even a header", Bytes{1, 2, 3}, true, 0, 0},
      {"nlmsg_len 8 < header", with_len(good, 8), true, 0, 0},
      {"nlmsg_len larger than the buffer", with_len(good, 4096), true, 0, 0},
      {"RTM_NEWADDR body shorter than ifaddrmsg",
       concat({with_len(message(RTM_NEWADDR, std::uint32_t{0}), NLMSG_HDRLEN + 4), good}), false, 1, 1},
      {"RTM_NEWROUTE body shorter than rtmsg", concat({message(RTM_NEWROUTE, std::uint64_t{0}), good}), false, 1, 1},
      {"RTM_NEWLINK body shorter than ifinfomsg", concat({message(RTM_NEWLINK, std::uint64_t{0}), good}), false, 1, 1},
      {"attribute longer than the message", concat({long_attr, good}), false, 1, 1},
      {"attribute shorter than rtattr", concat({tiny_attr, good}), false, 1, 1},
      {"IFA_LOCAL of 5 bytes for AF_INET",
       concat({message(RTM_NEWADDR, ifa(AF_INET, 3), {{IFA_LOCAL, Bytes(5, 1)}}), good}), false, 1, 1},
      {"IFA_ADDRESS of 4 bytes for AF_INET6",
       concat({message(RTM_NEWADDR, ifa(AF_INET6, 3), {{IFA_ADDRESS, v4("198.18.1.2")}}), good}), false, 1, 1},
      {"RTM_NEWADDR without any address", concat({message(RTM_NEWADDR, ifa(AF_INET, 3)), good}), false, 1, 1},
      {"RTA_OIF of 2 bytes", concat({message(RTM_NEWROUTE, rtm(AF_INET), {{RTA_OIF, Bytes(2, 0)}}), good}), false, 1,
       1},
      {"RTA_GATEWAY of 16 bytes for AF_INET",
       concat({message(RTM_NEWROUTE, rtm(AF_INET), {{RTA_GATEWAY, v6("2001:db8::1")}}), good}), false, 1, 1},
      {"IFLA_OPERSTATE of 4 bytes",
       concat({message(RTM_NEWLINK, ifi(3, IFF_UP), {{IFLA_OPERSTATE, u32(IF_OPER_UP)}}), good}), false, 1, 1},
      {"RTM_NEWLINK ifindex 0", concat({message(RTM_NEWLINK, ifi(0, IFF_UP)), good}), false, 1, 1},
      {"a good message, then a cut one", concat({good, Bytes(good.begin(), good.begin() + 20)}), true, 0, 1},
  };
  for (const auto &row : rows) {
    CAPTURE(row.name);
    const auto got = parse(row.buffer);
    REQUIRE(got.error);
    CHECK((got.error->find("truncated") != std::string::npos) == row.truncated);
    CHECK(got.malformed == row.malformed);
    CHECK(got.events.size() == row.events);
  }
}

TEST_CASE("netlink: random and mutated buffers do not crash") {
  std::mt19937 rng(14);
  const Bytes valid = concat({
      message(RTM_NEWADDR, ifa(AF_INET6, 3), {{IFA_ADDRESS, v6("2001:db8:1::2")}, {IFA_FLAGS, u32(0)}}),
      message(RTM_NEWROUTE, rtm(AF_INET), {{RTA_GATEWAY, v4("198.18.2.1")}, {RTA_OIF, u32(3)}}),
      message(RTM_NEWLINK, ifi(3, IFF_UP | IFF_RUNNING), {{IFLA_OPERSTATE, u8(IF_OPER_UP)}}),
  });
  std::size_t events = 0, errors = 0;
  for (int i = 0; i < 3000; ++i) {
    Bytes b;
    if (i % 2 == 0) {
      b.resize(rng() % 160);
      for (auto &x : b) x = static_cast<std::uint8_t>(rng());
      // Plausible headers half of the time, so the bodies get exercised too.
      if (b.size() >= NLMSG_HDRLEN && (rng() & 1)) {
        std::uint32_t len = static_cast<std::uint32_t>(rng() % (b.size() + 8));
        std::uint16_t types[] = {RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWLINK, RTM_DELLINK};
        std::memcpy(b.data(), &len, 4);
        std::memcpy(b.data() + 4, &types[rng() % 6], 2);
      }
    } else {
      b = valid;
      for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
      b.resize(b.size() - rng() % 8);
    }
    const auto got = parse(b);
    events += got.events.size();
    errors += got.error ? 1 : 0;
  }
  // Not a result to match, a sign that both paths ran: some buffers parsed, some did not.
  CHECK(events > 0);
  CHECK(errors > 0);
}

// ---------------------------------------------------------------------------------------------
// A real NETLINK_ROUTE socket in a fresh network namespace (forked child, so the test process's
// namespace is untouched): the kernel's own messages for an address, the loopback link and a
// default route go through read_events(). Only 198.18.0.0/15 addresses.
namespace {

enum ChildExit : int {
  kOk = 0,
  kNoNamespace = 77,  // unshare(CLONE_NEWNET) not permitted: skip
  kNoIpTool = 78,     // iproute2's ip(8) is not installed: skip
  kOpenFailed = 10,
  kIpFailed = 11,
  kAddedNotSeen = 12,
  kLinkUpNotSeen = 13,
  kRouteNotSeen = 14,
  kRemovedNotSeen = 15,
  kParseError = 16,
  kDumpFailed = 17,
  kDumpAddressMissing = 18,
  kDumpRouteMissing = 19,
  kDumpLinkMissing = 20,
};

// Requests one dump on a fresh socket and reads until NLMSG_DONE (2 s at most).
std::optional<std::vector<NetworkEvent>> dump(DumpKind kind) {
  std::string error;
  auto sock = NetlinkSocket::open(&error);
  if (!sock || !sock->request_dump(kind, &error)) return std::nullopt;
  std::vector<NetworkEvent> events;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{sock->fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    auto got = sock->read_events();
    if (got.error) return std::nullopt;
    events.insert(events.end(), got.events.begin(), got.events.end());
    if (got.dump_done) return events;
  }
  return std::nullopt;
}

bool contains(const std::vector<NetworkEvent> &events, const NetworkEvent &want) {
  for (const auto &e : events)
    if (e == want) return true;
  return false;
}

// Reads events for up to 2 s until `want` shows up.
bool wait_for(NetlinkSocket &sock, const NetworkEvent &want, bool &parse_error) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{sock.fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const auto got = sock.read_events();
    if (got.error) parse_error = true;
    for (const auto &e : got.events)
      if (e == want) return true;
  }
  return false;
}

int netns_child() {
  if (::unshare(CLONE_NEWNET) != 0) return kNoNamespace;
  std::string error;
  auto sock = NetlinkSocket::open(&error);
  if (!sock) return kOpenFailed;
  bool parse_error = false;
  const auto added = AddressAdded{1, *Endpoint::parse("198.18.77.1:0")};
  const int first = std::system("ip addr add 198.18.77.1/32 dev lo");
  if (first != -1 && WIFEXITED(first) && WEXITSTATUS(first) == 127) return kNoIpTool;
  if (first != 0) return kIpFailed;
  if (!wait_for(*sock, added, parse_error)) return kAddedNotSeen;
  if (std::system("ip link set lo up") != 0) return kIpFailed;
  if (!wait_for(*sock, LinkUp{1}, parse_error)) return kLinkUpNotSeen;
  if (std::system("ip route add default dev lo") != 0) return kIpFailed;
  if (!wait_for(*sock, DefaultRouteChanged{AF_INET, 1, Endpoint{}, false}, parse_error)) return kRouteNotSeen;
  // The same state, asked for: what the adapter does at start and after lost events.
  const auto addrs = dump(DumpKind::addresses);
  const auto routes = dump(DumpKind::routes);
  const auto links = dump(DumpKind::links);
  if (!addrs || !routes || !links) return kDumpFailed;
  if (!contains(*addrs, added)) return kDumpAddressMissing;
  if (!contains(*routes, DefaultRouteChanged{AF_INET, 1, Endpoint{}, false})) return kDumpRouteMissing;
  if (!contains(*links, LinkUp{1})) return kDumpLinkMissing;
  if (std::system("ip addr del 198.18.77.1/32 dev lo") != 0) return kIpFailed;
  if (!wait_for(*sock, AddressRemoved{1, *Endpoint::parse("198.18.77.1:0")}, parse_error)) return kRemovedNotSeen;
  return parse_error ? kParseError : kOk;
}

}  // namespace

TEST_CASE("netlink: a real socket in a fresh network namespace sees the kernel's events") {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(netns_child());  // no Catch2 in the child
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  const int code = WEXITSTATUS(status);
  if (code == kNoNamespace) SKIP("unshare(CLONE_NEWNET) not permitted (needs root / CAP_SYS_ADMIN)");
  if (code == kNoIpTool) SKIP("ip(8) from iproute2 is not installed");
  CAPTURE(code);
  CHECK(code == kOk);
}

TEST_CASE("netlink: the socket binds the five groups and closes on destruction") {
  CHECK(netlink_groups() ==
        (RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_LINK));
  std::string error;
  auto sock = NetlinkSocket::open(&error);
  REQUIRE(sock);
  CHECK(error.empty());
  const int fd = sock->fd();
  CHECK(fd >= 0);
  CHECK(::fcntl(fd, F_GETFD) >= 0);
  NetlinkSocket moved = std::move(*sock);
  CHECK(moved.fd() == fd);
  CHECK(sock->fd() == -1);
  // Whatever the host's namespace is doing right now, draining an idle socket is not an error.
  CHECK(moved.read_events().error == std::nullopt);
  sock.reset();
  { NetlinkSocket gone = std::move(moved); }
  CHECK(::fcntl(fd, F_GETFD) == -1);  // closed exactly once, by the owner
}
