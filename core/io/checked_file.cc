#include "core/io/checked_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

absl::Status ErrnoError(int err, const std::string& path, absl::string_view what) {
  if (err == ELOOP) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": symlink loop (too many levels of symbolic links); the ", what,
                     " must be a regular file"));
  }
  std::string msg = absl::StrCat(path, ": cannot open the ", what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InvalidArgumentError(msg);
  }
}

absl::Status WrongType(const std::string& path, mode_t mode, absl::string_view what,
                       absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": is ", DescribeFileType(mode),
                                                 ", not ", expected, "; the ", what,
                                                 " must be one"));
}

absl::Status TooLarge(const std::string& path, uint64_t size, const FileKind& kind) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", size, " bytes, more than the ", kind.max_bytes,
                   " bytes memlens accepts for a ", kind.what, " file"));
}

}  // namespace

const char* DescribeFileType(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

int FileDescriptor::release() { return std::exchange(fd_, -1); }

absl::Status StatPath(const std::string& path, absl::string_view what, struct stat* st) {
  if (::stat(path.c_str(), st) == 0) return absl::OkStatus();
  return ErrnoError(errno, path, what);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

absl::StatusOr<bool> RegularFileIfPresent(const std::string& path, const FileKind& kind) {
  if (!PathExists(path)) return false;
  absl::StatusOr<CheckedFile> file = OpenRegularFile(path, kind);
  if (!file.ok()) return file.status();
  return true;
}

absl::StatusOr<CheckedFile> OpenRegularFile(const std::string& path, const FileKind& kind) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("an empty path was given for the ", kind.what));
  }
  // Check the type before opening: opening a device can have effects of its own (a tape
  // rewinds, a terminal becomes the controlling one), and opening a FIFO for reading blocks.
  struct stat before;
  if (::stat(path.c_str(), &before) != 0) return ErrnoError(errno, path, kind.what);
  if (!S_ISREG(before.st_mode)) return WrongType(path, before.st_mode, kind.what, "a regular file");
  if (static_cast<uint64_t>(before.st_size) > kind.max_bytes) {
    return TooLarge(path, static_cast<uint64_t>(before.st_size), kind);
  }
  // O_NONBLOCK: if the path became a FIFO since the stat, open returns at once instead of
  // waiting for a writer; fstat below then refuses it.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return ErrnoError(errno, path, kind.what);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, path, kind.what);
  if (!S_ISREG(st.st_mode)) return WrongType(path, st.st_mode, kind.what, "a regular file");
  if (static_cast<uint64_t>(st.st_size) > kind.max_bytes) {
    return TooLarge(path, static_cast<uint64_t>(st.st_size), kind);
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  CheckedFile file;
  file.fd = std::move(fd);
  file.size = static_cast<uint64_t>(st.st_size);
  file.status = st;
  return file;
}

absl::StatusOr<std::string> ReadFileChecked(const std::string& path, const FileKind& kind) {
  absl::StatusOr<CheckedFile> file = OpenRegularFile(path, kind);
  if (!file.ok()) return file.status();
  std::string data;
  data.reserve(static_cast<size_t>(file->size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(file->fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(
          absl::StrCat(path, ": read error in the ", kind.what, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    if (data.size() + static_cast<uint64_t>(n) > kind.max_bytes) {
      return TooLarge(path, data.size() + static_cast<uint64_t>(n), kind);
    }
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

absl::Status CheckDirectory(const std::string& path, absl::string_view what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError(errno, path, what);
  if (!S_ISDIR(st.st_mode)) return WrongType(path, st.st_mode, what, "a directory");
  return absl::OkStatus();
}

}  // namespace memlens
