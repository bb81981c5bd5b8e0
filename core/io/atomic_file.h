// Writing a file so that readers never see it half-written: the bytes go to a temporary file
// in the same directory, which is flushed (fsync) and then renamed over the destination
// (rename(2) is atomic within a file system). A writer that is destroyed without Commit()
// removes its temporary file, so an error midway leaves the old file, if any, untouched.
#ifndef MEMLENS_CORE_IO_ATOMIC_FILE_H_
#define MEMLENS_CORE_IO_ATOMIC_FILE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memlens {

class AtomicFileWriter {
 public:
  // Creates `<path>.tmp.<pid>.<n>` next to `path`. Errors name the path and the errno text.
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Create(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  absl::Status Append(absl::string_view bytes);
  absl::Status Append(const void* data, size_t size);
  // Flushes, closes and renames the temporary file to the destination.
  absl::Status Commit();

  const std::string& path() const { return path_; }

 private:
  AtomicFileWriter(std::string path, std::string temp, int fd)
      : path_(std::move(path)), temp_(std::move(temp)), fd_(fd) {}
  void Abandon();

  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `bytes` to `path` atomically.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_ATOMIC_FILE_H_
