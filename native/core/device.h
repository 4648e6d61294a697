// The host side of the data plane: the TUN device and the UDP socket.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace weft {

// Opens (creating if absent) TUN device `name` with `queues` queues
// (IFF_TUN | IFF_NO_PI, IFF_MULTI_QUEUE). Every fd is non-blocking and
// close-on-exec. With `persist` the device outlives the process.
Status OpenTun(const std::string& name, uint32_t queues, bool persist, std::vector<int>* fds);

// Brings `name` up with address `addr`/32 (host order), MTU `mtu`, and a
// route for `network`/`prefix_len` through it (an existing route is kept).
Status ConfigureTun(const std::string& name, uint32_t addr, uint32_t mtu, uint32_t network, uint8_t prefix_len);

// A UDP socket bound to `ip`:`port` (host order; ip 0 = any), with
// SO_REUSEPORT when `reuse_port`, and socket buffers of at least `buf_bytes`.
Status OpenUdpSocket(uint32_t ip, uint16_t port, bool reuse_port, int buf_bytes, int* fd);

}  // namespace weft
