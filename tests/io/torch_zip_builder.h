// Test helper: writes small zip archives byte by byte, including the layouts torch.save uses
// (data descriptors, zip64 records, 64-byte alignment padding) and deliberately broken ones.
#ifndef MEMLENS_TESTS_IO_TORCH_ZIP_BUILDER_H_
#define MEMLENS_TESTS_IO_TORCH_ZIP_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/io/torch_zip.h"

namespace memlens {
namespace testing_zip {

struct BuildEntry {
  std::string name;
  std::string data;
  uint16_t method = 0;
  bool descriptor = true;   // flag bit 3, zero sizes in the local header (as torch.save)
  bool zip64_extra = false;  // 0xFFFFFFFF sizes/offset with a zip64 extra field
  bool align64 = true;       // pad the local extra field so data starts at a multiple of 64
  bool write_local = true;   // false: only a central directory header (for overlap tests)
  int64_t local_offset = -1;  // >= 0: the central header points here instead
};

struct BuildOptions {
  bool zip64_eocd = true;  // torch.save always writes the zip64 EOCD record and locator
};

inline void Put16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v & 0xFF));
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void Put32(std::string* s, uint32_t v) {
  Put16(s, v & 0xFFFF);
  Put16(s, v >> 16);
}
inline void Put64(std::string* s, uint64_t v) {
  Put32(s, static_cast<uint32_t>(v));
  Put32(s, static_cast<uint32_t>(v >> 32));
}

inline uint32_t CrcOf(const std::string& d) {
  return Crc32(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(d.data()), d.size()));
}

inline std::string BuildZip(const std::vector<BuildEntry>& entries,
                            const BuildOptions& options = {}) {
  std::string out;
  std::vector<uint64_t> offsets;
  for (const BuildEntry& e : entries) {
    offsets.push_back(e.local_offset >= 0 ? static_cast<uint64_t>(e.local_offset) : out.size());
    if (!e.write_local) continue;
    const uint32_t crc = CrcOf(e.data);
    const uint16_t flags = (e.descriptor ? 0x0008 : 0) | 0x0800;
    std::string extra;
    if (e.zip64_extra) {
      Put16(&extra, 0x0001);
      Put16(&extra, 16);
      Put64(&extra, e.descriptor ? 0 : e.data.size());
      Put64(&extra, e.descriptor ? 0 : e.data.size());
    }
    if (e.align64) {
      const size_t header = out.size() + 30 + e.name.size() + extra.size() + 4;
      const size_t pad = (64 - header % 64) % 64;
      Put16(&extra, 0x4246);  // "FB", as PyTorch's writer
      Put16(&extra, static_cast<uint32_t>(pad));
      extra.append(pad, 'Z');
    }
    Put32(&out, 0x04034b50);
    Put16(&out, 45);
    Put16(&out, flags);
    Put16(&out, e.method);
    Put16(&out, 0);
    Put16(&out, 0);
    const bool zero = e.descriptor;
    Put32(&out, zero ? 0 : crc);
    Put32(&out, e.zip64_extra ? 0xFFFFFFFFu : zero ? 0 : e.data.size());
    Put32(&out, e.zip64_extra ? 0xFFFFFFFFu : zero ? 0 : e.data.size());
    Put16(&out, static_cast<uint32_t>(e.name.size()));
    Put16(&out, static_cast<uint32_t>(extra.size()));
    out += e.name;
    out += extra;
    out += e.data;
    if (e.descriptor) {
      Put32(&out, 0x08074b50);
      Put32(&out, crc);
      if (e.zip64_extra) {
        Put64(&out, e.data.size());
        Put64(&out, e.data.size());
      } else {
        Put32(&out, e.data.size());
        Put32(&out, e.data.size());
      }
    }
  }
  const uint64_t cd_offset = out.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const BuildEntry& e = entries[i];
    std::string extra;
    if (e.zip64_extra) {
      Put16(&extra, 0x0001);
      Put16(&extra, 24);
      Put64(&extra, e.data.size());
      Put64(&extra, e.data.size());
      Put64(&extra, offsets[i]);
    }
    Put32(&out, 0x02014b50);
    Put16(&out, 0x031e);
    Put16(&out, 45);
    Put16(&out, (e.descriptor ? 0x0008 : 0) | 0x0800);
    Put16(&out, e.method);
    Put16(&out, 0);
    Put16(&out, 0);
    Put32(&out, CrcOf(e.data));
    Put32(&out, e.zip64_extra ? 0xFFFFFFFFu : e.data.size());
    Put32(&out, e.zip64_extra ? 0xFFFFFFFFu : e.data.size());
    Put16(&out, static_cast<uint32_t>(e.name.size()));
    Put16(&out, static_cast<uint32_t>(extra.size()));
    Put16(&out, 0);
    Put16(&out, 0);
    Put16(&out, 0);
    Put32(&out, 0);
    Put32(&out, e.zip64_extra ? 0xFFFFFFFFu : static_cast<uint32_t>(offsets[i]));
    out += e.name;
    out += extra;
  }
  const uint64_t cd_size = out.size() - cd_offset;
  if (options.zip64_eocd) {
    const uint64_t z64 = out.size();
    Put32(&out, 0x06064b50);
    Put64(&out, 44);
    Put16(&out, 0x031e);
    Put16(&out, 45);
    Put32(&out, 0);
    Put32(&out, 0);
    Put64(&out, entries.size());
    Put64(&out, entries.size());
    Put64(&out, cd_size);
    Put64(&out, cd_offset);
    Put32(&out, 0x07064b50);
    Put32(&out, 0);
    Put64(&out, z64);
    Put32(&out, 1);
  }
  Put32(&out, 0x06054b50);
  Put16(&out, 0);
  Put16(&out, 0);
  Put16(&out, static_cast<uint32_t>(entries.size()));
  Put16(&out, static_cast<uint32_t>(entries.size()));
  Put32(&out, static_cast<uint32_t>(cd_size));
  Put32(&out, static_cast<uint32_t>(cd_offset));
  Put16(&out, 0);
  return out;
}

// A bare local header (no descriptor, no padding) followed by the data.
inline std::string LocalRecord(const std::string& name, const std::string& data) {
  std::string out;
  Put32(&out, 0x04034b50);
  Put16(&out, 20);
  Put16(&out, 0x0800);
  Put16(&out, 0);
  Put16(&out, 0);
  Put16(&out, 0);
  Put32(&out, CrcOf(data));
  Put32(&out, data.size());
  Put32(&out, data.size());
  Put16(&out, static_cast<uint32_t>(name.size()));
  Put16(&out, 0);
  return out + name + data;
}

inline absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace testing_zip
}  // namespace memlens

#endif  // MEMLENS_TESTS_IO_TORCH_ZIP_BUILDER_H_
