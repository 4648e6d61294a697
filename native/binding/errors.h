// Turning a core Status into a thrown JS Error with Node's conventional
// fields: code (errno name, e.g. "EPERM"), errno (negative, as libuv) and
// syscall. The TypeScript facade wraps it in a WeftError.
#pragma once

#include <napi.h>
#include <uv.h>

#include "../core/status.h"

namespace weft::binding {

inline void ThrowStatus(Napi::Env env, const Status& s) {
  Napi::Error e = Napi::Error::New(env, s.ToString());
  e.Set("code", Napi::String::New(env, uv_err_name(-s.err())));
  e.Set("errno", Napi::Number::New(env, -s.err()));
  e.Set("syscall", Napi::String::New(env, s.syscall()));
  e.ThrowAsJavaScriptException();
}

inline void ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

}  // namespace weft::binding
