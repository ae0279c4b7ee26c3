// tests/fuzz/fuzz.h: what a fuzz target in tests/fuzz/ provides.
//
// Each target defines LLVMFuzzerTestOneInput (libFuzzer's entry point: it
// must not crash, leak or hang on any input, and aborts when an invariant of
// its own fails) and flit_fuzz_seeds(), valid inputs to start mutating from.
// Built with clang and -Dfuzzing=true, a target links libFuzzer; otherwise
// it links driver.cc, a deterministic mutator that CI runs as a test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

std::vector<std::vector<uint8_t>> flit_fuzz_seeds();
