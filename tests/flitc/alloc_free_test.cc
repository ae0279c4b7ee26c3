// The marshaling hot paths do no heap allocation: building a message in
// place, validating it, reading every field through views, and encoding an
// owning value into a caller's buffer. This binary replaces the global
// operator new to count allocations (hence its own executable).
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "../alloc_counter.h"
#include "all_types.flit.h"

namespace {

using flit_test::EverythingBuilder;
using flit_test::EverythingView;

// Builds a message touching every kind of field; returns its size or 0.
size_t build(std::span<uint8_t> buf) {
  flit::wire::Writer w(buf);
  auto b = EverythingBuilder::init_root(w);
  auto s = b.init_scalars();
  s.set_u64v(1);
  s.set_f64v(2.5);
  s.set_level(flit_test::Level::kHigh);
  b.set_text("text");
  const uint8_t raw[] = {1, 2, 3};
  b.set_data(raw);
  auto in = b.init_inner();
  in.set_name("inner");
  in.init_tags(2).set(1, std::string_view("t"));
  auto bools = b.init_bools(3);
  bools.set(0, true);
  const uint64_t u64s[] = {5, 6, 7};
  b.init_u64s(3).assign(u64s);
  auto strings = b.init_strings(2);
  strings.set(0, std::string_view("a"));
  strings.set(1, std::string_view("b"));
  auto inners = b.init_inners(2);
  inners[0].set_id(1);
  inners[1].init_tags(1).set(0, std::string_view("x"));
  b.set_opt_text("opt");
  b.init_opt_inner().set_id(9);
  b.init_opt_list(1).set(0, -1);
  return w.finish() == flit::Status::kOk ? w.size() : 0;
}

size_t read_all(const EverythingView& v) {
  size_t n = v.scalars().u64v() + v.text().size() + v.data().size() + v.inner().name().size();
  for (auto t : v.inner().tags()) n += t.size();
  for (bool x : v.bools()) n += x;
  for (uint64_t x : v.u64s()) n += x;
  for (auto s : v.strings()) n += s.size();
  for (auto in : v.inners()) {
    n += in.id();
    for (auto t : in.tags()) n += t.size();
  }
  n += v.opt_text().size() + v.opt_inner().id() + v.opt_list().size();
  return n;
}

TEST(AllocFree, BuildValidateAndReadAllocateNothing) {
  std::vector<uint8_t> buf(4096);
  size_t before = flit::testing::heap_allocations();
  size_t size = build(buf);
  EverythingView v;
  flit::Status st = EverythingView::parse(std::span<const uint8_t>(buf.data(), size), &v);
  size_t sum = read_all(v);
  size_t after = flit::testing::heap_allocations();
  ASSERT_GT(size, 0u);
  ASSERT_EQ(st, flit::Status::kOk);
  EXPECT_EQ(sum, 1u + 4 + 3 + 5 + 1 + 1 + 18 + 2 + 1 + 1 + 3 + 9 + 1);
  EXPECT_EQ(after - before, 0u) << "heap allocations on the build/parse/read path";
}

TEST(AllocFree, EncodingAnOwningValueAllocatesNothing) {
  flit_test::Everything e;
  e.text = std::string(100, 'x');
  e.inners.resize(3);
  e.strings = {"a", "bb"};
  e.u64s = {1, 2, 3};
  std::vector<uint8_t> buf(4096);
  size_t before = flit::testing::heap_allocations();
  size_t n = e.encoded_size();
  size_t written = 0;
  flit::Status st = e.encode(buf, &written);
  size_t after = flit::testing::heap_allocations();
  ASSERT_EQ(st, flit::Status::kOk);
  EXPECT_EQ(written, n);
  EXPECT_EQ(after - before, 0u);
}

TEST(AllocFree, CounterSeesTheAllocationsOfDecode) {
  // The convenience path does allocate (strings, vectors): the counter must
  // see it, or the zero counts above prove nothing.
  flit_test::Everything e;
  e.text = std::string(100, 'x');
  e.u64s = {1, 2, 3};
  std::vector<uint8_t> buf(e.encoded_size());
  size_t written = 0;
  ASSERT_EQ(e.encode(buf, &written), flit::Status::kOk);
  flit_test::Everything d;
  size_t before = flit::testing::heap_allocations();
  ASSERT_EQ(flit_test::Everything::decode(buf, &d), flit::Status::kOk);
  EXPECT_GE(flit::testing::heap_allocations() - before, 2u);
}

}  // namespace
