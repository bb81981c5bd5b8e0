// libFuzzer target for the llama2.c model loader (tools/fuzz.sh llama2c_model_fuzz): the
// 7-field header, the size checks and the weight layout. The input is a whole .bin file
// (written to a scratch file: the loader maps a path). Invariants: no crash, no allocation
// before the header and the exact file size are checked (libFuzzer's -malloc_limit_mb catches
// that); a loaded model's config matches its header; errors name the file. The header-only
// load `memlens info` uses (read_weights false) accepts every file the full load accepts, with
// the same config, and refuses nothing the full load accepts.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/model/load/llama2c.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  if (size >= kLlama2cHeaderBytes) {
    int32_t f[7];
    std::memcpy(f, data, sizeof(f));
    const Llama2cHeader h{f[0], f[1], f[2], f[3], f[4], f[5], f[6]};
    absl::StatusOr<ModelConfig> c = Llama2cConfig(h, "fuzz");
    if (c.ok() && Llama2cFileSize(h) <= kLlama2cHeaderBytes) std::abort();
  }
  const std::string path = fuzz::WriteScratch("model.bin", fuzz::AsText(data, size));
  absl::StatusOr<Model> model = LoadLlama2c(path);
  absl::StatusOr<Model> header_only = LoadLlama2c(path, /*read_weights=*/false);
  if (model.ok() && (!header_only.ok() || header_only->config.d_model != model->config.d_model ||
                     header_only->config.d_vocab != model->config.d_vocab ||
                     header_only->config.n_layers != model->config.n_layers)) {
    std::abort();
  }
  if (!header_only.ok() && header_only.status().message().find(path) != 0) std::abort();
  if (!model.ok()) {
    if (model.status().message().find(path) != 0) std::abort();  // "<path>: ..."
    return 0;
  }
  int32_t f[7];
  std::memcpy(f, data, sizeof(f));
  const ModelConfig& c = model->config;
  if (c.d_model != f[0] || c.d_mlp != f[1] || c.n_layers != f[2] || c.n_heads != f[3] ||
      c.n_kv_heads != f[4] || c.n_ctx != f[6]) {
    std::abort();
  }
  if (static_cast<int>(model->weights.layers.size()) != c.n_layers) std::abort();
  return 0;
}
