#include "qamp/gate.h"

#include <arpa/inet.h>

#include <cstring>

namespace qamp {

namespace {

GateDecision make(GateReason reason, std::optional<Change> change) noexcept {
  return {verdict_of(reason), reason, change};
}

}  // namespace

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

GateDecision gate_decide(const Policy &policy, bool enforce, const PathView &current,
                         const PathView &incoming) noexcept {
  const auto cmp = classify_change(current.remote, incoming.remote);
  if (cmp == AddressChange::unsupported) return make(GateReason::unsupported_address, std::nullopt);

  if (current.local_role == incoming.local_role) {
    if (cmp == AddressChange::same) return make(GateReason::same_path, std::nullopt);
    const Change change = cmp == AddressChange::port_only ? Change::port_only : Change::ip_change;
    if (!enforce) return make(GateReason::enforcement_off, change);
    // The level of the address the client is talking to decides (DESIGN.md §2); port-only is
    // accepted everywhere because it looks exactly like NAT rebinding (RFC 9000 §9.3).
    const Decision d = server_accepts(policy.at(incoming.local_role), change);
    if (d.allowed)
      return make(change == Change::port_only ? GateReason::port_only_rebinding : GateReason::ip_change_allowed,
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

GateDecision Gate::admit(const PathView &current, const PathView &incoming, const Policy &policy) {
  const GateDecision d = gate_decide(policy, config_.enforce, current, incoming);
  ++counters_.by_reason[static_cast<std::size_t>(d.reason)];
  ++(d.accepted() ? counters_.accepted : counters_.dropped);
  if (observer_ && (!d.accepted() || d.reason != GateReason::same_path)) {
    observer_(GateEvent{d, current.local_role, Endpoint::from(current.remote).value_or(Endpoint{}), incoming.local_role,
                        Endpoint::from(incoming.remote).value_or(Endpoint{}), policy.at(incoming.local_role)});
  }
  return d;
}

}  // namespace qamp
