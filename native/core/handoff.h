// Hand-off: a running data plane's TUN queues and UDP sockets passed to the
// process that replaces it, so no packet is dropped across an upgrade.
//
// A successor connects to its predecessor's unix socket and receives one
// message: a 4-byte big-endian length, that many bytes of description (JSON,
// written and read by the TypeScript side) and the fds attached to it as
// SCM_RIGHTS. The predecessor then stops its workers, releases its table and
// sends the release mark 'R'. Between the two, packets wait in the kernel's
// queues: the fds, and so the queues, stay open throughout.
//
// The same fds can be parked in systemd's file-descriptor store (sd_notify
// FDSTORE=1), which hands them to the next start of the unit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "limits.h"
#include "status.h"

namespace weft {

// At most one TUN queue, one bound and one sending socket per queue.
inline constexpr size_t kMaxHandoffFds = 3 * kMaxQueues;
inline constexpr size_t kMaxHandoffData = 64 * 1024;
inline constexpr char kHandoffReleased = 'R';

// Sends `data` (framed with its length) with `fds` attached on the connected
// stream socket `sock`, waiting up to `timeout_ms` for room. The fds stay open
// here; the receiver gets its own references to the same open files.
Status SendFds(int sock, const std::vector<int>& fds, const std::string& data, int timeout_ms);

// Connects to the unix socket at `path`, receives the fds and description a
// predecessor sends, then waits for its release mark, all within
// `timeout_ms`. On success the caller owns `*fds` (close-on-exec); on failure
// none is left open.
Status TakeOver(const std::string& path, int timeout_ms, std::vector<int>* fds, std::string* data);

// Sends `state` (e.g. "FDSTORE=1\nFDNAME=weft-tun-0") to systemd's notify
// socket `socket_path` ($NOTIFY_SOCKET: a path, or '@' for an abstract name),
// with `fds` attached when given.
Status NotifyWithFds(const std::string& socket_path, const std::string& state, const std::vector<int>& fds);

// Turns UDP_GRO on for an adopted socket; false when the kernel refuses.
bool EnableUdpGro(int fd);

// Checks that `fd` is a TUN queue of device `device` whose IFF_VNET_HDR
// setting equals `vnet_hdr` (an adopted fd cannot change it).
Status CheckTunFd(int fd, const std::string& device, bool vnet_hdr);

// Checks that `fd` is an IPv4 UDP socket bound to `ip`:`port` (host order;
// port 0 = any port).
Status CheckUdpFd(int fd, uint32_t ip, uint16_t port);

}  // namespace weft
