#include "core/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace memlens {
absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path, const FileKind& kind) {
  absl::StatusOr<CheckedFile> checked = OpenRegularFile(path, kind);
  if (!checked.ok()) return checked.status();
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(checked->size);
  if (file.size_ > 0) {
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, checked->fd.get(), 0);
    if (p == MAP_FAILED) {  // opening was checked: what is left is ENOMEM and the like
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": cannot map the file: ", std::strerror(errno)));
    }
    file.mapping_ = p;
    file.data_ = static_cast<const uint8_t*>(p);
  }
  return file;  // the mapping keeps the file referenced after the descriptor closes
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapping_ = std::exchange(other.mapping_, nullptr);
  }
  return *this;
}

MappedFile::~MappedFile() { Reset(); }

void MappedFile::Reset() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
  mapping_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

absl::StatusOr<absl::Span<const uint8_t>> MappedFile::Subspan(uint64_t offset, uint64_t length,
                                                              absl::string_view what) const {
  // offset + length may overflow; compare against the remaining room instead.
  if (offset > size_ || length > size_ - offset) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": ", what, " at bytes [", offset, ", ",
                                              offset, " + ", length, ") lies outside the file (",
                                              size_, " bytes)"));
  }
  return absl::Span<const uint8_t>(data_ + offset, static_cast<size_t>(length));
}

void ReleaseMappedPages(const void* data, size_t size) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + size) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace memlens
