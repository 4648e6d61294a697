// NativeEngine: the JS handle of a running engine. It keeps its table alive
// (a reference to the NativeTable) and stops its threads on stop(), on
// garbage collection and at environment teardown.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/engine.h"
#include "table_wrap.h"

namespace weft::binding {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new NativeEngine(config, table): starts the engine or throws.
  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

 private:
  Napi::Value JsStop(const Napi::CallbackInfo& info);
  Napi::Value JsFatalErrno(const Napi::CallbackInfo& info);
  Napi::Value JsFds(const Napi::CallbackInfo& info);
  void StopNow();
  static void Cleanup(void* self);

  std::unique_ptr<Engine> engine_;
  TableWrap* table_wrap_ = nullptr;
  Napi::ObjectReference table_ref_;
  napi_env env_ = nullptr;
};

}  // namespace weft::binding
