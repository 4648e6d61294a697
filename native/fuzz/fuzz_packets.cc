// libFuzzer harness over the packet pipelines of the native core (no Node,
// no sockets): the receive pipeline (Decapsulator, native/core/decap.h) and
// the send pipeline (Encapsulator, native/core/encap.h), the very code the
// worker runs, against a populated table (a real shared-memory Table):
//
//   leases 10.244.1.0/24 -> 198.18.0.1, .2.0/24 -> 198.18.0.2,
//          .3.0/24 -> 198.18.0.3 (direct), 10.244.128.0/17 -> 198.18.0.4
//          (overflow); network 10.244.0.0/16, SubnetLen 24; VtepMAC of
//          lease k: 0e:2a:0a:f4:0k:00
//
//   input[0] & 1 == 0: RECEIVE  input = [0][flags][step hi][step lo] datagrams...
//     flags bit 0: vxlan (else udp backend); bit 1: take our VNI and VtepMAC
//       from the first datagram (so fixture seeds pass those checks and reach
//       the inner headers) instead of VNI 1 / 0e:2a:0a:f4:02:00; bit 2: accept
//       unknown peers (no peer check); bit 3: no inner-source check; bits 4-5:
//       the outer source (0: the PublicIP of the lease holding the first
//       datagram's inner source, 1: 198.18.0.1, 2: 198.18.0.2, 3: a non-peer);
//       bit 6: coalesce UDP too (USO); bit 7: no coalescing.
//     The rest is one received message: cut into datagrams of `step` bytes
//     as UDP GRO hands them over (step 0: one datagram) and run through
//     Decapsulator::Receive: peer check, decode, admission, coalescing.
//     Oracles: every datagram is written or counted in exactly one drop
//     counter; a written packet lies inside the message, is for the overlay
//     network and (with the check) comes from the lease of the outer source;
//     a non-peer gets nothing written (with the peer check); every merged
//     super-packet, cut again by Segment() with the virtio_net_hdr Coalescer
//     produced, gives back exactly the payloads that were merged.
//
//   input[0] & 1 == 1: SEND  input = [1][virtio_net_hdr: 10 bytes][backend] packet
//     One TUN read through Encapsulator::Encapsulate: CheckIpv4, the table
//     lookup (no route: BuildNetUnreachable), TTL - 1 (udp), CompleteChecksum
//     (NEEDS_CSUM) or Segment() (GSO, untrusted gso_size and csum fields),
//     VxlanEncap.
//     Oracles: the datagrams go to the PublicIP of the destination's lease;
//     every datagram decapsulates (VxlanDecap with the peer's VtepMAC) to an
//     IPv4 packet of exactly its length; segments carry at most gso_size
//     payload bytes and add up to the super-packet's payload; a packet
//     without a route gets a valid ICMP error that fits its buffer.
//
//   input[0] & 0xc1 == 0x40: RECEIVE6  input = [0x40][flags][step hi][step lo] datagrams...
//     The same over the IPv6 underlay of a dual-stack vxlan table (the IPv4
//     leases above plus fd00:10:244:k::/64 -> 2001:db8::k, VtepMAC
//     0e:2a:0a:f4:0k:06; IPv6 network fd00:10:244::/48), through
//     Decapsulator::Receive6 with the IPv6 frames' MAC (default
//     0e:2a:0a:f4:02:06). flags as RECEIVE (bit 0 ignored: vxlan only); the
//     outer source of bits 4-5 is 2001:db8::k, or 2001:db8::99 (no peer).
//     Oracles as RECEIVE, and: only IPv6 packets are written (an inner IPv4
//     packet from the IPv6 underlay never is).
//
//   input[0] & 0xc0 == 0x80: the offload layer alone, IPv4 and IPv6
//     (Segment, CompleteChecksum, Coalescer; native/fuzz/fuzz_offload.cc).
//
// Buffers are heap copies of exactly the bytes in play, so ASan sees any
// read or write past them.
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/codec.h"
#include "../core/decap.h"
#include "../core/encap.h"
#include "../core/limits.h"
#include "../core/offload.h"
#include "../core/packet.h"
#include "../core/table.h"

namespace {

using namespace weft;

// A failed oracle is a finding: abort so libFuzzer saves the input.
#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

const uint8_t kDefaultMac[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00};
// Our own VtepMAC on the send side: no lease's.
const uint8_t kSenderMac[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x09, 0x00};
const uint32_t kNetwork = 0x0af40000u;  // 10.244.0.0/16
const uint32_t kNonPeer = 0xcb007107u;  // 203.0.113.7

// The lease (1..4) holding `ip` (host order), 0 for none: the table's
// contents, written out independently of the table code.
int LeaseOf(uint32_t ip) {
  if ((ip >> 16) != (kNetwork >> 16)) return 0;
  const uint32_t third = (ip >> 8) & 0xff;
  if (third >= 1 && third <= 3) return static_cast<int>(third);
  return third >= 128 ? 4 : 0;
}
uint32_t PublicIpOf(int lease) { return 0xc6120000u + static_cast<uint32_t>(lease); }  // 198.18.0.k
void MacOf(int lease, uint8_t mac[6]) {
  const uint8_t m[6] = {0x0e, 0x2a, 0x0a, 0xf4, static_cast<uint8_t>(lease), 0x00};
  std::memcpy(mac, m, 6);
}

// One populated table per backend, made once, in a private directory that
// is removed at once (the mapping stays).
const Table* MakeTable(uint8_t backend) {
  char dir[] = "/tmp/weft-fuzz-table.XXXXXX";
  if (mkdtemp(dir) == nullptr) __builtin_trap();
  const std::string path = std::string(dir) + "/t";
  std::unique_ptr<Table> t;
  bool reattached = false;
  const Status s = Table::OpenWriter(path, {kNetwork, 16, 24, backend, {}, 0, 0}, &t, &reattached);
  if (!s.ok()) {
    std::fprintf(stderr, "fuzz: cannot create the table: %s\n", s.ToString().c_str());
    __builtin_trap();
  }
  const struct {
    uint32_t subnet;
    uint8_t prefix_len;
    int lease;
  } leases[] = {{0x0af40100u, 24, 1}, {0x0af40200u, 24, 2}, {0x0af40300u, 24, 3}, {0x0af48000u, 17, 4}};
  for (const auto& l : leases) {
    table::EntryData e{};
    e.subnet = l.subnet;
    e.prefix_len = l.prefix_len;
    e.backend = backend;
    e.family = 4;
    Store32(e.public_ip, PublicIpOf(l.lease));
    MacOf(l.lease, e.vtep_mac);
    e.has_mac = backend == table::kBackendVxlan;
    if (!t->Set(e).ok()) __builtin_trap();
  }
  unlink(path.c_str());
  rmdir(dir);
  return t.release();  // lives as long as the process
}

// The dual-stack table's IPv6 side, written out independently of the table code.
const uint8_t kNetwork6[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44};  // fd00:10:244::/48
const uint8_t kDefaultMac6[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x06};
// The lease (1..3) holding the IPv6 address `ip`, 0 for none.
int LeaseOf6(const uint8_t* ip) {
  if (std::memcmp(ip, kNetwork6, 6) != 0 || ip[6] != 0) return 0;
  return ip[7] >= 1 && ip[7] <= 3 ? ip[7] : 0;
}
void PublicIp6Of(int lease, uint8_t out[16]) {  // 2001:db8::k
  const uint8_t base[16] = {0x20, 0x01, 0x0d, 0xb8};
  std::memcpy(out, base, 16);
  out[15] = static_cast<uint8_t>(lease);
}

const Table* DualStackTable() {
  char dir[] = "/tmp/weft-fuzz-table6.XXXXXX";
  if (mkdtemp(dir) == nullptr) __builtin_trap();
  const std::string path = std::string(dir) + "/t";
  std::unique_ptr<Table> t;
  bool reattached = false;
  table::GeometryParams geo{kNetwork, 16, 24, table::kBackendVxlan, {}, 48, 64};
  std::memcpy(geo.network6, kNetwork6, 16);
  if (!Table::OpenWriter(path, geo, &t, &reattached).ok()) __builtin_trap();
  for (int lease = 1; lease <= 3; lease++) {
    table::EntryData e{};
    e.subnet_family = 6;
    std::memcpy(e.subnet6, kNetwork6, 16);
    e.subnet6[7] = static_cast<uint8_t>(lease);
    e.prefix_len = 64;
    e.backend = table::kBackendVxlan;
    e.family = 6;
    PublicIp6Of(lease, e.public_ip);
    MacOf(lease, e.vtep_mac);
    e.vtep_mac[5] = 0x06;
    e.has_mac = 1;
    if (!t->Set(e).ok()) __builtin_trap();
    e = table::EntryData{};
    e.subnet_family = 4;
    e.subnet = kNetwork | static_cast<uint32_t>(lease) << 8;
    e.prefix_len = 24;
    e.backend = table::kBackendVxlan;
    e.family = 4;
    Store32(e.public_ip, PublicIpOf(lease));
    MacOf(lease, e.vtep_mac);
    e.has_mac = 1;
    if (!t->Set(e).ok()) __builtin_trap();
  }
  unlink(path.c_str());
  rmdir(dir);
  return t.release();  // lives as long as the process
}

const Table* TableFor(bool vxlan) {
  static const Table* const udp = MakeTable(table::kBackendUdp);
  static const Table* const vx = MakeTable(table::kBackendVxlan);
  return vxlan ? vx : udp;
}

// Cuts the merged super-packet that Coalescer::Finish returned (iov[0] is the
// virtio_net_hdr, iov[1..k) the parts) back into segments and compares. UDP
// super-packets (UDP_L4) only when the run may merge UDP (`udp`).
void CheckMerged(const struct iovec* iov, size_t k, bool udp) {
  VnetHdr h;
  FUZZ_CHECK(iov[0].iov_len == kVnetHdrLen);
  std::memcpy(&h, iov[0].iov_base, kVnetHdrLen);
  if (k == 2) {  // a lone packet goes out with an all-zero header
    FUZZ_CHECK(h.flags == 0 && h.gso_type == 0 && h.gso_size == 0);
    return;
  }
  FUZZ_CHECK((h.gso_type == kGsoTcpv4 || h.gso_type == kGsoTcpv6 || (udp && h.gso_type == kGsoUdpL4)) &&
             h.gso_size > 0);
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

// One TUN write of the receive pipeline: 2..kMaxIov iovecs, every byte
// inside the received buffer [begin, end), `bytes` in all. Returns the packet.
const uint8_t* CheckWrite(const struct iovec* iov, size_t k, size_t bytes, const uint8_t* begin, const uint8_t* end) {
  FUZZ_CHECK(k >= 2 && k <= Coalescer::kMaxIov);
  size_t sum = 0;
  for (size_t j = 1; j < k; j++) {
    const uint8_t* p = static_cast<const uint8_t*>(iov[j].iov_base);
    FUZZ_CHECK(p >= begin && p + iov[j].iov_len <= end);
    sum += iov[j].iov_len;
  }
  FUZZ_CHECK(sum == bytes);
  return static_cast<const uint8_t*>(iov[1].iov_base);
}

// Every received datagram was either written or counted in one drop counter.
void CheckAccounted(const uint64_t* c, uint64_t written, size_t len) {
  uint64_t drops = 0;
  for (uint32_t i = kDropFirst; i < kDropLast; i++) drops += c[i];
  FUZZ_CHECK(written + drops == c[kUdpRxPackets]);
  FUZZ_CHECK(c[kUdpRxBytes] == len);
}

void Receive(const uint8_t* data, size_t size) {
  if (size < 4) return;
  const uint8_t flags = data[1];
  const bool vxlan = flags & 1;
  const size_t step_in = (static_cast<size_t>(data[2]) << 8) | data[3];
  const size_t len = size - 4;
  // One receive buffer holding every datagram, as recvmmsg fills it (len 0
  // and oversized messages included: the pipeline drops them).
  std::unique_ptr<uint8_t[]> buf(new uint8_t[len + 1]);
  if (len > 0) std::memcpy(buf.get(), data + 4, len);
  const Table* table = TableFor(vxlan);
  DecapConfig config;
  config.backend = vxlan ? table::kBackendVxlan : table::kBackendUdp;
  config.vni = 1;
  std::memcpy(config.own_mac, kDefaultMac, 6);
  if ((flags & 2) && len >= kVxlanEncapLen) {
    config.vni = Load32(buf.get() + 4) >> 8;
    std::memcpy(config.own_mac, buf.get() + kVxlanHeaderLen, 6);
  }
  config.network = kNetwork;
  config.network_prefix_len = 16;
  config.check_peers = !(flags & 4);
  config.check_inner_source = !(flags & 8);
  config.coalesce_udp = flags & 0x40;
  config.coalesce = !(flags & 0x80);
  uint32_t outer = kNonPeer;
  switch ((flags >> 4) & 3) {
    case 0: {
      const size_t at = (vxlan ? kVxlanEncapLen : 0) + ipv4::kSrc;
      const int lease = len >= at + 4 ? LeaseOf(Load32(buf.get() + at)) : 0;
      outer = PublicIpOf(lease == 0 ? 1 : lease);
      break;
    }
    case 1:
      outer = PublicIpOf(1);
      break;
    case 2:
      outer = PublicIpOf(2);
      break;
  }
  const bool peer = outer != kNonPeer;

  // Coalescing as the worker runs it: runs go on across the messages of one
  // receive batch, so a GRO'd buffer is cut in two messages where it can be
  // (at a datagram boundary) and flushed after both.
  config.coalesce_batch = config.coalesce;
  Decapsulator decap(config, table);
  uint64_t c[kCounterCount] = {};
  uint64_t written = 0;
  const uint8_t* begin = buf.get();
  const uint8_t* end = buf.get() + len;
  const auto sink = [&](const struct iovec* iov, size_t k, size_t bytes, bool) {
    const uint8_t* first = CheckWrite(iov, k, bytes, begin, end);
    FUZZ_CHECK(iov[1].iov_len >= kIpv4MinHeaderLen);
    FUZZ_CHECK((Load32(first + ipv4::kDst) >> 16) == (kNetwork >> 16));
    if (config.check_inner_source) FUZZ_CHECK(PublicIpOf(LeaseOf(Load32(first + ipv4::kSrc))) == outer);
    if (config.check_peers) FUZZ_CHECK(peer);
    written += k - 1;
    CheckMerged(iov, k, config.coalesce_udp);
  };
  const size_t half = step_in > 0 ? (len / step_in / 2) * step_in : 0;
  if (config.coalesce_batch && half > 0 && half < len) {
    decap.Receive(buf.get(), half, step_in, false, outer, c, sink);
    decap.Receive(buf.get() + half, len - half, step_in, false, outer, c, sink);
  } else {
    decap.Receive(buf.get(), len, step_in, false, outer, c, sink);
  }
  decap.Flush(sink);
  CheckAccounted(c, written, len);
}

void Receive6(const uint8_t* data, size_t size) {
  if (size < 4) return;
  static const Table* const table = DualStackTable();
  const uint8_t flags = data[1];
  const size_t step_in = (static_cast<size_t>(data[2]) << 8) | data[3];
  const size_t len = size - 4;
  std::unique_ptr<uint8_t[]> buf(new uint8_t[len + 1]);
  if (len > 0) std::memcpy(buf.get(), data + 4, len);
  DecapConfig config;
  config.backend = table::kBackendVxlan;
  config.vni = 1;
  std::memcpy(config.own_mac, kDefaultMac6, 6);
  if ((flags & 2) && len >= kVxlanEncapLen) {
    config.vni = Load32(buf.get() + 4) >> 8;
    std::memcpy(config.own_mac, buf.get() + kVxlanHeaderLen, 6);
  }
  config.underlay_family = 6;
  config.network = kNetwork;
  config.network_prefix_len = 16;
  config.ipv6 = true;
  std::memcpy(config.network6, kNetwork6, 16);
  config.network6_prefix_len = 48;
  config.check_peers = !(flags & 4);
  config.check_inner_source = !(flags & 8);
  config.coalesce_udp = flags & 0x40;
  config.coalesce = !(flags & 0x80);
  int lease = 99;  // no peer
  switch ((flags >> 4) & 3) {
    case 0: {
      const size_t at = kVxlanEncapLen + ipv6::kSrc;
      const int l = len >= at + 16 ? LeaseOf6(buf.get() + at) : 0;
      lease = l == 0 ? 1 : l;
      break;
    }
    case 1:
      lease = 1;
      break;
    case 2:
      lease = 2;
      break;
  }
  uint8_t outer[16];
  PublicIp6Of(lease, outer);
  const bool peer = lease != 99;

  Decapsulator decap(config, table);
  uint64_t c[kCounterCount] = {};
  uint64_t written = 0;
  const uint8_t* begin = buf.get();
  const uint8_t* end = buf.get() + len;
  decap.Receive6(buf.get(), len, step_in, false, outer, c, [&](const struct iovec* iov, size_t k, size_t bytes, bool) {
    const uint8_t* first = CheckWrite(iov, k, bytes, begin, end);
    FUZZ_CHECK(iov[1].iov_len >= kIpv6HeaderLen && (first[0] >> 4) == 6);
    FUZZ_CHECK(std::memcmp(first + ipv6::kDst, kNetwork6, 6) == 0);
    if (config.check_inner_source) FUZZ_CHECK(LeaseOf6(first + ipv6::kSrc) == lease);
    if (config.check_peers) FUZZ_CHECK(peer);
    written += k - 1;
    CheckMerged(iov, k, config.coalesce_udp);
  });
  CheckAccounted(c, written, len);
}

// Decapsulates one encapsulated datagram [hdr, hdr_len) + [payload, pay_len)
// and checks it is a valid IPv4 packet of exactly that size.
void CheckDatagram(bool vxlan, const uint8_t* peer_mac, const uint8_t* hdr, size_t hdr_len, const uint8_t* payload,
                   size_t pay_len) {
  const size_t n = hdr_len + pay_len;
  std::unique_ptr<uint8_t[]> d(new uint8_t[n]);
  std::memcpy(d.get(), hdr, hdr_len);
  if (pay_len > 0) std::memcpy(d.get() + hdr_len, payload, pay_len);
  size_t ioff = 0;
  size_t ip_len = 0;
  if (vxlan) {
    FUZZ_CHECK(VxlanDecap(d.get(), n, 1, peer_mac, &ioff, &ip_len) == kForward);
    FUZZ_CHECK(ioff == kVxlanEncapLen && ip_len == n - kVxlanEncapLen);
    FUZZ_CHECK(std::memcmp(d.get() + kVxlanHeaderLen + 6, kSenderMac, 6) == 0);
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
  // Headroom in front, as the worker's arena has it, then the read (vnet
  // header + packet), then a header area bounded as the worker's arena and
  // iovec pool bound it, so a huge segment count must be refused, not overrun.
  const size_t hdr_cap = 64 * 4 * Encapsulator::kSegmentHeaderRoom;
  const size_t total = kHeadroom + len + 8 + hdr_cap;
  std::unique_ptr<uint8_t[]> buf(new uint8_t[total]);
  uint8_t* pkt = buf.get() + kHeadroom;
  uint8_t* rd = pkt - kVnetHdrLen;
  std::memcpy(rd, &h, kVnetHdrLen);
  if (len > 0) std::memcpy(pkt, data + 2 + kVnetHdrLen, len);
  const uint32_t dst = len >= kIpv4MinHeaderLen ? Load32(pkt + ipv4::kDst) : 0;
  const int lease = LeaseOf(dst);

  EncapConfig config;
  config.backend = vxlan ? table::kBackendVxlan : table::kBackendUdp;
  config.vni = 1;
  std::memcpy(config.own_mac, kSenderMac, 6);
  config.vnet_hdr = true;
  Encapsulator encap(config, TableFor(vxlan));
  std::vector<struct iovec> iov(2 * 64 * 4);
  uint64_t c[kCounterCount] = {};
  Datagrams d;
  const Verdict v = encap.Encapsulate(rd, kVnetHdrLen + len, buf.get() + total, iov.data(), iov.size(), c, &d);
  if (v != kForward) {
    FUZZ_CHECK(v >= kDropFirst && v < kDropLast && c[v] == 1);
    if (v == kDropNoRoute && d.icmp_len > 0) {
      FUZZ_CHECK(lease == 0);
      size_t icmp_len = 0;
      FUZZ_CHECK(d.icmp_len <= 128 && CheckIpv4(d.icmp, d.icmp_len, &icmp_len) == kForward && icmp_len == d.icmp_len);
    }
    return;
  }
  FUZZ_CHECK(lease != 0 && Load32(d.peer_ip) == PublicIpOf(lease));
  FUZZ_CHECK(d.packet == pkt && d.ip_len <= len);
  uint8_t peer_mac[6];
  MacOf(lease, peer_mac);
  const size_t ip_len = d.ip_len;
  if (!d.segmented) {
    FUZZ_CHECK(h.gso_type == kGsoNone);
    FUZZ_CHECK(iov[0].iov_base == pkt - prefix && iov[0].iov_len == prefix + ip_len);
    CheckDatagram(vxlan, peer_mac, pkt - prefix, prefix + ip_len, nullptr, 0);
    return;
  }
  const Segments& segs = d.segs;
  FUZZ_CHECK(c[kTunRxGsoPackets] == 1);
  FUZZ_CHECK(segs.count >= 1 && 2 * segs.count <= iov.size() && d.end <= buf.get() + total);
  size_t payload_sum = 0;
  for (size_t i = 0; i < segs.count; i++) {
    const uint8_t* block = static_cast<const uint8_t*>(iov[2 * i].iov_base);
    FUZZ_CHECK(iov[2 * i].iov_len == segs.hdr_block);
    FUZZ_CHECK(iov[2 * i + 1].iov_len <= h.gso_size);
    const size_t seg_len = segs.hdr_block + iov[2 * i + 1].iov_len;
    FUZZ_CHECK(seg_len == (i + 1 < segs.count ? segs.seg_len : segs.last_len));
    CheckDatagram(vxlan, peer_mac, block, segs.hdr_block, static_cast<const uint8_t*>(iov[2 * i + 1].iov_base),
                  iov[2 * i + 1].iov_len);
    payload_sum += iov[2 * i + 1].iov_len;
  }
  FUZZ_CHECK(payload_sum + segs.hdr_block - prefix == ip_len);
}

}  // namespace

namespace weft::fuzz {
// The offload layer alone, IPv4 and IPv6 (fuzz_offload.cc): input[0] & 0xc0 == 0x80.
void FuzzOffload(const uint8_t* data, size_t size);
}  // namespace weft::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 0xc0) == 0x80) {
    weft::fuzz::FuzzOffload(data, size);
  } else if ((data[0] & 0xc1) == 0x40) {
    Receive6(data, size);
  } else if (data[0] & 1) {
    Send(data, size);
  } else {
    Receive(data, size);
  }
  return 0;
}
