#include "clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

namespace flit::detail {
namespace {

TEST(Clock, NeverGoesBackwards) {
  uint64_t prev = mono_ns();
  for (int i = 0; i < 1'000'000; ++i) {
    uint64_t now = mono_ns();
    ASSERT_GE(now, prev) << "read " << i << " (" << mono_clock_source() << ")";
    prev = now;
  }
}

TEST(Clock, AgreesWithSteadyClock) {
  // Whatever the source, elapsed time matches steady_clock's within 1% over
  // a 50 ms busy interval (the TSC calibration is accurate).
  auto s0 = std::chrono::steady_clock::now();
  uint64_t m0 = mono_ns();
  while (std::chrono::steady_clock::now() - s0 < std::chrono::milliseconds(50)) {
  }
  uint64_t m1 = mono_ns();
  double steady =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - s0).count();
  double mono = static_cast<double>(m1 - m0);
  EXPECT_NEAR(mono / steady, 1.0, 0.01) << mono_clock_source();
  // And its epoch is steady_clock's: the two read close together.
  uint64_t sn = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  uint64_t mn = mono_ns();
  EXPECT_LT(mn > sn ? mn - sn : sn - mn, 10'000'000u);
}

// A TSC at 2.5 ticks per ns against a reference clock whose reads take
// 30 ns; the read numbered stall_at is descheduled for 5 ms between its
// two TSC reads (before or after reading the clock).
struct FakeClock {
  uint64_t ns = 1'000'000'000;
  int calls = 0;
  int stall_at = -1;
  bool stall_after_clock = false;
  static uint64_t tsc(uint64_t t) { return t * 5 / 2; }
};
ClockSample fake_sample(void* p) {
  auto* f = static_cast<FakeClock*>(p);
  const bool stall = f->calls++ == f->stall_at;
  const uint64_t before = FakeClock::tsc(f->ns);
  if (stall && !f->stall_after_clock) f->ns += 5'000'000;
  f->ns += 30;
  const uint64_t ns = f->ns;
  if (stall && f->stall_after_clock) f->ns += 5'000'000;
  f->ns += 30;
  return {before, ns, FakeClock::tsc(f->ns)};
}

// The calibration ignores a reading descheduled between its TSC reads,
// wherever it falls (at an end of an interval, in either half of the
// reading). Taking such a reading at its word made the clock run at 2x or
// 0.5x for the whole process: every timeout half or twice as long.
TEST(Clock, CalibrationIgnoresADescheduledReading) {
  const double want = 0.4 * 4294967296.0;  // 0.4 ns per tick, 32.32
  for (bool after : {false, true}) {
    for (int at : {0, 83'335, 166'670}) {  // the readings that end the intervals
      FakeClock f;
      f.stall_at = at;
      f.stall_after_clock = after;
      const uint64_t mult = calibrate_tsc(fake_sample, &f, 5'000'000);
      ASSERT_NE(mult, 0u) << at;
      EXPECT_NEAR(static_cast<double>(mult) / want, 1.0, 0.001) << "stall at read " << at;
    }
  }
}

TEST(Clock, SourceIsNamed) {
  const char* s = mono_clock_source();
  EXPECT_TRUE(std::strcmp(s, "tsc") == 0 || std::strcmp(s, "steady") == 0) << s;
}

}  // namespace
}  // namespace flit::detail
