// Errors cross the native seam once: a core Status (classified by the layer
// that knew the context: ErrorKind, option, sentence) is thrown as the
// library's own WeftError with its stable code. loadAddon()
// (src/dataplane/native.ts) hands the class and the ErrorCode table to the
// addon with configureErrors({ WeftError, ErrorCode }) before anything else;
// until then (a bare require of the addon) errors are plain Errors with
// Node's conventional fields (code = errno name, errno, syscall).
#pragma once

#include <napi.h>
#include <uv.h>

#include <string>

#include "../core/status.h"

namespace weft::binding {

struct ErrorFactory {
  Napi::FunctionReference weft_error;  // class WeftError (src/errors.ts)
  Napi::ObjectReference codes;         // ErrorCode: ErrorKindKey(kind) -> "ERR_WEFT_..."
};

// configureErrors({ WeftError, ErrorCode }): refuses an ErrorCode table that
// lacks a code for any ErrorKind.
Napi::Value ConfigureErrors(const Napi::CallbackInfo& info);

// The names of every ErrorKind (the ErrorCode keys the addon raises).
Napi::Array ErrorKindKeys(Napi::Env env);

// A WeftError(code of `kind`, message, { option, sysCode, syscall,
// recoverable }) once configured; `s` (may be null) supplies errno name,
// syscall and recoverable.
Napi::Error MakeError(Napi::Env env, ErrorKind kind, const std::string& message, const Status* s,
                      const char* option = "");

inline void ThrowStatus(Napi::Env env, const Status& s) {
  MakeError(env, s.kind(), s.ToString(), &s, s.option()).ThrowAsJavaScriptException();
}

inline void ThrowKind(Napi::Env env, ErrorKind kind, const std::string& message) {
  MakeError(env, kind, message, nullptr).ThrowAsJavaScriptException();
}

// A programming error in the call (wrong argument types): a TypeError.
inline void ThrowType(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

}  // namespace weft::binding
