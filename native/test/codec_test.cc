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

}  // namespace

void RunCodecTests() {
  TestChecksum();
  TestTtl();
  TestIpChecks();
  TestVxlan();
  TestNetUnreachable();
}

}  // namespace weft::test
