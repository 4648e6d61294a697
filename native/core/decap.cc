#include "decap.h"

#include <cstring>

namespace weft {

Decapsulator::Decapsulator(const DecapConfig& config, const Table* table)
    : config_(config),
      table_(table),
      network_mask_(PrefixMask(config.network_prefix_len)),
      network_(config.network & network_mask_),
      run_(config.coalesce_udp) {}

Verdict Decapsulator::Decode(uint8_t* d, size_t len, size_t* inner_off, size_t* ip_len) const {
  if (config_.backend == table::kBackendUdp) {
    *inner_off = 0;
    return UdpDecap(d, len, ip_len);
  }
  return VxlanDecap(d, len, config_.vni, config_.own_mac, inner_off, ip_len);
}

Verdict Decapsulator::AdmitFrom(const uint8_t* pkt, Outer outer) const {
  // Peers only encapsulate what their route for the network sends them; a
  // decapsulated packet for any other address (a host address, loopback,
  // the internet) would make this node a relay for whoever reaches its port.
  // Each underlay carries its own family only (decap.h).
  const uint8_t version = pkt[ipv4::kVerIhl] >> 4;
  if (version == 6) {
    if (!config_.ipv6) return kDropNotIp;  // no IPv6 overlay: not ours to deliver
    if (config_.underlay_family != 6) return kDropBadDestination;
    if (!SamePrefix6(pkt + ipv6::kDst, config_.network6, config_.network6_prefix_len)) return kDropBadDestination;
    if (config_.check_inner_source) {
      table::EntryData lease;
      if (!table_->Lookup6(pkt + ipv6::kSrc, &lease) || lease.family != 6 ||
          std::memcmp(lease.public_ip, outer.v6, 16) != 0) {
        return kDropBadSource;
      }
    }
    return kForward;
  }
  if (version != 4) return kDropNotIp;
  if (config_.underlay_family != 4) return kDropBadDestination;
  if ((Load32(pkt + ipv4::kDst) & network_mask_) != network_) return kDropBadDestination;
  if (config_.check_inner_source) {
    table::EntryData lease;
    if (!table_->Lookup(Load32(pkt + ipv4::kSrc), &lease) || lease.family != 4 || Load32(lease.public_ip) != outer.v4) {
      return kDropBadSource;
    }
  }
  return kForward;
}

}  // namespace weft
