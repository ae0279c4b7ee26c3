// bench/histogram.h: a log-linear latency histogram with bounded relative
// error (HdrHistogram's idea, in a few lines).
//
// Values (nanoseconds) are bucketed by their power of two and, within it, by
// kSubBuckets linear steps, so any recorded value is reported within
// 1/kSubBuckets (0.8%) of itself. Recording is a few instructions and never
// allocates; memory is fixed (64 * kSubBuckets counters).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace flit::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBits;  // 128
  static constexpr int kNumBuckets = 64 - kSubBits + 1;

  Histogram() : counts_(kNumBuckets * kSubBuckets, 0) {}

  void record(uint64_t v) {
    counts_[index(v)]++;
    total_++;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
    sum_ += v;
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
    sum_ += o.sum_;
  }
  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = sum_ = max_ = 0;
    min_ = UINT64_MAX;
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return total_ == 0 ? 0 : min_; }
  double mean() const { return total_ == 0 ? 0 : static_cast<double>(sum_) / total_; }

  // The smallest recorded value v such that a fraction q (0..1) of values
  // are <= v (the ceil(q*N)-th smallest, at least the first), within the
  // histogram's relative error; the exact max for q=1.
  uint64_t percentile(double q) const {
    if (total_ == 0) return 0;
    if (q >= 1.0) return max_;
    const uint64_t rank = rank_of(q, total_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min(value_at(i), max_);
    }
    return max_;
  }

  // The 0-based rank of the q-quantile of n values: ceil(q*n) - 1, at
  // least 0 and below n. (q*n is nudged down by a relative 1e-12 first, so
  // that 0.99 * 100, which is 99.00000000000001 in binary, ranks 98.)
  static uint64_t rank_of(double q, uint64_t n) {
    const double x = q * static_cast<double>(n) * (1.0 - 1e-12);
    uint64_t k = x <= 0 ? 0 : static_cast<uint64_t>(std::ceil(x));
    if (k == 0) k = 1;
    if (k > n) k = n;
    return k - 1;
  }

  // Bucket index of v: values below kSubBuckets are exact; above, the top
  // kSubBits+1 significant bits select the bucket.
  static size_t index(uint64_t v) {
    if (v < kSubBuckets) return static_cast<size_t>(v);
    int msb = 63 - std::countl_zero(v);  // >= kSubBits
    int shift = msb - kSubBits;
    uint64_t sub = (v >> shift) - kSubBuckets;  // 0..kSubBuckets-1
    return static_cast<size_t>((shift + 1) * kSubBuckets + sub);
  }
  // The highest value that maps to bucket i (so percentiles never understate).
  static uint64_t value_at(size_t i) {
    if (i < kSubBuckets) return i;
    uint64_t shift = i / kSubBuckets - 1;
    uint64_t sub = i % kSubBuckets;
    return ((kSubBuckets + sub + 1) << shift) - 1;
  }

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace flit::bench
