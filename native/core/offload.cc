#include "offload.h"

#include <cstring>

#include "checksum.h"
#include "packet.h"

namespace weft {

namespace {

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
  const size_t ihl = Ipv4HeaderLen(pkt);
  if (start < ihl || field + 2 > len || start >= len) return kDropMalformed;
  uint16_t sum = static_cast<uint16_t>(~ChecksumFold(ChecksumAdd(0, pkt + start, len - start)));
  if (h.csum_offset == udp::kCheck && sum == 0) sum = 0xffff;  // UDP: 0 means "no checksum"
  Store16(pkt + field, sum);
  return kForward;
}

Verdict Segment(const uint8_t* pkt, size_t len, const VnetHdr& h, size_t prefix, uint8_t* hdrs, size_t hdr_cap,
                struct iovec* iov, size_t iov_cap, Segments* segs) {
  size_t ip_len = 0;
  Verdict v = CheckIpv4(pkt, len, &ip_len);
  if (v != kForward) return v;
  const uint8_t type = h.gso_type & static_cast<uint8_t>(~kGsoEcn);
  const size_t ihl = Ipv4HeaderLen(pkt);
  const uint8_t proto = pkt[ipv4::kProto];
  size_t l4_hdr;
  if (type == kGsoTcpv4 && proto == kProtoTcp) {
    if (ihl + tcp::kMinHeaderLen > ip_len) return kDropMalformed;
    l4_hdr = TcpHeaderLen(pkt + ihl);
    if (l4_hdr < tcp::kMinHeaderLen) return kDropMalformed;
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
  const uint32_t seq0 = proto == kProtoTcp ? Load32(pkt + ihl + tcp::kSeq) : 0;
  const uint8_t flags0 = proto == kProtoTcp ? pkt[ihl + tcp::kFlags] : 0;
  const size_t check_at = proto == kProtoTcp ? tcp::kCheck : udp::kCheck;
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
    const uint8_t* th = pkt + kIpv4MinHeaderLen;
    const size_t thl = TcpHeaderLen(th);
    if (thl < tcp::kMinHeaderLen || kIpv4MinHeaderLen + thl >= len) return false;  // >=: needs payload
    if ((th[tcp::kFlags] & static_cast<uint8_t>(~tcp::kPsh)) != tcp::kAckFlag) return false;
    hdr_len_ = kIpv4MinHeaderLen + thl;
    next_seq_ = Load32(th + tcp::kSeq) + static_cast<uint32_t>(len - hdr_len_);
    psh_ = (th[tcp::kFlags] & tcp::kPsh) != 0;
  } else if (udp_ && PlainIpv4(pkt, len, kProtoUdp) && len > 28 &&
             Load16(pkt + kIpv4MinHeaderLen + udp::kLen) == len - kIpv4MinHeaderLen) {
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
  const uint8_t* t = pkt + kIpv4MinHeaderLen;
  const uint8_t* ta = a + kIpv4MinHeaderLen;
  const size_t payload = len - hdr_len_;
  if (last_payload_ != gso_size_ || payload > gso_size_ || hdr_len_ + total_payload_ + payload > 65535) return false;
  if (proto_ == kProtoTcp) {
    const size_t thl = hdr_len_ - kIpv4MinHeaderLen;
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
  } else if (std::memcmp(t, ta, 4) != 0 || Load16(t + udp::kLen) != len - kIpv4MinHeaderLen) {  // ports, UDP length
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
    uint8_t* l4 = ip + kIpv4MinHeaderLen;
    const size_t l4_len = hdr_len_ - kIpv4MinHeaderLen + total_payload_;
    Store16(ip + ipv4::kTotalLen, static_cast<uint16_t>(hdr_len_ + total_payload_));
    SetIpv4Checksum(ip, kIpv4MinHeaderLen);
    const bool is_tcp = proto_ == kProtoTcp;
    const size_t check_at = is_tcp ? tcp::kCheck : udp::kCheck;
    if (is_tcp && psh_) l4[tcp::kFlags] |= tcp::kPsh;
    if (!is_tcp) Store16(l4 + udp::kLen, static_cast<uint16_t>(l4_len));
    // CHECKSUM_PARTIAL: the field carries the pseudo-header sum, folded and
    // not inverted; the kernel (or the NIC) finishes it per segment.
    Store16(l4 + check_at, ChecksumFold(PseudoBase(ip) + static_cast<uint32_t>(l4_len)));
    vnet_.flags = kVnetNeedsCsum;
    vnet_.gso_type = is_tcp ? kGsoTcpv4 : kGsoUdpL4;
    vnet_.hdr_len = static_cast<uint16_t>(hdr_len_);
    vnet_.gso_size = static_cast<uint16_t>(gso_size_);
    vnet_.csum_start = kIpv4MinHeaderLen;
    vnet_.csum_offset = static_cast<uint16_t>(check_at);
  }
  iov[0] = {&vnet_, kVnetHdrLen};
  for (size_t i = 1; i <= count_; i++) iov[i] = parts_[i];
  const size_t n = count_ + 1;
  count_ = 0;
  return n;
}

}  // namespace weft
