// The two encapsulations weft speaks, as pure functions over bytes.
//
// flannel "udp" (flannel pkg/backend/udp/proxy_amd64.c):
//
//   outer IPv4 | outer UDP (dst port 8285) | inner IPv4 packet, unchanged
//                                            but for TTL - 1
//
//   The inner TTL is decremented by the sender and again by the receiver,
//   with the header checksum patched incrementally (RFC 1624); a packet whose
//   TTL reaches 0 is dropped. Device MTU = underlay MTU - 28.
//
// VXLAN as the Linux vxlan driver sends and accepts it (RFC 7348):
//
//    0                   1                   2                   3
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |0 0 0 0 1 0 0 0|          reserved (0)                         |  flags: I bit only
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |            VNI (24 bits)                      | reserved (0)  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | inner Ethernet: dst = peer VtepMAC, src = our VtepMAC,         |
//   | ethertype 0x0800 / 0x86dd (no VLAN tag, no padding)            |
//   | inner IP packet ...                                            |
//
//   Received frames are dropped, as the kernel drops them, when a flag or
//   reserved bit other than I is set, the VNI is not ours, the inner
//   destination MAC is not our VtepMAC, or the inner source MAC is ours.
//   Device MTU = underlay MTU - 50.
//
// Nothing here does I/O, allocates or keeps state. Encapsulation writes its
// headers in front of the packet, into headroom the caller reserved.
#pragma once

#include <cstddef>
#include <cstdint>

#include "counters.h"

namespace weft {

// kForward or the drop counter that explains why not.
using Verdict = uint32_t;
inline constexpr Verdict kForward = 0xffffffffu;

// Checks that `pkt[0, len)` starts with a sane IPv4 header: version 4, IHL
// >= 5, header within `len`, IHL*4 <= total length <= len. On success sets
// `*ip_len` to the total length (bytes after it, e.g. Ethernet padding, are
// not part of the packet).
Verdict CheckIpv4(const uint8_t* pkt, size_t len, size_t* ip_len);

// The same for an IPv6 header: version 6, a non-zero payload length (no
// jumbograms) with 40 + payload length <= len, and an extension header
// chain that ends inside the packet within ipv6::kMaxExtHeaders headers,
// hop-by-hop options only first (Ipv6Upper).
Verdict CheckIpv6(const uint8_t* pkt, size_t len, size_t* ip_len);

// Walks the extension headers of the IPv6 packet `pkt[0, ip_len)`: on
// kForward, `*proto` is the upper-layer protocol (or ipv6::kFragment for a
// non-first fragment, whose L4 header is elsewhere) and `*l4_off` its offset.
Verdict Ipv6Upper(const uint8_t* pkt, size_t ip_len, uint8_t* proto, size_t* l4_off);

// Decrements the IPv4 TTL in place and patches the header checksum
// (RFC 1624). Returns kDropTtlExpired, leaving the packet as it was, when the
// TTL is 0 or would become 0. The header must have passed CheckIpv4.
Verdict DecrementTtl(uint8_t* ip);

// The udp backend's receive side: validate the datagram payload as IPv4 and
// decrement its TTL. `*ip_len` is the packet length to write to the TUN.
Verdict UdpDecap(uint8_t* payload, size_t len, size_t* ip_len);

// Prepends the VXLAN header and inner Ethernet header to the IP packet at
// `inner` (kVxlanEncapLen bytes of headroom in front of it must be writable)
// and returns the start of the UDP payload.
uint8_t* VxlanEncap(uint8_t* inner, uint16_t ethertype, uint32_t vni, const uint8_t dst_mac[6],
                    const uint8_t src_mac[6]);

// Validates a received VXLAN UDP payload for `vni` and `own_mac`. On
// kForward, the inner IP packet is `payload[*inner_off, *inner_off + *inner_len)`.
Verdict VxlanDecap(const uint8_t* payload, size_t len, uint32_t vni, const uint8_t own_mac[6], size_t* inner_off,
                   size_t* inner_len);

// Builds ICMP "destination unreachable / net unreachable" (type 3 code 0)
// from `src_ip` (host order) back to the offender's
// source, as flannel's proxy does: TTL 8, the offender's IP header plus 8
// bytes of its payload. Returns the length written to `out`, or 0 when none
// must be sent (the offender is ICMP, a non-first fragment, or `cap` is too
// small). `offender` must have passed CheckIpv4 with length `len`.
size_t BuildNetUnreachable(const uint8_t* offender, size_t len, uint32_t src_ip, uint8_t* out, size_t cap);

// Hop limit of the ICMPv6 errors weft writes back: the kernel's default
// (net.ipv6.conf.*.hop_limit), which its icmp6_send uses for them.
inline constexpr uint8_t kIcmp6HopLimit = 64;
// ICMPv6 destination unreachable, code 0 "no route to destination": what a
// Linux router answers (ip6_pkt_discard) for a destination with no route.
inline constexpr uint8_t kIcmp6DestUnreachable = 1;
inline constexpr uint8_t kIcmp6NoRoute = 0;
// An ICMPv6 error fits the IPv6 minimum MTU (RFC 4443 2.4(c)).
inline constexpr size_t kIcmp6MaxLen = 1280;

// Builds ICMPv6 destination unreachable / no route (type 1 code 0) from
// `src` (16 bytes) back to the offender's source, RFC 4443: hop limit
// kIcmp6HopLimit, as much of the offender as fits in 1280 bytes, checksum
// over the pseudo-header. Returns the length written to `out`, or 0 when none
// must be sent (RFC 4443 2.4(e): the offender is an ICMPv6 error, its
// destination is multicast, its source is unspecified or multicast; or `cap`
// is too small). `offender` must have passed CheckIpv6 with length `len`.
size_t BuildNoRoute6(const uint8_t* offender, size_t len, const uint8_t src[16], uint8_t* out, size_t cap);

// The ICMPv6 (and any upper-layer over IPv6) checksum of `l4[0, len)` with
// the pseudo-header of `src`, `dst` and `proto` (RFC 8200 8.1).
uint16_t Ipv6L4Checksum(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, const uint8_t* l4, size_t len);

}  // namespace weft
