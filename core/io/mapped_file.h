// A read-only memory mapping of a whole file, with bounds-checked views into it.
//
// Loaders map a model file once and read tensors straight out of the mapping, so a 500 MB
// checkpoint costs no extra copy before conversion. Every sub-span is bounds-checked against
// the file size with overflow-safe arithmetic: a corrupt header can never make a reader touch
// memory outside the mapping.
#ifndef MEMLENS_CORE_IO_MAPPED_FILE_H_
#define MEMLENS_CORE_IO_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/io/checked_file.h"

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

// Tells the kernel the pages inside [data, data + size) of a read-only file mapping are not
// needed now: they leave the resident set and are read from the file again if touched. Loaders
// call it after converting a tensor, so peak memory is the model once, not the file plus the
// model. Only whole pages inside the range are released.
void ReleaseMappedPages(const void* data, size_t size);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_MAPPED_FILE_H_
