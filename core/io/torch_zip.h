// A small, strict reader for the zip archives torch.save writes (PyTorch's "zip file" format).
//
// torch.save stores every member uncompressed (method 0, STORED) with its data aligned to 64
// bytes, so a member is simply a byte range of the file: this reader maps the file once and
// hands out spans into the mapping, never copying tensor data. Only what such archives need is
// supported; everything else is an error that names the archive and the entry:
//   - end of central directory (EOCD) record, and the zip64 EOCD record + locator that
//     PyTorch always writes (the 32-bit fields may then hold 0xFFFF / 0xFFFFFFFF);
//   - central directory headers with zip64 extra fields (sizes/offsets >= 4 GiB);
//   - local headers whose sizes may be zero when general-purpose flag bit 3 says the sizes
//     follow the data in a data descriptor (PyTorch sets that bit); the descriptor is checked;
//   - compression method 0 only; encryption, multi-disk archives, and compressed entries are
//     refused.
// Defences against hostile files: every field is bounds-checked with overflow-safe arithmetic
// before use; the entry count must fit in the central directory's size (each header is at least
// 46 bytes), so no allocation is sized from an unchecked field; names with "..", absolute
// paths, backslashes, drive letters or NUL bytes are refused, as are duplicate names; every
// entry's byte range (local header, data and descriptor) must lie before the central directory
// and must not overlap another entry's; local and central headers must agree on name, method,
// sizes and CRC. CRC-32 of every entry is verified by default.
#ifndef MEMLENS_CORE_IO_TORCH_ZIP_H_
#define MEMLENS_CORE_IO_TORCH_ZIP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/io/mapped_file.h"

namespace memlens {

struct ZipOptions {
  // Verify each entry's CRC-32 against the central directory (about 1 s per GB).
  bool verify_crc = true;
  // Upper bound on the number of entries (a checkpoint has a few per tensor).
  uint64_t max_entries = 1 << 20;
};

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // of the first data byte, from the start of the archive
  uint64_t size = 0;
  uint32_t crc32 = 0;
  absl::Span<const uint8_t> data;  // points into the archive's bytes
};

class ZipArchive {
 public:
  // Maps `path` and parses it. The archive owns the mapping; entry spans stay valid as long as
  // the ZipArchive (moving it keeps them valid).
  static absl::StatusOr<ZipArchive> Open(const std::string& path, const ZipOptions& options = {});

  // Parses bytes the caller keeps alive for the archive's lifetime. `source_name` names the
  // archive in errors.
  static absl::StatusOr<ZipArchive> FromBytes(absl::Span<const uint8_t> bytes,
                                              std::string source_name,
                                              const ZipOptions& options = {});

  ZipArchive(ZipArchive&&) = default;
  ZipArchive& operator=(ZipArchive&&) = default;

  const std::string& source_name() const { return source_name_; }
  // In central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when there is no entry of that exact name.
  const ZipEntry* Find(absl::string_view name) const;
  // The mapped file the entries point into (Tensors viewing it share it); null when FromBytes.
  const std::shared_ptr<const MappedFile>& mapping() const { return file_; }
  // The entry's bytes; NotFoundError naming the archive and the entry when absent.
  absl::StatusOr<absl::Span<const uint8_t>> Get(absl::string_view name) const;

 private:
  ZipArchive() = default;
  static absl::StatusOr<ZipArchive> Parse(absl::Span<const uint8_t> bytes, std::string source,
                                          const ZipOptions& options,
                                          std::shared_ptr<const MappedFile> file);

  std::string source_name_;
  std::shared_ptr<const MappedFile> file_;  // null when FromBytes
  std::vector<ZipEntry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;  // name -> position in entries_
};

// CRC-32 (ISO 3309 / zip polynomial 0xEDB88320) of `bytes`, continuing from `crc` (0 to start).
uint32_t Crc32(absl::Span<const uint8_t> bytes, uint32_t crc = 0);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_TORCH_ZIP_H_
