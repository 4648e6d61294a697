// Tests of the IPv6 (dual-stack) hot path: Encapsulator and Decapsulator over
// a table with IPv6 leases, as the worker runs them. IPv6 frames are built
// as kernel flannel's flannel-v6.1 sends them (ethertype 0x86dd, the
// BackendV6Data MAC); checksums are checked against a naive reference.
#include <sys/uio.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/decap.h"
#include "../core/encap.h"
#include "../core/limits.h"
#include "../core/offload.h"
#include "test_util.h"

namespace weft::test {

namespace {

using Bytes = std::vector<uint8_t>;
using table::EntryData;

// 10.244.0.0/16 (/24 leases) and fd00:10:244::/48 (/64 leases).
constexpr uint32_t kNet = 0x0af40000;
const uint8_t kNet6[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44};
const uint8_t kPodA[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5};     // own lease :1::/64
const uint8_t kPodB[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5};     // B's lease :2::/64
const uint8_t kNoLease[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 9, 0, 0, 0, 0, 0, 0, 0, 9};  // :9::/64, no lease
const uint8_t kOutside[16] = {0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};        // outside the network
const uint8_t kUlB[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};            // 2001:2::2
const uint8_t kUlC[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};            // 2001:2::3 (lease :3::)
const uint8_t kUlX[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};            // no peer
const uint8_t kMacA[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00};                              // own, IPv4 frames
const uint8_t kMacA6[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x06};                             // own, IPv6 frames
const uint8_t kMacB[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00};
const uint8_t kMacB6[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x06};

uint16_t NaiveSum(const Bytes& b) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < b.size(); i += 2) sum += static_cast<uint32_t>(b[i] << 8 | b[i + 1]);
  if (b.size() & 1) sum += static_cast<uint32_t>(b.back() << 8);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// 0 when the upper-layer checksum (field included) of `l4` over IPv6 is right.
uint16_t Verify6(const uint8_t* src, const uint8_t* dst, uint8_t nh, const uint8_t* l4, size_t n) {
  Bytes b(src, src + 16);
  b.insert(b.end(), dst, dst + 16);
  const uint8_t tail[8] = {0, 0, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n), 0, 0, 0, nh};
  b.insert(b.end(), tail, tail + 8);
  b.insert(b.end(), l4, l4 + n);
  return NaiveSum(b);
}

// An IPv6 packet src -> dst, hop limit 64, next header `nh`, body as given.
Bytes Ipv6(const uint8_t* src, const uint8_t* dst, uint8_t nh, const Bytes& body) {
  Bytes p(40);
  p[0] = 0x60;
  Store16(&p[4], static_cast<uint16_t>(body.size()));
  p[6] = nh;
  p[7] = 64;
  std::memcpy(&p[8], src, 16);
  std::memcpy(&p[24], dst, 16);
  p.insert(p.end(), body.begin(), body.end());
  return p;
}

// An ICMPv6 echo request (checksum filled in).
Bytes Ping6(const uint8_t* src, const uint8_t* dst) {
  Bytes icmp = {128, 0, 0, 0, 0x12, 0x34, 0, 1, 'w', 'e', 'f', 't'};
  Bytes p = Ipv6(src, dst, kProtoIcmpv6, icmp);
  Store16(&p[42], Ipv6L4Checksum(src, dst, kProtoIcmpv6, &p[40], icmp.size()));
  return p;
}

Bytes Ping4(uint32_t src, uint32_t dst) {
  Bytes p(28);
  p[0] = 0x45;
  Store16(&p[2], 28);
  p[8] = 64;
  p[9] = kProtoIcmp;
  Store32(&p[12], src);
  Store32(&p[16], dst);
  Store16(&p[10], Checksum(p.data(), 20));
  p[20] = 8;
  Store16(&p[22], Checksum(&p[20], 8));
  return p;
}

// A VXLAN frame (VNI `vni`) carrying `inner` from src_mac to dst_mac.
Bytes Frame(const Bytes& inner, const uint8_t* dst_mac, const uint8_t* src_mac, uint32_t vni = 1,
            uint16_t type = kEtherTypeIpv6) {
  Bytes f(kVxlanEncapLen);
  f.insert(f.end(), inner.begin(), inner.end());
  VxlanEncap(f.data() + kVxlanEncapLen, type, vni, dst_mac, src_mac);
  return f;
}

EntryData Lease6(uint8_t third, const uint8_t* public_ip, const uint8_t* mac) {
  EntryData e{};
  e.subnet_family = 6;
  std::memcpy(e.subnet6, kNet6, 16);
  e.subnet6[7] = third;
  e.prefix_len = 64;
  e.backend = table::kBackendVxlan;
  e.family = 6;
  std::memcpy(e.public_ip, public_ip, 16);
  if (mac != nullptr) {
    std::memcpy(e.vtep_mac, mac, 6);
    e.has_mac = 1;
  }
  return e;
}

std::unique_ptr<Table> OpenDualStack(const std::string& path) {
  table::GeometryParams geo{};
  geo.network = kNet;
  geo.network_prefix_len = 16;
  geo.subnet_len = 24;
  geo.backend = table::kBackendVxlan;
  std::memcpy(geo.network6, kNet6, 16);
  geo.network6_prefix_len = 48;
  geo.subnet6_len = 64;
  std::unique_ptr<Table> t;
  bool reattached = false;
  const Status s = Table::OpenWriter(path, geo, &t, &reattached);
  if (!s.ok()) {
    std::fprintf(stderr, "OpenWriter (dual stack): %s\n", s.ToString().c_str());
    std::exit(2);
  }
  EntryData v4{};
  v4.subnet_family = 4;
  v4.subnet = 0x0af40200;
  v4.prefix_len = 24;
  v4.backend = table::kBackendVxlan;
  v4.family = 4;
  Store32(v4.public_ip, 0xc6120002);  // 198.18.0.2
  std::memcpy(v4.vtep_mac, kMacB, 6);
  v4.has_mac = 1;
  CHECK(t->Set(v4).ok());
  CHECK(t->Set(Lease6(2, kUlB, kMacB6)).ok());
  CHECK(t->Set(Lease6(3, kUlC, kMacB6)).ok());
  CHECK(t->Set(Lease6(4, kUlC, nullptr)).ok());  // no MAC yet: no route
  return t;
}

// One TUN read through the Encapsulator; the datagram bytes in `*out`.
struct EncapRun {
  Verdict v = kForward;
  Datagrams d{};
  std::vector<Bytes> datagrams;
  uint64_t c[kCounterCount] = {};
};

EncapRun Encap(const Table& t, const Bytes& read, bool vnet_hdr = false, bool ipv4 = true) {
  EncapConfig config;
  config.ipv4 = ipv4;
  config.backend = table::kBackendVxlan;
  config.vni = 1;
  std::memcpy(config.own_mac, kMacA, 6);
  std::memcpy(config.own_mac6, kMacA6, 6);
  config.vnet_hdr = vnet_hdr;
  Encapsulator encap(config, &t);
  const size_t room = 64 * Encapsulator::kSegmentHeaderRoom;
  std::vector<uint8_t> buf(kHeadroom + read.size() + 8 + room);
  uint8_t* rd = buf.data() + kHeadroom - (vnet_hdr ? kVnetHdrLen : 0);
  std::memcpy(rd, read.data(), read.size());
  std::vector<struct iovec> iov(128);
  EncapRun r;
  r.v = encap.Encapsulate(rd, read.size(), buf.data() + buf.size(), iov.data(), iov.size(), r.c, &r.d);
  if (r.v == kForward) {
    const size_t per = r.d.segmented ? 2 : 1;
    const size_t count = r.d.segmented ? r.d.segs.count : 1;
    for (size_t i = 0; i < count; i++) {
      Bytes out;
      for (size_t k = 0; k < per; k++) {
        const auto* p = static_cast<const uint8_t*>(iov[per * i + k].iov_base);
        out.insert(out.end(), p, p + iov[per * i + k].iov_len);
      }
      r.datagrams.push_back(out);
    }
  } else if (r.d.icmp_len > 0) {
    r.datagrams.push_back(Bytes(r.d.icmp, r.d.icmp + r.d.icmp_len));
  }
  return r;
}

// An IPv6-only node ("EnableIPv4": false): a table with an empty IPv4
// geometry (network 0/0, subnet length 0) and no IPv4 socket. IPv6 goes out
// as on a dual-stack node; IPv4 read from the TUN is noRoute, without an
// ICMP error (the node has no IPv4 address to send one from).
void TestIpv6Only(const std::string& path) {
  table::GeometryParams geo{};
  geo.backend = table::kBackendVxlan;
  std::memcpy(geo.network6, kNet6, 16);
  geo.network6_prefix_len = 48;
  geo.subnet6_len = 64;
  std::unique_ptr<Table> t;
  bool reattached = false;
  CHECK(Table::OpenWriter(path, geo, &t, &reattached).ok());
  CHECK(t->has_ipv6());
  CHECK(t->Set(Lease6(2, kUlB, kMacB6)).ok());
  EncapRun r = Encap(*t, Ping6(kPodA, kPodB), false, false);
  CHECK(r.v == kForward && r.d.family == 6 && std::memcmp(r.d.peer_ip, kUlB, 16) == 0 && r.datagrams.size() == 1);
  r = Encap(*t, Ping4(0x0af40105, 0x0af40205), false, false);
  CHECK(r.v == kDropNoRoute && r.c[kDropNoRoute] == 1 && r.d.icmp_len == 0 && r.datagrams.empty());
  EntryData e{};
  CHECK(!t->Lookup(0x0af40205, &e));
}

void TestEncap6(const Table& t) {
  // IPv6 to B's lease: 0x86dd, B's IPv6 MAC, our IPv6 MAC, to B's PublicIPv6.
  const Bytes ping = Ping6(kPodA, kPodB);
  EncapRun r = Encap(t, ping);
  CHECK(r.v == kForward && r.d.family == 6 && std::memcmp(r.d.peer_ip, kUlB, 16) == 0);
  CHECK(r.datagrams.size() == 1);
  Bytes want = {0x08, 0, 0, 0, 0, 0, 0x01, 0};
  want.insert(want.end(), kMacB6, kMacB6 + 6);
  want.insert(want.end(), kMacA6, kMacA6 + 6);
  want.push_back(0x86);
  want.push_back(0xdd);
  want.insert(want.end(), ping.begin(), ping.end());  // hop limit untouched
  CHECK(r.datagrams.size() == 1 && r.datagrams[0] == want);

  // IPv4 keeps its own MAC, ethertype and underlay.
  const Bytes ping4 = Ping4(0x0af40105, 0x0af40205);
  r = Encap(t, ping4);
  CHECK(r.v == kForward && r.d.family == 4 && Load32(r.d.peer_ip) == 0xc6120002);
  CHECK(r.datagrams.size() == 1 && std::memcmp(&r.datagrams[0][8], kMacB, 6) == 0 &&
        std::memcmp(&r.datagrams[0][14], kMacA, 6) == 0 && Load16(&r.datagrams[0][20]) == kEtherTypeIpv4);

  // No lease: noRoute and ICMPv6 no route from the missing /64's network address.
  const Bytes lost = Ping6(kPodA, kNoLease);
  r = Encap(t, lost);
  CHECK(r.v == kDropNoRoute && r.c[kDropNoRoute] == 1 && r.datagrams.size() == 1);
  if (r.datagrams.size() == 1) {
    const Bytes& icmp = r.datagrams[0];
    uint8_t gw[16];
    std::memcpy(gw, kNoLease, 16);
    std::memset(gw + 8, 0, 8);
    CHECK(icmp.size() == 40 + 8 + lost.size() && icmp[0] == 0x60 && icmp[6] == kProtoIcmpv6 && icmp[7] == 64);
    CHECK(std::memcmp(&icmp[8], gw, 16) == 0 && std::memcmp(&icmp[24], kPodA, 16) == 0);
    CHECK(icmp[40] == 1 && icmp[41] == 0);
    CHECK(Verify6(&icmp[8], &icmp[24], kProtoIcmpv6, &icmp[40], icmp.size() - 40) == 0);
    CHECK(std::memcmp(&icmp[48], lost.data(), lost.size()) == 0);
  }
  // A lease without a MAC is no route either; an ICMPv6 error is never answered with one.
  const uint8_t no_mac[16] = {0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1};
  r = Encap(t, Ping6(kPodA, no_mac));
  CHECK(r.v == kDropNoRoute && r.datagrams.size() == 1);
  Bytes err = Ping6(kPodA, kNoLease);
  err[40] = 1;  // destination unreachable itself
  r = Encap(t, err);
  CHECK(r.v == kDropNoRoute && r.datagrams.empty());
  // Malformed IPv6 (payload length past the read, bad chain) is malformed, not noRoute.
  Bytes bad = ping;
  Store16(&bad[4], 500);
  r = Encap(t, bad);
  CHECK(r.v == kDropMalformed && r.c[kDropMalformed] == 1);
  Bytes chain =
      Ipv6(kPodA, kPodB, ipv6::kDestOpts, {ipv6::kHopByHop, 0, 1, 4, 0, 0, 0, 0, kProtoUdp, 0, 1, 4, 0, 0, 0, 0});
  r = Encap(t, chain);
  CHECK(r.v == kDropMalformed);
}

void TestEncapTso6(const Table& t) {
  // A TCPv6 super-packet of 3000 payload bytes, gso_size 1000: three VXLAN
  // datagrams, each a complete IPv6 TCP segment with a right checksum.
  Bytes tcp(20);
  Store16(&tcp[0], 40000);
  Store16(&tcp[2], 5201);
  Store32(&tcp[4], 1000);
  tcp[12] = 0x50;
  tcp[13] = tcp::kAckFlag | tcp::kPsh;
  Store16(&tcp[14], 512);
  for (size_t i = 0; i < 3000; i++) tcp.push_back(static_cast<uint8_t>(i * 7));
  Bytes pkt = Ipv6(kPodA, kPodB, kProtoTcp, tcp);
  VnetHdr h{};
  h.flags = kVnetNeedsCsum;
  h.gso_type = kGsoTcpv6;
  h.hdr_len = 60;
  h.gso_size = 1000;
  h.csum_start = 40;
  h.csum_offset = 16;
  Bytes read(kVnetHdrLen);
  std::memcpy(read.data(), &h, kVnetHdrLen);
  read.insert(read.end(), pkt.begin(), pkt.end());
  EncapRun r = Encap(t, read, true);
  CHECK(r.v == kForward && r.d.segmented && r.d.family == 6 && r.c[kTunRxGsoPackets] == 1);
  CHECK(r.datagrams.size() == 3);
  for (size_t i = 0; i < r.datagrams.size(); i++) {
    const Bytes& d = r.datagrams[i];
    CHECK(d.size() == kVxlanEncapLen + 60 + 1000);
    if (d.size() != kVxlanEncapLen + 60 + 1000) continue;
    CHECK(std::memcmp(&d[8], kMacB6, 6) == 0 && std::memcmp(&d[14], kMacA6, 6) == 0 &&
          Load16(&d[20]) == kEtherTypeIpv6);
    const uint8_t* ip = &d[kVxlanEncapLen];
    CHECK(Load16(ip + 4) == 1020 && ip[7] == 64);
    CHECK(Load32(ip + 40 + 4) == 1000 + 1000 * i);
    CHECK(Verify6(ip + 8, ip + 24, kProtoTcp, ip + 40, 1020) == 0);
  }
}

struct RecvRun {
  std::vector<Bytes> writes;
  uint64_t c[kCounterCount] = {};
};

DecapConfig Decap6Config(uint8_t family) {
  DecapConfig d;
  d.backend = table::kBackendVxlan;
  d.vni = 1;
  std::memcpy(d.own_mac, family == 6 ? kMacA6 : kMacA, 6);
  d.underlay_family = family;
  d.network = kNet;
  d.network_prefix_len = 16;
  d.ipv6 = true;
  std::memcpy(d.network6, kNet6, 16);
  d.network6_prefix_len = 48;
  d.check_peers = true;
  return d;
}

// One message through a Decapsulator: from `src6` on the IPv6 underlay,
// else from 198.18.0.2 on the IPv4 one.
RecvRun Recv(const Table& t, const DecapConfig& config, Bytes msg, const uint8_t* src6, size_t gso = 0) {
  Decapsulator decap(config, &t);
  RecvRun r;
  const auto sink = [&r](const struct iovec* iov, size_t n, size_t, bool) {
    Bytes w;
    for (size_t i = 1; i < n; i++) {
      const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
      w.insert(w.end(), p, p + iov[i].iov_len);
    }
    r.writes.push_back(w);
  };
  if (src6 != nullptr) {
    decap.Receive6(msg.data(), msg.size(), gso, false, src6, r.c, sink);
  } else {
    decap.Receive(msg.data(), msg.size(), gso, false, 0xc6120002, r.c, sink);
  }
  return r;
}

// Exactly one drop, in `reason`, and nothing written.
bool DroppedAs(const RecvRun& r, uint32_t reason) {
  uint64_t drops = 0;
  for (uint32_t i = kDropFirst; i < kDropLast; i++) drops += r.c[i];
  return r.writes.empty() && drops == 1 && r.c[reason] == 1;
}

void TestDecap6(const Table& t) {
  const DecapConfig v6 = Decap6Config(6);
  const Bytes ping = Ping6(kPodB, kPodA);
  const Bytes good = Frame(ping, kMacA6, kMacB6);
  RecvRun r = Recv(t, v6, good, kUlB);
  CHECK(r.writes.size() == 1 && r.writes[0] == ping && r.c[kUdpRxPackets] == 1);

  CHECK(DroppedAs(Recv(t, v6, Frame(ping, kMacA, kMacB6), kUlB), kDropBadMac));  // the IPv4 frames' MAC
  CHECK(DroppedAs(Recv(t, v6, Frame(ping, kMacA6, kMacA6), kUlB), kDropOwnMac));
  CHECK(DroppedAs(Recv(t, v6, Frame(ping, kMacA6, kMacB6, 2), kUlB), kDropBadVni));
  CHECK(DroppedAs(Recv(t, v6, good, kUlX), kDropUnknownPeer));
  // The IPv4 underlay's Decapsulator still takes IPv4 frames with the IPv4 MAC.
  r = Recv(t, Decap6Config(4), Frame(Ping4(0x0af40205, 0x0af40105), kMacA, kMacB, 1, kEtherTypeIpv4), nullptr);
  CHECK(r.writes.size() == 1);

  // Truncated anywhere: malformed.
  for (size_t cut :
       {size_t{0}, size_t{7}, size_t{8}, size_t{21}, size_t{22}, size_t{40}, size_t{61}, good.size() - 1}) {
    Bytes b(good.begin(), good.begin() + static_cast<long>(cut));
    r = Recv(t, v6, b, kUlB);
    CHECK(DroppedAs(r, kDropMalformed));
  }
  // Extension header chains: hop-by-hop not first, too long, overrunning: malformed; a sane one passes.
  const Bytes udp = {0x9c, 0x42, 0x13, 0x89, 0x00, 0x0c, 0x00, 0x00, 'p', 'i', 'n', 'g'};
  Bytes late = {ipv6::kHopByHop, 0, 1, 4, 0, 0, 0, 0, kProtoUdp, 0, 1, 4, 0, 0, 0, 0};
  late.insert(late.end(), udp.begin(), udp.end());
  CHECK(DroppedAs(Recv(t, v6, Frame(Ipv6(kPodB, kPodA, ipv6::kDestOpts, late), kMacA6, kMacB6), kUlB), kDropMalformed));
  Bytes many;
  for (size_t i = 0; i < 8; i++) {
    const Bytes h = {i + 1 < 8 ? ipv6::kDestOpts : kProtoUdp, 0, 1, 4, 0, 0, 0, 0};
    many.insert(many.end(), h.begin(), h.end());
  }
  many.insert(many.end(), udp.begin(), udp.end());
  CHECK(DroppedAs(Recv(t, v6, Frame(Ipv6(kPodB, kPodA, ipv6::kDestOpts, many), kMacA6, kMacB6), kUlB), kDropMalformed));
  const Bytes overrun = {kProtoUdp, 200, 1, 4, 0, 0, 0, 0};  // claims 1608 bytes
  CHECK(DroppedAs(Recv(t, v6, Frame(Ipv6(kPodB, kPodA, ipv6::kDestOpts, overrun), kMacA6, kMacB6), kUlB),
                  kDropMalformed));
  Bytes sane = {ipv6::kDestOpts, 0, 1, 4, 0, 0, 0, 0, kProtoUdp, 0, 1, 4, 0, 0, 0, 0};
  sane.insert(sane.end(), udp.begin(), udp.end());
  r = Recv(t, v6, Frame(Ipv6(kPodB, kPodA, ipv6::kHopByHop, sane), kMacA6, kMacB6), kUlB);
  CHECK(r.writes.size() == 1);

  // Admission: outside the IPv6 network, families across underlays.
  CHECK(DroppedAs(Recv(t, v6, Frame(Ping6(kPodB, kOutside), kMacA6, kMacB6), kUlB), kDropBadDestination));
  CHECK(DroppedAs(Recv(t, v6, Frame(Ping4(0x0af40205, 0x0af40105), kMacA6, kMacB6, 1, kEtherTypeIpv4), kUlB),
                  kDropBadDestination));
  CHECK(DroppedAs(Recv(t, Decap6Config(4), Frame(ping, kMacA, kMacB), nullptr), kDropBadDestination));
  DecapConfig v4only = Decap6Config(4);
  v4only.ipv6 = false;
  CHECK(DroppedAs(Recv(t, v4only, Frame(ping, kMacA, kMacB), nullptr), kDropNotIp));

  // checkInnerSource: the inner source's IPv6 lease must belong to the outer source.
  DecapConfig strict = v6;
  strict.check_inner_source = true;
  CHECK(Recv(t, strict, good, kUlB).writes.size() == 1);
  CHECK(DroppedAs(Recv(t, strict, good, kUlC), kDropBadSource));  // C is a peer, but not B's lease
  CHECK(DroppedAs(Recv(t, strict, Frame(Ping6(kNoLease, kPodA), kMacA6, kMacB6), kUlB), kDropBadSource));
}

void TestCoalesce6(const Table& t) {
  // Two GRO'd IPv6 TCP segments of one flow: one TUN write of both payloads.
  Bytes msg;
  for (uint32_t i = 0; i < 2; i++) {
    Bytes tcp(20);
    Store16(&tcp[0], 40000);
    Store16(&tcp[2], 5201);
    Store32(&tcp[4], 1 + 100 * i);
    tcp[12] = 0x50;
    tcp[13] = tcp::kAckFlag;
    Store16(&tcp[14], 512);
    tcp.resize(120, static_cast<uint8_t>(i));
    Bytes p = Ipv6(kPodB, kPodA, kProtoTcp, tcp);
    Store16(&p[56], Ipv6L4Checksum(kPodB, kPodA, kProtoTcp, &p[40], 120));
    const Bytes f = Frame(p, kMacA6, kMacB6);
    msg.insert(msg.end(), f.begin(), f.end());
  }
  DecapConfig config = Decap6Config(6);
  config.coalesce = true;
  const size_t step = msg.size() / 2;
  RecvRun r = Recv(t, config, msg, kUlB, step);
  CHECK(r.c[kUdpRxPackets] == 2 && r.c[kUdpRxGroBatches] == 1);
  CHECK(r.writes.size() == 1 && r.writes[0].size() == 40 + 20 + 200);
}

}  // namespace

void RunPipeline6Tests(const std::string& dir) {
  const std::unique_ptr<Table> t = OpenDualStack(dir + "/dual-stack.table");
  CHECK(t->has_ipv6());
  TestEncap6(*t);
  TestEncapTso6(*t);
  TestDecap6(*t);
  TestCoalesce6(*t);
  TestIpv6Only(dir + "/ipv6-only.table");
}

}  // namespace weft::test
