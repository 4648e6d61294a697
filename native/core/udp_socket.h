// The underlay UDP sockets of the data plane (udp_socket_linux.cc).
#pragma once

#include <cstdint>

#include "status.h"

namespace weft {

// A UDP socket bound to `ip`:`port` (host order; port 0 = any free one), with
// SO_REUSEPORT when `reuse_port` and socket buffers of at least `buf_bytes`.
// With `gro`, UDP_GRO is turned on and `*gro_on` says whether it took.
Status OpenUdpSocket(uint32_t ip, uint16_t port, bool reuse_port, int buf_bytes, bool gro, int* fd, bool* gro_on);

// The same on the IPv6 underlay: AF_INET6 with IPV6_V6ONLY (it never
// shares the port with the IPv4 socket), bound to [ip]:port (16 bytes,
// network order). What leaves it is what the kernel's flannel-v6.<VNI>
// sends: the UDP checksum always set (RFC 8200 8.1; a zero-checksum IPv6
// datagram is dropped on receipt, as the kernel device's default
// noudp6zerocsumrx does), the system hop limit, flow label 0.
Status OpenUdpSocket6(const uint8_t ip[16], uint16_t port, bool reuse_port, int buf_bytes, bool gro, int* fd,
                      bool* gro_on);

// Checks that `fd` is an IPv6 UDP socket bound to [ip]:port (port 0 = any
// port): a handed-over IPv6 underlay socket.
Status CheckUdpFd6(int fd, const uint8_t ip[16], uint16_t port);

// True when the kernel supports UDP_SEGMENT (UDP GSO) on `fd`.
bool UdpGsoSupported(int fd);

}  // namespace weft
