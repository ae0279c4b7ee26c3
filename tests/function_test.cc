#include "flit/function.h"

#include <gtest/gtest.h>

#include <memory>

namespace flit {
namespace {

TEST(Function, EmptyIsFalse) {
  Function<void()> f;
  EXPECT_FALSE(f);
  Function<void()> g = nullptr;
  EXPECT_FALSE(g);
}

TEST(Function, CallsWithCapturesAndArguments) {
  int base = 10;
  Function<int(int)> f = [base](int x) { return base + x; };
  ASSERT_TRUE(f);
  EXPECT_EQ(f(5), 15);
}

TEST(Function, MoveTransfersAndEmptiesSource) {
  auto counter = std::make_shared<int>(0);
  Function<void()> f = [counter] { ++*counter; };
  EXPECT_EQ(counter.use_count(), 2);
  Function<void()> g = std::move(f);
  EXPECT_FALSE(f);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  g();
  EXPECT_EQ(*counter, 1);
  EXPECT_EQ(counter.use_count(), 2);
  Function<void()> h;
  h = std::move(g);
  h();
  EXPECT_EQ(*counter, 2);
  h.reset();
  EXPECT_EQ(counter.use_count(), 1);  // the capture was destroyed
}

TEST(Function, DestroysCaptureOnDestruction) {
  auto counter = std::make_shared<int>(0);
  {
    Function<void()> f = [counter] {};
    EXPECT_EQ(counter.use_count(), 2);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(Function, AssigningOverReleasesOldCapture) {
  auto a = std::make_shared<int>(0);
  auto b = std::make_shared<int>(0);
  Function<void()> f = [a] {};
  f = Function<void()>([b] {});
  EXPECT_EQ(a.use_count(), 1);
  EXPECT_EQ(b.use_count(), 2);
}

}  // namespace
}  // namespace flit
