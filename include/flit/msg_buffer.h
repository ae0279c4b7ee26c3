// flit/msg_buffer.h: a message in the owning Rpc's registered memory.
//
//   flit::MsgBuffer req = rpc.alloc_msg_buffer(64);   // size 64, capacity >= 64
//   std::memcpy(req.data(), "hello", 5);
//   req.resize(5);
//
// A MsgBuffer is move-only and returns its memory to its Rpc's pool when
// destroyed (owner thread only, like every Rpc object). The memory has room
// for packet 0's header just before data(), so a single-packet message goes
// to the transport as one contiguous frame [header][payload] without a copy.
// Later packets of a multi-packet message point into the payload at their
// offset, with their headers beside them in the send batch (every transport
// gathers header and payload, or copies the 40-byte header into its frame).
//
//   block: [pad][hdr 0: kPktHdrSize][payload: capacity bytes]
//          ^ 64-byte aligned        ^ 64-byte aligned (kBufHeadroom)
//
// Buffers of kBareBufferBytes or more have no headroom: their blocks are
// exactly their capacity, so they tile 2 MiB hugepages (64 bytes more would
// leave one 1 MiB block per 2 MiB page). Their messages are many packets,
// whose headers all go in the send batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "flit/config.h"
#include "flit/error.h"

namespace flit {

class MsgBufferPool;

// Bytes before a buffer's payload; packet 0's header ends there.
inline constexpr size_t kBufHeadroom = 64;
static_assert(kBufHeadroom >= kPktHdrSize);
// Capacity from which buffers have no headroom (see above).
inline constexpr size_t kBareBufferBytes = size_t{256} << 10;
// The headroom of a pool buffer of this capacity.
inline constexpr size_t buffer_headroom(size_t capacity) {
  return capacity < kBareBufferBytes ? kBufHeadroom : 0;
}

class MsgBuffer {
 public:
  MsgBuffer() = default;
  MsgBuffer(MsgBuffer&& o) noexcept { steal(o); }
  MsgBuffer& operator=(MsgBuffer&& o) noexcept {
    if (this != &o) {
      release();
      steal(o);
    }
    return *this;
  }
  MsgBuffer(const MsgBuffer&) = delete;
  MsgBuffer& operator=(const MsgBuffer&) = delete;
  ~MsgBuffer() { release(); }

  // False for a default-constructed or moved-from buffer.
  bool valid() const { return data_ != nullptr; }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  std::span<uint8_t> span() { return {data(), size_}; }
  std::span<const uint8_t> span() const { return {data(), size_}; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data()), size_}; }

  // Sets the message size. No allocation: n must not exceed capacity().
  void resize(size_t n) {
    FLIT_CHECK(n <= capacity_, "MsgBuffer::resize beyond capacity: n", n, "capacity", capacity_);
    size_ = static_cast<uint32_t>(n);
  }

  // Returns the memory to the pool now; the buffer becomes invalid.
  void release();

 private:
  friend class MsgBufferPool;
  friend class Rpc;

  // data: the payload's start, kBufHeadroom into its block unless the
  // capacity is kBareBufferBytes or more.
  MsgBuffer(MsgBufferPool* pool, uint8_t* data, uint32_t capacity, uint32_t size_class)
      : pool_(pool), data_(data), capacity_(capacity), size_(capacity), class_(size_class) {}

  void steal(MsgBuffer& o) {
    pool_ = o.pool_;
    data_ = o.data_;
    capacity_ = o.capacity_;
    size_ = o.size_;
    class_ = o.class_;
    o.data_ = nullptr;
    o.size_ = o.capacity_ = 0;
  }

  MsgBufferPool* pool_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  uint32_t class_ = 0;
};

}  // namespace flit
