// A token bucket for the ICMP errors a worker writes back into the TUN, the
// way the kernel limits the ICMP errors it sends (net.ipv4.icmp_msgs_per_sec
// 1000, icmp_msgs_burst 50, shared by ICMP and ICMPv6): a pod flooding a
// subnet without a lease makes its node answer at most that many, the rest
// stay counted as noRoute drops. One bucket per worker thread, so no
// atomics or locks; the caller passes the time (CLOCK_MONOTONIC ns).
#pragma once

#include <algorithm>
#include <cstdint>

namespace weft {

class TokenBucket {
 public:
  // `per_second` tokens a second, at most `burst` saved up; starts full.
  constexpr TokenBucket(uint32_t per_second, uint32_t burst)
      : cost_ns_(1'000'000'000ull / per_second), cap_ns_(cost_ns_ * burst), credit_ns_(cap_ns_) {}

  // Takes one token at `now_ns`; false when none is left (the caller drops).
  bool Take(uint64_t now_ns) {
    if (now_ns > last_ns_) {
      credit_ns_ = std::min(cap_ns_, credit_ns_ + (now_ns - last_ns_));
      last_ns_ = now_ns;
    }
    if (credit_ns_ < cost_ns_) return false;
    credit_ns_ -= cost_ns_;
    return true;
  }

 private:
  const uint64_t cost_ns_;  // time that earns one token
  const uint64_t cap_ns_;   // burst tokens' worth
  uint64_t credit_ns_;
  uint64_t last_ns_ = 0;
};

// The kernel's defaults (Documentation/networking/ip-sysctl.rst).
inline constexpr uint32_t kIcmpErrorsPerSecond = 1000;
inline constexpr uint32_t kIcmpErrorsBurst = 50;

}  // namespace weft
