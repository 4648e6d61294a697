#include "worker.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "packet.h"

namespace weft {

namespace {

inline constexpr size_t kRxSlot = kMaxPacket + 1;
// Arena room one TUN read may need: headroom, the packet, and (for a
// super-packet) its segments with their encapsulation headers.
inline constexpr size_t kReadRoom = kHeadroom + kVnetHdrLen + kMaxPacket + 8;
inline constexpr size_t kSegmentRoom = Encapsulator::kMaxSegments * Encapsulator::kSegmentHeaderRoom;
inline constexpr size_t kMaxSegmentIovs = 2 * Encapsulator::kMaxSegments;

inline size_t Align8(size_t v) { return (v + 7) & ~size_t{7}; }

EncapConfig EncapConfigOf(const WorkerConfig& c, bool ipv4) {
  EncapConfig e;
  e.ipv4 = ipv4;
  e.backend = c.backend;
  e.vni = c.vni;
  std::memcpy(e.own_mac, c.own_mac, 6);
  std::memcpy(e.own_mac6, c.own_mac6, 6);
  e.vnet_hdr = c.vnet_hdr;
  return e;
}

DecapConfig DecapConfigOf(const WorkerConfig& c, const Table& table, uint8_t underlay_family) {
  DecapConfig d;
  d.backend = c.backend;
  d.vni = c.vni;
  std::memcpy(d.own_mac, underlay_family == 6 ? c.own_mac6 : c.own_mac, 6);
  d.underlay_family = underlay_family;
  d.network = table.header().network;
  d.network_prefix_len = table.header().network_prefix_len;
  d.ipv6 = table.has_ipv6();
  std::memcpy(d.network6, table.header().network6, 16);
  d.network6_prefix_len = table.header().network6_prefix_len;
  d.check_peers = c.check_peers;
  d.check_inner_source = c.check_inner_source;
  d.coalesce = c.vnet_hdr && c.coalesce;
  d.coalesce_udp = c.coalesce_udp;
  d.coalesce_batch = d.coalesce;  // Receive flushes both runs once per recvmmsg batch
  return d;
}

}  // namespace

Worker::Worker(const WorkerOptions& o)
    : config_(o.config),
      table_(o.table),
      tun_fd_(o.tun_fd),
      send_fds_(o.send_fds),
      send_count_(o.send_count),
      recv_fd_(o.recv_fd),
      send6_fds_(o.send6_fds),
      send6_count_(o.send6_count),
      recv6_fd_(o.recv6_fd),
      stop_fd_(o.stop_fd),
      tx_block_(o.tx_counters),
      rx_block_(o.rx_counters),
      gso_active_(o.config.udp_gso),
      arena_(new uint8_t[kArenaSize]),
      encap_(EncapConfigOf(o.config, o.send_count > 0), o.table),
      rx_mem_(new uint8_t[kRxSlot * kRxBatch]),
      decap_(DecapConfigOf(o.config, *o.table, 4), o.table),
      decap6_(DecapConfigOf(o.config, *o.table, 6), o.table) {
  std::memset(tx_msgs_, 0, sizeof(tx_msgs_));
  std::memset(rx_msgs_, 0, sizeof(rx_msgs_));
  for (size_t i = 0; i < kMaxMsgs; i++) {
    tx_addr_[i].v6 = sockaddr_in6{};
    tx_msgs_[i].msg_hdr.msg_name = &tx_addr_[i];
  }
  for (size_t i = 0; i < kRxBatch; i++) {
    rx_iov_[i].iov_base = rx_mem_.get() + i * kRxSlot;
    rx_iov_[i].iov_len = kRxSlot;
    rx_msgs_[i].msg_hdr.msg_name = &rx_addr_[i];
    rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

Worker::~Worker() = default;

namespace {

inline uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

// Adaptive polling. A sleeping worker woken by a packet pays a wake-up (on a
// VM, often a halted vCPU: tens to hundreds of µs); a request/response flow
// pays it on every hop. So after serving traffic the worker first polls
// without sleeping, for a budget learned from the gaps it sees: a packet
// that arrives within it, or a sleep that ends sooner than the cap, sets the
// budget to twice that gap; a spin that finds nothing shrinks it by a
// quarter, down to zero. The spin only ever follows traffic: an idle worker
// sleeps in poll() and costs nothing.
int Worker::Wait(struct pollfd* fds) {
  const uint64_t cap = config_.poll_budget_ns;
  const uint64_t t0 = NowNs();
  if (budget_ns_ > 0) {
    int n;
    do n = poll(fds, 4, 0);
    while (n == 0 && NowNs() - t0 < budget_ns_);
    if (n != 0) {
      if (n > 0) budget_ns_ = std::min(cap, std::max(budget_ns_ - budget_ns_ / 8, 2 * (NowNs() - t0)));
      return n;
    }
    budget_ns_ -= budget_ns_ / 4;
    if (budget_ns_ < 1000) budget_ns_ = 0;
  }
  const int n = poll(fds, 4, -1);
  const uint64_t gap = NowNs() - t0;
  if (n > 0 && gap < cap) budget_ns_ = std::min(cap, std::max(budget_ns_, 2 * gap));
  return n;
}

void Worker::Run() {
  // recv_fd_ -1 (IPv6-only) or recv6_fd_ -1 (no IPv6 underlay): poll skips the entry.
  struct pollfd fds[4] = {{tun_fd_, POLLIN, 0}, {recv_fd_, POLLIN, 0}, {recv6_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    const int n = Wait(fds);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal_errno_ = errno;
      return;
    }
    if (fds[3].revents != 0) return;
    for (int i = 0; i < 3; i++) {
      if (fds[i].revents & (POLLERR | POLLNVAL)) {
        fatal_errno_ = (fds[i].revents & POLLNVAL) ? EBADF : EIO;
        return;
      }
    }
    // Serve both directions until neither has work: a request written into
    // the TUN often has its answer queued before the write returns, and this
    // thread picks it up without another wake-up.
    bool more = true;
    while (more) {
      more = RunTunToUdp();
      more = RunUdpToTun() || more;
      more = RunUdp6ToTun() || more;
      if (fatal_errno_ != 0) return;
    }
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

// ---------------------------------------------------------------- TUN -> UDP

void Worker::SetSegmentSize(size_t msg, size_t seg_len) {
  struct cmsghdr* cm = reinterpret_cast<struct cmsghdr*>(tx_cmsg_[msg]);
  cm->cmsg_level = SOL_UDP;
  cm->cmsg_type = UDP_SEGMENT;
  cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  const uint16_t size = static_cast<uint16_t>(seg_len);
  std::memcpy(CMSG_DATA(cm), &size, sizeof(size));
  tx_msgs_[msg].msg_hdr.msg_control = tx_cmsg_[msg];
  tx_msgs_[msg].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
  tx_seg_len_[msg] = static_cast<uint16_t>(seg_len);
}

uint8_t Worker::FlowSocket(const Datagrams& d) const {
  const uint8_t* pkt = d.packet;
  if (d.family == 6) {
    if (send6_count_ == 1) return static_cast<uint8_t>(send_count_);
    // Addresses, next header and (TCP/UDP right after the fixed header) ports.
    uint32_t h = pkt[ipv6::kNextHeader];
    for (size_t i = 0; i < 32; i += 4) h = (h ^ Load32(pkt + ipv6::kSrc + i)) * 0x9e3779b1u;
    if ((pkt[ipv6::kNextHeader] == kProtoTcp || pkt[ipv6::kNextHeader] == kProtoUdp) &&
        kIpv6HeaderLen + 4 <= d.ip_len) {
      h ^= Load32(pkt + kIpv6HeaderLen) * 0xc2b2ae35u;
    }
    h ^= h >> 16;
    return static_cast<uint8_t>(send_count_ + h % send6_count_);
  }
  if (send_count_ == 1) return 0;
  // Addresses, protocol and (for TCP/UDP) ports; a fragment's ports are not
  // there, so fragments hash on addresses alone.
  uint32_t h = Load32(pkt + ipv4::kSrc) * 0x9e3779b1u ^ Load32(pkt + ipv4::kDst) * 0x85ebca6bu ^ pkt[ipv4::kProto];
  const size_t ihl = Ipv4HeaderLen(pkt);
  const bool first_fragment = (Load16(pkt + ipv4::kFragOff) & ipv4::kOffsetMask) == 0;
  if (first_fragment && (pkt[ipv4::kProto] == kProtoTcp || pkt[ipv4::kProto] == kProtoUdp) &&
      ihl + 4 <= Load16(pkt + ipv4::kTotalLen)) {
    h ^= Load32(pkt + ihl) * 0xc2b2ae35u;
  }
  h ^= h >> 16;
  return static_cast<uint8_t>(h % send_count_);
}

bool Worker::SamePeer(size_t msg, const uint8_t* peer_ip) const {
  return IsV6Socket(tx_sock_[msg]) ? std::memcmp(&tx_addr_[msg].v6.sin6_addr, peer_ip, 16) == 0
                                   : std::memcmp(&tx_addr_[msg].v4.sin_addr.s_addr, peer_ip, 4) == 0;
}

void Worker::Queue(struct iovec* iov, size_t iovcnt, size_t bytes, const uint8_t* peer_ip, size_t segs, size_t seg_len,
                   uint8_t sock) {
  const size_t i = queued_++;
  tx_sock_[i] = sock;
  struct msghdr& m = tx_msgs_[i].msg_hdr;
  m.msg_iov = iov;
  m.msg_iovlen = iovcnt;
  m.msg_control = nullptr;
  m.msg_controllen = 0;
  tx_bytes_[i] = bytes;
  TxAddr& a = tx_addr_[i];
  // The slot may have held the other family: every field is set.
  if (IsV6Socket(sock)) {
    a.v6.sin6_family = AF_INET6;
    a.v6.sin6_port = htons(config_.peer_port);
    a.v6.sin6_flowinfo = 0;
    a.v6.sin6_scope_id = 0;
    std::memcpy(&a.v6.sin6_addr, peer_ip, 16);
    m.msg_namelen = sizeof(a.v6);
  } else {
    a.v4.sin_family = AF_INET;
    a.v4.sin_port = htons(config_.peer_port);
    std::memcpy(&a.v4.sin_addr.s_addr, peer_ip, 4);
    std::memset(a.v4.sin_zero, 0, sizeof(a.v4.sin_zero));
    m.msg_namelen = sizeof(a.v4);
  }
  tx_segs_[i] = static_cast<uint16_t>(segs);
  tx_seg_len_[i] = 0;
  tx_iov_per_[i] = static_cast<uint8_t>(segs > 1 ? iovcnt / segs : iovcnt);
  tx_open_[i] = segs == 1 && iovcnt == 1 && gso_active_.load(std::memory_order_relaxed);
  if (segs > 1) SetSegmentSize(i, seg_len);
}

bool Worker::JoinTrain(struct iovec* iov, size_t len, const uint8_t* peer_ip, uint8_t sock) {
  if (queued_ == 0) return false;
  const size_t last = queued_ - 1;
  struct msghdr& m = tx_msgs_[last].msg_hdr;
  if (!tx_open_[last] || tx_sock_[last] != sock || m.msg_iov + m.msg_iovlen != iov || !SamePeer(last, peer_ip)) {
    return false;
  }
  const size_t seg = tx_segs_[last] == 1 ? tx_bytes_[last] : tx_seg_len_[last];
  if (len > seg || tx_segs_[last] >= kMaxGsoSegments || tx_bytes_[last] + len > kMaxUdpPayload) return false;
  if (tx_segs_[last] == 1) SetSegmentSize(last, seg);
  m.msg_iovlen++;
  tx_bytes_[last] += len;
  tx_segs_[last]++;
  if (len < seg) tx_open_[last] = false;  // a shorter datagram ends the train
  return true;
}

// Sends message `msg` datagram by datagram (after GSO was refused): a train
// is two iovecs per datagram.
void Worker::SendOneByOne(size_t msg) {
  uint64_t* c = tx_counts_;
  const struct msghdr& m = tx_msgs_[msg].msg_hdr;
  const size_t per = tx_segs_[msg] > 1 ? tx_iov_per_[msg] : m.msg_iovlen;
  for (size_t j = 0; j < m.msg_iovlen; j += per) {
    struct msghdr one {};
    one.msg_name = m.msg_name;
    one.msg_namelen = m.msg_namelen;
    one.msg_iov = m.msg_iov + j;
    one.msg_iovlen = per;
    size_t n = 0;
    for (size_t k = 0; k < per; k++) n += m.msg_iov[j + k].iov_len;
    c[kUdpTxSyscalls]++;
    if (sendmsg(SendFd(tx_sock_[msg]), &one, 0) == static_cast<ssize_t>(n)) {
      c[kUdpTxPackets]++;
      c[kUdpTxBytes] += n;
    } else {
      c[kDropTxError]++;
    }
  }
}

void Worker::SendRun(size_t begin, size_t end) {
  uint64_t* c = tx_counts_;
  const int fd = SendFd(tx_sock_[begin]);
  size_t done = begin;
  while (done < end) {
    const int n = sendmmsg(fd, tx_msgs_ + done, static_cast<unsigned>(end - done), 0);
    c[kUdpTxSyscalls]++;
    if (n > 0) {
      for (size_t i = done; i < done + static_cast<size_t>(n); i++) {
        c[kUdpTxPackets] += tx_segs_[i];
        c[kUdpTxBytes] += tx_bytes_[i];
      }
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      // The message at `done` failed. A refused UDP_SEGMENT train (EIO: no
      // checksum offload on the way out; EMSGSIZE: segment over the route
      // MTU; EINVAL/ENOPROTOOPT: no GSO) turns GSO off for good.
      const int err = errno;
      if (tx_segs_[done] > 1 && (err == EIO || err == EMSGSIZE || err == EINVAL || err == ENOPROTOOPT)) {
        if (gso_active_.exchange(false, std::memory_order_relaxed)) table_->ClearOffloadBits(kOffloadUdpGso);
        SendOneByOne(done);
      } else {
        c[kDropTxError] += tx_segs_[done];
      }
      done++;
    }
  }
}

void Worker::SendQueued(bool release) {
  for (size_t begin = 0; begin < queued_;) {
    size_t end = begin + 1;
    while (end < queued_ && tx_sock_[end] == tx_sock_[begin]) end++;
    SendRun(begin, end);
    begin = end;
  }
  queued_ = 0;
  if (release) {
    iov_used_ = 0;
    cursor_ = 0;
  }
}

void Worker::Encapsulate(uint8_t* rd, size_t n) {
  Datagrams d;
  struct iovec* iov = &iov_pool_[iov_used_];
  const Verdict v = encap_.Encapsulate(rd, n, arena_.get() + kArenaSize, iov,
                                       std::min(kIovPool - iov_used_, kMaxSegmentIovs), tx_counts_, &d);
  if (v == kDropNoRoute) WriteUnreachable(d);
  if (v != kForward) return;
  QueueDatagrams(iov, d);
  cursor_ = Align8(static_cast<size_t>(d.end - arena_.get()));
}

void Worker::WriteUnreachable(const Datagrams& d) {
  const size_t m = d.icmp_len;
  if (m == 0 || !icmp_limit_.Take(NowNs())) return;  // over the kernel's ICMP rate: the drop stays noRoute
  void* icmp = const_cast<uint8_t*>(d.icmp);
  if (config_.vnet_hdr) {
    struct iovec iov[2] = {{&zero_vnet_, kVnetHdrLen}, {icmp, m}};
    if (writev(tun_fd_, iov, 2) == static_cast<ssize_t>(m + kVnetHdrLen)) tx_counts_[kIcmpUnreachableSent]++;
  } else if (write(tun_fd_, icmp, m) == static_cast<ssize_t>(m)) {
    tx_counts_[kIcmpUnreachableSent]++;
  }
}

void Worker::QueueDatagrams(struct iovec* iov, const Datagrams& d) {
  const uint8_t sock = FlowSocket(d);
  if (!d.segmented) {
    // Small packets to one peer travel as one UDP_SEGMENT train too: one
    // trip through the stack here, one GRO'd receive at the peer.
    iov_used_++;
    if (!JoinTrain(iov, iov->iov_len, d.peer_ip, sock)) Queue(iov, 1, iov->iov_len, d.peer_ip, 1, 0, sock);
    return;
  }
  const Segments& segs = d.segs;
  iov_used_ += 2 * segs.count;
  const size_t per_train =
      gso_active_.load(std::memory_order_relaxed) ? std::min(kMaxGsoSegments, kMaxUdpPayload / segs.seg_len) : 1;
  for (size_t first = 0; first < segs.count; first += per_train) {
    const size_t k = std::min(per_train, segs.count - first);
    const size_t bytes = (first + k == segs.count) ? (k - 1) * segs.seg_len + segs.last_len : k * segs.seg_len;
    // Without GSO every segment is a message of its own: send what is queued
    // when the list is full, keeping the arena and iovecs of this packet.
    if (queued_ == kMaxMsgs) SendQueued(false);
    Queue(iov + 2 * first, 2 * k, bytes, d.peer_ip, k, segs.seg_len, sock);
  }
}

bool Worker::RunTunToUdp() {
  const size_t vnet = config_.vnet_hdr ? kVnetHdrLen : 0;
  size_t reads = 0;
  for (; reads < kBatch; reads++) {
    // Room for one more read and whatever it may turn into.
    if (kArenaSize - cursor_ < kReadRoom + kSegmentRoom || queued_ == kMaxMsgs ||
        iov_used_ + kMaxSegmentIovs > kIovPool) {
      SendQueued();
    }
    uint8_t* rd = arena_.get() + cursor_ + kHeadroom - vnet;
    const ssize_t n = read(tun_fd_, rd, vnet + kMaxPacket);
    tx_counts_[kTunRxSyscalls]++;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) fatal_errno_ = errno;
      break;
    }
    tx_counts_[kTunRxPackets]++;
    tx_counts_[kTunRxBytes] += static_cast<uint64_t>(n) - std::min(vnet, static_cast<size_t>(n));
    Encapsulate(rd, static_cast<size_t>(n));
  }
  if (queued_ > 0) SendQueued();
  cursor_ = 0;
  Flush(tx_block_, tx_counts_);
  return reads == kBatch;
}

// ---------------------------------------------------------------- UDP -> TUN

void Worker::WriteTun(const struct iovec* iov, size_t n, size_t bytes, bool gso) {
  uint64_t* c = rx_counts_;
  c[kTunTxSyscalls]++;
  const ssize_t w =
      config_.vnet_hdr ? writev(tun_fd_, iov, static_cast<int>(n)) : writev(tun_fd_, iov + 1, static_cast<int>(n - 1));
  const size_t want = bytes + (config_.vnet_hdr ? kVnetHdrLen : 0);
  const uint64_t packets = n - 1;
  if (w == static_cast<ssize_t>(want)) {
    c[kTunTxPackets] += packets;
    c[kTunTxBytes] += bytes;
    if (gso) c[kTunTxGsoPackets]++;
  } else {
    c[kDropTunWriteError] += packets;
  }
}

size_t Worker::GroSize(const struct msghdr& m) {
  size_t gso = 0;
  for (struct cmsghdr* cm = CMSG_FIRSTHDR(&m); cm != nullptr; cm = CMSG_NXTHDR(const_cast<msghdr*>(&m), cm)) {
    if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
      int size = 0;
      std::memcpy(&size, CMSG_DATA(cm), sizeof(size));
      gso = static_cast<size_t>(size);
    }
  }
  return gso;
}

bool Worker::Receive(int fd, bool v6) {
  uint64_t* c = rx_counts_;
  for (size_t i = 0; i < kRxBatch; i++) {
    rx_msgs_[i].msg_hdr.msg_namelen = sizeof(rx_addr_[i]);
    rx_msgs_[i].msg_hdr.msg_control = config_.udp_gro ? rx_cmsg_[i] : nullptr;
    rx_msgs_[i].msg_hdr.msg_controllen = config_.udp_gro ? sizeof(rx_cmsg_[i]) : 0;
  }
  const int n = recvmmsg(fd, rx_msgs_, kRxBatch, MSG_DONTWAIT, nullptr);
  c[kUdpRxSyscalls]++;
  if (n <= 0) {
    if (n < 0 && errno != EAGAIN && errno != EINTR) fatal_errno_ = errno;
    Flush(rx_block_, rx_counts_);
    return false;
  }
  const auto write = [this](const struct iovec* iov, size_t k, size_t bytes, bool gso) {
    WriteTun(iov, k, bytes, gso);
  };
  for (int i = 0; i < n; i++) {
    const struct msghdr& m = rx_msgs_[i].msg_hdr;
    uint8_t* data = static_cast<uint8_t*>(rx_iov_[i].iov_base);
    const bool truncated = (m.msg_flags & MSG_TRUNC) != 0;
    if (v6) {
      decap6_.Receive6(data, rx_msgs_[i].msg_len, GroSize(m), truncated, rx_addr_[i].sin6_addr.s6_addr, c, write);
    } else {
      const auto* from = reinterpret_cast<const struct sockaddr_in*>(&rx_addr_[i]);
      decap_.Receive(data, rx_msgs_[i].msg_len, GroSize(m), truncated, ntohl(from->sin_addr.s_addr), c, write);
    }
  }
  (v6 ? decap6_ : decap_).Flush(write);
  Flush(rx_block_, rx_counts_);
  return static_cast<size_t>(n) == kRxBatch;
}

}  // namespace weft
