// libFuzzer target for the safetensors reader (tools/fuzz.sh safetensors_fuzz). The input is
// a whole .safetensors file (written to a scratch file: the reader maps a path). Invariants:
// no crash; every listed float tensor's byte span matches its shape and dtype and converts to a
// float32 tensor of that shape, every other one is refused by ReadFloat naming its dtype;
// tensors sorted by offset do not overlap.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  const std::string path = fuzz::WriteScratch("model.safetensors", fuzz::AsText(data, size));
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  if (!file.ok()) {
    if (file.status().message().find(path) == absl::string_view::npos) std::abort();
    return 0;
  }
  std::vector<std::pair<const uint8_t*, size_t>> spans;
  for (const auto& [name, view] : file->tensors()) {
    if (!view.bytes.empty()) spans.emplace_back(view.bytes.data(), view.bytes.size());
    if (view.dtype == DType::kOther) {  // listed and bounds-checked, never read as floats
      absl::StatusOr<Tensor> t = file->ReadFloat(name);
      if (t.ok() || t.status().message().find(view.dtype_name) == absl::string_view::npos) {
        std::abort();
      }
      continue;
    }
    if (view.bytes.size() != view.num_elements() * DTypeSize(view.dtype)) std::abort();
    absl::StatusOr<Tensor> t = file->ReadFloat(name);
    if (!t.ok() || t->shape != view.shape || t->size() != view.num_elements()) std::abort();
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i - 1].first + spans[i - 1].second > spans[i].first) std::abort();
  }
  if (!spans.empty() && spans.back().second > size) std::abort();
  if (file->ReadFloat("\xff no such tensor").ok()) std::abort();
  SafetensorsSource source(*std::move(file));
  for (const std::string& name : source.TensorNames()) {
    if (source.FindShape(name) == nullptr) std::abort();
  }
  return 0;
}
