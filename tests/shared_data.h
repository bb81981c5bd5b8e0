// Where ../shared (real models, tokenizers) is, for tests that read it in place.
#ifndef MEMLENS_TESTS_SHARED_DATA_H_
#define MEMLENS_TESTS_SHARED_DATA_H_

#include <cstdlib>
#include <cstring>
#include <string>

namespace memlens {

// Absolute path of ../shared, or "" when it is absent (see MEMLENS_REQUIRE_SHARED).
inline std::string SharedDir() {
  const char* dir = std::getenv("MEMLENS_SHARED");
  return dir == nullptr ? "" : dir;
}

// True under CI (CI=true, passed to tests by .bazelrc's --test_env=CI): CI always has
// ../shared, so a test that would skip for lack of it must fail instead.
inline bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::strcmp(ci, "true") == 0;
}

}  // namespace memlens

// When ../shared is absent: skips the current test with a clear message, or fails it under CI.
#define MEMLENS_REQUIRE_SHARED()                                                     \
  do {                                                                               \
    if (::memlens::SharedDir().empty()) {                                            \
      if (::memlens::InCi()) {                                                       \
        GTEST_FAIL() << "../shared is absent under CI=true (CI always has it)";      \
      }                                                                              \
      GTEST_SKIP() << "../shared is absent (real models and tokenizers are not "     \
                      "part of the repository); skipping";                           \
    }                                                                                \
  } while (0)

#endif  // MEMLENS_TESTS_SHARED_DATA_H_
