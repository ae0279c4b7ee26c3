// tests/fuzz/fuzz_view.cc: the generated decoder (view validation, then
// every field read into the owning type) against arbitrary bytes, for the
// schema that uses every type (tests/flitc/all_types.flit).
//
// Oracle: parse never reads out of bounds (ASan), and whatever decodes is a
// fixed point of encoding: encode(decode(x)) decodes, and encodes to the same
// bytes again (bytes, not ==: a NaN read from the input is not equal to
// itself). The seeds are encodings of a full and of an empty message.
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "all_types.flit.h"
#include "fuzz.h"

namespace {

using flit_test::Everything;
using flit_test::Inner;

std::vector<uint8_t> encode(const Everything& e) {
  std::vector<uint8_t> out(e.encoded_size());
  size_t written = 0;
  if (e.encode(out, &written) != flit::Status::kOk) {
    std::fprintf(stderr, "fuzz_view: a decoded message does not encode\n");
    std::abort();
  }
  out.resize(written);
  return out;
}

}  // namespace

std::vector<std::vector<uint8_t>> flit_fuzz_seeds() {
  Everything e;
  e.scalars.b = true;
  e.scalars.i64v = std::numeric_limits<int64_t>::min();
  e.scalars.u32v = 0xFFFFFFFF;
  e.scalars.f64v = 6.02214076e23;
  e.text = "héllo";
  e.data = {0, 1, 2, 0xFF};
  e.inner = {7, "inner", {"a", "", "ccc"}};
  e.point = {-3, 4, "pt"};
  e.bools = {true, false, true};
  e.i16s = {-1, 0, 32767};
  e.u64s = {0, ~uint64_t{0}};
  e.f64s = {0.0, -0.0, 1e308};
  e.strings = {"", "x", std::string(100, 'y')};
  e.blobs = {{}, {1}, {2, 3}};
  e.inners = {{1, "one", {}}, {2, "two", {"t"}}, {}};
  e.opt_u32 = 0;
  e.opt_text = "";
  e.opt_inner = Inner{9, "opt", {"o"}};
  e.opt_list = std::vector<int32_t>{5, -5};
  e.opt_bool = false;
  return {encode(e), encode(Everything{})};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Everything e;
  if (Everything::decode({data, size}, &e) != flit::Status::kOk) return 0;
  const std::vector<uint8_t> once = encode(e);
  Everything again;
  if (Everything::decode(once, &again) != flit::Status::kOk) {
    std::fprintf(stderr, "fuzz_view: our own encoding of a decoded message does not decode\n");
    std::abort();
  }
  if (encode(again) != once) {
    std::fprintf(stderr, "fuzz_view: decode and encode are not a fixed point\n");
    std::abort();
  }
  return 0;
}
