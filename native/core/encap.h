// The send pipeline, once: what one packet read from the TUN becomes on the
// underlay. The worker (RunTunToUdp), the fuzzer (native/fuzz/fuzz_packets.cc)
// and the codec exports (native/binding/codec_exports.cc) all run this code.
//
//   TUN read [virtio_net_hdr] IPv4 or IPv6 packet
//     -> CheckIpv4 | CheckIpv6 (IPv6 only with an IPv6 overlay, vxlan: else noRoute;
//        IPv4 only with an IPv4 overlay: an IPv6-only node drops it as noRoute,
//        without an ICMP error, as it has no IPv4 address to send one from)
//     -> table lookup of the destination (Lookup / Lookup6; no entry: noRoute,
//        and the ICMP net unreachable / ICMPv6 no route due to the sender is
//        built, from the missing subnet's network address)
//     -> udp: TTL - 1 (a super-packet's segments all inherit it)
//     -> no GSO: [NEEDS_CSUM: finish the L4 checksum] -> one datagram
//        GSO:    Segment() cuts the super-packet into wire-size segments,
//                headers behind the packet, payloads left in place
//     -> vxlan: VXLAN + inner Ethernet in front of each datagram: IPv4 as
//        flannel.<VNI> sends it (0x0800, own_mac), IPv6 as flannel-v6.<VNI>
//        (0x86dd, own_mac6), to the lease's VtepMAC; the inner TTL / hop
//        limit is left alone, as the kernel's vxlan device does
//
// The result (Datagrams) is a list of iovecs the caller sends: how they are
// grouped into sendmmsg messages and UDP_SEGMENT trains is the caller's
// business (Worker). Nothing here allocates, locks or does I/O.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "codec.h"
#include "offload.h"
#include "packet.h"
#include "table.h"

namespace weft {

struct EncapConfig {
  uint8_t backend = table::kBackendVxlan;  // table::Backend (udp or vxlan)
  uint32_t vni = 0;                        // vxlan
  uint8_t own_mac[6] = {};                 // vxlan: source MAC of IPv4 frames (flannel.<VNI>'s)
  uint8_t own_mac6[6] = {};                // vxlan: source MAC of IPv6 frames (flannel-v6.<VNI>'s)
  bool vnet_hdr = false;                   // TUN reads start with a virtio_net_hdr
  bool ipv4 = true;                        // false: an IPv6-only node, inner IPv4 is noRoute (no ICMP)
};

// What one TUN read became.
struct Datagrams {
  // The inner IPv4 or IPv6 packet (its flow picks the send socket) and its length.
  const uint8_t* packet = nullptr;
  size_t ip_len = 0;
  // Where they go: the lease's PublicIP (family 4, peer_ip[0, 4)) or
  // PublicIPv6 (family 6, 16 bytes), network order. The underlay family is
  // the inner one: IPv4 over IPv4, IPv6 over IPv6, as kernel flannel does.
  uint8_t family = 4;
  uint8_t peer_ip[16] = {};
  // false: one datagram, iov[0]. true: `segs.count` segments, two iovecs
  // each (headers, payload): iov[0, 2 * segs.count).
  bool segmented = false;
  Segments segs{};
  // First byte behind everything the datagrams use (packet and headers).
  uint8_t* end = nullptr;
  // On kDropNoRoute: the ICMP / ICMPv6 error due to the sender (icmp_len 0: none).
  const uint8_t* icmp = nullptr;
  size_t icmp_len = 0;
};

class Encapsulator {
 public:
  // Most segments one super-packet may become: 64 KiB cut at TCP's smallest
  // MSS (48, net.ipv4.tcp_min_snd_mss); a super-packet that would need more
  // is dropped as malformed.
  static constexpr size_t kMaxSegments = 1400;
  // Header bytes a segment may need: encapsulation + IPv4 + L4, options
  // included (IPv6: 40 + extension headers + L4; a super-packet whose
  // segments' headers do not fit the room is dropped as malformed).
  static constexpr size_t kSegmentHeaderRoom = kVxlanEncapLen + 60 + 60;

  Encapsulator(const EncapConfig& config, const Table* table);
  Encapsulator(const Encapsulator&) = delete;
  Encapsulator& operator=(const Encapsulator&) = delete;

  // One TUN read `rd[0, n)`. kHeadroom bytes in front of the IP packet must
  // be writable (the encapsulation goes there), and [packet end, room_end)
  // may take segment headers. `iov` has room for `iov_cap` iovecs. Returns
  // kForward and fills `*out`, or the drop reason (counted in `c` with the
  // GSO reads, kCounterCount slots; on kDropNoRoute `out->icmp` may hold the
  // ICMP error to write back into the TUN).
  Verdict Encapsulate(uint8_t* rd, size_t n, uint8_t* room_end, struct iovec* iov, size_t iov_cap, uint64_t* c,
                      Datagrams* out);

  // Bytes in front of the inner packet in each datagram (VXLAN: 22, udp: 0).
  size_t prefix() const { return prefix_; }

 private:
  // The steps of Encapsulate.
  Verdict Route(uint8_t* pkt, size_t ip_len, table::EntryData* peer, Datagrams* out);
  Verdict Route6(uint8_t* pkt, size_t ip_len, table::EntryData* peer, Datagrams* out);
  Verdict One(uint8_t* pkt, size_t ip_len, const VnetHdr& h, const table::EntryData& peer, bool v6, struct iovec* iov,
              Datagrams* out);
  Verdict Segmented(uint8_t* pkt, size_t ip_len, const VnetHdr& h, const table::EntryData& peer, bool v6,
                    uint8_t* room_end, struct iovec* iov, size_t iov_cap, Datagrams* out);
  // The inner Ethernet header's ethertype and source MAC for a family.
  uint16_t EtherType(bool v6) const { return v6 ? kEtherTypeIpv6 : kEtherTypeIpv4; }
  const uint8_t* SourceMac(bool v6) const { return v6 ? config_.own_mac6 : config_.own_mac; }

  const EncapConfig config_;
  const Table* const table_;
  const uint32_t subnet_mask_;  // the network's SubnetLen as a mask
  const uint8_t subnet6_len_;   // the IPv6 network's subnet length (0: no IPv6 overlay)
  const bool ipv6_;             // vxlan with an IPv6 overlay: IPv6 packets are carried
  const size_t prefix_;
  uint8_t icmp_buf_[kIcmp6MaxLen];  // the ICMP(v6) error of the last packet without a route
};

}  // namespace weft
