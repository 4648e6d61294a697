#include "offload.h"

#include <cstring>

#include "checksum.h"
#include "packet.h"

namespace weft {

namespace {

// Pseudo-header sum of an IPv4 packet's addresses and protocol (no length).
uint32_t PseudoBase(const uint8_t* ip) { return ChecksumAdd(0, ip + ipv4::kSrc, 8) + ip[ipv4::kProto]; }

// The same for IPv6 (RFC 8200 §8.1): addresses and the upper-layer protocol
// `proto` (the last next header of the chain); the 32-bit length is added by
// the caller like IPv4's 16-bit one (it is below 2^16 here).
uint32_t Pseudo6Base(const uint8_t* ip, uint8_t proto) { return ChecksumAdd(0, ip + ipv6::kSrc, 32) + proto; }

bool IsIpv6(const uint8_t* pkt) { return (pkt[0] >> 4) == 6; }

void SetIpv4Checksum(uint8_t* ip, size_t ihl) {
  Store16(ip + ipv4::kCheck, 0);
  Store16(ip + ipv4::kCheck, Checksum(ip, ihl));
}

}  // namespace

bool Ipv6SegmentableL4(const uint8_t* pkt, size_t ip_len, uint8_t* proto, size_t* l4_off) {
  uint8_t next = pkt[ipv6::kNextHeader];
  size_t off = kIpv6HeaderLen;
  for (size_t i = 0; i < ipv6::kMaxExtHeaders; i++) {
    if (next == kProtoTcp || next == kProtoUdp) {
      *proto = next;
      *l4_off = off;
      return true;
    }
    if (next != ipv6::kHopByHop && next != ipv6::kRouting && next != ipv6::kDestOpts) return false;
    if (off + 8 > ip_len) return false;
    // A routing header with segments left: the pseudo-header's destination
    // is the last address of the route, not the header's.
    if (next == ipv6::kRouting && pkt[off + 3] != 0) return false;
    next = pkt[off];
    off += (static_cast<size_t>(pkt[off + 1]) + 1) * 8;
  }
  return false;
}

Verdict CompleteChecksum(uint8_t* pkt, size_t len, const VnetHdr& h) {
  const size_t start = h.csum_start;
  const size_t field = start + h.csum_offset;
  // The sum covers the L4 part only: a start inside the IP header would
  // overwrite it (found by native/fuzz: csum_start 0 rewrote version/IHL).
  // IPv6: the fixed header (extension headers, if any, lie before csum_start).
  const size_t l3 = IsIpv6(pkt) ? kIpv6HeaderLen : Ipv4HeaderLen(pkt);
  if (start < l3 || field + 2 > len || start >= len) return kDropMalformed;
  uint16_t sum = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(0, pkt + start, len - start)));
  if (h.csum_offset == udp::kCheck && sum == 0) sum = 0xffff;  // UDP: 0 means "no checksum"
  Store16(pkt + field, sum);
  return kForward;
}

Verdict Segment(const uint8_t* pkt, size_t len, const VnetHdr& h, size_t prefix, uint8_t* hdrs, size_t hdr_cap,
                struct iovec* iov, size_t iov_cap, Segments* segs) {
  if (len == 0) return kDropMalformed;
  const bool v6 = IsIpv6(pkt);
  size_t ip_len = 0;
  Verdict v = v6 ? CheckIpv6(pkt, len, &ip_len) : CheckIpv4(pkt, len, &ip_len);
  if (v != kForward) return v;
  const uint8_t type = h.gso_type & static_cast<uint8_t>(~kGsoEcn);
  // l3: the IP header's bytes (IPv4 options, IPv6 extension headers included).
  size_t l3 = 0;
  uint8_t proto = 0;
  if (v6) {
    if (!Ipv6SegmentableL4(pkt, ip_len, &proto, &l3)) return kDropMalformed;
  } else {
    l3 = Ipv4HeaderLen(pkt);
    proto = pkt[ipv4::kProto];
  }
  size_t l4_hdr;
  if (type == (v6 ? kGsoTcpv6 : kGsoTcpv4) && proto == kProtoTcp) {
    if (l3 + tcp::kMinHeaderLen > ip_len) return kDropMalformed;
    l4_hdr = TcpHeaderLen(pkt + l3);
    if (l4_hdr < tcp::kMinHeaderLen) return kDropMalformed;
  } else if (type == kGsoUdpL4 && proto == kProtoUdp) {
    l4_hdr = kUdpHeaderLen;
  } else {
    return kDropMalformed;
  }
  const size_t hdr = l3 + l4_hdr;
  const size_t gso = h.gso_size;
  if (hdr > ip_len || gso == 0) return kDropMalformed;
  const size_t payload = ip_len - hdr;
  const size_t n = payload == 0 ? 1 : (payload + gso - 1) / gso;
  const size_t block = prefix + hdr;
  if (n * block > hdr_cap || 2 * n > iov_cap) return kDropMalformed;

  const uint32_t pseudo = v6 ? Pseudo6Base(pkt, proto) : PseudoBase(pkt);
  const uint16_t id0 = v6 ? 0 : Load16(pkt + ipv4::kId);
  const uint32_t seq0 = proto == kProtoTcp ? Load32(pkt + l3 + tcp::kSeq) : 0;
  const uint8_t flags0 = proto == kProtoTcp ? pkt[l3 + tcp::kFlags] : 0;
  const size_t check_at = proto == kProtoTcp ? tcp::kCheck : udp::kCheck;
  for (size_t i = 0; i < n; i++) {
    const size_t seg_payload = (i + 1 < n) ? gso : payload - i * gso;
    const uint8_t* data = pkt + hdr + i * gso;
    uint8_t* ip = hdrs + i * block + prefix;
    std::memcpy(ip, pkt, hdr);
    const size_t l4_len = l4_hdr + seg_payload;
    if (v6) {
      Store16(ip + ipv6::kPayloadLen, static_cast<uint16_t>(hdr + seg_payload - kIpv6HeaderLen));
    } else {
      Store16(ip + ipv4::kTotalLen, static_cast<uint16_t>(hdr + seg_payload));
      Store16(ip + ipv4::kId, static_cast<uint16_t>(id0 + i));
      SetIpv4Checksum(ip, l3);
    }
    uint8_t* l4 = ip + l3;
    if (proto == kProtoTcp) {
      Store32(l4 + tcp::kSeq, seq0 + static_cast<uint32_t>(i * gso));
      uint8_t flags = flags0;
      if (i + 1 < n) flags &= static_cast<uint8_t>(~(tcp::kFin | tcp::kPsh));
      if (i > 0) flags &= static_cast<uint8_t>(~tcp::kCwr);
      l4[tcp::kFlags] = flags;
    } else {
      Store16(l4 + udp::kLen, static_cast<uint16_t>(l4_len));
    }
    Store16(l4 + check_at, 0);
    // Header and payload are summed apart; the payload sum starts on an even
    // offset of the segment (the headers are an even number of bytes long).
    const uint32_t sum =
        ChecksumAdd(ChecksumAdd(pseudo + static_cast<uint32_t>(l4_len), l4, l4_hdr), data, seg_payload);
    uint16_t check = static_cast<uint16_t>(~ChecksumFold(sum));
    if (proto == kProtoUdp && check == 0) check = 0xffff;
    Store16(l4 + check_at, check);
    iov[2 * i] = {hdrs + i * block, block};
    iov[2 * i + 1] = {const_cast<uint8_t*>(data), seg_payload};
  }
  segs->count = n;
  segs->hdr_block = block;
  segs->seg_len = block + (n > 1 ? gso : payload);
  segs->last_len = block + (payload - (n - 1) * gso);
  return kForward;
}

namespace {

// IPv4 without options or fragments, carrying `proto`.
bool PlainIpv4(const uint8_t* pkt, size_t len, uint8_t proto) {
  return len >= 28 && pkt[ipv4::kVerIhl] == 0x45 && pkt[ipv4::kProto] == proto &&
         (Load16(pkt + ipv4::kFragOff) & (ipv4::kMoreFragments | ipv4::kOffsetMask)) == 0;
}

// IPv6 whose next header is `proto` itself: a packet with extension headers
// (hop-by-hop, routing, fragment, destination options, AH, ...) never merges.
bool PlainIpv6(const uint8_t* pkt, size_t len, uint8_t proto) {
  return len >= kIpv6HeaderLen + kUdpHeaderLen && IsIpv6(pkt) && pkt[ipv6::kNextHeader] == proto;
}

bool PlainIp(const uint8_t* pkt, size_t len, bool v6, uint8_t proto) {
  return v6 ? PlainIpv6(pkt, len, proto) : PlainIpv4(pkt, len, proto);
}

// Same flow and the same IP header fields GRO requires: IPv4 TOS, DF bit,
// TTL and addresses; IPv6 version/traffic class/flow label (the first word),
// hop limit and addresses. (Protocol and version were checked by PlainIp.)
bool SameIpFields(const uint8_t* p, const uint8_t* a, bool v6) {
  if (v6) {
    return std::memcmp(p, a, 4) == 0 && p[ipv6::kHopLimit] == a[ipv6::kHopLimit] &&
           std::memcmp(p + ipv6::kSrc, a + ipv6::kSrc, 32) == 0;
  }
  return p[1] == a[1] && Load16(p + ipv4::kFragOff) == Load16(a + ipv4::kFragOff) && p[ipv4::kTtl] == a[ipv4::kTtl] &&
         std::memcmp(p + ipv4::kSrc, a + ipv4::kSrc, 8) == 0;
}

}  // namespace

bool Coalescer::Start(uint8_t* pkt, size_t len) {
  count_ = 0;
  if (len < kIpv4MinHeaderLen) return false;
  v6_ = IsIpv6(pkt);
  l3_len_ = v6_ ? kIpv6HeaderLen : kIpv4MinHeaderLen;
  if (PlainIp(pkt, len, v6_, kProtoTcp) && len >= l3_len_ + tcp::kMinHeaderLen) {
    const uint8_t* th = pkt + l3_len_;
    const size_t thl = TcpHeaderLen(th);
    if (thl < tcp::kMinHeaderLen || l3_len_ + thl >= len) return false;  // >=: needs payload
    if ((th[tcp::kFlags] & static_cast<uint8_t>(~tcp::kPsh)) != tcp::kAckFlag) return false;
    hdr_len_ = l3_len_ + thl;
    next_seq_ = Load32(th + tcp::kSeq) + static_cast<uint32_t>(len - hdr_len_);
    psh_ = (th[tcp::kFlags] & tcp::kPsh) != 0;
    proto_ = kProtoTcp;
  } else if (udp_ && PlainIp(pkt, len, v6_, kProtoUdp) && len > l3_len_ + kUdpHeaderLen &&
             Load16(pkt + l3_len_ + udp::kLen) == len - l3_len_) {
    hdr_len_ = l3_len_ + kUdpHeaderLen;
    psh_ = false;
    proto_ = kProtoUdp;
  } else {
    return false;
  }
  first_ = pkt;
  first_len_ = len;
  gso_size_ = len - hdr_len_;
  total_payload_ = gso_size_;
  last_payload_ = gso_size_;
  parts_[1] = {pkt, len};
  count_ = 1;
  return true;
}

bool Coalescer::Append(uint8_t* pkt, size_t len) {
  if (count_ == 0 || count_ + 2 > kMaxIov || psh_) return false;
  if (len <= hdr_len_ || !PlainIp(pkt, len, v6_, proto_)) return false;
  const uint8_t* a = first_;
  if (!SameIpFields(pkt, a, v6_)) return false;
  const uint8_t* t = pkt + l3_len_;
  const uint8_t* ta = a + l3_len_;
  const size_t payload = len - hdr_len_;
  if (last_payload_ != gso_size_ || payload > gso_size_ || hdr_len_ + total_payload_ + payload > 65535) return false;
  if (proto_ == kProtoTcp) {
    const size_t thl = hdr_len_ - l3_len_;
    // Same ports, ACK number, header length and reserved bits (byte 12 whole:
    // the kernel flushes on any flag-word difference but CWR/FIN/PSH, and the
    // low bit is AccECN's AE, part of a counter), window and options.
    if (t[tcp::kDataOff] != ta[tcp::kDataOff] || std::memcmp(t, ta, 4) != 0 ||
        std::memcmp(t + tcp::kAck, ta + tcp::kAck, 4) != 0 ||
        std::memcmp(t + tcp::kWindow, ta + tcp::kWindow, 2) != 0 ||
        std::memcmp(t + tcp::kMinHeaderLen, ta + tcp::kMinHeaderLen, thl - tcp::kMinHeaderLen) != 0) {
      return false;
    }
    if ((t[tcp::kFlags] & static_cast<uint8_t>(~tcp::kPsh)) != tcp::kAckFlag || Load32(t + tcp::kSeq) != next_seq_) {
      return false;
    }
    next_seq_ += static_cast<uint32_t>(payload);
    psh_ = (t[tcp::kFlags] & tcp::kPsh) != 0;
  } else if (std::memcmp(t, ta, 4) != 0 || Load16(t + udp::kLen) != len - l3_len_) {  // ports, UDP length
    return false;
  }
  parts_[++count_] = {pkt + hdr_len_, payload};
  total_payload_ += payload;
  last_payload_ = payload;
  return true;
}

size_t Coalescer::Finish(struct iovec* iov) {
  vnet_ = VnetHdr{};
  if (count_ > 1) {
    uint8_t* ip = first_;
    uint8_t* l4 = ip + l3_len_;
    const size_t l4_len = hdr_len_ - l3_len_ + total_payload_;
    const bool is_tcp = proto_ == kProtoTcp;
    uint32_t pseudo;
    if (v6_) {
      Store16(ip + ipv6::kPayloadLen, static_cast<uint16_t>(l4_len));
      pseudo = Pseudo6Base(ip, proto_);
    } else {
      Store16(ip + ipv4::kTotalLen, static_cast<uint16_t>(hdr_len_ + total_payload_));
      SetIpv4Checksum(ip, kIpv4MinHeaderLen);
      pseudo = PseudoBase(ip);
    }
    const size_t check_at = is_tcp ? tcp::kCheck : udp::kCheck;
    if (is_tcp && psh_) l4[tcp::kFlags] |= tcp::kPsh;
    if (!is_tcp) Store16(l4 + udp::kLen, static_cast<uint16_t>(l4_len));
    // CHECKSUM_PARTIAL: the field carries the pseudo-header sum, folded and
    // not inverted; the kernel (or the NIC) finishes it per segment.
    Store16(l4 + check_at, ChecksumFold(pseudo + static_cast<uint32_t>(l4_len)));
    vnet_.flags = kVnetNeedsCsum;
    vnet_.gso_type = is_tcp ? (v6_ ? kGsoTcpv6 : kGsoTcpv4) : kGsoUdpL4;
    vnet_.hdr_len = static_cast<uint16_t>(hdr_len_);
    vnet_.gso_size = static_cast<uint16_t>(gso_size_);
    vnet_.csum_start = static_cast<uint16_t>(l3_len_);
    vnet_.csum_offset = static_cast<uint16_t>(check_at);
  }
  iov[0] = {&vnet_, kVnetHdrLen};
  for (size_t i = 1; i <= count_; i++) iov[i] = parts_[i];
  const size_t n = count_ + 1;
  count_ = 0;
  return n;
}

}  // namespace weft
