// examples/client/netlink.h — the kernel's network events for qamp-client: an rtnetlink parser
// (a pure function from bytes to qamp::NetworkEvent values, qamp/network_events.h) and the RAII
// socket that feeds it. No polling: the kernel multicasts address, route and link changes to the
// groups the socket binds (RTMGRP_*), the event loop watches fd(), read_events() drains it.
// Deciding what an event means for the connection is MigrationTrigger's job, not this file's.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qamp/network_events.h"

namespace qamp::client {

struct NetlinkParse {
  std::vector<NetworkEvent> events;  // in the order of the messages
  unsigned ignored = 0;              // whole messages of no interest: other types (NLMSG_DONE, NLMSG_ERROR,
                                     // RTM_NEWNEIGH, …), other families, non-default or non-main-table
                                     // routes, link/host-scope addresses, tentative or DAD-failed addresses
  unsigned malformed = 0;            // messages inside the buffer whose body or attributes were invalid:
                                     // skipped, the next message is still read (its length was valid)
  std::optional<std::string> error;  // the first problem: a malformed message, the buffer
                                     // ending inside a header / a message (parsing stops there),
                                     // or an NLMSG_ERROR answering a request_dump() with an errno
  bool dump_done = false;            // an NLMSG_DONE was seen: the dump request_dump() asked for is complete
  bool lost_events = false;          // read_events() only: the kernel dropped events (ENOBUFS); the
                                     // caller must re-read the state (a dump) rather than trust deltas
};

// Parses one netlink datagram (a sequence of nlmsghdr records, NLMSG_OK / NLMSG_NEXT):
//   RTM_NEWADDR / RTM_DELADDR → AddressAdded / AddressRemoved (IFA_LOCAL, else IFA_ADDRESS; scope
//     global or site only; a NEWADDR that is tentative or failed DAD is ignored, the kernel sends
//     another NEWADDR when DAD completes),
//   RTM_NEWROUTE / RTM_DELROUTE of a default unicast route (rtm_dst_len 0) in the main table →
//     DefaultRouteChanged (RTA_OIF, RTA_GATEWAY; a multipath route has no RTA_OIF: ifindex 0),
//   RTM_NEWLINK → LinkUp when IFF_UP and IFF_RUNNING are set and IFLA_OPERSTATE (if present) is
//     up or unknown (loopback and many virtual links say unknown), LinkDown otherwise; every
//     NEWLINK is reported (the kernel sends one per change; the trigger ignores repeats);
//     RTM_DELLINK → LinkDown.
// Every length is checked before it is read: a body shorter than its struct, an attribute longer
// than what is left or of the wrong size for its type is `malformed`; a buffer that ends inside a
// record is an error and stops the parse. Unknown types are ignored. Never reads out of bounds.
NetlinkParse parse_netlink(std::span<const std::uint8_t> buffer);

// The groups NetlinkSocket binds: IPv4 and IPv6 addresses and routes, and links.
unsigned netlink_groups() noexcept;

// What request_dump() asks the kernel for (the state at start, or again after lost_events).
enum class DumpKind : std::uint8_t { links, addresses, routes };
std::string_view to_string(DumpKind kind) noexcept;  // "links", "addresses", "routes"

// The RTM_GETLINK / RTM_GETADDR / RTM_GETROUTE dump request (NLM_F_REQUEST | NLM_F_DUMP, family
// AF_UNSPEC) with sequence number `seq`: the bytes request_dump() sends, exposed for tests.
std::vector<std::uint8_t> dump_request(DumpKind kind, std::uint32_t seq);

// An AF_NETLINK / NETLINK_ROUTE socket (non-blocking, close-on-exec) bound to netlink_groups().
// Move-only; the destructor closes it.
class NetlinkSocket {
 public:
  // nullopt with *error naming the syscall that failed ("socket(AF_NETLINK, NETLINK_ROUTE): …",
  // "bind(AF_NETLINK, groups 0x…): …").
  static std::optional<NetlinkSocket> open(std::string *error);

  NetlinkSocket(NetlinkSocket &&other) noexcept;
  NetlinkSocket &operator=(NetlinkSocket &&other) noexcept;
  NetlinkSocket(const NetlinkSocket &) = delete;
  NetlinkSocket &operator=(const NetlinkSocket &) = delete;
  ~NetlinkSocket();

  int fd() const noexcept { return fd_; }

  // Asks the kernel for its current links, addresses or routes. The answers arrive on this socket
  // as the same RTM_NEW* messages as the events and come out of read_events(), which sets
  // dump_done at the end. One dump at a time per socket (the kernel answers EBUSY otherwise):
  // request the next kind after dump_done. False with *error ("send(RTM_GETADDR dump): …").
  bool request_dump(DumpKind kind, std::string *error);

  // Reads every queued datagram (until EAGAIN) and parses each; datagrams not sent by the kernel
  // (nl_pid != 0) are ignored. ENOBUFS (the receive queue overflowed) sets lost_events and goes on
  // reading; a datagram larger than the buffer, or another recvmsg error, sets error
  // ("recvmsg(NETLINK_ROUTE): …") and stops.
  NetlinkParse read_events();

 private:
  explicit NetlinkSocket(int fd);
  int fd_ = -1;
  std::uint32_t seq_ = 0;
  std::vector<std::uint32_t> buffer_;  // 4-byte aligned, as nlmsghdr needs
};

}  // namespace qamp::client
