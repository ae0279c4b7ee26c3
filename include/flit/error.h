// flit/error.h: control-path errors and checked invariants.
//
// Setup that cannot continue (bad URI, no such transport, port in use, misuse
// of an Rpc from a foreign thread) throws flit::Error with a message that says
// what is wrong and, where there is one, the fix. The data path never throws
// for bad input from the network: it drops and counts.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace flit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
[[noreturn]] void check_failed(const char* file, int line, const char* cond,
                               const std::string& ctx);

// The context items, each preceded by a space: "what", name, value, ...
template <typename... Ctx>
std::string format_ctx(const Ctx&... ctx) {
  std::ostringstream os;
  ((os << ' ' << ctx), ...);
  return os.str();
}
}  // namespace detail

}  // namespace flit

// FLIT_CHECK(n <= kMax, "n", n, "max", kMax): aborts with the condition and
// the given context (printed in order, space-separated) when an invariant of flit's own is broken.
// Present in release builds; not for validating network input (drop and count that).
#define FLIT_CHECK(cond, ...)                                                \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      ::flit::detail::check_failed(__FILE__, __LINE__, #cond,                \
                                   ::flit::detail::format_ctx(__VA_ARGS__)); \
  } while (0)

#if defined(__GNUC__)
#define FLIT_HOT __attribute__((hot))
#define FLIT_COLD __attribute__((cold, noinline))
#define FLIT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FLIT_HOT
#define FLIT_COLD
#define FLIT_ALWAYS_INLINE inline
#endif
