// tests/fuzz/driver.cc: a deterministic stand-in for libFuzzer, so the fuzz
// targets run as ordinary tests with any compiler (CI uses gcc):
//
//   fuzz_TARGET [--runs N] [--seed S] [--dump-seeds DIR] [FILE...]
//
// Runs every FILE as an input and adds it to the seeds, then each seed of
// flit_fuzz_seeds() as is,
// then N inputs (default 20000) made by mutating seeds: bit flips, bytes set
// to interesting values, little-endian fields overwritten with edge values
// (0, 1, -1, the maxima, a length plus or minus one), bytes inserted and
// deleted, truncation, duplicated chunks and splices of two seeds. The same
// seed gives the same inputs, so a failure reproduces; on a crash or abort
// the input that was running is written to fuzz-crash-TARGET.bin, for
// replay as FILE.
// --dump-seeds writes the seeds as a corpus for real libFuzzer runs.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fuzz.h"

namespace {

using Bytes = std::vector<uint8_t>;

void put_le(Bytes& b, size_t at, uint64_t v, size_t width) {
  for (size_t i = 0; i < width && at + i < b.size(); ++i)
    b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

Bytes mutate(const std::vector<Bytes>& seeds, std::mt19937_64& rng) {
  Bytes b = seeds[rng() % seeds.size()];
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    const size_t n = b.size();
    const size_t at = n == 0 ? 0 : rng() % n;
    switch (rng() % 9) {
      case 0:  // flip a bit
        if (n != 0) b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1: {  // an interesting byte
        static const uint8_t kBytes[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
        if (n != 0) b[at] = kBytes[rng() % sizeof kBytes];
        break;
      }
      case 2: {  // a little-endian field set to an edge value
        static const uint64_t kValues[] = {
            0,      1,          2,          0x7f,         0x80,     0xff,    0x7fff,
            0xffff, 0x7fffffff, 0xffffffff, ~uint64_t{0}, 1u << 20, 1u << 30};
        const size_t width = size_t{1} << (rng() % 4);
        uint64_t v = kValues[rng() % (sizeof kValues / sizeof kValues[0])];
        if (rng() % 3 == 0) v = n + (rng() % 3) - 1;  // a length give or take one
        put_le(b, at, v, width);
        break;
      }
      case 3:  // a random byte
        if (n != 0) b[at] = static_cast<uint8_t>(rng());
        break;
      case 4:  // insert bytes
        b.insert(b.begin() + static_cast<ptrdiff_t>(at), 1 + rng() % 8,
                 static_cast<uint8_t>(rng()));
        break;
      case 5:  // delete bytes
        if (n != 0)
          b.erase(b.begin() + static_cast<ptrdiff_t>(at),
                  b.begin() + static_cast<ptrdiff_t>(std::min(n, at + 1 + rng() % 8)));
        break;
      case 6:  // truncate
        b.resize(n == 0 ? 0 : rng() % n);
        break;
      case 7: {  // duplicate a chunk
        if (n == 0) break;
        const size_t len = 1 + rng() % std::min<size_t>(n - at, 64);
        Bytes chunk(b.begin() + static_cast<ptrdiff_t>(at),
                    b.begin() + static_cast<ptrdiff_t>(at + len));
        b.insert(b.begin() + static_cast<ptrdiff_t>(rng() % (n + 1)), chunk.begin(), chunk.end());
        break;
      }
      default: {  // splice: this seed's head, another's tail
        const Bytes& o = seeds[rng() % seeds.size()];
        const size_t cut = o.empty() ? 0 : rng() % o.size();
        b.resize(std::min(at, b.size()));
        b.insert(b.end(), o.begin() + static_cast<ptrdiff_t>(cut), o.end());
        break;
      }
    }
  }
  return b;
}

std::string g_crash_file;
const Bytes* g_current = nullptr;

// On a crash or abort: the input that was running goes to g_crash_file
// (open/write/close only: async-signal-safe), then the signal's default.
void on_fatal(int sig) {
  if (g_current != nullptr) {
    const int fd = open(g_crash_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      const ssize_t w = write(fd, g_current->data(), g_current->size());
      (void)w;
      close(fd);
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void run(const Bytes& b) {
  g_current = &b;
  LLVMFuzzerTestOneInput(b.data(), b.size());
  g_current = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 20000, seed = 1;
  std::string dump;
  std::vector<std::string> files;
  std::string name = argv[0];
  name = name.substr(name.find_last_of('/') + 1);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", name.c_str(), flag);
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--runs") {
        runs = std::stoull(value("--runs"));
      } else if (a == "--seed") {
        seed = std::stoull(value("--seed"));
      } else if (a == "--dump-seeds") {
        dump = value("--dump-seeds");
      } else if (a.rfind("--", 0) == 0) {
        std::fprintf(stderr,
                     "%s: unknown flag %s (--runs N, --seed S, --dump-seeds DIR, FILE...)\n",
                     name.c_str(), a.c_str());
        return 2;
      } else {
        files.push_back(a);
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "%s: %s wants a number\n", name.c_str(), a.c_str());
      return 2;
    }
  }
  std::vector<Bytes> seeds = flit_fuzz_seeds();
  if (seeds.empty()) {
    std::fprintf(stderr, "%s: the target gave no seeds\n", name.c_str());
    return 1;
  }
  if (!dump.empty()) {
    for (size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream(dump + "/seed-" + std::to_string(i), std::ios::binary)
          .write(reinterpret_cast<const char*>(seeds[i].data()),
                 static_cast<std::streamsize>(seeds[i].size()));
    }
    std::printf("%s: %zu seeds written to %s\n", name.c_str(), seeds.size(), dump.c_str());
    return 0;
  }
  g_crash_file = "fuzz-crash-" + name + ".bin";
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, on_fatal);
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "%s: cannot read %s\n", name.c_str(), f.c_str());
      return 2;
    }
    Bytes b(std::istreambuf_iterator<char>(in), {});
    run(b);
    seeds.push_back(std::move(b));
  }
  for (size_t i = 0; i < seeds.size() - files.size(); ++i) run(seeds[i]);
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < runs; ++i) run(mutate(seeds, rng));
  std::printf(
      "%s: %zu files, %zu seeds and %llu mutated inputs (seed %llu): no crash, no broken "
      "invariant\n",
      name.c_str(), files.size(), seeds.size(), static_cast<unsigned long long>(runs),
      static_cast<unsigned long long>(seed));
  return 0;
}
