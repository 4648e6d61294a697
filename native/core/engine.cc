#include "engine.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace weft {

Status Engine::Start(const EngineConfig& config, Table* table, std::unique_ptr<Engine>* out) {
  if (config.queues == 0 || config.queues > kMaxQueues) {
    return Status::Errno(EINVAL, "start", "queues must be 1.." + std::to_string(kMaxQueues));
  }
  std::unique_ptr<Engine> e(new Engine());  // its destructor closes whatever is open on failure
  e->table_ = table;
  e->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->stop_fd_ < 0) return Status::FromErrno("eventfd", "cannot create the stop signal");

  Status s = OpenTun(config.device, config.queues, config.persist, &e->tun_fds_);
  if (!s.ok()) return s;
  if (config.configure_device) {
    s = ConfigureTun(config.device, config.device_addr, config.mtu, config.network, config.network_prefix_len);
    if (!s.ok()) return s;
  }
  for (uint32_t q = 0; q < config.queues; q++) {
    int fd = -1;
    s = OpenUdpSocket(config.bind_ip, config.port, config.queues > 1, config.socket_buffer, &fd);
    if (!s.ok()) return s;
    e->udp_fds_.push_back(fd);
  }
  for (uint32_t q = 0; q < config.queues; q++) {
    e->workers_.push_back(std::make_unique<Worker>(config.worker, table, e->tun_fds_[q], e->udp_fds_[q],
                                                   e->stop_fd_, table->CounterBlock(2 * q),
                                                   table->CounterBlock(2 * q + 1)));
  }
  for (auto& w : e->workers_) {
    Worker* worker = w.get();
    e->threads_.emplace_back([worker] { worker->RunTunToUdp(); });
    e->threads_.emplace_back([worker] { worker->RunUdpToTun(); });
  }
  e->running_ = true;
  if (table->writable()) table->SetQueues(config.queues);
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
