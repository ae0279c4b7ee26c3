#include "clock.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace flit::detail {

namespace {

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

struct Tsc {
  bool use = false;
  uint64_t base_tsc = 0;
  uint64_t base_ns = 0;
  uint64_t mult = 0;  // ns per tick, 32.32 fixed point

  Tsc() {
#if defined(__x86_64__)
    const char* env = std::getenv("FLIT_CLOCK");
    if (env != nullptr && std::strcmp(env, "steady") == 0) return;
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    bool constant = false, nonstop = false;
    while (std::getline(f, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      constant = line.find(" constant_tsc") != std::string::npos;
      nonstop = line.find(" nonstop_tsc") != std::string::npos;
      break;
    }
    if (!constant || !nonstop) return;
    // Calibrate over ~5 ms (once per process, on the control path).
    uint64_t t0 = steady_ns(), c0 = __rdtsc();
    uint64_t t1 = t0, c1 = c0;
    while (t1 - t0 < 5'000'000) {
      t1 = steady_ns();
      c1 = __rdtsc();
    }
    if (c1 <= c0) return;
    mult = static_cast<uint64_t>((static_cast<unsigned __int128>(t1 - t0) << 32) / (c1 - c0));
    base_tsc = c1;
    base_ns = t1;
    use = mult != 0;
#endif
  }
};

const Tsc& tsc() {
  static const Tsc t;
  return t;
}

}  // namespace

uint64_t mono_ns() {
#if defined(__x86_64__)
  const Tsc& t = tsc();
  if (t.use) {
    uint64_t c = __rdtsc();
    uint64_t d = c > t.base_tsc ? c - t.base_tsc : 0;
    return t.base_ns + static_cast<uint64_t>((static_cast<unsigned __int128>(d) * t.mult) >> 32);
  }
#endif
  return steady_ns();
}

const char* mono_clock_source() { return tsc().use ? "tsc" : "steady"; }

}  // namespace flit::detail
