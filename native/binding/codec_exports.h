#pragma once

#include <napi.h>

namespace weft::binding {

// { udpEncap, udpDecap, vxlanEncap, vxlanDecap, netUnreachable, checksum, benchCodec,
//   segment, coalesce, receive, encapsulate }: codec primitives, and the
// receive and send pipelines (native/core/decap.h, encap.h) the worker runs.
Napi::Object CodecExports(Napi::Env env);

}  // namespace weft::binding
