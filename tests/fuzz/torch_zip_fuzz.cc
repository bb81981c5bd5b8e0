// libFuzzer target for the torch.save zip reader (tools/fuzz.sh torch_zip_fuzz). The input is
// a whole archive, parsed from memory. Invariants: no crash; every entry's span lies inside
// the input, entries do not overlap, Find() returns each entry by name, and with CRC checks
// on every entry's CRC-32 matches its bytes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/io/torch_zip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const absl::Span<const uint8_t> bytes(data, size);
  for (bool crc : {true, false}) {
    ZipOptions options;
    options.verify_crc = crc;
    options.max_entries = 64;
    absl::StatusOr<ZipArchive> zip = ZipArchive::FromBytes(bytes, "fuzz.zip", options);
    if (!zip.ok()) {
      if (zip.status().message().find("fuzz.zip") == absl::string_view::npos) std::abort();
      continue;
    }
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (const ZipEntry& e : zip->entries()) {
      if (e.data.size() != e.size) std::abort();
      if (e.size > size || e.data_offset > size - e.size) std::abort();
      if (e.size > 0 && e.data.data() != data + e.data_offset) std::abort();
      if (zip->Find(e.name) != &e) std::abort();
      if (!zip->Get(e.name).ok()) std::abort();
      if (crc && Crc32(e.data) != e.crc32) std::abort();
      if (e.size > 0) ranges.emplace_back(e.data_offset, e.data_offset + e.size);
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) {
      if (ranges[i - 1].second > ranges[i].first) std::abort();
    }
    if (zip->Get("\x01missing").ok()) std::abort();
  }
  return 0;
}
