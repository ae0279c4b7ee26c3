#include "msg_buffer_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "flit/error.h"

namespace flit {
namespace {

TEST(MsgBufferPool, AllocGivesRequestedSizeAndAlignedData) {
  MsgBufferPool pool(1432, 8 << 20);
  for (size_t n : {size_t{0}, size_t{1}, size_t{64}, size_t{65}, size_t{1432}, size_t{100000},
                   size_t{8 << 20}}) {
    MsgBuffer b = pool.alloc(n);
    ASSERT_TRUE(b.valid());
    EXPECT_EQ(b.size(), n);
    EXPECT_GE(b.capacity(), n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u) << n;
    std::memset(b.data(), 0xab, n);  // the whole capacity is writable
  }
  EXPECT_EQ(pool.buffers_in_use(), 0u);
}

TEST(MsgBufferPool, HeaderRoomSitsJustBeforeData) {
  MsgBufferPool pool(1432, 1 << 20);
  MsgBuffer b = pool.alloc(10);
  EXPECT_EQ(MsgBufferPool::hdr0(b) + kPktHdrSize, b.data());
}

// Buffers of kBareBufferBytes and more have no header room: their blocks
// are their capacity, so they tile the 2 MiB regions the pool maps, with
// nothing left over, and never overlap.
TEST(MsgBufferPool, LargeBuffersTileTheirRegionsWithoutHeaderRoom) {
  MsgBufferPool pool(1432, 8 << 20);
  struct Case {
    size_t size, per_2mib;  // buffers of `size` that fit in 2 MiB
  };
  size_t mapped = 0;
  for (Case c : {Case{kBareBufferBytes, 8}, Case{1 << 20, 2}, Case{2 << 20, 1}}) {
    std::vector<MsgBuffer> live;
    const size_t n = std::max<size_t>(c.per_2mib, 2) * 2;
    for (size_t i = 0; i < n; ++i) {
      live.push_back(pool.alloc(c.size));
      EXPECT_EQ(MsgBufferPool::hdr0(live.back()), nullptr);
      std::memset(live.back().data(), static_cast<int>(i), c.size);
    }
    mapped += n * c.size;
    EXPECT_EQ(pool.bytes_mapped(), mapped) << c.size << "-byte buffers";
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(live[i].data()[0], static_cast<uint8_t>(i));
      EXPECT_EQ(live[i].data()[c.size - 1], static_cast<uint8_t>(i));
    }
  }
  // 8 MiB: one 8 MiB region, not 10.
  MsgBuffer big = pool.alloc(8 << 20);
  EXPECT_EQ(pool.bytes_mapped(), mapped + (8 << 20));
  // Just below the bare classes, the header room is there.
  MsgBuffer below = pool.alloc(kBareBufferBytes / 2);
  EXPECT_EQ(MsgBufferPool::hdr0(below) + kPktHdrSize, below.data());
}

TEST(MsgBufferPool, FreedBuffersAreReused) {
  MsgBufferPool pool(1432, 1 << 20);
  uint8_t* first;
  {
    MsgBuffer b = pool.alloc(100);
    first = b.data();
    EXPECT_EQ(pool.buffers_in_use(), 1u);
  }
  EXPECT_EQ(pool.buffers_in_use(), 0u);
  size_t mapped = pool.bytes_mapped();
  MsgBuffer c = pool.alloc(100);
  EXPECT_EQ(c.data(), first);
  EXPECT_EQ(pool.bytes_mapped(), mapped);
}

TEST(MsgBufferPool, LiveBuffersNeverOverlap) {
  MsgBufferPool pool(1432, 1 << 20);
  std::vector<MsgBuffer> live;
  for (int i = 0; i < 3000; ++i) live.push_back(pool.alloc(static_cast<size_t>(i % 5000)));
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  for (auto& b : live) {
    uintptr_t lo = reinterpret_cast<uintptr_t>(b.data()) - kPktHdrSize;
    ranges.push_back({lo, reinterpret_cast<uintptr_t>(b.data()) + b.capacity()});
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i - 1].second, ranges[i].first);
  EXPECT_EQ(pool.buffers_in_use(), 3000u);
}

TEST(MsgBufferPool, TooLargeIsAClearError) {
  MsgBufferPool pool(1432, 4096);
  try {
    (void)pool.alloc(4097);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4097"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("max_msg_size"), std::string::npos);
  }
}

// Reads a number from /proc/meminfo ("HugePages_Free:   1024").
long meminfo(const char* key) {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (f == nullptr) return -1;
  char line[256];
  long v = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, key, std::strlen(key)) == 0) v = std::atol(line + std::strlen(key));
  }
  std::fclose(f);
  return v;
}

TEST(MsgBufferPool, UsesHugepagesWhenReserved) {
  long free_pages = meminfo("HugePages_Free:");
  if (free_pages < 2) {
    GTEST_SKIP() << "no free 2 MiB hugepages (run scripts/hugepages.sh as root)";
  }
  MsgBufferPool pool(1432, 1 << 20);
  MsgBuffer b = pool.alloc(1000);
  EXPECT_TRUE(pool.hugepage_backed());
  EXPECT_LT(meminfo("HugePages_Free:"), free_pages);
}

// The transport refuses to register new memory (an RDMA memory-lock
// limit, say): the allocation fails with its error, and the region is not
// kept. Before, each failed refill left a counted, unusable region mapped,
// and every later allocation mapped another.
TEST(MsgBufferPool, MemoryTheTransportRefusesIsNotKept) {
  int calls = 0;
  bool refuse = false;
  MsgBufferPool pool(1432, 1 << 20, [&](void*, size_t) {
    calls++;
    if (refuse) throw Error("cannot register: locked-memory limit");
  });
  MsgBuffer first = pool.alloc(100);
  const size_t mapped = pool.bytes_mapped();
  ASSERT_GT(mapped, 0u);
  refuse = true;
  for (int i = 0; i < 50; ++i) EXPECT_THROW(pool.alloc(1 << 20), Error);
  EXPECT_EQ(pool.bytes_mapped(), mapped);
  EXPECT_EQ(calls, 51);
  refuse = false;  // registration works again: so does the pool
  MsgBuffer big = pool.alloc(1 << 20);
  EXPECT_TRUE(big.valid());
  EXPECT_GT(pool.bytes_mapped(), mapped);
}

// alloc_into replaces what its target held, which goes back to the pool;
// one it refuses leaves the target as it was.
TEST(MsgBufferPool, AllocIntoReturnsTheOldBufferAndKeepsItOnRefusal) {
  MsgBufferPool pool(1432, 1 << 20);
  MsgBuffer b;
  pool.alloc_into(b, 100);
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(b.size(), 100u);
  EXPECT_GE(b.capacity(), 100u);
  EXPECT_EQ(pool.buffers_in_use(), 1u);
  std::memset(b.data(), 0x5c, b.size());
  pool.alloc_into(b, 5000);  // another class: the first buffer goes back
  EXPECT_EQ(b.size(), 5000u);
  EXPECT_GE(b.capacity(), 5000u);
  EXPECT_EQ(pool.buffers_in_use(), 1u);
  std::memset(b.data(), 0x5d, b.size());
  uint8_t* const data = b.data();
  EXPECT_THROW(pool.alloc_into(b, (1 << 20) + 1), Error);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 5000u);
  EXPECT_EQ(b.data()[4999], 0x5d);
  EXPECT_EQ(pool.buffers_in_use(), 1u);
  b.release();
  EXPECT_EQ(pool.buffers_in_use(), 0u);
}

TEST(MsgBufferPool, NumPkts) {
  MsgBufferPool pool(1000, 1 << 20);
  EXPECT_EQ(pool.num_pkts(0), 1u);
  EXPECT_EQ(pool.num_pkts(1000), 1u);
  EXPECT_EQ(pool.num_pkts(1001), 2u);
  EXPECT_EQ(pool.num_pkts(3000), 3u);
}

TEST(MsgBuffer, MoveAndResize) {
  MsgBufferPool pool(1432, 1 << 20);
  MsgBuffer a = pool.alloc(10);
  uint8_t* d = a.data();
  MsgBuffer b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data(), d);
  b.resize(b.capacity());
  b.resize(0);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_DEATH(b.resize(b.capacity() + 1), "beyond capacity");
  b.release();
  EXPECT_FALSE(b.valid());
  EXPECT_EQ(pool.buffers_in_use(), 0u);
}

}  // namespace
}  // namespace flit
