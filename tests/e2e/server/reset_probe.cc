// reset_probe — sends one short-header datagram with a chosen DCID to a server over UDP and
// reports whether a Stateless Reset came back, checking it against RFC 9000 §10.3:
//   reset_probe [from=LOCAL_IP] ADDR:PORT DCID_HEX DATAGRAM_LEN SECRET_FILE expect=reset|none [wait_ms [TOKEN_HEX]]
// from=LOCAL_IP: send from that address (e.g. 127.0.1.9, another source prefix than a flood's).
// With expect=reset the answer must be shorter than the probe, at least 21 bytes, a short header,
// and end in the token derived from SECRET_FILE and the DCID (ngtcp2_crypto's HKDF derivation,
// as qamp-server computes it). With expect=none nothing may arrive within wait_ms.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <poll.h>
#include <string>
#include <unistd.h>
#include <vector>

#include <ngtcp2/ngtcp2_crypto.h>

#include "qamp/hex.h"
#include "net.h"

using namespace qamp::common;
using qamp::Endpoint;

int main(int argc, char **argv) {
  std::string from;
  if (argc > 1 && std::strncmp(argv[1], "from=", 5) == 0) {
    from = argv[1] + 5;
    --argc;
    ++argv;
  }
  if (argc < 6) {
    std::fprintf(stderr, "usage: reset_probe ADDR:PORT DCID_HEX LEN SECRET_FILE expect=reset|none [wait_ms]\n");
    return 2;
  }
  auto server = Endpoint::parse(argv[1]);
  auto dcid = qamp::from_hex(argv[2], "DCID");
  auto len = std::stoul(argv[3]);
  std::ifstream f(argv[4], std::ios::binary);
  std::vector<std::uint8_t> secret(std::istreambuf_iterator<char>(f), {});
  std::string expect = argv[5];
  int wait_ms = argc > 6 ? std::stoi(argv[6]) : 500;
  if (!server || !dcid || len < 1 + dcid->size() || secret.empty()) {
    std::fprintf(stderr, "reset_probe: bad arguments\n");
    return 2;
  }
  auto lp = parse_host_port(!from.empty() ? from : server->family() == AF_INET ? "0.0.0.0" : "::", "0");
  if (!lp) {
    std::fprintf(stderr, "reset_probe: bad from= address %s\n", from.c_str());
    return 2;
  }
  std::string err;
  int fd = bind_udp(*lp, &err);
  if (fd < 0) {
    std::fprintf(stderr, "reset_probe: %s\n", err.c_str());
    return 2;
  }
  std::vector<std::uint8_t> pkt(len);
  random_bytes(pkt);
  pkt[0] = 0x40 | (pkt[0] & 0x3f);  // short header, fixed bit set
  std::copy(dcid->begin(), dcid->end(), pkt.begin() + 1);
  sendto(fd, pkt.data(), pkt.size(), 0, server->sa(), server->size());

  pollfd p{fd, POLLIN, 0};
  std::vector<std::uint8_t> buf(2048);
  int got = poll(&p, 1, wait_ms) > 0 ? static_cast<int>(recv(fd, buf.data(), buf.size(), 0)) : -1;
  if (expect == "expect=none") {
    if (got >= 0) {
      std::printf("FAIL: expected silence, got a %d-byte datagram\n", got);
      return 1;
    }
    std::printf("ok: no answer to a %zu-byte probe within %d ms\n", len, wait_ms);
    return 0;
  }
  if (got < 0) {
    std::printf("FAIL: expected a stateless reset, got nothing within %d ms\n", wait_ms);
    return 1;
  }
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid->data(), dcid->size());
  std::uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  ngtcp2_crypto_generate_stateless_reset_token(token, secret.data(), secret.size(), &cid);
  bool token_ok = got >= 21 && std::memcmp(buf.data() + got - 16, token, 16) == 0;
  if (argc > 7) {  // the token the peer was given (e.g. in preferred_address) must be the same
    auto want = qamp::from_hex(argv[7], "TOKEN");
    if (!want || want->size() != 16 || std::memcmp(want->data(), token, 16) != 0) {
      std::printf("FAIL: token %s advertised to the client is not the one derived from the secret\n", argv[7]);
      return 1;
    }
  }
  bool size_ok = got >= 21 && static_cast<std::size_t>(got) < len;
  bool header_ok = got > 0 && (buf[0] & 0xc0) == 0x40;
  std::printf("%s: %d-byte reset for a %zu-byte probe (token %s, size %s, header %s)\n",
              token_ok && size_ok && header_ok ? "ok" : "FAIL", got, len, token_ok ? "matches" : "WRONG",
              size_ok ? "ok" : "WRONG", header_ok ? "ok" : "WRONG");
  return token_ok && size_ok && header_ok ? 0 : 1;
}
