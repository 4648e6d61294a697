#include "engine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "handoff.h"

namespace weft {

namespace {

// The failures of a start-up step, as the caller sees them: which error code,
// which option is at fault, and a sentence naming the device or address.
Status TunError(const EngineConfig& c, const Status& s) {
  std::string hint;
  if (s.err() == EPERM || s.err() == EACCES) {
    hint = c.configure_device ? " (needs CAP_NET_ADMIN and access to /dev/net/tun; unprivileged: pre-create the "
                                "device and set configureDevice: false)"
                              : " (an unprivileged process needs a device owned by its user and read-write access "
                                "to /dev/net/tun)";
  }
  return s.Classify(ErrorKind::kTun, "device", "cannot set up TUN device " + c.device + ": " + s.ToString() + hint);
}

Status SocketError(const EngineConfig& c, const Status& s) {
  if (std::strcmp(s.syscall(), "bind") != 0) {
    return s.Classify(ErrorKind::kSocket, "", "cannot start the data plane: " + s.ToString());
  }
  if (s.message().rfind("cannot bind UDP [", 0) == 0) {  // the IPv6 underlay socket (OpenUdpSocket6)
    char ip6[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, c.bind_ip6, ip6, sizeof(ip6));
    const std::string hint = s.err() == EADDRNOTAVAIL ? std::string(" (") + ip6 + " is not an address of this host)"
                             : s.err() == EADDRINUSE  ? " (port in use)"
                                                      : "";
    return s.Classify(
        ErrorKind::kSocket, s.err() == EADDRINUSE ? "port" : "publicIpv6",
        std::string("cannot bind UDP [") + ip6 + "]:" + std::to_string(c.port) + hint + ": " + s.ToString());
  }
  struct in_addr a {};
  a.s_addr = htonl(c.bind_ip);
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, ip, sizeof(ip));
  const std::string hint = s.err() == EADDRNOTAVAIL ? std::string(" (") + ip + " is not an address of this host)"
                           : s.err() == EADDRINUSE  ? " (port in use)"
                                                    : "";
  return s.Classify(ErrorKind::kSocket, s.err() == EADDRINUSE ? "port" : "publicIp",
                    std::string("cannot bind UDP ") + ip + ":" + std::to_string(c.port) + hint + ": " + s.ToString());
}

// Handed-over fds (a hand-off, systemd's fd store): as many as the config
// needs, and close-on-exec (fds systemd passes arrive without it: no child
// may inherit them).
Status CheckAdopted(const EngineConfig& config) {
  const EngineFds& a = config.adopt;
  const bool vxlan = config.worker.backend == table::kBackendVxlan;
  const uint32_t v4 = config.ipv4 ? config.queues : 0;
  const uint32_t v6 = config.ipv6 ? config.queues : 0;
  if (a.tun.size() != config.queues || a.udp.size() != v4 || a.send.size() != (vxlan ? v4 : 0) || a.udp6.size() != v6 ||
      a.send6.size() != v6) {
    return Status::Errno(EINVAL, "start",
                         "handed-over fds do not match " + std::to_string(config.queues) + " queues" +
                             (!config.ipv4  ? " IPv6-only"
                              : config.ipv6 ? " with IPv6"
                                            : " without IPv6"));
  }
  for (const auto* list : {&a.tun, &a.udp, &a.send, &a.udp6, &a.send6}) {
    for (int fd : *list) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  return Status::Ok();
}

}  // namespace

Status Engine::Start(const EngineConfig& config, Table* table, std::unique_ptr<Engine>* out) {
  std::unique_ptr<Engine> e(new Engine());  // its destructor closes whatever is open on failure
  const bool adopted = !config.adopt.tun.empty();
  if (adopted) {
    e->tun_fds_ = config.adopt.tun;
    e->udp_fds_ = config.adopt.udp;
    e->send_fds_ = config.adopt.send;
    e->udp6_fds_ = config.adopt.udp6;
    e->send6_fds_ = config.adopt.send6;
  }
  if (config.queues == 0 || config.queues > kMaxQueues) {
    const std::string text = "queues must be 1.." + std::to_string(kMaxQueues);
    return Status::Errno(EINVAL, "start", text).Classify(ErrorKind::kInvalidOption, "queues", text);
  }
  if (config.ipv6 && (config.worker.backend != table::kBackendVxlan || !table->has_ipv6())) {
    const std::string text = "IPv6 needs the vxlan backend and a table with an IPv6 network";
    return Status::Errno(EINVAL, "start", text).Classify(ErrorKind::kInvalidOption, "publicIpv6", text);
  }
  if (!config.ipv4 && !config.ipv6) {
    const std::string text = "a data plane needs an IPv4 or an IPv6 part";
    return Status::Errno(EINVAL, "start", text).Classify(ErrorKind::kInvalidOption, "publicIp", text);
  }
  e->table_ = table;
  e->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->stop_fd_ < 0) return SocketError(config, Status::FromErrno("eventfd", "cannot create the stop signal"));
  Status s = adopted ? CheckAdopted(config) : Status::Ok();
  if (!s.ok()) return SocketError(config, s);
  unsigned tun_offloads = 0;
  s = e->OpenDevice(config, adopted, &tun_offloads);
  if (!s.ok()) return TunError(config, s);
  bool gso = false;
  bool gro = false;
  s = e->OpenSockets(config, adopted, &gso, &gro);
  if (!s.ok()) return SocketError(config, s);

  WorkerConfig wc = config.worker;
  wc.vnet_hdr = config.vnet_hdr;
  wc.udp_gso = gso;
  wc.udp_gro = gro;
  wc.coalesce = config.coalesce && config.vnet_hdr;
  // A UDP super-packet may be written only to a TUN that took USO.
  wc.coalesce_udp = wc.coalesce && (tun_offloads & kTunFUso4) != 0;
  e->StartWorkers(config, wc);
  if (table->writable()) {
    table->SetQueues(config.queues);
    table->SetOffloads(OffloadBits(wc, tun_offloads));
  }
  *out = std::move(e);
  return Status::Ok();
}

// The TUN queues (opened, or handed over and checked), with the offloads
// the kernel took (`*got`, kTunF* bits), and the device configured unless
// someone else did.
Status Engine::OpenDevice(const EngineConfig& config, bool adopted, unsigned* got) {
  // configure_device == false attaches to a device someone else created and
  // configured (a root oneshot, for an unprivileged data plane): never create
  // a bare one in its place.
  if (!config.configure_device && if_nametoindex(config.device.c_str()) == 0) {
    return Status::Errno(
        ENODEV, "open",
        "TUN device " + config.device + " does not exist (configureDevice=false attaches to a pre-created device)");
  }
  unsigned want = kTunFCsum;
  if (config.tso) want |= kTunFTso4 | kTunFTsoEcn;
  if (config.uso) want |= kTunFUso4 | kTunFUso6;
  Status s;
  if (adopted) {
    for (int fd : tun_fds_) {
      s = CheckTunFd(fd, config.device, config.vnet_hdr);
      if (!s.ok()) return s;
    }
    // Offloads turned on as a fresh open would.
    *got = 0;
    if (config.vnet_hdr) {
      *got = NegotiateOffloads(tun_fds_.front(), want);
      for (size_t q = 1; q < tun_fds_.size(); q++) NegotiateOffloads(tun_fds_[q], *got);
    }
  } else {
    s = OpenTun(config.device, config.queues, config.persist, config.vnet_hdr, want, &tun_fds_, got);
  }
  if (!s.ok() || !config.configure_device) return s;
  // A handed-over dual-stack device keeps IPv6 on: its address and route stay under the traffic.
  // IPv6-only: no IPv4 address or route on the device.
  s = ConfigureTun(config.device, config.device_addr, config.mtu, config.network, config.network_prefix_len,
                   config.ipv4, adopted && config.ipv6);
  if (!s.ok() || !config.ipv6) return s;
  const uint32_t mtu6 = config.mtu6 == 0 || config.mtu6 > config.mtu ? config.mtu : config.mtu6;
  return ConfigureTun6(config.device, config.device_addr6, mtu6, config.network6, config.network6_prefix_len);
}

// One receiving socket per queue on the shared port, and (vxlan) one sender
// per queue on a port of its own; or the handed-over ones, checked.
// `*gso` / `*gro`: every socket took it.
Status Engine::OpenSockets(const EngineConfig& config, bool adopted, bool* gso, bool* gro) {
  const bool vxlan = config.worker.backend == table::kBackendVxlan;
  *gro = config.udp_gro;
  *gso = config.udp_gso;
  if (adopted) {
    for (int fd : udp_fds_) {
      Status s = CheckUdpFd(fd, config.bind_ip, config.port);
      if (!s.ok()) return s;
    }
    for (int fd : send_fds_) {
      Status s = CheckUdpFd(fd, config.bind_ip, 0);
      if (!s.ok()) return s;
    }
    for (int fd : udp6_fds_) {
      Status s = CheckUdpFd6(fd, config.bind_ip6, config.port);
      if (!s.ok()) return s;
    }
    for (int fd : send6_fds_) {
      Status s = CheckUdpFd6(fd, config.bind_ip6, 0);
      if (!s.ok()) return s;
    }
    for (int fd : udp_fds_) *gro = *gro && EnableUdpGro(fd);
    for (int fd : udp6_fds_) *gro = *gro && EnableUdpGro(fd);
  }
  for (uint32_t q = 0; q < config.queues && !adopted; q++) {
    int fd = -1;
    bool gro_on = false;
    Status s;
    // IPv6-only (no IPv4 part): no IPv4 socket at all.
    if (config.ipv4) {
      s = OpenUdpSocket(config.bind_ip, config.port, config.queues > 1, config.socket_buffer, config.udp_gro, &fd,
                        &gro_on);
      if (!s.ok()) return s;
      udp_fds_.push_back(fd);
      *gro = *gro && gro_on;
    }
    // vxlan sends from one of `queues` sockets on ports of their own, picked
    // by a hash of the inner flow, as the kernel varies the source port per
    // flow: receivers spread flows by it. The udp backend sends from its
    // bound port, as flannel does.
    if (vxlan && config.ipv4) {
      bool unused = false;
      s = OpenUdpSocket(config.bind_ip, 0, false, config.socket_buffer, false, &fd, &unused);
      if (!s.ok()) return s;
      send_fds_.push_back(fd);
    }
    // The IPv6 underlay alike: a receiver on the shared port, a sender on
    // a port of its own (source port by inner flow, as for IPv4).
    if (config.ipv6) {
      s = OpenUdpSocket6(config.bind_ip6, config.port, config.queues > 1, config.socket_buffer, config.udp_gro, &fd,
                         &gro_on);
      if (!s.ok()) return s;
      udp6_fds_.push_back(fd);
      *gro = *gro && gro_on;
      bool unused = false;
      s = OpenUdpSocket6(config.bind_ip6, 0, false, config.socket_buffer, false, &fd, &unused);
      if (!s.ok()) return s;
      send6_fds_.push_back(fd);
    }
  }
  for (int fd : vxlan ? send_fds_ : udp_fds_) *gso = *gso && UdpGsoSupported(fd);
  for (int fd : send6_fds_) *gso = *gso && UdpGsoSupported(fd);
  return Status::Ok();
}

void Engine::StartWorkers(const EngineConfig& config, const WorkerConfig& wc) {
  const bool vxlan = wc.backend == table::kBackendVxlan;
  for (uint32_t q = 0; q < config.queues; q++) {
    // vxlan: every worker shares the senders; udp: a worker sends from its
    // own bound socket (port 8285, as flannel), so order is kept anyway.
    WorkerOptions wo;
    wo.config = wc;
    wo.table = table_;
    wo.tun_fd = tun_fds_[q];
    // IPv6-only: no IPv4 sockets (send_count 0, recv_fd -1).
    wo.send_fds = vxlan || udp_fds_.empty() ? send_fds_.data() : &udp_fds_[q];
    wo.send_count = vxlan || udp_fds_.empty() ? send_fds_.size() : 1;
    wo.recv_fd = udp_fds_.empty() ? -1 : udp_fds_[q];
    wo.send6_fds = send6_fds_.data();
    wo.send6_count = send6_fds_.size();
    wo.recv6_fd = udp6_fds_.empty() ? -1 : udp6_fds_[q];
    wo.stop_fd = stop_fd_;
    wo.tx_counters = table_->CounterBlock(2 * q);
    wo.rx_counters = table_->CounterBlock(2 * q + 1);
    workers_.push_back(std::make_unique<Worker>(wo));
  }
  for (auto& w : workers_) {
    Worker* worker = w.get();
    threads_.emplace_back([worker] { worker->Run(); });
  }
  running_ = true;
}

uint64_t Engine::OffloadBits(const WorkerConfig& wc, unsigned tun_offloads) {
  uint64_t bits = 0;
  if (wc.vnet_hdr) bits |= kOffloadVnetHdr;
  if (tun_offloads & kTunFTso4) bits |= kOffloadTso;
  if (tun_offloads & kTunFUso4) bits |= kOffloadUso;
  if (wc.udp_gso) bits |= kOffloadUdpGso;
  if (wc.udp_gro) bits |= kOffloadUdpGro;
  if (wc.coalesce) bits |= kOffloadCoalesce;
  if (wc.backend == table::kBackendVxlan) bits |= kOffloadSrcPorts;
  return bits;
}

void Engine::Stop() {
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) < 0) {
      // An eventfd write only fails on counter overflow; the threads are woken either way.
    }
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  workers_.clear();
  for (int fd : udp_fds_) close(fd);
  udp_fds_.clear();
  for (int fd : send_fds_) close(fd);
  send_fds_.clear();
  for (int fd : udp6_fds_) close(fd);
  udp6_fds_.clear();
  for (int fd : send6_fds_) close(fd);
  send6_fds_.clear();
  for (int fd : tun_fds_) close(fd);
  tun_fds_.clear();
  if (stop_fd_ >= 0) close(stop_fd_);
  stop_fd_ = -1;
  if (running_ && table_ != nullptr && table_->writable()) table_->SetQueues(0);
  running_ = false;
}

int Engine::fatal_errno() const {
  for (const auto& w : workers_) {
    if (w->fatal_errno() != 0) return w->fatal_errno();
  }
  return 0;
}

Engine::~Engine() { Stop(); }

}  // namespace weft
