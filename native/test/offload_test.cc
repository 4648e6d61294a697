// Tests of the offload code: regressions native/fuzz found (IPv4), and IPv6
// segmentation and coalescing edge cases, byte by byte, with expected values
// from a naive RFC 1071 sum and a pseudo-header built here (never the code
// under test).
#include "../core/offload.h"

#include <cstring>
#include <vector>

#include "test_util.h"

namespace weft::test {

namespace {

uint16_t Naive(const uint8_t* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// A 28-byte IPv4 header (IHL 7, two option words) + 8-byte UDP header + 10
// payload bytes, as read from the TUN with NEEDS_CSUM.
std::vector<uint8_t> UdpWithOptions() {
  std::vector<uint8_t> p(28 + 8 + 10, 0);
  p[0] = 0x47;
  Store16(&p[2], static_cast<uint16_t>(p.size()));
  p[8] = 64;
  p[9] = 17;
  for (size_t i = 20; i < 28; i++) p[i] = 1;  // NOP options
  Store32(&p[12], 0x0af40105);
  Store32(&p[16], 0x0af40205);
  Store16(&p[10], Naive(p.data(), 28));
  Store16(&p[28 + 4], 18);
  for (size_t i = 36; i < p.size(); i++) p[i] = static_cast<uint8_t>(i * 7);
  return p;
}

// fuzz: csum_start 0 / csum_offset 0 made CompleteChecksum write the sum
// over the IPv4 version/IHL bytes (native/fuzz/regressions/csum-start-in-ip-header).
void TestChecksumStartInsideIpHeader() {
  for (uint16_t start : {0, 1, 10, 20, 27}) {
    std::vector<uint8_t> p = UdpWithOptions();
    const std::vector<uint8_t> before = p;
    VnetHdr h{};
    h.flags = kVnetNeedsCsum;
    h.csum_start = start;
    h.csum_offset = 0;
    CHECK(CompleteChecksum(p.data(), p.size(), h) == kDropMalformed);
    CHECK(p == before);  // nothing written
  }
}

void TestChecksumFieldBounds() {
  std::vector<uint8_t> p = UdpWithOptions();
  VnetHdr h{};
  h.flags = kVnetNeedsCsum;
  h.csum_start = 28;
  h.csum_offset = static_cast<uint16_t>(p.size() - 28 - 1);  // field would straddle the end
  CHECK(CompleteChecksum(p.data(), p.size(), h) == kDropMalformed);
  h.csum_start = static_cast<uint16_t>(p.size());
  h.csum_offset = 0;
  CHECK(CompleteChecksum(p.data(), p.size(), h) == kDropMalformed);
}

void TestChecksumAfterOptions() {
  // The L4 header starts after the options: the sum covers UDP only and
  // lands at csum_start + 6.
  std::vector<uint8_t> p = UdpWithOptions();
  const std::vector<uint8_t> ip = p;
  VnetHdr h{};
  h.flags = kVnetNeedsCsum;
  h.csum_start = 28;
  h.csum_offset = 6;
  Store16(&p[28 + 6], 0);
  CHECK(CompleteChecksum(p.data(), p.size(), h) == kForward);
  CHECK(std::memcmp(p.data(), ip.data(), 28) == 0);  // IP header untouched
  std::vector<uint8_t> l4(p.begin() + 28, p.end());
  Store16(&l4[6], 0);
  uint16_t want = Naive(l4.data(), l4.size());
  if (want == 0) want = 0xffff;
  CHECK(Load16(&p[28 + 6]) == want);
}

// ---------------------------------------------------------------- IPv6

// One's-complement sum, folded, not inverted (0 when n == 0).
uint32_t NaiveSum(const uint8_t* p, size_t n, uint64_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

// RFC 8200 §8.1 pseudo-header of `ip` (addresses as in the header) for an
// upper-layer packet of `l4_len` bytes with protocol `proto`.
uint32_t Pseudo6(const uint8_t* ip, uint8_t proto, size_t l4_len) {
  uint8_t ph[40] = {};
  std::memcpy(ph, ip + 8, 32);
  Store32(ph + 32, static_cast<uint32_t>(l4_len));
  ph[39] = proto;
  return NaiveSum(ph, 40);
}

struct V6 {
  uint8_t tc = 0;
  uint32_t flow = 0x12345;
  uint8_t hop = 64;
  uint8_t src_last = 5;
  uint16_t sport = 40000;
  uint32_t seq = 1000;
  uint32_t ack = 77;
  uint8_t flags = 0x10;  // ACK
  uint16_t window = 502;
  std::vector<uint8_t> options;  // TCP options
  std::vector<uint8_t> ext;      // extension headers, already chained to end in `ext_last` -> TCP/UDP
  uint8_t first_next = 0;        // next header of the IPv6 header when ext is not empty
  size_t payload = 1000;
  uint8_t seed = 0;
  bool udp = false;
};

// Offset of the L4 header of `p` (a packet built by Build6).
size_t L4Off(const V6& o) { return 40 + o.ext.size(); }

// An IPv6 TCP or UDP packet (fd00:10:244:1::5 -> fd00:10:244:2::7) with a
// valid checksum; with `partial`, the L4 field holds only the pseudo-header
// sum, as a NEEDS_CSUM read from the TUN has it.
std::vector<uint8_t> Build6(const V6& o, bool partial = false) {
  const size_t l4h = o.udp ? 8 : 20 + o.options.size();
  const size_t l4_len = l4h + o.payload;
  std::vector<uint8_t> p(40 + o.ext.size() + l4_len, 0);
  Store32(&p[0], (6u << 28) | (uint32_t{o.tc} << 20) | (o.flow & 0xfffff));
  Store16(&p[4], static_cast<uint16_t>(p.size() - 40));
  const uint8_t proto = o.udp ? 17 : 6;
  p[6] = o.ext.empty() ? proto : o.first_next;
  p[7] = o.hop;
  const uint8_t src[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 1, 0, 0, 0, 0, 0, 0, 0, o.src_last};
  const uint8_t dst[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7};
  std::memcpy(&p[8], src, 16);
  std::memcpy(&p[24], dst, 16);
  std::copy(o.ext.begin(), o.ext.end(), p.begin() + 40);
  uint8_t* l4 = &p[L4Off(o)];
  Store16(l4, o.sport);
  Store16(l4 + 2, 5201);
  if (o.udp) {
    Store16(l4 + 4, static_cast<uint16_t>(l4_len));
  } else {
    Store32(l4 + 4, o.seq);
    Store32(l4 + 8, o.ack);
    l4[12] = static_cast<uint8_t>((l4h / 4) << 4);
    l4[13] = o.flags;
    Store16(l4 + 14, o.window);
    std::copy(o.options.begin(), o.options.end(), l4 + 20);
  }
  for (size_t i = 0; i < o.payload; i++) l4[l4h + i] = static_cast<uint8_t>(i * 31 + o.seed * 7 + (i >> 8));
  const size_t at = o.udp ? 6 : 16;
  const uint32_t pseudo = Pseudo6(p.data(), proto, l4_len);
  uint16_t check =
      partial ? static_cast<uint16_t>(pseudo) : static_cast<uint16_t>(~NaiveSum(l4, l4_len, pseudo) & 0xffff);
  if (!partial && o.udp && check == 0) check = 0xffff;
  Store16(l4 + at, check);
  return p;
}

// True when the L4 checksum of the IPv6 packet `p` (L4 header at `l4_off`,
// protocol `proto`) verifies over the pseudo-header.
bool L4Ok6(const std::vector<uint8_t>& p, size_t l4_off, uint8_t proto) {
  const size_t l4_len = p.size() - l4_off;
  return NaiveSum(&p[l4_off], l4_len, Pseudo6(p.data(), proto, l4_len)) == 0xffff;
}

std::vector<uint8_t> Timestamps(uint32_t tsval, uint32_t tsecr) {
  std::vector<uint8_t> b(12, 0);
  b[0] = 1;
  b[1] = 1;
  b[2] = 8;
  b[3] = 10;
  Store32(&b[4], tsval);
  Store32(&b[8], tsecr);
  return b;
}

VnetHdr Tso6(size_t gso, uint8_t type = kGsoTcpv6, size_t csum_start = 40) {
  VnetHdr h{};
  h.flags = kVnetNeedsCsum;
  h.gso_type = type;
  h.gso_size = static_cast<uint16_t>(gso);
  h.csum_start = static_cast<uint16_t>(csum_start);
  h.csum_offset = type == kGsoUdpL4 ? 6 : 16;
  return h;
}

// Runs Segment (prefix 0) and returns each segment joined into one buffer;
// empty with *v set to the verdict when it refuses.
std::vector<std::vector<uint8_t>> Cut(const std::vector<uint8_t>& pkt, const VnetHdr& h, Verdict* v) {
  std::vector<uint8_t> hdrs((pkt.size() + 1) * 140);
  std::vector<struct iovec> iov(2 * (pkt.size() + 1));
  Segments segs{};
  *v = Segment(pkt.data(), pkt.size(), h, 0, hdrs.data(), hdrs.size(), iov.data(), iov.size(), &segs);
  std::vector<std::vector<uint8_t>> out;
  if (*v != kForward) return out;
  for (size_t i = 0; i < segs.count; i++) {
    const auto* a = static_cast<const uint8_t*>(iov[2 * i].iov_base);
    const auto* b = static_cast<const uint8_t*>(iov[2 * i + 1].iov_base);
    std::vector<uint8_t> s(a, a + iov[2 * i].iov_len);
    s.insert(s.end(), b, b + iov[2 * i + 1].iov_len);
    out.push_back(std::move(s));
  }
  return out;
}

// The TCPv6 super-packet `o` (read with a partial checksum) cut at `gso`:
// segment count, per-segment payload length field, seq, flags, checksum,
// unchanged header bytes, and the payloads joined give the original's.
void CheckSplit6(const V6& o, size_t gso, uint8_t type = kGsoTcpv6) {
  const std::vector<uint8_t> orig = Build6(o);
  const std::vector<uint8_t> in = Build6(o, true);
  Verdict v = 0;
  const auto segs = Cut(in, Tso6(gso, type, L4Off(o)), &v);
  CHECK(v == kForward);
  const size_t n = o.payload == 0 ? 1 : (o.payload + gso - 1) / gso;
  CHECK(segs.size() == n);
  if (segs.size() != n) return;
  const size_t l4 = L4Off(o);
  const size_t l4h = o.udp ? 8 : 20 + o.options.size();
  const size_t hdr = l4 + l4h;
  std::vector<uint8_t> joined;
  for (size_t i = 0; i < n; i++) {
    const auto& s = segs[i];
    const size_t want = i + 1 < n ? gso : o.payload - (n - 1) * gso;
    CHECK(s.size() == hdr + want);
    CHECK(Load16(&s[4]) == s.size() - 40);                // payload length
    CHECK(std::memcmp(&s[0], &orig[0], 4) == 0);          // version, traffic class, flow label
    CHECK(std::memcmp(&s[6], &orig[6], 34) == 0);         // next header, hop limit, addresses
    CHECK(std::memcmp(&s[40], &orig[40], l4 - 40) == 0);  // extension headers
    CHECK(L4Ok6(s, l4, o.udp ? 17 : 6));                  // full checksum, independently verified
    if (o.udp) {
      CHECK(Load16(&s[l4 + 4]) == l4h + want);
    } else {
      CHECK(Load32(&s[l4 + 4]) == o.seq + static_cast<uint32_t>(i * gso));
      uint8_t flags = o.flags;
      if (i + 1 < n) flags &= static_cast<uint8_t>(~(tcp::kFin | tcp::kPsh));
      if (i > 0) flags &= static_cast<uint8_t>(~tcp::kCwr);
      CHECK(s[l4 + 13] == flags);
      CHECK(std::memcmp(&s[l4 + 8], &orig[l4 + 8], 5) == 0);           // ack, data offset
      CHECK(std::memcmp(&s[l4 + 14], &orig[l4 + 14], 2) == 0);         // window
      CHECK(std::memcmp(&s[l4 + 20], &orig[l4 + 20], l4h - 20) == 0);  // options
    }
    joined.insert(joined.end(), s.begin() + static_cast<long>(hdr), s.end());
  }
  CHECK(joined.size() == o.payload && std::equal(joined.begin(), joined.end(), orig.begin() + static_cast<long>(hdr)));
  if (n == 1) CHECK(segs[0] == orig);  // one segment: the packet itself, checksum completed
}

void TestSegment6Tcp() {
  V6 o;
  o.payload = 65535 - 40 - 32;
  o.options = Timestamps(0x01020304, 0x0a0b0c0d);
  o.seq = 0xfffff000;                                                  // wraps
  o.flags = tcp::kAckFlag | tcp::kPsh | tcp::kFin | tcp::kCwr | 0x40;  // + ECE
  CheckSplit6(o, 1428);
  CheckSplit6(o, 1428, kGsoTcpv6 | kGsoEcn);
  o.payload = 8000;  // an exact multiple: equal segments, PSH/FIN still only on the last
  CheckSplit6(o, 1000);
  o.payload = 999;  // shorter than gso: one segment
  CheckSplit6(o, 1000);
  o.payload = 0;  // header only
  CheckSplit6(o, 1000);
  o.payload = 1001;  // last segment one byte
  o.options.clear();
  CheckSplit6(o, 1000);
  o.payload = 3001;  // odd sizes: payload sums start on odd offsets of the original
  CheckSplit6(o, 7);
}

void TestSegment6Udp() {
  V6 o;
  o.udp = true;
  o.payload = 65535 - 48;
  CheckSplit6(o, 1452, kGsoUdpL4);
  o.payload = 10;
  CheckSplit6(o, 1452, kGsoUdpL4);
}

// Hop-by-hop (8 bytes, PadN) then destination options (16 bytes) in front of
// TCP: copied into every segment, counted in the payload length.
std::vector<uint8_t> HbhDst(uint8_t last) {
  std::vector<uint8_t> e(24, 0);
  e[0] = 60;  // -> destination options
  e[1] = 0;   // 8 bytes
  e[2] = 1;   // PadN, 4 bytes of padding
  e[3] = 4;
  e[8] = last;
  e[9] = 1;  // 16 bytes
  e[10] = 1;
  e[11] = 12;
  return e;
}

void TestSegment6ExtensionHeaders() {
  V6 o;
  o.ext = HbhDst(6);
  o.first_next = 0;
  o.payload = 5000;
  o.options = Timestamps(1, 2);
  o.flags = tcp::kAckFlag | tcp::kPsh;
  CheckSplit6(o, 1400);
  V6 u = o;
  u.udp = true;
  u.ext = HbhDst(17);
  CheckSplit6(u, 1400, kGsoUdpL4);
  // A routing header whose segments are all done (segments left 0).
  V6 r = o;
  r.ext.assign(24, 0);
  r.first_next = 43;
  r.ext[0] = 6;
  r.ext[1] = 2;  // 24 bytes
  r.ext[2] = 4;  // SRH
  r.ext[3] = 0;  // segments left
  CheckSplit6(r, 1400);
}

void ExpectDrop(const std::vector<uint8_t>& p, const VnetHdr& h) {
  Verdict v = kForward;
  Cut(p, h, &v);
  CHECK(v == kDropMalformed);
}

void TestSegment6Malformed() {
  V6 o;
  o.payload = 3000;
  const std::vector<uint8_t> good = Build6(o, true);
  ExpectDrop(good, Tso6(0));                                  // gso_size 0
  ExpectDrop(good, Tso6(1000, kGsoTcpv4));                    // TCPv4 on IPv6
  ExpectDrop(good, Tso6(1000, kGsoUdpL4));                    // UDP_L4 on TCP
  ExpectDrop(good, Tso6(1000, 3));                            // old UFO
  ExpectDrop({good.begin(), good.end() - 1}, Tso6(1000));     // payload length beyond the buffer
  ExpectDrop({good.begin(), good.begin() + 39}, Tso6(1000));  // IPv6 header cut short
  {
    std::vector<uint8_t> p(good.begin(), good.begin() + 50);  // 10 bytes of TCP
    Store16(&p[4], 10);
    ExpectDrop(p, Tso6(1000));
  }
  {
    std::vector<uint8_t> p = good;
    p[40 + 12] = 0x40;  // data offset 4
    ExpectDrop(p, Tso6(1000));
    std::vector<uint8_t> q(good.begin(), good.begin() + 64);  // data offset 15 past 24 bytes of TCP
    Store16(&q[4], 24);
    q[40 + 12] = 0xf0;
    ExpectDrop(q, Tso6(1000));
  }
  {
    V6 t = o;
    t.udp = true;
    ExpectDrop(Build6(t, true), Tso6(1000, kGsoTcpv6));  // TCPv6 on UDP
  }
  // Extension headers Segment cannot cut under: a fragment header, AH, a
  // routing header with segments left, a chain running past the packet, a
  // chain longer than kMaxExtHeaders.
  for (uint8_t first : {uint8_t{44}, uint8_t{51}, uint8_t{50}}) {
    V6 e = o;
    e.ext.assign(8, 0);
    e.ext[0] = 6;
    e.first_next = first;
    ExpectDrop(Build6(e, true), Tso6(1000, kGsoTcpv6, 48));
  }
  {
    V6 e = o;
    e.ext.assign(24, 0);
    e.first_next = 43;
    e.ext[0] = 6;
    e.ext[1] = 2;
    e.ext[2] = 4;
    e.ext[3] = 1;  // segments left 1
    ExpectDrop(Build6(e, true), Tso6(1000, kGsoTcpv6, 64));
  }
  {
    V6 e = o;
    e.payload = 0;
    e.options.clear();
    std::vector<uint8_t> p = Build6(e, true);
    p[6] = 0;  // hop-by-hop claiming 2 KiB
    p[40 + 1] = 255;
    ExpectDrop(p, Tso6(1000));
  }
  {
    V6 e = o;
    e.ext.assign(8 * 9, 0);  // nine destination options headers
    e.first_next = 60;
    for (size_t i = 0; i < 9; i++) e.ext[8 * i] = i + 1 < 9 ? 60 : 6;
    ExpectDrop(Build6(e, true), Tso6(1000, kGsoTcpv6, 40 + 72));
  }
}

void TestCompleteChecksum6() {
  for (bool udp : {false, true}) {
    V6 o;
    o.udp = udp;
    o.payload = 777;
    const std::vector<uint8_t> want = Build6(o);
    std::vector<uint8_t> p = Build6(o, true);
    VnetHdr h = Tso6(0, kGsoNone);
    h.csum_offset = udp ? 6 : 16;
    CHECK(CompleteChecksum(p.data(), p.size(), h) == kForward);
    CHECK(p == want);
    // csum_start inside the fixed IPv6 header: dropped, nothing written.
    for (uint16_t start : {0, 4, 39}) {
      std::vector<uint8_t> q = Build6(o, true);
      const std::vector<uint8_t> before = q;
      h.csum_start = start;
      CHECK(CompleteChecksum(q.data(), q.size(), h) == kDropMalformed);
      CHECK(q == before);
    }
    // csum_start / field beyond the packet.
    std::vector<uint8_t> q = Build6(o, true);
    h.csum_start = static_cast<uint16_t>(q.size());
    CHECK(CompleteChecksum(q.data(), q.size(), h) == kDropMalformed);
    h.csum_start = 40;
    h.csum_offset = static_cast<uint16_t>(q.size() - 40 - 1);
    CHECK(CompleteChecksum(q.data(), q.size(), h) == kDropMalformed);
  }
  // Behind extension headers: csum_start past them.
  V6 e;
  e.ext = HbhDst(6);
  e.payload = 100;
  const std::vector<uint8_t> want = Build6(e);
  std::vector<uint8_t> p = Build6(e, true);
  CHECK(CompleteChecksum(p.data(), p.size(), Tso6(0, kGsoNone, 64)) == kForward);
  CHECK(p == want);
}

// `sizes.size()` in-order segments of one IPv6 flow built from `base`.
std::vector<std::vector<uint8_t>> Flow6(V6 base, const std::vector<size_t>& sizes, bool last_psh = false) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < sizes.size(); i++) {
    V6 o = base;
    o.payload = sizes[i];
    o.seed = static_cast<uint8_t>(i);
    if (last_psh && i + 1 == sizes.size()) o.flags |= tcp::kPsh;
    out.push_back(Build6(o));
    base.seq += static_cast<uint32_t>(sizes[i]);
  }
  return out;
}

// Runs the packets through a Coalescer as Decapsulator::Deliver does and
// returns each write: its vnet header and joined bytes.
struct Write {
  VnetHdr h;
  std::vector<uint8_t> bytes;
  size_t parts;
};
std::vector<Write> Merge(std::vector<std::vector<uint8_t>> pkts, bool udp = false) {
  Coalescer c(udp);
  std::vector<Write> out;
  struct iovec iov[Coalescer::kMaxIov];
  auto flush = [&] {
    if (c.count() == 0) return;
    const size_t k = c.Finish(iov);
    Write w{};
    std::memcpy(&w.h, iov[0].iov_base, sizeof(w.h));
    for (size_t j = 1; j < k; j++) {
      const auto* b = static_cast<const uint8_t*>(iov[j].iov_base);
      w.bytes.insert(w.bytes.end(), b, b + iov[j].iov_len);
    }
    w.parts = k - 1;
    out.push_back(std::move(w));
  };
  for (auto& p : pkts) {
    if (c.count() > 0 && c.Append(p.data(), p.size())) continue;
    flush();
    if (c.Start(p.data(), p.size())) continue;
    out.push_back({VnetHdr{}, p, 1});
  }
  flush();
  return out;
}

bool AllAlone(const std::vector<std::vector<uint8_t>>& pkts, bool udp = false) {
  const auto w = Merge(pkts, udp);
  if (w.size() != pkts.size()) return false;
  for (size_t i = 0; i < w.size(); i++) {
    if (w[i].h.gso_type != 0 || w[i].h.flags != 0 || w[i].bytes != pkts[i]) return false;
  }
  return true;
}

// A merged write: vnet header as the kernel needs it, payload length, the
// partial checksum the kernel finishes, and cutting it again gives back
// exactly the original packets.
void CheckMerged6(const Write& w, const std::vector<std::vector<uint8_t>>& pkts, bool udp, size_t hdr) {
  CHECK(w.parts == pkts.size());
  CHECK(w.h.flags == kVnetNeedsCsum);
  CHECK(w.h.gso_type == (udp ? kGsoUdpL4 : kGsoTcpv6));
  CHECK(w.h.hdr_len == hdr);
  CHECK(w.h.gso_size == pkts[0].size() - hdr);
  CHECK(w.h.csum_start == 40);
  CHECK(w.h.csum_offset == (udp ? 6 : 16));
  CHECK(Load16(&w.bytes[4]) == w.bytes.size() - 40);
  const size_t at = 40 + (udp ? 6 : 16);
  CHECK(Load16(&w.bytes[at]) == Pseudo6(w.bytes.data(), udp ? 17 : 6, w.bytes.size() - 40));
  std::vector<uint8_t> done = w.bytes;  // finished as the kernel does: sum from csum_start, seeded with the field
  Store16(&done[at], static_cast<uint16_t>(~NaiveSum(&done[40], done.size() - 40) & 0xffff));
  CHECK(L4Ok6(done, 40, udp ? 17 : 6));
  Verdict v = 0;
  const auto again = Cut(w.bytes, w.h, &v);
  CHECK(v == kForward);
  CHECK(again == pkts);
}

void TestCoalesce6() {
  V6 base;
  base.options = Timestamps(100, 200);
  const size_t hdr = 40 + 32;
  {
    const auto pkts = Flow6(base, {1428, 1428, 1428, 1428, 1000});
    const auto w = Merge(pkts);
    CHECK(w.size() == 1);
    if (w.size() == 1) CheckMerged6(w[0], pkts, false, hdr);
  }
  {  // PSH ends a train; the PSH segment is included
    auto pkts = Flow6(base, {1000, 1000}, true);
    V6 next = base;
    next.seq += 2000;
    const auto rest = Flow6(next, {1000, 1000});
    auto all = pkts;
    all.insert(all.end(), rest.begin(), rest.end());
    const auto w = Merge(all);
    CHECK(w.size() == 2);
    if (w.size() == 2) {
      CheckMerged6(w[0], pkts, false, hdr);
      CheckMerged6(w[1], rest, false, hdr);
      CHECK((w[0].bytes[40 + 13] & tcp::kPsh) != 0);
    }
  }
  {  // a short segment ends a run: nothing after it; all equal but the last
    const auto pkts = Flow6(base, {1000, 1000, 600, 1000, 1000});
    const auto w = Merge(pkts);
    CHECK(w.size() == 2);
    if (w.size() == 2) {
      CheckMerged6(w[0], {pkts.begin(), pkts.begin() + 3}, false, hdr);
      CheckMerged6(w[1], {pkts.begin() + 3, pkts.end()}, false, hdr);
    }
    CHECK(AllAlone(Flow6(base, {1000, 1200})));  // larger after smaller
  }
  {  // 64 KiB bound: IPv6 packet at most 65535 bytes
    const auto pkts = Flow6(base, std::vector<size_t>(50, 1428));
    const auto w = Merge(pkts);
    CHECK(w.size() == 2);
    if (w.size() == 2) CHECK(w[0].bytes.size() <= 65535 && w[0].bytes.size() + 1428 > 65535);
  }
  // Pairs that must never merge: the second packet differs in one field.
  auto pair = [&](auto edit) {
    V6 b = base;
    b.seq += 1000;
    b.seed = 1;
    edit(b);
    return std::vector<std::vector<uint8_t>>{Build6([&] {
                                               V6 a = base;
                                               return a;
                                             }()),
                                             Build6(b)};
  };
  CHECK(AllAlone(pair([](V6& b) { b.flow ^= 1; })));                       // flow label
  CHECK(AllAlone(pair([](V6& b) { b.hop = 63; })));                        // hop limit
  CHECK(AllAlone(pair([](V6& b) { b.tc = 3; })));                          // traffic class (ECN CE)
  CHECK(AllAlone(pair([](V6& b) { b.seq += 1; })));                        // seq gap
  CHECK(AllAlone(pair([](V6& b) { b.seq -= 2000; })));                     // from before
  CHECK(AllAlone(pair([](V6& b) { b.ack += 1; })));                        // ACK
  CHECK(AllAlone(pair([](V6& b) { b.options = Timestamps(101, 200); })));  // options mismatch (TSval)
  CHECK(AllAlone(pair([](V6& b) { b.options.clear(); })));                 // header length
  CHECK(AllAlone(pair([](V6& b) { b.window = 503; })));                    // window
  CHECK(AllAlone(pair([](V6& b) { b.src_last = 6; })));                    // addresses
  CHECK(AllAlone(pair([](V6& b) { b.sport = 40001; })));                   // ports
  for (uint8_t f : {uint8_t{0x01}, uint8_t{0x02}, uint8_t{0x04}, uint8_t{0x20}, uint8_t{0x40}, uint8_t{0x80}}) {
    CHECK(AllAlone(pair([f](V6& b) { b.flags |= f; })));  // FIN SYN RST URG ECE CWR
  }
  CHECK(AllAlone(pair([](V6& b) { b.flags = tcp::kPsh; })));  // no ACK
  {                                                           // flags on the first
    V6 a = base;
    a.flags |= tcp::kCwr;
    V6 b = base;
    b.seq += 1000;
    CHECK(AllAlone({Build6(a), Build6(b)}));
  }
  {  // extension headers: written alone, untouched, even a whole flow of them
    V6 e = base;
    e.ext = HbhDst(6);
    e.first_next = 0;
    CHECK(AllAlone(Flow6(e, {1000, 1000, 1000})));
    e.ext.assign(8, 0);  // destination options only
    e.ext[0] = 6;
    e.first_next = 60;
    CHECK(AllAlone(Flow6(e, {1000, 1000})));
    e.first_next = 44;  // a fragment header
    CHECK(AllAlone(Flow6(e, {1000, 1000})));
    // A plain flow around a packet with extension headers: the run ends there.
    const auto plain = Flow6(base, {1000, 1000, 1000, 1000});
    V6 x = base;
    x.seq += 2000;
    x.ext = HbhDst(6);
    x.first_next = 0;
    x.seed = 2;
    const auto w = Merge({plain[0], plain[1], Build6(x), plain[3]});
    CHECK(w.size() == 3);
    if (w.size() == 3) {
      CheckMerged6(w[0], {plain[0], plain[1]}, false, hdr);
      CHECK(w[1].h.gso_type == 0 && w[1].bytes == Build6(x));
      CHECK(w[2].h.gso_type == 0 && w[2].bytes == plain[3]);
    }
  }
  {  // an IPv4 packet with the same bytes where they would compare never joins an IPv6 run
    auto pkts = Flow6(base, {1000});
    std::vector<uint8_t> v4(pkts[0].size(), 0);
    v4[0] = 0x45;
    pkts.push_back(v4);
    const auto w = Merge(pkts);
    CHECK(w.size() == 2);
  }
  {  // zero-payload ACKs never start a run
    V6 a = base;
    a.payload = 0;
    CHECK(AllAlone({Build6(a), Build6(a)}));
  }
}

void TestCoalesce6Udp() {
  V6 u;
  u.udp = true;
  auto dgrams = [&](std::vector<size_t> sizes, V6 o) {
    std::vector<std::vector<uint8_t>> out;
    for (size_t i = 0; i < sizes.size(); i++) {
      o.payload = sizes[i];
      o.seed = static_cast<uint8_t>(i);
      out.push_back(Build6(o));
    }
    return out;
  };
  const auto pkts = dgrams({1200, 1200, 1200, 300}, u);
  const auto w = Merge(pkts, true);
  CHECK(w.size() == 1);
  if (w.size() == 1) {
    CheckMerged6(w[0], pkts, true, 48);
    CHECK(Load16(&w[0].bytes[44]) == w[0].bytes.size() - 40);  // UDP length of the merged packet
  }
  CHECK(AllAlone(pkts, false));  // not without USO
  V6 other = u;
  other.hop = 1;
  auto mixed = dgrams({1200}, u);
  const auto m2 = dgrams({1200}, other);
  mixed.insert(mixed.end(), m2.begin(), m2.end());
  CHECK(AllAlone(mixed, true));
  V6 ext = u;
  ext.ext = HbhDst(17);
  ext.first_next = 0;
  CHECK(AllAlone(dgrams({1200, 1200}, ext), true));
}

}  // namespace

void RunOffloadTests() {
  TestChecksumStartInsideIpHeader();
  TestChecksumFieldBounds();
  TestChecksumAfterOptions();
  TestSegment6Tcp();
  TestSegment6Udp();
  TestSegment6ExtensionHeaders();
  TestSegment6Malformed();
  TestCompleteChecksum6();
  TestCoalesce6();
  TestCoalesce6Udp();
}

}  // namespace weft::test
