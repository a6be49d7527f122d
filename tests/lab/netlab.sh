#!/usr/bin/env bash
# tests/lab/netlab.sh — network-namespace topologies for the qamp lab (DESIGN.md §6 "Lab facts":
# no netem, no IPVS; tbf, nftables and policy routing only).
#
# Source it (the scenario runner does), or run it by hand:
#   netlab.sh up a|b|c|d|e   build a topology and leave it up (inspect with `ip netns`)
#   netlab.sh down           tear every qlab-* namespace down
#   netlab.sh selftest TOPO  build, check reachability (ping), tear down; exit status says it all
#
# Addresses: only 198.18.0.0/15 and 2001:db8::/32, only inside namespaces named qlab-*.
#
#   qlab-c (client)  n1 198.18.1.2  2001:db8:1::2 ──── r1 198.18.1.1 ┐
#                    n2 198.18.2.2  2001:db8:2::2 ──── r2 198.18.2.1 ┤ qlab-r (router: tbf, loss,
#                                                                    │  cut, stateless NAT rebinding)
#   (a) qlab-a: handshake 198.18.10.1, SPA 198.18.10.2 / [2001:db8:10::2]   via ra ── 198.18.11.2
#   (b) qlab-a and qlab-b both hold Anycast 198.18.50.1/32 (+ 2001:db8:50::1); the router sends
#       what enters on r1 to A (ra ── 198.18.11.2) and what enters on r2 to B (rb ── 198.18.12.2);
#       unicast SPA on A 198.18.10.2 / [2001:db8:10::2], on B 198.18.10.3 / [2001:db8:10::3]
#   (c) qlab-l: VIP 198.18.100.1 → dnat to jhash ip saddr . udp sport mod 2 → A 198.18.11.2 | B 198.18.12.2
#   (d) qlab-l: VIP 198.18.100.1 → dnat to jhash ip saddr mod 2            → A 198.18.11.2 | B 198.18.12.2
#   (e) qlab-l: VIP 198.18.100.1 → CID-routing LB (QUIC-LB plaintext server IDs, draft-21): a
#       short-header datagram with server ID 0x01 → A, 0x02 → B; anything else (long headers,
#       unknown server IDs, config rotation 0b111) by jhash ip saddr . udp sport mod 2 as in (c)
#   NAT rebinding pool (the router's "public" side): 198.18.3.0/24.
#
# The client host's main default route uses network 1; `from <n2 address>` rules send sockets
# bound to network 2 out of n2, so a client that binds the new address (qamp-client
# --network-change) or asks the kernel for a route after lab_default_route 2 (gtlsclient
# --change-local-addr) leaves by network 2 while the old socket stays on network 1.

# shellcheck disable=SC2034,SC2086  # variables are for the sourcing scripts; addresses are constants
LAB_LOCK_FILE=${LAB_LOCK_FILE:-/run/lock/qamp-lab.lock}

# Client host.
LAB_C1=198.18.1.2 LAB_C2=198.18.2.2 LAB_C1_6=2001:db8:1::2 LAB_C2_6=2001:db8:2::2
LAB_R1=198.18.1.1 LAB_R2=198.18.2.1 LAB_R1_6=2001:db8:1::1 LAB_R2_6=2001:db8:2::1
LAB_NAT_POOL=198.18.3
# Server instances (their own link addresses).
LAB_A_IP=198.18.11.2 LAB_B_IP=198.18.12.2 LAB_A_IP6=2001:db8:11::2 LAB_B_IP6=2001:db8:12::2
# Topology (a).
LAB_HS=198.18.10.1 LAB_HS6=2001:db8:10::1 LAB_SPA4=198.18.10.2 LAB_SPA6=2001:db8:10::2
# Topology (b).
LAB_ANYCAST=198.18.50.1 LAB_ANYCAST6=2001:db8:50::1 LAB_SPA4_B=198.18.10.3 LAB_SPA6_B=2001:db8:10::3
# Topologies (c), (d), (e).
LAB_VIP=198.18.100.1 LAB_LB_UP=198.18.20.2
# Topology (e): the QUIC-LB server IDs of A and B (qamp-server --instance-id) the LB routes by.
LAB_SID_A=1 LAB_SID_B=2
LAB_PORT=4433
# Where lab_lb_map sends its datagrams: the service port in (c)/(d); in (e) a second VIP port
# hashed exactly like the fallback (the hash ignores the port), so the lab's reading of the hash
# leaves no conntrack entry on the service port (a new 4-tuple's first datagram there must be
# judged by its CID, not follow a flow the lab's probe created).
LAB_LB_PROBE_PORT=$LAB_PORT
LAB_RATE=${LAB_RATE:-40mbit}  # both client networks, both directions, unless a scenario changes it

lab_log() { echo "netlab: $*" >&2; }
lab_die() { lab_log "error: $*"; return 1; }
lab_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# One lab at a time on a machine: scenarios share namespace names. Holds the lock on fd 9 until
# the shell exits.
lab_lock() {
  mkdir -p "$(dirname "$LAB_LOCK_FILE")"
  exec 9>"$LAB_LOCK_FILE"
  flock -w "${1:-900}" 9 || lab_die "another lab run holds $LAB_LOCK_FILE"
}

# Kill the processes left in our namespaces (by id) and delete the namespaces. Used at start
# (a crashed run's leftovers) and on exit; only call it while holding lab_lock.
lab_down() {
  local ns pids
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^qlab-'); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^qlab-'); do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -z "$pids" ] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null || lab_log "could not delete $ns"
  done
  return 0
}

_lab_newns() {
  local ns=$1
  ip netns add "$ns" || return 1
  lab_ns "$ns" ip link set lo up || return 1
  lab_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 >/dev/null
}

_lab_router() {  # ns: forward both families
  lab_ns "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
}

# _lab_link NS1 IF1 NS2 IF2: a veth pair, up, with software UDP segmentation (gso_max_segs 1:
# every capture sees one QUIC datagram per UDP packet, never a GSO super-packet).
_lab_link() {
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
  lab_ns "$1" ip link set "$2" gso_max_segs 1 up || return 1
  lab_ns "$3" ip link set "$4" gso_max_segs 1 up || return 1
}

_lab_addr() {  # NS IF ADDR/LEN... (IPv6 with nodad)
  local ns=$1 dev=$2 a
  shift 2
  for a in "$@"; do
    if [[ $a == *:* ]]; then
      lab_ns "$ns" ip -6 addr add "$a" dev "$dev" nodad || return 1
    else
      lab_ns "$ns" ip addr add "$a" dev "$dev" || return 1
    fi
  done
}

# Client host + router, common to every topology.
_lab_base() {
  _lab_newns qlab-c && _lab_newns qlab-r && _lab_router qlab-r || return 1
  _lab_link qlab-c n1 qlab-r r1 && _lab_link qlab-c n2 qlab-r r2 || return 1
  _lab_addr qlab-c n1 $LAB_C1/24 $LAB_C1_6/64 && _lab_addr qlab-c n2 $LAB_C2/24 $LAB_C2_6/64 || return 1
  _lab_addr qlab-r r1 $LAB_R1/24 $LAB_R1_6/64 && _lab_addr qlab-r r2 $LAB_R2/24 $LAB_R2_6/64 || return 1
  # Source routing: a socket bound to a network's address leaves by that network.
  lab_ns qlab-c ip route add default via $LAB_R1 dev n1 table 1 &&
    lab_ns qlab-c ip route add default via $LAB_R2 dev n2 table 2 &&
    lab_ns qlab-c ip -6 route add default via $LAB_R1_6 dev n1 table 1 &&
    lab_ns qlab-c ip -6 route add default via $LAB_R2_6 dev n2 table 2 &&
    lab_ns qlab-c ip rule add from $LAB_C1 table 1 pref 100 &&
    lab_ns qlab-c ip rule add from $LAB_C2 table 2 pref 100 &&
    lab_ns qlab-c ip -6 rule add from $LAB_C1_6 table 1 pref 100 &&
    lab_ns qlab-c ip -6 rule add from $LAB_C2_6 table 2 pref 100 || return 1
  lab_default_route 1 || return 1
  # Router: impairment chains per network (forward path), stateless rebinding chains (raw
  # prerouting, before any routing decision), both swapped atomically with nft -f.
  lab_ns qlab-r nft -f - <<'NFT' || return 1
table inet qlab_r {
  chain rebind { type filter hook prerouting priority raw; policy accept; }
  chain impair { type filter hook forward priority filter; policy accept; jump impair1; jump impair2; }
  chain impair1 { }
  chain impair2 { }
}
NFT
  lab_shape 1 "$LAB_RATE" && lab_shape 2 "$LAB_RATE"
}

# Server instance NAME (a|b) behind link IF (on the router or the LB) with subnet 198.18.1X.0/24.
_lab_instance() {  # name upper_ns upper_if subnet_octet
  local ns=qlab-$1 up=$2 upif=$3 o=$4
  _lab_newns "$ns" && _lab_link "$up" "$upif" "$ns" e0 || return 1
  _lab_addr "$up" "$upif" 198.18.$o.1/24 2001:db8:$o::1/64 && _lab_addr "$ns" e0 198.18.$o.2/24 2001:db8:$o::2/64 || return 1
  lab_ns "$ns" ip route add default via 198.18.$o.1 && lab_ns "$ns" ip -6 route add default via 2001:db8:$o::1
}

_lab_topo_a() {
  _lab_instance a qlab-r ra 11 || return 1
  _lab_addr qlab-a lo $LAB_HS/32 $LAB_SPA4/32 $LAB_HS6/128 $LAB_SPA6/128 || return 1
  lab_ns qlab-r ip route add 198.18.10.0/24 via $LAB_A_IP && lab_ns qlab-r ip -6 route add 2001:db8:10::/64 via $LAB_A_IP6
  LAB_SERVER_ADDR=$LAB_HS
}

_lab_topo_b() {
  _lab_instance a qlab-r ra 11 && _lab_instance b qlab-r rb 12 || return 1
  _lab_addr qlab-a lo $LAB_ANYCAST/32 $LAB_ANYCAST6/128 $LAB_SPA4/32 $LAB_SPA6/128 || return 1
  _lab_addr qlab-b lo $LAB_ANYCAST/32 $LAB_ANYCAST6/128 $LAB_SPA4_B/32 $LAB_SPA6_B/128 || return 1
  # Unicast: each instance's preferred addresses.
  lab_ns qlab-r ip route add $LAB_SPA4/32 via $LAB_A_IP && lab_ns qlab-r ip -6 route add $LAB_SPA6/128 via $LAB_A_IP6 &&
    lab_ns qlab-r ip route add $LAB_SPA4_B/32 via $LAB_B_IP && lab_ns qlab-r ip -6 route add $LAB_SPA6_B/128 via $LAB_B_IP6 || return 1
  # Anycast: the same /32 on both; which one you reach depends on the network you come from.
  lab_ns qlab-r ip route add $LAB_ANYCAST/32 via $LAB_A_IP table 101 &&
    lab_ns qlab-r ip route add $LAB_ANYCAST/32 via $LAB_B_IP table 102 &&
    lab_ns qlab-r ip -6 route add $LAB_ANYCAST6/128 via $LAB_A_IP6 table 101 &&
    lab_ns qlab-r ip -6 route add $LAB_ANYCAST6/128 via $LAB_B_IP6 table 102 &&
    lab_ns qlab-r ip rule add iif r1 to $LAB_ANYCAST/32 table 101 pref 100 &&
    lab_ns qlab-r ip rule add iif r2 to $LAB_ANYCAST/32 table 102 pref 100 &&
    lab_ns qlab-r ip -6 rule add iif r1 to $LAB_ANYCAST6/128 table 101 pref 100 &&
    lab_ns qlab-r ip -6 rule add iif r2 to $LAB_ANYCAST6/128 table 102 pref 100 || return 1
  LAB_SERVER_ADDR=$LAB_ANYCAST
}

# Load balancer namespace in front of two instances (addresses and routes; the rules follow).
_lab_lb_net() {
  _lab_newns qlab-l && _lab_router qlab-l || return 1
  _lab_link qlab-r rl qlab-l l0 || return 1
  _lab_addr qlab-r rl 198.18.20.1/24 && _lab_addr qlab-l l0 $LAB_LB_UP/24 || return 1
  lab_ns qlab-r ip route add 198.18.100.0/24 via $LAB_LB_UP && lab_ns qlab-l ip route add default via 198.18.20.1 || return 1
  _lab_instance a qlab-l la 11 && _lab_instance b qlab-l lb 12 || return 1
  lab_ns qlab-r ip route add 198.18.11.0/24 via $LAB_LB_UP && lab_ns qlab-r ip route add 198.18.12.0/24 via $LAB_LB_UP
}

# 4-tuple or 2-tuple hashing LB; $1 is the jhash key expression.
_lab_topo_lb() {
  _lab_lb_net || return 1
  # Conntrack DNAT hashes the first datagram of every new flow (a flow is a 4-tuple), so the
  # key decides which client changes land elsewhere. to_a / to_b record which flows went
  # where (lab_lb_map reads them).
  lab_ns qlab-l nft -f - <<NFT || return 1
table ip qlab_lb {
  set to_a { type ipv4_addr . inet_service; flags dynamic; size 65535; }
  set to_b { type ipv4_addr . inet_service; flags dynamic; size 65535; }
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $LAB_VIP udp dport $LAB_PORT dnat to $1 mod 2 seed 0x71616d70 map { 0 : $LAB_A_IP, 1 : $LAB_B_IP }
  }
  chain post {
    type filter hook postrouting priority filter; policy accept;
    ip daddr $LAB_A_IP udp dport $LAB_PORT update @to_a { ip saddr . udp sport }
    ip daddr $LAB_B_IP udp dport $LAB_PORT update @to_b { ip saddr . udp sport }
  }
}
NFT
  LAB_SERVER_ADDR=$LAB_VIP
}
_lab_topo_c() { _lab_topo_lb 'jhash ip saddr . udp sport'; }
_lab_topo_d() { _lab_topo_lb 'jhash ip saddr'; }

# (e) A CID-routing load balancer (issue 15), nftables only. The instances issue plaintext QUIC-LB
# CIDs (draft-ietf-quic-load-balancers-21 §5.2, config rotation 0, 1-octet server ID, 16-octet
# nonce: 18 octets), so a short-header datagram names its instance in clear:
#   UDP payload octet 0   QUIC first octet: 0x80 set = long header (RFC 9000 §17.2)   @th,64,8
#   UDP payload octet 1   DCID octet 0: config rotation in the top 3 bits             @th,72,8
#   UDP payload octet 2   DCID octet 1: the server ID                                 @th,80,8
# (@th,OFFSET,LEN: bits from the start of the UDP header, which is 8 octets = 64 bits long.)
# Rules in the nat prerouting hook, i.e. for the first datagram of each new conntrack flow
# (4-tuple) only; every later datagram of the flow follows that flow's DNAT, and the replies are
# translated back (source A/B -> the VIP) by the same conntrack entry, as in (c)/(d).
#   1. a short header whose config rotation is not 0b111 (unroutable, §3.1) and whose server ID
#      is in the vmap: dnat to that instance (chains cid_a / cid_b; their counters say how
#      many new flows were routed by CID);
#   2. everything else (long headers: Initial, 0-RTT, Handshake; an unknown server ID; 0b111)
#      by the 4-tuple hash of (c), the same seed, so a flow falls where (c) would put it
#      (chain by_hash counts them; probe_hash is the same hash for LAB_LB_PROBE_PORT).
# A migrated or NAT-rebound client opens a new 4-tuple with a short-header datagram carrying a
# CID its server issued: rule 1 sends it to the instance that holds the connection, where the
# 4-tuple hash of (c) picks either. LAB_LB_PROBE_PORT gets the hash only (lab_lb_map).
_lab_topo_e() {
  _lab_lb_net || return 1
  LAB_LB_PROBE_PORT=$((LAB_PORT + 1))
  lab_ns qlab-l nft -f - <<NFT || return 1
table ip qlab_lb {
  set to_a { type ipv4_addr . inet_service; flags dynamic; size 65535; }
  set to_b { type ipv4_addr . inet_service; flags dynamic; size 65535; }
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $LAB_VIP udp dport $LAB_LB_PROBE_PORT goto probe_hash
    ip daddr $LAB_VIP udp dport $LAB_PORT @th,64,1 0 @th,72,3 != 7 @th,80,8 vmap { $LAB_SID_A : goto cid_a, $LAB_SID_B : goto cid_b }
    ip daddr $LAB_VIP udp dport $LAB_PORT goto by_hash
  }
  chain cid_a { counter dnat to $LAB_A_IP; }
  chain cid_b { counter dnat to $LAB_B_IP; }
  chain by_hash { counter dnat to jhash ip saddr . udp sport mod 2 seed 0x71616d70 map { 0 : $LAB_A_IP, 1 : $LAB_B_IP }; }
  chain probe_hash { counter dnat to jhash ip saddr . udp sport mod 2 seed 0x71616d70 map { 0 : $LAB_A_IP, 1 : $LAB_B_IP }; }
  chain post {
    type filter hook postrouting priority filter; policy accept;
    ip daddr $LAB_A_IP udp dport { $LAB_PORT, $LAB_LB_PROBE_PORT } update @to_a { ip saddr . udp sport }
    ip daddr $LAB_B_IP udp dport { $LAB_PORT, $LAB_LB_PROBE_PORT } update @to_b { ip saddr . udp sport }
  }
}
NFT
  LAB_SERVER_ADDR=$LAB_VIP
}

# lab_up TOPO: build it from scratch. Sets LAB_TOPO, LAB_SERVER_ADDR (what clients dial).
lab_up() {
  local topo=$1
  case "$topo" in a | b | c | d | e) ;; *) lab_die "unknown topology '$topo'"; return 1 ;; esac
  lab_down
  LAB_LB_PROBE_PORT=$LAB_PORT
  if ! _lab_base || ! "_lab_topo_$topo"; then
    lab_die "building topology ($topo) failed"
    return 1
  fi
  LAB_TOPO=$topo
}

# ---- events (scenarios call these while traffic flows) ----

# lab_shape NET RATE: tbf on both ends of client network NET (1|2). RATE like 40mbit.
lab_shape() {
  local net=$1 rate=$2
  lab_ns qlab-r tc qdisc replace dev "r$net" root tbf rate "$rate" burst 64kb latency 60ms &&
    lab_ns qlab-c tc qdisc replace dev "n$net" root tbf rate "$rate" burst 64kb latency 60ms
}

# lab_loss NET PERCENT: drop PERCENT % of the datagrams forwarded to and from network NET.
lab_loss() {
  lab_ns qlab-r nft -f - <<NFT
flush chain inet qlab_r impair$1
add rule inet qlab_r impair$1 iifname r$1 numgen random mod 100 < $2 counter drop
add rule inet qlab_r impair$1 oifname r$1 numgen random mod 100 < $2 counter drop
NFT
}

# lab_cut NET: network NET carries nothing any more (the interface stays up, as on a dead Wi-Fi).
lab_cut() {
  lab_ns qlab-r nft -f - <<NFT
flush chain inet qlab_r impair$1
add rule inet qlab_r impair$1 iifname r$1 counter drop
add rule inet qlab_r impair$1 oifname r$1 counter drop
NFT
}

lab_restore() { lab_ns qlab-r nft flush chain inet qlab_r "impair$1"; }

# lab_blackhole ADDR: the router forwards nothing to or from IPv4 address ADDR (a preferred
# address that is announced but unreachable from the client's networks). lab_restore 1 undoes it.
lab_blackhole() {
  lab_ns qlab-r nft -f - <<NFT
add rule inet qlab_r impair1 ip daddr $1 counter drop
add rule inet qlab_r impair1 ip saddr $1 counter drop
NFT
}

# ---- the client host's own network events (issue 14 item 5: what a real OS does) ----

# lab_addr_del NET [v6]: the client host loses its address on network NET (1|2), the IPv4 one
# (and the IPv6 one with v6). With the last IPv4 address of n1 gone the kernel also flushes every
# IPv4 route through n1 (table 1's default, and the main default while it points at n1): a
# socket bound to the old address gets ENETUNREACH / EADDRNOTAVAIL from then on.
lab_addr_del() {
  local net=$1 a a6
  if [ "$net" = 1 ]; then a=$LAB_C1 a6=$LAB_C1_6; else a=$LAB_C2 a6=$LAB_C2_6; fi
  lab_ns qlab-c ip addr del "$a/24" dev "n$net" || return 1
  [ "${2:-}" = v6 ] && { lab_ns qlab-c ip -6 addr del "$a6/64" dev "n$net" || return 1; }
  return 0
}

# lab_link_down NET: network NET's interface on the client host goes down (a cable pulled, Wi-Fi
# off): the addresses stay, every route through it goes.
lab_link_down() { lab_ns qlab-c ip link set "n$1" down; }

# lab_drop_flow IP PORT: the router forwards nothing from or to the client's IP:PORT any more (a
# 4-tuple blackholed in the path, e.g. a middlebox that lost its state): the interface, the
# addresses and the routes stay, only that flow dies. Counters in impair1 (router-nft.txt).
lab_drop_flow() {
  lab_ns qlab-r nft -f - <<NFT
add rule inet qlab_r impair1 ip saddr $1 udp sport $2 counter drop
add rule inet qlab_r impair1 ip daddr $1 udp dport $2 counter drop
NFT
}

# lab_default_route NET: the client host's default route (the network a new unbound socket and
# a sourceless route lookup use).
lab_default_route() {
  local net=$1 gw gw6
  if [ "$net" = 1 ]; then gw=$LAB_R1 gw6=$LAB_R1_6; else gw=$LAB_R2 gw6=$LAB_R2_6; fi
  lab_ns qlab-c ip route replace default via "$gw" dev "n$net" &&
    lab_ns qlab-c ip -6 route replace default via "$gw6" dev "n$net"
}

# lab_rebind CLIENT_IP CLIENT_PORT NEW_IP NEW_PORT: from now on the router rewrites the client's
# flow statelessly (RFC 9000 §9.3 NAT rebinding as a server sees it): outbound source
# CLIENT_IP:CLIENT_PORT becomes NEW_IP:NEW_PORT, inbound NEW_IP:NEW_PORT goes back to the client.
# NEW_IP == CLIENT_IP is a port-only rebinding. One nft transaction swaps the rules.
lab_rebind() {
  local cip=$1 cport=$2 nip=$3 nport=$4
  lab_ns qlab-r nft -f - <<NFT
flush chain inet qlab_r rebind
add rule inet qlab_r rebind ip saddr $cip udp sport $cport notrack ip saddr set $nip udp sport set $nport counter
add rule inet qlab_r rebind ip daddr $nip udp dport $nport notrack ip daddr set $cip udp dport set $cport counter
NFT
}

lab_unbind() { lab_ns qlab-r nft flush chain inet qlab_r rebind; }

# lab_client_port_range LOW HIGH: ephemeral ports of the client host (a narrow range makes the
# 4-tuple load balancer's choice for an unbound socket predictable).
lab_client_port_range() { lab_ns qlab-c sysctl -qw net.ipv4.ip_local_port_range="$1 $2" >/dev/null; }

# lab_lb_map SRC_IP PORT...: which instance (a|b) the load balancer picks for each source, one
# "PORT INSTANCE" line each. Sends one small datagram per port from the client host to the VIP's
# LAB_LB_PROBE_PORT (nothing listens: the instances answer with ICMP port unreachable, which is
# harmless) and reads the LB's to_a / to_b sets. In (c)/(d) the conntrack entries stay, with the
# same choice the real flow gets; in (e) they are on the probe port (the hash alone).
lab_lb_map() {
  local src=$1
  shift
  lab_ns qlab-c python3 "$LAB_DIR/lbprobe.py" "$src" "$LAB_VIP" "$LAB_LB_PROBE_PORT" "$@" || return 1
  sleep 0.2
  _lab_lb_sets "$src" "$@"
}

# lab_cid_map SRC_IP DCID_HEX PORT...: as lab_lb_map, but each datagram is a QUIC short header
# with DCID_HEX to the service port (topology e: where the CID rules send it).
lab_cid_map() {
  local src=$1 dcid=$2
  shift 2
  lab_ns qlab-c python3 "$LAB_DIR/lbprobe.py" --dcid "$dcid" --wait-ms 50 "$src" "$LAB_VIP" "$LAB_PORT" "$@" >/dev/null || return 1
  sleep 0.2
  _lab_lb_sets "$src" "$@"
}

_lab_lb_sets() {  # SRC_IP PORT...: "PORT INSTANCE" for those source ports of SRC_IP in to_a / to_b
  local src=$1 set
  shift
  for set in to_a to_b; do
    lab_ns qlab-l nft list set ip qlab_lb "$set" | tr ',{}' '\n' | sed -n 's/^[[:space:]]*\([0-9.]*\) \. \([0-9]*\).*/\1 \2/p' |
      awk -v src="$src" -v inst="${set#to_}" -v want=" $* " '$1 == src && index(want, " " $2 " ") { print $2, inst }'
  done | sort -n
}

# lab_selftest TOPO: build, ping every address a scenario uses, tear down.
lab_selftest() {
  local topo=$1 ok=0 t
  lab_up "$topo" || return 1
  _ping() { if lab_ns qlab-c ping -c1 -W2 -I "$1" "$2" >/dev/null 2>&1; then echo "ok   $1 -> $2"; else echo "FAIL $1 -> $2"; ok=1; fi; }
  case "$topo" in
    a) for t in $LAB_HS $LAB_SPA4; do _ping $LAB_C1 $t; _ping $LAB_C2 $t; done
       _ping $LAB_C1_6 $LAB_SPA6; _ping $LAB_C2_6 $LAB_SPA6 ;;
    b) _ping $LAB_C1 $LAB_ANYCAST; _ping $LAB_C2 $LAB_ANYCAST; _ping $LAB_C1 $LAB_SPA4; _ping $LAB_C2 $LAB_SPA4
       _ping $LAB_C1_6 $LAB_ANYCAST6; _ping $LAB_C2_6 $LAB_SPA6
       # Which instance answers the Anycast address from each network: its TTL-independent proof
       # is the router's per-interface counters; checked by the scenarios' captures instead.
       ;;
    c | d) _ping $LAB_C1 $LAB_A_IP; _ping $LAB_C2 $LAB_B_IP
       echo "LB map for $LAB_C1 ports 40000-40007:"; lab_lb_map $LAB_C1 40000 40001 40002 40003 40004 40005 40006 40007 ;;
    e) _ping $LAB_C1 $LAB_A_IP; _ping $LAB_C2 $LAB_B_IP
       echo "LB hash map for $LAB_C1 ports 40000-40007 (long headers, unknown server IDs):"
       lab_lb_map $LAB_C1 40000 40001 40002 40003 40004 40005 40006 40007
       # The CID rules: the same 8 source ports again (new 4-tuples: other ports), each datagram
       # a short header naming A, then B, then an unknown server ID and the unroutable 0b111.
       _cid_check() {  # label first-port dcid expected(a|b|hash)
         local got want
         got=$(lab_cid_map $LAB_C1 "$3" $(seq "$2" $(($2 + 7))) | awk '{print $2}' | tr '\n' ' ')
         want=$4
         if [ "$want" = hash ]; then
           want=$(lab_lb_map $LAB_C1 $(seq "$2" $(($2 + 7))) | awk '{print $2}' | tr '\n' ' ')
         else
           want=$(printf "$want %.0s" 1 2 3 4 5 6 7 8)
         fi
         if [ "$got" = "$want" ]; then echo "ok   $1: $got"; else echo "FAIL $1: got '$got', want '$want'"; ok=1; fi
       }
       _cid_check "server ID $LAB_SID_A -> a" 40100 "00$(printf %02x $LAB_SID_A)$(printf '%032d' 0)" a
       _cid_check "server ID $LAB_SID_B -> b" 40200 "00$(printf %02x $LAB_SID_B)$(printf '%032d' 0)" b
       _cid_check "unknown server ID 0x07 -> hash" 40300 "0007$(printf '%032d' 0)" hash
       _cid_check "config rotation 0b111 (server ID octet $LAB_SID_A) -> hash" 40400 "e0$(printf %02x $LAB_SID_A)$(printf '%032d' 0)" hash ;;
  esac
  lab_down
  return $ok
}

LAB_DIR=${LAB_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  [ "$(id -u)" = 0 ] || { echo "netlab.sh: needs root (network namespaces)" >&2; exit 1; }
  cmd=${1:-}
  case "$cmd" in
    up) lab_lock 900 && lab_up "${2:?topology a|b|c|d|e}" ;;
    down) lab_lock 900 && lab_down ;;
    selftest)
      lab_lock 900 || exit 1
      trap lab_down EXIT
      lab_selftest "${2:?topology a|b|c|d|e}" ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
  esac
fi
