// src/option_parse.h: the numbers in transport options (key=value), one
// rule for every transport's parser.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "flit/error.h"

namespace flit::detail {

// Splits a transport option "key=value"; throws naming the transport and
// the bad option.
inline std::pair<std::string, std::string> split_option(std::string_view transport,
                                                        const std::string& opt) {
  const size_t eq = opt.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error("flit " + std::string(transport) + ": transport option '" + opt +
                "' is not key=value");
  }
  return {opt.substr(0, eq), opt.substr(eq + 1)};
}

// The number in option key=v, which must lie in [lo, hi]: decimal digits
// only (no sign, space or suffix: "-1" is not a huge number), or with
// hex_ok also 0x-prefixed hexadecimal. Throws naming the option and the
// range.
inline uint64_t parse_option_num(std::string_view transport, const std::string& key,
                                 const std::string& v, uint64_t lo, uint64_t hi,
                                 bool hex_ok = false) {
  const std::string where = "flit " + std::string(transport) + ": option " + key + "=" + v;
  std::string_view digits = v;
  int base = 10;
  if (hex_ok && digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n, base);
  if (digits.empty() || end != digits.data() + digits.size() || ec == std::errc::invalid_argument) {
    throw Error(where + ": not a number" + (hex_ok ? " (decimal, or hex as 0x...)" : ""));
  }
  if (ec == std::errc::result_out_of_range || n < lo || n > hi) {
    throw Error(where + ": out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return n;
}

}  // namespace flit::detail
