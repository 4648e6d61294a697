// libFuzzer target parts for the offload layer alone (native/core/offload.h:
// CompleteChecksum, Segment, Coalescer) over IPv4 and IPv6 inputs, reached
// from fuzz_packets.cc's entry point when (input[0] & 0xc0) == 0x80.
//
//   input[0] & 1 == 0: SEGMENT  input = [0x80][virtio_net_hdr: 10 bytes] packet
//     One TUN read: GSO_NONE + NEEDS_CSUM -> CompleteChecksum, else Segment.
//     Oracles: CompleteChecksum writes only the 2-byte field, never inside
//     the fixed IP header, and (csum_offset even) the sum from csum_start
//     plus the pseudo-header sum the field held then verifies; every segment is a valid IPv4/IPv6 packet of exactly
//     its length with at most gso_size payload bytes, its L4 checksum
//     verifies over a pseudo-header built here, the headers but the fields
//     segmentation sets are the super-packet's, TCP sequence numbers advance
//     by the payload, and the payloads joined are the super-packet's.
//
//   input[0] & 1 == 1: COALESCE input = [0x81][flags][count][gso hi][gso lo]
//                      [last cut][m][m x (index, offset hi, offset lo, xor)] template
//     `count` packets (at most 80) are made from the template (IPv4 or IPv6,
//     with whatever options or extension headers it has): its headers, then
//     gso payload bytes (the last one `last cut` shorter), IP length fields
//     set, TCP sequence advancing / UDP length set; then the m edits XOR one
//     byte of one packet each. Packets that fail CheckIpv4/CheckIpv6 are
//     left out (as decapsulation drops them); the rest go through a
//     Coalescer (flags bit 0: UDP too) the way Decapsulator::Deliver drives it.
//     Oracles: every packet is written once, in order; a lone packet with an
//     all-zero vnet header and untouched; a merged write only of plain
//     packets (IPv4 without options or fragments, IPv6 whose next header is
//     TCP/UDP: never extension headers) of one version, with the vnet header
//     its family needs, and cutting it again with Segment gives back every
//     packet byte for byte but the checksums (and the IPv4 ID), so nothing
//     merged that the first packet's headers cannot reproduce: addresses,
//     ports, traffic class, flow label, hop limit, TTL, ACK, window, options,
//     adjacent sequence numbers, PSH only last, sizes (the urgent pointer,
//     meaningless without URG, is ignored as the kernel's GRO ignores it).
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../core/codec.h"
#include "../core/offload.h"
#include "../core/packet.h"

namespace weft::fuzz {

namespace {

#define OFFLOAD_CHECK(cond)        \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

uint32_t NaiveSum(const uint8_t* p, size_t n, uint64_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

// Where the L4 header of `p[0, len)` starts and what it is, walked here (IPv4
// IHL; IPv6 hop-by-hop, routing, destination options, fragment, AH), or false.
bool L4Of(const uint8_t* p, size_t len, size_t* off, uint8_t* proto) {
  if (len < 20) return false;
  if ((p[0] >> 4) == 4) {
    *off = static_cast<size_t>(p[0] & 15) * 4;
    *proto = p[9];
    return *off >= 20 && *off <= len;
  }
  if ((p[0] >> 4) != 6 || len < 40) return false;
  uint8_t next = p[6];
  size_t at = 40;
  for (int i = 0; i < 16; i++) {
    size_t hl;
    if (next == 0 || next == 43 || next == 60) {
      if (at + 2 > len) return false;
      hl = (static_cast<size_t>(p[at + 1]) + 1) * 8;
    } else if (next == 44) {
      hl = 8;
    } else if (next == 51) {
      if (at + 2 > len) return false;
      hl = (static_cast<size_t>(p[at + 1]) + 2) * 4;
    } else {
      *off = at;
      *proto = next;
      return true;
    }
    if (at + hl > len) return false;
    next = p[at];
    at += hl;
  }
  return false;
}

// The L4 checksum of the IP packet `p[0, len)` (L4 at `off`) verifies over
// its pseudo-header (the header's own addresses).
bool L4ChecksumOk(const uint8_t* p, size_t len, size_t off, uint8_t proto) {
  const size_t l4_len = len - off;
  uint64_t sum;
  if ((p[0] >> 4) == 4) {
    sum = NaiveSum(p + 12, 8) + uint32_t{proto} + l4_len;
  } else {
    sum = NaiveSum(p + 8, 32) + (l4_len >> 16) + (l4_len & 0xffff) + proto;
  }
  return NaiveSum(p + off, l4_len, sum) == 0xffff;
}

size_t IpLen(const uint8_t* p, size_t len) {
  size_t ip_len = 0;
  const Verdict v = (p[0] >> 4) == 6 ? CheckIpv6(p, len, &ip_len) : CheckIpv4(p, len, &ip_len);
  return v == kForward ? ip_len : 0;
}

void SegmentTarget(const uint8_t* data, size_t size) {
  if (size < 1 + kVnetHdrLen) return;
  VnetHdr h;
  std::memcpy(&h, data + 1, kVnetHdrLen);
  const size_t len = size - 1 - kVnetHdrLen;
  if (len == 0 || len > 65535) return;
  std::unique_ptr<uint8_t[]> pkt(new uint8_t[len]);
  std::memcpy(pkt.get(), data + 1 + kVnetHdrLen, len);
  const size_t ip_len = IpLen(pkt.get(), len);
  if (ip_len == 0) return;  // the caller checks the IP header first (Encapsulator)
  const bool v6 = (pkt[0] >> 4) == 6;

  if (h.gso_type == kGsoNone) {
    if (!(h.flags & kVnetNeedsCsum)) return;
    std::vector<uint8_t> before(pkt.get(), pkt.get() + ip_len);
    const Verdict v = CompleteChecksum(pkt.get(), ip_len, h);
    if (v != kForward) {
      OFFLOAD_CHECK(v == kDropMalformed && std::memcmp(before.data(), pkt.get(), ip_len) == 0);
      return;
    }
    const size_t start = h.csum_start;
    const size_t field = start + h.csum_offset;
    OFFLOAD_CHECK(start >= (v6 ? 40 : static_cast<size_t>(pkt[0] & 15) * 4) && field + 2 <= ip_len);
    for (size_t i = 0; i < ip_len; i++) OFFLOAD_CHECK(i == field || i == field + 1 || pkt[i] == before[i]);
    // The field held the pseudo-header sum: with it added back, the region sums to all ones.
    if (h.csum_offset % 2 == 0) {
      OFFLOAD_CHECK(NaiveSum(pkt.get() + start, ip_len - start, Load16(before.data() + field)) == 0xffff);
    }
    return;
  }

  // Room for every segment the descriptor asks for, 160 header bytes each
  // (the worker has 142: 22 of encapsulation, 120 of headers); a super-packet
  // whose segments need more is refused, as in the worker.
  const size_t most = h.gso_size == 0 ? 1 : ip_len / h.gso_size + 1;
  const size_t hdr_cap = most * 160;
  std::unique_ptr<uint8_t[]> hdrs(new uint8_t[hdr_cap]);
  std::vector<struct iovec> iov(2 * most);
  Segments segs{};
  const Verdict v = Segment(pkt.get(), ip_len, h, 0, hdrs.get(), hdr_cap, iov.data(), iov.size(), &segs);
  if (v != kForward) {
    OFFLOAD_CHECK(v == kDropMalformed);
    return;
  }
  size_t off = 0;
  uint8_t proto = 0;
  OFFLOAD_CHECK(L4Of(pkt.get(), ip_len, &off, &proto));
  const uint8_t type = h.gso_type & static_cast<uint8_t>(~kGsoEcn);
  OFFLOAD_CHECK((proto == kProtoTcp && type == (v6 ? kGsoTcpv6 : kGsoTcpv4)) ||
                (proto == kProtoUdp && type == kGsoUdpL4));
  const size_t hdr = segs.hdr_block;
  const size_t l4h = hdr - off;
  OFFLOAD_CHECK(hdr <= ip_len && segs.count >= 1 && h.gso_size > 0);
  size_t at = hdr;  // payload offset in the super-packet
  for (size_t i = 0; i < segs.count; i++) {
    OFFLOAD_CHECK(iov[2 * i].iov_len == hdr && iov[2 * i + 1].iov_len <= h.gso_size);
    const size_t n = hdr + iov[2 * i + 1].iov_len;
    std::vector<uint8_t> s(n);
    std::memcpy(s.data(), iov[2 * i].iov_base, hdr);
    if (n > hdr) std::memcpy(s.data() + hdr, iov[2 * i + 1].iov_base, n - hdr);
    OFFLOAD_CHECK(n - hdr == 0 || std::memcmp(s.data() + hdr, pkt.get() + at, n - hdr) == 0);
    OFFLOAD_CHECK(IpLen(s.data(), n) == n);
    OFFLOAD_CHECK(L4ChecksumOk(s.data(), n, off, proto));
    if (!v6) OFFLOAD_CHECK(NaiveSum(s.data(), off) == 0xffff);
    // Headers: the super-packet's but for lengths, IPv4 ID and checksum, seq, flags, checksum.
    if (v6) {
      OFFLOAD_CHECK(std::memcmp(s.data(), pkt.get(), 4) == 0 && std::memcmp(s.data() + 6, pkt.get() + 6, off - 6) == 0);
    } else {
      OFFLOAD_CHECK(std::memcmp(s.data(), pkt.get(), 2) == 0 && std::memcmp(s.data() + 6, pkt.get() + 6, 4) == 0 &&
                    std::memcmp(s.data() + 12, pkt.get() + 12, off - 12) == 0);
    }
    if (proto == kProtoTcp) {
      OFFLOAD_CHECK(Load32(s.data() + off + 4) == Load32(pkt.get() + off + 4) + static_cast<uint32_t>(at - hdr));
      OFFLOAD_CHECK(std::memcmp(s.data() + off + 8, pkt.get() + off + 8, 5) == 0);
      OFFLOAD_CHECK(std::memcmp(s.data() + off + 18, pkt.get() + off + 18, l4h - 18) == 0);
      const uint8_t f = s[off + 13];
      if (i + 1 < segs.count) OFFLOAD_CHECK((f & (tcp::kFin | tcp::kPsh)) == 0);
      if (i > 0) OFFLOAD_CHECK((f & tcp::kCwr) == 0);
    } else {
      OFFLOAD_CHECK(Load16(s.data() + off + 4) == n - off);
    }
    at += n - hdr;
  }
  OFFLOAD_CHECK(at == ip_len);
}

void CoalesceTarget(const uint8_t* data, size_t size) {
  if (size < 7) return;
  const bool udp = data[1] & 1;
  const size_t count = data[2] % 81;
  const size_t gso = (static_cast<size_t>(data[3]) << 8) | data[4];
  const size_t cut = data[5];
  const size_t m = data[6];
  size_t at = 7 + 4 * m;
  if (at > size || gso == 0) return;
  const uint8_t* edits = data + 7;
  const uint8_t* tpl = data + at;
  const size_t tpl_len = size - at;
  size_t off = 0;
  uint8_t proto = 0;
  if (!L4Of(tpl, tpl_len, &off, &proto)) return;
  const size_t l4h = proto == kProtoTcp && off + 13 <= tpl_len ? static_cast<size_t>(tpl[off + 12] >> 4) * 4 : 8;
  const size_t hdr = off + l4h;
  // At most what one GRO'd receive can hold (64 KiB of datagrams; a bit more
  // so that the 64 KiB bound of a merged write is reached).
  if (hdr > tpl_len || hdr + gso > 65535 || count * (hdr + gso) > 2 * 65536) return;
  const bool v6 = (tpl[0] >> 4) == 6;

  // The packets, each in its own heap buffer of exactly its size.
  std::vector<std::unique_ptr<uint8_t[]>> bufs;
  std::vector<size_t> lens;
  uint32_t seq = proto == kProtoTcp && off + 8 <= tpl_len ? Load32(tpl + off + 4) : 0;
  for (size_t i = 0; i < count; i++) {
    const size_t pay = i + 1 < count ? gso : (cut < gso ? gso - cut : 1);
    const size_t n = hdr + pay;
    std::unique_ptr<uint8_t[]> p(new uint8_t[n]);
    std::memcpy(p.get(), tpl, hdr);
    for (size_t j = 0; j < pay; j++) p[hdr + j] = static_cast<uint8_t>(i * 13 + j * 7 + (j >> 8));
    if (v6) {
      Store16(p.get() + 4, static_cast<uint16_t>(n - 40));
    } else {
      Store16(p.get() + 2, static_cast<uint16_t>(n));
    }
    if (proto == kProtoTcp && l4h >= 20) {
      Store32(p.get() + off + 4, seq);
      seq += static_cast<uint32_t>(pay);
    } else if (proto == kProtoUdp) {
      Store16(p.get() + off + 4, static_cast<uint16_t>(n - off));
    }
    bufs.push_back(std::move(p));
    lens.push_back(n);
  }
  for (size_t e = 0; e < m && count > 0; e++) {
    const size_t i = edits[4 * e] % count;
    const size_t o = ((static_cast<size_t>(edits[4 * e + 1]) << 8) | edits[4 * e + 2]) % lens[i];
    bufs[i][o] ^= edits[4 * e + 3];
  }
  // What decapsulation would hand over, and copies to compare against.
  std::vector<uint8_t*> pkts;
  std::vector<size_t> ip_lens;
  std::vector<std::vector<uint8_t>> orig;
  for (size_t i = 0; i < count; i++) {
    const size_t ip_len = IpLen(bufs[i].get(), lens[i]);
    if (ip_len == 0) continue;
    pkts.push_back(bufs[i].get());
    ip_lens.push_back(ip_len);
    orig.emplace_back(bufs[i].get(), bufs[i].get() + ip_len);
  }

  Coalescer c(udp);
  struct iovec iov[Coalescer::kMaxIov];
  size_t next = 0;  // index of the next packet a write must start with
  auto check_write = [&](size_t k) {
    VnetHdr h;
    std::memcpy(&h, iov[0].iov_base, kVnetHdrLen);
    OFFLOAD_CHECK(k >= 2 && k <= Coalescer::kMaxIov && iov[1].iov_base == pkts[next]);
    if (k == 2) {
      OFFLOAD_CHECK(h.flags == 0 && h.gso_type == 0 && h.gso_size == 0 && h.hdr_len == 0);
      OFFLOAD_CHECK(iov[1].iov_len == ip_lens[next] && std::memcmp(pkts[next], orig[next].data(), ip_lens[next]) == 0);
      next++;
      return;
    }
    const size_t parts = k - 1;
    size_t total = 0;
    for (size_t j = 1; j < k; j++) {
      if (j > 1) OFFLOAD_CHECK(iov[j].iov_base == pkts[next + j - 1] + h.hdr_len);
      total += iov[j].iov_len;
    }
    OFFLOAD_CHECK(total <= 65535);
    // Only plain packets of one family merge.
    for (size_t j = 0; j < parts; j++) {
      const std::vector<uint8_t>& o = orig[next + j];
      OFFLOAD_CHECK((o[0] >> 4) == (v6 ? 6 : 4));
      if (v6) {
        OFFLOAD_CHECK(o[6] == kProtoTcp || (udp && o[6] == kProtoUdp));
      } else {
        OFFLOAD_CHECK(o[0] == 0x45 && (Load16(o.data() + 6) & 0x3fff) == 0);
        OFFLOAD_CHECK(o[9] == kProtoTcp || (udp && o[9] == kProtoUdp));
      }
    }
    const uint8_t p = v6 ? orig[next][6] : orig[next][9];
    OFFLOAD_CHECK(h.flags == kVnetNeedsCsum && h.csum_start == (v6 ? 40 : 20));
    OFFLOAD_CHECK(h.gso_type == (p == kProtoUdp ? kGsoUdpL4 : (v6 ? kGsoTcpv6 : kGsoTcpv4)));
    // Cut it again: every packet back, byte for byte but checksums and the IPv4 ID.
    std::unique_ptr<uint8_t[]> super(new uint8_t[total]);
    size_t w = 0;
    for (size_t j = 1; j < k; j++) {
      std::memcpy(super.get() + w, iov[j].iov_base, iov[j].iov_len);
      w += iov[j].iov_len;
    }
    std::vector<uint8_t> hdrs(parts * 160);
    std::vector<struct iovec> out(2 * parts);
    Segments segs{};
    OFFLOAD_CHECK(Segment(super.get(), total, h, 0, hdrs.data(), hdrs.size(), out.data(), out.size(), &segs) ==
                  kForward);
    OFFLOAD_CHECK(segs.count == parts && segs.hdr_block == h.hdr_len);
    const size_t check_at = h.csum_start + (p == kProtoUdp ? 6 : 16);
    for (size_t j = 0; j < parts; j++) {
      std::vector<uint8_t> s(static_cast<const uint8_t*>(out[2 * j].iov_base),
                             static_cast<const uint8_t*>(out[2 * j].iov_base) + out[2 * j].iov_len);
      const auto* b = static_cast<const uint8_t*>(out[2 * j + 1].iov_base);
      s.insert(s.end(), b, b + out[2 * j + 1].iov_len);
      std::vector<uint8_t> o = orig[next + j];
      OFFLOAD_CHECK(s.size() == o.size());
      for (size_t z : {check_at, check_at + 1}) s[z] = o[z] = 0;
      // The urgent pointer means nothing without URG (never merged): GRO
      // ignores it, as the kernel's does.
      if (p == kProtoTcp) {
        for (size_t z : {check_at + 2, check_at + 3}) s[z] = o[z] = 0;
      }
      if (!v6) {
        for (size_t z : {size_t{4}, size_t{5}, size_t{10}, size_t{11}}) s[z] = o[z] = 0;
      }
      OFFLOAD_CHECK(s == o);
    }
    next += parts;
  };
  for (size_t i = 0; i < pkts.size(); i++) {
    if (c.count() > 0 && c.Append(pkts[i], ip_lens[i])) continue;
    if (c.count() > 0) check_write(c.Finish(iov));
    if (c.Start(pkts[i], ip_lens[i])) continue;
    OFFLOAD_CHECK(next == i);
    // Written alone by the caller: must be untouched.
    OFFLOAD_CHECK(std::memcmp(pkts[i], orig[i].data(), ip_lens[i]) == 0);
    next++;
  }
  if (c.count() > 0) check_write(c.Finish(iov));
  OFFLOAD_CHECK(next == pkts.size());
}

}  // namespace

void FuzzOffload(const uint8_t* data, size_t size) {
  if (data[0] & 1) {
    CoalesceTarget(data, size);
  } else {
    SegmentTarget(data, size);
  }
}

}  // namespace weft::fuzz
