// The underlay UDP sockets: bind, buffers, SO_REUSEPORT, UDP GRO/GSO.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "udp_socket.h"

namespace weft {

bool UdpGsoSupported(int fd) {
  int size = 0;
  socklen_t len = sizeof(size);
  return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &len) == 0;
}

Status OpenUdpSocket(uint32_t ip, uint16_t port, bool reuse_port, int buf_bytes, bool gro, int* out, bool* gro_on) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", "cannot create UDP socket");
  const int one = 1;
  Status s;
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
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
  if (s.ok()) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(ip);
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &sa.sin_addr, text, sizeof(text));
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      s = Status::FromErrno("bind", std::string("cannot bind UDP ") + text + ":" + std::to_string(port));
    }
  }
  if (!s.ok()) {
    close(fd);
    return s;
  }
  *gro_on = gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
  *out = fd;
  return Status::Ok();
}

}  // namespace weft
