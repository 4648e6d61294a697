#include "encap.h"

#include <algorithm>
#include <cstring>

#include "packet.h"

namespace weft {

namespace {

inline uint8_t* Align8(uint8_t* p) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 7) & ~uintptr_t{7});
}

}  // namespace

Encapsulator::Encapsulator(const EncapConfig& config, const Table* table)
    : config_(config),
      table_(table),
      subnet_mask_(PrefixMask(table->header().subnet_len)),
      subnet6_len_(table->header().subnet6_len),
      ipv6_(config.backend == table::kBackendVxlan && table->has_ipv6()),
      prefix_(config.backend == table::kBackendVxlan ? kVxlanEncapLen : 0) {}

Verdict Encapsulator::Encapsulate(uint8_t* rd, size_t n, uint8_t* room_end, struct iovec* iov, size_t iov_cap,
                                  uint64_t* c, Datagrams* out) {
  *out = Datagrams{};
  VnetHdr h{};
  uint8_t* pkt = rd;
  size_t len = n;
  if (config_.vnet_hdr) {
    if (n < kVnetHdrLen) return c[kDropMalformed]++, kDropMalformed;
    std::memcpy(&h, rd, kVnetHdrLen);
    pkt += kVnetHdrLen;
    len -= kVnetHdrLen;
  }
  const bool v6 = len > 0 && (pkt[ipv4::kVerIhl] >> 4) == 6;
  // No IPv6 overlay (or the udp backend, which carries IPv4 only): no lease can match.
  if (v6 && !ipv6_) return c[kDropNoRoute]++, kDropNoRoute;
  // IPv6-only: no IPv4 lease exists and no IPv4 address to source an ICMP error from.
  if (!v6 && !config_.ipv4) return c[kDropNoRoute]++, kDropNoRoute;
  size_t ip_len = 0;
  table::EntryData peer;
  Verdict v = v6 ? CheckIpv6(pkt, len, &ip_len) : CheckIpv4(pkt, len, &ip_len);
  if (v == kForward) v = v6 ? Route6(pkt, ip_len, &peer, out) : Route(pkt, ip_len, &peer, out);
  // udp: the sender decrements the TTL (on a super-packet, every segment
  // inherits it). vxlan leaves TTL and hop limit alone.
  if (v == kForward && config_.backend == table::kBackendUdp) v = DecrementTtl(pkt);
  if (v == kForward) {
    out->packet = pkt;
    out->ip_len = ip_len;
    out->family = v6 ? 6 : 4;
    std::memcpy(out->peer_ip, peer.public_ip, v6 ? 16 : 4);
    if (h.gso_type == kGsoNone) {
      v = One(pkt, ip_len, h, peer, v6, iov, out);
    } else {
      c[kTunRxGsoPackets]++;
      v = Segmented(pkt, ip_len, h, peer, v6, room_end, iov, iov_cap, out);
    }
  }
  if (v != kForward) c[v]++;
  return v;
}

Verdict Encapsulator::Route(uint8_t* pkt, size_t ip_len, table::EntryData* peer, Datagrams* out) {
  const uint32_t dst = Load32(pkt + ipv4::kDst);
  if (table_->Lookup(dst, peer) && peer->family == 4 && (config_.backend != table::kBackendVxlan || peer->has_mac)) {
    return kForward;
  }
  // flannel sources this error from the node's own device address, which
  // the receiving kernel discards as a martian (a local address arriving
  // from outside). weft sources it from the gateway address (.0) of the
  // subnet that has no lease, so the sender actually learns why.
  out->icmp = icmp_buf_;
  out->icmp_len = BuildNetUnreachable(pkt, ip_len, dst & subnet_mask_, icmp_buf_, sizeof(icmp_buf_));
  return kDropNoRoute;
}

// An IPv6 destination: its lease (IPv6 leases all have the IPv6 network's
// subnet length), or ICMPv6 no route from the missing subnet's network
// address, as the IPv4 path sources its error from the missing subnet's .0.
Verdict Encapsulator::Route6(uint8_t* pkt, size_t ip_len, table::EntryData* peer, Datagrams* out) {
  const uint8_t* dst = pkt + ipv6::kDst;
  if (table_->Lookup6(dst, peer) && peer->family == 6 && peer->has_mac) return kForward;
  uint8_t src[16];
  MaskPrefix6(dst, subnet6_len_, src);
  out->icmp = icmp_buf_;
  out->icmp_len = BuildNoRoute6(pkt, ip_len, src, icmp_buf_, sizeof(icmp_buf_));
  return kDropNoRoute;
}

Verdict Encapsulator::One(uint8_t* pkt, size_t ip_len, const VnetHdr& h, const table::EntryData& peer, bool v6,
                          struct iovec* iov, Datagrams* out) {
  if (h.flags & kVnetNeedsCsum) {
    const Verdict v = CompleteChecksum(pkt, ip_len, h);
    if (v != kForward) return v;
  }
  uint8_t* payload = pkt;
  if (config_.backend == table::kBackendVxlan) {
    payload = VxlanEncap(pkt, EtherType(v6), config_.vni, peer.vtep_mac, SourceMac(v6));
  }
  iov[0] = {payload, ip_len + prefix_};
  out->end = pkt + ip_len;
  return kForward;
}

// A super-packet: segment headers go behind it, payloads stay where they
// are (scatter-gather).
Verdict Encapsulator::Segmented(uint8_t* pkt, size_t ip_len, const VnetHdr& h, const table::EntryData& peer, bool v6,
                                uint8_t* room_end, struct iovec* iov, size_t iov_cap, Datagrams* out) {
  uint8_t* hdrs = Align8(pkt + ip_len);
  const size_t hdr_cap = hdrs < room_end ? static_cast<size_t>(room_end - hdrs) : 0;
  Segments& segs = out->segs;
  const Verdict v = Segment(pkt, ip_len, h, prefix_, hdrs, hdr_cap, iov, std::min(iov_cap, 2 * kMaxSegments), &segs);
  if (v != kForward) return v;
  if (config_.backend == table::kBackendVxlan) {
    for (size_t i = 0; i < segs.count; i++) {
      VxlanEncap(hdrs + i * segs.hdr_block + prefix_, EtherType(v6), config_.vni, peer.vtep_mac, SourceMac(v6));
    }
  }
  out->segmented = true;
  out->end = hdrs + segs.count * segs.hdr_block;
  return kForward;
}

}  // namespace weft
