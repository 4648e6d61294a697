#include "table_wrap.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "errors.h"

namespace weft::binding {

namespace {

Napi::Object EntryToJs(Napi::Env env, const table::EntryData& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("subnetFamily", Napi::Number::New(env, e.subnet_family == 6 ? 6 : 4));
  o.Set("subnet", Napi::Number::New(env, e.subnet));
  o.Set("subnet6", Napi::Buffer<uint8_t>::Copy(env, e.subnet6, 16));
  o.Set("prefixLen", Napi::Number::New(env, e.prefix_len));
  o.Set("backend", Napi::Number::New(env, e.backend));
  o.Set("family", Napi::Number::New(env, e.family));
  o.Set("publicIp", Napi::Buffer<uint8_t>::Copy(env, e.public_ip, e.family == 4 ? 4 : 16));
  if (e.has_mac) o.Set("vtepMac", Napi::Buffer<uint8_t>::Copy(env, e.vtep_mac, 6));
  return o;
}

// An address argument: an IPv4 address as a number (host order) or an IPv6
// one as a Buffer(16). False (and a TypeError thrown) for anything else.
bool AddressArg(Napi::Env env, const Napi::Value& v, uint32_t* ip4, uint8_t ip6[16], bool* is6) {
  if (v.IsBuffer()) {
    Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
    if (b.Length() != 16) return ThrowType(env, "an IPv6 address must be 16 bytes"), false;
    std::memcpy(ip6, b.Data(), 16);
    *is6 = true;
    return true;
  }
  if (!v.IsNumber()) return ThrowType(env, "address must be a number (IPv4) or a Buffer(16) (IPv6)"), false;
  *ip4 = v.As<Napi::Number>().Uint32Value();
  *is6 = false;
  return true;
}

std::string CidrText(const table::EntryData& e) {
  char text[INET6_ADDRSTRLEN] = {};
  if (e.subnet_family == 6) {
    inet_ntop(AF_INET6, e.subnet6, text, sizeof(text));
  } else {
    struct in_addr a {};
    a.s_addr = htonl(e.subnet);
    inet_ntop(AF_INET, &a, text, sizeof(text));
  }
  return std::string(text) + "/" + std::to_string(e.prefix_len);
}

// The optional IPv6 part of a geometry: network6 (Buffer(16)), network6PrefixLen, subnet6Len.
bool Geometry6(Napi::Env env, const Napi::Object& g, table::GeometryParams* geo) {
  const Napi::Value net = g.Get("network6");
  if (net.IsUndefined() || net.IsNull()) return true;
  if (!net.IsBuffer() || net.As<Napi::Buffer<uint8_t>>().Length() != 16) {
    return ThrowType(env, "geometry.network6 must be a Buffer(16)"), false;
  }
  std::memcpy(geo->network6, net.As<Napi::Buffer<uint8_t>>().Data(), 16);
  geo->network6_prefix_len = static_cast<uint8_t>(g.Get("network6PrefixLen").As<Napi::Number>().Uint32Value());
  geo->subnet6_len = static_cast<uint8_t>(g.Get("subnet6Len").As<Napi::Number>().Uint32Value());
  return true;
}

}  // namespace

Napi::Function TableWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTable",
                     {
                         InstanceMethod<&TableWrap::JsReattached>("reattached"),
                         InstanceMethod<&TableWrap::JsHeader>("header"),
                         InstanceMethod<&TableWrap::JsSetInfo>("setInfo"),
                         InstanceMethod<&TableWrap::JsSetInfo6>("setInfo6"),
                         InstanceMethod<&TableWrap::JsSet>("set"),
                         InstanceMethod<&TableWrap::JsDelete>("delete"),
                         InstanceMethod<&TableWrap::JsEntries>("entries"),
                         InstanceMethod<&TableWrap::JsLookup>("lookup"),
                         InstanceMethod<&TableWrap::JsIsPeer>("isPeer"),
                         InstanceMethod<&TableWrap::JsCounters>("counters"),
                         InstanceMethod<&TableWrap::JsClose>("close"),
                     });
}

TableWrap::TableWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TableWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString()) {
    ThrowType(env, "NativeTable(path, geometry|null)");
    return;
  }
  const std::string path = info[0].As<Napi::String>();
  Status s;
  if (info[1].IsObject()) {
    Napi::Object g = info[1].As<Napi::Object>();
    table::GeometryParams geo{};
    geo.network = g.Get("network").As<Napi::Number>().Uint32Value();
    geo.network_prefix_len = static_cast<uint8_t>(g.Get("networkPrefixLen").As<Napi::Number>().Uint32Value());
    geo.subnet_len = static_cast<uint8_t>(g.Get("subnetLen").As<Napi::Number>().Uint32Value());
    geo.backend = static_cast<uint8_t>(g.Get("backend").As<Napi::Number>().Uint32Value());
    if (!Geometry6(env, g, &geo)) return;
    s = Table::OpenWriter(path, geo, &table_, &reattached_);
    if (!s.ok() && s.err() == EWOULDBLOCK && std::string(s.syscall()) == "flock") {
      s = s.Classify(
          ErrorKind::kTable, "tablePath",
          "table " + path + " is in use by another weft process (one writer per table; pick another tablePath)");
    } else if (!s.ok()) {
      s = s.Classify(ErrorKind::kTable, "tablePath", "cannot open table " + path + ": " + s.ToString());
    }
  } else {
    s = Table::OpenReader(path, &table_);
    if (!s.ok()) s = s.Classify(ErrorKind::kTable, "", "cannot read table " + path + ": " + s.ToString());
  }
  if (!s.ok()) ThrowStatus(env, s);
}

bool TableWrap::Usable(Napi::Env env, bool need_writer) {
  if (!table_) {
    ThrowKind(env, ErrorKind::kClosed, "table is closed");
    return false;
  }
  if (need_writer && !table_->writable()) {
    ThrowKind(env, ErrorKind::kTable, "table is open read-only");
    return false;
  }
  return true;
}

Napi::Value TableWrap::JsReattached(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), reattached_);
}

Napi::Value TableWrap::JsHeader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  const table::TableHeader& h = table_->header();
  Napi::Object o = Napi::Object::New(env);
  o.Set("layoutVersion", h.layout_version);
  o.Set("generation", Napi::Number::New(env, static_cast<double>(table_->Generation())));
  o.Set("entryCount", table_->EntryCount());
  o.Set("network", h.network);
  o.Set("networkPrefixLen", h.network_prefix_len);
  o.Set("subnetLen", h.subnet_len);
  o.Set("backend", h.backend);
  o.Set("directSlots", h.direct_slots);
  o.Set("overflowSlots", h.overflow_slots);
  o.Set("fileSize", Napi::Number::New(env, static_cast<double>(h.file_size)));
  o.Set("ownSubnet", h.own_subnet);
  o.Set("vni", h.vni);
  o.Set("port", h.port);
  o.Set("mtu", h.mtu);
  o.Set("ownMac", Napi::Buffer<uint8_t>::Copy(env, h.own_mac, 6));
  o.Set("device", Napi::String::New(env, std::string(h.device, strnlen(h.device, sizeof(h.device)))));
  o.Set("writerPid", h.writer_pid);
  o.Set("queues", h.queues);
  o.Set("offloads", Napi::Number::New(env, static_cast<double>(h.offloads)));
  o.Set("createdUnixMs", Napi::Number::New(env, static_cast<double>(h.created_unix_ms)));
  o.Set("network6", Napi::Buffer<uint8_t>::Copy(env, h.network6, 16));
  o.Set("network6PrefixLen", h.network6_prefix_len);
  o.Set("subnet6Len", h.subnet6_len);
  o.Set("direct6Slots", h.direct6_slots);
  o.Set("ownSubnet6", Napi::Buffer<uint8_t>::Copy(env, h.own_subnet6, 16));
  o.Set("ownMac6", Napi::Buffer<uint8_t>::Copy(env, h.own_mac6, 6));
  return o;
}

// setInfo6(ownSubnet6: Buffer(16), mac6: Buffer(6))
Napi::Value TableWrap::JsSetInfo6(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  if (!info[0].IsBuffer() || info[0].As<Napi::Buffer<uint8_t>>().Length() != 16 || !info[1].IsBuffer() ||
      info[1].As<Napi::Buffer<uint8_t>>().Length() != 6) {
    return ThrowType(env, "setInfo6(ownSubnet6: Buffer(16), mac6: Buffer(6))"), env.Undefined();
  }
  table_->SetInfo6(info[0].As<Napi::Buffer<uint8_t>>().Data(), info[1].As<Napi::Buffer<uint8_t>>().Data());
  return env.Undefined();
}

// setInfo(ownSubnet, vni, port, mtu, mac: Buffer(6), device)
Napi::Value TableWrap::JsSetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  Napi::Buffer<uint8_t> mac = info[4].As<Napi::Buffer<uint8_t>>();
  if (mac.Length() != 6) return ThrowType(env, "mac must be 6 bytes"), env.Undefined();
  const std::string device = info[5].As<Napi::String>();
  table_->SetInfo(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value(),
                  static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value()),
                  static_cast<uint16_t>(info[3].As<Napi::Number>().Uint32Value()), mac.Data(), device.c_str());
  return env.Undefined();
}

// set(subnet: number | Buffer(16), prefixLen, publicIp: Buffer(4|16), vtepMac: Buffer(6)|null, backend)
Napi::Value TableWrap::JsSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  table::EntryData e{};
  bool is6 = false;
  if (!AddressArg(env, info[0], &e.subnet, e.subnet6, &is6)) return env.Undefined();
  e.subnet_family = is6 ? 6 : 4;
  e.prefix_len = static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value());
  Napi::Buffer<uint8_t> ip = info[2].As<Napi::Buffer<uint8_t>>();
  if (ip.Length() != 4 && ip.Length() != 16) return ThrowType(env, "publicIp must be 4 or 16 bytes"), env.Undefined();
  e.family = ip.Length() == 4 ? 4 : 6;
  std::memcpy(e.public_ip, ip.Data(), ip.Length());
  if (info[3].IsBuffer()) {
    Napi::Buffer<uint8_t> mac = info[3].As<Napi::Buffer<uint8_t>>();
    if (mac.Length() != 6) return ThrowType(env, "vtepMac must be 6 bytes"), env.Undefined();
    std::memcpy(e.vtep_mac, mac.Data(), 6);
    e.has_mac = 1;
  }
  e.backend = static_cast<uint8_t>(info[4].As<Napi::Number>().Uint32Value());
  const Status s = table_->Set(e);
  if (!s.ok()) {
    ThrowStatus(env, s.Classify(s.err() == ENOSPC ? ErrorKind::kTableFull : ErrorKind::kTable, "",
                                "cannot set " + CidrText(e) + ": " + s.ToString()));
  }
  return env.Undefined();
}

Napi::Value TableWrap::JsDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  uint32_t ip4 = 0;
  uint8_t ip6[16];
  bool is6 = false;
  if (!AddressArg(env, info[0], &ip4, ip6, &is6)) return env.Undefined();
  const auto len = static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value());
  return Napi::Boolean::New(env, is6 ? table_->Delete6(ip6, len) : table_->Delete(ip4, len));
}

Napi::Value TableWrap::JsEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  table_->ForEach([&](const table::EntryData& e) { out.Set(i++, EntryToJs(env, e)); });
  return out;
}

Napi::Value TableWrap::JsLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  uint32_t ip4 = 0;
  uint8_t ip6[16];
  bool is6 = false;
  if (!AddressArg(env, info[0], &ip4, ip6, &is6)) return env.Undefined();
  table::EntryData e;
  if (!(is6 ? table_->Lookup6(ip6, &e) : table_->Lookup(ip4, &e))) return env.Null();
  return EntryToJs(env, e);
}

Napi::Value TableWrap::JsIsPeer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  uint32_t ip4 = 0;
  uint8_t ip6[16];
  bool is6 = false;
  if (!AddressArg(env, info[0], &ip4, ip6, &is6)) return env.Undefined();
  return Napi::Boolean::New(env, is6 ? table_->IsPeer6(ip6) : table_->IsPeer(ip4));
}

// counters(): { counters: {name: n}, drops: {name: n} }, summed over all blocks.
Napi::Value TableWrap::JsCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  Napi::Object counters = Napi::Object::New(env);
  for (uint32_t i = 0; i < kDropFirst; i++) {
    if (kCounterNames[i] != nullptr) {
      counters.Set(kCounterNames[i], Napi::Number::New(env, static_cast<double>(table_->CounterSum(i))));
    }
  }
  Napi::Object drops = Napi::Object::New(env);
  for (uint32_t i = kDropFirst; i < kDropLast; i++) {
    drops.Set(kDropNames[i - kDropFirst], Napi::Number::New(env, static_cast<double>(table_->CounterSum(i))));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("counters", counters);
  o.Set("drops", drops);
  return o;
}

Napi::Value TableWrap::JsClose(const Napi::CallbackInfo& info) {
  if (users_ > 0) {
    ThrowKind(info.Env(), ErrorKind::kTable, "table is in use by a running engine");
    return info.Env().Undefined();
  }
  if (table_) table_->Detach();
  table_.reset();
  return info.Env().Undefined();
}

}  // namespace weft::binding
