// Opening a path the user gave, checked for what it must be before anything is read from it.
//
// Every reader of user files goes through here (MappedFile, ReadFileChecked, json::ParseFile,
// the dataset reader, the tokenizer and config readers), so each inherits the same refusals:
// - only a regular file is read (or a directory, where one is expected): a character or block
//   device (/dev/zero, /dev/urandom), a FIFO or a socket is an error naming the path and what
//   it is, never opened for reading, so it can neither hang nor feed bytes forever;
// - the open itself never blocks: O_NONBLOCK, then fstat on the descriptor (the kind is checked
//   again after open, so a path swapped for a FIFO between the checks is still refused);
// - symlinks are followed; a loop is reported as one ("symlink loop");
// - each kind of file has a size limit (below), checked from fstat before reading, so a
//   sparse or huge file is refused before a byte of it is allocated.
#ifndef MEMLENS_CORE_IO_CHECKED_FILE_H_
#define MEMLENS_CORE_IO_CHECKED_FILE_H_

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memlens {

// What a file is for, with the largest size memlens accepts for it. The limits are far above
// any real file of the kind (GPT-2's tokenizer.json is 1.4 MB, Llama 3's 9 MB; a config.json a
// few KB) and far below what would exhaust memory when read whole.
struct FileKind {
  const char* what;    // for messages: "tokenizer", "config", ...
  uint64_t max_bytes;  // UINT64_MAX: no limit (memory-mapped weights; streamed datasets)
};
inline constexpr FileKind kConfigFile = {"config", uint64_t{64} << 20};
inline constexpr FileKind kTokenizerFile = {"tokenizer", uint64_t{1} << 30};
inline constexpr FileKind kDatasetFile = {"dataset", UINT64_MAX};  // read as a stream
inline constexpr FileKind kWeightsFile = {"model weights", UINT64_MAX};  // mapped, not read
inline constexpr FileKind kActivationFile = {"activation file", UINT64_MAX};  // mapped
inline constexpr FileKind kPluginFile = {"plugin", uint64_t{1} << 30};  // mapped to read its ELF

// "a FIFO (named pipe)", "a character device", "a directory", ... for `mode` (from stat).
const char* DescribeFileType(mode_t mode);

// A file descriptor that closes itself.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();
  int get() const { return fd_; }
  int release();

 private:
  int fd_ = -1;
};

struct CheckedFile {
  FileDescriptor fd;  // blocking mode restored; positioned at 0
  uint64_t size = 0;  // st_size at open
  struct stat status = {};  // fstat at open (device, inode, modification time...)
};

// Opens `path` read-only as a regular file of `kind`. Errors (each starts with the path and
// names the kind): missing (NotFound), permission (PermissionDenied), symlink loop, a
// directory / device / FIFO / socket, larger than kind.max_bytes (InvalidArgument).
absl::StatusOr<CheckedFile> OpenRegularFile(const std::string& path, const FileKind& kind);

// Reads a whole regular file of `kind` (OpenRegularFile, then read to the end; a file that
// grows past the limit while read is refused too).
absl::StatusOr<std::string> ReadFileChecked(const std::string& path, const FileKind& kind);

// OK when `path` is a directory (symlinks followed); otherwise the error says what it is.
absl::Status CheckDirectory(const std::string& path, absl::string_view what);

// What is at `path`, following symlinks: NotFound when nothing is (a dangling symlink counts as
// nothing), an error for a symlink loop or an unreadable parent, else OK with *st filled.
// Errors start with the path and name `what` it was meant to be.
absl::Status StatPath(const std::string& path, absl::string_view what, struct stat* st);

// Whether something (of any type) exists at `path`, without following a final symlink: a
// dangling or looping symlink exists. Lets callers say "X is there but is not a file" rather
// than "X is missing".
bool PathExists(const std::string& path);

// For a file looked for by name (tokenizer_config.json beside a model, model_final.pth, ...):
// false when nothing is there, true for a regular file of `kind`, and for anything else at that
// name (a directory, device, FIFO, dangling symlink or loop) OpenRegularFile's error saying what
// it is, rather than "missing" or a later misleading message.
absl::StatusOr<bool> RegularFileIfPresent(const std::string& path, const FileKind& kind);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_CHECKED_FILE_H_
