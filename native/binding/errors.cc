#include "errors.h"

namespace weft::binding {

Napi::Array ErrorKindKeys(Napi::Env env) {
  Napi::Array keys = Napi::Array::New(env);
  for (uint32_t k = 0; k < static_cast<uint32_t>(ErrorKind::kCount); k++) {
    keys.Set(k, Napi::String::New(env, ErrorKindKey(static_cast<ErrorKind>(k))));
  }
  return keys;
}

Napi::Value ConfigureErrors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, "configureErrors({ WeftError, ErrorCode })");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value ctor = o.Get("WeftError");
  Napi::Value codes = o.Get("ErrorCode");
  if (!ctor.IsFunction() || !codes.IsObject()) {
    ThrowType(env, "configureErrors({ WeftError, ErrorCode }): WeftError must be a class, ErrorCode an object");
    return env.Undefined();
  }
  for (uint32_t k = 0; k < static_cast<uint32_t>(ErrorKind::kCount); k++) {
    const char* key = ErrorKindKey(static_cast<ErrorKind>(k));
    if (!codes.As<Napi::Object>().Get(key).IsString()) {
      Napi::Error::New(env, std::string("native addon raises ErrorCode.") + key + ", which src/errors.ts lacks")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  ErrorFactory* f = env.GetInstanceData<ErrorFactory>();
  if (f == nullptr) {
    f = new ErrorFactory();
    env.SetInstanceData(f);  // deleted with the environment
  }
  f->weft_error = Napi::Persistent(ctor.As<Napi::Function>());
  f->codes = Napi::Persistent(codes.As<Napi::Object>());
  return env.Undefined();
}

Napi::Error MakeError(Napi::Env env, ErrorKind kind, const std::string& message, const Status* s, const char* option) {
  const char* sys_code = s != nullptr ? uv_err_name(-s->err()) : nullptr;
  ErrorFactory* f = env.GetInstanceData<ErrorFactory>();
  if (f == nullptr || f->weft_error.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, message);
    if (s != nullptr) {
      e.Set("code", Napi::String::New(env, sys_code));
      e.Set("errno", Napi::Number::New(env, -s->err()));
      e.Set("syscall", Napi::String::New(env, s->syscall()));
    }
    return e;
  }
  Napi::Object opts = Napi::Object::New(env);
  if (option != nullptr && option[0] != '\0') opts.Set("option", option);
  if (s != nullptr) {
    opts.Set("sysCode", sys_code);
    opts.Set("syscall", s->syscall());
    if (s->recoverable()) opts.Set("recoverable", true);
  }
  Napi::Value code = f->codes.Value().Get(ErrorKindKey(kind));
  Napi::Object err = f->weft_error.New({code, Napi::String::New(env, message), opts});
  if (env.IsExceptionPending()) return env.GetAndClearPendingException();
  return Napi::Error(env, err);
}

}  // namespace weft::binding
