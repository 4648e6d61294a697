#include "worker.h"

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "packet.h"

namespace weft {

namespace {

inline constexpr size_t kTxSlot = kHeadroom + kMaxPacket + 1;  // +1: detect oversize reads
inline constexpr size_t kRxSlot = kMaxPacket + 1;

}  // namespace

Worker::Worker(const WorkerConfig& config, const Table* table, int tun_fd, int udp_fd, int stop_fd,
               uint64_t* tx_counters, uint64_t* rx_counters)
    : config_(config),
      table_(table),
      tun_fd_(tun_fd),
      udp_fd_(udp_fd),
      stop_fd_(stop_fd),
      tx_block_(tx_counters),
      rx_block_(rx_counters),
      subnet_mask_(table->header().subnet_len == 0 ? 0 : ~uint32_t{0} << (32 - table->header().subnet_len)),
      tx_mem_(new uint8_t[kTxSlot * kBatch]),
      rx_mem_(new uint8_t[kRxSlot * kBatch]) {
  std::memset(tx_msgs_, 0, sizeof(tx_msgs_));
  std::memset(rx_msgs_, 0, sizeof(rx_msgs_));
  for (size_t i = 0; i < kBatch; i++) {
    tx_addr_[i] = sockaddr_in{};
    tx_addr_[i].sin_family = AF_INET;
    tx_addr_[i].sin_port = htons(config_.peer_port);
    tx_msgs_[i].msg_hdr.msg_name = &tx_addr_[i];
    tx_msgs_[i].msg_hdr.msg_namelen = sizeof(tx_addr_[i]);
    tx_msgs_[i].msg_hdr.msg_iov = &tx_iov_[i];
    tx_msgs_[i].msg_hdr.msg_iovlen = 1;
    rx_iov_[i].iov_base = rx_mem_.get() + i * kRxSlot;
    rx_iov_[i].iov_len = kRxSlot;
    rx_msgs_[i].msg_hdr.msg_name = &rx_addr_[i];
    rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

Worker::~Worker() = default;

bool Worker::WaitReadable(int fd) {
  struct pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    const int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal_errno_ = errno;
      return false;
    }
    if (fds[1].revents != 0) return false;
    if (fds[0].revents & (POLLERR | POLLNVAL)) {
      fatal_errno_ = (fds[0].revents & POLLNVAL) ? EBADF : EIO;
      return false;
    }
    return true;
  }
}

// Adds the thread's local counts to its shared block. The block has one
// writer (this thread), so a relaxed load + store is enough.
void Worker::Flush(uint64_t* block, uint64_t* local) {
  for (uint32_t i = 0; i < kCounterCount; i++) {
    if (local[i] == 0) continue;
    std::atomic_ref<uint64_t> cell(block[i]);
    cell.store(cell.load(std::memory_order_relaxed) + local[i], std::memory_order_relaxed);
    local[i] = 0;
  }
}

bool Worker::Encapsulate(uint8_t* pkt, size_t len, size_t queued) {
  uint64_t* c = tx_counts_;
  size_t ip_len = 0;
  if ((pkt[0] >> 4) == 6) {  // no IPv6 overlay yet: no lease can match
    c[kDropNoRoute]++;
    return false;
  }
  Verdict v = CheckIpv4(pkt, len, &ip_len);
  if (v != kForward) {
    c[v]++;
    return false;
  }
  table::EntryData peer;
  if (!table_->Lookup(Load32(pkt + ipv4::kDst), &peer) || peer.family != 4) {
    c[kDropNoRoute]++;
    // flannel sources this error from the node's own device address, which
    // the receiving kernel discards as a martian (a local address arriving
    // from outside). weft sources it from the gateway address (.0) of the
    // subnet that has no lease, so the sender actually learns why.
    const uint32_t dst = Load32(pkt + ipv4::kDst);
    const uint32_t gateway = dst & subnet_mask_;
    const size_t n = BuildNetUnreachable(pkt, ip_len, gateway, icmp_buf_, sizeof(icmp_buf_));
    if (n > 0 && write(tun_fd_, icmp_buf_, n) == static_cast<ssize_t>(n)) c[kIcmpUnreachableSent]++;
    return false;
  }
  uint8_t* payload = pkt;
  size_t payload_len = ip_len;
  if (config_.backend == table::kBackendUdp) {
    v = DecrementTtl(pkt);
    if (v != kForward) {
      c[v]++;
      return false;
    }
  } else {
    if (!peer.has_mac) {
      c[kDropNoRoute]++;
      return false;
    }
    payload = VxlanEncap(pkt, kEtherTypeIpv4, config_.vni, peer.vtep_mac, config_.own_mac);
    payload_len = ip_len + kVxlanEncapLen;
  }
  std::memcpy(&tx_addr_[queued].sin_addr.s_addr, peer.public_ip, 4);
  tx_iov_[queued].iov_base = payload;
  tx_iov_[queued].iov_len = payload_len;
  return true;
}

void Worker::SendQueued(size_t queued) {
  uint64_t* c = tx_counts_;
  size_t done = 0;
  while (done < queued) {
    const int n = sendmmsg(udp_fd_, tx_msgs_ + done, static_cast<unsigned>(queued - done), 0);
    c[kUdpTxSyscalls]++;
    if (n > 0) {
      for (int i = 0; i < n; i++) c[kUdpTxBytes] += tx_iov_[done + i].iov_len;
      c[kUdpTxPackets] += static_cast<uint64_t>(n);
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      c[kDropTxError]++;  // the datagram at `done` failed: skip it
      done++;
    }
  }
}

void Worker::RunTunToUdp() {
  while (WaitReadable(tun_fd_)) {
    size_t queued = 0;
    for (size_t i = 0; i < kBatch; i++) {
      uint8_t* pkt = tx_mem_.get() + queued * kTxSlot + kHeadroom;
      const ssize_t n = read(tun_fd_, pkt, kMaxPacket + 1);
      tx_counts_[kTunRxSyscalls]++;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) fatal_errno_ = errno;
        break;
      }
      tx_counts_[kTunRxPackets]++;
      tx_counts_[kTunRxBytes] += static_cast<uint64_t>(n);
      if (n > static_cast<ssize_t>(kMaxPacket)) {
        tx_counts_[kDropMalformed]++;
        continue;
      }
      if (Encapsulate(pkt, static_cast<size_t>(n), queued)) queued++;
    }
    if (queued > 0) SendQueued(queued);
    Flush(tx_block_, tx_counts_);
    if (fatal_errno_ != 0) return;
  }
}

void Worker::RunUdpToTun() {
  uint64_t* c = rx_counts_;
  while (WaitReadable(udp_fd_)) {
    for (;;) {  // drain: repeat while batches come back full
      for (size_t i = 0; i < kBatch; i++) rx_msgs_[i].msg_hdr.msg_namelen = sizeof(rx_addr_[i]);
      const int n = recvmmsg(udp_fd_, rx_msgs_, kBatch, MSG_DONTWAIT, nullptr);
      c[kUdpRxSyscalls]++;
      if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EINTR) fatal_errno_ = errno;
        break;
      }
      for (int i = 0; i < n; i++) {
        uint8_t* data = static_cast<uint8_t*>(rx_iov_[i].iov_base);
        const size_t len = rx_msgs_[i].msg_len;
        c[kUdpRxPackets]++;
        c[kUdpRxBytes] += len;
        if (len > kMaxPacket || (rx_msgs_[i].msg_hdr.msg_flags & MSG_TRUNC)) {
          c[kDropMalformed]++;
          continue;
        }
        if (config_.check_peers && !table_->IsPeer(ntohl(rx_addr_[i].sin_addr.s_addr))) {
          c[kDropUnknownPeer]++;
          continue;
        }
        size_t off = 0;
        size_t ip_len = 0;
        const Verdict v = config_.backend == table::kBackendUdp
                              ? UdpDecap(data, len, &ip_len)
                              : VxlanDecap(data, len, config_.vni, config_.own_mac, &off, &ip_len);
        if (v != kForward) {
          c[v]++;
          continue;
        }
        c[kTunTxSyscalls]++;
        if (write(tun_fd_, data + off, ip_len) == static_cast<ssize_t>(ip_len)) {
          c[kTunTxPackets]++;
          c[kTunTxBytes] += ip_len;
        } else {
          c[kDropTunWriteError]++;
        }
      }
      Flush(rx_block_, rx_counts_);
      if (static_cast<size_t>(n) < kBatch) break;
    }
    Flush(rx_block_, rx_counts_);
    if (fatal_errno_ != 0) return;
  }
}

}  // namespace weft
