// Checksum, TTL and codec tests of the standalone core test executable.
// Expected values come from a deliberately naive RFC 1071 implementation and
// from frames written out byte by byte, never from the code under test.
#include <cstring>
#include <random>
#include <vector>

#include "test_util.h"

namespace weft::test {

namespace {

using Bytes = std::vector<uint8_t>;

// RFC 1071 as written: sum 16-bit big-endian words, pad an odd byte with
// zero, fold the carries, invert.
uint16_t NaiveChecksum(const uint8_t* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (n & 1) sum += uint32_t{p[n - 1]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// A valid IPv4 header of `ihl` words plus `payload` bytes, TTL `ttl`.
Bytes MakeIpv4(std::mt19937& rng, size_t ihl, size_t payload, uint8_t ttl, uint8_t proto = 17) {
  Bytes p(ihl * 4 + payload);
  for (auto& b : p) b = static_cast<uint8_t>(rng());
  p[0] = static_cast<uint8_t>(0x40 | ihl);
  Store16(&p[2], static_cast<uint16_t>(p.size()));
  Store16(&p[6], 0x4000);  // DF, first fragment
  p[8] = ttl;
  p[9] = proto;
  Store16(&p[10], 0);
  Store16(&p[10], NaiveChecksum(p.data(), ihl * 4));
  return p;
}

void TestChecksum() {
  std::mt19937 rng(1);
  std::vector<uint8_t> buf(2000 + 8);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  bool all = true;
  for (size_t len = 0; len <= 2000; len++) {
    for (size_t off = 0; off < 8; off++) {
      if (Checksum(buf.data() + off, len) != NaiveChecksum(buf.data() + off, len)) {
        if (all) std::fprintf(stderr, "checksum mismatch at len %zu offset %zu\n", len, off);
        all = false;
      }
    }
  }
  CHECK(all);
  // The vector loop (ChecksumAdd from 128 bytes, where the CPU has AVX2)
  // and the portable one agree, up to a 64 KiB super-packet's worth.
  std::vector<uint8_t> big(65536 + 8);
  for (auto& b : big) b = static_cast<uint8_t>(rng());
  bool same = true;
  for (size_t len : {size_t{127}, size_t{128}, size_t{129}, size_t{191}, size_t{1398}, size_t{9001}, size_t{65535}}) {
    for (size_t off = 0; off < 8; off++) {
      same = same && ChecksumFold(ChecksumAdd(7, big.data() + off, len)) ==
                         ChecksumFold(ChecksumAddPortable(7, big.data() + off, len));
    }
  }
  CHECK(same);
  std::vector<uint8_t> ffs(65536, 0xff);
  CHECK(Checksum(ffs.data(), ffs.size()) == NaiveChecksum(ffs.data(), ffs.size()));
  // Extremes: all-ones and all-zero data (the 0x0000 / 0xffff corner).
  std::vector<uint8_t> ones(1500, 0xff), zeros(1500, 0);
  CHECK(Checksum(ones.data(), ones.size()) == NaiveChecksum(ones.data(), ones.size()));
  CHECK(Checksum(zeros.data(), zeros.size()) == 0xffff);
  // ChecksumAdd chains over even-sized pieces.
  const uint32_t chained = ChecksumAdd(ChecksumAdd(0, buf.data(), 600), buf.data() + 600, 777);
  CHECK(static_cast<uint16_t>(~ChecksumFold(chained)) == NaiveChecksum(buf.data(), 1377));
  // RFC 1624 update equals a recomputation for any changed word.
  bool upd = true;
  for (int i = 0; i < 100000; i++) {
    Bytes h = MakeIpv4(rng, 5 + rng() % 11, 0, 64);
    const size_t w = 2 * (rng() % (h.size() / 2));
    if (w == 10) continue;  // the checksum field itself
    const uint16_t old_word = Load16(&h[w]);
    const uint16_t new_word = static_cast<uint16_t>(rng());
    Store16(&h[w], new_word);
    const uint16_t patched = ChecksumUpdate16(Load16(&h[10]), old_word, new_word);
    Store16(&h[10], 0);
    if (patched != NaiveChecksum(h.data(), h.size())) upd = false;
  }
  CHECK(upd);
}

void TestTtl() {
  std::mt19937 rng(2);
  bool ok = true;
  for (int i = 0; i < 200000; i++) {
    const uint8_t ttl = static_cast<uint8_t>(rng());
    Bytes p = MakeIpv4(rng, 5 + rng() % 11, rng() % 64, ttl);
    const Bytes before = p;
    const Verdict v = DecrementTtl(p.data());
    if (ttl <= 1) {
      ok = ok && v == kDropTtlExpired && p == before;
    } else {
      Bytes want = before;
      want[8] = static_cast<uint8_t>(ttl - 1);
      Store16(&want[10], 0);
      Store16(&want[10], NaiveChecksum(want.data(), (want[0] & 15) * 4u));
      ok = ok && v == kForward && p == want;
    }
  }
  CHECK(ok);
}

void TestIpChecks() {
  std::mt19937 rng(3);
  Bytes p = MakeIpv4(rng, 5, 30, 64);
  size_t n = 0;
  CHECK(CheckIpv4(p.data(), p.size(), &n) == kForward && n == 50);
  Bytes padded = p;
  padded.resize(64, 0);  // Ethernet padding is not part of the packet
  CHECK(CheckIpv4(padded.data(), padded.size(), &n) == kForward && n == 50);
  for (size_t len = 0; len < p.size(); len++) CHECK(CheckIpv4(p.data(), len, &n) == kDropMalformed);
  Bytes bad = p;
  bad[0] = 0x65;
  CHECK(CheckIpv4(bad.data(), bad.size(), &n) == kDropMalformed);  // version 6
  bad = p;
  bad[0] = 0x44;
  CHECK(CheckIpv4(bad.data(), bad.size(), &n) == kDropMalformed);  // IHL 4
  bad = p;
  bad[0] = 0x4f;
  CHECK(CheckIpv4(bad.data(), bad.size(), &n) == kDropMalformed);  // 60-byte header, total 50
  bad = p;
  Store16(&bad[2], 19);
  CHECK(CheckIpv4(bad.data(), bad.size(), &n) == kDropMalformed);
  Bytes v6(40 + 8, 0);
  v6[0] = 0x60;
  Store16(&v6[4], 8);
  v6[6] = 59;  // no next header (a zero would be hop-by-hop options, then a second one: malformed)
  CHECK(CheckIpv6(v6.data(), v6.size(), &n) == kForward && n == 48);
  CHECK(CheckIpv6(v6.data(), 47, &n) == kDropMalformed);
  CHECK(CheckIpv6(v6.data(), 39, &n) == kDropMalformed);
  v6[0] = 0x40;
  CHECK(CheckIpv6(v6.data(), v6.size(), &n) == kDropMalformed);

  // udp backend receive: TTL - 1 with a valid checksum; TTL 0 and 1 dropped.
  Bytes q = MakeIpv4(rng, 5, 8, 63);
  CHECK(UdpDecap(q.data(), q.size(), &n) == kForward && q[8] == 62 && NaiveChecksum(q.data(), 20) == 0);
  for (uint8_t ttl : {0, 1}) {
    Bytes r = MakeIpv4(rng, 5, 8, ttl);
    CHECK(UdpDecap(r.data(), r.size(), &n) == kDropTtlExpired);
  }
  for (size_t len = 0; len < 20; len++) CHECK(UdpDecap(q.data(), len, &n) == kDropMalformed);
}

const uint8_t kMacA[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00};
const uint8_t kMacB[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00};

void TestVxlan() {
  std::mt19937 rng(4);
  const Bytes inner = MakeIpv4(rng, 5, 36, 64);
  Bytes buf(kVxlanEncapLen + inner.size());
  std::memcpy(buf.data() + kVxlanEncapLen, inner.data(), inner.size());
  uint8_t* start = VxlanEncap(buf.data() + kVxlanEncapLen, kEtherTypeIpv4, 1, kMacB, kMacA);
  CHECK(start == buf.data());
  Bytes want = {0x08, 0,    0,    0,    0,    0,    0x01, 0,      // VXLAN: I flag, VNI 1
                0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00,               // inner dst = peer VtepMAC
                0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00, 0x08, 0x00};  // src = ours, IPv4
  want.insert(want.end(), inner.begin(), inner.end());
  CHECK(buf == want);
  // VNI 4096 and the largest VNI.
  VxlanEncap(buf.data() + kVxlanEncapLen, kEtherTypeIpv4, 4096, kMacB, kMacA);
  CHECK(buf[4] == 0x00 && buf[5] == 0x10 && buf[6] == 0x00 && buf[7] == 0);
  VxlanEncap(buf.data() + kVxlanEncapLen, kEtherTypeIpv4, 0xffffff, kMacB, kMacA);
  CHECK(buf[0] == 0x08 && buf[4] == 0xff && buf[5] == 0xff && buf[6] == 0xff && buf[7] == 0);

  size_t off = 0, len = 0;
  CHECK(VxlanDecap(want.data(), want.size(), 1, kMacB, &off, &len) == kForward && off == 22 && len == inner.size());
  CHECK(std::memcmp(want.data() + off, inner.data(), len) == 0);
  for (size_t cut = 0; cut < want.size(); cut++) {
    const Verdict v = VxlanDecap(want.data(), cut, 1, kMacB, &off, &len);
    CHECK(v == kDropMalformed);
  }
  auto with = [&](size_t at, uint8_t value) {
    Bytes b = want;
    b[at] = value;
    return VxlanDecap(b.data(), b.size(), 1, kMacB, &off, &len);
  };
  CHECK(with(0, 0x88) == kDropBadFlags);  // G bit (GBP)
  CHECK(with(0, 0x00) == kDropBadFlags);  // no I bit
  CHECK(with(0, 0x0c) == kDropBadFlags);  // GPE P bit
  for (size_t r : {1, 2, 3, 7}) CHECK(with(r, 0x01) == kDropBadFlags);
  CHECK(with(6, 0x02) == kDropBadVni);
  CHECK(VxlanDecap(want.data(), want.size(), 2, kMacB, &off, &len) == kDropBadVni);
  CHECK(with(13, 0x01) == kDropBadMac);  // dst MAC differs
  CHECK(VxlanDecap(want.data(), want.size(), 1, kMacA, &off, &len) == kDropBadMac);
  Bytes loop = want;
  std::memcpy(&loop[14], kMacB, 6);  // source MAC is our own
  CHECK(VxlanDecap(loop.data(), loop.size(), 1, kMacB, &off, &len) == kDropOwnMac);
  Bytes arp = want;
  Store16(&arp[20], 0x0806);
  CHECK(VxlanDecap(arp.data(), arp.size(), 1, kMacB, &off, &len) == kDropNotIp);
  CHECK(with(22, 0x65) == kDropMalformed);  // IPv4 ethertype, version 6
  CHECK(with(22, 0x44) == kDropMalformed);  // IHL 4
  CHECK(with(24, 0x7f) == kDropMalformed);  // total length beyond the frame
}

void TestNetUnreachable() {
  // UDP 10.244.1.5:40002 -> 10.244.9.9:5001, 4 bytes of data, no lease for 10.244.9.0/24.
  const Bytes udp = {0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x11, 0x00, 0x00, 10,  244, 1,   5,
                     10,   244,  9,    9,    0x9c, 0x42, 0x13, 0x89, 0x00, 0x0c, 0x00, 0x00, 'p', 'i', 'n', 'g'};
  Bytes off = udp;
  Store16(&off[10], NaiveChecksum(off.data(), 20));
  uint8_t out[128];
  const size_t n = BuildNetUnreachable(off.data(), off.size(), 0x0af40100, out, sizeof(out));
  Bytes want = {0x45, 0x00, 0x00, 56, 0,  0,   0, 0, 8, 1, 0, 0,  // TTL 8, ICMP, no DF, ID 0
                10,   244,  1,    0,  10, 244, 1, 5,              // from our .0 to the offender
                3,    0,    0,    0,  0,  0,   0, 0};             // net unreachable, unused
  want.insert(want.end(), off.begin(), off.begin() + 28);         // header + 8 bytes
  Store16(&want[10], NaiveChecksum(want.data(), 20));
  Store16(&want[22], NaiveChecksum(want.data() + 20, want.size() - 20));
  CHECK(n == want.size() && std::memcmp(out, want.data(), n) == 0);
  // None for ICMP offenders or non-first fragments; a first fragment gets one.
  Bytes icmp = off;
  icmp[9] = 1;
  CHECK(BuildNetUnreachable(icmp.data(), icmp.size(), 0x0af40100, out, sizeof(out)) == 0);
  Bytes frag = off;
  Store16(&frag[6], 0x0001);
  CHECK(BuildNetUnreachable(frag.data(), frag.size(), 0x0af40100, out, sizeof(out)) == 0);
  Store16(&frag[6], 0x2000);  // MF, offset 0
  CHECK(BuildNetUnreachable(frag.data(), frag.size(), 0x0af40100, out, sizeof(out)) == 56);
  CHECK(BuildNetUnreachable(off.data(), off.size(), 0x0af40100, out, 40) == 0);  // no room
}

// An IPv6 packet fd00:10:244:1::5 -> `dst` with next header `nh`, hop
// limit 64 and `body` (extension headers and upper layer) as given.
Bytes MakeIpv6(const uint8_t dst[16], uint8_t nh, const Bytes& body) {
  Bytes p(40);
  p[0] = 0x60;
  Store16(&p[4], static_cast<uint16_t>(body.size()));
  p[6] = nh;
  p[7] = 64;
  const uint8_t src[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5};
  std::memcpy(&p[8], src, 16);
  std::memcpy(&p[24], dst, 16);
  p.insert(p.end(), body.begin(), body.end());
  return p;
}

// The upper-layer checksum over IPv6 the naive way: pseudo-header bytes
// written out (RFC 8200 8.1), then the message.
uint16_t NaiveIpv6Checksum(const uint8_t* src, const uint8_t* dst, uint8_t nh, const uint8_t* l4, size_t n) {
  Bytes b(src, src + 16);
  b.insert(b.end(), dst, dst + 16);
  const uint8_t tail[8] = {static_cast<uint8_t>(n >> 24),
                           static_cast<uint8_t>(n >> 16),
                           static_cast<uint8_t>(n >> 8),
                           static_cast<uint8_t>(n),
                           0,
                           0,
                           0,
                           nh};
  b.insert(b.end(), tail, tail + 8);
  b.insert(b.end(), l4, l4 + n);
  return NaiveChecksum(b.data(), b.size());
}

const uint8_t kDst6[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 9, 0, 0, 0, 0, 0, 0, 0, 9};

void TestIpv6Checks() {
  size_t n = 0;
  const Bytes udp = {0x9c, 0x42, 0x13, 0x89, 0x00, 0x0c, 0x00, 0x00, 'p', 'i', 'n', 'g'};
  const Bytes plain = MakeIpv6(kDst6, kProtoUdp, udp);
  CHECK(CheckIpv6(plain.data(), plain.size(), &n) == kForward && n == 52);
  Bytes padded = plain;
  padded.resize(60);  // Ethernet padding behind the packet is not part of it
  CHECK(CheckIpv6(padded.data(), padded.size(), &n) == kForward && n == 52);
  for (size_t cut = 0; cut < plain.size(); cut++) CHECK(CheckIpv6(plain.data(), cut, &n) == kDropMalformed);
  Bytes jumbo = plain;
  Store16(&jumbo[4], 0);  // payload length 0: a jumbogram, never carried
  CHECK(CheckIpv6(jumbo.data(), jumbo.size(), &n) == kDropMalformed);

  // Hop-by-hop (8) + destination options (16) + UDP: walked to the UDP header at 64.
  Bytes chain = {ipv6::kDestOpts, 0, 1, 4,  0, 0, 0, 0,                           // HBH -> DestOpts, PadN
                 kProtoUdp,       1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // DestOpts (16) -> UDP
  chain.insert(chain.end(), udp.begin(), udp.end());
  const Bytes ext = MakeIpv6(kDst6, ipv6::kHopByHop, chain);
  uint8_t proto = 0;
  size_t l4 = 0;
  CHECK(CheckIpv6(ext.data(), ext.size(), &n) == kForward && n == ext.size());
  CHECK(Ipv6Upper(ext.data(), ext.size(), &proto, &l4) == kForward && proto == kProtoUdp && l4 == 64);
  // The chain cut anywhere inside the extension headers is malformed.
  for (size_t body = 1; body < 24; body++) {
    Bytes cut = ext;
    cut.resize(40 + body);
    Store16(&cut[4], static_cast<uint16_t>(body));
    CHECK(CheckIpv6(cut.data(), cut.size(), &n) == kDropMalformed);
  }
  // Hop-by-hop anywhere but first is malformed (RFC 8200 4.3).
  Bytes late = ext;
  late[6] = ipv6::kDestOpts;
  late[40] = ipv6::kHopByHop;
  CHECK(CheckIpv6(late.data(), late.size(), &n) == kDropMalformed);
  // A chain of 8 destination-options headers is too long; 7 pass.
  for (size_t count : {size_t{7}, size_t{8}}) {
    Bytes body;
    for (size_t i = 0; i < count; i++) {
      const Bytes h = {i + 1 < count ? ipv6::kDestOpts : kProtoUdp, 0, 1, 4, 0, 0, 0, 0};
      body.insert(body.end(), h.begin(), h.end());
    }
    body.insert(body.end(), udp.begin(), udp.end());
    const Bytes many = MakeIpv6(kDst6, ipv6::kDestOpts, body);
    CHECK(CheckIpv6(many.data(), many.size(), &n) == (count == 7 ? kForward : kDropMalformed));
  }
  // A non-first fragment has no upper-layer header: reported as the fragment.
  Bytes frag = {kProtoUdp, 0, 0x00, 0x08, 0, 0, 0, 1};  // offset 1 (8 bytes)
  frag.insert(frag.end(), udp.begin(), udp.end());
  Bytes nf = MakeIpv6(kDst6, ipv6::kFragment, frag);
  CHECK(CheckIpv6(nf.data(), nf.size(), &n) == kForward);
  CHECK(Ipv6Upper(nf.data(), nf.size(), &proto, &l4) == kForward && proto == ipv6::kFragment && l4 == 40);
  Store16(&nf[42], 0);  // first fragment: the UDP header follows
  CHECK(Ipv6Upper(nf.data(), nf.size(), &proto, &l4) == kForward && proto == kProtoUdp && l4 == 48);
}

void TestVxlan6() {
  // An IPv6 packet encapsulated as flannel-v6.1 sends it: ethertype 0x86dd.
  const Bytes inner = MakeIpv6(kDst6, kProtoUdp, {0x9c, 0x42, 0x13, 0x89, 0x00, 0x0c, 0x00, 0x00, 'p', 'i', 'n', 'g'});
  Bytes buf(kVxlanEncapLen);
  buf.insert(buf.end(), inner.begin(), inner.end());
  const uint8_t kMacA[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00};
  const uint8_t kMacB[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00};
  uint8_t* start = VxlanEncap(buf.data() + kVxlanEncapLen, kEtherTypeIpv6, 1, kMacB, kMacA);
  CHECK(start == buf.data());
  Bytes want = {0x08, 0,    0,    0,    0,    0,    0x01, 0,    0x0e, 0x2a, 0x0a,
                0xf4, 0x02, 0x00, 0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00, 0x86, 0xdd};
  want.insert(want.end(), inner.begin(), inner.end());
  CHECK(buf == want);
  size_t off = 0, len = 0;
  CHECK(VxlanDecap(buf.data(), buf.size(), 1, kMacB, &off, &len) == kForward && off == 22 && len == inner.size());
  Bytes bad = buf;
  bad[22] = 0x45;  // IPv6 ethertype, version 4
  CHECK(VxlanDecap(bad.data(), bad.size(), 1, kMacB, &off, &len) == kDropMalformed);
  bad = buf;
  Store16(&bad[22 + 4], 200);  // payload length beyond the frame
  CHECK(VxlanDecap(bad.data(), bad.size(), 1, kMacB, &off, &len) == kDropMalformed);
}

void TestNoRoute6() {
  // ICMPv6 echo request fd00:10:244:1::5 -> fd00:10:244:9::9, no lease for fd00:10:244:9::/64.
  Bytes echo = {128, 0, 0, 0, 0x12, 0x34, 0, 1, 'a', 'b', 'c', 'd'};
  Bytes off = MakeIpv6(kDst6, kProtoIcmpv6, echo);
  Store16(&off[42], NaiveIpv6Checksum(&off[8], &off[24], kProtoIcmpv6, &off[40], echo.size()));
  const uint8_t from[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 9};  // fd00:10:244:9:: (the subnet without lease)
  std::vector<uint8_t> out(kIcmp6MaxLen);
  const size_t n = BuildNoRoute6(off.data(), off.size(), from, out.data(), out.size());
  Bytes want = {0x60, 0, 0, 0, 0, static_cast<uint8_t>(8 + off.size()), 58, 64};  // ICMPv6, hop limit 64
  want.insert(want.end(), from, from + 16);
  want.insert(want.end(), &off[8], &off[24]);   // to the offender's source
  const Bytes icmp = {1, 0, 0, 0, 0, 0, 0, 0};  // destination unreachable, no route; unused
  want.insert(want.end(), icmp.begin(), icmp.end());
  want.insert(want.end(), off.begin(), off.end());  // the whole offender fits
  Store16(&want[42], NaiveIpv6Checksum(from, &off[8], 58, &want[40], want.size() - 40));
  CHECK(n == want.size() && std::memcmp(out.data(), want.data(), n) == 0);
  // The result verifies as a whole: the checksum over it with the pseudo-header is 0.
  CHECK(NaiveIpv6Checksum(&out[8], &out[24], 58, &out[40], n - 40) == 0);

  // A big offender is quoted up to the IPv6 minimum MTU.
  Bytes big_body(1400, 0x5a);
  big_body[0] = 128;
  const Bytes big = MakeIpv6(kDst6, kProtoIcmpv6, big_body);
  CHECK(BuildNoRoute6(big.data(), big.size(), from, out.data(), out.size()) == kIcmp6MaxLen);
  CHECK(Load16(&out[4]) == kIcmp6MaxLen - 40 && std::memcmp(&out[48], big.data(), kIcmp6MaxLen - 48) == 0);
  CHECK(NaiveIpv6Checksum(&out[8], &out[24], 58, &out[40], kIcmp6MaxLen - 40) == 0);
  CHECK(BuildNoRoute6(big.data(), big.size(), from, out.data(), kIcmp6MaxLen - 1) == 0);  // no room

  // None about an ICMPv6 error (type < 128), also behind extension headers.
  Bytes err = off;
  err[40] = 1;
  CHECK(BuildNoRoute6(err.data(), err.size(), from, out.data(), out.size()) == 0);
  Bytes behind = {kProtoIcmpv6, 0, 1, 4, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0};  // DestOpts -> time exceeded
  const Bytes err_ext = MakeIpv6(kDst6, ipv6::kDestOpts, behind);
  CHECK(BuildNoRoute6(err_ext.data(), err_ext.size(), from, out.data(), out.size()) == 0);
  // None for a multicast destination, an unspecified or multicast source.
  const uint8_t mcast[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16};
  const Bytes mld = MakeIpv6(mcast, kProtoUdp, {0, 1, 0, 2, 0, 8, 0, 0});
  CHECK(BuildNoRoute6(mld.data(), mld.size(), from, out.data(), out.size()) == 0);
  Bytes unspec = off;
  std::memset(&unspec[8], 0, 16);
  CHECK(BuildNoRoute6(unspec.data(), unspec.size(), from, out.data(), out.size()) == 0);
  Bytes msrc = off;
  msrc[8] = 0xff;
  CHECK(BuildNoRoute6(msrc.data(), msrc.size(), from, out.data(), out.size()) == 0);
  // A TCP or UDP offender gets one.
  const Bytes udp = MakeIpv6(kDst6, kProtoUdp, {0x9c, 0x42, 0x13, 0x89, 0x00, 0x08, 0x00, 0x00});
  CHECK(BuildNoRoute6(udp.data(), udp.size(), from, out.data(), out.size()) == 40 + 8 + udp.size());
  // Ipv6L4Checksum agrees with the naive one.
  CHECK(Ipv6L4Checksum(&off[8], &off[24], 58, &want[40], want.size() - 40) ==
        NaiveIpv6Checksum(&off[8], &off[24], 58, &want[40], want.size() - 40));
}

void TestPrefix6() {
  const uint8_t a[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t b[16];
  std::memcpy(b, a, 16);
  b[7] = 0xff;  // differs in bits 56..63
  CHECK(SamePrefix6(a, b, 56) && !SamePrefix6(a, b, 57) && !SamePrefix6(a, b, 64) && SamePrefix6(a, b, 0));
  CHECK(SamePrefix6(a, a, 128));
  uint8_t m[16];
  MaskPrefix6(a, 60, m);
  const uint8_t want[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0x00, 0x00};
  CHECK(std::memcmp(m, want, 16) == 0);
  MaskPrefix6(a, 128, m);
  CHECK(std::memcmp(m, a, 16) == 0);
}

}  // namespace

void RunCodecTests() {
  TestIpv6Checks();
  TestVxlan6();
  TestNoRoute6();
  TestPrefix6();
  TestChecksum();
  TestTtl();
  TestIpChecks();
  TestVxlan();
  TestNetUnreachable();
}

}  // namespace weft::test
