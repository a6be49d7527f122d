// examples/server/steering.bpf.c — the kernel half of qamp-server --workers (README "Workers").
//
// A BPF_PROG_TYPE_SK_REUSEPORT program attached to one SO_REUSEPORT group of UDP sockets (one
// group per server address, one socket per worker). For each datagram it picks the socket of the
// worker named by the QUIC-LB server ID in the destination CID (draft-ietf-quic-load-balancers-21
// §5.2: plaintext, 1-octet server ID right after the first octet), so a client that migrates or
// rebinds reaches the worker that holds its connection. Everything else gets the kernel's
// 4-tuple hash (SK_PASS without a selection):
//   - long headers (Initial, 0-RTT, Handshake): the handshake's datagrams share a 4-tuple, so the
//     hash keeps them on one worker, the one whose CIDs the client then uses (nginx's quic_bpf
//     and Envoy do the same);
//   - short headers whose CID carries another config rotation (incl. 0b111, unroutable) or a
//     server ID outside this group: not one of ours; the worker the hash picks drops it without
//     a Stateless Reset (its reset guard sees another instance's CID);
//   - a worker that has gone (its map slot is empty): the hash.
// Counters (the `steering` array) say how many datagrams took which branch; the supervisor logs
// them at exit.
#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>

#define QAMP_MAX_WORKERS 64

struct {
  __uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
  __uint(max_entries, QAMP_MAX_WORKERS);
  __type(key, __u32);
  __type(value, __u64);
} workers SEC(".maps");

// Indexes into `steering` (keep in step with SteeringCounter in steering.h).
enum { by_cid = 0, long_header = 1, not_ours = 2, worker_gone = 3, too_short = 4, counter_count = 5 };

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, counter_count);
  __type(key, __u32);
  __type(value, __u64);
} steering SEC(".maps");

// Set by the loader before the program is loaded (read-only afterwards).
const volatile __u32 first_server_id = 0;  // worker k has server ID first_server_id + k
const volatile __u32 worker_count = 1;
const volatile __u32 config_rotation = 0;  // the QUIC-LB configuration's, 0..6

static __always_inline void count(__u32 what) {
  __u64 *v = bpf_map_lookup_elem(&steering, &what);
  if (v) __sync_fetch_and_add(v, 1);
}

SEC("sk_reuseport")
int qamp_steer(struct sk_reuseport_md *md) {
  // ctx data starts at the UDP header; the QUIC packet follows its 8 octets. Octet 0: header
  // form; a short header's DCID starts at octet 1: its first octet (config rotation in the top
  // 3 bits), then the server ID.
  __u8 head[3];
  if (bpf_skb_load_bytes(md, 8, head, sizeof head) != 0) {
    count(too_short);
    return SK_PASS;
  }
  if (head[0] & 0x80) {
    count(long_header);
    return SK_PASS;
  }
  __u32 sid = head[2];
  if ((__u32)(head[1] >> 5) != config_rotation || sid < first_server_id || sid - first_server_id >= worker_count) {
    count(not_ours);
    return SK_PASS;
  }
  __u32 key = sid - first_server_id;
  if (bpf_sk_select_reuseport(md, &workers, &key, 0) != 0) {
    count(worker_gone);
    return SK_PASS;
  }
  count(by_cid);
  return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
