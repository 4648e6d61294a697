#pragma once

#include <napi.h>

namespace weft::binding {

// { udpEncap, udpDecap, vxlanEncap, vxlanDecap, netUnreachable, checksum, benchCodec,
//   segment, coalesce }
Napi::Object CodecExports(Napi::Env env);

}  // namespace weft::binding
