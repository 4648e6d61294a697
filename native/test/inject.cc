// inject: a test tool that throws prepared payloads at a data plane, for the
// hostile-input end-to-end tests (test/e2e/hostile.test.ts). Linux only, run
// as root inside a test namespace.
//
//   inject udp SRC DST PORT FILE [--repeat N] [--seconds S] [--pace-us U]
//     Each payload becomes one UDP datagram from SRC (any address: a raw
//     IP_HDRINCL socket, so SRC can be a peer's PublicIP) to DST:PORT, UDP
//     checksum 0 (none). Datagrams larger than one 1500-byte frame are
//     fragmented here, as the kernel does not fragment raw packets.
//   inject tun IFNAME FILE [--repeat N]
//     Each payload is transmitted through device IFNAME as an IPv4 packet
//     (AF_PACKET, SOCK_DGRAM): what the data plane then reads from its TUN.
//
// FILE holds records [u32 little-endian length][bytes]. Payloads are sent in
// file order, N times (--repeat, default 1) or round-robin for S seconds;
// with --pace-us a pause follows every 16 frames so that no queue overflows.
// Prints one JSON line: {"datagrams":…,"frames":…,"errors":…,"seconds":…}
// (errors: failed sends, e.g. ENOBUFS under a flood; the caller judges them).
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kFrameIp = 1500;                    // underlay MTU
constexpr size_t kFragData = (kFrameIp - 20) & ~7u;  // data bytes per fragment, multiple of 8

std::vector<Bytes> ReadRecords(const char* path) {
  std::ifstream f(path, std::ios::binary);
  Bytes all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<Bytes> out;
  for (size_t at = 0; at + 4 <= all.size();) {
    const uint32_t n = all[at] | (all[at + 1] << 8) | (all[at + 2] << 16) | (uint32_t{all[at + 3]} << 24);
    at += 4;
    if (at + n > all.size()) break;
    out.emplace_back(all.begin() + at, all.begin() + at + n);
    at += n;
  }
  return out;
}

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The IPv4 frames (one, or fragments) carrying `payload` as a UDP datagram.
std::vector<Bytes> UdpFrames(const Bytes& payload, in_addr src, in_addr dst, uint16_t port, uint16_t id) {
  Bytes udp(8 + payload.size());
  Put16(&udp[0], 40000);
  Put16(&udp[2], port);
  Put16(&udp[4], static_cast<uint16_t>(udp.size()));
  if (!payload.empty()) std::memcpy(&udp[8], payload.data(), payload.size());
  std::vector<Bytes> frames;
  for (size_t off = 0; off < udp.size() || off == 0;) {
    const size_t n = udp.size() - off <= kFrameIp - 20 ? udp.size() - off : kFragData;
    const bool more = off + n < udp.size();
    Bytes ip(20 + n);
    ip[0] = 0x45;
    Put16(&ip[2], static_cast<uint16_t>(ip.size()));
    Put16(&ip[4], id);
    Put16(&ip[6], static_cast<uint16_t>((more ? 0x2000 : 0) | (off / 8)));
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    std::memcpy(&ip[12], &src, 4);
    std::memcpy(&ip[16], &dst, 4);
    std::memcpy(&ip[20], &udp[off], n);
    frames.push_back(std::move(ip));
    off += n;
    if (!more) break;
  }
  return frames;
}

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

constexpr size_t kBurst = 64;

// Sends the queued frames; returns how many could not be sent.
long Flush(int fd, mmsghdr* msgs, size_t& pending) {
  long failed = 0;
  size_t done = 0;
  while (done < pending) {
    const int n = sendmmsg(fd, msgs + done, static_cast<unsigned>(pending - done), 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      failed++;  // this frame failed (ENOBUFS under a flood, say): skip it
      done++;
    }
  }
  pending = 0;
  return failed;
}

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int Usage() {
  std::fprintf(stderr,
               "usage: inject udp SRC DST PORT FILE [--repeat N] [--seconds S] [--pace-us U]\n"
               "       inject tun IFNAME FILE [--repeat N] [--pace-us U]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return Usage();
  const std::string mode = argv[1];
  const bool udp = mode == "udp";
  if (!udp && mode != "tun") return Usage();
  const int fixed = udp ? 6 : 4;
  if (argc < fixed) return Usage();
  long repeat = 1;
  double seconds = 0;
  long pace_us = 0;
  for (int i = fixed; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeat") == 0)
      repeat = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "--seconds") == 0)
      seconds = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--pace-us") == 0)
      pace_us = std::atol(argv[i + 1]);
    else
      return Usage();
  }
  const std::vector<Bytes> payloads = ReadRecords(argv[fixed - 1]);
  if (payloads.empty()) {
    std::fprintf(stderr, "inject: no records in %s\n", argv[fixed - 1]);
    return 2;
  }

  int fd;
  sockaddr_in to{};
  sockaddr_ll ll{};
  in_addr src{};
  uint16_t port = 0;
  if (udp) {
    if (inet_pton(AF_INET, argv[2], &src) != 1 || inet_pton(AF_INET, argv[3], &to.sin_addr) != 1) return Usage();
    port = static_cast<uint16_t>(std::atoi(argv[4]));
    to.sin_family = AF_INET;
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);  // implies IP_HDRINCL
  } else {
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_IP);
    ll.sll_ifindex = static_cast<int>(if_nametoindex(argv[2]));
    if (ll.sll_ifindex == 0) {
      std::fprintf(stderr, "inject: no device %s\n", argv[2]);
      return 1;
    }
    fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
  }
  if (fd < 0) {
    std::perror("inject: socket");
    return 1;
  }

  // Frames built once; fragments get a fresh IP ID per send so that
  // reassembly never mixes two rounds.
  std::vector<std::vector<Bytes>> built;
  if (udp) {
    for (const Bytes& p : payloads) built.push_back(UdpFrames(p, src, to.sin_addr, port, 0));
  }
  // udp: frames leave in bursts of up to kBurst per sendmmsg. A frame may be
  // queued twice in one burst (a one-payload file): then both carry the later
  // IP ID, harmless for unfragmented frames; fragments of one payload are
  // consecutive and share theirs.
  mmsghdr msgs[kBurst];
  iovec iovs[kBurst];
  size_t pending = 0;
  long datagrams = 0;
  long frames = 0;
  long errors = 0;
  long since_pause = 0;
  uint16_t id = 1;
  // SIGTERM/SIGINT end a timed run early; the summary is still printed.
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  const double start = Now();
  for (long round = 0; !g_stop && (seconds > 0 ? Now() - start < seconds : round < repeat); round++) {
    for (const Bytes& p : payloads) {
      if (udp) {
        for (Bytes& f : built[static_cast<size_t>(&p - payloads.data())]) {
          if (pending == kBurst) errors += Flush(fd, msgs, pending);
          Put16(&f[4], id);
          iovs[pending] = {f.data(), f.size()};
          msgs[pending].msg_hdr = {};
          msgs[pending].msg_hdr.msg_name = &to;
          msgs[pending].msg_hdr.msg_namelen = sizeof(to);
          msgs[pending].msg_hdr.msg_iov = &iovs[pending];
          msgs[pending].msg_hdr.msg_iovlen = 1;
          pending++;
          frames++;
        }
        id++;
      } else {
        if (sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&ll), sizeof(ll)) < 0) errors++;
        frames++;
      }
      datagrams++;
      if (pace_us > 0 && ++since_pause >= 16) {
        since_pause = 0;
        errors += Flush(fd, msgs, pending);
        usleep(static_cast<useconds_t>(pace_us));
      }
    }
  }
  errors += Flush(fd, msgs, pending);
  std::printf("{\"datagrams\":%ld,\"frames\":%ld,\"errors\":%ld,\"seconds\":%.3f}\n", datagrams, frames, errors,
              Now() - start);
  close(fd);
  return 0;  // send errors are reported, the caller judges them
}
