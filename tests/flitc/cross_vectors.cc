// cross_vectors: shared test vectors for heterogeneity (x86-64 <-> s390x).
//
// Built for the host (meson test `flitc_cross_vectors`) and cross-compiled
// for big-endian s390x by s390x_test.sh, which runs it under qemu-user. The
// vectors in vectors_data.h were produced on x86-64; every host must encode
// the canonical messages to exactly those bytes and decode those bytes to
// exactly the canonical values. `write`/`read` exchange freshly encoded
// bytes between the two machines through files, both directions.
//
//   cross_vectors check        encode + decode against the embedded vectors
//   cross_vectors write DIR    write DIR/<name>.bin for each vector
//   cross_vectors read DIR     decode DIR/<name>.bin, compare values and bytes
//   cross_vectors dump         print vectors_data.h (to regenerate it)
//
// No GoogleTest: the cross toolchain has only the C++ standard library.
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "all_types.flit.h"
#include "evolution_v1.flit.h"
#include "evolution_v2.flit.h"
#include "vectors_data.h"

namespace {

int failures = 0;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)

template <typename T>
std::vector<uint8_t> encode(const T& v) {
  std::vector<uint8_t> out(v.encoded_size());
  size_t n = 0;
  if (v.encode(out, &n) != flit::Status::kOk) return {};
  out.resize(n);
  return out;
}

flit_test::Everything everything() {
  using flit_test::Level;
  using flit_test::common::Color;
  flit_test::Everything e;
  e.scalars.b = true;
  e.scalars.i8v = -2;
  e.scalars.i16v = -300;
  e.scalars.i32v = -70000;
  e.scalars.i64v = std::numeric_limits<int64_t>::min() + 5;
  e.scalars.u8v = 0xAB;
  e.scalars.u16v = 0xBEEF;
  e.scalars.u32v = 0xDEADBEEF;
  e.scalars.u64v = 0x0123456789ABCDEF;
  e.scalars.f32v = -1.25f;
  e.scalars.f64v = 3.141592653589793;
  e.scalars.level = Level::kLow;
  e.scalars.color = Color::kDeepBlue;
  e.text = "flit";
  e.data = {0xDE, 0xAD, 0x00, 0xFF};
  e.inner = {7, "ab", {"c", ""}};
  e.point = {-3, 4, "pt"};
  e.bools = {true, false, true};
  e.i16s = {-1, 2, -32768};
  e.u64s = {1, 0xFFFFFFFF00000000};
  e.f64s = {0.5, -1e100};
  e.levels = {Level::kHigh, Level::kLow};
  e.strings = {"x", "", "yz"};
  e.blobs = {{1, 2}, {}};
  e.inners = {{1, "i1", {"t"}}, {2, "", {}}};
  e.opt_u32 = 0x01020304;
  e.opt_inner = flit_test::Inner{5, "o", {}};
  e.opt_list = std::vector<int32_t>{-7};
  e.opt_bool = true;
  e.colors = {Color::kRed, Color::kDeepBlue};
  return e;
}

evo::v1::Record record_v1() {
  evo::v1::Record r;
  r.id = 0x1122334455667788;
  r.name = "v1";
  r.items = {{1, "a"}, {2, "b"}};
  r.kind = evo::v1::Kind::kB;
  r.sub = {3, "s"};
  return r;
}

evo::v2::Record record_v2() {
  evo::v2::Record r;
  r.id = 99;
  r.name = "v2";
  r.items = {{1, "a", 0.125, "n"}};
  r.kind = evo::v2::Kind::kC;
  r.sub = {3, "s", -4.0, std::nullopt};
  r.extra = 0xCAFE;
  r.tags = {"t"};
  r.maybe = evo::v2::Item{4, "m", 1.0, std::nullopt};
  r.flag = true;
  return r;
}

struct Vector {
  const char* name;
  std::function<std::vector<uint8_t>()> encode;
  // Decodes bytes and checks the values; returns false on mismatch.
  std::function<bool(const std::vector<uint8_t>&)> decode_ok;
  const uint8_t* expected;
  size_t expected_size;
};

template <typename T>
bool decodes_to(const std::vector<uint8_t>& b, const T& want) {
  T got;
  return T::decode(b, &got) == flit::Status::kOk && got == want;
}

std::vector<Vector> vectors() {
  using namespace flit_vectors;
  return {
      {"everything", [] { return encode(everything()); },
       [](const std::vector<uint8_t>& b) { return decodes_to(b, everything()); }, kEverything,
       sizeof(kEverything)},
      {"everything_default", [] { return encode(flit_test::Everything{}); },
       [](const std::vector<uint8_t>& b) { return decodes_to(b, flit_test::Everything{}); },
       kEverythingDefault, sizeof(kEverythingDefault)},
      {"record_v1", [] { return encode(record_v1()); },
       [](const std::vector<uint8_t>& b) {
         // And the v2 reader of v1 bytes.
         evo::v2::Record r;
         return decodes_to(b, record_v1()) && evo::v2::Record::decode(b, &r) == flit::Status::kOk &&
                r.name == "v1" && r.items.size() == 2 && r.items[1].name == "b" && r.extra == 0 &&
                !r.flag;
       },
       kRecordV1, sizeof(kRecordV1)},
      {"record_v2", [] { return encode(record_v2()); },
       [](const std::vector<uint8_t>& b) {
         // And the v1 reader of v2 bytes.
         evo::v1::Record r;
         return decodes_to(b, record_v2()) && evo::v1::Record::decode(b, &r) == flit::Status::kOk &&
                r.id == 99 && r.items.size() == 1 && r.items[0].name == "a" && r.sub.name == "s" &&
                static_cast<int>(r.kind) == 2;
       },
       kRecordV2, sizeof(kRecordV2)},
  };
}

// Hand-written from docs/wire-format.md (Messages), independent of the
// encoder: guards against an encoder and decoder that agree on a wrong
// byte order.
void check_hand_written() {
  flit_test::common::Point p{-3, 4, "pt"};
  const std::vector<uint8_t> point = {0x10, 0x00, 0x00, 0x00,  // root block: 16 bytes
                                      0xFD, 0xFF, 0xFF, 0xFF,  // x = -3
                                      0x04, 0x00, 0x00, 0x00,  // y = 4
                                      0x14, 0x00, 0x00, 0x00,  // label: offset 20
                                      0x02, 0x00, 0x00, 0x00,  //        length 2
                                      'p',  't'};
  CHECK(encode(p) == point);
  CHECK(decodes_to(point, p));

  flit_test::Inner in{7, "ab", {"c", ""}};
  const std::vector<uint8_t> inner = {
      0x14, 0x00, 0x00, 0x00,                          // root block: 20 bytes
      0x07, 0x00, 0x00, 0x00,                          // id = 7
      0x18, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,  // name -> [24, +2)
      0x1A, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,  // tags -> 2 refs at 26
      'a',  'b',                                       // name
      0x2A, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // tags[0] -> [42, +1)
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // tags[1]: empty
      'c'};
  CHECK(encode(in) == inner);
  CHECK(decodes_to(inner, in));

  flit_test::Scalars s;
  s.u16v = 0x0102;
  s.f32v = 1.0f;                                  // 0x3F800000
  s.color = flit_test::common::Color::kDeepBlue;  // 0x0300
  std::vector<uint8_t> b = encode(s);
  // Scalars: b i8 i16 i32 i64 u8 u16 ... offsets 0 1 2 4 8 16 17 19 23 31 35 43 44.
  CHECK(b.size() == 4 + 46);
  CHECK(b[4 + 17] == 0x02 && b[4 + 18] == 0x01);
  CHECK(b[4 + 31] == 0x00 && b[4 + 32] == 0x00 && b[4 + 33] == 0x80 && b[4 + 34] == 0x3F);
  CHECK(b[4 + 44] == 0x00 && b[4 + 45] == 0x03);
}

std::vector<uint8_t> read_file(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int check() {
  check_hand_written();
  for (const Vector& v : vectors()) {
    std::vector<uint8_t> want(v.expected, v.expected + v.expected_size);
    if (v.encode() != want) {
      std::fprintf(stderr, "vector %s: encoding differs from the x86-64 bytes\n", v.name);
      ++failures;
    }
    if (!v.decode_ok(want)) {
      std::fprintf(stderr, "vector %s: x86-64 bytes decode to different values\n", v.name);
      ++failures;
    }
  }
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "check";
  const char* host = std::endian::native == std::endian::big ? "big-endian" : "little-endian";
  if (mode == "check") {
    int f = check();
    std::printf("cross_vectors check (%s host): %s\n", host, f == 0 ? "ok" : "FAILED");
    return f == 0 ? 0 : 1;
  }
  if (mode == "write" && argc == 3) {
    for (const Vector& v : vectors()) {
      std::ofstream out(std::string(argv[2]) + "/" + v.name + ".bin", std::ios::binary);
      std::vector<uint8_t> b = v.encode();
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
      if (!out) return 2;
    }
    std::printf("cross_vectors write (%s host): wrote %zu vectors\n", host, vectors().size());
    return 0;
  }
  if (mode == "read" && argc == 3) {
    for (const Vector& v : vectors()) {
      bool ok;
      std::vector<uint8_t> b = read_file(std::string(argv[2]) + "/" + v.name + ".bin", &ok);
      CHECK(ok);
      if (!v.decode_ok(b)) {
        std::fprintf(stderr, "vector %s: bytes from the other host decode differently\n", v.name);
        ++failures;
      }
      if (b != std::vector<uint8_t>(v.expected, v.expected + v.expected_size)) {
        std::fprintf(stderr, "vector %s: bytes from the other host differ\n", v.name);
        ++failures;
      }
    }
    std::printf("cross_vectors read (%s host): %s\n", host, failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
  }
  if (mode == "dump") {
    std::printf(
        "// tests/flitc/vectors_data.h: the shared test vectors, as encoded on x86-64.\n"
        "// Regenerate with `cross_vectors dump` only when the canonical messages in\n"
        "// cross_vectors.cc change (never to paper over an encoding change: that\n"
        "// would break compatibility with every deployed reader).\n"
        "#pragma once\n\n#include <cstdint>\n\nnamespace flit_vectors {\n");
    const char* names[] = {"kEverything", "kEverythingDefault", "kRecordV1", "kRecordV2"};
    size_t k = 0;
    for (const Vector& v : vectors()) {
      std::vector<uint8_t> b = v.encode();
      std::printf("\n// %s\ninline constexpr uint8_t %s[] = {", v.name, names[k++]);
      for (size_t i = 0; i < b.size(); ++i) {
        std::printf("%s0x%02x,", i % 12 == 0 ? "\n    " : " ", b[i]);
      }
      std::printf("\n};\n");
    }
    std::printf("\n}  // namespace flit_vectors\n");
    return 0;
  }
  std::fprintf(stderr, "usage: cross_vectors check | write DIR | read DIR | dump\n");
  return 2;
}
