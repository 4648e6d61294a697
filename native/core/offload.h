// Keeping packets large end to end (issue "Throughput"; reference/fast-path.md).
//
// The TUN device is opened with IFF_VNET_HDR: every read and write starts
// with a 10-byte virtio_net_hdr. With TUN_F_TSO4/USO the kernel hands us
// TCP/UDP "super-packets" of up to 64 KiB plus the segment size; we cut them
// into wire-sized segments ourselves (Segment), send each train of equal-size
// datagrams with one UDP_SEGMENT sendmsg, and on the other side merge the
// segments UDP GRO hands us back into one super-packet written to the TUN
// (Coalescer). Everything here is pure byte work: no I/O, no allocation.
//
//   virtio_net_hdr (native byte order, as TUN uses without TUNSETVNETLE):
//     u8 flags  (1 = NEEDS_CSUM: finish the L4 checksum from csum_start)
//     u8 gso_type (0 none, 1 TCPv4, 4 TCPv6, 5 UDP_L4; 0x80 = ECN)
//     u16 hdr_len  (untrusted on read: recomputed from the headers)
//     u16 gso_size (payload bytes per segment)
//     u16 csum_start, u16 csum_offset (16 for TCP, 6 for UDP)
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "codec.h"

namespace weft {

// What the engine negotiated, as recorded in the table header (`offloads`).
enum OffloadBit : uint64_t {
  kOffloadVnetHdr = 1u << 0,   // TUN reads/writes carry virtio_net_hdr
  kOffloadTso = 1u << 1,       // TUN hands us TCP super-packets (TSO4, and TSO6 with it)
  kOffloadUso = 1u << 2,       // ... and UDP super-packets (USO4/6)
  kOffloadUdpGso = 1u << 3,    // trains of datagrams leave with one UDP_SEGMENT send
  kOffloadUdpGro = 1u << 4,    // the socket hands us GRO-merged datagrams
  kOffloadCoalesce = 1u << 5,  // received TCP segments merge into TUN GSO writes
  kOffloadSrcPorts = 1u << 6,  // vxlan: source port picked by inner flow hash (receiver spreading)
};

// Their names in bit order, as JS shows them (DataPlaneStats.offloads; the
// addon exports the list, src/dataplane reads it from there). The first
// kOffloadOptionCount are also the DataPlaneOptions.offloads switches;
// srcPorts follows from the backend.
inline constexpr const char* kOffloadNames[] = {"vnetHdr", "tso", "uso", "udpGso", "udpGro", "coalesce", "srcPorts"};
inline constexpr size_t kOffloadCount = sizeof(kOffloadNames) / sizeof(kOffloadNames[0]);
inline constexpr size_t kOffloadOptionCount = 6;
static_assert(kOffloadSrcPorts == 1u << (kOffloadCount - 1), "one name per OffloadBit");

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHdr) == 10);

inline constexpr size_t kVnetHdrLen = sizeof(VnetHdr);
inline constexpr uint8_t kVnetNeedsCsum = 1;
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpv4 = 1;
inline constexpr uint8_t kGsoTcpv6 = 4;
inline constexpr uint8_t kGsoUdpL4 = 5;
inline constexpr uint8_t kGsoEcn = 0x80;

// Linux's UDP_MAX_SEGMENTS before 6.9 (128 after); we stay at the older one.
inline constexpr size_t kMaxGsoSegments = 64;
// Largest UDP payload one IPv4 datagram (and so one UDP_SEGMENT train) can carry.
inline constexpr size_t kMaxUdpPayload = 65507;

// Finishes the partial L4 checksum of a non-GSO packet read with NEEDS_CSUM:
// the field holds the pseudo-header sum; sum from csum_start to the end.
// `pkt` passed CheckIpv4 or CheckIpv6 with length `len`; a csum_start inside
// the IPv4 header (or the fixed 40-byte IPv6 header) or a field beyond the
// packet is malformed (nothing is written).
Verdict CompleteChecksum(uint8_t* pkt, size_t len, const VnetHdr& h);

// The L4 header of an IPv6 packet that Segment can cut: TCP or UDP after
// zero or more hop-by-hop, destination options and routing headers (one with
// segments left 0: otherwise the pseudo-header's destination is the route's
// last address), at most ipv6::kMaxExtHeaders of them. False for anything
// else in front of it (fragment, AH, ESP, ...) or a chain past `ip_len`.
// (codec's Ipv6Upper walks every chain; this is what segmentation accepts.)
bool Ipv6SegmentableL4(const uint8_t* pkt, size_t ip_len, uint8_t* proto, size_t* l4_off);

// What Segment() produced: `count` segments of an IPv4 or IPv6 super-packet.
// Each segment is two iovecs: its headers (`hdr_block` bytes: `prefix` bytes
// left free for encapsulation, then the IP header (IPv4 options, IPv6
// extension headers) and L4 header, written back to back into the caller's
// header area) and its payload (pointing into the super-packet, never
// copied). All segments but the last are `seg_len` bytes long (prefix
// included); the last is `last_len`.
struct Segments {
  size_t count;
  size_t hdr_block;
  size_t seg_len;
  size_t last_len;
};

// Cuts the TCP/UDP super-packet `pkt[0, len)` described by `h` into segments
// of at most h.gso_size payload bytes, each with its own IP header (IPv4:
// total length, ID + i, header checksum; IPv6: payload length, everything
// else and the extension headers copied) and L4 header (TCP: sequence number,
// FIN/PSH only on the last, CWR only on the first; UDP: length) with a
// complete L4 checksum over the IPv4 or IPv6 pseudo-header. gso_type TCPV4
// needs IPv4, TCPV6 IPv6, UDP_L4 either. Returns kForward and fills `*segs`
// and `iov[0, 2 * count)`, or a drop reason (kDropMalformed) when the headers
// are inconsistent, gso_size is 0, or the output does not fit (`hdr_cap`
// bytes, `iov_cap` iovecs).
Verdict Segment(const uint8_t* pkt, size_t len, const VnetHdr& h, size_t prefix, uint8_t* hdrs, size_t hdr_cap,
                struct iovec* iov, size_t iov_cap, Segments* segs);

// Merges consecutive segments of one flow (in order, as one GRO'd receive
// hands them over) into a single super-packet, written to the TUN with one
// writev: [virtio_net_hdr][first packet][payload 2][payload 3]...
// TCP follows the kernel's GRO rules: IPv4 without options or fragments, or
// IPv6 without extension headers (next header TCP itself: anything else is
// written alone); same addresses, ports, ACK, window and TCP options; IPv4:
// same TOS, TTL, DF; IPv6: same traffic class, flow label, hop limit;
// adjacent sequence numbers; flags ACK or ACK|PSH, nothing after a PSH.
// UDP (only when the TUN took USO): same addresses, ports and IP fields.
// For both: every segment but the last exactly gso_size long; at most 64 KiB.
// Written as GSO TCPV4, TCPV6 or UDP_L4.
class Coalescer {
 public:
  static constexpr size_t kMaxIov = 66;

  // With `udp`, UDP flows are merged too (written as UDP_L4 GSO).
  explicit Coalescer(bool udp = false) : udp_(udp) {}
  void set_udp(bool udp) { udp_ = udp; }

  // Starts a new run with `pkt` (a packet that passed CheckIpv4 or
  // CheckIpv6, `len` its IP length). Returns false when it cannot start one
  // (not TCP/UDP, IPv4 options or a fragment, IPv6 extension headers, TCP
  // flags other than ACK/ACK|PSH, no payload): write that packet alone.
  bool Start(uint8_t* pkt, size_t len);
  // Appends the next packet if the rules allow; false otherwise (the caller
  // then flushes this run and tries Start with the packet).
  bool Append(uint8_t* pkt, size_t len);
  size_t count() const { return count_; }
  // Patches the first packet's headers for the merged super-packet and
  // returns the iovec array to write: iov[0] is the vnet header. With one
  // packet the vnet header is all zero and nothing is patched.
  size_t Finish(struct iovec* iov);

 private:
  uint8_t* first_ = nullptr;
  size_t first_len_ = 0;
  bool udp_;
  uint8_t proto_ = 0;
  bool v6_ = false;
  size_t l3_len_ = 0;   // IP header bytes (20 or 40)
  size_t hdr_len_ = 0;  // IP + L4 header bytes
  size_t gso_size_ = 0;
  size_t total_payload_ = 0;
  size_t last_payload_ = 0;
  uint32_t next_seq_ = 0;
  bool psh_ = false;
  size_t count_ = 0;
  VnetHdr vnet_{};
  struct iovec parts_[kMaxIov];
};

}  // namespace weft
