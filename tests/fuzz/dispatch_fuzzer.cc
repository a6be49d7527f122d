// tests/fuzz/dispatch_fuzzer.cc — libFuzzer target for qamp-server's pre-ngtcp2 dispatch
// (qamp/admission.h): classify_datagram on arbitrary datagrams, then admit on the counts the
// input encodes. A broken promise is an abort(), so libFuzzer (and the fuzz-smoke replay)
// report it; ASan catches any read outside the datagram.
//
// Input layout: byte 0 selects the Retry mode (bits 0-1) and whether the datagram's own DCID is
// "known" (bit 2); bytes 1-3 are connections, half-open and the token verdict; the rest is
// the datagram.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "qamp/admission.h"

namespace {

using namespace qamp;

void expect(bool ok, const char *promise) {
  if (ok) return;
  std::fprintf(stderr, "dispatch_fuzzer: broken promise: %s\n", promise);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t sel = data[0];
  std::span<const std::uint8_t> dgram(data + 4, size - 4);
  bool all_known = sel & 0x4;
  int calls = 0;
  auto c = classify_datagram(dgram, 18, [&](std::span<const std::uint8_t> dcid) {
    ++calls;
    expect(dcid.data() >= dgram.data() && dcid.data() + dcid.size() <= dgram.data() + dgram.size(),
           "the DCID handed to is_known lies inside the datagram");
    return all_known;
  });
  expect(to_string(c.kind) != "?", "every class has a name");
  expect(
      c.dcid.empty() || (c.dcid.data() >= dgram.data() && c.dcid.data() + c.dcid.size() <= dgram.data() + dgram.size()),
      "the classified DCID lies inside the datagram");
  // RFC 8999 §5.1: up to 255 bytes in a version-independent long header (VN, version 0, or
  // unknown); RFC 9000 §17.2: at most 20 in what becomes a new connection; short headers carry
  // the server's own length.
  expect(c.dcid.size() <= 255, "a DCID is at most 255 bytes (RFC 8999 §5.1)");
  if (c.kind == DatagramClass::new_initial) expect(c.dcid.size() <= 20, "a new Initial's DCID is at most 20 bytes");
  if (c.kind == DatagramClass::unknown_short_header || c.kind == DatagramClass::known_connection)
    expect(dgram[0] & 0x80 || c.dcid.size() == 18, "a short header's DCID has the server's CID length");
  switch (c.kind) {
    case DatagramClass::drop_undecodable: expect(calls == 0, "an undecodable datagram is never looked up"); break;
    case DatagramClass::known_connection:
      expect(all_known && calls == 1, "known-connection only for a known DCID");
      break;
    case DatagramClass::unknown_short_header:
      expect(!(dgram[0] & 0x80) && !all_known, "unknown-short-header is a short header with an unknown DCID");
      break;
    case DatagramClass::new_initial:
    case DatagramClass::drop_unknown_long_header:
      expect((dgram[0] & 0x80) && !all_known, "a new Initial is a long header with an unknown DCID");
      if (c.kind == DatagramClass::new_initial)
        expect(dgram.size() >= 1200, "a client Initial fills 1200 bytes (RFC 9000 §14.1)");
      break;
    case DatagramClass::version_negotiation:
      expect((dgram[0] & 0x80) && calls == 0, "version negotiation answers long headers only, before any lookup");
      break;
  }

  AdmissionConfig cfg;
  cfg.retry = static_cast<RetryMode>((sel & 0x3) % 3);
  cfg.max_connections = 100;
  cfg.max_half_open = 50;
  cfg.retry_threshold = 20;
  AdmissionInput in;
  in.connections = data[1];
  in.half_open = std::min<std::size_t>(data[2], in.connections);
  in.token = static_cast<TokenVerdict>(data[3] % 3);
  auto d = admit(cfg, in);
  expect(to_string(d.action) != "?" && to_string(d.reason) != "?", "every decision has a name");
  if (in.connections >= cfg.max_connections || in.half_open >= cfg.max_half_open)
    expect(d.action == AdmissionAction::refuse, "no connection beyond a cap");
  if (in.token == TokenVerdict::invalid) expect(d.action == AdmissionAction::refuse, "an invalid token is refused");
  if (d.action == AdmissionAction::retry)
    expect(in.token == TokenVerdict::none && cfg.retry != RetryMode::off, "Retry only when enabled and unvalidated");
  if (cfg.retry == RetryMode::off) expect(d.action != AdmissionAction::retry, "--retry=off never retries");
  return 0;
}
