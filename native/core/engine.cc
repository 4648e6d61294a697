#include "engine.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "handoff.h"

namespace weft {

namespace {

// Checks the fds a predecessor handed over against the config and turns on
// the offloads as a fresh open would.
Status AdoptFds(const EngineConfig& config, unsigned want, unsigned* got, bool* gro) {
  const EngineFds& a = config.adopt;
  const bool vxlan = config.worker.backend == table::kBackendVxlan;
  if (a.tun.size() != config.queues || a.udp.size() != config.queues || a.send.size() != (vxlan ? config.queues : 0)) {
    return Status::Errno(EINVAL, "start", "handed-over fds do not match " + std::to_string(config.queues) + " queues");
  }
  // fds systemd passes arrive without close-on-exec: no child may inherit them.
  for (const auto* list : {&a.tun, &a.udp, &a.send}) {
    for (int fd : *list) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (int fd : a.tun) {
    Status s = CheckTunFd(fd, config.device, config.vnet_hdr);
    if (!s.ok()) return s;
  }
  for (int fd : a.udp) {
    Status s = CheckUdpFd(fd, config.bind_ip, config.port);
    if (!s.ok()) return s;
  }
  for (int fd : a.send) {
    Status s = CheckUdpFd(fd, config.bind_ip, 0);
    if (!s.ok()) return s;
  }
  *got = 0;
  if (config.vnet_hdr) {
    *got = NegotiateOffloads(a.tun.front(), want);
    for (size_t q = 1; q < a.tun.size(); q++) NegotiateOffloads(a.tun[q], *got);
  }
  *gro = config.udp_gro;
  for (int fd : a.udp) *gro = *gro && EnableUdpGro(fd);
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
  }
  if (config.queues == 0 || config.queues > kMaxQueues) {
    return Status::Errno(EINVAL, "start", "queues must be 1.." + std::to_string(kMaxQueues));
  }
  e->table_ = table;
  e->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->stop_fd_ < 0) return Status::FromErrno("eventfd", "cannot create the stop signal");

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
  unsigned got = 0;
  bool gro = config.udp_gro;
  Status s = adopted ? AdoptFds(config, want, &got, &gro)
                     : OpenTun(config.device, config.queues, config.persist, config.vnet_hdr, want, &e->tun_fds_, &got);
  if (!s.ok()) return s;
  uint64_t offloads = 0;
  if (config.vnet_hdr) offloads |= kOffloadVnetHdr;
  if (got & kTunFTso4) offloads |= kOffloadTso;
  if (got & kTunFUso4) offloads |= kOffloadUso;
  if (config.configure_device) {
    s = ConfigureTun(config.device, config.device_addr, config.mtu, config.network, config.network_prefix_len);
    if (!s.ok()) return s;
  }
  const bool vxlan = config.worker.backend == table::kBackendVxlan;
  bool gso = config.udp_gso;
  for (uint32_t q = 0; q < config.queues && !adopted; q++) {
    int fd = -1;
    bool gro_on = false;
    s = OpenUdpSocket(config.bind_ip, config.port, config.queues > 1, config.socket_buffer, config.udp_gro, &fd,
                      &gro_on);
    if (!s.ok()) return s;
    e->udp_fds_.push_back(fd);
    gro = gro && gro_on;
    // vxlan sends from one of `queues` sockets on ports of their own, picked
    // by a hash of the inner flow, as the kernel varies the source port per
    // flow: receivers spread flows by it. The udp backend sends from its
    // bound port, as flannel does.
    if (vxlan) {
      bool unused = false;
      s = OpenUdpSocket(config.bind_ip, 0, false, config.socket_buffer, false, &fd, &unused);
      if (!s.ok()) return s;
      e->send_fds_.push_back(fd);
    }
  }
  for (uint32_t q = 0; q < config.queues; q++) gso = gso && UdpGsoSupported(vxlan ? e->send_fds_[q] : e->udp_fds_[q]);
  if (gso) offloads |= kOffloadUdpGso;
  if (gro) offloads |= kOffloadUdpGro;
  if (config.coalesce && config.vnet_hdr) offloads |= kOffloadCoalesce;
  if (vxlan) offloads |= kOffloadSrcPorts;
  WorkerConfig wc = config.worker;
  wc.vnet_hdr = config.vnet_hdr;
  wc.udp_gso = gso;
  wc.udp_gro = gro;
  wc.coalesce = config.coalesce && config.vnet_hdr;
  // A UDP super-packet may be written only to a TUN that took USO.
  wc.coalesce_udp = wc.coalesce && (got & kTunFUso4) != 0;
  for (uint32_t q = 0; q < config.queues; q++) {
    // vxlan: every worker shares the senders; udp: a worker sends from its
    // own bound socket (port 8285, as flannel), so order is kept anyway.
    const int* send_fds = vxlan ? e->send_fds_.data() : &e->udp_fds_[q];
    const size_t send_count = vxlan ? e->send_fds_.size() : 1;
    e->workers_.push_back(std::make_unique<Worker>(wc, table, e->tun_fds_[q], send_fds, send_count, e->udp_fds_[q],
                                                   e->stop_fd_, table->CounterBlock(2 * q),
                                                   table->CounterBlock(2 * q + 1)));
  }
  for (auto& w : e->workers_) {
    Worker* worker = w.get();
    e->threads_.emplace_back([worker] { worker->Run(); });
  }
  e->running_ = true;
  if (table->writable()) {
    table->SetQueues(config.queues);
    table->SetOffloads(offloads);
  }
  *out = std::move(e);
  return Status::Ok();
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
