#include "core/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/io/checked_file.h"

namespace memlens {
namespace {

constexpr char kTempMarker[] = ".memlens-tmp.";

absl::Status ErrnoError(int err, absl::string_view action, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", action, " ", path, ": ", std::strerror(err)));
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Whether `name` is "<something>.memlens-tmp.<pid>[.<n>]"; *pid gets the pid.
bool ParseTemporaryName(absl::string_view name, pid_t* pid) {
  const size_t at = name.rfind(kTempMarker);
  if (at == absl::string_view::npos || at == 0) return false;
  std::vector<absl::string_view> parts =
      absl::StrSplit(name.substr(at + sizeof(kTempMarker) - 1), '.');
  if (parts.empty() || parts.size() > 2) return false;
  int64_t value;
  for (absl::string_view p : parts) {
    if (p.empty() || !absl::SimpleAtoi(p, &value) || value < 0) return false;
  }
  if (!absl::SimpleAtoi(parts[0], &value) || value <= 0 || value > (int64_t{1} << 31)) return false;
  *pid = static_cast<pid_t>(value);
  return true;
}

}  // namespace

absl::Status CheckOutputFile(const std::string& path, absl::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is an empty path"));
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, "=", path, ": is ", DescribeFileType(st.st_mode),
        "; memlens writes a new file or replaces a regular file, nothing else (give - for "
        "standard output)"));
  }
  const std::string dir = DirectoryOf(path);
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound
                                      : absl::StatusCode::kInvalidArgument,
                        absl::StrCat(what, "=", path, ": its directory ", dir,
                                     " cannot be used: ", std::strerror(err)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "=", path, ": ", dir, " is ", DescribeFileType(st.st_mode),
                     ", not a directory"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(what, "=", path, ": cannot write in ", dir,
                                                    ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path) {
  if (auto s = CheckOutputFile(path, "output"); !s.ok()) return s;
  // An unnamed file first: nothing to clean up if the process dies before Commit().
  int fd = ::open(DirectoryOf(path).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  if (fd >= 0) return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, "", fd));
  // No O_TMPFILE on this file system: a named temporary, open(O_CREAT | O_EXCL, 0666) rather
  // than mkstemp so it gets the usual umask-derived mode (mkstemp forces 0600).
  static std::atomic<uint64_t> counter{0};
  std::string temp;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = absl::StrCat(path, kTempMarker, ::getpid(), ".", counter.fetch_add(1));
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
  if (temp_.empty()) {
    // Name the unnamed file next to the destination (linkat cannot replace a file), then rename
    // it over the destination: the name exists only between these two calls.
    static std::atomic<uint64_t> counter{0};
    const std::string proc = absl::StrCat("/proc/self/fd/", fd_);
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string temp = absl::StrCat(path_, kTempMarker, ::getpid(), ".", counter.fetch_add(1));
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, temp.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        temp_ = std::move(temp);
        break;
      }
      if (errno != EEXIST) break;
    }
    if (temp_.empty()) {
      const int err = errno;
      Abandon();
      return ErrnoError(err, "name the temporary file for", path_);
    }
  }
  if (::close(fd_) != 0) {
    const int err = errno;
    fd_ = -1;
    Abandon();
    return ErrnoError(err, "close", path_);
  }
  fd_ = -1;
  // Checked again: something other than a regular file may have appeared since Create().
  if (auto s = CheckOutputFile(path_, "output"); !s.ok()) {
    Abandon();
    return s;
  }
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

int RemoveStaleTemporaries(const std::string& dir) {
  std::vector<std::string> stale;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      pid_t pid;
      if (ParseTemporaryName(e->d_name, &pid) && ::kill(pid, 0) != 0 && errno == ESRCH) {
        stale.push_back(dir + "/" + e->d_name);
      }
    }
    ::closedir(d);
  }
  for (const std::string& path : stale) {
    // A file, or a directory tree (cache's temporary directory): remove depth first, never
    // following symlinks.
    auto remove = [](const char* p, const struct stat*, int, struct FTW*) {
      ::remove(p);
      return 0;  // keep going: remove what can be removed
    };
    ::nftw(path.c_str(), remove, 16, FTW_DEPTH | FTW_PHYS);
  }
  return static_cast<int>(stale.size());
}

}  // namespace memlens
