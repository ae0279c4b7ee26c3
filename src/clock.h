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

}  // namespace flit::detail
