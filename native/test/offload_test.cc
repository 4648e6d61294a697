// Regression tests for what native/fuzz found in the offload code, byte by
// byte, with expected values from a naive RFC 1071 sum (not the code under test).
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

}  // namespace

void RunOffloadTests() {
  TestChecksumStartInsideIpHeader();
  TestChecksumFieldBounds();
  TestChecksumAfterOptions();
}

}  // namespace weft::test
