#include "decap.h"

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

Verdict Decapsulator::Admit(const uint8_t* pkt, uint32_t outer_src) const {
  // No IPv6 overlay yet (the send side drops IPv6 as noRoute, the device has
  // IPv6 disabled): an IPv6 frame from the underlay is not ours to deliver.
  if ((pkt[ipv4::kVerIhl] >> 4) != 4) return kDropNotIp;
  // Peers only encapsulate what their route for the network sends them; a
  // decapsulated packet for any other address (a host address, loopback,
  // the internet) would make this node a relay for whoever reaches its port.
  if ((Load32(pkt + ipv4::kDst) & network_mask_) != network_) return kDropBadDestination;
  if (config_.check_inner_source) {
    table::EntryData lease;
    if (!table_->Lookup(Load32(pkt + ipv4::kSrc), &lease) || lease.family != 4 ||
        Load32(lease.public_ip) != outer_src) {
      return kDropBadSource;
    }
  }
  return kForward;
}

}  // namespace weft
