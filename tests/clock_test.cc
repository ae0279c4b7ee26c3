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

TEST(Clock, SourceIsNamed) {
  const char* s = mono_clock_source();
  EXPECT_TRUE(std::strcmp(s, "tsc") == 0 || std::strcmp(s, "steady") == 0) << s;
}

}  // namespace
}  // namespace flit::detail
