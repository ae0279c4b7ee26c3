// tests/dpdk/dpdk_skip.h: why a DPDK test binary cannot run here, and the
// main() that acts on it: where DPDK cannot run, exit 77 (skipped, in meson's
// protocol) with the reason, instead of running tests that would fail or
// passing ones that did not run. Shared by the DPDK test binaries.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace flit::testing {

// "" when this process can run DPDK with `min_free` free 2 MiB hugepages
// (root, the pages, hugetlbfs mounted); else the reason, naming the fix.
inline std::string why_no_dpdk(long min_free) {
  if (geteuid() != 0) return "needs root (DPDK maps hugepages and memif sockets)";
  bool enough = false;
  std::ifstream mi("/proc/meminfo");
  for (std::string line; std::getline(mi, line);) {
    if (line.rfind("HugePages_Free:", 0) == 0) enough = std::stol(line.substr(15)) >= min_free;
  }
  if (!enough) {
    return "fewer than " + std::to_string(min_free) +
           " free 2 MiB hugepages: run scripts/hugepages.sh";
  }
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    if (line.find(" hugetlbfs ") != std::string::npos) return "";
  }
  return "no hugetlbfs mounted: run scripts/hugepages.sh";
}

// The tests' result, or 77 after printing why `what` cannot run here.
inline int run_or_skip(const char* what, const std::string& why) {
  if (!why.empty()) {
    std::fprintf(stderr, "%s skipped: %s\n", what, why.c_str());
    return 77;
  }
  return RUN_ALL_TESTS();
}

}  // namespace flit::testing
