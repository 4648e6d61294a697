// NativeTable: the JS handle of a shared-memory table (writer or reader).
#pragma once

#include <napi.h>

#include <memory>

#include "../core/table.h"

namespace weft::binding {

class TableWrap : public Napi::ObjectWrap<TableWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new NativeTable(path, geometry | null): a writer when geometry is given.
  explicit TableWrap(const Napi::CallbackInfo& info);

  Table* table() const { return table_.get(); }
  // Engines using the table; close() refuses while there are any.
  void AddUser() { users_++; }
  void RemoveUser() { users_--; }

 private:
  Napi::Value JsReattached(const Napi::CallbackInfo& info);
  Napi::Value JsHeader(const Napi::CallbackInfo& info);
  Napi::Value JsSetInfo(const Napi::CallbackInfo& info);
  Napi::Value JsSetInfo6(const Napi::CallbackInfo& info);
  Napi::Value JsSet(const Napi::CallbackInfo& info);
  Napi::Value JsDelete(const Napi::CallbackInfo& info);
  Napi::Value JsEntries(const Napi::CallbackInfo& info);
  Napi::Value JsLookup(const Napi::CallbackInfo& info);
  Napi::Value JsIsPeer(const Napi::CallbackInfo& info);
  Napi::Value JsCounters(const Napi::CallbackInfo& info);
  Napi::Value JsClose(const Napi::CallbackInfo& info);
  bool Usable(Napi::Env env, bool need_writer);

  std::unique_ptr<Table> table_;
  bool reattached_ = false;
  int users_ = 0;
};

}  // namespace weft::binding
