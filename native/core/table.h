// The shared-memory lease-to-VTEP table: creation, attachment, reads, writes.
// Layout and concurrency protocol: table_format.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "status.h"
#include "table_format.h"

namespace weft {

class Table {
 public:
  // Opens `path` as the single writer: creates it (and missing parent
  // directories) or attaches to an existing file. The entries of an existing
  // file are kept when its layout and geometry match `geo`; otherwise the
  // file is re-initialised. Fails with EWOULDBLOCK when another writer holds it.
  static Status OpenWriter(const std::string& path, const table::GeometryParams& geo, std::unique_ptr<Table>* out,
                           bool* reattached);
  // Maps an existing table read-only (another process's table).
  static Status OpenReader(const std::string& path, std::unique_ptr<Table>* out);

  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  bool writable() const { return writable_; }
  const table::TableHeader& header() const { return *header_; }
  // Writer only: informational fields of the header.
  void SetInfo(uint32_t own_subnet, uint32_t vni, uint16_t port, uint16_t mtu, const uint8_t mac[6],
               const char* device);
  // Writer only: the IPv6 part of the same (dual stack).
  void SetInfo6(const uint8_t own_subnet6[16], const uint8_t mac6[6]);
  // True when the table has an IPv6 part (IPv6Network given at creation).
  bool has_ipv6() const { return subnet6_len_ != 0; }

  // --- readers (any thread, any process) ---

  // Longest-prefix match for `dst` (host order). Lock-free; false when no
  // entry covers it.
  bool Lookup(uint32_t dst, table::EntryData* out) const;
  // True when `ip` (host order) is the IPv4 PublicIP of at least one entry.
  bool IsPeer(uint32_t ip) const;
  // The IPv6 lease covering `dst` (16 bytes, network order): one read, no
  // lock; false when none does or the table has no IPv6 part.
  bool Lookup6(const uint8_t dst[16], table::EntryData* out) const;
  // True when `ip` (16 bytes) is the IPv6 public address of at least one entry.
  bool IsPeer6(const uint8_t ip[16]) const;
  // Calls `fn` for every valid entry (consistent per entry, not as a set).
  void ForEach(const std::function<void(const table::EntryData&)>& fn) const;
  uint64_t Generation() const;
  uint32_t EntryCount() const;
  // Sum of counter `index` over all blocks.
  uint64_t CounterSum(uint32_t index) const;
  // A worker's own counter block (kCounterCount slots).
  uint64_t* CounterBlock(uint32_t block) const;

  // --- writer (one thread) ---

  // Inserts or replaces the entry for (subnet, prefix_len), or for (subnet6,
  // prefix_len) when subnet_family is 6. EINVAL for a malformed entry (an
  // IPv6 lease must be IPv6SubnetLen long and inside IPv6Network), ENOSPC
  // when the overflow area is full.
  Status Set(const table::EntryData& entry);
  // Removes the entry; false when there was none.
  bool Delete(uint32_t subnet, uint8_t prefix_len);
  bool Delete6(const uint8_t subnet6[16], uint8_t prefix_len);
  void SetQueues(uint32_t queues);
  void SetOffloads(uint64_t offloads);
  // Any thread: an offload turned itself off at run time (one atomic RMW).
  void ClearOffloadBits(uint64_t bits) const;
  // Marks the file as having no writer (close()).
  void Detach();

  const std::string& path() const { return path_; }

 private:
  Table() = default;
  Status Map(int fd, size_t size, bool writable);
  void CacheGeometry();
  void Repair();
  uint32_t* EntryAt(size_t offset, uint32_t index) const;
  // Returns the slot for (subnet, len): direct, or overflow (existing or free).
  uint32_t* SlotFor(uint32_t subnet, uint8_t prefix_len, bool allocate, bool* is_overflow) const;
  void PeerRef(const table::EntryData& e, int delta);
  void TrimDeadPeers(uint64_t* words, uint32_t i);
  // The IPv6 peer index: the same protocol over seqlocked 32-byte slots.
  uint32_t* Peer6At(uint32_t i) const;
  void Peer6Ref(const uint8_t ip[16], int delta);
  void TrimDeadPeers6(uint32_t i);
  // The IPv6 direct slot of `addr`, or null when it is outside IPv6Network.
  uint32_t* Slot6(const uint8_t addr[16]) const;
  // Writes `e` into `slot` (or empties it: `e` null) with its peer references and counts.
  void Replace(uint32_t* slot, const table::EntryData* e);
  void Publish();

  std::string path_;
  int fd_ = -1;
  bool writable_ = false;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  table::TableHeader* header_ = nullptr;
  // Cached geometry (immutable while mapped).
  uint32_t network_ = 0;
  uint32_t network_mask_ = 0;
  uint32_t subnet_shift_ = 0;
  uint8_t subnet_len_ = 0;
  uint32_t peer_mask_ = 0;
  unsigned __int128 network6_ = 0;
  unsigned __int128 network6_mask_ = 0;
  uint8_t subnet6_len_ = 0;
  uint32_t peer6_mask_ = 0;
};

// Reads one entry through its seqlock. False when it is empty or stayed
// locked (a writer died mid-update).
bool ReadEntry(const uint32_t* slot, table::EntryData* out);

}  // namespace weft
