#include "core/io/torch_zip.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace memlens {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kDescriptorSig = 0x08074b50;
constexpr uint64_t kLocalSize = 30;
constexpr uint64_t kCentralSize = 46;
constexpr uint64_t kEocdSize = 22;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EocdSize = 56;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t k32Max = 0xFFFFFFFFu;
constexpr uint16_t k16Max = 0xFFFFu;
constexpr uint16_t kFlagEncrypted = 1 << 0;
constexpr uint16_t kFlagDescriptor = 1 << 3;
constexpr uint16_t kFlagStrongEncryption = 1 << 6;
constexpr uint16_t kFlagMaskedHeaders = 1 << 13;

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t Le64(const uint8_t* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

// True when [offset, offset + length) lies inside [0, limit); overflow-safe.
bool Fits(uint64_t offset, uint64_t length, uint64_t limit) {
  return offset <= limit && length <= limit - offset;
}

// Slice-by-8 tables: table[0] is the classic byte table; table[k][b] is the CRC of byte b
// followed by k zero bytes, which lets the loop consume 8 bytes per step.
const std::array<std::array<uint32_t, 256>, 8>& CrcTables() {
  static const auto* tables = [] {
    auto* t = new std::array<std::array<uint32_t, 256>, 8>();
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      (*t)[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int k = 1; k < 8; ++k) {
        const uint32_t prev = (*t)[k - 1][i];
        (*t)[k][i] = (prev >> 8) ^ (*t)[0][prev & 0xFF];
      }
    }
    return t;
  }();
  return *tables;
}

// Checks an entry name for path tricks. The zip separator is '/'.
absl::Status CheckName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("an entry has an empty name");
  if (name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("contains a NUL byte");
  }
  if (name.find('\\') != absl::string_view::npos) {
    return absl::InvalidArgumentError("contains a backslash");
  }
  if (name.front() == '/') return absl::InvalidArgumentError("is an absolute path");
  if (name.size() >= 2 && name[1] == ':') {
    return absl::InvalidArgumentError("starts with a drive letter");
  }
  absl::string_view body = name;
  if (body.back() == '/') body.remove_suffix(1);  // a directory entry
  for (absl::string_view part : absl::StrSplit(body, '/')) {
    if (part.empty()) return absl::InvalidArgumentError("has an empty path component");
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("has a '", part, "' path component"));
    }
  }
  return absl::OkStatus();
}

struct Zip64Fields {
  bool present = false;
  absl::optional<uint64_t> usize, csize, offset;
};

// Parses the zip64 extended-information extra field. Only the fields whose 32-bit value is the
// 0xFFFFFFFF sentinel are stored, in the fixed order (size, compressed size, offset, disk).
absl::StatusOr<Zip64Fields> ParseZip64Extra(absl::Span<const uint8_t> extra, bool need_usize,
                                            bool need_csize, bool need_offset) {
  Zip64Fields out;
  size_t pos = 0;
  while (pos < extra.size()) {
    if (extra.size() - pos < 4) return absl::InvalidArgumentError("truncated extra field header");
    const uint16_t id = Le16(&extra[pos]);
    const uint16_t len = Le16(&extra[pos + 2]);
    pos += 4;
    if (len > extra.size() - pos) {
      return absl::InvalidArgumentError(
          absl::StrCat("extra field 0x", absl::Hex(id), " of ", len, " bytes overruns the ",
                       extra.size(), "-byte extra area"));
    }
    if (id == kZip64ExtraId) {
      if (out.present) return absl::InvalidArgumentError("two zip64 extra fields");
      out.present = true;
      size_t p = pos;
      const size_t end = pos + len;
      auto take = [&](absl::optional<uint64_t>* v) -> bool {
        if (end - p < 8) return false;
        *v = Le64(&extra[p]);
        p += 8;
        return true;
      };
      if ((need_usize && !take(&out.usize)) || (need_csize && !take(&out.csize)) ||
          (need_offset && !take(&out.offset))) {
        return absl::InvalidArgumentError(
            absl::StrCat("zip64 extra field of ", len, " bytes lacks a needed 64-bit value"));
      }
    }
    pos += len;
  }
  // A 0xFFFFFFFF sentinel promises a 64-bit value; without the zip64 field there is none.
  if ((need_usize && !out.usize) || (need_csize && !out.csize) || (need_offset && !out.offset)) {
    return absl::InvalidArgumentError(
        "a size or offset is 0xFFFFFFFF but there is no zip64 extra field holding its value");
  }
  return out;
}

}  // namespace

uint32_t Crc32(absl::Span<const uint8_t> bytes, uint32_t crc) {
  const auto& t = CrcTables();
  uint32_t c = ~crc;
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  while (n >= 8) {
    const uint32_t lo = c ^ Le32(p);
    const uint32_t hi = Le32(p + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

absl::StatusOr<ZipArchive> ZipArchive::Open(const std::string& path, const ZipOptions& options) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  auto owned = std::make_shared<const MappedFile>(std::move(*file));
  const absl::Span<const uint8_t> bytes = owned->bytes();
  return Parse(bytes, path, options, std::move(owned));
}

absl::StatusOr<ZipArchive> ZipArchive::FromBytes(absl::Span<const uint8_t> bytes,
                                                 std::string source_name,
                                                 const ZipOptions& options) {
  return Parse(bytes, std::move(source_name), options, nullptr);
}

absl::StatusOr<ZipArchive> ZipArchive::Parse(absl::Span<const uint8_t> bytes, std::string source,
                                             const ZipOptions& options,
                                             std::shared_ptr<const MappedFile> file) {
  const uint8_t* base = bytes.data();
  const uint64_t size = bytes.size();
  auto error = [&source](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", parts...));
  };

  // ---- End of central directory: the last 22+ bytes, followed only by its comment. ----
  if (size < kEocdSize) {
    return error("not a zip archive (", size, " bytes, less than an end-of-central-directory "
                 "record)");
  }
  uint64_t eocd = size;  // sentinel: not found
  {
    // The comment is at most 65535 bytes, so the record starts in the last 65557 bytes.
    const uint64_t lowest = size - kEocdSize >= 0xFFFF ? size - kEocdSize - 0xFFFF : 0;
    for (uint64_t pos = size - kEocdSize + 1; pos-- > lowest;) {
      if (Le32(base + pos) == kEocdSig && pos + kEocdSize + Le16(base + pos + 20) == size) {
        eocd = pos;
        break;
      }
    }
  }
  if (eocd == size) {
    return error("no end-of-central-directory record (not a zip archive, or truncated)");
  }
  const uint8_t* e = base + eocd;
  const uint16_t disk = Le16(e + 4), cd_disk = Le16(e + 6);
  uint64_t n_disk_entries = Le16(e + 8), n_entries = Le16(e + 10);
  uint64_t cd_size = Le32(e + 12), cd_offset = Le32(e + 16);
  uint64_t cd_limit = eocd;  // the central directory must end before this offset

  // ---- zip64: a locator right before the EOCD points to the zip64 EOCD record. ----
  if (eocd >= kZip64LocatorSize && Le32(e - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint64_t loc = eocd - kZip64LocatorSize;
    const uint32_t z64_disk = Le32(base + loc + 4);
    const uint64_t z64_offset = Le64(base + loc + 8);
    const uint32_t n_disks = Le32(base + loc + 16);
    if (z64_disk != 0 || n_disks > 1) {
      return error("multi-disk zip64 archives are not supported (disk ", z64_disk, " of ",
                   n_disks, ")");
    }
    if (!Fits(z64_offset, kZip64EocdSize, loc)) {
      return error("zip64 end-of-central-directory offset ", z64_offset,
                   " does not leave room for the record before its locator at ", loc);
    }
    const uint8_t* z = base + z64_offset;
    if (Le32(z) != kZip64EocdSig) {
      return error("no zip64 end-of-central-directory record at offset ", z64_offset);
    }
    const uint64_t record_size = Le64(z + 4);  // excludes the first 12 bytes
    if (record_size < kZip64EocdSize - 12 || record_size > loc ||
        !Fits(z64_offset, record_size + 12, loc)) {
      return error("zip64 end-of-central-directory record size ", record_size,
                   " is inconsistent with its position");
    }
    const uint32_t z_disk = Le32(z + 16), z_cd_disk = Le32(z + 20);
    const uint64_t z_disk_entries = Le64(z + 24), z_entries = Le64(z + 32);
    const uint64_t z_cd_size = Le64(z + 40), z_cd_offset = Le64(z + 48);
    if (z_disk != 0 || z_cd_disk != 0) {
      return error("multi-disk zip64 archives are not supported");
    }
    // Where both are given, the 32-bit fields must agree with the 64-bit ones.
    if ((n_entries != k16Max && n_entries != z_entries) ||
        (n_disk_entries != k16Max && n_disk_entries != z_disk_entries) ||
        (cd_size != k32Max && cd_size != z_cd_size) ||
        (cd_offset != k32Max && cd_offset != z_cd_offset)) {
      return error("the end-of-central-directory record (", n_entries, " entries, ", cd_size,
                   " bytes at ", cd_offset, ") disagrees with the zip64 record (", z_entries,
                   " entries, ", z_cd_size, " bytes at ", z_cd_offset, ")");
    }
    n_disk_entries = z_disk_entries;
    n_entries = z_entries;
    cd_size = z_cd_size;
    cd_offset = z_cd_offset;
    cd_limit = z64_offset;
  } else if (disk != 0 || cd_disk != 0) {
    return error("multi-disk zip archives are not supported (disk ", disk, ")");
  } else if (n_entries == k16Max || cd_size == k32Max || cd_offset == k32Max) {
    return error("the end-of-central-directory record holds zip64 sentinels but there is no "
                 "zip64 locator");
  }
  if (n_disk_entries != n_entries) {
    return error("multi-disk zip archives are not supported (", n_disk_entries, " of ",
                 n_entries, " entries on this disk)");
  }
  if (!Fits(cd_offset, cd_size, cd_limit)) {
    return error("central directory [", cd_offset, ", +", cd_size,
                 ") does not fit before the end-of-central-directory record at ", cd_limit,
                 " (truncated or corrupt archive)");
  }
  if (n_entries > cd_size / kCentralSize) {
    return error(n_entries, " entries cannot fit in a ", cd_size,
                 "-byte central directory (each needs at least ", kCentralSize, " bytes)");
  }
  if (n_entries > options.max_entries) {
    return error(n_entries, " entries exceed the limit of ", options.max_entries);
  }

  ZipArchive archive;
  archive.source_name_ = std::move(source);
  archive.file_ = std::move(file);
  const std::string& src = archive.source_name_;
  archive.entries_.reserve(static_cast<size_t>(n_entries));  // bounded by cd_size / 46 above
  struct Range {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Range> ranges;
  ranges.reserve(static_cast<size_t>(n_entries));

  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < n_entries; ++i) {
    if (!Fits(pos, kCentralSize, cd_end) || Le32(base + pos) != kCentralSig) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": central directory header ", i, " of ", n_entries, " at offset ",
                       pos, " is missing or truncated"));
    }
    const uint8_t* c = base + pos;
    const uint16_t flags = Le16(c + 8), method = Le16(c + 10);
    const uint32_t crc = Le32(c + 16);
    uint64_t csize = Le32(c + 20), usize = Le32(c + 24);
    const uint16_t name_len = Le16(c + 28), extra_len = Le16(c + 30), comment_len = Le16(c + 32);
    const uint16_t start_disk = Le16(c + 34);
    uint64_t local = Le32(c + 42);
    const uint64_t header_len = kCentralSize + name_len + extra_len + comment_len;
    if (!Fits(pos, header_len, cd_end)) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, ": central directory header ", i, " at offset ", pos,
                       " overruns the central directory (truncated archive)"));
    }
    const std::string name(reinterpret_cast<const char*>(c + kCentralSize), name_len);
    auto entry_error = [&](auto&&... parts) {
      return absl::InvalidArgumentError(absl::StrCat(src, ": entry '", name, "': ", parts...));
    };
    if (auto s = CheckName(name); !s.ok()) return entry_error("unsafe name: ", s.message());
    if (!archive.index_.emplace(name, archive.entries_.size()).second) {
      return entry_error("appears twice");
    }
    if (flags & (kFlagEncrypted | kFlagStrongEncryption | kFlagMaskedHeaders)) {
      return entry_error("is encrypted (flags 0x", absl::Hex(flags), ")");
    }
    if (method != 0) {
      return entry_error("uses compression method ", method,
                         "; only stored (uncompressed, method 0) entries are supported, as "
                         "torch.save writes them");
    }
    if (start_disk != 0 && start_disk != k16Max) return entry_error("starts on disk ", start_disk);
    auto z64 = ParseZip64Extra(
        absl::MakeConstSpan(c + kCentralSize + name_len, extra_len), usize == k32Max,
        csize == k32Max, local == k32Max);
    if (!z64.ok()) return entry_error("central directory: ", z64.status().message());
    if (z64->usize) usize = *z64->usize;
    if (z64->csize) csize = *z64->csize;
    if (z64->offset) local = *z64->offset;
    if (csize != usize) {
      return entry_error("is stored but its compressed size (", csize,
                         ") differs from its size (", usize, ")");
    }

    // ---- The local header must agree with the central one. ----
    if (!Fits(local, kLocalSize, cd_offset) || Le32(base + local) != kLocalSig) {
      return entry_error("no local header at offset ", local,
                         " (it must lie before the central directory at ", cd_offset, ")");
    }
    const uint8_t* h = base + local;
    const uint16_t l_flags = Le16(h + 6), l_method = Le16(h + 8);
    const uint32_t l_crc = Le32(h + 14);
    uint64_t l_csize = Le32(h + 18), l_usize = Le32(h + 22);
    const uint16_t l_name_len = Le16(h + 26), l_extra_len = Le16(h + 28);
    const uint64_t data_offset = local + kLocalSize + l_name_len + l_extra_len;
    if (!Fits(local, kLocalSize + l_name_len + l_extra_len, cd_offset)) {
      return entry_error("local header at ", local, " overruns the central directory");
    }
    if (absl::string_view(reinterpret_cast<const char*>(h + kLocalSize), l_name_len) != name) {
      return entry_error("the local header names it '",
                         absl::string_view(reinterpret_cast<const char*>(h + kLocalSize),
                                           l_name_len),
                         "'");
    }
    if (l_method != method || (l_flags & kFlagDescriptor) != (flags & kFlagDescriptor)) {
      return entry_error("local header (method ", l_method, ", flags 0x", absl::Hex(l_flags),
                         ") disagrees with the central directory (method ", method,
                         ", flags 0x", absl::Hex(flags), ")");
    }
    bool local_zip64 = false;
    if (l_usize == k32Max || l_csize == k32Max) {
      // In a local header the zip64 field holds both sizes whenever either overflows.
      auto lz = ParseZip64Extra(absl::MakeConstSpan(h + kLocalSize + l_name_len, l_extra_len),
                                true, true, false);
      if (!lz.ok()) return entry_error("local header: ", lz.status().message());
      if (!lz->usize || !lz->csize) {
        return entry_error("local header: a size is 0xFFFFFFFF but there is no zip64 extra "
                           "field");
      }
      l_usize = *lz->usize;
      l_csize = *lz->csize;
      local_zip64 = true;
    } else {
      auto lz = ParseZip64Extra(absl::MakeConstSpan(h + kLocalSize + l_name_len, l_extra_len),
                                false, false, false);
      if (!lz.ok()) return entry_error("local header: ", lz.status().message());
      local_zip64 = lz->present;
    }
    const bool deferred = (flags & kFlagDescriptor) != 0;
    const bool local_zero = l_crc == 0 && l_csize == 0 && l_usize == 0;
    if (!(deferred && local_zero) &&
        (l_crc != crc || l_csize != csize || l_usize != usize)) {
      return entry_error("local header (size ", l_usize, ", compressed ", l_csize, ", crc 0x",
                         absl::Hex(l_crc), ") disagrees with the central directory (size ",
                         usize, ", compressed ", csize, ", crc 0x", absl::Hex(crc), ")");
    }
    if (!Fits(data_offset, usize, cd_offset)) {
      return entry_error("data [", data_offset, ", +", usize,
                         ") runs past the start of the central directory at ", cd_offset);
    }
    uint64_t end = data_offset + usize;

    // ---- Data descriptor: [signature] crc, compressed size, size (4 or 8 bytes each). ----
    if (deferred) {
      const uint8_t* d = base + end;
      const uint64_t room = cd_offset - end;
      uint64_t skip = 0;
      if (room >= 4 && Le32(d) == kDescriptorSig) skip = 4;
      uint64_t len = 0;
      const bool wide = local_zip64 || z64->present;
      for (const bool eight : {wide, !wide}) {
        const uint64_t body = eight ? 20 : 12;
        if (room < skip + body) continue;
        const uint8_t* q = d + skip;
        const uint64_t dc = eight ? Le64(q + 4) : Le32(q + 4);
        const uint64_t du = eight ? Le64(q + 12) : Le32(q + 8);
        if (Le32(q) == crc && dc == csize && du == usize) {
          len = skip + body;
          break;
        }
      }
      if (len == 0) {
        return entry_error("the data descriptor after its data (at ", end,
                           ") is missing or disagrees with the central directory");
      }
      end += len;
    }
    ranges.push_back({local, end, archive.entries_.size()});

    ZipEntry entry;
    entry.name = name;
    entry.data_offset = data_offset;
    entry.size = usize;
    entry.crc32 = crc;
    entry.data = absl::MakeConstSpan(base + data_offset, static_cast<size_t>(usize));
    if (options.verify_crc && Crc32(entry.data) != crc) {
      return entry_error("CRC-32 mismatch: the data has 0x", absl::Hex(Crc32(entry.data)),
                         ", the central directory says 0x", absl::Hex(crc),
                         " (corrupt archive)");
    }
    archive.entries_.push_back(std::move(entry));
    pos += header_len;
  }
  if (pos != cd_end) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": the central directory has ", cd_end - pos,
                     " unexplained bytes after its ", n_entries, " headers"));
  }

  // ---- No two entries may share bytes. ----
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      return absl::InvalidArgumentError(absl::StrCat(
          src, ": entries '", archive.entries_[ranges[i - 1].index].name, "' [",
          ranges[i - 1].begin, ", ", ranges[i - 1].end, ") and '",
          archive.entries_[ranges[i].index].name, "' [", ranges[i].begin, ", ", ranges[i].end,
          ") overlap"));
    }
  }
  return archive;
}

const ZipEntry* ZipArchive::Find(absl::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

absl::StatusOr<absl::Span<const uint8_t>> ZipArchive::Get(absl::string_view name) const {
  const ZipEntry* e = Find(name);
  if (e == nullptr) {
    return absl::NotFoundError(absl::StrCat(source_name_, ": no entry named '", name, "'"));
  }
  return e->data;
}

}  // namespace memlens
