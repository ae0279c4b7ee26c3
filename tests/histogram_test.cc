// tests/histogram_test.cc: flit-bench's latency histogram against known
// distributions.
#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace flit::bench {
namespace {

// Exact percentile of a sorted sample by definition: the smallest value v
// with at least a fraction q of the sample <= v (found by counting, not by
// Histogram's rank formula, so that a wrong formula shows).
uint64_t exact(const std::vector<uint64_t>& sorted, double q) {
  const double n = static_cast<double>(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (static_cast<double>(i + 1) >= q * n * (1.0 - 1e-12)) return sorted[i];
  }
  return sorted.back();
}

void expect_close(const std::vector<uint64_t>& values) {
  Histogram h;
  for (uint64_t v : values) h.record(v);
  std::vector<uint64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    double want = static_cast<double>(exact(sorted, q));
    double got = static_cast<double>(h.percentile(q));
    // Never below the true value; above it by at most one sub-bucket (1/128).
    EXPECT_GE(got, want) << "q=" << q;
    EXPECT_LE(got, want * (1.0 + 1.0 / Histogram::kSubBuckets) + 1) << "q=" << q;
  }
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.max(), sorted.back());
  EXPECT_EQ(h.min(), sorted.front());
}

TEST(Histogram, UniformSmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 100; ++v) h.record(v);
  // Half the values are <= 49, 99 of 100 are <= 98.
  EXPECT_EQ(h.percentile(0.5), 49u);
  EXPECT_EQ(h.percentile(0.99), 98u);
  EXPECT_EQ(h.percentile(0.995), 99u);
  EXPECT_EQ(h.percentile(0.0), 0u);
  EXPECT_EQ(h.percentile(1.0), 99u);
  Histogram one;
  one.record(7);
  EXPECT_EQ(one.percentile(0.0), 7u);
  EXPECT_EQ(one.percentile(0.5), 7u);
  // p99.9 of 1000 values is the 999th, not the max.
  Histogram k;
  for (uint64_t v = 1; v <= 1000; ++v) k.record(v);
  EXPECT_EQ(k.percentile(0.999), 999u);
}

TEST(Histogram, UniformWide) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> d(1000, 10'000'000);
  std::vector<uint64_t> v(200'000);
  for (auto& x : v) x = d(rng);
  expect_close(v);
}

TEST(Histogram, LogNormalLatencies) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> d(std::log(10'000.0), 0.5);  // ~10 us median
  std::vector<uint64_t> v(200'000);
  for (auto& x : v) x = static_cast<uint64_t>(d(rng));
  expect_close(v);
}

TEST(Histogram, ExponentialTail) {
  std::mt19937_64 rng(3);
  std::exponential_distribution<double> d(1.0 / 50'000);
  std::vector<uint64_t> v(100'000);
  for (auto& x : v) x = static_cast<uint64_t>(d(rng)) + 5000;
  expect_close(v);
}

TEST(Histogram, HugeValuesAndMerge) {
  Histogram a, b;
  a.record(1);
  b.record(uint64_t{1} << 62);
  a.merge(b);
  EXPECT_EQ(a.count(), 2u);
  EXPECT_EQ(a.percentile(0.0), 1u);
  EXPECT_EQ(a.percentile(1.0), uint64_t{1} << 62);
  a.reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(0.5), 0u);
}

TEST(Histogram, IndexAndValueAreConsistent) {
  for (uint64_t v :
       {0ull, 1ull, 127ull, 128ull, 129ull, 255ull, 256ull, 1000ull, 123456789ull, ~0ull}) {
    size_t i = Histogram::index(v);
    EXPECT_GE(Histogram::value_at(i), v) << v;
    if (i > 0) {
      EXPECT_LT(Histogram::value_at(i - 1), v) << v;
    }
  }
}

}  // namespace
}  // namespace flit::bench
