#include "handoff_exports.h"

#include <unistd.h>

#include "../core/handoff.h"
#include "errors.h"

namespace weft::binding {

bool FdsFromJs(const Napi::Value& v, std::vector<int>* out) {
  if (!v.IsArray()) return false;
  const Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > kMaxHandoffFds) return false;
  for (uint32_t i = 0; i < a.Length(); i++) {
    const Napi::Value x = a.Get(i);
    if (!x.IsNumber() || x.As<Napi::Number>().Int32Value() < 0) return false;
    out->push_back(x.As<Napi::Number>().Int32Value());
  }
  return true;
}

Napi::Array FdsToJs(Napi::Env env, const std::vector<int>& fds) {
  Napi::Array a = Napi::Array::New(env, fds.size());
  for (uint32_t i = 0; i < fds.size(); i++) a.Set(i, fds[i]);
  return a;
}

namespace {

// sendFds(socketFd, fds, description, timeoutMs)
Napi::Value SendFdsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> fds;
  if (info.Length() < 4 || !info[0].IsNumber() || !FdsFromJs(info[1], &fds) || !info[2].IsString() ||
      !info[3].IsNumber()) {
    ThrowType(env, "sendFds(socketFd, fds, description, timeoutMs)");
    return env.Undefined();
  }
  const Status s = SendFds(info[0].As<Napi::Number>().Int32Value(), fds, info[2].As<Napi::String>().Utf8Value(),
                           info[3].As<Napi::Number>().Int32Value());
  if (!s.ok()) ThrowStatus(env, s.Classify(ErrorKind::kHandoff, "", "cannot hand off: " + s.ToString()));
  return env.Undefined();
}

// takeOver(path, timeoutMs) -> { fds, description }
Napi::Value TakeOverJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    ThrowType(env, "takeOver(path, timeoutMs)");
    return env.Undefined();
  }
  std::vector<int> fds;
  std::string data;
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const Status s = TakeOver(path, info[1].As<Napi::Number>().Int32Value(), &fds, &data);
  if (!s.ok()) {
    // No predecessor there (no socket, nobody listening) is the ordinary
    // first start: recoverable, the caller starts afresh.
    const bool none = s.err() == ENOENT || s.err() == ECONNREFUSED;
    ThrowStatus(env, s.Classify(ErrorKind::kHandoff, "", "no hand-off from " + path + ": " + s.ToString(), none));
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("fds", FdsToJs(env, fds));
  o.Set("description", Napi::String::New(env, data));
  return o;
}

// notify(socketPath, state, fds)
Napi::Value NotifyJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> fds;
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !FdsFromJs(info[2], &fds)) {
    ThrowType(env, "notify(socketPath, state, fds)");
    return env.Undefined();
  }
  const Status s = NotifyWithFds(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), fds);
  if (!s.ok()) ThrowStatus(env, s.Classify(ErrorKind::kHandoff, "", "cannot notify systemd: " + s.ToString()));
  return env.Undefined();
}

// closeFds(fds): for fds received but not adopted.
Napi::Value CloseFdsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> fds;
  if (info.Length() < 1 || !FdsFromJs(info[0], &fds)) {
    ThrowType(env, "closeFds(fds)");
    return env.Undefined();
  }
  for (int fd : fds) close(fd);
  return env.Undefined();
}

}  // namespace

Napi::Object HandoffExports(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("sendFds", Napi::Function::New<SendFdsJs>(env, "sendFds"));
  o.Set("takeOver", Napi::Function::New<TakeOverJs>(env, "takeOver"));
  o.Set("notify", Napi::Function::New<NotifyJs>(env, "notify"));
  o.Set("closeFds", Napi::Function::New<CloseFdsJs>(env, "closeFds"));
  return o;
}

}  // namespace weft::binding
