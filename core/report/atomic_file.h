// Writing output files so that a reader never sees half of one.
#ifndef MEMLENS_CORE_REPORT_ATOMIC_FILE_H_
#define MEMLENS_CORE_REPORT_ATOMIC_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace memlens {

// Writes `contents` to a new temporary file in the directory of `path` (same file system, so
// the rename is atomic), flushes it to disk, then renames it over `path`. On any failure the
// temporary file is removed, `path` is untouched, and the error names the path and the reason
// (errno text). The new file gets mode 0644 (subject to the umask), like a file created by
// an ordinary open().
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

}  // namespace memlens

#endif  // MEMLENS_CORE_REPORT_ATOMIC_FILE_H_
