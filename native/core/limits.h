// Compile-time limits of the data plane, in one place.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft {

// Largest IP packet we read from or write to the TUN device (and the largest
// UDP message we accept, GRO'd or not). With TSO/USO the TUN hands over (and
// takes) super-packets of up to 64 KiB; without, the device MTU bounds them.
inline constexpr size_t kMaxPacket = 65535;

// Bytes reserved in front of every packet buffer so that encapsulation can
// prepend its headers in place: VXLAN (8) + inner Ethernet (14) = 22, rounded
// up so the inner IP header stays 8-byte aligned after a 10-byte vnet header.
inline constexpr size_t kHeadroom = 64;

// TUN reads per RunTunToUdp batch (the socket side has Worker::kRxBatch
// messages per recvmmsg, and sendmmsg sends whatever a batch queued). Bounds
// the work a worker does before it looks at its stop signal again.
inline constexpr size_t kBatch = 64;

// Worker queues: each is one TUN queue, one receiving UDP socket (vxlan: and
// one sending socket) and one thread serving both directions, which counts
// into two counter blocks (table_format.h kCounterBlocks).
inline constexpr uint32_t kMaxQueues = 16;

}  // namespace weft
