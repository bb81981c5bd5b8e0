#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

absl::Status ErrnoError(int err, absl::string_view action, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", action, " ", path, ": ", std::strerror(err)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("cannot write a file with an empty path");
  // open(O_CREAT | O_EXCL, 0666) rather than mkstemp: the file then gets the usual
  // umask-derived mode (mkstemp forces 0600), without touching the process-wide umask.
  static std::atomic<uint64_t> counter{0};
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return ErrnoError(errno, "create a temporary file for", path);
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, std::move(temp), fd));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) Abandon();
}

void AtomicFileWriter::Abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

absl::Status AtomicFileWriter::Append(absl::string_view bytes) {
  return Append(bytes.data(), bytes.size());
}

absl::Status AtomicFileWriter::Append(const void* data, size_t size) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": writer is closed"));
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      Abandon();
      return ErrnoError(err, "write", path_);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": writer is closed"));
  if (::fsync(fd_) != 0) {
    const int err = errno;
    Abandon();
    return ErrnoError(err, "flush", path_);
  }
  if (::close(fd_) != 0) {
    const int err = errno;
    fd_ = -1;
    Abandon();
    return ErrnoError(err, "close", path_);
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    Abandon();
    return ErrnoError(err, "rename the temporary file onto", path_);
  }
  committed_ = true;
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes) {
  auto writer = AtomicFileWriter::Create(path);
  if (!writer.ok()) return writer.status();
  if (auto s = (*writer)->Append(bytes); !s.ok()) return s;
  return (*writer)->Commit();
}

}  // namespace memlens
