#include "engine_wrap.h"

#include <unistd.h>

#include <cstring>

#include "../core/offload.h"
#include "errors.h"
#include "handoff_exports.h"

namespace weft::binding {

namespace {

uint32_t U32(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Uint32Value(); }

// Copies the Buffer at `key` when it has exactly `n` bytes; false otherwise.
bool Bytes(const Napi::Object& o, const char* key, uint8_t* out, size_t n) {
  const Napi::Value v = o.Get(key);
  if (!v.IsBuffer() || v.As<Napi::Buffer<uint8_t>>().Length() != n) return false;
  std::memcpy(out, v.As<Napi::Buffer<uint8_t>>().Data(), n);
  return true;
}

}  // namespace

Napi::Function EngineWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeEngine",
                     {
                         InstanceMethod<&EngineWrap::JsStop>("stop"),
                         InstanceMethod<&EngineWrap::JsFatalErrno>("fatalErrno"),
                         InstanceMethod<&EngineWrap::JsFds>("fds"),
                     });
}

// config: { device, queues, persist, configureDevice, deviceAddr, mtu, network,
//           networkPrefixLen, bindIp, port, socketBuffer, backend, vni,
//           ownMac: Buffer(6), checkPeers, checkInnerSource, ipv4? (default true; false: IPv6-only),
//           ipv6?, bindIp6?, deviceAddr6?, network6?: Buffer(16), network6PrefixLen?, mtu6?, ownMac6?: Buffer(6),
//           adoptTun?, adoptUdp?, adoptSend?, adoptUdp6?, adoptSend6?: fds handed over, owned by the engine from here
//           on }
EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject()) {
    ThrowType(env, "NativeEngine(config, table)");
    return;
  }
  Napi::Object c = info[0].As<Napi::Object>();
  Napi::Object t = info[1].As<Napi::Object>();
  EngineConfig config;
  // Handed-over fds belong to the engine from here on: closed on any failure.
  const auto fds = [&c](const char* key, std::vector<int>* out) {
    const Napi::Value v = c.Get(key);
    return v.IsUndefined() || FdsFromJs(v, out);
  };
  const bool fds_ok = fds("adoptTun", &config.adopt.tun) && fds("adoptUdp", &config.adopt.udp) &&
                      fds("adoptSend", &config.adopt.send) && fds("adoptUdp6", &config.adopt.udp6) &&
                      fds("adoptSend6", &config.adopt.send6);
  const auto close_adopted = [&config] {
    for (const auto* list :
         {&config.adopt.tun, &config.adopt.udp, &config.adopt.send, &config.adopt.udp6, &config.adopt.send6}) {
      for (int fd : *list) close(fd);
    }
  };
  if (!fds_ok) {
    close_adopted();
    ThrowType(env, "adoptTun, adoptUdp, adoptSend, adoptUdp6 and adoptSend6 must be arrays of fds");
    return;
  }
  table_wrap_ = TableWrap::Unwrap(t);
  if (table_wrap_ == nullptr || table_wrap_->table() == nullptr) {
    close_adopted();
    ThrowKind(env, ErrorKind::kClosed, "table is closed");
    return;
  }

  config.device = c.Get("device").As<Napi::String>();
  config.queues = U32(c, "queues");
  config.persist = c.Get("persist").ToBoolean();
  config.configure_device = c.Get("configureDevice").ToBoolean();
  config.device_addr = U32(c, "deviceAddr");
  config.mtu = U32(c, "mtu");
  config.network = U32(c, "network");
  config.network_prefix_len = static_cast<uint8_t>(U32(c, "networkPrefixLen"));
  config.bind_ip = U32(c, "bindIp");
  config.port = static_cast<uint16_t>(U32(c, "port"));
  config.socket_buffer = static_cast<int>(U32(c, "socketBuffer"));
  const auto flag = [&](const char* key) { return !c.Has(key) || c.Get(key).IsUndefined() || c.Get(key).ToBoolean(); };
  // The offload switches, by their names in kOffloadNames.
  bool* const switches[kOffloadOptionCount] = {&config.vnet_hdr, &config.tso,     &config.uso,
                                               &config.udp_gso,  &config.udp_gro, &config.coalesce};
  for (size_t i = 0; i < kOffloadOptionCount; i++) *switches[i] = flag(kOffloadNames[i]);
  // ipv4 false (absent: true): an IPv6-only plane, bindIp/deviceAddr/network unused.
  config.ipv4 = flag("ipv4");
  config.worker.backend = static_cast<uint8_t>(U32(c, "backend"));
  config.worker.vni = U32(c, "vni");
  config.worker.peer_port = config.port;
  config.worker.poll_budget_ns = U32(c, "pollBudgetUs") * 1000u;
  config.worker.check_peers = c.Get("checkPeers").ToBoolean();
  config.worker.check_inner_source = c.Get("checkInnerSource").ToBoolean();
  Bytes(c, "ownMac", config.worker.own_mac, 6);
  config.ipv6 = c.Get("ipv6").ToBoolean();
  if (config.ipv6) {
    if (!Bytes(c, "bindIp6", config.bind_ip6, 16) || !Bytes(c, "deviceAddr6", config.device_addr6, 16) ||
        !Bytes(c, "network6", config.network6, 16) || !Bytes(c, "ownMac6", config.worker.own_mac6, 6)) {
      close_adopted();
      ThrowType(env, "ipv6: bindIp6, deviceAddr6, network6 (Buffer(16)) and ownMac6 (Buffer(6)) are needed");
      return;
    }
    config.network6_prefix_len = static_cast<uint8_t>(U32(c, "network6PrefixLen"));
    config.mtu6 = U32(c, "mtu6");
  }

  const Status s = Engine::Start(config, table_wrap_->table(), &engine_);
  if (!s.ok()) {
    ThrowStatus(env, s);
    return;
  }
  table_ref_ = Napi::Persistent(t);
  table_wrap_->AddUser();
  env_ = env;
  napi_add_env_cleanup_hook(env_, &EngineWrap::Cleanup, this);
}

void EngineWrap::StopNow() {
  if (!engine_) return;
  engine_->Stop();
  engine_.reset();
  table_wrap_->RemoveUser();
  napi_remove_env_cleanup_hook(env_, &EngineWrap::Cleanup, this);
}

void EngineWrap::Cleanup(void* self) { static_cast<EngineWrap*>(self)->StopNow(); }

EngineWrap::~EngineWrap() { StopNow(); }

Napi::Value EngineWrap::JsStop(const Napi::CallbackInfo& info) {
  StopNow();
  if (!table_ref_.IsEmpty()) table_ref_.Reset();
  return info.Env().Undefined();
}

Napi::Value EngineWrap::JsFatalErrno(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), engine_ ? engine_->fatal_errno() : 0);
}

Napi::Value EngineWrap::JsFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const EngineFds fds = engine_ ? engine_->fds() : EngineFds{};
  o.Set("tun", FdsToJs(env, fds.tun));
  o.Set("udp", FdsToJs(env, fds.udp));
  o.Set("send", FdsToJs(env, fds.send));
  o.Set("udp6", FdsToJs(env, fds.udp6));
  o.Set("send6", FdsToJs(env, fds.send6));
  return o;
}

}  // namespace weft::binding
