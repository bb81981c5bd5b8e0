// A private memory mapping of a whole file, with bounds-checked views into it.
//
// Loaders map a model file once and read tensors straight out of the mapping: float32 tensors
// already in memlens's layout are used in place (MappedFloats: a Tensor viewing the mapping and
// keeping it alive), the others converted from it, so a 500 MB checkpoint is in memory once.
// The mapping is private: the pages a Tensor views are made writable, so the Tensor may be
// changed (weight processing) and the change never reaches the file (the kernel copies the
// page). Every sub-span is bounds-checked against the file size with overflow-safe
// arithmetic: a corrupt header can never make a reader touch memory outside the mapping.
//
// A file used in place must not be rewritten while memlens runs. Replacing it (write a new
// file, rename it over the old) is safe: the mapping keeps the old contents. Rewriting it in
// place is caught: a read past a truncation stops memlens with an error naming the file
// (instead of "Bus error"), and CheckMappedFilesUnchanged, which commands call before writing
// results, refuses them when a mapped file's size or modification time changed.
#ifndef MEMLENS_CORE_IO_MAPPED_FILE_H_
#define MEMLENS_CORE_IO_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/io/checked_file.h"
#include "core/tensor.h"

namespace memlens {

class MappedFile {
 public:
  // Maps `path` read-only after OpenRegularFile's checks (core/io/checked_file.h: a regular
  // file of `kind`, never a device, FIFO, socket or directory; errors name the path and what it
  // is). An empty file maps to an empty span (mmap of length 0 is not allowed).
  static absl::StatusOr<MappedFile> Open(const std::string& path,
                                         const FileKind& kind = kWeightsFile);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }
  absl::Span<const uint8_t> bytes() const { return {data_, size_}; }

  // Bytes [offset, offset + length) of the file. The error names the file, `what` (the field
  // or tensor being read) and both ranges when the span does not fit.
  absl::StatusOr<absl::Span<const uint8_t>> Subspan(uint64_t offset, uint64_t length,
                                                    absl::string_view what = "range") const;

 private:
  void Reset();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // nullptr for an empty file
};

// The float32 values in `bytes` (a span inside `file`'s mapping, `shape`'s element count of
// them) used in place: a Tensor viewing the mapping (those pages made writable, privately) and
// keeping `file` alive. nullopt when the bytes are not 4-byte aligned or the pages cannot be
// made writable; the caller then copies.
std::optional<Tensor> MappedFloats(const std::shared_ptr<const MappedFile>& file,
                                   absl::Span<const uint8_t> bytes, std::vector<int64_t> shape);

// An error naming the first file mapped now (same device and inode at its path) whose size or
// modification time differs from when it was mapped; OK otherwise.
absl::Status CheckMappedFilesUnchanged();

// Tells the kernel the pages inside [data, data + size) of a file mapping are not needed now:
// they leave the resident set and are read from the file again if touched (a private page that
// was written reverts to the file). Loaders call it after converting a tensor, never on bytes a
// Tensor views, so peak memory is the model once, not the file plus the model. Only whole pages
// inside the range are released.
void ReleaseMappedPages(const void* data, size_t size);
// Maps the pages of [data, data + size) now (reading them from the file if needed), so later
// reads take no page fault. Loaders call it on the tensors they use in place before releasing
// the converted ones: a fault maps a whole page-cache folio (up to megabytes on recent
// kernels), which would map a released neighbour's pages back.
void PopulateMappedPages(const void* data, size_t size);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_MAPPED_FILE_H_
