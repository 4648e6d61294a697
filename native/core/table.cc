#include "table.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "packet.h"

namespace weft {

using table::EntryData;
using table::TableHeader;

namespace {

template <typename T>
std::atomic_ref<T> Atomic(const T& v) {
  return std::atomic_ref<T>(const_cast<T&>(v));
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

uint32_t MaskOf(uint8_t len) { return PrefixMask(len); }

using U128 = unsigned __int128;

U128 Load128(const uint8_t* p) {
  U128 v = 0;
  for (int i = 0; i < 16; i++) v = (v << 8) | p[i];
  return v;
}

U128 Mask128(uint8_t len) { return len == 0 ? 0 : ~U128{0} << (128 - len); }

// The geometry limits shared by a new table and a header read from a file.
bool GeometryOk(const table::GeometryParams& g) {
  if (g.subnet_len > 32 || g.network_prefix_len > g.subnet_len ||
      static_cast<uint32_t>(g.subnet_len - g.network_prefix_len) > table::kMaxDirectBits) {
    return false;
  }
  if (g.subnet6_len == 0) return true;
  return g.subnet6_len <= 128 && g.network6_prefix_len <= g.subnet6_len &&
         static_cast<uint32_t>(g.subnet6_len - g.network6_prefix_len) <= table::kMaxDirectBits &&
         (Load128(g.network6) & ~Mask128(g.network6_prefix_len)) == 0;
}

table::GeometryParams GeometryOf(const TableHeader& h) {
  table::GeometryParams g{};
  g.network = h.network;
  g.network_prefix_len = h.network_prefix_len;
  g.subnet_len = h.subnet_len;
  g.backend = h.backend;
  std::memcpy(g.network6, h.network6, 16);
  g.network6_prefix_len = h.network6_prefix_len;
  g.subnet6_len = h.subnet6_len;
  return g;
}

uint32_t NextPow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// The full geometry of a table file for `geo`.
TableHeader Layout(const table::GeometryParams& geo) {
  TableHeader h{};
  h.magic = table::kMagic;
  h.layout_version = table::kLayoutVersion;
  h.header_size = table::kHeaderSize;
  h.entry_size = table::kEntrySize;
  h.counter_count = kCounterCount;
  h.counter_blocks = table::kCounterBlocks;
  h.overflow_slots = table::kOverflowSlots;
  h.direct_slots = 1u << (geo.subnet_len - geo.network_prefix_len);
  h.peer_slots = NextPow2(std::max<uint32_t>(table::kMinPeerSlots, 2 * (h.direct_slots + h.overflow_slots)));
  h.counters_offset = table::kHeaderSize;
  h.peers_offset = h.counters_offset + uint64_t{h.counter_blocks} * h.counter_count * 8;
  h.overflow_offset = h.peers_offset + uint64_t{h.peer_slots} * 8;
  h.direct_offset = h.overflow_offset + uint64_t{h.overflow_slots} * table::kEntrySize;
  uint64_t end = h.direct_offset + uint64_t{h.direct_slots} * table::kEntrySize;
  if (geo.subnet6_len != 0) {
    std::memcpy(h.network6, geo.network6, 16);
    h.network6_prefix_len = geo.network6_prefix_len;
    h.subnet6_len = geo.subnet6_len;
    h.direct6_slots = 1u << (geo.subnet6_len - geo.network6_prefix_len);
    h.peer6_slots = NextPow2(std::max<uint32_t>(table::kMinPeerSlots, 2 * h.direct6_slots));
    h.peers6_offset = end;
    h.direct6_offset = h.peers6_offset + uint64_t{h.peer6_slots} * table::kPeer6Size;
    end = h.direct6_offset + uint64_t{h.direct6_slots} * table::kEntrySize;
  }
  h.file_size = (end + 4095) & ~uint64_t{4095};
  h.network = geo.network;
  h.network_prefix_len = geo.network_prefix_len;
  h.subnet_len = geo.subnet_len;
  h.backend = geo.backend;
  return h;
}

// Same layout version, sizes and geometry: the entries in the file are ours.
bool Compatible(const TableHeader& a, const TableHeader& b) {
  return a.magic == b.magic && a.layout_version == b.layout_version && a.header_size == b.header_size &&
         a.entry_size == b.entry_size && a.counter_count == b.counter_count && a.counter_blocks == b.counter_blocks &&
         a.peer_slots == b.peer_slots && a.overflow_slots == b.overflow_slots && a.direct_slots == b.direct_slots &&
         a.file_size == b.file_size && a.network == b.network && a.network_prefix_len == b.network_prefix_len &&
         a.subnet_len == b.subnet_len && a.backend == b.backend && std::memcmp(a.network6, b.network6, 16) == 0 &&
         a.network6_prefix_len == b.network6_prefix_len && a.subnet6_len == b.subnet6_len &&
         a.direct6_slots == b.direct6_slots && a.peer6_slots == b.peer6_slots && a.peers6_offset == b.peers6_offset &&
         a.direct6_offset == b.direct6_offset;
}

// Checks a header read from a file before mapping it.
Status ValidateHeader(const TableHeader& h, uint64_t file_size) {
  if (h.magic != table::kMagic) return Status::Errno(EPROTO, "read", "not a weft table (bad magic)");
  if (h.layout_version != table::kLayoutVersion || h.header_size != table::kHeaderSize ||
      h.entry_size != table::kEntrySize || h.counter_count != kCounterCount ||
      h.counter_blocks != table::kCounterBlocks) {
    return Status::Errno(EPROTO, "read",
                         "table layout version " + std::to_string(h.layout_version) +
                             " does not match this build's version " + std::to_string(table::kLayoutVersion));
  }
  const table::GeometryParams geo = GeometryOf(h);
  if (!GeometryOk(geo)) return Status::Errno(EPROTO, "read", "table header has an impossible geometry");
  const TableHeader expect = Layout(geo);
  if (!Compatible(h, expect) || file_size < h.file_size) {
    return Status::Errno(EPROTO, "read", "table file is truncated or its sizes are inconsistent");
  }
  return Status::Ok();
}

Status MakeParents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    const std::string dir = path.substr(0, pos);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno("mkdir", "cannot create directory " + dir);
    }
  }
  return Status::Ok();
}

// Who may have written this file: the table decides where pod traffic goes,
// so a file (or its directory) another user owns or can write is refused —
// an unprivileged user could plant one at the predictable path beforehand.
// A sticky world-writable directory (/dev/shm, /tmp) is fine: others can add
// names there but not replace ours. Checked on the open fd (no TOCTOU).
Status CheckTrusted(int fd, const std::string& what, bool dir) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Status::FromErrno("fstat", "cannot stat " + what);
  const uid_t me = geteuid();
  if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    return Status::Errno(EPERM, "open", what + " is not a " + (dir ? "directory" : "regular file") + ": refused");
  }
  if (st.st_uid != 0 && st.st_uid != me) {
    return Status::Errno(EPERM, "open",
                         what + " is owned by uid " + std::to_string(st.st_uid) + ", not root or uid " +
                             std::to_string(me) + ": refused (another user could rewrite it)");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !(dir && (st.st_mode & S_ISVTX) != 0)) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Errno(EPERM, "open", what + " is writable by group or others (mode " + mode + "): refused");
  }
  return Status::Ok();
}

Status CheckParent(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno("open", "cannot open directory " + dir + " of table " + path);
  Status s = CheckTrusted(dfd, "directory " + dir + " of table " + path, true);
  close(dfd);
  return s;
}

// The seqlock over `slot`: a `seq` word, then T's words.
template <typename T>
void SeqWrite(uint32_t* slot, const T& data) {
  constexpr size_t kWords = sizeof(T) / 4;
  uint32_t words[kWords];
  std::memcpy(words, &data, sizeof(words));
  const uint32_t seq = Atomic(slot[0]).load(std::memory_order_relaxed);
  Atomic(slot[0]).store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i < kWords; i++) Atomic(slot[1 + i]).store(words[i], std::memory_order_relaxed);
  Atomic(slot[0]).store(seq + 2, std::memory_order_release);
}

// False when the slot stayed locked for kSeqlockSpins (its writer died).
template <typename T>
bool SeqRead(const uint32_t* slot, T* out) {
  constexpr size_t kWords = sizeof(T) / 4;
  for (uint32_t spin = 0; spin < table::kSeqlockSpins; spin++) {
    const uint32_t s1 = Atomic(slot[0]).load(std::memory_order_acquire);
    if (s1 & 1) {
      CpuRelax();
      continue;
    }
    uint32_t words[kWords];
    for (size_t i = 0; i < kWords; i++) words[i] = Atomic(slot[1 + i]).load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (Atomic(slot[0]).load(std::memory_order_relaxed) == s1) {
      std::memcpy(out, words, sizeof(words));
      return true;
    }
  }
  return false;
}

void WriteEntry(uint32_t* slot, const EntryData& e) { SeqWrite(slot, e); }

uint32_t PeerHash(uint32_t ip) { return ip * 0x9e3779b1u; }

uint32_t Peer6Hash(const uint8_t ip[16]) {
  uint32_t h = 0;
  for (int i = 0; i < 16; i += 4) h = (h ^ Load32(ip + i)) * 0x9e3779b1u;
  return h ^ (h >> 16);
}

bool IsZero16(const uint8_t* p) {
  static const uint8_t kZero[16] = {};
  return std::memcmp(p, kZero, 16) == 0;
}

}  // namespace

bool ReadEntry(const uint32_t* slot, EntryData* out) { return SeqRead(slot, out) && out->state == table::kValid; }

Status Table::Map(int fd, size_t size, bool writable) {
  void* p = mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::FromErrno("mmap", "cannot map table " + path_);
  fd_ = fd;
  base_ = static_cast<uint8_t*>(p);
  size_ = size;
  writable_ = writable;
  header_ = reinterpret_cast<TableHeader*>(base_);
  CacheGeometry();
  return Status::Ok();
}

void Table::CacheGeometry() {
  network_ = header_->network;
  network_mask_ = MaskOf(header_->network_prefix_len);
  subnet_len_ = header_->subnet_len;
  subnet_shift_ = 32 - header_->subnet_len;
  peer_mask_ = header_->peer_slots - 1;
  subnet6_len_ = header_->subnet6_len;
  network6_ = Load128(header_->network6);
  network6_mask_ = Mask128(header_->network6_prefix_len);
  peer6_mask_ = header_->peer6_slots == 0 ? 0 : header_->peer6_slots - 1;
}

Status Table::OpenWriter(const std::string& path, const table::GeometryParams& geo, std::unique_ptr<Table>* out,
                         bool* reattached) {
  if (!GeometryOk(geo)) return Status::Errno(EINVAL, "open", "table geometry out of range");
  std::unique_ptr<Table> t(new Table());
  t->path_ = path;
  Status s = MakeParents(path);
  if (!s.ok()) return s;
  s = CheckParent(path);
  if (!s.ok()) return s;
  const TableHeader want = Layout(geo);

  // Attach to an existing compatible file, keeping its entries.
  int fd = open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ELOOP) return Status::Errno(EPERM, "open", "table " + path + " is a symbolic link: refused");
  if (fd >= 0) {
    s = CheckTrusted(fd, "table " + path, false);
    if (!s.ok()) {
      close(fd);
      return s;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      s = Status::FromErrno("flock", "table " + path + " is held by another writer");
      close(fd);
      return s;
    }
    TableHeader have{};
    struct stat st {};
    if (fstat(fd, &st) == 0 && pread(fd, &have, sizeof(have), 0) == sizeof(have) &&
        ValidateHeader(have, static_cast<uint64_t>(st.st_size)).ok() && Compatible(have, want)) {
      s = t->Map(fd, have.file_size, true);
      if (!s.ok()) {
        close(fd);
        return s;
      }
      t->Repair();
      Atomic(t->header_->writer_pid).store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
      *reattached = true;
      *out = std::move(t);
      return Status::Ok();
    }
    close(fd);  // incompatible: replaced below; its readers keep the old inode
  } else if (errno != ENOENT) {
    return Status::FromErrno("open", "cannot open table " + path);
  }

  // Build a fresh file beside it and rename it into place, so that no reader
  // ever maps a half-initialised header.
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  unlink(tmp.c_str());  // a stale one of ours (same pid); never opened through a link
  fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open", "cannot create table " + tmp);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0 || ftruncate(fd, static_cast<off_t>(want.file_size)) != 0) {
    s = Status::FromErrno("ftruncate", "cannot size table " + tmp);
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  s = t->Map(fd, want.file_size, true);
  if (!s.ok()) {
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  std::memcpy(t->header_, &want, sizeof(want));
  t->CacheGeometry();
  t->header_->writer_pid = static_cast<uint32_t>(getpid());
  t->header_->created_unix_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::FromErrno("rename", "cannot install table " + path);
    unlink(tmp.c_str());
    return s;  // ~Table unmaps and closes
  }
  *reattached = false;
  *out = std::move(t);
  return Status::Ok();
}

Status Table::OpenReader(const std::string& path, std::unique_ptr<Table>* out) {
  std::unique_ptr<Table> t(new Table());
  t->path_ = path;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open", "cannot open table " + path);
  TableHeader h{};
  struct stat st {};
  Status s;
  if (fstat(fd, &st) != 0 || pread(fd, &h, sizeof(h), 0) != sizeof(h)) {
    s = Status::Errno(EPROTO, "read", "table " + path + " is too short to be a weft table");
  } else {
    s = ValidateHeader(h, static_cast<uint64_t>(st.st_size));
  }
  if (s.ok()) s = t->Map(fd, h.file_size, false);
  if (!s.ok()) {
    close(fd);
    return s;
  }
  *out = std::move(t);
  return Status::Ok();
}

Table::~Table() {
  if (base_ != nullptr) munmap(base_, size_);
  if (fd_ >= 0) close(fd_);  // releases the writer's flock
}

void Table::SetInfo(uint32_t own_subnet, uint32_t vni, uint16_t port, uint16_t mtu, const uint8_t mac[6],
                    const char* device) {
  header_->own_subnet = own_subnet;
  header_->vni = vni;
  header_->port = port;
  header_->mtu = mtu;
  std::memcpy(header_->own_mac, mac, 6);
  std::memset(header_->device, 0, sizeof(header_->device));
  std::strncpy(header_->device, device, sizeof(header_->device) - 1);
  Publish();
}

void Table::SetInfo6(const uint8_t own_subnet6[16], const uint8_t mac6[6]) {
  std::memcpy(header_->own_subnet6, own_subnet6, 16);
  std::memcpy(header_->own_mac6, mac6, 6);
  Publish();
}

uint32_t* Table::EntryAt(size_t offset, uint32_t index) const {
  return reinterpret_cast<uint32_t*>(base_ + offset + size_t{index} * table::kEntrySize);
}

bool Table::Lookup(uint32_t dst, EntryData* out) const {
  bool found = false;
  if ((dst & network_mask_) == network_) {
    const uint32_t index = subnet_shift_ == 32 ? 0 : (dst - network_) >> subnet_shift_;
    found = ReadEntry(EntryAt(header_->direct_offset, index), out);
  }
  const uint32_t used = Atomic(header_->overflow_used).load(std::memory_order_acquire);
  for (uint32_t i = 0; i < used; i++) {
    EntryData e;
    if (ReadEntry(EntryAt(header_->overflow_offset, i), &e) && (dst & MaskOf(e.prefix_len)) == e.subnet &&
        (!found || e.prefix_len > out->prefix_len)) {
      *out = e;
      found = true;
    }
  }
  return found;
}

bool Table::IsPeer(uint32_t ip) const {
  const uint64_t* words = reinterpret_cast<const uint64_t*>(base_ + header_->peers_offset);
  uint32_t i = PeerHash(ip) & peer_mask_;
  for (uint32_t n = 0; n <= peer_mask_; n++, i = (i + 1) & peer_mask_) {
    const uint64_t w = Atomic(words[i]).load(std::memory_order_acquire);
    if (w == 0) return false;
    if (static_cast<uint32_t>(w >> 32) == ip) return static_cast<uint32_t>(w) > 0;
  }
  return false;
}

uint32_t* Table::Slot6(const uint8_t addr[16]) const {
  if (subnet6_len_ == 0) return nullptr;
  const U128 a = Load128(addr);
  if ((a & network6_mask_) != network6_) return nullptr;
  const U128 offset = a - network6_;
  const uint32_t index = static_cast<uint32_t>(subnet6_len_ == 128 ? offset : offset >> (128 - subnet6_len_));
  return EntryAt(header_->direct6_offset, index);
}

bool Table::Lookup6(const uint8_t dst[16], EntryData* out) const {
  const uint32_t* slot = Slot6(dst);
  return slot != nullptr && ReadEntry(slot, out) && out->subnet_family == 6;
}

uint32_t* Table::Peer6At(uint32_t i) const {
  return reinterpret_cast<uint32_t*>(base_ + header_->peers6_offset + size_t{i} * table::kPeer6Size);
}

bool Table::IsPeer6(const uint8_t ip[16]) const {
  if (header_->peer6_slots == 0) return false;
  uint32_t i = Peer6Hash(ip) & peer6_mask_;
  for (uint32_t n = 0; n <= peer6_mask_; n++, i = (i + 1) & peer6_mask_) {
    table::Peer6Data p;
    if (!SeqRead(Peer6At(i), &p)) return false;  // its writer died mid-update: not a peer
    if (p.count == 0 && IsZero16(p.ip)) return false;
    if (std::memcmp(p.ip, ip, 16) == 0) return p.count > 0;
  }
  return false;
}

void Table::ForEach(const std::function<void(const EntryData&)>& fn) const {
  EntryData e;
  const uint32_t used = Atomic(header_->overflow_used).load(std::memory_order_acquire);
  for (uint32_t i = 0; i < used; i++) {
    if (ReadEntry(EntryAt(header_->overflow_offset, i), &e)) fn(e);
  }
  for (uint32_t i = 0; i < header_->direct_slots; i++) {
    if (ReadEntry(EntryAt(header_->direct_offset, i), &e)) fn(e);
  }
  for (uint32_t i = 0; i < header_->direct6_slots; i++) {
    if (ReadEntry(EntryAt(header_->direct6_offset, i), &e)) fn(e);
  }
}

uint64_t Table::Generation() const { return Atomic(header_->generation).load(std::memory_order_acquire); }
uint32_t Table::EntryCount() const { return Atomic(header_->entry_count).load(std::memory_order_relaxed); }

uint64_t* Table::CounterBlock(uint32_t block) const {
  return reinterpret_cast<uint64_t*>(base_ + header_->counters_offset + size_t{block} * kCounterCount * 8);
}

uint64_t Table::CounterSum(uint32_t index) const {
  uint64_t sum = 0;
  for (uint32_t b = 0; b < header_->counter_blocks; b++) {
    sum += Atomic(CounterBlock(b)[index]).load(std::memory_order_relaxed);
  }
  return sum;
}

uint32_t* Table::SlotFor(uint32_t subnet, uint8_t prefix_len, bool allocate, bool* is_overflow) const {
  if (prefix_len == subnet_len_ && (subnet & network_mask_) == network_) {
    *is_overflow = false;
    return EntryAt(header_->direct_offset, subnet_shift_ == 32 ? 0 : (subnet - network_) >> subnet_shift_);
  }
  *is_overflow = true;
  uint32_t* free_slot = nullptr;
  for (uint32_t i = 0; i < header_->overflow_slots; i++) {
    uint32_t* slot = EntryAt(header_->overflow_offset, i);
    EntryData e;
    if (ReadEntry(slot, &e)) {
      if (e.subnet == subnet && e.prefix_len == prefix_len) return slot;
    } else if (free_slot == nullptr) {
      free_slot = slot;
    }
  }
  return allocate ? free_slot : nullptr;
}

void Table::PeerRef(const EntryData& e, int delta) {
  if (e.family == 6) {
    if (header_->peer6_slots != 0) Peer6Ref(e.public_ip, delta);
    return;
  }
  if (e.family != 4) return;
  const uint32_t ip = Load32(e.public_ip);
  uint64_t* words = reinterpret_cast<uint64_t*>(base_ + header_->peers_offset);
  uint32_t i = PeerHash(ip) & peer_mask_;
  int64_t reusable = -1;
  for (uint32_t n = 0; n <= peer_mask_; n++, i = (i + 1) & peer_mask_) {
    const uint64_t w = Atomic(words[i]).load(std::memory_order_relaxed);
    if (w != 0 && static_cast<uint32_t>(w >> 32) == ip) {
      const uint32_t count = static_cast<uint32_t>(static_cast<int64_t>(static_cast<uint32_t>(w)) + delta);
      Atomic(words[i]).store((uint64_t{ip} << 32) | count, std::memory_order_release);
      if (count == 0) TrimDeadPeers(words, i);
      return;
    }
    if (w == 0) break;
    if (static_cast<uint32_t>(w) == 0 && reusable < 0) reusable = i;
  }
  if (delta <= 0) return;
  // Not present: take a slot whose count fell to 0, else the empty one that
  // ended the probe. There is always room: peer_slots >= 2 x entry slots.
  const uint32_t slot = reusable >= 0 ? static_cast<uint32_t>(reusable) : i;
  Atomic(words[slot]).store((uint64_t{ip} << 32) | static_cast<uint32_t>(delta), std::memory_order_release);
}

// Empties dead slots (count 0) at the end of a probe run, starting at `i`
// and walking back. Without this, every PublicIP ever used stays as a dead
// slot: after enough peer churn no slot is empty, and every IsPeer miss and
// every new peer walks the whole index. Safe under lock-free readers: a slot
// is emptied only while the slot after it is empty, so it is the end of its
// run and no live address's probe chain (hash .. position, all non-empty)
// passes through it; runs are never split.
void Table::TrimDeadPeers(uint64_t* words, uint32_t i) {
  for (uint32_t n = 0; n <= peer_mask_; n++, i = (i - 1) & peer_mask_) {
    const uint64_t w = Atomic(words[i]).load(std::memory_order_relaxed);
    if (w == 0 || static_cast<uint32_t>(w) != 0) return;
    if (Atomic(words[(i + 1) & peer_mask_]).load(std::memory_order_relaxed) != 0) return;
    Atomic(words[i]).store(0, std::memory_order_release);
  }
}

// The IPv6 twin of PeerRef, over seqlocked slots (one writer: it reads
// them directly).
void Table::Peer6Ref(const uint8_t ip[16], int delta) {
  uint32_t i = Peer6Hash(ip) & peer6_mask_;
  int64_t reusable = -1;
  table::Peer6Data p;
  for (uint32_t n = 0; n <= peer6_mask_; n++, i = (i + 1) & peer6_mask_) {
    std::memcpy(&p, Peer6At(i) + 1, sizeof(p));
    const bool empty = p.count == 0 && IsZero16(p.ip);
    if (!empty && std::memcmp(p.ip, ip, 16) == 0) {
      p.count = static_cast<uint32_t>(static_cast<int64_t>(p.count) + delta);
      SeqWrite(Peer6At(i), p);
      if (p.count == 0) TrimDeadPeers6(i);
      return;
    }
    if (empty) break;
    if (p.count == 0 && reusable < 0) reusable = i;
  }
  if (delta <= 0) return;
  p = table::Peer6Data{};
  p.count = static_cast<uint32_t>(delta);
  std::memcpy(p.ip, ip, 16);
  SeqWrite(Peer6At(reusable >= 0 ? static_cast<uint32_t>(reusable) : i), p);
}

// TrimDeadPeers for the IPv6 index: the same end-of-run rule.
void Table::TrimDeadPeers6(uint32_t i) {
  table::Peer6Data p;
  table::Peer6Data next;
  for (uint32_t n = 0; n <= peer6_mask_; n++, i = (i - 1) & peer6_mask_) {
    std::memcpy(&p, Peer6At(i) + 1, sizeof(p));
    if (p.count != 0 || IsZero16(p.ip)) return;
    std::memcpy(&next, Peer6At((i + 1) & peer6_mask_) + 1, sizeof(next));
    if (next.count != 0 || !IsZero16(next.ip)) return;
    SeqWrite(Peer6At(i), table::Peer6Data{});
  }
}

void Table::Publish() { Atomic(header_->generation).fetch_add(1, std::memory_order_release); }

Status Table::Set(const EntryData& in) {
  if (in.family != 4 && in.family != 6) return Status::Errno(EINVAL, "set", "public IP family must be 4 or 6");
  if (in.family == 4 && Load32(in.public_ip) == 0) return Status::Errno(EINVAL, "set", "public IP is 0.0.0.0");
  if (in.family == 6 && IsZero16(in.public_ip)) return Status::Errno(EINVAL, "set", "public IP is ::");
  EntryData e = in;
  e.state = table::kValid;
  if (in.subnet_family == 6) {
    if (!has_ipv6()) return Status::Errno(EINVAL, "set", "an IPv6 lease in a table without an IPv6 network");
    uint32_t* slot = in.prefix_len == subnet6_len_ ? Slot6(in.subnet6) : nullptr;
    if (slot == nullptr || (Load128(in.subnet6) & ~Mask128(in.prefix_len)) != 0) {
      return Status::Errno(EINVAL, "set",
                           "an IPv6 lease must be a /" + std::to_string(subnet6_len_) +
                               " without host bits inside the table's IPv6 network");
    }
    e.subnet = 0;
    Replace(slot, &e);
    Publish();
    return Status::Ok();
  }
  if (in.subnet_family != 0 && in.subnet_family != 4)
    return Status::Errno(EINVAL, "set", "subnet family must be 4 or 6");
  if (in.prefix_len > 32 || (in.subnet & ~MaskOf(in.prefix_len)) != 0) {
    return Status::Errno(EINVAL, "set", "subnet has host bits set or prefix length > 32");
  }
  e.subnet_family = 4;
  std::memset(e.subnet6, 0, sizeof(e.subnet6));
  bool overflow = false;
  uint32_t* slot = SlotFor(in.subnet, in.prefix_len, true, &overflow);
  if (slot == nullptr) return Status::Errno(ENOSPC, "set", "no room left for entries of other prefix lengths");
  Replace(slot, &e);
  if (overflow) {
    const uint32_t index = static_cast<uint32_t>(
        (reinterpret_cast<uint8_t*>(slot) - (base_ + header_->overflow_offset)) / table::kEntrySize);
    if (index + 1 > header_->overflow_used) {
      Atomic(header_->overflow_used).store(index + 1, std::memory_order_release);
    }
  }
  Publish();
  return Status::Ok();
}

void Table::Replace(uint32_t* slot, const EntryData* e) {
  EntryData old;
  const bool existed = ReadEntry(slot, &old);
  WriteEntry(slot, e != nullptr ? *e : EntryData{});
  if (e != nullptr) PeerRef(*e, +1);  // the new reference first: a kept peer never reads 0
  if (existed) PeerRef(old, -1);
  if (existed != (e != nullptr)) {
    if (e != nullptr) {
      Atomic(header_->entry_count).fetch_add(1, std::memory_order_relaxed);
    } else {
      Atomic(header_->entry_count).fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

bool Table::Delete(uint32_t subnet, uint8_t prefix_len) {
  bool overflow = false;
  uint32_t* slot = SlotFor(subnet, prefix_len, false, &overflow);
  EntryData old;
  if (slot == nullptr || !ReadEntry(slot, &old)) return false;
  Replace(slot, nullptr);
  Publish();
  return true;
}

bool Table::Delete6(const uint8_t subnet6[16], uint8_t prefix_len) {
  uint32_t* slot = prefix_len == subnet6_len_ ? Slot6(subnet6) : nullptr;
  EntryData old;
  if (slot == nullptr || !ReadEntry(slot, &old) || std::memcmp(old.subnet6, subnet6, 16) != 0) return false;
  Replace(slot, nullptr);
  Publish();
  return true;
}

void Table::SetQueues(uint32_t queues) { Atomic(header_->queues).store(queues, std::memory_order_relaxed); }
void Table::SetOffloads(uint64_t offloads) {
  Atomic(header_->offloads).store(offloads, std::memory_order_relaxed);
  Publish();
}

void Table::ClearOffloadBits(uint64_t bits) const {
  if (!writable_) return;
  Atomic(header_->offloads).fetch_and(~bits, std::memory_order_relaxed);
}

void Table::Detach() {
  if (!writable_) return;
  Atomic(header_->writer_pid).store(0, std::memory_order_relaxed);
  Atomic(header_->queues).store(0, std::memory_order_relaxed);
}

// After a writer died: unlock entries it left mid-update (their contents are
// unknown, so they are dropped), and rebuild the derived state.
void Table::Repair() {
  uint32_t count = 0;
  uint32_t overflow_used = 0;
  uint64_t* peers = reinterpret_cast<uint64_t*>(base_ + header_->peers_offset);
  std::memset(peers, 0, size_t{header_->peer_slots} * 8);
  if (header_->peer6_slots != 0)
    std::memset(base_ + header_->peers6_offset, 0, size_t{header_->peer6_slots} * table::kPeer6Size);
  auto fix = [&](uint32_t* slot) -> bool {
    uint32_t seq = Atomic(slot[0]).load(std::memory_order_relaxed);
    if (seq & 1) {
      EntryData empty{};
      Atomic(slot[0]).store(seq + 1, std::memory_order_relaxed);
      WriteEntry(slot, empty);
    }
    EntryData e;
    if (!ReadEntry(slot, &e)) return false;
    PeerRef(e, +1);
    count++;
    return true;
  };
  for (uint32_t i = 0; i < header_->overflow_slots; i++) {
    if (fix(EntryAt(header_->overflow_offset, i))) overflow_used = i + 1;
  }
  for (uint32_t i = 0; i < header_->direct_slots; i++) fix(EntryAt(header_->direct_offset, i));
  for (uint32_t i = 0; i < header_->direct6_slots; i++) fix(EntryAt(header_->direct6_offset, i));
  Atomic(header_->entry_count).store(count, std::memory_order_relaxed);
  Atomic(header_->overflow_used).store(overflow_used, std::memory_order_release);
  Publish();
}

}  // namespace weft
