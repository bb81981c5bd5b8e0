// One entry point for every model file memlens reads.
//
//   LoadModel("path/model.bin")        llama2.c legacy checkpoint (core/io/llama2c.h)
//   LoadModel("path/dir")              config.json + weights: model.safetensors, or a file of a
//                                      registered container format (e.g. model_final.pth)
//   LoadModel("path/x.safetensors")    the same, with config.json next to the file
// The naming scheme follows config.json: TransformerLens fields (d_model, n_layers, ...) mean
// TransformerLens state-dict names (core/io/transformer_lens.h); HuggingFace GPT-2 fields
// (model_type "gpt2", n_embd, ...) mean HF GPT-2 names (core/io/hf_gpt2.h).
//
// Container formats plug in through TensorSource (core/io/tensor_source.h): safetensors is
// built in; another reader (PyTorch zip + pickle) registers itself with
// RegisterTensorSourceFormat and then works with both naming schemes unchanged.
#ifndef MEMLENS_CORE_IO_MODEL_LOADER_H_
#define MEMLENS_CORE_IO_MODEL_LOADER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/json.h"
#include "core/io/tensor_source.h"
#include "core/model/weights.h"

namespace memlens {

// Loads and validates a model; see above. Errors name the file and the field or tensor.
// ModelConfig::format records what was read: "llama2c", "tl-safetensors", "hf-gpt2-safetensors",
// "tl-<registered name>", ...
absl::StatusOr<Model> LoadModel(const std::string& path);

// Builds a model from a parsed config.json (named `config_path` in errors) and a tensor
// source, picking the naming scheme from the config. `format` is the container's name
// ("safetensors", "pth"); `model_dir` is searched for tokenizer files when the config has no
// bos_token_id (may be empty). ModelConfig::name defaults to the directory's name.
absl::StatusOr<Model> BuildModelFromSource(const json::Value& config,
                                           const std::string& config_path,
                                           const TensorSource& source, const std::string& format,
                                           const std::string& model_dir);

using TensorSourceOpener =
    std::function<absl::StatusOr<std::unique_ptr<TensorSource>>(const std::string& path)>;

struct TensorSourceFormat {
  std::string name;                     // "pth": models load with format "tl-pth"
  std::string extension;                // ".pth": recognizes a weights file given directly,
                                        // and a single such file in a model directory
  std::vector<std::string> file_names;  // preferred names in a directory ("model_final.pth")
  TensorSourceOpener open;
};

// Makes LoadModel recognize another container format (thread-safe; formats registered
// earlier win; safetensors is always first). Call once at startup, e.g. from the reader's
// library through a static initializer in an `alwayslink` target, or from main().
void RegisterTensorSourceFormat(TensorSourceFormat format);

// The BOS token id that tokenizer files in `dir` declare (tokenizer_config.json "bos_token"
// resolved through tokenizer.json's added tokens or vocabulary), or -1.
int FindTokenizerBosId(const std::string& dir);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_MODEL_LOADER_H_
