// Where ../shared (real models, tokenizers) is, for tests that read it in place.
#ifndef MEMLENS_TESTS_SHARED_DATA_H_
#define MEMLENS_TESTS_SHARED_DATA_H_

#include <cstdlib>
#include <string>

namespace memlens {

// Absolute path of ../shared, or "" when it is absent (the test must then GTEST_SKIP()).
inline std::string SharedDir() {
  const char* dir = std::getenv("MEMLENS_SHARED");
  return dir == nullptr ? "" : dir;
}

}  // namespace memlens

// Skips the current test with a clear message when ../shared is absent.
#define MEMLENS_REQUIRE_SHARED()                                                   \
  do {                                                                             \
    if (::memlens::SharedDir().empty()) {                                          \
      GTEST_SKIP() << "../shared is absent (real models and tokenizers are not "   \
                      "part of the repository); skipping";                         \
    }                                                                              \
  } while (0)

#endif  // MEMLENS_TESTS_SHARED_DATA_H_
