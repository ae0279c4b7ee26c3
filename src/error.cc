#include "flit/error.h"

#include <cstdio>
#include <cstdlib>

namespace flit::detail {

void check_failed(const char* file, int line, const char* cond, const std::string& ctx) {
  std::fprintf(stderr, "flit: check failed at %s:%d: %s%s\n", file, line, cond, ctx.c_str());
  std::abort();
}

}  // namespace flit::detail
