// The engine: owns the TUN queues, the UDP sockets and the worker threads of
// one data plane, and stops them all on Stop() or destruction.
//
// Lifecycle:  Start() --ok--> running --Stop()--> stopped (idempotent)
//             Start() --error--> nothing left open (fds closed, threads never started)
//
// Start: OpenDevice (TUN queues, opened or handed over, offloads,
// address/MTU/route) -> OpenSockets (receivers, vxlan senders, GSO/GRO) -> StartWorkers (one thread per queue)
// -> the table header records queues and offloads. A failing step's Status
// is classified (ErrorKind, option, a sentence naming the device or address)
// before it is returned.
// The table is owned by the caller and must outlive the engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "status.h"
#include "table.h"
#include "tun.h"
#include "udp_socket.h"
#include "worker.h"

namespace weft {

// Fds a predecessor handed over (a hand-off, or systemd's fd store): one TUN
// queue, one bound socket and (vxlan) one sending socket per queue, and
// (dual stack) the same on the IPv6 underlay: one socket per queue bound to
// [PublicIPv6]:port, and one IPv6 sending socket per queue on its own port.
// An IPv6-only plane has no IPv4 sockets: `udp` and `send` are empty.
struct EngineFds {
  std::vector<int> tun;
  std::vector<int> udp;
  std::vector<int> send;
  std::vector<int> udp6;
  std::vector<int> send6;
};

struct EngineConfig {
  std::string device;
  uint32_t queues = 1;
  bool persist = false;          // keep the TUN device after the process exits
  bool configure_device = true;  // address, MTU, up, network route
  uint32_t device_addr = 0;      // host order, the lease subnet's .0
  uint32_t mtu = 1450;
  uint32_t network = 0;
  uint8_t network_prefix_len = 0;
  uint32_t bind_ip = 0;  // host order; PublicIP
  uint16_t port = 0;     // local port and peers' port
  // The IPv4 part (PublicIP, Network, lease). false: an IPv6-only node
  // (vxlan with `ipv6`): no IPv4 socket, no IPv4 address or route on the
  // device, and inner IPv4 read from the TUN is dropped as noRoute.
  bool ipv4 = true;
  // Dual stack (vxlan only): IPv6 inner packets over the IPv6 underlay, on
  // the same TUN device. 16-byte addresses, network order.
  bool ipv6 = false;
  uint8_t bind_ip6[16] = {};      // PublicIPv6
  uint8_t device_addr6[16] = {};  // the IPv6 lease's network address (/128 on the device)
  uint8_t network6[16] = {};
  uint8_t network6_prefix_len = 0;
  uint32_t mtu6 = 0;  // the device's IPv6 MTU (0: mtu); at most mtu
  int socket_buffer = 4 << 20;
  // Offloads to try (each falls back when the kernel refuses it).
  bool vnet_hdr = true;
  bool tso = true;
  bool uso = true;
  bool udp_gso = true;
  bool udp_gro = true;
  bool coalesce = true;
  WorkerConfig worker{};
  // When given, used instead of opening a device and sockets; the engine owns
  // them from Start() on, whether it succeeds or not.
  EngineFds adopt;
};

class Engine {
 public:
  static Status Start(const EngineConfig& config, Table* table, std::unique_ptr<Engine>* out);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Signals every thread, joins them and closes every fd. Idempotent.
  void Stop();
  bool running() const { return running_; }
  // The open TUN queues and sockets, for a hand-off (still owned by the engine).
  EngineFds fds() const { return {tun_fds_, udp_fds_, send_fds_, udp6_fds_, send6_fds_}; }
  // First fatal errno a worker hit (0 when none): the device or socket broke.
  int fatal_errno() const;

 private:
  Engine() = default;
  // The steps of Start.
  Status OpenDevice(const EngineConfig& config, bool adopted, unsigned* got);
  Status OpenSockets(const EngineConfig& config, bool adopted, bool* gso, bool* gro);
  void StartWorkers(const EngineConfig& config, const WorkerConfig& wc);
  // What the table header records as negotiated (OffloadBit).
  static uint64_t OffloadBits(const WorkerConfig& wc, unsigned tun_offloads);

  Table* table_ = nullptr;
  bool running_ = false;
  int stop_fd_ = -1;
  std::vector<int> tun_fds_;
  std::vector<int> udp_fds_;    // IPv4 receivers (none on an IPv6-only node)
  std::vector<int> send_fds_;   // vxlan: one sender per queue on its own port
  std::vector<int> udp6_fds_;   // dual stack: one IPv6 receiver per queue on the shared port
  std::vector<int> send6_fds_;  // dual stack: one IPv6 sender per queue on its own port
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace weft
