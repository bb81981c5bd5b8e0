// Small helpers shared by the core/io tests: temporary paths, whole-file reads and writes.
#ifndef MEMLENS_TESTS_IO_IO_TEST_UTIL_H_
#define MEMLENS_TESTS_IO_IO_TEST_UTIL_H_

#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memlens {
namespace testing_io {

// A fresh path under TEST_TMPDIR.
inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// A fresh, empty directory under TEST_TMPDIR.
inline std::string TempDir(const std::string& name) {
  const std::string dir = TempPath(name);
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteAll(const std::string& path, absl::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
}

inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  return names;
}

template <typename T>
void AppendPod(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

inline bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

}  // namespace testing_io
}  // namespace memlens

// Asserts that a Status or StatusOr is an error whose message contains `text`.
#define EXPECT_ERROR_CONTAINS(result, text)                                   \
  do {                                                                        \
    const auto& _r = (result);                                                \
    const ::absl::Status _s = ::memlens::testing_io::StatusOf(_r);            \
    EXPECT_FALSE(_s.ok()) << "expected an error containing: " << (text);      \
    EXPECT_TRUE(::memlens::testing_io::Contains(_s.message(), (text))) << _s; \
  } while (0)

namespace memlens {
namespace testing_io {
inline absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace testing_io
}  // namespace memlens

#endif  // MEMLENS_TESTS_IO_IO_TEST_UTIL_H_
