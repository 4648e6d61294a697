// The TUN device: queues, offload negotiation, address, MTU, route.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "packet.h"
#include "tun.h"

namespace weft {

namespace {

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) close(fd);
  fds->clear();
}

Status OpenQueue(const std::string& name, bool multi_queue, bool vnet_hdr, int* out) {
  const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Status::FromErrno("open", "cannot open /dev/net/tun");
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags =
      static_cast<short>(IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0) | (vnet_hdr ? IFF_VNET_HDR : 0));
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    const Status s = Status::FromErrno("ioctl(TUNSETIFF)", "cannot attach to TUN device " + name);
    close(fd);
    return s;
  }
  *out = fd;
  return Status::Ok();
}

sockaddr_in InetAddr(uint32_t ip) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(ip);
  return sa;
}

Status IfIoctl(int sock, unsigned long req, struct ifreq* ifr, const char* what, const std::string& name) {
  if (ioctl(sock, req, ifr) != 0) return Status::FromErrno(what, "cannot configure device " + name);
  return Status::Ok();
}

}  // namespace

// Tries `want`, then without USO, then without TSO; 0 when even CSUM is refused.
// TSO for IPv4 comes with TSO for IPv6: Segment cuts both (and the kernel
// otherwise segments TCPv6 itself before every read).
unsigned NegotiateOffloads(int fd, unsigned want) {
  if (want & kTunFTso4) want |= kTunFTso6;
  const unsigned kUso = kTunFUso4 | kTunFUso6;
  const unsigned kTso = kTunFTso4 | kTunFTso6 | kTunFTsoEcn;
  for (unsigned mask : {want, want & ~kUso, want & ~(kUso | kTso)}) {
    if ((mask & ~kTunFCsum) != 0 && (mask & kTunFCsum) == 0) continue;  // offloads need CSUM
    if (ioctl(fd, TUNSETOFFLOAD, mask) == 0) return mask;
  }
  ioctl(fd, TUNSETOFFLOAD, 0u);
  return 0;
}

Status OpenTun(const std::string& name, uint32_t queues, bool persist, bool vnet_hdr, unsigned want,
               std::vector<int>* fds, unsigned* got) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Status::Errno(EINVAL, "open", "bad device name " + name);
  // Multi-queue always, so a persistent device can be re-attached with any
  // number of queues. A pre-existing single-queue device is attached as is.
  int fd = -1;
  Status s = OpenQueue(name, true, vnet_hdr, &fd);
  if (!s.ok() && s.err() == EINVAL && queues == 1) s = OpenQueue(name, false, vnet_hdr, &fd);
  if (!s.ok()) return s;
  fds->push_back(fd);
  for (uint32_t q = 1; q < queues; q++) {
    s = OpenQueue(name, true, vnet_hdr, &fd);
    if (!s.ok()) {
      CloseAll(fds);
      return s;
    }
    fds->push_back(fd);
  }
  // Only ever turn persistence on: a device an operator made persistent stays so.
  if (persist && ioctl(fds->front(), TUNSETPERSIST, 1) != 0) {
    s = Status::FromErrno("ioctl(TUNSETPERSIST)", "cannot set persistence of " + name);
    CloseAll(fds);
    return s;
  }
  *got = 0;
  if (vnet_hdr) {
    *got = NegotiateOffloads(fds->front(), want);
    for (size_t q = 1; q < fds->size(); q++) NegotiateOffloads((*fds)[q], *got);
  }
  return Status::Ok();
}

Status ConfigureTun(const std::string& name, uint32_t addr, uint32_t mtu, uint32_t network, uint8_t prefix_len,
                    bool ipv4, bool keep_ipv6) {
  const int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Status::FromErrno("socket", "cannot configure device " + name);
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  Status s;

  ifr.ifr_mtu = static_cast<int>(mtu);
  s = IfIoctl(sock, SIOCSIFMTU, &ifr, "ioctl(SIOCSIFMTU)", name);
  if (s.ok() && ipv4) {
    sockaddr_in sa = InetAddr(addr);
    std::memcpy(&ifr.ifr_addr, &sa, sizeof(sa));
    s = IfIoctl(sock, SIOCSIFADDR, &ifr, "ioctl(SIOCSIFADDR)", name);
  }
  if (s.ok() && ipv4) {
    sockaddr_in sa = InetAddr(0xffffffffu);
    std::memcpy(&ifr.ifr_netmask, &sa, sizeof(sa));
    s = IfIoctl(sock, SIOCSIFNETMASK, &ifr, "ioctl(SIOCSIFNETMASK)", name);
  }
  if (s.ok()) {
    // The queue between the kernel and our reads: 500 packets by default, too
    // few for a TCP window of 64 KiB super-packets.
    ifr.ifr_qlen = 10000;
    s = IfIoctl(sock, SIOCSIFTXQLEN, &ifr, "ioctl(SIOCSIFTXQLEN)", name);
  }
  if (s.ok() && !keep_ipv6) {
    // No IPv6 on the device (ConfigureTun6 turns it on for an IPv6 overlay,
    // once the bring-up is done): the overlay is IPv4, and an IPv6-enabled TUN
    // would send router solicitations and MLD reports into the data plane.
    // Best effort: a kernel without IPv6 has no such file.
    const std::string path = "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6";
    const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (write(fd, "1", 1) != 1) {
        // not fatal: IPv6 packets are counted and dropped as noRoute
      }
      close(fd);
    }
  }
  if (s.ok()) s = IfIoctl(sock, SIOCGIFFLAGS, &ifr, "ioctl(SIOCGIFFLAGS)", name);
  if (s.ok()) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    s = IfIoctl(sock, SIOCSIFFLAGS, &ifr, "ioctl(SIOCSIFFLAGS)", name);
  }
  if (s.ok() && ipv4) {
    struct rtentry rt {};
    sockaddr_in dst = InetAddr(network);
    sockaddr_in mask = InetAddr(PrefixMask(prefix_len));
    std::memcpy(&rt.rt_dst, &dst, sizeof(dst));
    std::memcpy(&rt.rt_genmask, &mask, sizeof(mask));
    rt.rt_flags = RTF_UP;
    char dev[IFNAMSIZ] = {};
    std::strncpy(dev, name.c_str(), IFNAMSIZ - 1);
    rt.rt_dev = dev;
    if (ioctl(sock, SIOCADDRT, &rt) != 0 && errno != EEXIST) {
      s = Status::FromErrno("ioctl(SIOCADDRT)", "cannot add the network route via " + name);
    }
  }
  close(sock);
  return s;
}

}  // namespace weft

namespace weft {

namespace {

// Best effort: a missing file (no IPv6 in the kernel) shows in the address step.
void WriteSysctl6(const std::string& dev, const char* key, const std::string& value) {
  const std::string path = "/proc/sys/net/ipv6/conf/" + dev + "/" + key;
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    // the step that needs it fails visibly
  }
  close(fd);
}

}  // namespace

Status ConfigureTun6(const std::string& name, const uint8_t addr6[16], uint32_t mtu6, const uint8_t network6[16],
                     uint8_t prefix6_len) {
  const unsigned index = if_nametoindex(name.c_str());
  if (index == 0) return Status::FromErrno("if_nametoindex", "cannot configure device " + name);
  // Before IPv6 comes on: no link-local address (no ND on a TUN), no RA,
  // the address usable at once (DAD would probe into the data plane).
  WriteSysctl6(name, "addr_gen_mode", "1");
  WriteSysctl6(name, "accept_ra", "0");
  WriteSysctl6(name, "accept_dad", "0");
  WriteSysctl6(name, "disable_ipv6", "0");
  WriteSysctl6(name, "mtu", std::to_string(mtu6));
  const int sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Status::FromErrno("socket(AF_INET6)", "cannot configure IPv6 on device " + name);
  Status s;
  struct in6_ifreq {  // linux/ipv6.h, which clashes with netinet/in.h
    struct in6_addr ifr6_addr;
    uint32_t ifr6_prefixlen;
    int ifr6_ifindex;
  } ifr6{};
  std::memcpy(&ifr6.ifr6_addr, addr6, 16);
  ifr6.ifr6_prefixlen = 128;
  ifr6.ifr6_ifindex = static_cast<int>(index);
  if (ioctl(sock, SIOCSIFADDR, &ifr6) != 0 && errno != EEXIST) {
    s = Status::FromErrno("ioctl(SIOCSIFADDR)", "cannot add the IPv6 address to " + name);
  }
  if (s.ok()) {
    struct in6_rtmsg rt {};
    std::memcpy(&rt.rtmsg_dst, network6, 16);
    rt.rtmsg_dst_len = prefix6_len;
    rt.rtmsg_metric = 1;
    rt.rtmsg_flags = RTF_UP;
    rt.rtmsg_ifindex = static_cast<int>(index);
    if (ioctl(sock, SIOCADDRT, &rt) != 0 && errno != EEXIST) {
      s = Status::FromErrno("ioctl(SIOCADDRT)", "cannot add the IPv6 network route via " + name);
    }
  }
  close(sock);
  return s;
}

}  // namespace weft
