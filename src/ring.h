// src/ring.h: a bounded lock-free ring for handing work between threads
// (private).
//
//   detail::Ring<ReqHandle*> ring(1024);   // storage allocated here, once
//   if (!ring.try_push(std::move(h))) ...; // any thread: false when full
//   ReqHandle* h;
//   while (ring.try_pop(h)) ...;           // any thread: false when empty
//
// Dmitry Vyukov's bounded MPMC queue: an array of cells, each with a
// sequence number that says whose turn the cell is. A producer claims the
// cell at `tail_` with one CAS when its sequence equals the position, writes
// the value, and publishes it by storing position + 1 (release); a consumer
// claims the cell at `head_` when its sequence equals position + 1 (acquire:
// the value is visible), moves the value out, and frees the cell for the
// producer one lap later by storing position + capacity (release).
//
// Several producers and several consumers are safe. flit uses it as MPSC
// (other threads post to one Rpc, worker threads hand responses back to its
// owner) and as MPMC (Rpc owners feed the Nexus's worker threads).
//
// Cost: push and pop are one CAS plus two atomic loads and one store when
// uncontended. No lock, no heap allocation after construction, no syscall;
// neither call ever blocks or waits. try_pop may return false while a
// producer that has claimed the next cell is still writing it: the item
// appears on a later pop (the ring is "empty for now", never loses it).
//
// T must be default-constructible and nothrow move-assignable; a moved-from
// value stays in the cell until the cell is reused.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "flit/error.h"

namespace flit::detail {

// Keeps producer-written and consumer-written counters on separate cache
// lines (no false sharing between the two sides).
inline constexpr size_t kCacheLine = 64;

template <typename T>
class Ring {
 public:
  // capacity is rounded up to a power of two (at least 2). Allocates once.
  explicit Ring(size_t capacity) {
    FLIT_CHECK(capacity != 0 && capacity <= (size_t{1} << 30), "ring capacity", capacity);
    size_t n = 2;
    while (n < capacity) n <<= 1;
    mask_ = n - 1;
    cells_ = std::make_unique<Cell[]>(n);
    for (size_t i = 0; i < n; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Moves v into the ring and returns true, or returns false (v untouched)
  // when the ring is full. Any thread. Never blocks or allocates.
  bool try_push(T&& v) {
    size_t pos;
    if (!try_claim(pos)) return false;
    publish(pos, std::move(v));
    return true;
  }

  // try_push in its two steps. try_claim reserves the next cell and sets
  // pos to it, or returns false when the ring is full; publish(pos, v) fills
  // that cell and makes it visible to consumers. Between the two, consumers
  // stop at the claimed cell (try_pop returns false even if later cells are
  // published), so every claim must be published, soon. Tests use the gap
  // to reproduce a producer preempted mid-push.
  bool try_claim(size_t& pos) {
    pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      const size_t seq = cells_[pos & mask_].seq.load(std::memory_order_acquire);
      const intptr_t diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
      if (diff == 0) {
        // The cell is free for this lap: claim it.
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) return true;
      } else if (diff < 0) {
        return false;  // the consumer has not freed this cell yet: full
      } else {
        pos = tail_.load(std::memory_order_relaxed);  // another producer took it
      }
    }
  }
  void publish(size_t pos, T&& v) {
    static_assert(std::is_nothrow_move_assignable_v<T>);
    Cell& c = cells_[pos & mask_];
    c.value = std::move(v);
    c.seq.store(pos + 1, std::memory_order_release);
  }

  // Moves the oldest item into out and returns true, or returns false when
  // the ring is (for now) empty. Any thread. Never blocks.
  bool try_pop(T& out) {
    Cell* c;
    size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      c = &cells_[pos & mask_];
      const size_t seq = c->seq.load(std::memory_order_acquire);
      const intptr_t diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos + 1);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (diff < 0) {
        return false;  // not yet published: empty
      } else {
        pos = head_.load(std::memory_order_relaxed);  // another consumer took it
      }
    }
    out = std::move(c->value);
    c->seq.store(pos + mask_ + 1, std::memory_order_release);
    return true;
  }

  // Whether try_pop would find nothing right now: one look at the next
  // cell, nothing written. For the single consumer's hot path (an Rpc's
  // poll), before paying for try_pop; another consumer may change the answer.
  bool empty_now() const {
    const size_t pos = head_.load(std::memory_order_relaxed);
    return cells_[pos & mask_].seq.load(std::memory_order_acquire) != pos + 1;
  }

  // Items pushed and not yet popped; exact only when no push or pop runs.
  size_t size_approx() const {
    size_t t = tail_.load(std::memory_order_acquire);
    size_t h = head_.load(std::memory_order_acquire);
    return t >= h ? t - h : 0;
  }

 private:
  struct Cell {
    std::atomic<size_t> seq{0};
    T value{};
  };

  alignas(kCacheLine) std::atomic<size_t> tail_{0};  // producers
  alignas(kCacheLine) std::atomic<size_t> head_{0};  // consumers
  alignas(kCacheLine) size_t mask_ = 0;              // read-only after construction
  std::unique_ptr<Cell[]> cells_;
};

}  // namespace flit::detail
