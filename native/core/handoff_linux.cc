#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "handoff.h"

namespace weft {

namespace {

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Waits until `fd` is ready for `events` or the deadline passes.
Status WaitFor(int fd, short events, int64_t deadline_ms, const char* what) {
  for (;;) {
    const int64_t left = deadline_ms - NowMs();
    if (left <= 0) return Status::Errno(ETIMEDOUT, "poll", std::string("hand-off timed out ") + what);
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return Status::Ok();
    if (n < 0 && errno != EINTR) return Status::FromErrno("poll", std::string("hand-off failed ") + what);
  }
}

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) close(fd);
  fds->clear();
}

// A sockaddr_un for `path`; a leading '@' names an abstract socket.
bool UnixAddress(const std::string& path, sockaddr_un* sa, socklen_t* len) {
  if (path.empty() || path.size() >= sizeof(sa->sun_path)) return false;
  *sa = sockaddr_un{};
  sa->sun_family = AF_UNIX;
  std::memcpy(sa->sun_path, path.data(), path.size());
  if (path[0] == '@') sa->sun_path[0] = '\0';
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  return true;
}

// sendmsg of `data` with `fds` as SCM_RIGHTS (none when empty).
ssize_t SendWithRights(int sock, const void* data, size_t len, const std::vector<int>& fds, const sockaddr_un* to,
                       socklen_t to_len) {
  iovec iov{const_cast<void*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (to != nullptr) {
    msg.msg_name = const_cast<sockaddr_un*>(to);
    msg.msg_namelen = to_len;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxHandoffFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

// Reads exactly `len` bytes into `out`, collecting any SCM_RIGHTS fds.
Status ReceiveExactly(int sock, char* out, size_t len, int64_t deadline_ms, std::vector<int>* fds, const char* what) {
  size_t got = 0;
  while (got < len) {
    Status s = WaitFor(sock, POLLIN, deadline_ms, what);
    if (!s.ok()) return s;
    iovec iov{out + got, len - got};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxHandoffFds)] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return Status::FromErrno("recvmsg", std::string("hand-off failed ") + what);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds->push_back(fd);
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) return Status::Errno(EMSGSIZE, "recvmsg", "hand-off sent too many fds");
    if (n == 0) return Status::Errno(ECONNRESET, "recvmsg", std::string("the predecessor closed the hand-off ") + what);
    got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status SendFds(int sock, const std::vector<int>& fds, const std::string& data, int timeout_ms) {
  if (fds.size() > kMaxHandoffFds || data.size() > kMaxHandoffData) {
    return Status::Errno(EMSGSIZE, "sendmsg", "hand-off message too large");
  }
  std::string frame(4, '\0');
  const uint32_t len = htonl(static_cast<uint32_t>(data.size()));
  std::memcpy(frame.data(), &len, 4);
  frame += data;
  const int64_t deadline = NowMs() + timeout_ms;
  size_t sent = 0;
  while (sent < frame.size()) {
    Status s = WaitFor(sock, POLLOUT, deadline, "sending the fds");
    if (!s.ok()) return s;
    // The fds ride on the first bytes; the rest of the frame follows plain.
    const ssize_t n = SendWithRights(sock, frame.data() + sent, frame.size() - sent,
                                     sent == 0 ? fds : std::vector<int>{}, nullptr, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return Status::FromErrno("sendmsg", "cannot send the fds to the successor");
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status TakeOver(const std::string& path, int timeout_ms, std::vector<int>* fds, std::string* data) {
  sockaddr_un sa{};
  socklen_t sa_len = 0;
  if (!UnixAddress(path, &sa, &sa_len)) return Status::Errno(ENAMETOOLONG, "connect", "bad hand-off socket " + path);
  const int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (sock < 0) return Status::FromErrno("socket", "cannot create the hand-off socket");
  const int64_t deadline = NowMs() + timeout_ms;
  Status s;
  if (connect(sock, reinterpret_cast<sockaddr*>(&sa), sa_len) != 0) {
    if (errno == EINPROGRESS || errno == EAGAIN) {
      s = WaitFor(sock, POLLOUT, deadline, "connecting");
    } else {
      s = Status::FromErrno("connect", "no predecessor answers at " + path);
    }
  }
  std::vector<int> got;
  uint32_t len = 0;
  if (s.ok()) s = ReceiveExactly(sock, reinterpret_cast<char*>(&len), 4, deadline, &got, "receiving the fds");
  len = ntohl(len);
  if (s.ok() && len > kMaxHandoffData) s = Status::Errno(EMSGSIZE, "recvmsg", "hand-off description too large");
  std::string text(s.ok() ? len : 0, '\0');
  if (s.ok()) s = ReceiveExactly(sock, text.data(), len, deadline, &got, "receiving the description");
  char mark = 0;
  if (s.ok()) s = ReceiveExactly(sock, &mark, 1, deadline, &got, "waiting for the release");
  if (s.ok() && mark != kHandoffReleased) s = Status::Errno(EPROTO, "recvmsg", "unexpected hand-off release mark");
  close(sock);
  if (!s.ok()) {
    CloseAll(&got);
    return s;
  }
  *fds = std::move(got);
  *data = std::move(text);
  return Status::Ok();
}

Status NotifyWithFds(const std::string& socket_path, const std::string& state, const std::vector<int>& fds) {
  if (fds.size() > kMaxHandoffFds) return Status::Errno(EMSGSIZE, "sendmsg", "too many fds for the fd store");
  sockaddr_un sa{};
  socklen_t sa_len = 0;
  if (!UnixAddress(socket_path, &sa, &sa_len)) {
    return Status::Errno(ENAMETOOLONG, "sendmsg", "bad NOTIFY_SOCKET " + socket_path);
  }
  const int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Status::FromErrno("socket", "cannot create the notify socket");
  const ssize_t n = SendWithRights(sock, state.data(), state.size(), fds, &sa, sa_len);
  const Status s = n < 0 ? Status::FromErrno("sendmsg", "cannot notify systemd at " + socket_path) : Status::Ok();
  close(sock);
  return s;
}

bool EnableUdpGro(int fd) {
  const int one = 1;
  return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
}

Status CheckTunFd(int fd, const std::string& device, bool vnet_hdr) {
  ifreq ifr{};
  if (ioctl(fd, TUNGETIFF, &ifr) != 0) return Status::FromErrno("ioctl(TUNGETIFF)", "handed-over fd is no TUN queue");
  if ((ifr.ifr_flags & IFF_TUN) == 0) return Status::Errno(EINVAL, "ioctl(TUNGETIFF)", "handed-over fd is no TUN");
  if (std::strncmp(ifr.ifr_name, device.c_str(), IFNAMSIZ) != 0) {
    return Status::Errno(EINVAL, "ioctl(TUNGETIFF)",
                         std::string("handed-over TUN queue belongs to ") + ifr.ifr_name + ", not " + device);
  }
  if (((ifr.ifr_flags & IFF_VNET_HDR) != 0) != vnet_hdr) {
    return Status::Errno(EINVAL, "ioctl(TUNGETIFF)", "handed-over TUN queue has another vnet header setting");
  }
  return Status::Ok();
}

Status CheckUdpFd(int fd, uint32_t ip, uint16_t port) {
  int type = 0;
  socklen_t type_len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_DGRAM) {
    return Status::Errno(ENOTSOCK, "getsockopt(SO_TYPE)", "handed-over fd is no UDP socket");
  }
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0 || sa.sin_family != AF_INET) {
    return Status::Errno(EAFNOSUPPORT, "getsockname", "handed-over socket is not IPv4");
  }
  if (ntohl(sa.sin_addr.s_addr) != ip || (port != 0 && ntohs(sa.sin_port) != port)) {
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &sa.sin_addr, text, sizeof(text));
    return Status::Errno(
        EADDRNOTAVAIL, "getsockname",
        std::string("handed-over socket is bound to ") + text + ":" + std::to_string(ntohs(sa.sin_port)));
  }
  return Status::Ok();
}

}  // namespace weft
