// A minimal writer of stored (uncompressed) zip archives laid out as torch.save does (data
// 64-byte aligned, a zip64 end record); for the torch_checkpoint fuzz harness.
#ifndef MEMLENS_TESTS_FUZZ_ZIP_WRITER_H_
#define MEMLENS_TESTS_FUZZ_ZIP_WRITER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/io/torch_zip.h"

namespace memlens {
namespace fuzz {

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

// (name, data) pairs -> archive bytes.
inline std::string WriteZip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const uint32_t crc = Crc32(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    const uint64_t offset = out.size();
    const size_t header = out.size() + 30 + name.size() + 4;
    const size_t pad = (64 - header % 64) % 64;
    Put32(&out, 0x04034b50);
    Put16(&out, 20);
    Put16(&out, 0x0800);
    Put16(&out, 0);  // stored
    Put32(&out, 0);  // time, date
    Put32(&out, crc);
    Put32(&out, static_cast<uint32_t>(data.size()));
    Put32(&out, static_cast<uint32_t>(data.size()));
    Put16(&out, static_cast<uint32_t>(name.size()));
    Put16(&out, static_cast<uint32_t>(4 + pad));
    out += name;
    Put16(&out, 0x4246);  // "FB" padding field, as PyTorch writes
    Put16(&out, static_cast<uint32_t>(pad));
    out.append(pad, 'Z');
    out += data;

    Put32(&central, 0x02014b50);
    Put16(&central, 0x031e);
    Put16(&central, 20);
    Put16(&central, 0x0800);
    Put16(&central, 0);
    Put32(&central, 0);
    Put32(&central, crc);
    Put32(&central, static_cast<uint32_t>(data.size()));
    Put32(&central, static_cast<uint32_t>(data.size()));
    Put16(&central, static_cast<uint32_t>(name.size()));
    Put16(&central, 0);  // extra
    Put16(&central, 0);  // comment
    Put16(&central, 0);  // disk
    Put16(&central, 0);  // internal attributes
    Put32(&central, 0);  // external attributes
    Put32(&central, static_cast<uint32_t>(offset));
    central += name;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  const uint64_t z64 = out.size();
  Put32(&out, 0x06064b50);
  Put64(&out, 44);
  Put16(&out, 0x031e);
  Put16(&out, 45);
  Put32(&out, 0);
  Put32(&out, 0);
  Put64(&out, entries.size());
  Put64(&out, entries.size());
  Put64(&out, central.size());
  Put64(&out, cd_offset);
  Put32(&out, 0x07064b50);
  Put32(&out, 0);
  Put64(&out, z64);
  Put32(&out, 1);
  Put32(&out, 0x06054b50);
  Put16(&out, 0);
  Put16(&out, 0);
  Put16(&out, static_cast<uint32_t>(entries.size()));
  Put16(&out, static_cast<uint32_t>(entries.size()));
  Put32(&out, static_cast<uint32_t>(central.size()));
  Put32(&out, static_cast<uint32_t>(cd_offset));
  Put16(&out, 0);
  return out;
}

}  // namespace fuzz
}  // namespace memlens

#endif  // MEMLENS_TESTS_FUZZ_ZIP_WRITER_H_
