#pragma once

#include <napi.h>

namespace weft::binding {

// { sendFds, takeOver, notify, closeFds }: the fd passing of a hand-off
// (native/core/handoff.h), synchronous; each throws WeftError(HANDOFF).
Napi::Object HandoffExports(Napi::Env env);

}  // namespace weft::binding
