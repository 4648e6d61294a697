// Compile-time limits of the data plane, in one place.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft {

// Largest IP packet we read from or write to the TUN device (and the largest
// UDP datagram we accept). Without offloads the device MTU bounds packets;
// 65535 leaves room for jumbo underlays and for super-packets later.
inline constexpr size_t kMaxPacket = 65535;

// Bytes reserved in front of every packet buffer so that encapsulation can
// prepend its headers in place: VXLAN (8) + inner Ethernet (14) = 22, rounded
// up so the inner IP header stays 8-byte aligned after a 10-byte vnet header.
inline constexpr size_t kHeadroom = 64;

// Packets handled per wake-up and per sendmmsg/recvmmsg call. Bounds the work
// a thread does before it looks at its stop signal again.
inline constexpr size_t kBatch = 64;

// Worker queues (TUN queues, each with one socket and two threads).
inline constexpr uint32_t kMaxQueues = 16;

}  // namespace weft
