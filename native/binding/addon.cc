// The addon's entry point: the classes, the codec functions, and the table
// layout constants the TypeScript side checks at load time.
#include <napi.h>

#include "../core/counters.h"
#include "../core/limits.h"
#include "../core/table_format.h"
#include "codec_exports.h"
#include "engine_wrap.h"
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

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTable", TableWrap::Define(env));
  exports.Set("NativeEngine", EngineWrap::Define(env));
  exports.Set("codec", CodecExports(env));
  exports.Set("handoff", HandoffExports(env));
  exports.Set("layout", Layout(env));
  return exports;
}

}  // namespace weft::binding

static Napi::Object InitWeft(Napi::Env env, Napi::Object exports) { return weft::binding::Init(env, exports); }

NODE_API_MODULE(weft, InitWeft)
