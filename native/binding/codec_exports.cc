// The codecs, exposed for tests and the codec micro-benchmark. Each function
// copies its input, so a JS Buffer is never modified in place.
#include <napi.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "../core/checksum.h"
#include "../core/codec.h"
#include "../core/limits.h"
#include "../core/packet.h"
#include "codec_exports.h"

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

// benchCodec(kind, ipPacket, iterations) -> nanoseconds for all iterations of
// encapsulation + decapsulation of one packet, run natively (no N-API
// crossing per packet). kind: "udp" | "vxlan".
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
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < iterations; i++) {
    size_t ip_len = 0;
    size_t off = 0;
    if (kind == "udp") {
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
  o.Set("ns", Napi::Number::New(env, static_cast<double>(
                                         std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count())));
  o.Set("sink", Napi::Number::New(env, static_cast<double>(sink)));
  return o;
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
  return o;
}

}  // namespace weft::binding
