// Replays the committed seed corpus and every regression input of one fuzz target through the
// target's own LLVMFuzzerTestOneInput (linked in by tests/fuzz/BUILD, one cc_test per target),
// so each input that once crashed a parser stays a clean error in every build, including
// --config=asan and --config=ubsan. The inputs live in tests/fuzz/corpus/<target>/ and
// tests/fuzz/regressions/<target>/; a harness that finds a broken invariant aborts (the test
// fails with the input's name printed just before).
#include <dirent.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#ifndef MEMLENS_FUZZ_TARGET
#error "MEMLENS_FUZZ_TARGET (the fuzz target's name) must be defined"
#endif

namespace {

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != ".." && name != "README.md") out.push_back(dir + "/" + name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Replay(const std::string& kind, bool required) {
  const std::string dir = "tests/fuzz/" + kind + "/" MEMLENS_FUZZ_TARGET;
  const std::vector<std::string> files = Files(dir);
  if (required) {
    ASSERT_FALSE(files.empty()) << "no inputs in " << dir;
  }
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << path;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", path.c_str(), bytes.size());
    // A copy on the heap of exactly the input's size, as libFuzzer passes it (so ASan sees
    // any read past the end).
    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(copy.data(), copy.size());
  }
}

TEST(FuzzRegression, SeedCorpus) { Replay("corpus", /*required=*/true); }

TEST(FuzzRegression, Regressions) { Replay("regressions", /*required=*/false); }

}  // namespace
