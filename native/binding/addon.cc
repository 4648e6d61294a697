// The addon's entry point: the classes, the codec functions, and the table
// layout constants the TypeScript side checks at load time.
#include <napi.h>

#include "../core/counters.h"
#include "../core/limits.h"
#include "../core/offload.h"
#include "../core/packet.h"
#include "../core/table_format.h"
#include "codec_exports.h"
#include "engine_wrap.h"
#include "errors.h"
#include "handoff_exports.h"
#include "table_wrap.h"

namespace weft::binding {

namespace {

Napi::Object Layout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("magic", Napi::BigInt::New(env, table::kMagic));
  o.Set("version", table::kLayoutVersion);
  o.Set("headerSize", table::kHeaderSize);
  o.Set("entrySize", table::kEntrySize);
  o.Set("counterCount", static_cast<uint32_t>(kCounterCount));
  o.Set("counterBlocks", table::kCounterBlocks);
  o.Set("overflowSlots", table::kOverflowSlots);
  o.Set("maxDirectBits", table::kMaxDirectBits);
  o.Set("maxQueues", kMaxQueues);
  o.Set("maxPacket", static_cast<uint32_t>(kMaxPacket));
  return o;
}

Napi::Array Names(Napi::Env env, size_t count) {
  Napi::Array a = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) a.Set(static_cast<uint32_t>(i), kOffloadNames[i]);
  return a;
}

// The limits src/dataplane validates options against: defined here, read
// there, never retyped.
Napi::Object Limits(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("maxQueues", kMaxQueues);
  o.Set("maxDirectBits", table::kMaxDirectBits);
  o.Set("maxPacket", static_cast<uint32_t>(kMaxPacket));
  // Bytes each encapsulation adds to an inner packet: outer IPv4 + UDP [+ VXLAN + Ethernet].
  Napi::Object overhead = Napi::Object::New(env);
  overhead.Set("udp", static_cast<uint32_t>(kIpv4MinHeaderLen + kUdpHeaderLen));
  overhead.Set("vxlan", static_cast<uint32_t>(kIpv4MinHeaderLen + kUdpHeaderLen + kVxlanEncapLen));
  o.Set("overhead", overhead);
  o.Set("offloadBits", Names(env, kOffloadCount));
  o.Set("offloadOptions", Names(env, kOffloadOptionCount));
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTable", TableWrap::Define(env));
  exports.Set("NativeEngine", EngineWrap::Define(env));
  exports.Set("codec", CodecExports(env));
  exports.Set("handoff", HandoffExports(env));
  exports.Set("layout", Layout(env));
  exports.Set("limits", Limits(env));
  exports.Set("errorKinds", ErrorKindKeys(env));
  exports.Set("configureErrors", Napi::Function::New<ConfigureErrors>(env, "configureErrors"));
  return exports;
}

}  // namespace weft::binding

static Napi::Object InitWeft(Napi::Env env, Napi::Object exports) { return weft::binding::Init(env, exports); }

NODE_API_MODULE(weft, InitWeft)
