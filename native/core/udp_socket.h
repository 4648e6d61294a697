// The underlay UDP sockets of the data plane (udp_socket_linux.cc).
#pragma once

#include <cstdint>

#include "status.h"

namespace weft {

// A UDP socket bound to `ip`:`port` (host order; port 0 = any free one), with
// SO_REUSEPORT when `reuse_port` and socket buffers of at least `buf_bytes`.
// With `gro`, UDP_GRO is turned on and `*gro_on` says whether it took.
Status OpenUdpSocket(uint32_t ip, uint16_t port, bool reuse_port, int buf_bytes, bool gro, int* fd, bool* gro_on);

// True when the kernel supports UDP_SEGMENT (UDP GSO) on `fd`.
bool UdpGsoSupported(int fd);

}  // namespace weft
