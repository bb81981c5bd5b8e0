// Helpers shared by the libFuzzer targets in tests/fuzz (built by tools/fuzz.sh, not Bazel).
#ifndef MEMLENS_TESTS_FUZZ_FUZZ_UTIL_H_
#define MEMLENS_TESTS_FUZZ_FUZZ_UTIL_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace memlens {
namespace fuzz {

// A private scratch directory for this process: under TEST_TMPDIR in a Bazel test, else
// /dev/shm (RAM) when writable, else /tmp. Parsers that only take a path read the fuzz input
// from a file written here.
inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    const char* test_tmp = std::getenv("TEST_TMPDIR");
    const char* base = test_tmp != nullptr                 ? test_tmp
                       : ::access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                           : "/tmp";
    std::string tmpl = std::string(base) + "/memlens-fuzz-XXXXXX";
    if (::mkdtemp(&tmpl[0]) == nullptr) std::abort();
    auto* d = new std::string(tmpl);
    std::atexit([] {
      // Best effort: remove the files this process wrote, then the directory.
      const std::string& d = ScratchDir();
      for (const char* f : {"a", "b", "c", "d", "model.bin", "model.safetensors",
                            "encoder.json", "vocab.bpe", "config.json", "tokenizer.json",
                            "input"}) {
        ::unlink((d + "/" + f).c_str());
      }
      ::rmdir(d.c_str());
    });
    return d;
  }();
  return *dir;
}

// Writes `bytes` to ScratchDir()/name (replacing it) and returns the path.
inline std::string WriteScratch(const std::string& name, absl::string_view bytes) {
  const std::string path = ScratchDir() + "/" + name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// The repository root (tools/fuzz.sh exports MEMLENS_FUZZ_ROOT), or "" when unknown.
inline std::string RepoRoot() {
  const char* root = std::getenv("MEMLENS_FUZZ_ROOT");
  return root != nullptr ? root : "";
}

}  // namespace fuzz
}  // namespace memlens

#endif  // MEMLENS_TESTS_FUZZ_FUZZ_UTIL_H_
