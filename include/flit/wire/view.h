// flit/wire/view.h: reading messages in place, after one validation pass.
//
// Generated views (FooView) are thin wrappers around a StructReader: a
// pointer to the message plus the position and length of one struct block.
// Reading a field is a bounds comparison against the block length (a field
// beyond the block is absent: the writer's schema was older) and a
// little-endian load. Nothing is copied: strings come back as
// std::string_view into the message, lists as views that decode elements on
// access.
//
//   kv::GetRequestView req;
//   if (kv::GetRequestView::parse(bytes, &req) != flit::Status::kOk) reject();
//   std::span<const uint8_t> key = req.key();   // points into `bytes`
//
// Contract: a reader built by parse() is valid only while the message bytes
// are; every accessor is then safe on any input, because parse() validated
// every reference reachable from the root against the message bounds first
// (Validator below). Validation is real code, present in release builds.
// Cost: O(message size + number of fields reachable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "flit/wire/endian.h"
#include "flit/wire/format.h"

namespace flit::wire {

// Random-access iteration over any list view (index-based; the view must
// outlive the iterator). Lets `for (auto x : view.items())` work.
template <typename View>
class IndexIterator {
 public:
  using value_type = decltype(std::declval<const View&>()[0]);
  using difference_type = std::ptrdiff_t;

  IndexIterator() = default;
  IndexIterator(const View* v, uint32_t i) : v_(v), i_(i) {}
  value_type operator*() const { return (*v_)[i_]; }
  IndexIterator& operator++() {
    ++i_;
    return *this;
  }
  IndexIterator operator++(int) {
    IndexIterator t = *this;
    ++i_;
    return t;
  }
  bool operator==(const IndexIterator& o) const { return i_ == o.i_; }

 private:
  const View* v_ = nullptr;
  uint32_t i_ = 0;
};

// A list of scalars (integers, floats, bool, enums) in place.
template <WireScalar T>
class ListView {
 public:
  ListView() = default;
  ListView(const uint8_t* data, uint32_t count) : data_(data), count_(count) {}
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // i < size(), unchecked (like std::span).
  T operator[](uint32_t i) const { return load_le<T>(data_ + size_t{i} * sizeof(T)); }
  IndexIterator<ListView> begin() const { return {this, 0}; }
  IndexIterator<ListView> end() const { return {this, count_}; }

 private:
  const uint8_t* data_ = nullptr;
  uint32_t count_ = 0;
};

// A list of strings (Elem = std::string_view) or bytes
// (Elem = std::span<const uint8_t>): an array of references.
template <typename Elem>
class BlobListView {
 public:
  BlobListView() = default;
  BlobListView(const uint8_t* msg, uint32_t refs_pos, uint32_t count)
      : msg_(msg), refs_pos_(refs_pos), count_(count) {}
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  Elem operator[](uint32_t i) const {
    const uint8_t* r = msg_ + refs_pos_ + size_t{i} * kRefSize;
    uint32_t off = load_le<uint32_t>(r);
    uint32_t len = load_le<uint32_t>(r + 4);
    if constexpr (std::is_same_v<Elem, std::string_view>) {
      return Elem(reinterpret_cast<const char*>(msg_) + off, len);
    } else {
      return Elem(msg_ + off, len);
    }
  }
  IndexIterator<BlobListView> begin() const { return {this, 0}; }
  IndexIterator<BlobListView> end() const { return {this, count_}; }

 private:
  const uint8_t* msg_ = nullptr;
  uint32_t refs_pos_ = 0;
  uint32_t count_ = 0;
};
using StringListView = BlobListView<std::string_view>;
using BytesListView = BlobListView<std::span<const uint8_t>>;

// The fields of one struct block of a validated message. Default-constructed:
// an empty block, every field reads as its default.
class StructReader {
 public:
  constexpr StructReader() = default;
  constexpr StructReader(const uint8_t* msg, uint32_t pos, uint32_t len)
      : msg_(msg), pos_(pos), len_(len) {}

  const uint8_t* msg() const { return msg_; }
  uint32_t pos() const { return pos_; }
  // Bytes of fields the writer sent.
  uint32_t len() const { return len_; }

  // True if the writer's block holds the `size` bytes at `off`.
  bool has(uint32_t off, uint32_t size) const { return uint64_t{off} + size <= len_; }

  template <WireScalar T>
  T scalar(uint32_t off, T def) const {
    return has(off, sizeof(T)) ? load_le<T>(msg_ + pos_ + off) : def;
  }
  // An optional field (presence byte at off, slot bytes in all) is present:
  // the whole slot lies in the block and its presence byte is set. A field
  // that only partly fits is absent.
  bool present(uint32_t off, uint32_t slot) const {
    return has(off, slot) && msg_[pos_ + off] != 0;
  }
  Ref ref(uint32_t off) const {
    if (!has(off, kRefSize)) return {};
    const uint8_t* p = msg_ + pos_ + off;
    return {load_le<uint32_t>(p), load_le<uint32_t>(p + 4)};
  }
  std::string_view string(uint32_t off) const {
    Ref r = ref(off);
    if (r.length == 0) return {};
    return {reinterpret_cast<const char*>(msg_) + r.offset, r.length};
  }
  std::span<const uint8_t> bytes(uint32_t off) const {
    Ref r = ref(off);
    if (r.length == 0) return {};
    return {msg_ + r.offset, r.length};
  }
  StructReader nested(uint32_t off) const {
    Ref r = ref(off);
    if (r.length == 0) return {};
    return {msg_, r.offset, r.length};
  }
  template <WireScalar T>
  ListView<T> list(uint32_t off) const {
    Ref r = ref(off);
    if (r.length == 0) return {};
    return {msg_ + r.offset, r.length};
  }
  template <typename Elem>
  BlobListView<Elem> blob_list(uint32_t off) const {
    Ref r = ref(off);
    if (r.length == 0) return {};
    return {msg_, r.offset, r.length};
  }

 private:
  const uint8_t* msg_ = nullptr;
  uint32_t pos_ = 0;
  uint32_t len_ = 0;
};

// A list of structs: [u32 stride][count elements of stride bytes]. Each
// element is a struct block of `stride` bytes (the writer's fixed size).
// View is the generated FooView, constructible from a StructReader.
template <typename View>
class StructListView {
 public:
  StructListView() = default;
  StructListView(const uint8_t* msg, uint32_t elems_pos, uint32_t stride, uint32_t count)
      : msg_(msg), elems_pos_(elems_pos), stride_(stride), count_(count) {}
  static StructListView from(const StructReader& r, uint32_t off) {
    Ref ref = r.ref(off);
    if (ref.length == 0) return {};
    uint32_t stride = load_le<uint32_t>(r.msg() + ref.offset);
    return {r.msg(), ref.offset + kStructListHeaderSize, stride, ref.length};
  }
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  View operator[](uint32_t i) const {
    return View(StructReader(msg_, elems_pos_ + i * stride_, stride_));
  }
  IndexIterator<StructListView> begin() const { return {this, 0}; }
  IndexIterator<StructListView> end() const { return {this, count_}; }

 private:
  const uint8_t* msg_ = nullptr;
  uint32_t elems_pos_ = 0;
  uint32_t stride_ = 0;
  uint32_t count_ = 0;
};

// One validation pass over a received message. Generated
// FooView::validate() calls these checks for every field its schema knows.
//
// What is checked: the root block and every reference lie inside the
// message; bool and presence bytes are 0 or 1; list counts are at most the
// message size (so no loop runs longer than the message is long); nesting is
// at most kMaxDepth; and the blocks reached sum to at most the message size,
// so overlapping references cannot make validation (or a reader walking the
// message) cost more than linear time. A well-formed writer never overlaps
// blocks. Fields beyond a block's length are absent, not an error.
class Validator {
 public:
  explicit Validator(std::span<const uint8_t> msg)
      : msg_(msg.data()),
        size_(msg.size() > kMaxMessageSize ? 0 : static_cast<uint32_t>(msg.size())),
        budget_(size_),
        too_big_(msg.size() > kMaxMessageSize) {}

  const uint8_t* msg() const { return msg_; }

  // The root block. False if the message is shorter than its header says.
  bool root(StructReader* out) {
    if (too_big_ || size_ < kRootHeaderSize) return false;
    uint32_t len = load_le<uint32_t>(msg_);
    if (!consume(0, uint64_t{kRootHeaderSize} + len)) return false;
    *out = StructReader(msg_, kRootHeaderSize, len);
    return true;
  }

  static bool depth_ok(int depth) { return depth <= kMaxDepth; }

  // Called by a generated validate() for each struct block it walks, at
  // nesting depth: false beyond kMaxDepth. Counts the blocks walked.
  bool enter_struct(int depth) {
    ++structs_walked_;
    return depth_ok(depth);
  }
  // Struct blocks walked so far: at most one per byte of budget charged
  // (absent structs are not walked), so linear in the message size.
  uint64_t structs_walked() const { return structs_walked_; }

  // A bool field: 0 or 1 if sent.
  static bool check_bool(const StructReader& r, uint32_t off) {
    return !r.has(off, 1) || r.msg()[r.pos() + off] <= 1;
  }

  // An optional field's presence byte: 0 or 1 if the whole slot was sent.
  static bool check_presence(const StructReader& r, uint32_t off, uint32_t slot) {
    return !r.has(off, slot) || r.msg()[r.pos() + off] <= 1;
  }

  // A string, bytes or list of fixed-size elements (elem_size bytes each).
  // On success *out is the reference (zero if the field was not sent).
  bool check_blob(const StructReader& r, uint32_t off, uint32_t elem_size, Ref* out) {
    *out = r.ref(off);
    if (out->length == 0) return out->offset <= size_;
    if (elem_size != 1 && out->length > size_) return false;  // count bound
    return consume(out->offset, uint64_t{out->length} * elem_size);
  }

  // A list<bool>: a blob whose bytes are each 0 or 1.
  bool check_bool_list(const StructReader& r, uint32_t off) {
    Ref ref;
    if (!check_blob(r, off, 1, &ref)) return false;
    for (uint32_t i = 0; i < ref.length; ++i) {
      if (msg_[ref.offset + i] > 1) return false;
    }
    return true;
  }

  // A list of strings or bytes: the reference array, then each element.
  bool check_blob_list(const StructReader& r, uint32_t off) {
    Ref ref;
    if (!check_blob(r, off, kRefSize, &ref)) return false;
    for (uint32_t i = 0; i < ref.length; ++i) {
      StructReader elem(msg_, ref.offset + i * kRefSize, kRefSize);
      Ref unused;
      if (!check_blob(elem, 0, 1, &unused)) return false;
    }
    return true;
  }

  // A nested struct's block; *out reads it.
  bool check_struct(const StructReader& r, uint32_t off, StructReader* out) {
    Ref ref;
    if (!check_blob(r, off, 1, &ref)) return false;
    *out = ref.length == 0 ? StructReader() : StructReader(msg_, ref.offset, ref.length);
    return true;
  }

  // A list of structs; *elems_pos, *stride and *count locate the elements.
  bool check_struct_list(const StructReader& r, uint32_t off, uint32_t* elems_pos, uint32_t* stride,
                         uint32_t* count) {
    Ref ref = r.ref(off);
    *elems_pos = *stride = *count = 0;
    if (ref.length == 0) return ref.offset <= size_;
    if (ref.length > size_) return false;
    if (uint64_t{ref.offset} + kStructListHeaderSize > size_) return false;
    uint32_t s = load_le<uint32_t>(msg_ + ref.offset);
    if (!consume(ref.offset, kStructListHeaderSize + uint64_t{ref.length} * s)) return false;
    // Zero-stride elements take no bytes, so the budget does not bound
    // them: references to one 4-byte zero-stride header could each claim up
    // to size_ elements, quadratic work for validation, readers and
    // decode(). Their count over the whole message is bounded separately.
    if (s == 0) {
      zero_stride_elems_ += ref.length;
      if (zero_stride_elems_ > size_) return false;
    }
    *elems_pos = ref.offset + kStructListHeaderSize;
    *stride = s;
    *count = ref.length;
    return true;
  }

 private:
  // [off, off + n) inside the message and within the remaining budget.
  bool consume(uint32_t off, uint64_t n) { return uint64_t{off} + n <= size_ && charge(n); }

  // n more bytes reached, within the remaining budget.
  bool charge(uint64_t n) {
    if (n > budget_) return false;
    budget_ -= static_cast<uint32_t>(n);
    return true;
  }

  const uint8_t* msg_;
  uint32_t size_;
  uint32_t budget_;
  bool too_big_;
  uint64_t structs_walked_ = 0;
  uint64_t zero_stride_elems_ = 0;  // elements of zero-stride struct lists reached
};

}  // namespace flit::wire
