// flit/wire/builder.h: writing messages in place, with no allocation.
//
// A Writer hands out space front to back in one caller-owned buffer (a
// MsgBuffer's memory, typically). Generated builders (FooBuilder) write
// scalars straight to their fixed offsets and append strings, bytes, lists
// and nested structs after what is already written, storing a reference.
//
//   flit::MsgBuffer buf = rpc.alloc_msg_buffer(256);   // capacity, not size
//   flit::wire::Writer w(buf);
//   auto req = kv::PutRequestBuilder::init_root(w);
//   req.set_key(key_bytes);
//   req.set_version(7);
//   if (w.finish(buf) != flit::Status::kOk) ...;       // buf.size() = bytes written
//
// Capacity: the Writer never writes past the buffer it was given. If a field
// does not fit, the Writer records the failure, every later write through it
// (and through any builder on it) is a no-op, and finish() returns
// kResourceExhausted. So a builder can be filled without checking each
// setter; check finish(). To size a buffer exactly beforehand, encode the
// owning type instead (Foo::encoded_size()), or allocate the maximum.
//
// Lifetime: builders hold a pointer to their Writer, which must outlive them;
// the Writer holds a pointer to the buffer. Owner thread of the buffer only.
// Cost: each setter is a store (scalars) or a bounds check plus memcpy
// (variable-size data). No heap allocation, no syscalls.
//
// Set each variable-size field at most once: setting it again appends the
// new value and leaves the old bytes unreferenced in the message.
#pragma once

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "flit/status.h"
#include "flit/wire/endian.h"
#include "flit/wire/format.h"

namespace flit::wire {

// A buffer the Writer can fill up to capacity() and then shrink to the bytes
// written with resize(): flit::MsgBuffer satisfies it. Standard containers
// (anything with reserve()) are excluded on purpose: writing past a
// std::vector's size() is undefined, and its resize() would then overwrite
// the message with zeros. Give those to the Writer as a std::span.
template <typename B>
concept HasReserve = requires(B& b, size_t n) {
  b.reserve(n);
};
template <typename B>
concept ResizableBuffer = !HasReserve<B> && requires(B & b, size_t n) {
  { b.data() } -> std::convertible_to<uint8_t*>;
  { b.capacity() } -> std::convertible_to<size_t>;
  b.resize(n);
};

// Position returned by Writer::alloc() when the space did not fit.
inline constexpr uint32_t kNoSpace = 0xFFFFFFFFu;

class Writer {
 public:
  // Writes into buf (all of it may be used).
  explicit Writer(std::span<uint8_t> buf)
      : buf_(buf.data()),
        cap_(static_cast<uint32_t>(std::min<uint64_t>(buf.size(), kMaxMessageSize))) {}
  // Writes into b.data()[0, b.capacity()).
  template <ResizableBuffer B>
  explicit Writer(B& b) : Writer(std::span<uint8_t>(b.data(), b.capacity())) {}

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends n bytes (zeroed if `zero`) and returns their offset, or kNoSpace
  // if they do not fit (the Writer is failed from then on).
  uint32_t alloc(uint64_t n, bool zero = true) {
    if (failed_ || n > uint64_t{cap_} - end_) {
      failed_ = true;
      return kNoSpace;
    }
    uint32_t at = end_;
    if (zero && n != 0) std::memset(buf_ + at, 0, n);
    end_ += static_cast<uint32_t>(n);
    return at;
  }

  uint8_t* at(uint32_t off) { return buf_ + off; }
  // Bytes written so far (the message size once building is done).
  uint32_t size() const { return end_; }
  uint32_t capacity() const { return cap_; }
  // True once something did not fit (or a write went out of range).
  bool failed() const { return failed_; }
  // Marks the message as not buildable: finish() will fail.
  void fail() { failed_ = true; }

  // kOk with the message in [0, size()), or kResourceExhausted if it did
  // not fit in the buffer.
  [[nodiscard]] Status finish() const { return failed_ ? Status::kResourceExhausted : Status::kOk; }
  // finish(), and on success sets b's size to the bytes written.
  template <ResizableBuffer B>
  [[nodiscard]] Status finish(B& b) const {
    if (failed_) return Status::kResourceExhausted;
    b.resize(end_);
    return Status::kOk;
  }

 private:
  uint8_t* buf_;
  uint32_t cap_;
  uint32_t end_ = 0;
  bool failed_ = false;
};

// The part of every generated builder that knows the encoding: a struct
// block at pos_ in the Writer's buffer. A builder whose block did not fit
// (pos_ == kNoSpace) ignores every write.
class StructBuilder {
 public:
  StructBuilder() = default;
  StructBuilder(Writer* w, uint32_t pos) : w_(w), pos_(pos) {}

  bool ok() const { return pos_ != kNoSpace; }

  // Appends a root block of fixed_size bytes (the message header first).
  // The Writer must be empty.
  static StructBuilder root(Writer& w, uint32_t fixed_size) {
    uint32_t hdr = w.alloc(kRootHeaderSize + uint64_t{fixed_size});
    if (hdr == kNoSpace) return {&w, kNoSpace};
    store_le<uint32_t>(w.at(hdr), fixed_size);
    return {&w, hdr + kRootHeaderSize};
  }

  template <WireScalar T>
  void put(uint32_t off, T v) {
    if (ok()) store_le<T>(w_->at(pos_ + off), v);
  }
  void put_present(uint32_t off, bool present) { put<uint8_t>(off, present ? 1 : 0); }

  // Appends n bytes of data and points the reference at off to them.
  void put_blob(uint32_t off, const void* data, uint64_t n) {
    uint32_t at = alloc_ref(off, n, n, false);
    if (at != kNoSpace && n != 0) std::memcpy(w_->at(at), data, n);
  }
  void put_string(uint32_t off, std::string_view s) { put_blob(off, s.data(), s.size()); }
  void put_bytes(uint32_t off, std::span<const uint8_t> b) { put_blob(off, b.data(), b.size()); }

  // Appends a zeroed array of count elements of elem_size bytes, points the
  // reference at off to it (length = count), and returns its position.
  uint32_t put_array(uint32_t off, uint32_t count, uint32_t elem_size) {
    return alloc_ref(off, uint64_t{count} * elem_size, count, true);
  }

  // Appends a zeroed nested block of fixed_size bytes; returns its builder.
  StructBuilder put_struct(uint32_t off, uint32_t fixed_size) {
    return {w_, alloc_ref(off, fixed_size, fixed_size, true)};
  }

  // Appends a list of count structs of stride bytes each; returns the
  // position of element 0 (kNoSpace if it did not fit).
  uint32_t put_struct_list(uint32_t off, uint32_t count, uint32_t stride) {
    if (count == 0) return alloc_ref(off, 0, 0, true);
    uint32_t at = alloc_ref(off, kStructListHeaderSize + uint64_t{count} * stride, count, true);
    if (at == kNoSpace) return kNoSpace;
    store_le<uint32_t>(w_->at(at), stride);
    return at + kStructListHeaderSize;
  }

  Writer* writer() const { return w_; }
  uint32_t pos() const { return pos_; }

 private:
  // Appends n bytes and writes the reference {offset, length} at off. A
  // zero-size block is referenced as {0, length}.
  uint32_t alloc_ref(uint32_t off, uint64_t n, uint32_t length, bool zero) {
    if (!ok()) {
      if (w_ != nullptr) w_->fail();  // the parent did not fit, or bad index
      return kNoSpace;
    }
    uint32_t at = w_->alloc(n, zero);
    if (at == kNoSpace) return kNoSpace;
    uint8_t* r = w_->at(pos_ + off);
    store_le<uint32_t>(r, n == 0 ? 0 : at);
    store_le<uint32_t>(r + 4, length);
    return at;
  }

  Writer* w_ = nullptr;
  uint32_t pos_ = kNoSpace;
};

// Writes the elements of a list<scalar> in place.
template <WireScalar T>
class ListBuilder {
 public:
  ListBuilder() = default;
  ListBuilder(Writer* w, uint32_t pos, uint32_t count) : w_(w), pos_(pos), count_(count) {}
  uint32_t size() const { return pos_ == kNoSpace ? 0 : count_; }
  // i < size(); otherwise nothing is written and the Writer fails.
  void set(uint32_t i, T v) {
    if (i < size()) {
      store_le<T>(w_->at(pos_ + i * uint32_t{sizeof(T)}), v);
    } else if (w_ != nullptr) {
      w_->fail();
    }
  }
  // Sets every element from v, which must have size() elements (otherwise
  // nothing is written and the Writer fails). One memcpy on little-endian
  // hosts.
  void assign(std::span<const T> v) {
    if (v.size() != size()) {
      if (w_ != nullptr) w_->fail();
      return;
    }
    if (v.empty()) return;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(w_->at(pos_), v.data(), v.size_bytes());
    } else {
      for (uint32_t i = 0; i < count_; ++i)
        store_le<T>(w_->at(pos_ + i * uint32_t{sizeof(T)}), v[i]);
    }
  }

 private:
  Writer* w_ = nullptr;
  uint32_t pos_ = kNoSpace;
  uint32_t count_ = 0;
};

// Writes the elements of a list<string> or list<bytes>: each set() appends
// the element's data.
class BlobListBuilder {
 public:
  BlobListBuilder() = default;
  BlobListBuilder(Writer* w, uint32_t pos, uint32_t count) : w_(w), pos_(pos), count_(count) {}
  uint32_t size() const { return pos_ == kNoSpace ? 0 : count_; }
  void set(uint32_t i, std::string_view s) { set_blob(i, s.data(), s.size()); }
  void set(uint32_t i, std::span<const uint8_t> b) { set_blob(i, b.data(), b.size()); }

 private:
  void set_blob(uint32_t i, const void* data, size_t n) {
    StructBuilder(w_, i < size() ? pos_ + i * kRefSize : kNoSpace).put_blob(0, data, n);
  }
  Writer* w_ = nullptr;
  uint32_t pos_ = kNoSpace;
  uint32_t count_ = 0;
};

// Hands out a builder per element of a list<struct>; Builder is the
// generated FooBuilder (constructible from a StructBuilder).
template <typename Builder>
class StructListBuilder {
 public:
  StructListBuilder() = default;
  StructListBuilder(Writer* w, uint32_t pos, uint32_t count, uint32_t stride)
      : w_(w), pos_(pos), count_(count), stride_(stride) {}
  uint32_t size() const { return pos_ == kNoSpace ? 0 : count_; }
  // Element i (< size()); a builder that ignores writes if the list did not
  // fit or i is out of range.
  Builder operator[](uint32_t i) const {
    if (i >= size() && w_ != nullptr) w_->fail();
    return Builder(StructBuilder(w_, i < size() ? pos_ + i * stride_ : kNoSpace));
  }

 private:
  Writer* w_ = nullptr;
  uint32_t pos_ = kNoSpace;
  uint32_t count_ = 0;
  uint32_t stride_ = 0;
};

namespace detail {

// Sum of element sizes (strings or byte vectors): a list's data bytes.
template <typename C>
size_t sum_sizes(const C& c) {
  size_t n = 0;
  for (const auto& x : c) n += x.size();
  return n;
}

// Bytes a list of owning structs appends: its element block and each
// element's own variable-size data.
template <typename C>
size_t struct_list_size(const C& c) {
  if (c.empty()) return 0;
  size_t n =
      kStructListHeaderSize + c.size() * size_t{struct_list_stride(C::value_type::kFixedSize)};
  for (const auto& x : c) n += x.var_size();
  return n;
}

}  // namespace detail

}  // namespace flit::wire
