// Per-worker packet counters and drop reasons.
//
// Each worker owns two blocks of counters in the shared-memory table file
// (see table_format.h), one per direction, and its thread is their only
// writer: it counts into locals and adds them to its blocks after every
// batch with relaxed atomic load+store, no read-modify-write needed
// (Worker::Flush). Readers (the JS thread, `weft table` in another process)
// sum the blocks with relaxed loads.
//
// The order here is the layout of a block; names are what JS and `weft table`
// print. Append only: never reorder or reuse a slot.
#pragma once

#include <cstdint>

namespace weft {

enum Counter : uint32_t {
  kTunRxPackets,
  kTunRxBytes,
  kTunTxPackets,
  kTunTxBytes,
  kUdpRxPackets,
  kUdpRxBytes,
  kUdpTxPackets,
  kUdpTxBytes,
  kIcmpUnreachableSent,
  kUdpTxSyscalls,
  kUdpRxSyscalls,
  kTunRxSyscalls,
  kTunTxSyscalls,
  kTunRxGsoPackets,  // super-packets read from the TUN (each counted once in tunRxPackets)
  kTunTxGsoPackets,  // super-packets written to the TUN (their segments count in tunTxPackets)
  kUdpRxGroBatches,  // receives that carried several datagrams (UDP GRO)
  // Drops, by reason. Every packet that is not forwarded lands in exactly one.
  kDropFirst = 16,
  kDropNoRoute = kDropFirst,  // no table entry for the inner destination
  kDropMalformed,             // truncated or inconsistent headers
  kDropBadVni,                // VXLAN VNI is not ours
  kDropBadMac,                // inner Ethernet destination is not our VtepMAC
  kDropTtlExpired,            // udp backend: inner TTL reached 0
  kDropUnknownPeer,           // outer source is not the PublicIP of a lease
  kDropTxError,               // sending the UDP datagram failed
  kDropBadFlags,              // VXLAN flags other than I, or reserved bits set
  kDropOwnMac,                // inner Ethernet source is our own VtepMAC (a loop)
  kDropNotIp,                 // inner ethertype / IP version we do not carry
  kDropTunWriteError,         // writing to the TUN device failed
  kDropBadSource,             // inner source outside the lease of the outer source (checkInnerSource)
  kDropBadDestination,        // decapsulated packet for an address outside the overlay network
  kDropLast,
  kCounterCount = 64,  // slots per block; the rest are spare
};

static_assert(kDropLast <= kCounterCount, "counter block overflow");

// Names in block order (nullptr for reserved slots); see counters.cc.
extern const char* const kCounterNames[kDropFirst];
extern const char* const kDropNames[kDropLast - kDropFirst];

}  // namespace weft
