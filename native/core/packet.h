// Byte-level views of the headers the data plane touches, and protocol numbers.
//
// All multi-byte fields are big-endian on the wire; the helpers read and
// write them with explicit byte order and never assume alignment.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft {

inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kIpv4MinHeaderLen = 20;
inline constexpr size_t kIpv6HeaderLen = 40;
inline constexpr size_t kUdpHeaderLen = 8;
inline constexpr size_t kVxlanHeaderLen = 8;
// What VXLAN adds in front of the inner IP packet inside the UDP payload.
inline constexpr size_t kVxlanEncapLen = kVxlanHeaderLen + kEthHeaderLen;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;

inline uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// IPv4 header field offsets.
namespace ipv4 {
inline constexpr size_t kVerIhl = 0;
inline constexpr size_t kTotalLen = 2;
inline constexpr size_t kId = 4;
inline constexpr size_t kFragOff = 6;
inline constexpr size_t kTtl = 8;
inline constexpr size_t kProto = 9;
inline constexpr size_t kCheck = 10;
inline constexpr size_t kSrc = 12;
inline constexpr size_t kDst = 16;
inline constexpr uint16_t kMoreFragments = 0x2000;
inline constexpr uint16_t kOffsetMask = 0x1fff;
}  // namespace ipv4

// IPv6 header field offsets (RFC 8200) and extension header numbers.
namespace ipv6 {
inline constexpr size_t kPayloadLen = 4;
inline constexpr size_t kNextHeader = 6;
inline constexpr size_t kHopLimit = 7;
inline constexpr size_t kSrc = 8;
inline constexpr size_t kDst = 24;
inline constexpr uint8_t kHopByHop = 0;
inline constexpr uint8_t kRouting = 43;
inline constexpr uint8_t kFragment = 44;
inline constexpr uint8_t kAuth = 51;
inline constexpr uint8_t kDestOpts = 60;
// Longest extension header chain we walk; a longer one is malformed (RFC
// 8200 recommends at most one of each, ~6 in all; the kernel caps options too).
inline constexpr size_t kMaxExtHeaders = 8;
}  // namespace ipv6

// TCP header field offsets (from the start of the TCP header).
namespace tcp {
inline constexpr size_t kSeq = 4;
inline constexpr size_t kAck = 8;
inline constexpr size_t kDataOff = 12;  // header length in 32-bit words, high nibble
inline constexpr size_t kFlags = 13;
inline constexpr size_t kWindow = 14;
inline constexpr size_t kCheck = 16;
inline constexpr size_t kMinHeaderLen = 20;
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAckFlag = 0x10;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcp

// UDP header field offsets.
namespace udp {
inline constexpr size_t kLen = 4;
inline constexpr size_t kCheck = 6;
}  // namespace udp

// The netmask of an IPv4 prefix length (0..32), host order.
inline constexpr uint32_t PrefixMask(uint32_t prefix_len) {
  return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len);
}

// True when the first `prefix_len` bits (0..128) of `a` and `b` are equal.
inline bool SamePrefix6(const uint8_t* a, const uint8_t* b, uint32_t prefix_len) {
  size_t i = 0;
  for (; prefix_len >= 8; prefix_len -= 8, i++) {
    if (a[i] != b[i]) return false;
  }
  if (prefix_len == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> prefix_len);
  return ((a[i] ^ b[i]) & mask) == 0;
}

// Copies the first `prefix_len` bits of `a` to `out` (16 bytes), the rest zero.
inline void MaskPrefix6(const uint8_t* a, uint32_t prefix_len, uint8_t* out) {
  for (size_t i = 0; i < 16; i++) {
    const uint32_t bits = prefix_len >= 8 * (i + 1) ? 8 : (prefix_len > 8 * i ? prefix_len - 8 * i : 0);
    out[i] = static_cast<uint8_t>(a[i] & static_cast<uint8_t>(0xff00u >> bits));
  }
}

// The IPv4 header length in bytes (IHL * 4) of the header at `ip`.
inline size_t Ipv4HeaderLen(const uint8_t* ip) { return static_cast<size_t>(ip[ipv4::kVerIhl] & 0x0f) * 4; }

// The TCP header length in bytes (data offset * 4) of the header at `tcp`.
inline size_t TcpHeaderLen(const uint8_t* tcp) { return static_cast<size_t>(tcp[tcp::kDataOff] >> 4) * 4; }

}  // namespace weft
