#include "core/report/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  return absl::InternalError(absl::StrCat("cannot write ", path, ": ", what, " failed: ",
                                          strerror(err)));
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  if (path.empty()) return absl::InvalidArgumentError("cannot write a file with an empty path");
  // The temporary sits next to the target: rename(2) is atomic only within one file system.
  std::string templ = absl::StrCat(path, ".tmp.XXXXXX");
  std::vector<char> name(templ.begin(), templ.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0) return ErrnoError("creating a temporary file", path, errno);
  const std::string tmp(name.data());
  auto fail = [&](absl::string_view what, int err) {
    close(fd);
    unlink(tmp.c_str());
    return ErrnoError(what, path, err);
  };
  // mkstemp creates 0600; a report is an ordinary file.
  if (fchmod(fd, 0644) != 0) return fail("fchmod", errno);
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // Without the fsync a crash after the rename could leave an empty file under the new name.
  if (fsync(fd) != 0) return fail("fsync", errno);
  if (close(fd) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return ErrnoError("close", path, err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return ErrnoError("rename", path, err);
  }
  return absl::OkStatus();
}

}  // namespace memlens
