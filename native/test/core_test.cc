// Standalone tests of native/core (no Node, no N-API): checksum, TTL
// decrement, the codecs, and the shared-memory table under real concurrency.
//
//   core_test                  runs every test; prints "core_test: PASS ..." and exits 0,
//                              or prints each failed check and exits 1
//   core_test --reader PATH    torture reader for test/native/table.test.ts: looks up
//                              random destinations in PATH (mapped read-only) until
//                              SIGTERM, checks the torture invariant (below) of every
//                              entry it gets back, then prints one JSON line of counts
//
// Torture invariant (shared with test/native/table-writer.ts): an entry
// written with counter c (1 <= c < 2^32) has publicIp = c (big-endian) and
// vtepMac = 02:<prefix_len>:<~c as 4 big-endian bytes>, backend vxlan. A torn
// read mixes words of two writes and breaks the MAC/IP relation.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../core/ratelimit.h"
#include "test_util.h"

namespace weft::test {
int g_checks = 0;
int g_failures = 0;
void RunCodecTests();
void RunOffloadTests();
void RunPipeline6Tests(const std::string& dir);
}  // namespace weft::test

using namespace weft;
using namespace weft::test;
using table::EntryData;

namespace {

// ---------------------------------------------------------------- table

constexpr uint32_t kNet = 0x0af40000;  // 10.244.0.0/16
constexpr uint8_t kNetLen = 16;
constexpr uint8_t kSubLen = 24;

EntryData TortureEntry(uint32_t subnet, uint8_t len, uint32_t c) {
  EntryData e{};
  e.subnet = subnet;
  e.prefix_len = len;
  e.backend = table::kBackendVxlan;
  e.family = 4;
  Store32(e.public_ip, c);
  e.vtep_mac[0] = 0x02;
  e.vtep_mac[1] = len;
  Store32(e.vtep_mac + 2, ~c);
  e.has_mac = 1;
  return e;
}

// True when `e`, returned for destination `dst`, satisfies the invariant.
bool TortureOk(const EntryData& e, uint32_t dst) {
  const uint32_t mask = e.prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - e.prefix_len);
  const uint32_t c = Load32(e.public_ip);
  return e.state == table::kValid && e.family == 4 && e.backend == table::kBackendVxlan && e.has_mac == 1 &&
         e.prefix_len <= 32 && (e.subnet & ~mask) == 0 && (dst & mask) == e.subnet && c != 0 && e.vtep_mac[0] == 0x02 &&
         e.vtep_mac[1] == e.prefix_len && Load32(e.vtep_mac + 2) == ~c;
}

struct ReadStats {
  uint64_t reads = 0, hits = 0, violations = 0;
};

// Looks up random destinations in 10.244.0.0/16 until `stop`, checking every hit.
void ReadLoop(const Table& t, const std::atomic<bool>& stop, uint32_t seed, ReadStats* st) {
  std::mt19937 rng(seed);
  const uint32_t net = t.header().network;
  const uint32_t span =
      t.header().network_prefix_len == 0 ? ~uint32_t{0} : (1u << (32 - t.header().network_prefix_len)) - 1;
  while (!stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 1024; i++) {
      const uint32_t dst = net + (rng() & span);
      EntryData e;
      st->reads++;
      if (t.Lookup(dst, &e)) {
        st->hits++;
        if (!TortureOk(e, dst)) {
          if (st->violations++ < 5)
            std::fprintf(stderr, "torn entry for dst %08x: subnet %08x/%u\n", dst, e.subnet, e.prefix_len);
        }
      }
    }
  }
}

std::string TempDir() {
  char tmpl[] = "/dev/shm/weft-core-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    std::exit(2);
  }
  return tmpl;
}

std::unique_ptr<Table> OpenTestWriter(const std::string& path) {
  std::unique_ptr<Table> t;
  bool reattached = false;
  const Status s = Table::OpenWriter(path, {kNet, kNetLen, kSubLen, table::kBackendVxlan, {}, 0, 0}, &t, &reattached);
  if (!s.ok()) {
    std::fprintf(stderr, "OpenWriter: %s\n", s.ToString().c_str());
    std::exit(2);
  }
  return t;
}

// Non-empty words of the peer index (live or dead), read from the mapping.
uint32_t PeerSlotsUsed(const Table& t) {
  const auto* words =
      reinterpret_cast<const uint64_t*>(reinterpret_cast<const uint8_t*>(&t.header()) + t.header().peers_offset);
  uint32_t used = 0;
  for (uint32_t i = 0; i < t.header().peer_slots; i++) used += words[i] != 0;
  return used;
}

// The ICMP error limiter: a full burst at once, then one per 1/rate; idle
// time refills up to the burst and no further; a clock that steps back
// earns nothing.
void TestTokenBucket() {
  TokenBucket b(1000, 50);  // 1 ms per token
  const uint64_t t0 = 5'000'000'000ull;
  int taken = 0;
  while (taken < 100 && b.Take(t0)) taken++;
  CHECK(taken == 50);
  CHECK(!b.Take(t0 + 999'999));
  CHECK(b.Take(t0 + 1'000'000));
  CHECK(!b.Take(t0 + 1'000'000));
  CHECK(!b.Take(t0));  // back in time: no credit
  taken = 0;
  while (taken < 1000 && b.Take(t0 + 10'000'000'000ull)) taken++;  // 10 s idle
  CHECK(taken == 50);
  // A steady 2000/s stream gets 1000/s through, after the burst.
  taken = 0;
  const uint64_t t1 = t0 + 20'000'000'000ull;
  for (uint64_t i = 0; i < 2000; i++) taken += b.Take(t1 + i * 500'000) ? 1 : 0;
  CHECK(taken >= 1049 && taken <= 1050);
}

void TestTableBasics(const std::string& dir) {
  auto t = OpenTestWriter(dir + "/basic.table");
  CHECK(t->Set(TortureEntry(0x0af40200, 24, 7)).ok());
  CHECK(t->Set(TortureEntry(0x0af40280, 25, 9)).ok());  // overflow, longer
  CHECK(t->Set(TortureEntry(0x0a000000, 8, 11)).ok());  // overflow, shorter, wider than Network
  EntryData e;
  CHECK(t->Lookup(0x0af40205, &e) && e.prefix_len == 24 && Load32(e.public_ip) == 7);
  CHECK(t->Lookup(0x0af40285, &e) && e.prefix_len == 25 && Load32(e.public_ip) == 9);
  CHECK(t->Lookup(0x0af40305, &e) && e.prefix_len == 8 && Load32(e.public_ip) == 11);
  CHECK(t->Lookup(0x0a010101, &e) && e.prefix_len == 8);
  CHECK(!t->Lookup(0x0b000001, &e));
  CHECK(t->IsPeer(7) && t->IsPeer(9) && t->IsPeer(11) && !t->IsPeer(8));
  CHECK(t->Set(TortureEntry(0x0af40200, 24, 8)).ok());  // replace: peer 7 -> 8
  CHECK(!t->IsPeer(7) && t->IsPeer(8));
  CHECK(t->EntryCount() == 3);
  CHECK(t->Delete(0x0af40280, 25) && !t->Delete(0x0af40280, 25));
  CHECK(t->Lookup(0x0af40285, &e) && e.prefix_len == 24);
  CHECK(!t->IsPeer(9) && t->EntryCount() == 2);
  EntryData bad = TortureEntry(0x0af40201, 24, 1);  // host bits
  CHECK(t->Set(bad).err() == EINVAL);
  // Peer churn: 200,000 distinct PublicIPs through one entry. Dead peer
  // slots must not pile up until no slot is empty (then every IsPeer miss
  // and every new peer walks the whole index), and once no peer is left the
  // index must be entirely empty again.
  for (uint32_t c = 100; c < 200100; c++) t->Set(TortureEntry(0x0af40500, 24, c));
  CHECK(t->IsPeer(200099) && !t->IsPeer(200098) && !t->IsPeer(100));
  const auto t0 = std::chrono::steady_clock::now();
  uint32_t hits = 0;
  for (uint32_t ip = 1; ip <= 1000000; ip++) hits += t->IsPeer(0xc6120000 + ip);
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / 1e6;
  CHECK(hits == 0);
  CHECK(PeerSlotsUsed(*t) < t->header().peer_slots);
  std::printf("  after 200k peer changes: %u of %u peer slots in use, IsPeer miss %.1f ns\n", PeerSlotsUsed(*t),
              t->header().peer_slots, ns);
  CHECK(t->Delete(0x0af40200, 24) && t->Delete(0x0a000000, 8) && t->Delete(0x0af40500, 24));
  CHECK(t->EntryCount() == 0 && PeerSlotsUsed(*t) == 0);
}

// ---------------------------------------------------------------- IPv6 leases

// fc00::/48 with /64 leases (IPv6SubnetLen), beside 10.244.0.0/16.
const uint8_t kNet6[16] = {0xfc, 0x00};
constexpr uint8_t kNet6Len = 48;
constexpr uint8_t kSub6Len = 64;

// fc00:0:0:<i>::/64, from public IP fd00::<c>.
EntryData Entry6(uint16_t i, uint32_t c) {
  EntryData e{};
  e.subnet_family = 6;
  e.subnet6[0] = 0xfc;
  Store16(e.subnet6 + 6, i);
  e.prefix_len = kSub6Len;
  e.backend = table::kBackendVxlan;
  e.family = 6;
  e.public_ip[0] = 0xfd;
  Store32(e.public_ip + 12, c);
  e.vtep_mac[0] = 0x06;
  Store32(e.vtep_mac + 2, ~c);
  e.has_mac = 1;
  return e;
}

// An address inside lease `i`, host part `host`.
void Addr6(uint16_t i, uint64_t host, uint8_t out[16]) {
  std::memset(out, 0, 16);
  out[0] = 0xfc;
  Store16(out + 6, i);
  for (int b = 0; b < 8; b++) out[15 - b] = static_cast<uint8_t>(host >> (8 * b));
}

void PublicIp6(uint32_t c, uint8_t out[16]) {
  std::memset(out, 0, 16);
  out[0] = 0xfd;
  Store32(out + 12, c);
}

std::unique_ptr<Table> OpenDualStackWriter(const std::string& path, const uint8_t net6[16], bool* reattached) {
  table::GeometryParams geo{kNet, kNetLen, kSubLen, table::kBackendVxlan, {}, kNet6Len, kSub6Len};
  std::memcpy(geo.network6, net6, 16);
  std::unique_ptr<Table> t;
  const Status s = Table::OpenWriter(path, geo, &t, reattached);
  if (!s.ok()) {
    std::fprintf(stderr, "OpenWriter (dual stack): %s\n", s.ToString().c_str());
    std::exit(2);
  }
  return t;
}

uint32_t Peer6SlotsUsed(const Table& t) {
  const uint8_t* base = reinterpret_cast<const uint8_t*>(&t.header()) + t.header().peers6_offset;
  uint32_t used = 0;
  static const uint8_t kZero[table::kPeer6Size - 4] = {};
  for (uint32_t i = 0; i < t.header().peer6_slots; i++) {
    used += std::memcmp(base + size_t{i} * table::kPeer6Size + 4, kZero, sizeof(kZero)) != 0;
  }
  return used;
}

void TestTable6(const std::string& dir) {
  bool reattached = true;
  auto t = OpenDualStackWriter(dir + "/six.table", kNet6, &reattached);
  CHECK(!reattached && t->has_ipv6() && t->header().direct6_slots == 65536 && t->header().layout_version == 2);
  CHECK(t->Set(Entry6(3, 7)).ok());
  CHECK(t->Set(Entry6(0xffff, 9)).ok());
  CHECK(t->Set(TortureEntry(0x0af40200, 24, 7)).ok());  // IPv4 PublicIP 0.0.0.7: another index
  uint8_t a[16];
  EntryData e;
  Addr6(3, 0x1234, a);
  CHECK(t->Lookup6(a, &e) && e.subnet_family == 6 && e.prefix_len == 64 && Load32(e.public_ip + 12) == 7 &&
        e.vtep_mac[0] == 0x06);
  Addr6(0xffff, ~uint64_t{0}, a);
  CHECK(t->Lookup6(a, &e) && Load32(e.public_ip + 12) == 9);
  Addr6(4, 1, a);
  CHECK(!t->Lookup6(a, &e));  // no lease
  a[0] = 0xfd;
  CHECK(!t->Lookup6(a, &e));  // outside the network
  uint8_t p[16];
  PublicIp6(7, p);
  CHECK(t->IsPeer6(p) && t->IsPeer(7));
  PublicIp6(8, p);
  CHECK(!t->IsPeer6(p) && !t->IsPeer(9));  // fd00::9 is an IPv6 peer, 0.0.0.9 is not an IPv4 one
  CHECK(t->EntryCount() == 3);
  uint32_t v6 = 0, v4 = 0;
  t->ForEach([&](const EntryData& x) { (x.subnet_family == 6 ? v6 : v4)++; });
  CHECK(v6 == 2 && v4 == 1);
  CHECK(t->Set(Entry6(3, 8)).ok());  // replace: peer fd00::7 -> fd00::8
  PublicIp6(7, p);
  CHECK(!t->IsPeer6(p));
  PublicIp6(8, p);
  CHECK(t->IsPeer6(p) && t->EntryCount() == 3);
  // Malformed IPv6 leases.
  EntryData bad = Entry6(5, 1);
  bad.prefix_len = 56;
  CHECK(t->Set(bad).err() == EINVAL);  // not IPv6SubnetLen
  bad = Entry6(5, 1);
  bad.subnet6[15] = 1;
  CHECK(t->Set(bad).err() == EINVAL);  // host bits
  bad = Entry6(5, 1);
  bad.subnet6[2] = 1;
  CHECK(t->Set(bad).err() == EINVAL);  // outside fc00::/48
  bad = Entry6(5, 1);
  std::memset(bad.public_ip, 0, 16);
  CHECK(t->Set(bad).err() == EINVAL);  // public IP ::
  CHECK(t->EntryCount() == 3);
  // Delete6 needs the exact lease.
  Addr6(3, 1, a);
  CHECK(!t->Delete6(a, 64));
  Addr6(3, 0, a);
  CHECK(!t->Delete6(a, 63) && t->Delete6(a, 64) && !t->Delete6(a, 64));
  CHECK(!t->Lookup6(a, &e) && !t->IsPeer6(p) && t->EntryCount() == 2);
  // Peer churn over the IPv6 index, as for IPv4: no pile-up of dead slots.
  for (uint32_t c = 100; c < 100100; c++) t->Set(Entry6(9, c));
  PublicIp6(100099, p);
  CHECK(t->IsPeer6(p));
  PublicIp6(100098, p);
  CHECK(!t->IsPeer6(p));
  CHECK(Peer6SlotsUsed(*t) < 16);  // two live peers; dead slots do not pile up
  // Re-attach keeps the IPv6 entries; another IPv6 network starts afresh.
  const uint8_t mac6[6] = {0x06, 1, 2, 3, 4, 5};
  t->SetInfo6(a, mac6);
  t.reset();
  t = OpenDualStackWriter(dir + "/six.table", kNet6, &reattached);
  Addr6(0xffff, 5, a);
  CHECK(reattached && t->Lookup6(a, &e) && t->EntryCount() == 3);
  CHECK(std::memcmp(t->header().own_mac6, mac6, 6) == 0);
  Addr6(9, 0, a);
  CHECK(t->Delete6(a, 64) && t->Delete(0x0af40200, 24));
  Addr6(0xffff, 0, a);
  CHECK(t->Delete6(a, 64) && t->EntryCount() == 0 && Peer6SlotsUsed(*t) == 0);
  t.reset();
  uint8_t other[16] = {0xfc, 0x00, 0x00, 0x01};
  t = OpenDualStackWriter(dir + "/six.table", other, &reattached);
  CHECK(!reattached && t->EntryCount() == 0);
  t.reset();
  // An IPv4-only table takes no IPv6 lease and finds none.
  auto four = OpenTestWriter(dir + "/four.table");
  CHECK(!four->has_ipv6() && four->Set(Entry6(1, 1)).err() == EINVAL && !four->Lookup6(a, &e) && !four->IsPeer6(p));
  // Torture: readers never see a torn IPv6 entry while the writer rewrites them.
  auto w = OpenDualStackWriter(dir + "/six-torture.table", kNet6, &reattached);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, hits{0}, torn{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; r++) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(r + 1);
      uint8_t d[16];
      EntryData x;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto i = static_cast<uint16_t>(rng() & 63);
        Addr6(i, rng(), d);
        reads.fetch_add(1, std::memory_order_relaxed);
        if (!w->Lookup6(d, &x)) continue;
        hits.fetch_add(1, std::memory_order_relaxed);
        const uint32_t c = Load32(x.public_ip + 12);
        if (x.subnet_family != 6 || Load16(x.subnet6 + 6) != i || Load32(x.vtep_mac + 2) != ~c) torn++;
      }
    });
  }
  for (uint32_t round = 0; round < 20000; round++) {
    const auto i = static_cast<uint16_t>(round & 63);
    if (round % 7 == 3) {
      Addr6(i, 0, a);
      w->Delete6(a, 64);
    } else {
      w->Set(Entry6(i, round + 1));
    }
  }
  stop = true;
  for (auto& th : readers) th.join();
  CHECK(torn.load() == 0 && hits.load() > 0);
  std::printf("  IPv6 torture: %llu reads, %llu hits, %llu torn\n", static_cast<unsigned long long>(reads.load()),
              static_cast<unsigned long long>(hits.load()), static_cast<unsigned long long>(torn.load()));
}

// One writer thread, three reader threads and one forked reader process.
void TestTableTorture(const std::string& dir) {
  const std::string path = dir + "/torture.table";
  auto t = OpenTestWriter(path);
  // 64 direct /24s and 16 overflow /25s inside some of them (LPM must pick the /25).
  std::vector<std::pair<uint32_t, uint8_t>> keys;
  for (uint32_t i = 0; i < 64; i++) keys.emplace_back(kNet | (i * 4) << 8, 24);
  for (uint32_t i = 0; i < 16; i++) keys.emplace_back((kNet | (i * 16) << 8) | 0x80, 25);
  uint32_t counter = 1;
  for (const auto& [s, l] : keys) t->Set(TortureEntry(s, l, counter++));

  std::atomic<bool> stop{false};
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  const pid_t child = fork();
  if (child == 0) {
    close(pipefd[0]);
    std::unique_ptr<Table> r;
    if (!Table::OpenReader(path, &r).ok() || r->writable()) _exit(3);
    static std::atomic<bool> child_stop{false};
    signal(SIGTERM, [](int) { child_stop.store(true); });
    ReadStats st;
    ReadLoop(*r, child_stop, 99, &st);
    if (write(pipefd[1], &st, sizeof(st)) != sizeof(st)) _exit(4);
    _exit(0);
  }
  close(pipefd[1]);

  constexpr uint64_t kUpdates = 6'000'000;
  std::vector<ReadStats> stats(3);
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; i++) readers.emplace_back(ReadLoop, std::cref(*t), std::cref(stop), 1 + i, &stats[i]);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t deletes = 0;
  std::thread writer([&] {
    std::mt19937 rng(7);
    for (uint64_t n = 0; n < kUpdates; n++) {
      const auto& [s, l] = keys[rng() % keys.size()];
      if (l == 24 && (n & 1023) == 0) {  // now and then a /24 goes away and comes back
        t->Delete(s, l);
        deletes++;
      }
      if (++counter == 0) counter = 1;
      t->Set(TortureEntry(s, l, counter));
    }
  });
  writer.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop.store(true);
  for (auto& r : readers) r.join();
  kill(child, SIGTERM);
  ReadStats cst;
  CHECK(read(pipefd[0], &cst, sizeof(cst)) == sizeof(cst));
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(pipefd[0]);

  ReadStats sum = cst;
  for (const auto& s : stats) {
    sum.reads += s.reads;
    sum.hits += s.hits;
    sum.violations += s.violations;
  }
  std::printf(
      "  torture: %llu updates (+%llu deletes) in %.2f s; %llu reads (%llu hits, %llu in the forked reader), %llu "
      "violations\n",
      static_cast<unsigned long long>(kUpdates), static_cast<unsigned long long>(deletes), secs,
      static_cast<unsigned long long>(sum.reads), static_cast<unsigned long long>(sum.hits),
      static_cast<unsigned long long>(cst.reads), static_cast<unsigned long long>(sum.violations));
  CHECK(sum.violations == 0);
  CHECK(cst.hits > 10000);  // the forked reader really saw the writer's entries
  for (const auto& s : stats) CHECK(s.hits > 10000);
  CHECK(t->Generation() >= kUpdates);
  CHECK(t->EntryCount() == keys.size());
}

// --reader PATH: see the top of this file.
std::atomic<bool> g_reader_stop{false};

int ReaderMain(const char* path) {
  std::unique_ptr<Table> r;
  const Status s = Table::OpenReader(path, &r);
  if (!s.ok()) {
    std::fprintf(stderr, "OpenReader: %s\n", s.ToString().c_str());
    return 2;
  }
  signal(SIGTERM, [](int) { g_reader_stop.store(true); });
  std::printf("{\"ready\":true}\n");
  std::fflush(stdout);
  ReadStats st;
  ReadLoop(*r, g_reader_stop, static_cast<uint32_t>(getpid()), &st);
  std::printf("{\"reads\":%llu,\"hits\":%llu,\"violations\":%llu,\"generation\":%llu}\n",
              static_cast<unsigned long long>(st.reads), static_cast<unsigned long long>(st.hits),
              static_cast<unsigned long long>(st.violations), static_cast<unsigned long long>(r->Generation()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--reader") == 0) return ReaderMain(argv[2]);
  if (argc != 1) {
    std::fprintf(stderr, "usage: core_test [--reader PATH]\n");
    return 2;
  }
  std::printf("codec and checksum\n");
  RunCodecTests();
  std::printf("offload (fuzz regressions)\n");
  RunOffloadTests();
  std::printf("ICMP error rate limit\n");
  TestTokenBucket();
  const std::string dir = TempDir();
  std::printf("table\n");
  TestTableBasics(dir);
  TestTable6(dir);
  TestTableTorture(dir);
  std::printf("IPv6 pipeline (encap, decap)\n");
  RunPipeline6Tests(dir);
  std::string rm = "rm -rf '" + dir + "'";
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  if (g_failures != 0) {
    std::printf("core_test: FAIL %d of %d checks\n", g_failures, g_checks);
    return 1;
  }
  std::printf("core_test: PASS %d checks\n", g_checks);
  return 0;
}
