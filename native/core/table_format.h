// The lease-to-VTEP table: binary layout of the shared-memory file.
//
// This header is the one definition of the layout. The TypeScript side reads
// the constants below through the addon (`layout`) and refuses a file whose
// magic, version or sizes differ from what it was built for.
//
// File (a tmpfs file under /dev/shm, sparse: untouched pages cost nothing):
//
//   +--------------------+ 0
//   | TableHeader        |  immutable geometry + live generation/counters of state
//   +--------------------+ kHeaderSize (4 KiB)
//   | counter blocks     |  kCounterBlocks x kCounterCount x u64, two per worker (TUN->UDP, UDP->TUN)
//   +--------------------+ counters_offset + ...
//   | peer index         |  peer_slots x u64: (PublicIP << 32) | number of entries using it
//   +--------------------+
//   | overflow entries   |  kOverflowSlots x Entry: prefixes other than SubnetLen, or
//   |                    |  outside Network; scanned only while overflow_used > 0
//   +--------------------+
//   | direct entries     |  direct_slots x Entry, slot i = Network + i * 2^(32-SubnetLen)
//   +--------------------+
//   | IPv6 peer index    |  peer6_slots x Peer6 (32 B, seqlocked): PublicIPv6 + count
//   +--------------------+
//   | IPv6 direct entries|  direct6_slots x Entry, slot i = IPv6Network + i * 2^(128-IPv6SubnetLen)
//   +--------------------+ file_size
//
// Lookup of a destination in Network is one index computation and one
// 64-byte entry read: O(1), no lock, no syscall. flannel gives every lease
// the same SubnetLen, so the direct array is the whole table in practice.
// IPv6 (dual stack, when subnet6_len != 0) has only the direct array: every
// IPv6 lease is IPv6SubnetLen long and inside IPv6Network, as flannel hands
// them out, so Lookup6 is the same single read. Its peer index holds
// 16-byte addresses, too wide for one atomic word: each slot is a seqlock
// like an entry, with the same dead-slot and trimming rules as below.
//
// Concurrency: one writer (the control plane, holding an exclusive flock on
// the file), any number of readers (worker threads, other processes mapping
// the file read-only). Every entry is a seqlock: the writer makes `seq` odd,
// writes the words, makes it even again; a reader copies the words between
// two reads of `seq` and retries if they differ or are odd, so it never
// acts on a torn entry. A writer killed mid-update leaves an odd `seq`;
// readers give up after kSeqlockSpins and treat the entry as absent, and the
// next writer to attach repairs it. Peer-index words are single 64-bit
// atomics and need no seqlock (open addressing, linear probing). A slot whose
// count fell to 0 stays as a dead slot, reusable for another address, unless
// it ends its probe run (the next slot is empty): then it is emptied, and so
// are the dead slots before it. A run is therefore never split, and probe
// chains never break under a reader.
#pragma once

#include <cstddef>
#include <cstdint>

#include "counters.h"
#include "limits.h"

namespace weft::table {

inline constexpr uint64_t kMagic = 0x004c4254'54464557ull;  // "WEFTTBL\0" in file byte order
inline constexpr uint32_t kLayoutVersion = 2;
inline constexpr uint32_t kHeaderSize = 4096;
inline constexpr uint32_t kEntrySize = 64;
inline constexpr uint32_t kCounterBlocks = 2 * kMaxQueues;  // one per direction per worker queue
inline constexpr uint32_t kOverflowSlots = 1024;
inline constexpr uint32_t kMaxDirectBits = 20;  // up to 2^20 subnets in one Network
inline constexpr uint32_t kMinPeerSlots = 1024;
inline constexpr uint32_t kSeqlockSpins = 4096;
inline constexpr uint32_t kPeer6Size = 32;

enum Backend : uint8_t { kBackendNone = 0, kBackendUdp = 1, kBackendVxlan = 2, kBackendHostGw = 3 };

enum EntryState : uint8_t { kEmpty = 0, kValid = 1 };

// Immutable after creation unless noted "live". Live fields are accessed
// with atomics (std::atomic_ref) by both writer and readers.
struct TableHeader {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t header_size;
  uint32_t entry_size;
  uint32_t counter_count;  // u64 slots per counter block
  uint32_t counter_blocks;
  uint32_t peer_slots;  // power of two
  uint32_t overflow_slots;
  uint32_t direct_slots;  // 2^(subnet_len - network_prefix_len)
  uint64_t file_size;
  uint64_t counters_offset;
  uint64_t peers_offset;
  uint64_t overflow_offset;
  uint64_t direct_offset;
  // Geometry: a re-attaching writer keeps the entries only if these match.
  uint32_t network;  // host order
  uint8_t network_prefix_len;
  uint8_t subnet_len;
  uint8_t backend;  // Backend
  uint8_t reserved0;
  // IPv6 geometry (subnet6_len 0: no IPv6 part, no IPv6 slots).
  uint8_t network6[16];  // network order
  uint8_t network6_prefix_len;
  uint8_t subnet6_len;
  uint8_t reserved2[2];
  uint32_t direct6_slots;  // 2^(subnet6_len - network6_prefix_len), or 0
  uint32_t peer6_slots;    // power of two, or 0
  uint64_t peers6_offset;
  uint64_t direct6_offset;
  // What the data plane using this table was started with (informational,
  // rewritten by each writer that attaches).
  uint32_t own_subnet;  // host order
  uint32_t vni;
  uint16_t port;
  uint16_t mtu;
  uint8_t own_mac[6];
  uint8_t reserved1[2];
  char device[16];          // NUL-terminated interface name
  uint8_t own_subnet6[16];  // network order (dual stack)
  uint8_t own_mac6[6];      // the VtepMAC of IPv6 frames (BackendV6Data)
  uint8_t reserved3[2];
  // Live.
  uint64_t generation;     // bumped once per completed change
  uint32_t entry_count;    // valid entries
  uint32_t overflow_used;  // overflow slots in use (high-water mark)
  uint32_t writer_pid;     // 0 when no writer is attached
  uint32_t queues;         // running worker queues
  uint64_t offloads;       // bit set of negotiated offloads (engine)
  uint64_t created_unix_ms;
};
static_assert(sizeof(TableHeader) <= kHeaderSize);

// One table entry as the writer fills it and a reader gets it back.
struct EntryData {
  uint32_t subnet;  // host order, host bits zero
  uint8_t prefix_len;
  uint8_t state;          // EntryState
  uint8_t backend;        // Backend
  uint8_t family;         // 4 or 6: which part of public_ip is meaningful
  uint8_t public_ip[16];  // network byte order; IPv4 in the first 4 bytes
  uint8_t vtep_mac[6];
  uint8_t has_mac;
  uint8_t subnet_family;  // 4: the lease is `subnet`, 6: it is `subnet6` (same prefix_len)
  uint8_t subnet6[16];    // network order
  uint32_t reserved[3];
};
// In the file an entry is one 32-bit `seq` word followed by EntryData.
static_assert(sizeof(EntryData) + 4 == kEntrySize);
inline constexpr size_t kEntryWords = sizeof(EntryData) / 4;

// One IPv6 peer-index slot, read and written like an entry (a `seq` word
// first). count 0 with a non-zero address: a dead slot; all zero: empty.
struct Peer6Data {
  uint32_t count;
  uint8_t ip[16];
  uint32_t reserved[2];
};
static_assert(sizeof(Peer6Data) + 4 == kPeer6Size);

struct GeometryParams {
  uint32_t network;
  uint8_t network_prefix_len;
  uint8_t subnet_len;
  uint8_t backend;
  uint8_t network6[16];  // network order; with subnet6_len 0 there is no IPv6 part
  uint8_t network6_prefix_len;
  uint8_t subnet6_len;
};

}  // namespace weft::table
