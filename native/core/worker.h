// One worker queue: a TUN queue fd and a UDP socket, and the two loops that
// move packets between them, each on its own thread.
//
//   RunTunToUdp (encapsulate):
//     poll(tun, stop) -> read up to kBatch packets (non-blocking drain)
//       -> check IPv4 -> table lookup (no entry: ICMP net unreachable back
//          into the TUN, drop noRoute) -> udp: TTL - 1 | vxlan: prepend
//          VXLAN + inner Ethernet in the headroom
//       -> one sendmmsg for the batch (partial sends resumed, a failing
//          datagram counted as txError and skipped)
//
//   RunUdpToTun (decapsulate):
//     poll(udp, stop) -> recvmmsg up to kBatch datagrams (repeat while full)
//       -> [source must be a lease's PublicIP when check_peers]
//       -> udp: check IPv4, TTL - 1 | vxlan: flags, VNI, MACs, inner IP
//       -> one write() per packet into the TUN
//
// Per packet there is no allocation, lock, log line or call into JS. Buffers
// are allocated once, at construction. Counters are kept in locals and added
// to the thread's own block in the shared table after every batch.
#pragma once

#include <sys/socket.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "codec.h"
#include "limits.h"
#include "table.h"

namespace weft {

struct WorkerConfig {
  uint8_t backend;        // table::Backend (udp or vxlan)
  uint32_t vni;           // vxlan
  uint8_t own_mac[6];     // vxlan
  uint16_t peer_port;     // destination port of outgoing datagrams
  bool check_peers;       // accept datagrams only from lease PublicIPs
};

class Worker {
 public:
  Worker(const WorkerConfig& config, const Table* table, int tun_fd, int udp_fd, int stop_fd,
         uint64_t* tx_counters, uint64_t* rx_counters);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Both return when the stop fd becomes readable or on a fatal fd error
  // (then `fatal_errno()` is set).
  void RunTunToUdp();
  void RunUdpToTun();
  int fatal_errno() const { return fatal_errno_.load(); }

 private:
  // Returns false when the stop fd fired (or polling failed for good).
  bool WaitReadable(int fd);
  // Encapsulates the packet at bufs_[slot] + kHeadroom; true when a datagram
  // was queued in slot `*queued`.
  bool Encapsulate(uint8_t* pkt, size_t len, size_t queued);
  void SendQueued(size_t queued);
  void Flush(uint64_t* block, uint64_t* local);

  const WorkerConfig config_;
  const Table* const table_;
  const int tun_fd_;
  const int udp_fd_;
  const int stop_fd_;
  uint64_t* const tx_block_;
  uint64_t* const rx_block_;
  const uint32_t subnet_mask_;  // the network's SubnetLen as a mask
  std::atomic<int> fatal_errno_{0};

  // Encapsulation side: kBatch buffers with headroom, their iovecs, peer
  // addresses and mmsghdrs; plus one buffer for ICMP errors.
  std::unique_ptr<uint8_t[]> tx_mem_;
  struct iovec tx_iov_[kBatch];
  struct sockaddr_in tx_addr_[kBatch];
  struct mmsghdr tx_msgs_[kBatch];
  uint8_t icmp_buf_[128];
  uint64_t tx_counts_[kCounterCount] = {};

  // Decapsulation side.
  std::unique_ptr<uint8_t[]> rx_mem_;
  struct iovec rx_iov_[kBatch];
  struct sockaddr_in rx_addr_[kBatch];
  struct mmsghdr rx_msgs_[kBatch];
  uint64_t rx_counts_[kCounterCount] = {};
};

}  // namespace weft
