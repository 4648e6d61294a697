#include "codec.h"

#include <cstring>

#include "checksum.h"
#include "packet.h"

namespace weft {

Verdict CheckIpv4(const uint8_t* pkt, size_t len, size_t* ip_len) {
  if (len < kIpv4MinHeaderLen) return kDropMalformed;
  if ((pkt[ipv4::kVerIhl] >> 4) != 4) return kDropMalformed;
  const size_t ihl = Ipv4HeaderLen(pkt);
  const size_t total = Load16(pkt + ipv4::kTotalLen);
  if (ihl < kIpv4MinHeaderLen || total < ihl || total > len) return kDropMalformed;
  *ip_len = total;
  return kForward;
}

Verdict CheckIpv6(const uint8_t* pkt, size_t len, size_t* ip_len) {
  if (len < kIpv6HeaderLen || (pkt[0] >> 4) != 6) return kDropMalformed;
  const size_t payload = Load16(pkt + ipv6::kPayloadLen);
  const size_t total = kIpv6HeaderLen + payload;
  if (payload == 0 || total > len) return kDropMalformed;
  uint8_t proto = 0;
  size_t l4_off = 0;
  const Verdict v = Ipv6Upper(pkt, total, &proto, &l4_off);
  if (v != kForward) return v;
  *ip_len = total;
  return kForward;
}

Verdict Ipv6Upper(const uint8_t* pkt, size_t ip_len, uint8_t* proto, size_t* l4_off) {
  uint8_t next = pkt[ipv6::kNextHeader];
  size_t off = kIpv6HeaderLen;
  for (size_t n = 0;; n++) {
    size_t hlen;
    switch (next) {
      case ipv6::kHopByHop:
        if (n != 0) return kDropMalformed;  // RFC 8200 4.3: only right after the IPv6 header
        [[fallthrough]];
      case ipv6::kRouting:
      case ipv6::kDestOpts:
        if (off + 2 > ip_len) return kDropMalformed;
        hlen = (static_cast<size_t>(pkt[off + 1]) + 1) * 8;
        break;
      case ipv6::kAuth:
        if (off + 2 > ip_len) return kDropMalformed;
        hlen = (static_cast<size_t>(pkt[off + 1]) + 2) * 4;
        break;
      case ipv6::kFragment:
        if (off + 8 > ip_len) return kDropMalformed;
        if ((Load16(pkt + off + 2) & 0xfff8) != 0) {  // not the first fragment: no L4 header here
          *proto = ipv6::kFragment;
          *l4_off = off;
          return kForward;
        }
        hlen = 8;
        break;
      default:
        *proto = next;
        *l4_off = off;
        return kForward;
    }
    if (n + 1 >= ipv6::kMaxExtHeaders || off + hlen > ip_len) return kDropMalformed;
    next = pkt[off];
    off += hlen;
  }
}

Verdict DecrementTtl(uint8_t* ip) {
  const uint8_t ttl = ip[ipv4::kTtl];
  if (ttl <= 1) return kDropTtlExpired;
  // TTL shares a 16-bit word with the protocol byte.
  const uint16_t old_word = Load16(ip + ipv4::kTtl);
  ip[ipv4::kTtl] = static_cast<uint8_t>(ttl - 1);
  const uint16_t new_word = Load16(ip + ipv4::kTtl);
  Store16(ip + ipv4::kCheck, ChecksumUpdate16(Load16(ip + ipv4::kCheck), old_word, new_word));
  return kForward;
}

Verdict UdpDecap(uint8_t* payload, size_t len, size_t* ip_len) {
  const Verdict v = CheckIpv4(payload, len, ip_len);
  if (v != kForward) return v;
  return DecrementTtl(payload);
}

uint8_t* VxlanEncap(uint8_t* inner, uint16_t ethertype, uint32_t vni, const uint8_t dst_mac[6],
                    const uint8_t src_mac[6]) {
  uint8_t* eth = inner - kEthHeaderLen;
  std::memcpy(eth, dst_mac, 6);
  std::memcpy(eth + 6, src_mac, 6);
  Store16(eth + 12, ethertype);
  uint8_t* vx = eth - kVxlanHeaderLen;
  Store32(vx, 0x08000000u);   // flags = I, reserved = 0
  Store32(vx + 4, vni << 8);  // VNI, reserved = 0
  return vx;
}

Verdict VxlanDecap(const uint8_t* payload, size_t len, uint32_t vni, const uint8_t own_mac[6], size_t* inner_off,
                   size_t* inner_len) {
  if (len < kVxlanHeaderLen) return kDropMalformed;
  // Like the kernel: the I flag is required, every other flag and reserved
  // bit must be zero (no GBP, no GPE).
  if (Load32(payload) != 0x08000000u || payload[7] != 0) return kDropBadFlags;
  if ((Load32(payload + 4) >> 8) != vni) return kDropBadVni;
  if (len < kVxlanEncapLen) return kDropMalformed;
  const uint8_t* eth = payload + kVxlanHeaderLen;
  if (std::memcmp(eth, own_mac, 6) != 0) return kDropBadMac;
  if (std::memcmp(eth + 6, own_mac, 6) == 0) return kDropOwnMac;
  const uint8_t* ip = eth + kEthHeaderLen;
  const size_t avail = len - kVxlanEncapLen;
  Verdict v;
  switch (Load16(eth + 12)) {
    case kEtherTypeIpv4:
      v = CheckIpv4(ip, avail, inner_len);
      break;
    case kEtherTypeIpv6:
      v = CheckIpv6(ip, avail, inner_len);
      break;
    default:
      return kDropNotIp;
  }
  if (v != kForward) return v;
  *inner_off = kVxlanEncapLen;
  return kForward;
}

size_t BuildNetUnreachable(const uint8_t* offender, size_t len, uint32_t src_ip, uint8_t* out, size_t cap) {
  if (offender[ipv4::kProto] == kProtoIcmp) return 0;
  if ((Load16(offender + ipv4::kFragOff) & ipv4::kOffsetMask) != 0) return 0;
  const size_t ihl = Ipv4HeaderLen(offender);
  size_t quoted = ihl + 8;
  if (quoted > len) quoted = len;
  const size_t total = kIpv4MinHeaderLen + 8 + quoted;
  if (total > cap) return 0;

  uint8_t* ip = out;
  std::memset(ip, 0, kIpv4MinHeaderLen + 8);
  ip[ipv4::kVerIhl] = 0x45;
  Store16(ip + ipv4::kTotalLen, static_cast<uint16_t>(total));
  ip[ipv4::kTtl] = 8;
  ip[ipv4::kProto] = kProtoIcmp;
  Store32(ip + ipv4::kSrc, src_ip);
  std::memcpy(ip + ipv4::kDst, offender + ipv4::kSrc, 4);
  Store16(ip + ipv4::kCheck, Checksum(ip, kIpv4MinHeaderLen));

  uint8_t* icmp = ip + kIpv4MinHeaderLen;
  icmp[0] = 3;  // destination unreachable
  icmp[1] = 0;  // net unreachable
  std::memcpy(icmp + 8, offender, quoted);
  Store16(icmp + 2, Checksum(icmp, 8 + quoted));
  return total;
}

}  // namespace weft

namespace weft {

uint16_t Ipv6L4Checksum(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, const uint8_t* l4, size_t len) {
  uint32_t sum = ChecksumAdd(0, src, 16);
  sum = ChecksumAdd(sum, dst, 16);
  sum += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff) + proto;
  return static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(sum, l4, len)));
}

size_t BuildNoRoute6(const uint8_t* offender, size_t len, const uint8_t src[16], uint8_t* out, size_t cap) {
  static const uint8_t kUnspecified[16] = {};
  const uint8_t* osrc = offender + ipv6::kSrc;
  if (offender[ipv6::kDst] == 0xff || osrc[0] == 0xff || std::memcmp(osrc, kUnspecified, 16) == 0) return 0;
  uint8_t proto = 0;
  size_t l4 = 0;
  if (Ipv6Upper(offender, len, &proto, &l4) != kForward) return 0;
  // Never an error about an error (types 0..127); an ICMPv6 header cut short counts as one.
  if (proto == kProtoIcmpv6 && (l4 >= len || offender[l4] < 128)) return 0;
  size_t quoted = len;
  if (quoted > kIcmp6MaxLen - kIpv6HeaderLen - 8) quoted = kIcmp6MaxLen - kIpv6HeaderLen - 8;
  const size_t total = kIpv6HeaderLen + 8 + quoted;
  if (total > cap) return 0;

  uint8_t* ip = out;
  std::memset(ip, 0, kIpv6HeaderLen + 8);
  ip[0] = 0x60;
  Store16(ip + ipv6::kPayloadLen, static_cast<uint16_t>(8 + quoted));
  ip[ipv6::kNextHeader] = kProtoIcmpv6;
  ip[ipv6::kHopLimit] = kIcmp6HopLimit;
  std::memcpy(ip + ipv6::kSrc, src, 16);
  std::memcpy(ip + ipv6::kDst, osrc, 16);
  uint8_t* icmp = ip + kIpv6HeaderLen;
  icmp[0] = kIcmp6DestUnreachable;
  icmp[1] = kIcmp6NoRoute;
  std::memcpy(icmp + 8, offender, quoted);
  Store16(icmp + 2, Ipv6L4Checksum(ip + ipv6::kSrc, ip + ipv6::kDst, kProtoIcmpv6, icmp, 8 + quoted));
  return total;
}

}  // namespace weft
