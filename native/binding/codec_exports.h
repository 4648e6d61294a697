#pragma once

#include <napi.h>

namespace weft::binding {

// { udpEncap, udpDecap, vxlanEncap, vxlanDecap, netUnreachable, checksum, benchCodec }
Napi::Object CodecExports(Napi::Env env);

}  // namespace weft::binding
