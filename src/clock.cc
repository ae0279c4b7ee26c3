#include "clock.h"

#include <atomic>
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

ClockSample real_sample(void*) {
#if defined(__x86_64__)
  const uint64_t a = __rdtsc();
  const uint64_t ns = steady_ns();
  return {a, ns, __rdtsc()};
#else
  return {0, steady_ns(), 0};
#endif
}

// Whether /proc/cpuinfo's flags line lists `name` as a whole word
// (nonstop_tsc, not nonstop_tsc_s3).
bool has_flag(const std::string& line, const char* name) {
  const std::string word = std::string(" ") + name;
  for (size_t at = line.find(word); at != std::string::npos; at = line.find(word, at + 1)) {
    const size_t end = at + word.size();
    if (end == line.size() || line[end] == ' ' || line[end] == '\t') return true;
  }
  return false;
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
      constant = has_flag(line, "constant_tsc");
      nonstop = has_flag(line, "nonstop_tsc");
      break;
    }
    if (!constant || !nonstop) return;
    // Once per process, on the control path: about 10 ms.
    mult = calibrate_tsc(real_sample, nullptr, 5'000'000);
    const ClockSample b = real_sample(nullptr);
    base_tsc = b.tsc_after;
    base_ns = b.ns;
    use = mult != 0;
#endif
  }
};

// Set once the TSC is seen to go backwards (a hypervisor or a resume
// rewrote it): from then on mono_ns() reads steady_clock.
std::atomic<bool> tsc_broken{false};

const Tsc& tsc() {
  static const Tsc t;
  return t;
}

}  // namespace

uint64_t mono_ns() {
#if defined(__x86_64__)
  const Tsc& t = tsc();
  if (t.use && !tsc_broken.load(std::memory_order_relaxed)) {
    const uint64_t c = __rdtsc();
    if (c >= t.base_tsc) [[likely]] {
      const uint64_t d = c - t.base_tsc;
      return t.base_ns + static_cast<uint64_t>((static_cast<unsigned __int128>(d) * t.mult) >> 32);
    }
    // Backwards: time read from it would stand still, and no timeout
    // would ever fire. steady_clock shares the base, so time goes on.
    tsc_broken.store(true, std::memory_order_relaxed);
  }
#endif
  return steady_ns();
}

const char* mono_clock_source() {
  return tsc().use && !tsc_broken.load(std::memory_order_relaxed) ? "tsc" : "steady";
}

uint64_t calibrate_tsc(ClockSample (*sample)(void* ctx), void* ctx, uint64_t interval_ns) {
  // A reading whose TSC reads straddle more than this (about 8 us at
  // 2.5 GHz; an undisturbed one takes a few hundred cycles) was
  // descheduled, and its clock value could belong anywhere in between.
  constexpr uint64_t kMaxWindow = 20'000;
  auto take = [&](ClockSample* out) {
    for (int i = 0; i < 1000; ++i) {
      const ClockSample s = sample(ctx);
      if (s.tsc_after > s.tsc_before && s.tsc_after - s.tsc_before <= kMaxWindow) {
        *out = s;
        return true;
      }
    }
    return false;
  };
  auto mid = [](const ClockSample& s) { return s.tsc_before + (s.tsc_after - s.tsc_before) / 2; };
  auto rate = [&](const ClockSample& a, const ClockSample& b) -> uint64_t {
    if (b.ns <= a.ns || mid(b) <= mid(a)) return 0;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(b.ns - a.ns) << 32) /
                                 (mid(b) - mid(a)));
  };
  // Between the readings, only time passes: a preemption there is harmless.
  auto wait_past = [&](const ClockSample& from) {
    for (ClockSample w = from; w.ns - from.ns < interval_ns;) w = sample(ctx);
  };
  for (int attempt = 0; attempt < 5; ++attempt) {
    ClockSample s0, s1, s2;
    if (!take(&s0)) continue;
    wait_past(s0);
    if (!take(&s1)) continue;
    wait_past(s1);
    if (!take(&s2)) continue;
    const uint64_t r1 = rate(s0, s1), r2 = rate(s1, s2);
    if (r1 == 0 || r2 == 0) continue;
    const uint64_t diff = r1 > r2 ? r1 - r2 : r2 - r1;
    if (diff * 200 > r1) continue;  // over 0.5% apart: something moved
    return rate(s0, s2);
  }
  return 0;
}

}  // namespace flit::detail
