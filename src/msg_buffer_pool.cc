#include "msg_buffer_pool.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace flit {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }
}  // namespace

void MsgBuffer::release() {
  if (data_ == nullptr) return;
  // No pool: a view of memory owned elsewhere (a worker handler's response).
  if (pool_ != nullptr) pool_->free(data_, class_);
  data_ = nullptr;
  size_ = capacity_ = 0;
}

MsgBufferPool::MsgBufferPool(size_t data_per_pkt, size_t max_msg_size,
                             Function<void(void*, size_t)> on_new_memory)
    : data_per_pkt_(data_per_pkt),
      max_msg_size_(max_msg_size),
      on_new_memory_(std::move(on_new_memory)) {
  FLIT_CHECK(data_per_pkt > 0, "data_per_pkt", data_per_pkt);
  regions_.reserve(64);
}

MsgBufferPool::~MsgBufferPool() {
  for (const Region& r : regions_) munmap(r.addr, r.len);
}

size_t MsgBufferPool::block_bytes(uint32_t c) const {
  return round_up(headroom(c) + (kMinBufferClass << c), 64);
}

uint8_t* MsgBufferPool::map_region(size_t bytes) {
  bytes = round_up(bytes, kHugePage);
  void* p = MAP_FAILED;
  if (!tried_hugepages_ || hugepages_) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1,
             0);
    tried_hugepages_ = true;
    // Once hugepages ran out or were never there, stay on ordinary pages
    // rather than paying a failed syscall per refill.
    hugepages_ = p != MAP_FAILED;
  }
  if (p == MAP_FAILED) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      throw Error("flit: cannot map " + std::to_string(bytes) +
                  " bytes for message buffers: " + std::strerror(errno));
    }
    madvise(p, bytes, MADV_HUGEPAGE);
  }
  // Registered with the transport before it is kept: a registration that
  // fails (an RDMA memory-lock limit, say) unmaps the region and throws,
  // rather than leaving a counted region no buffer will ever come from.
  if (on_new_memory_) {
    try {
      on_new_memory_(p, bytes);
    } catch (...) {
      munmap(p, bytes);
      throw;
    }
  }
  if (regions_.size() == regions_.capacity()) regions_.reserve(regions_.size() * 2 + 4);
  regions_.push_back({p, bytes});
  bytes_mapped_ += bytes;
  return static_cast<uint8_t*>(p);
}

void MsgBufferPool::refill(uint32_t c) {
  size_t bb = block_bytes(c);
  size_t region = bb >= kHugePage ? round_up(bb, kHugePage) : kHugePage;
  uint8_t* base = map_region(region);
  size_t n = region / bb;
  for (size_t i = n; i-- > 0;) {
    auto* fb = reinterpret_cast<FreeBlock*>(base + i * bb);
    fb->next = free_[c];
    free_[c] = fb;
  }
}

MsgBuffer MsgBufferPool::alloc(size_t size) {
  MsgBuffer b;
  alloc_into(b, size);
  return b;
}

void MsgBufferPool::alloc_into(MsgBuffer& out, size_t size) {
  if (size > max_msg_size_) [[unlikely]] {
    throw Error("flit: message buffer of " + std::to_string(size) +
                " bytes exceeds the maximum message size " + std::to_string(max_msg_size_) +
                " (NexusConfig::max_msg_size)");
  }
  uint32_t c = 0;
  while ((kMinBufferClass << c) < size) ++c;
  if (free_[c] == nullptr) [[unlikely]]
    refill(c);
  FreeBlock* fb = free_[c];
  free_[c] = fb->next;
  ++in_use_;
  out.release();
  out.pool_ = this;
  out.data_ = reinterpret_cast<uint8_t*>(fb) + headroom(c);
  out.capacity_ = static_cast<uint32_t>(kMinBufferClass << c);
  out.size_ = static_cast<uint32_t>(size);
  out.class_ = c;
}

void MsgBufferPool::free(uint8_t* data, uint32_t c) {
  auto* fb = reinterpret_cast<FreeBlock*>(data - headroom(c));
  fb->next = free_[c];
  free_[c] = fb;
  --in_use_;
}

}  // namespace flit
