// The TUN device of the data plane (tun_linux.cc). The UDP sockets: udp_socket.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace weft {

// TUNSETOFFLOAD bits (linux/if_tun.h; USO4/6 are newer than Debian 12's headers).
inline constexpr unsigned kTunFCsum = 0x01;
inline constexpr unsigned kTunFTso4 = 0x02;
inline constexpr unsigned kTunFTso6 = 0x04;
inline constexpr unsigned kTunFTsoEcn = 0x08;
inline constexpr unsigned kTunFUso4 = 0x20;
inline constexpr unsigned kTunFUso6 = 0x40;

// Opens (creating if absent) TUN device `name` with `queues` queues
// (IFF_TUN | IFF_NO_PI, IFF_MULTI_QUEUE; IFF_VNET_HDR with `vnet_hdr`). Every
// fd is non-blocking and close-on-exec. With `persist` the device outlives
// the process. With vnet_hdr, offloads `want` (kTunF* bits) are negotiated,
// dropping USO, then TSO, when the kernel refuses; `*got` is what it took.
Status OpenTun(const std::string& name, uint32_t queues, bool persist, bool vnet_hdr, unsigned want,
               std::vector<int>* fds, unsigned* got);

// Asks the kernel for TUN offloads `want` on queue `fd`, dropping USO, then
// TSO, when it refuses; returns what it took (0: not even checksum offload).
unsigned NegotiateOffloads(int fd, unsigned want);

// Brings `name` up with address `addr`/32 (host order), MTU `mtu`, a long
// transmit queue, and a route for `network`/`prefix_len` through it (an
// existing route is kept), IPv6 off. Without `ipv4` (an IPv6-only node)
// no IPv4 address or route is set. With `keep_ipv6` (a handed-over device
// whose IPv6 side is configured already) IPv6 is left as it is: turning it
// off would flush the device's IPv6 address and route under live traffic.
Status ConfigureTun(const std::string& name, uint32_t addr, uint32_t mtu, uint32_t network, uint8_t prefix_len,
                    bool ipv4 = true, bool keep_ipv6 = false);

// The IPv6 side of a device ConfigureTun brought up (with IPv6 off, so the
// bring-up made no link-local address): IPv6 back on, no router advertisements, no DAD and no link-local address
// (nothing on the device speaks ND), the IPv6 MTU `mtu6` (at most the device MTU), address `addr6`/128 and a route for
// `network6`/`prefix6_len` through it (an existing address or route is kept). 16-byte addresses, network order.
Status ConfigureTun6(const std::string& name, const uint8_t addr6[16], uint32_t mtu6, const uint8_t network6[16],
                     uint8_t prefix6_len);

}  // namespace weft
