// flit/wire/format.h: the constants of the flit message encoding.
//
// docs/wire-format.md (Messages) is the normative description; this header
// pins the numbers it names. In short:
//
//   message   := u32 root_size, root struct block (root_size bytes), data...
//   struct    := its fields packed in field-number order, no padding
//   reference := u32 offset (from the message start), u32 length
//
// Scalars are little-endian at fixed offsets inside a struct block; strings,
// bytes, lists and nested structs are blocks elsewhere in the message,
// reached through a reference. A reader that knows more fields than a block
// holds reads defaults for the missing ones; one that knows fewer ignores the
// rest. That is the whole of schema evolution.
#pragma once

#include <cstdint>

namespace flit::wire {

// u32 offset + u32 length.
inline constexpr uint32_t kRefSize = 8;
// The u32 size of the root struct block at the start of every message.
inline constexpr uint32_t kRootHeaderSize = 4;
// The u32 stride before the elements of a list of structs.
inline constexpr uint32_t kStructListHeaderSize = 4;
// The stride a writer uses for a list of structs whose fixed size is
// fixed_size: at least 1, so that every element costs a byte of the
// message (an empty struct's element is one unused byte) and a list of
// empty structs is not limited to as many elements as the message has bytes
// (readers' bound on zero-stride elements, wire-format.md rule 6).
constexpr uint32_t struct_list_stride(uint32_t fixed_size) {
  return fixed_size == 0 ? 1 : fixed_size;
}
// Nested structs deeper than this fail validation (the root is depth 0).
inline constexpr int kMaxDepth = 64;
// Offsets are u32: a message is at most 4 GiB - 1 bytes.
inline constexpr uint64_t kMaxMessageSize = 0xFFFFFFFFu;

// A reference as read from the wire. For strings and bytes `length` is in
// bytes, for lists in elements, for a nested struct the block's size.
struct Ref {
  uint32_t offset = 0;
  uint32_t length = 0;
};

}  // namespace flit::wire
