// Writing a file so that readers never see it half-written, and nothing of it survives a
// failure or a signal: the bytes go to an unnamed temporary file (O_TMPFILE) in the
// destination's directory, which is flushed (fsync), given a name with linkat and renamed over
// the destination (rename(2) is atomic within a file system). Until Commit() the temporary has
// no name, so an error, a SIGTERM or a SIGKILL midway leaves nothing behind and the old file, if
// any, untouched. (On a file system without O_TMPFILE a named "<path>.memlens-tmp.<pid>.<n>" is
// used; RemoveStaleTemporaries removes those of dead processes.)
//
// Only a regular file is ever replaced: a device, FIFO, socket, directory or symlink at the
// destination is an error naming it (as root, `--out=/dev/null` must not replace the system's).
#ifndef MEMLENS_CORE_IO_ATOMIC_FILE_H_
#define MEMLENS_CORE_IO_ATOMIC_FILE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memlens {

// Checks, before any work, that `path` can be written by AtomicFileWriter: its directory exists
// and is writable, and the path is absent or a regular file (never followed through a symlink).
// `what` names the output in errors ("--out").
absl::Status CheckOutputFile(const std::string& path, absl::string_view what);

class AtomicFileWriter {
 public:
  // Checks the destination (CheckOutputFile) and opens the temporary file. Errors name the path.
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
  std::string temp_;  // "" while the temporary is unnamed (O_TMPFILE)
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `bytes` to `path` atomically.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

// Removes "<name>.memlens-tmp.<pid>[.<n>]" files and directories in `dir` whose process
// <pid> no longer exists (temporaries a killed memlens left behind). Returns how many.
int RemoveStaleTemporaries(const std::string& dir);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_ATOMIC_FILE_H_
