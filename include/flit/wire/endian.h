// flit/wire/endian.h: explicit little-endian loads and stores.
//
//   uint8_t b[8];
//   flit::wire::store_le<uint32_t>(b, 0x01020304);   // b = 04 03 02 01
//   uint32_t v = flit::wire::load_le<uint32_t>(b);   // 0x01020304 on any host
//
// The wire is little-endian whatever the host is. These helpers are the only
// way generated code touches scalar bytes: they go through memcpy (so the
// address need not be aligned) and swap on big-endian hosts (s390x, tested
// under qemu in CI). On little-endian hosts they compile to one mov.
// Floating-point values travel as their IEEE 754 bit patterns.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace flit::wire {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "mixed-endian hosts are not supported");

namespace detail {

template <typename U>
constexpr U byteswap(U v) {
  if constexpr (sizeof(U) == 1) {
    return v;
  } else if constexpr (sizeof(U) == 2) {
    return static_cast<U>(__builtin_bswap16(v));
  } else if constexpr (sizeof(U) == 4) {
    return static_cast<U>(__builtin_bswap32(v));
  } else {
    static_assert(sizeof(U) == 8);
    return static_cast<U>(__builtin_bswap64(v));
  }
}

// The unsigned integer of T's size.
template <size_t N>
struct UintOfSize;
template <>
struct UintOfSize<1> {
  using type = uint8_t;
};
template <>
struct UintOfSize<2> {
  using type = uint16_t;
};
template <>
struct UintOfSize<4> {
  using type = uint32_t;
};
template <>
struct UintOfSize<8> {
  using type = uint64_t;
};

}  // namespace detail

// Types that travel as fixed-size little-endian scalars: integers, bool,
// float, double and enums (as their underlying type).
template <typename T>
concept WireScalar = std::is_arithmetic_v<T> || std::is_enum_v<T>;

// Reads a T stored little-endian at p (any alignment). No bounds check: the
// caller validated the range.
template <WireScalar T>
inline T load_le(const uint8_t* p) {
  using U = typename detail::UintOfSize<sizeof(T)>::type;
  U u;
  std::memcpy(&u, p, sizeof(U));
  if constexpr (std::endian::native == std::endian::big) u = detail::byteswap(u);
  if constexpr (std::is_same_v<T, bool>) {
    return u != 0;
  } else {
    T v;
    std::memcpy(&v, &u, sizeof(T));
    return v;
  }
}

// Writes v little-endian at p (any alignment). No bounds check.
template <WireScalar T>
inline void store_le(uint8_t* p, T v) {
  using U = typename detail::UintOfSize<sizeof(T)>::type;
  U u;
  if constexpr (std::is_same_v<T, bool>) {
    u = v ? 1 : 0;
  } else {
    std::memcpy(&u, &v, sizeof(T));
  }
  if constexpr (std::endian::native == std::endian::big) u = detail::byteswap(u);
  std::memcpy(p, &u, sizeof(U));
}

}  // namespace flit::wire
