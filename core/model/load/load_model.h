// One place resolves a model: a path becomes the config, the weights, the family that binds
// them, the tokenizer beside them and the BOS id.
//
//   "path/model.bin"        llama2.c legacy checkpoint (llama2c.h)
//   "path/dir"              config.json + weights in a container of core/io/container_formats.h:
//                           model.safetensors, model.safetensors.index.json + parts,
//                           model_final.pth, or the single file of a known extension
//   "path/x.safetensors"    the same, with config.json next to the file
// config.json selects the family (family.h, registered in families.cc): HF LLaMA / Mistral /
// Qwen2, GPT-NeoX, GPT-Neo, GPT-2, TransformerLens. The tokenizer is the one
// FindTokenizerIn (core/tokenizer/load_tokenizer.h) finds in the model's directory; the BOS
// comes from the config's bos_token_id, else from the tokenizer files.
#ifndef MEMLENS_CORE_MODEL_LOAD_LOAD_MODEL_H_
#define MEMLENS_CORE_MODEL_LOAD_LOAD_MODEL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/json.h"
#include "core/io/tensor_source.h"
#include "core/model/weights.h"

namespace memlens {

struct ResolvedModel {
  Model model;  // config.format = "<family>-<container>" ("hf-llama-safetensors", "llama2c")
  std::string family;               // "hf-llama", "tl", "llama2c", ...
  std::vector<std::string> quirks;  // see FamilyModel::quirks
  std::string weights_path;         // the file the weights came from
  std::string tokenizer_path;       // the tokenizer beside the model; "" when there is none
  bool weights_read = true;         // false: model.weights holds empty tensors
};

struct ResolveOptions {
  // False: resolve and check everything (config, every tensor's name and shape against it,
  // the file sizes the headers imply, the tokenizer's path) but read no weight, so the cost is
  // that of parsing headers whatever the model's size (`memlens info`, `memlens hooks`).
  // Values (NaN/Inf) and whether the weights fit in memory are checked only when read.
  bool read_weights = true;
};

// Loads and validates a model; see above. Errors name the file and the field or tensor.
absl::StatusOr<ResolvedModel> ResolveModel(const std::string& path,
                                           const ResolveOptions& options = {});
// ResolveModel(path)->model.
absl::StatusOr<Model> LoadModel(const std::string& path);

// Builds a model from a parsed config.json (named `config_path` in errors) and a tensor
// source through the family the config selects. `format` is the container's name
// ("safetensors", "pth"); `model_dir` is searched for tokenizer files when the config has no
// bos_token_id (may be empty). ModelConfig::name defaults to the directory's name.
absl::StatusOr<ResolvedModel> BuildModelFromSource(const json::Value& config,
                                                   const std::string& config_path,
                                                   const TensorSource& source,
                                                   const std::string& format,
                                                   const std::string& model_dir,
                                                   const ResolveOptions& options = {});

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_LOAD_MODEL_H_
