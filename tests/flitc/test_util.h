// tests/flitc/test_util.h: helpers shared by the marshaling tests.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "flit/status.h"

namespace flit_test_util {

// Encodes an owning message into a fresh vector of exactly its size.
template <typename T>
std::vector<uint8_t> encode(const T& v) {
  std::vector<uint8_t> out(v.encoded_size());
  size_t written = 0;
  if (v.encode(out, &written) != flit::Status::kOk) out.clear();
  out.resize(written);
  return out;
}

// Decodes, or returns a default value and sets *ok = false.
template <typename T>
T decode(std::span<const uint8_t> bytes, bool* ok = nullptr) {
  T v;
  flit::Status st = T::decode(bytes, &v);
  if (ok != nullptr) *ok = st == flit::Status::kOk;
  return v;
}

// A vector usable as a flit::wire::ResizableBuffer with fixed capacity.
class FixedBuffer {
 public:
  explicit FixedBuffer(size_t capacity) : mem_(capacity) {}
  uint8_t* data() { return mem_.data(); }
  size_t capacity() const { return mem_.size(); }
  size_t size() const { return size_; }
  void resize(size_t n) { size_ = n; }
  std::span<const uint8_t> span() const { return {mem_.data(), size_}; }

 private:
  std::vector<uint8_t> mem_;
  size_t size_ = 0;
};

}  // namespace flit_test_util
