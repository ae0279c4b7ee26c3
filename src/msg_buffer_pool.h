// src/msg_buffer_pool.h: the per-Rpc message-buffer allocator.
//
// Power-of-two size classes, each a free list threaded through the free
// blocks themselves. Memory comes from 2 MiB hugepages when hugetlbfs pages
// are available (MAP_HUGETLB), ordinary anonymous pages otherwise; it is
// never returned to the OS while the Rpc lives, so after warm-up alloc and
// free are a few instructions: no syscall, no lock, no heap allocation.
// Owner thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "flit/function.h"
#include "flit/msg_buffer.h"

namespace flit {

class MsgBufferPool {
 public:
  // data_per_pkt: payload bytes per packet (MTU minus header). on_new_memory: called for every
  // region mapped (transports that register memory, e.g. RDMA).
  MsgBufferPool(size_t data_per_pkt, size_t max_msg_size,
                Function<void(void*, size_t)> on_new_memory = nullptr);
  ~MsgBufferPool();
  MsgBufferPool(const MsgBufferPool&) = delete;
  MsgBufferPool& operator=(const MsgBufferPool&) = delete;

  // A buffer with capacity >= size and size() == size. Throws flit::Error if
  // size exceeds the maximum message size or memory cannot be mapped.
  MsgBuffer alloc(size_t size);
  // out = alloc(size), with the new buffer's fields written straight into
  // out (its old buffer, if any, goes back to the pool). Moving a
  // just-built MsgBuffer reads it back with a 16-byte load that its 8-byte
  // stores cannot forward to: a stall that was most of
  // ReqHandle::init_response's time.
  void alloc_into(MsgBuffer& out, size_t size);

  // Room for packet 0's header just before the payload, or null for a
  // buffer without headroom (capacity kBareBufferBytes or more).
  static uint8_t* hdr0(const MsgBuffer& b) {
    return buffer_headroom(b.capacity_) != 0 ? b.data_ - kPktHdrSize : nullptr;
  }
  size_t data_per_pkt() const { return data_per_pkt_; }
  uint32_t num_pkts(size_t msg_size) const {
    return msg_size <= data_per_pkt_
               ? 1
               : static_cast<uint32_t>((msg_size + data_per_pkt_ - 1) / data_per_pkt_);
  }

  bool hugepage_backed() const { return hugepages_; }
  size_t bytes_mapped() const { return bytes_mapped_; }
  // Buffers handed out and not yet freed.
  size_t buffers_in_use() const { return in_use_; }

 private:
  friend class MsgBuffer;
  struct FreeBlock {
    FreeBlock* next;
  };
  static constexpr int kNumClasses = 32;

  void free(uint8_t* data, uint32_t size_class);
  static size_t headroom(uint32_t size_class) {
    return buffer_headroom(kMinBufferClass << size_class);
  }
  size_t block_bytes(uint32_t size_class) const;
  uint8_t* map_region(size_t bytes);
  void refill(uint32_t size_class);

  size_t data_per_pkt_;
  size_t max_msg_size_;
  Function<void(void*, size_t)> on_new_memory_;
  FreeBlock* free_[kNumClasses] = {};
  struct Region {
    void* addr;
    size_t len;
  };
  std::vector<Region> regions_;
  bool hugepages_ = false;
  bool tried_hugepages_ = false;
  size_t bytes_mapped_ = 0;
  size_t in_use_ = 0;
};

}  // namespace flit
