// tests/alloc_counter.h: counts heap allocations, for tests that prove a path
// allocates nothing. Replaces the global operator new and delete, so include
// it in exactly one file of a test binary (and give such tests their own
// binary).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace flit::testing {
inline std::atomic<uint64_t> g_heap_allocations{0};
// Allocations through operator new so far, in the whole process.
inline uint64_t heap_allocations() { return g_heap_allocations.load(std::memory_order_relaxed); }
}  // namespace flit::testing

// GCC flags free() of memory from operator new; here both sides are ours.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t n) {
  flit::testing::g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
