#include "offload.h"

#include <cstring>

#include "checksum.h"
#include "packet.h"

namespace weft {

namespace {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpCwr = 0x80;

// Pseudo-header sum of an IPv4 packet's addresses and protocol (no length).
uint32_t PseudoBase(const uint8_t* ip) { return ChecksumAdd(0, ip + ipv4::kSrc, 8) + ip[ipv4::kProto]; }

void SetIpv4Checksum(uint8_t* ip, size_t ihl) {
  Store16(ip + ipv4::kCheck, 0);
  Store16(ip + ipv4::kCheck, Checksum(ip, ihl));
}

}  // namespace

Verdict CompleteChecksum(uint8_t* pkt, size_t len, const VnetHdr& h) {
  const size_t start = h.csum_start;
  const size_t field = start + h.csum_offset;
  // The sum covers the L4 part only: a start inside the IPv4 header would
  // overwrite it (found by native/fuzz: csum_start 0 rewrote version/IHL).
  const size_t ihl = static_cast<size_t>(pkt[ipv4::kVerIhl] & 0x0f) * 4;
  if (start < ihl || field + 2 > len || start >= len) return kDropMalformed;
  uint16_t sum = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(0, pkt + start, len - start)));
  if (h.csum_offset == 6 && sum == 0) sum = 0xffff;  // UDP: 0 means "no checksum"
  Store16(pkt + field, sum);
  return kForward;
}

Verdict Segment(const uint8_t* pkt, size_t len, const VnetHdr& h, size_t prefix, uint8_t* hdrs, size_t hdr_cap,
                struct iovec* iov, size_t iov_cap, Segments* segs) {
  size_t ip_len = 0;
  Verdict v = CheckIpv4(pkt, len, &ip_len);
  if (v != kForward) return v;
  const uint8_t type = h.gso_type & static_cast<uint8_t>(~kGsoEcn);
  const size_t ihl = static_cast<size_t>(pkt[ipv4::kVerIhl] & 0x0f) * 4;
  const uint8_t proto = pkt[ipv4::kProto];
  size_t l4_hdr;
  if (type == kGsoTcpv4 && proto == kProtoTcp) {
    if (ihl + 20 > ip_len) return kDropMalformed;
    l4_hdr = static_cast<size_t>(pkt[ihl + 12] >> 4) * 4;
    if (l4_hdr < 20) return kDropMalformed;
  } else if (type == kGsoUdpL4 && proto == kProtoUdp) {
    l4_hdr = kUdpHeaderLen;
  } else {
    return kDropMalformed;
  }
  const size_t hdr = ihl + l4_hdr;
  const size_t gso = h.gso_size;
  if (hdr > ip_len || gso == 0) return kDropMalformed;
  const size_t payload = ip_len - hdr;
  const size_t n = payload == 0 ? 1 : (payload + gso - 1) / gso;
  const size_t block = prefix + hdr;
  if (n * block > hdr_cap || 2 * n > iov_cap) return kDropMalformed;

  const uint32_t pseudo = PseudoBase(pkt);
  const uint16_t id0 = Load16(pkt + ipv4::kId);
  const uint32_t seq0 = proto == kProtoTcp ? Load32(pkt + ihl + 4) : 0;
  const uint8_t flags0 = proto == kProtoTcp ? pkt[ihl + 13] : 0;
  const size_t check_at = proto == kProtoTcp ? 16 : 6;
  for (size_t i = 0; i < n; i++) {
    const size_t seg_payload = (i + 1 < n) ? gso : payload - i * gso;
    const uint8_t* data = pkt + hdr + i * gso;
    uint8_t* ip = hdrs + i * block + prefix;
    std::memcpy(ip, pkt, hdr);
    const size_t l4_len = l4_hdr + seg_payload;
    Store16(ip + ipv4::kTotalLen, static_cast<uint16_t>(hdr + seg_payload));
    Store16(ip + ipv4::kId, static_cast<uint16_t>(id0 + i));
    SetIpv4Checksum(ip, ihl);
    uint8_t* l4 = ip + ihl;
    if (proto == kProtoTcp) {
      Store32(l4 + 4, seq0 + static_cast<uint32_t>(i * gso));
      uint8_t flags = flags0;
      if (i + 1 < n) flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
      if (i > 0) flags &= static_cast<uint8_t>(~kTcpCwr);
      l4[13] = flags;
    } else {
      Store16(l4 + 4, static_cast<uint16_t>(l4_len));
    }
    Store16(l4 + check_at, 0);
    // Header and payload are summed apart; the payload sum starts on an even
    // offset of the segment (the header is an even number of bytes long).
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

}  // namespace

bool Coalescer::Start(uint8_t* pkt, size_t len) {
  count_ = 0;
  if (PlainIpv4(pkt, len, kProtoTcp) && len >= 40) {
    const uint8_t* tcp = pkt + 20;
    const size_t thl = static_cast<size_t>(tcp[12] >> 4) * 4;
    if (thl < 20 || 20 + thl >= len) return false;  // >=: needs payload
    if ((tcp[13] & static_cast<uint8_t>(~kTcpPsh)) != kTcpAck) return false;
    hdr_len_ = 20 + thl;
    next_seq_ = Load32(tcp + 4) + static_cast<uint32_t>(len - hdr_len_);
    psh_ = (tcp[13] & kTcpPsh) != 0;
  } else if (udp_ && PlainIpv4(pkt, len, kProtoUdp) && len > 28 && Load16(pkt + 24) == len - 20) {
    hdr_len_ = 28;
    psh_ = false;
  } else {
    return false;
  }
  proto_ = pkt[ipv4::kProto];
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
  if (len <= hdr_len_ || !PlainIpv4(pkt, len, proto_)) return false;
  const uint8_t* a = first_;
  // Same TOS, DF bit, TTL and addresses.
  if (pkt[1] != a[1] || Load16(pkt + ipv4::kFragOff) != Load16(a + ipv4::kFragOff) ||
      pkt[ipv4::kTtl] != a[ipv4::kTtl] || std::memcmp(pkt + ipv4::kSrc, a + ipv4::kSrc, 8) != 0) {
    return false;
  }
  const uint8_t* t = pkt + 20;
  const uint8_t* ta = a + 20;
  const size_t payload = len - hdr_len_;
  if (last_payload_ != gso_size_ || payload > gso_size_ || hdr_len_ + total_payload_ + payload > 65535) return false;
  if (proto_ == kProtoTcp) {
    const size_t thl = hdr_len_ - 20;
    // Same ports, ACK number, header length and reserved bits (byte 12 whole:
    // the kernel flushes on any flag-word difference but CWR/FIN/PSH, and the
    // low bit is AccECN's AE, part of a counter), window and options.
    if (t[12] != ta[12] || std::memcmp(t, ta, 4) != 0 || std::memcmp(t + 8, ta + 8, 4) != 0 ||
        std::memcmp(t + 14, ta + 14, 2) != 0 || std::memcmp(t + 20, ta + 20, thl - 20) != 0) {
      return false;
    }
    if ((t[13] & static_cast<uint8_t>(~kTcpPsh)) != kTcpAck || Load32(t + 4) != next_seq_) return false;
    next_seq_ += static_cast<uint32_t>(payload);
    psh_ = (t[13] & kTcpPsh) != 0;
  } else if (std::memcmp(t, ta, 4) != 0 || Load16(t + 4) != len - 20) {  // ports, UDP length
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
    const size_t l4_len = hdr_len_ - 20 + total_payload_;
    Store16(ip + ipv4::kTotalLen, static_cast<uint16_t>(hdr_len_ + total_payload_));
    SetIpv4Checksum(ip, 20);
    const bool tcp = proto_ == kProtoTcp;
    if (tcp && psh_) ip[20 + 13] |= kTcpPsh;
    if (!tcp) Store16(ip + 20 + 4, static_cast<uint16_t>(l4_len));
    // CHECKSUM_PARTIAL: the field carries the pseudo-header sum, folded and
    // not inverted; the kernel (or the NIC) finishes it per segment.
    Store16(ip + 20 + (tcp ? 16 : 6), ChecksumFold(PseudoBase(ip) + static_cast<uint32_t>(l4_len)));
    vnet_.flags = kVnetNeedsCsum;
    vnet_.gso_type = tcp ? kGsoTcpv4 : kGsoUdpL4;
    vnet_.hdr_len = static_cast<uint16_t>(hdr_len_);
    vnet_.gso_size = static_cast<uint16_t>(gso_size_);
    vnet_.csum_start = 20;
    vnet_.csum_offset = tcp ? 16 : 6;
  }
  iov[0] = {&vnet_, kVnetHdrLen};
  for (size_t i = 1; i <= count_; i++) iov[i] = parts_[i];
  const size_t n = count_ + 1;
  count_ = 0;
  return n;
}

}  // namespace weft
