// The underlay UDP sockets: bind, buffers, SO_REUSEPORT, UDP GRO/GSO.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "udp_socket.h"

#ifndef IPV6_AUTOFLOWLABEL
#define IPV6_AUTOFLOWLABEL 70  // linux/in6.h, Linux 4.3+
#endif

namespace weft {

namespace {

// Socket, options, bind: the part both families share. `setup` sets the
// family's own options before bind.
template <class Setup>
Status OpenBound(int family, const sockaddr* sa, socklen_t sa_len, const std::string& where, bool reuse_port,
                 int buf_bytes, bool gro, int* out, bool* gro_on, Setup&& setup) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", "cannot create UDP socket");
  const int one = 1;
  Status s = setup(fd);
  if (s.ok() && reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    s = Status::FromErrno("setsockopt(SO_REUSEPORT)", "cannot share UDP port");
  }
  // Ask for big buffers; the FORCE variants pass rmem_max/wmem_max as root.
  if (s.ok() && buf_bytes > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf_bytes, sizeof(buf_bytes)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf_bytes, sizeof(buf_bytes));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf_bytes, sizeof(buf_bytes)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf_bytes, sizeof(buf_bytes));
    }
  }
  if (s.ok() && bind(fd, sa, sa_len) != 0) s = Status::FromErrno("bind", "cannot bind UDP " + where);
  if (!s.ok()) {
    close(fd);
    return s;
  }
  *gro_on = gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
  *out = fd;
  return Status::Ok();
}

}  // namespace

bool UdpGsoSupported(int fd) {
  int size = 0;
  socklen_t len = sizeof(size);
  return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &len) == 0;
}

Status OpenUdpSocket(uint32_t ip, uint16_t port, bool reuse_port, int buf_bytes, bool gro, int* out, bool* gro_on) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(ip);
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &sa.sin_addr, text, sizeof(text));
  return OpenBound(AF_INET, reinterpret_cast<sockaddr*>(&sa), sizeof(sa),
                   std::string(text) + ":" + std::to_string(port), reuse_port, buf_bytes, gro, out, gro_on,
                   [](int) { return Status::Ok(); });
}

Status OpenUdpSocket6(const uint8_t ip[16], uint16_t port, bool reuse_port, int buf_bytes, bool gro, int* out,
                      bool* gro_on) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  std::memcpy(&sa.sin6_addr, ip, 16);
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &sa.sin6_addr, text, sizeof(text));
  return OpenBound(AF_INET6, reinterpret_cast<sockaddr*>(&sa), sizeof(sa),
                   std::string("[") + text + "]:" + std::to_string(port), reuse_port, buf_bytes, gro, out, gro_on,
                   [](int fd) {
                     const int one = 1;
                     const int zero = 0;
                     if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
                       return Status::FromErrno("setsockopt(IPV6_V6ONLY)", "cannot make the UDP socket IPv6-only");
                     }
                     // The kernel's VXLAN device sends flow label 0 (its label
                     // attribute's default); a socket would hash one in
                     // (net.ipv6.auto_flowlabels). Best effort: older kernels lack it.
                     setsockopt(fd, IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, &zero, sizeof(zero));
                     return Status::Ok();
                   });
}

Status CheckUdpFd6(int fd, const uint8_t ip[16], uint16_t port) {
  int type = 0;
  socklen_t type_len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_DGRAM) {
    return Status::Errno(ENOTSOCK, "getsockopt(SO_TYPE)", "handed-over fd is no UDP socket");
  }
  sockaddr_in6 sa{};
  socklen_t len = sizeof(sa);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0 || sa.sin6_family != AF_INET6) {
    return Status::Errno(EAFNOSUPPORT, "getsockname", "handed-over socket is not IPv6");
  }
  if (std::memcmp(&sa.sin6_addr, ip, 16) != 0 || (port != 0 && ntohs(sa.sin6_port) != port)) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &sa.sin6_addr, text, sizeof(text));
    return Status::Errno(
        EADDRNOTAVAIL, "getsockname",
        std::string("handed-over socket is bound to [") + text + "]:" + std::to_string(ntohs(sa.sin6_port)));
  }
  return Status::Ok();
}

}  // namespace weft
