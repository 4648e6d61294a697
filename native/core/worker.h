// One worker queue: a TUN queue fd and UDP sockets, served by one thread
// that moves packets both ways.
//
//   RunTunToUdp (encapsulate):
//     poll(tun, stop) -> read up to kBatch packets (non-blocking drain) into
//     the arena, each behind room for the encapsulation headers
//       -> Encapsulator::Encapsulate (encap.h: checks, table lookup, TTL,
//          checksum or segmentation, VXLAN headers); no route: the ICMP net
//          unreachable it built goes back into the TUN (at most the
//          kernel's ICMP error rate, ratelimit.h)
//       -> queue one message per datagram, or per train of equal-size
//          segments (UDP_SEGMENT) -> sendmmsg when the batch, the arena or
//          the message list is full (partial sends resumed; a failing
//          datagram is counted as txError and skipped; a failing GSO train
//          turns GSO off for good and is resent datagram by datagram)
//
//   RunUdpToTun (decapsulate), for the IPv4 socket and (dual stack) the IPv6 one:
//     poll(udp, udp6, stop) -> recvmmsg (with UDP_GRO: each message may hold many
//     datagrams of gso_size bytes) -> Decapsulator::Receive / Receive6 (decap.h:
//     peer check, decode, admission, coalescing; one Decapsulator per
//     underlay family, each with its own MAC) -> one write/writev per
//     (super-)packet into the TUN
//
//   Dual stack: inner IPv4 goes out of an IPv4 send socket to the lease's
//   PublicIP, inner IPv6 out of an IPv6 socket to its PublicIPv6; a flow
//   hash picks the socket within the family.
//
// Per packet there is no allocation, lock, log line or call into JS. Buffers
// are allocated once, at construction. Counters are kept in locals and added
// to the thread's own block in the shared table after every batch.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "codec.h"
#include "decap.h"
#include "encap.h"
#include "limits.h"
#include "offload.h"
#include "ratelimit.h"
#include "table.h"

namespace weft {

struct WorkerConfig {
  uint8_t backend;          // table::Backend (udp or vxlan)
  uint32_t vni;             // vxlan
  uint8_t own_mac[6];       // vxlan: MAC of IPv4 frames
  uint8_t own_mac6[6];      // vxlan: MAC of IPv6 frames (dual stack)
  uint16_t peer_port;       // destination port of outgoing datagrams
  bool check_peers;         // accept datagrams only from lease PublicIPs
  bool check_inner_source;  // inner source must lie in the lease of the outer source
  bool vnet_hdr;            // the TUN fd carries virtio_net_hdr
  bool udp_gso;             // send trains with UDP_SEGMENT
  bool udp_gro;             // the receive socket has UDP_GRO on
  bool coalesce;            // merge received TCP segments into TUN GSO writes
  bool coalesce_udp;        // ... and UDP datagrams (the TUN took USO)
  uint32_t poll_budget_ns;  // adaptive polling: longest spin after traffic (0: off)
};

// Everything one worker is made of. The fds stay owned by the engine.
struct WorkerOptions {
  WorkerConfig config{};
  const Table* table = nullptr;
  int tun_fd = -1;  // this worker's TUN queue
  // `recv_fd` receives; `send_fds[0, send_count)` send (shared by all
  // workers; they may include recv_fd). With several, each inner flow is
  // sent from the socket its hash picks, so it keeps one source port
  // whichever TUN queue it was read from, and the peer's SO_REUSEPORT group
  // hands it to one receiver in order.
  // IPv6-only (no IPv4 underlay): send_count 0, recv_fd -1, and inner IPv4
  // from the TUN is dropped as noRoute.
  const int* send_fds = nullptr;
  size_t send_count = 0;
  int recv_fd = -1;
  // The IPv6 underlay (dual stack; none: send6_count 0, recv6_fd -1): the
  // same, for inner IPv6 packets.
  const int* send6_fds = nullptr;
  size_t send6_count = 0;
  int recv6_fd = -1;
  int stop_fd = -1;  // readable: return from Run()
  // The two threads' counter blocks in the table (kCounterCount slots each).
  uint64_t* tx_counters = nullptr;
  uint64_t* rx_counters = nullptr;
};

class Worker {
 public:
  explicit Worker(const WorkerOptions& options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The worker's thread: polls the TUN queue and the socket, serves both
  // directions until neither has work, and returns when the stop fd becomes
  // readable or on a fatal fd error (then `fatal_errno()` is set). After
  // traffic it polls without sleeping for an adaptive budget first (Wait).
  void Run();
  // One batch each way (non-blocking); true when the batch was full, so
  // more may be waiting.
  bool RunTunToUdp();
  // The IPv4 socket (false at once without: an IPv6-only node); RunUdp6ToTun: the IPv6 one (likewise).
  bool RunUdpToTun() { return recv_fd_ >= 0 && Receive(recv_fd_, false); }
  bool RunUdp6ToTun() { return recv6_fd_ >= 0 && Receive(recv6_fd_, true); }
  int fatal_errno() const { return fatal_errno_.load(); }
  // False once a UDP_SEGMENT send failed and GSO was turned off.
  bool gso_active() const { return gso_active_.load(std::memory_order_relaxed); }

  static constexpr size_t kArenaSize = 4u << 20;
  static constexpr size_t kMaxMsgs = 512;
  static constexpr size_t kIovPool = 8192;
  static constexpr size_t kRxBatch = 32;

 private:
  // Processes one packet read at `rd` (vnet header first when configured):
  // Encapsulator, then the datagrams queued (QueueDatagrams).
  void Encapsulate(uint8_t* rd, size_t n);
  void QueueDatagrams(struct iovec* iov, const Datagrams& d);
  // The ICMP error of a packet without a route, back into the TUN.
  void WriteUnreachable(const Datagrams& d);
  // Queues a message of `iovcnt` iovecs from the pool, starting at `iov`:
  // one datagram, or a train of `segs` datagrams of `seg_len` bytes (two
  // iovecs each: headers, payload) sent with UDP_SEGMENT.
  void Queue(struct iovec* iov, size_t iovcnt, size_t bytes, const uint8_t* peer_ip, size_t segs, size_t seg_len,
             uint8_t sock);
  // True when message `msg` goes to `peer_ip` (4 or 16 bytes as its socket's family).
  bool SamePeer(size_t msg, const uint8_t* peer_ip) const;
  // Appends a single datagram to the last queued message when they can
  // travel as one UDP_SEGMENT train (same peer, adjacent iovec, equal size
  // or a shorter last one); false when it must go in a message of its own.
  bool JoinTrain(struct iovec* iov, size_t len, const uint8_t* peer_ip, uint8_t sock);
  // The send socket for the datagrams of `d`: a hash of the inner flow,
  // among the sockets of its family. Index into [send_fds, send6_fds).
  uint8_t FlowSocket(const Datagrams& d) const;
  bool IsV6Socket(uint8_t sock) const { return sock >= send_count_; }
  int SendFd(uint8_t sock) const { return IsV6Socket(sock) ? send6_fds_[sock - send_count_] : send_fds_[sock]; }
  // sendmmsg of messages [begin, end), which share one socket.
  void SendRun(size_t begin, size_t end);
  void SetSegmentSize(size_t msg, size_t seg_len);
  // Sends every queued message. With `release` the arena and the iovec pool
  // are free again afterwards; without, the packet being queued keeps them.
  void SendQueued(bool release = true);
  void SendOneByOne(size_t msg);
  // One TUN write (Decapsulator's sink): iov[0] is the vnet header, left
  // out when the TUN carries none.
  void WriteTun(const struct iovec* iov, size_t n, size_t bytes, bool gso);
  // One recvmmsg batch from `fd` (the IPv6 socket when `v6`) through its Decapsulator.
  bool Receive(int fd, bool v6);
  // The UDP_GRO segment size of a received message (0: none).
  static size_t GroSize(const struct msghdr& m);
  void Flush(uint64_t* block, uint64_t* local);
  // poll() on the TUN queue, the sockets and the stop fd: first without
  // sleeping for the adaptive budget, then blocking. Returns poll's result.
  int Wait(struct pollfd* fds);

  const WorkerConfig config_;
  const Table* const table_;
  const int tun_fd_;
  const int* const send_fds_;
  const size_t send_count_;
  const int recv_fd_;
  const int* const send6_fds_;
  const size_t send6_count_;
  const int recv6_fd_;
  const int stop_fd_;
  uint64_t* const tx_block_;
  uint64_t* const rx_block_;
  std::atomic<int> fatal_errno_{0};
  uint64_t budget_ns_ = 0;  // current adaptive polling budget (Wait)
  std::atomic<bool> gso_active_;

  // Encapsulation side: an arena for packets and segments, the queued
  // messages with their peer addresses, iovecs and UDP_SEGMENT cmsgs.
  std::unique_ptr<uint8_t[]> arena_;
  size_t cursor_ = 0;
  size_t queued_ = 0;
  size_t iov_used_ = 0;
  struct iovec iov_pool_[kIovPool];
  size_t tx_bytes_[kMaxMsgs];
  union TxAddr {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  };
  TxAddr tx_addr_[kMaxMsgs];
  struct mmsghdr tx_msgs_[kMaxMsgs];
  uint16_t tx_segs_[kMaxMsgs];     // datagrams in message i
  uint16_t tx_seg_len_[kMaxMsgs];  // their size (train) or 0
  uint8_t tx_iov_per_[kMaxMsgs];   // iovecs per datagram: 2 (segmented) or 1 (merged singles)
  bool tx_open_[kMaxMsgs];         // single datagrams may still join this message
  uint8_t tx_sock_[kMaxMsgs];      // index into send_fds_
  alignas(struct cmsghdr) uint8_t tx_cmsg_[kMaxMsgs][CMSG_SPACE(sizeof(uint16_t))];
  Encapsulator encap_;
  TokenBucket icmp_limit_{kIcmpErrorsPerSecond, kIcmpErrorsBurst};  // ICMP errors back into the TUN
  uint64_t tx_counts_[kCounterCount] = {};

  // Decapsulation side.
  std::unique_ptr<uint8_t[]> rx_mem_;
  struct iovec rx_iov_[kRxBatch];
  struct sockaddr_in6 rx_addr_[kRxBatch];  // room for either family's source
  struct mmsghdr rx_msgs_[kRxBatch];
  alignas(struct cmsghdr) uint8_t rx_cmsg_[kRxBatch][CMSG_SPACE(sizeof(int))];
  Decapsulator decap_;   // the IPv4 underlay's frames
  Decapsulator decap6_;  // the IPv6 underlay's (used only with recv6_fd)
  VnetHdr zero_vnet_{};
  uint64_t rx_counts_[kCounterCount] = {};
};

}  // namespace weft
