// The codecs, exposed for tests and the codec micro-benchmark. Each function
// copies its input, so a JS Buffer is never modified in place.
#include "codec_exports.h"

#include <napi.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "../core/checksum.h"
#include "../core/codec.h"
#include "../core/decap.h"
#include "../core/encap.h"
#include "../core/limits.h"
#include "../core/offload.h"
#include "../core/packet.h"
#include "errors.h"
#include "table_wrap.h"

namespace weft::binding {

namespace {

Napi::String VerdictName(Napi::Env env, Verdict v) {
  if (v == kForward) return Napi::String::New(env, "forward");
  return Napi::String::New(env, kDropNames[v - kDropFirst]);
}

Napi::Object Result(Napi::Env env, Verdict v, const uint8_t* data, size_t len) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("verdict", VerdictName(env, v));
  if (v == kForward) o.Set("packet", Napi::Buffer<uint8_t>::Copy(env, data, len));
  return o;
}

std::vector<uint8_t> WithHeadroom(const Napi::Buffer<uint8_t>& b) {
  std::vector<uint8_t> buf(kHeadroom + b.Length());
  if (b.Length() != 0) std::memcpy(buf.data() + kHeadroom, b.Data(), b.Length());
  return buf;
}

// udpEncap(ipPacket): what the udp backend sends for a packet read from the TUN.
Napi::Value UdpEncapJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  std::vector<uint8_t> buf(in.Data(), in.Data() + in.Length());
  size_t ip_len = 0;
  Verdict v = CheckIpv4(buf.data(), buf.size(), &ip_len);
  if (v == kForward) v = DecrementTtl(buf.data());
  return Result(env, v, buf.data(), ip_len);
}

// udpDecap(payload): what the udp backend writes to the TUN for a datagram.
Napi::Value UdpDecapJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  std::vector<uint8_t> buf(in.Data(), in.Data() + in.Length());
  size_t ip_len = 0;
  const Verdict v = UdpDecap(buf.data(), buf.size(), &ip_len);
  return Result(env, v, buf.data(), ip_len);
}

// vxlanEncap(ipPacket, vni, dstMac, srcMac): the UDP payload for a packet.
Napi::Value VxlanEncapJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  const uint32_t vni = info[1].As<Napi::Number>().Uint32Value();
  auto dst = info[2].As<Napi::Buffer<uint8_t>>();
  auto src = info[3].As<Napi::Buffer<uint8_t>>();
  std::vector<uint8_t> buf = WithHeadroom(in);
  size_t ip_len = 0;
  const bool v6 = in.Length() > 0 && (in.Data()[0] >> 4) == 6;
  const Verdict v = v6 ? CheckIpv6(buf.data() + kHeadroom, in.Length(), &ip_len)
                       : CheckIpv4(buf.data() + kHeadroom, in.Length(), &ip_len);
  if (v != kForward) return Result(env, v, nullptr, 0);
  uint8_t* start =
      VxlanEncap(buf.data() + kHeadroom, v6 ? kEtherTypeIpv6 : kEtherTypeIpv4, vni, dst.Data(), src.Data());
  return Result(env, kForward, start, ip_len + kVxlanEncapLen);
}

// vxlanDecap(payload, vni, ownMac): the inner packet, or why it is dropped.
Napi::Value VxlanDecapJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  const uint32_t vni = info[1].As<Napi::Number>().Uint32Value();
  auto mac = info[2].As<Napi::Buffer<uint8_t>>();
  std::vector<uint8_t> buf(in.Data(), in.Data() + in.Length());
  size_t off = 0;
  size_t len = 0;
  const Verdict v = VxlanDecap(buf.data(), buf.size(), vni, mac.Data(), &off, &len);
  return Result(env, v, buf.data() + off, len);
}

// netUnreachable(offender, srcIp): the ICMP error, or null when none is due.
Napi::Value NetUnreachableJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  size_t ip_len = 0;
  if (CheckIpv4(in.Data(), in.Length(), &ip_len) != kForward) return env.Null();
  uint8_t out[128];
  const size_t n = BuildNetUnreachable(in.Data(), ip_len, info[1].As<Napi::Number>().Uint32Value(), out, sizeof(out));
  if (n == 0) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(env, out, n);
}

Napi::Value ChecksumJs(const Napi::CallbackInfo& info) {
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  return Napi::Number::New(info.Env(), Checksum(in.Data(), in.Length()));
}

// benchCodec(kind, ipPacket, iterations) -> nanoseconds for all iterations,
// run natively (no N-API crossing per packet). kind "udp" | "vxlan":
// encapsulation + decapsulation of one packet (headers only); kind "tso": the
// packet is a TCP super-packet cut into VXLAN-prefixed 1398-byte segments
// with full checksums, as the sender does for every TSO read.
Napi::Value BenchCodecJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].As<Napi::String>();
  auto in = info[1].As<Napi::Buffer<uint8_t>>();
  const uint32_t iterations = info[2].As<Napi::Number>().Uint32Value();
  std::vector<uint8_t> buf = WithHeadroom(in);
  const uint8_t mac_a[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00};
  const uint8_t mac_b[6] = {0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00};
  uint8_t* pkt = buf.data() + kHeadroom;
  const size_t len = in.Length();
  uint64_t sink = 0;
  VnetHdr tso{};
  tso.flags = kVnetNeedsCsum;
  tso.gso_type = kGsoTcpv4;
  tso.gso_size = 1398;
  std::vector<uint8_t> hdrs(kind == "tso" ? 64 * 1024 : 0);
  std::vector<struct iovec> iov(kind == "tso" ? 2048 : 0);
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < iterations; i++) {
    size_t ip_len = 0;
    size_t off = 0;
    if (kind == "tso") {
      Segments segs{};
      sink += Segment(pkt, len, tso, kVxlanEncapLen, hdrs.data(), hdrs.size(), iov.data(), iov.size(), &segs);
      sink += segs.count;
    } else if (kind == "udp") {
      pkt[ipv4::kTtl] = 64;  // keep TTL from running out
      CheckIpv4(pkt, len, &ip_len);
      DecrementTtl(pkt);
      sink += UdpDecap(pkt, len, &ip_len);
    } else {
      CheckIpv4(pkt, len, &ip_len);
      uint8_t* start = VxlanEncap(pkt, kEtherTypeIpv4, 1, mac_b, mac_a);
      sink += VxlanDecap(start, ip_len + kVxlanEncapLen, 1, mac_b, &off, &ip_len);
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ns", Napi::Number::New(
                  env, static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count())));
  o.Set("sink", Napi::Number::New(env, static_cast<double>(sink)));
  return o;
}

// segment(superPacket, vnet, prefix) -> { verdict, segments? }: runs
// Segment() on a copy and joins each segment's two iovecs (`prefix` zeroed
// bytes, its headers, its payload slice) into one Buffer. The header area and
// iovec array are sized for the most segments the input could yield (one per
// payload byte), so only Segment's own checks decide the verdict.
Napi::Value SegmentJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto in = info[0].As<Napi::Buffer<uint8_t>>();
  auto o = info[1].As<Napi::Object>();
  const size_t prefix = info[2].As<Napi::Number>().Uint32Value();
  auto field = [&](const char* name) { return static_cast<uint16_t>(o.Get(name).As<Napi::Number>().Uint32Value()); };
  VnetHdr h{};
  h.flags = static_cast<uint8_t>(field("flags"));
  h.gso_type = static_cast<uint8_t>(field("gsoType"));
  h.gso_size = field("gsoSize");
  h.csum_start = field("csumStart");
  h.csum_offset = field("csumOffset");
  std::vector<uint8_t> pkt(in.Data(), in.Data() + in.Length());
  const size_t most = in.Length() + 1;
  std::vector<uint8_t> hdrs(most * (prefix + 120));  // IPv4 + TCP headers are at most 60 + 60
  std::vector<struct iovec> iov(2 * most);
  Segments segs{};
  const Verdict v = Segment(pkt.data(), pkt.size(), h, prefix, hdrs.data(), hdrs.size(), iov.data(), iov.size(), &segs);
  Napi::Object r = Napi::Object::New(env);
  r.Set("verdict", VerdictName(env, v));
  if (v != kForward) return r;
  Napi::Array list = Napi::Array::New(env, segs.count);
  for (size_t i = 0; i < segs.count; i++) {
    const struct iovec& a = iov[2 * i];
    const struct iovec& b = iov[2 * i + 1];
    auto out = Napi::Buffer<uint8_t>::New(env, a.iov_len + b.iov_len);
    std::memcpy(out.Data(), a.iov_base, a.iov_len);
    if (b.iov_len != 0) std::memcpy(out.Data() + a.iov_len, b.iov_base, b.iov_len);
    list.Set(static_cast<uint32_t>(i), out);
  }
  r.Set("segments", list);
  return r;
}

// One TUN write as JS sees it: the vnet header decoded, the rest joined.
Napi::Object TunWrite(Napi::Env env, const struct iovec* iov, size_t n) {
  VnetHdr h{};
  std::memcpy(&h, iov[0].iov_base, sizeof(h));
  Napi::Object vnet = Napi::Object::New(env);
  vnet.Set("flags", h.flags);
  vnet.Set("gsoType", h.gso_type);
  vnet.Set("hdrLen", h.hdr_len);
  vnet.Set("gsoSize", h.gso_size);
  vnet.Set("csumStart", h.csum_start);
  vnet.Set("csumOffset", h.csum_offset);
  size_t bytes = 0;
  for (size_t i = 1; i < n; i++) bytes += iov[i].iov_len;
  auto packet = Napi::Buffer<uint8_t>::New(env, bytes);
  size_t at = 0;
  for (size_t i = 1; i < n; i++) {
    std::memcpy(packet.Data() + at, iov[i].iov_base, iov[i].iov_len);
    at += iov[i].iov_len;
  }
  Napi::Object w = Napi::Object::New(env);
  w.Set("vnet", vnet);
  w.Set("packet", packet);
  return w;
}

// coalesce(packets, udp?) -> { writes }: the TUN writes the receive
// pipeline's coalescing stage (Decapsulator::Deliver) makes for one GRO'd
// receive holding these inner packets (copies; the run patches its first
// packet in place). Packets are checked as VxlanDecap checks the inner packet
// (IPv4, or IPv6 which Coalescer never merges); one that fails is dropped
// there and so is not written here either.
Napi::Value CoalesceJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto in = info[0].As<Napi::Array>();
  std::vector<std::vector<uint8_t>> pkts;
  for (uint32_t i = 0; i < in.Length(); i++) {
    auto b = in.Get(i).As<Napi::Buffer<uint8_t>>();
    pkts.emplace_back(b.Data(), b.Data() + b.Length());
  }
  Napi::Array writes = Napi::Array::New(env);
  DecapConfig config;
  config.coalesce = true;
  config.coalesce_udp = info.Length() > 1 && info[1].ToBoolean();  // udp: the TUN took USO
  Decapsulator decap(config, nullptr);
  auto emit = [&](const struct iovec* w, size_t n, size_t, bool) { writes.Set(writes.Length(), TunWrite(env, w, n)); };
  for (auto& p : pkts) {
    size_t ip_len = 0;
    const bool v6 = !p.empty() && (p[0] >> 4) == 6;
    if ((v6 ? CheckIpv6(p.data(), p.size(), &ip_len) : CheckIpv4(p.data(), p.size(), &ip_len)) != kForward) continue;
    decap.Deliver(p.data(), ip_len, true, emit);
  }
  decap.Flush(emit);
  Napi::Object r = Napi::Object::New(env);
  r.Set("writes", writes);
  return r;
}

// The arguments the pipeline exports share: (bytes, config, table).
struct PipelineArgs {
  Napi::Buffer<uint8_t> in;
  Napi::Object config;
  const Table* table = nullptr;
  bool Bool(const char* key) const { return config.Get(key).ToBoolean(); }
  uint32_t U32(const char* key) const {
    Napi::Value v = config.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : 0;
  }
  // backend, vni and ownMac, which both configs have.
  template <class Config>
  void Codec(Config* c) const {
    c->backend = static_cast<uint8_t>(U32("backend"));
    c->vni = U32("vni");
    Napi::Value mac = config.Get("ownMac");
    if (mac.IsBuffer() && mac.As<Napi::Buffer<uint8_t>>().Length() == 6) {
      std::memcpy(c->own_mac, mac.As<Napi::Buffer<uint8_t>>().Data(), 6);
    }
  }
};

// False (a TypeError thrown) when the table argument is not an open table.
bool ReadPipelineArgs(const Napi::CallbackInfo& info, PipelineArgs* a) {
  a->in = info[0].As<Napi::Buffer<uint8_t>>();
  a->config = info[1].As<Napi::Object>();
  TableWrap* w = info[2].IsObject() ? TableWrap::Unwrap(info[2].As<Napi::Object>()) : nullptr;
  a->table = w == nullptr ? nullptr : w->table();
  if (a->table == nullptr) ThrowType(info.Env(), "(bytes, config, table): table is not an open NativeTable");
  return a->table != nullptr;
}

// The counters a pipeline run touched, by name (zero ones left out).
Napi::Object CountsToJs(Napi::Env env, const uint64_t* c) {
  Napi::Object o = Napi::Object::New(env);
  for (uint32_t i = 0; i < kDropLast; i++) {
    const char* name = i < kDropFirst ? kCounterNames[i] : kDropNames[i - kDropFirst];
    if (c[i] != 0 && name != nullptr) o.Set(name, Napi::Number::New(env, static_cast<double>(c[i])));
  }
  return o;
}

// receive(message, config, table) -> { writes, counts }: one received
// message through the whole receive pipeline (Decapsulator::Receive, as the
// worker runs it) against a real table. config: { backend, vni, ownMac,
// checkPeers, checkInnerSource, coalesce, coalesceUdp, coalesceBatch,
// gsoSize, outerSrc, outerSrc6?: Buffer(16), messageLengths?: number[] }; with outerSrc6 the message came from the IPv6
// underlay (Receive6; ownMac is then the IPv6 frames' MAC). The networks
// are the table's.
Napi::Value ReceiveJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PipelineArgs a;
  if (!ReadPipelineArgs(info, &a)) return env.Undefined();
  const Table* table = a.table;
  DecapConfig config;
  a.Codec(&config);
  config.network = table->header().network;
  config.network_prefix_len = table->header().network_prefix_len;
  config.ipv6 = table->has_ipv6();
  std::memcpy(config.network6, table->header().network6, 16);
  config.network6_prefix_len = table->header().network6_prefix_len;
  uint8_t outer6[16] = {};
  const Napi::Value src6 = a.config.Get("outerSrc6");
  const bool from6 = src6.IsBuffer() && src6.As<Napi::Buffer<uint8_t>>().Length() == 16;
  if (from6) std::memcpy(outer6, src6.As<Napi::Buffer<uint8_t>>().Data(), 16);
  config.underlay_family = from6 ? 6 : 4;
  config.check_peers = a.Bool("checkPeers");
  config.check_inner_source = a.Bool("checkInnerSource");
  config.coalesce = a.Bool("coalesce");
  config.coalesce_udp = a.Bool("coalesceUdp");
  config.coalesce_batch = a.Bool("coalesceBatch");
  Decapsulator decap(config, table);
  std::vector<uint8_t> buf(a.in.Data(), a.in.Data() + a.in.Length());
  uint64_t counts[kCounterCount] = {};
  Napi::Array writes = Napi::Array::New(env);
  const auto sink = [&](const struct iovec* w, size_t n, size_t, bool) {
    writes.Set(writes.Length(), TunWrite(env, w, n));
  };
  // messageLengths: `bytes` holds the messages of one receive batch, back to
  // back, each of gsoSize datagrams; the run is flushed after the last, as
  // the worker does after each recvmmsg.
  std::vector<size_t> lengths;
  const Napi::Value ml = a.config.Get("messageLengths");
  if (ml.IsArray()) {
    const auto arr = ml.As<Napi::Array>();
    size_t total = 0;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      lengths.push_back(arr.Get(i).As<Napi::Number>().Uint32Value());
      total += lengths.back();
    }
    if (total != buf.size()) {
      ThrowType(env, "receive: messageLengths must add up to the bytes' length");
      return env.Undefined();
    }
  } else {
    lengths.push_back(buf.size());
  }
  size_t off = 0;
  for (const size_t len : lengths) {
    if (from6) {
      decap.Receive6(buf.data() + off, len, a.U32("gsoSize"), false, outer6, counts, sink);
    } else {
      decap.Receive(buf.data() + off, len, a.U32("gsoSize"), false, a.U32("outerSrc"), counts, sink);
    }
    off += len;
  }
  decap.Flush(sink);
  Napi::Object r = Napi::Object::New(env);
  r.Set("writes", writes);
  r.Set("counts", CountsToJs(env, counts));
  return r;
}

// encapsulate(read, config, table) -> { verdict, peer?, datagrams?, icmp?, counts }:
// one TUN read (a virtio_net_hdr first when config.vnetHdr) through the whole
// send pipeline (Encapsulator, as the worker runs it) against a real table.
// Each datagram is one Buffer (the UDP payload); config: { backend, vni,
// ownMac, ownMac6?, vnetHdr }. `family` is the underlay's (4 or 6) and
// `peer` its 4- or 16-byte address.
Napi::Value EncapsulateJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PipelineArgs a;
  if (!ReadPipelineArgs(info, &a)) return env.Undefined();
  const Table* table = a.table;
  const Napi::Buffer<uint8_t>& in = a.in;
  EncapConfig config;
  a.Codec(&config);
  config.vnet_hdr = a.Bool("vnetHdr");
  const Napi::Value mac6 = a.config.Get("ownMac6");
  if (mac6.IsBuffer() && mac6.As<Napi::Buffer<uint8_t>>().Length() == 6) {
    std::memcpy(config.own_mac6, mac6.As<Napi::Buffer<uint8_t>>().Data(), 6);
  }
  Encapsulator encap(config, table);
  // Headroom, the read, and header room for as many segments as it may need.
  const size_t room = Encapsulator::kMaxSegments * Encapsulator::kSegmentHeaderRoom;
  std::vector<uint8_t> buf(kHeadroom + in.Length() + 8 + room);
  // The IP packet starts at kHeadroom, as in the worker's arena.
  uint8_t* rd = buf.data() + kHeadroom - (config.vnet_hdr ? kVnetHdrLen : 0);
  if (in.Length() != 0) std::memcpy(rd, in.Data(), in.Length());
  std::vector<struct iovec> iov(2 * Encapsulator::kMaxSegments);
  uint64_t counts[kCounterCount] = {};
  Datagrams d;
  const Verdict v = encap.Encapsulate(rd, in.Length(), buf.data() + buf.size(), iov.data(), iov.size(), counts, &d);
  Napi::Object r = Napi::Object::New(env);
  r.Set("verdict", VerdictName(env, v));
  r.Set("counts", CountsToJs(env, counts));
  if (v == kDropNoRoute && d.icmp_len > 0) r.Set("icmp", Napi::Buffer<uint8_t>::Copy(env, d.icmp, d.icmp_len));
  if (v != kForward) return r;
  r.Set("family", Napi::Number::New(env, d.family));
  r.Set("peer", Napi::Buffer<uint8_t>::Copy(env, d.peer_ip, d.family == 6 ? 16 : 4));
  Napi::Array list = Napi::Array::New(env);
  const size_t per = d.segmented ? 2 : 1;
  const size_t count = d.segmented ? d.segs.count : 1;
  for (size_t i = 0; i < count; i++) {
    size_t bytes = 0;
    for (size_t k = 0; k < per; k++) bytes += iov[per * i + k].iov_len;
    auto out = Napi::Buffer<uint8_t>::New(env, bytes);
    size_t at = 0;
    for (size_t k = 0; k < per; k++) {
      if (iov[per * i + k].iov_len != 0)
        std::memcpy(out.Data() + at, iov[per * i + k].iov_base, iov[per * i + k].iov_len);
      at += iov[per * i + k].iov_len;
    }
    list.Set(static_cast<uint32_t>(i), out);
  }
  r.Set("datagrams", list);
  return r;
}

}  // namespace

Napi::Object CodecExports(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("udpEncap", Napi::Function::New<UdpEncapJs>(env, "udpEncap"));
  o.Set("udpDecap", Napi::Function::New<UdpDecapJs>(env, "udpDecap"));
  o.Set("vxlanEncap", Napi::Function::New<VxlanEncapJs>(env, "vxlanEncap"));
  o.Set("vxlanDecap", Napi::Function::New<VxlanDecapJs>(env, "vxlanDecap"));
  o.Set("netUnreachable", Napi::Function::New<NetUnreachableJs>(env, "netUnreachable"));
  o.Set("checksum", Napi::Function::New<ChecksumJs>(env, "checksum"));
  o.Set("benchCodec", Napi::Function::New<BenchCodecJs>(env, "benchCodec"));
  o.Set("segment", Napi::Function::New<SegmentJs>(env, "segment"));
  o.Set("coalesce", Napi::Function::New<CoalesceJs>(env, "coalesce"));
  o.Set("receive", Napi::Function::New<ReceiveJs>(env, "receive"));
  o.Set("encapsulate", Napi::Function::New<EncapsulateJs>(env, "encapsulate"));
  return o;
}

}  // namespace weft::binding
