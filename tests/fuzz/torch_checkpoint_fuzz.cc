// libFuzzer target for the PyTorch checkpoint reader: zip + pickle + tensor rebuilding
// (tools/fuzz.sh torch_checkpoint_fuzz). Two input shapes:
//   - an input starting with "PK\3\4" is a whole .pth archive, parsed from memory;
//   - anything else is a data.pkl, packed by the harness into a valid archive with storages
//     archive/data/0 .. archive/data/7 of 1024 bytes each (256 f32 / 512 f16 or bf16 / 128 f64
//     elements), so the fuzzer spends its time on the state-dict interpretation rather than
//     on CRCs.
// Invariants: no crash; every tensor's view lies inside its storage; float tensors convert to
// the declared shape; other dtypes are refused by ReadFloat with an error.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/io/torch_checkpoint.h"
#include "tests/io/torch_zip_builder.h"

namespace {

std::string StorageBytes(int key) {
  std::string s(1024, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 37 + key * 11) & 0xFF);
  if (key == 7) std::memset(&s[0], 0xFF, 64);  // NaN patterns in every float type
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  std::string packed;
  absl::Span<const uint8_t> archive(data, size);
  if (size < 4 || std::memcmp(data, "PK\x03\x04", 4) != 0) {
    std::vector<testing_zip::BuildEntry> entries;  // laid out as torch.save does
    entries.push_back({"archive/data.pkl", std::string(reinterpret_cast<const char*>(data), size)});
    entries.push_back({"archive/byteorder", "little"});
    for (int k = 0; k < 8; ++k) {
      entries.push_back({"archive/data/" + std::to_string(k), StorageBytes(k)});
    }
    entries.push_back({"archive/version", "3\n"});
    packed = testing_zip::BuildZip(entries);
    archive = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(packed.data()), packed.size());
  }
  absl::StatusOr<ZipArchive> zip = ZipArchive::FromBytes(archive, "fuzz.pth");
  if (!zip.ok()) {
    if (!packed.empty()) std::abort();  // the harness's own archive must always parse
    return 0;
  }
  absl::StatusOr<TorchCheckpoint> ckpt = TorchCheckpoint::FromZip(*std::move(zip));
  if (!ckpt.ok()) {
    if (ckpt.status().message().find("fuzz.pth") == absl::string_view::npos) std::abort();
    return 0;
  }
  for (const TorchTensorInfo& info : ckpt->tensors()) {
    if (info.shape.size() != info.stride.size()) std::abort();
    if (ckpt->Find(info.name) != &info) std::abort();
    const size_t elem = TorchDTypeSize(info.dtype);
    if (info.storage.size() % elem != 0) std::abort();
    const uint64_t numel = info.storage.size() / elem;
    // Element range of the view: [offset, last] inside the storage when non-empty.
    if (info.num_elements() > 0) {
      unsigned __int128 last = static_cast<uint64_t>(info.storage_offset);
      for (size_t d = 0; d < info.shape.size(); ++d) {
        if (info.shape[d] < 0 || info.stride[d] < 0) std::abort();
        last += static_cast<unsigned __int128>(info.shape[d] - 1) *
                static_cast<uint64_t>(info.stride[d]);
      }
      if (last >= numel) std::abort();
    }
    absl::StatusOr<Tensor> t = ckpt->ReadFloat(info.name);
    if (IsFloatDType(info.dtype)) {
      if (!t.ok() || t->shape != info.shape) std::abort();
    } else if (t.ok()) {
      std::abort();
    }
  }
  TorchCheckpointSource source(*std::move(ckpt));
  for (const std::string& name : source.TensorNames()) {
    const std::vector<int64_t>* shape = source.FindShape(name);
    absl::StatusOr<Tensor> t = source.ReadFloat(name);
    if (shape == nullptr || !t.ok() || t->shape != *shape) std::abort();
  }
  return 0;
}
