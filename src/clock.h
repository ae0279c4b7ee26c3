// src/clock.h: the engine's monotonic clock, in nanoseconds.
//
// Where the CPU's time-stamp counter is invariant (x86-64 with constant_tsc
// and nonstop_tsc in /proc/cpuinfo), reading it costs ~10-20 ns against
// ~20-75 ns for clock_gettime (75 on this VM's kvm-clock): the TSC is
// calibrated once per process against steady_clock and then scaled. Elsewhere,
// or with FLIT_CLOCK=steady in the environment, steady_clock is used.
// Thread-safe; no allocation, no syscall after the first call.
#pragma once

#include <cstdint>

namespace flit::detail {

uint64_t mono_ns();
// "tsc" or "steady": which source mono_ns() reads.
const char* mono_clock_source();

// One reading of the reference clock (ns) between two TSC reads.
struct ClockSample {
  uint64_t tsc_before;
  uint64_t ns;
  uint64_t tsc_after;
};
// TSC calibration, for tests: ns per TSC tick in 32.32 fixed point from
// sample(), which returns a fresh ClockSample per call. Readings whose two
// TSC reads lie far apart (the thread was descheduled between them) are
// taken again; the rate is measured over two consecutive intervals of
// interval_ns each and must agree between them within 0.5%, else the
// calibration is retried. Returns 0 when no agreeing measurement came
// (the caller then uses the reference clock itself).
uint64_t calibrate_tsc(ClockSample (*sample)(void* ctx), void* ctx, uint64_t interval_ns);

}  // namespace flit::detail
