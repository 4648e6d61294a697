// The receive pipeline, once: what one message from the underlay socket
// becomes in the TUN. The worker (RunUdpToTun), the fuzzer
// (native/fuzz/fuzz_packets.cc) and the codec exports
// (native/binding/codec_exports.cc) all run this code.
//
//   message (one datagram, or several of gso_size bytes merged by UDP GRO)
//     -> [peer check: the outer source is a lease's PublicIP (IsPeer), or
//        PublicIPv6 on the IPv6 underlay (IsPeer6)]
//     -> per datagram: Decode   udp: IPv4 check, TTL - 1
//                               vxlan: flags, VNI, MACs, inner IP check
//                      Admit    the inner family of this underlay, its
//                               destination inside the overlay network of
//                               that family, [inner source inside the lease
//                               whose PublicIP(v6) sent it]
//                      Deliver  consecutive TCP segments (and UDP datagrams,
//                               when the TUN took USO) of one flow from one
//                               GRO'd message merge into one super-packet
//                               (Coalescer), with coalesce_batch also across
//                               the GRO'd messages of one receive batch (a
//                               64 KiB TSO send arrives as two trains of
//                               ~23 datagrams: one TUN write instead of two);
//                               anything else goes alone
//     -> one TUN write per (super-)packet, handed to the caller's sink
//
// A sink is any callable `void(const struct iovec* iov, size_t n, size_t
// bytes, bool gso)`: iov[0] is the virtio_net_hdr (all zero for a packet
// written alone), iov[1, n) the packet's bytes (`bytes` in all), `gso` true
// for a merged super-packet. Every datagram is either written or counted in
// exactly one drop counter. Nothing here allocates, locks or does I/O.
//
// Dual stack: a worker runs one Decapsulator per underlay family, each with
// the MAC its frames must be addressed to (flannel.<VNI>'s for the IPv4
// underlay, flannel-v6.<VNI>'s for the IPv6 one). Kernel flannel carries
// IPv4 over the IPv4 underlay and IPv6 over the IPv6 one, never across: an
// inner IPv6 packet from the IPv4 underlay, or an inner IPv4 packet from the
// IPv6 underlay, is dropped as badDestination (its destination is outside
// the network that underlay carries). Without an IPv6 overlay an inner IPv6
// packet is notIp, as before (a family this node does not carry at all).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "codec.h"
#include "counters.h"
#include "limits.h"
#include "offload.h"
#include "packet.h"
#include "table.h"

namespace weft {

struct DecapConfig {
  uint8_t backend = table::kBackendVxlan;  // table::Backend (udp or vxlan)
  uint32_t vni = 0;                        // vxlan
  uint8_t own_mac[6] = {};                 // vxlan: the MAC this underlay's frames are addressed to
  uint8_t underlay_family = 4;             // 4: datagrams from the IPv4 socket; 6: from the IPv6 one
  uint32_t network = 0;                    // the overlay network (host order)
  uint8_t network_prefix_len = 0;
  bool ipv6 = false;  // the node carries IPv6 (network6 is set)
  uint8_t network6[16] = {};
  uint8_t network6_prefix_len = 0;
  bool check_peers = false;         // accept datagrams only from lease PublicIPs
  bool check_inner_source = false;  // inner source must lie in the lease of the outer source
  bool coalesce = false;            // merge GRO'd TCP segments into TUN GSO writes (needs vnet_hdr)
  bool coalesce_udp = false;        // ... and UDP datagrams (the TUN took USO)
  // A run may go on into the next message (the next GRO'd train of the same
  // flow, in the same receive batch): Receive leaves it open and the caller
  // calls Flush once the batch is done, before its buffers are reused.
  bool coalesce_batch = false;
};

class Decapsulator {
 public:
  // `table` is read for the peer and inner-source checks; it may be null
  // when both are off (the codec exports' coalescing stage).
  Decapsulator(const DecapConfig& config, const Table* table);
  Decapsulator(const Decapsulator&) = delete;
  Decapsulator& operator=(const Decapsulator&) = delete;

  // One received message: `len` bytes at `data`, datagrams of `gso_size`
  // bytes each (0: one datagram), `truncated` when the kernel cut it
  // (MSG_TRUNC), from `outer_src` (host order; Receive6: 16 bytes, network
  // order, for the IPv6 underlay). Counts into `c` (kCounterCount slots)
  // and writes through `sink`.
  template <class Sink>
  void Receive(uint8_t* data, size_t len, size_t gso_size, bool truncated, uint32_t outer_src, uint64_t* c,
               Sink&& sink) {
    ReceiveFrom(data, len, gso_size, truncated, Outer{outer_src, nullptr}, c, sink);
  }
  template <class Sink>
  void Receive6(uint8_t* data, size_t len, size_t gso_size, bool truncated, const uint8_t outer_src6[16], uint64_t* c,
                Sink&& sink) {
    ReceiveFrom(data, len, gso_size, truncated, Outer{0, outer_src6}, c, sink);
  }

  // The stages, in order.
  // Decode: the backend's decapsulation of one datagram; on kForward the
  // inner packet is d[*inner_off, *inner_off + *ip_len).
  Verdict Decode(uint8_t* d, size_t len, size_t* inner_off, size_t* ip_len) const;
  // Admit: what a decoded packet must also satisfy to reach the TUN.
  // `outer_src` is host order. Constant time: a mask compare, and one table
  // lookup with check_inner_source.
  Verdict Admit(const uint8_t* pkt, uint32_t outer_src) const { return AdmitFrom(pkt, Outer{outer_src, nullptr}); }
  Verdict Admit6(const uint8_t* pkt, const uint8_t outer_src6[16]) const {
    return AdmitFrom(pkt, Outer{0, outer_src6});
  }
  // Deliver: a packet that passed Decode (and Admit). `grouped`: it came in
  // a GRO'd message, so it may merge with its neighbours (their outer
  // checksums were verified by the kernel); a single datagram is written as
  // it came, so the kernel checks its inner checksum.
  template <class Sink>
  void Deliver(uint8_t* pkt, size_t len, bool grouped, Sink&& sink);
  // Writes the pending merged run, if any.
  template <class Sink>
  void Flush(Sink&& sink);

 private:
  // The outer source: v4 (host order) on the IPv4 underlay, v6 (16 bytes) on the IPv6 one.
  struct Outer {
    uint32_t v4;
    const uint8_t* v6;
  };
  template <class Sink>
  void ReceiveFrom(uint8_t* data, size_t len, size_t gso_size, bool truncated, Outer outer, uint64_t* c, Sink&& sink);
  Verdict AdmitFrom(const uint8_t* pkt, Outer outer) const;
  bool IsPeer(Outer outer) const { return outer.v6 != nullptr ? table_->IsPeer6(outer.v6) : table_->IsPeer(outer.v4); }

  const DecapConfig config_;
  const Table* const table_;
  const uint32_t network_mask_;
  const uint32_t network_;  // masked
  Coalescer run_;
  struct iovec wr_iov_[Coalescer::kMaxIov];
  VnetHdr zero_vnet_{};
};

template <class Sink>
void Decapsulator::ReceiveFrom(uint8_t* data, size_t len, size_t gso_size, bool truncated, Outer outer, uint64_t* c,
                               Sink&& sink) {
  const size_t step = (gso_size > 0 && gso_size < len) ? gso_size : len;
  const size_t datagrams = len == 0 ? 1 : (len + step - 1) / step;
  c[kUdpRxPackets] += datagrams;
  c[kUdpRxBytes] += len;
  if (len == 0 || len > kMaxPacket || truncated) {
    c[kDropMalformed] += datagrams;
    return;
  }
  if (config_.check_peers && !IsPeer(outer)) {
    c[kDropUnknownPeer] += datagrams;
    return;
  }
  const bool grouped = datagrams > 1;
  if (grouped) c[kUdpRxGroBatches]++;
  for (size_t off = 0; off < len; off += step) {
    const size_t dlen = len - off < step ? len - off : step;
    size_t ioff = 0;
    size_t ip_len = 0;
    Verdict v = Decode(data + off, dlen, &ioff, &ip_len);
    if (v == kForward) v = AdmitFrom(data + off + ioff, outer);
    if (v != kForward) {
      c[v]++;
      continue;
    }
    Deliver(data + off + ioff, ip_len, grouped, sink);
  }
  if (!config_.coalesce_batch) Flush(sink);
}

template <class Sink>
void Decapsulator::Deliver(uint8_t* pkt, size_t len, bool grouped, Sink&& sink) {
  if (config_.coalesce && grouped) {
    if (run_.count() > 0 && run_.Append(pkt, len)) return;
    Flush(sink);
    if (run_.Start(pkt, len)) return;
  } else {
    Flush(sink);  // a run left open by an earlier message goes first
  }
  const struct iovec alone[2] = {{&zero_vnet_, kVnetHdrLen}, {pkt, len}};
  sink(alone, 2, len, false);
}

template <class Sink>
void Decapsulator::Flush(Sink&& sink) {
  if (run_.count() == 0) return;
  const size_t k = run_.Finish(wr_iov_);
  size_t bytes = 0;
  for (size_t j = 1; j < k; j++) bytes += wr_iov_[j].iov_len;
  sink(wr_iov_, k, bytes, k > 2);
}

}  // namespace weft
