// bench/work.h: stand-in for a server's own work per request, for
// flit-bench server and baseline-server (--work-iters): a chain of
// dependent multiply-adds, a few cycles each, that touches no memory. Same
// code on both, so flit and the raw baseline can be compared with the same
// work in the server, and the cost of doing any work at all between receive
// and send is measurable (docs/BENCHMARKS.md, "Where the memif gap is").
#pragma once

#include <cstdint>

namespace flit::bench {

// Runs iters dependent multiply-adds. No memory access, no branch but the
// loop's. The empty volatile asm makes each step opaque to the compiler, so
// the chain runs in full although nothing reads its result.
inline void simulated_work(uint32_t iters) {
  uint64_t a = 1;
  for (uint32_t i = 0; i < iters; ++i) {
    a = a * 3 + i;
    asm volatile("" : "+r"(a));
  }
}

}  // namespace flit::bench
