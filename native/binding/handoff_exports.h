#pragma once

#include <napi.h>

#include <vector>

namespace weft::binding {

// { sendFds, takeOver, notify, closeFds }: the fd passing of a hand-off
// (native/core/handoff.h), synchronous; each throws WeftError(HANDOFF).
Napi::Object HandoffExports(Napi::Env env);

// A JS array of fds (non-negative integers, at most kMaxHandoffFds) appended
// to `out`; false when it is not one.
bool FdsFromJs(const Napi::Value& v, std::vector<int>* out);
Napi::Array FdsToJs(Napi::Env env, const std::vector<int>& fds);

}  // namespace weft::binding
