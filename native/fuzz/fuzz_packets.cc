// libFuzzer harness over the packet paths of the native core (no Node, no
// sockets): what a datagram from the underlay and a packet from the TUN go
// through, with oracles beyond "no crash":
//
//   input[0] & 1 == 0: RECEIVE  input = [0][flags][step hi][step lo] datagrams...
//     flags bit 0: vxlan (else udp backend); bit 1: take our VNI and VtepMAC
//     from the first datagram (so fixture seeds pass those checks and reach
//     the inner headers) instead of VNI 1 / 0e:2a:0a:f4:02:00.
//     The rest is one receive of the worker: cut into datagrams of `step`
//     bytes as UDP GRO hands them over (step 0: one datagram), each
//     decapsulated (VxlanDecap / UdpDecap) and, when there were several,
//     merged by Coalescer as Worker::RunUdpToTun does.
//     Oracles: a forwarded inner packet lies inside its datagram; every
//     merged super-packet, cut again by Segment() with the virtio_net_hdr
//     Coalescer produced, gives back exactly the payloads that were merged.
//
//   input[0] & 1 == 1: SEND  input = [1][virtio_net_hdr: 10 bytes][backend] packet
//     The TUN read path of Worker::Encapsulate: CheckIpv4, TTL - 1 (udp),
//     CompleteChecksum (NEEDS_CSUM) or Segment() (GSO, untrusted gso_size and
//     csum fields), VxlanEncap; and BuildNetUnreachable for the same packet.
//     Oracles: every datagram produced decapsulates (VxlanDecap) to an IPv4
//     packet of exactly its length; segments carry at most gso_size payload
//     bytes and add up to the super-packet's payload; the ICMP error is a
//     valid IPv4 packet that fits its buffer.
//
// Buffers are heap copies of exactly the bytes in play, so ASan sees any
// read or write past them.
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../core/codec.h"
#include "../core/limits.h"
#include "../core/offload.h"
#include "../core/packet.h"

namespace {

using namespace weft;

// A failed oracle is a finding: abort so libFuzzer saves the input.
#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

const uint8_t kDefaultMac[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00};
const uint8_t kPeerMac[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00};

// Cuts the merged super-packet that Coalescer::Finish returned (iov[0] is the
// virtio_net_hdr, iov[1..k) the parts) back into segments and compares.
void CheckMerged(const struct iovec* iov, size_t k) {
  VnetHdr h;
  FUZZ_CHECK(iov[0].iov_len == kVnetHdrLen);
  std::memcpy(&h, iov[0].iov_base, kVnetHdrLen);
  if (k == 2) {  // a lone packet goes out with an all-zero header
    FUZZ_CHECK(h.flags == 0 && h.gso_type == 0 && h.gso_size == 0);
    return;
  }
  FUZZ_CHECK(h.gso_type == kGsoTcpv4 && h.gso_size > 0);
  size_t total = 0;
  for (size_t j = 1; j < k; j++) total += iov[j].iov_len;
  FUZZ_CHECK(total <= kMaxPacket);
  std::unique_ptr<uint8_t[]> super(new uint8_t[total]);
  size_t at = 0;
  for (size_t j = 1; j < k; j++) {
    std::memcpy(super.get() + at, iov[j].iov_base, iov[j].iov_len);
    at += iov[j].iov_len;
  }
  const size_t n = k - 1;
  std::unique_ptr<uint8_t[]> hdrs(new uint8_t[n * 120]);
  std::vector<struct iovec> out(2 * n);
  Segments segs{};
  FUZZ_CHECK(Segment(super.get(), total, h, 0, hdrs.get(), n * 120, out.data(), out.size(), &segs) == kForward);
  FUZZ_CHECK(segs.count == n);
  FUZZ_CHECK(segs.hdr_block == h.hdr_len);
  for (size_t i = 0; i < n; i++) {
    const uint8_t* want = static_cast<const uint8_t*>(iov[i + 1].iov_base) + (i == 0 ? h.hdr_len : 0);
    const size_t want_len = iov[i + 1].iov_len - (i == 0 ? h.hdr_len : 0);
    FUZZ_CHECK(out[2 * i + 1].iov_len == want_len);
    FUZZ_CHECK(std::memcmp(out[2 * i + 1].iov_base, want, want_len) == 0);
  }
}

void Receive(const uint8_t* data, size_t size) {
  if (size < 4) return;
  const bool vxlan = data[1] & 1;
  const bool own_from_input = data[1] & 2;
  const size_t step_in = (static_cast<size_t>(data[2]) << 8) | data[3];
  const size_t len = size - 4;
  if (len == 0 || len > kMaxPacket) return;  // the worker drops these before any decoding
  // One receive buffer holding every datagram, as recvmmsg fills it.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[len]);
  std::memcpy(buf.get(), data + 4, len);
  uint32_t vni = 1;
  uint8_t own_mac[6];
  std::memcpy(own_mac, kDefaultMac, 6);
  if (own_from_input && len >= kVxlanEncapLen) {
    vni = Load32(buf.get() + 4) >> 8;
    std::memcpy(own_mac, buf.get() + kVxlanHeaderLen, 6);
  }
  const size_t step = (step_in > 0 && step_in < len) ? step_in : len;
  const bool grouped = step < len;
  Coalescer run;
  struct iovec wr[Coalescer::kMaxIov];
  for (size_t off = 0; off < len; off += step) {
    const size_t dlen = len - off < step ? len - off : step;
    uint8_t* d = buf.get() + off;
    size_t ioff = 0;
    size_t ip_len = 0;
    const Verdict v = vxlan ? VxlanDecap(d, dlen, vni, own_mac, &ioff, &ip_len) : UdpDecap(d, dlen, &ip_len);
    if (v != kForward) {
      FUZZ_CHECK(v >= kDropFirst && v < kDropLast);
      continue;
    }
    FUZZ_CHECK(ioff + ip_len <= dlen);
    uint8_t* pkt = d + ioff;
    if (!grouped) continue;
    if (run.count() > 0 && run.Append(pkt, ip_len)) continue;
    if (run.count() > 0) CheckMerged(wr, run.Finish(wr));
    run.Start(pkt, ip_len);
  }
  if (run.count() > 0) CheckMerged(wr, run.Finish(wr));
}

// Decapsulates one encapsulated datagram [hdr, hdr_len) + [payload, pay_len)
// and checks it is a valid IPv4 packet of exactly that size.
void CheckDatagram(bool vxlan, const uint8_t* hdr, size_t hdr_len, const uint8_t* payload, size_t pay_len) {
  const size_t n = hdr_len + pay_len;
  std::unique_ptr<uint8_t[]> d(new uint8_t[n]);
  std::memcpy(d.get(), hdr, hdr_len);
  if (pay_len > 0) std::memcpy(d.get() + hdr_len, payload, pay_len);
  size_t ioff = 0;
  size_t ip_len = 0;
  if (vxlan) {
    FUZZ_CHECK(VxlanDecap(d.get(), n, 1, kPeerMac, &ioff, &ip_len) == kForward);
    FUZZ_CHECK(ioff == kVxlanEncapLen && ip_len == n - kVxlanEncapLen);
  } else {
    FUZZ_CHECK(CheckIpv4(d.get(), n, &ip_len) == kForward && ip_len == n);
  }
}

void Send(const uint8_t* data, size_t size) {
  if (size < 1 + kVnetHdrLen + 1) return;
  VnetHdr h;
  std::memcpy(&h, data + 1, kVnetHdrLen);
  const bool vxlan = data[1 + kVnetHdrLen] & 1;
  const size_t len = size - 2 - kVnetHdrLen;
  if (len > kMaxPacket) return;  // a TUN read returns at most this much
  const size_t prefix = vxlan ? kVxlanEncapLen : 0;
  // Headroom in front, as the worker's arena has it; the packet ends the buffer.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[kHeadroom + len]);
  uint8_t* pkt = buf.get() + kHeadroom;
  if (len > 0) std::memcpy(pkt, data + 2 + kVnetHdrLen, len);

  size_t ip_len = 0;
  if (CheckIpv4(pkt, len, &ip_len) != kForward) return;
  FUZZ_CHECK(ip_len <= len);
  uint8_t icmp[128];
  const size_t m = BuildNetUnreachable(pkt, ip_len, 0x0af44d00u, icmp, sizeof(icmp));
  if (m > 0) {
    size_t icmp_len = 0;
    FUZZ_CHECK(m <= sizeof(icmp) && CheckIpv4(icmp, m, &icmp_len) == kForward && icmp_len == m);
  }
  if (!vxlan && DecrementTtl(pkt) != kForward) return;

  if (h.gso_type == kGsoNone) {
    if ((h.flags & kVnetNeedsCsum) && CompleteChecksum(pkt, ip_len, h) != kForward) return;
    const uint8_t* payload = vxlan ? VxlanEncap(pkt, kEtherTypeIpv4, 1, kPeerMac, kDefaultMac) : pkt;
    FUZZ_CHECK(payload == pkt - prefix);
    CheckDatagram(vxlan, payload, prefix + ip_len, nullptr, 0);
    return;
  }
  // Header area and iovec capacities as the worker gives them (bounded by
  // its arena and pool), so a huge segment count must be refused, not overrun.
  const size_t hdr_cap = 64 * 4 * (kVxlanEncapLen + 60 + 60);
  std::unique_ptr<uint8_t[]> hdrs(new uint8_t[hdr_cap]);
  std::vector<struct iovec> iov(2 * 64 * 4);
  Segments segs{};
  if (Segment(pkt, ip_len, h, prefix, hdrs.get(), hdr_cap, iov.data(), iov.size(), &segs) != kForward) return;
  FUZZ_CHECK(segs.count >= 1 && segs.count * segs.hdr_block <= hdr_cap && 2 * segs.count <= iov.size());
  size_t payload_sum = 0;
  for (size_t i = 0; i < segs.count; i++) {
    uint8_t* block = hdrs.get() + i * segs.hdr_block;
    if (vxlan) VxlanEncap(block + prefix, kEtherTypeIpv4, 1, kPeerMac, kDefaultMac);
    FUZZ_CHECK(iov[2 * i].iov_base == block && iov[2 * i].iov_len == segs.hdr_block);
    FUZZ_CHECK(iov[2 * i + 1].iov_len <= h.gso_size);
    const size_t seg_len = segs.hdr_block + iov[2 * i + 1].iov_len;
    FUZZ_CHECK(seg_len == (i + 1 < segs.count ? segs.seg_len : segs.last_len));
    CheckDatagram(vxlan, block, segs.hdr_block, static_cast<const uint8_t*>(iov[2 * i + 1].iov_base),
                  iov[2 * i + 1].iov_len);
    payload_sum += iov[2 * i + 1].iov_len;
  }
  FUZZ_CHECK(payload_sum + segs.hdr_block - prefix == ip_len);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    Send(data, size);
  } else {
    Receive(data, size);
  }
  return 0;
}
