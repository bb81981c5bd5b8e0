// libFuzzer target for config.json -> model (tools/fuzz.sh model_config_fuzz): the JSON parse
// LoadModel does, then BuildModelFromSource with the TransformerLens / HuggingFace GPT-2
// config readers and the shape-checked weight plans. The tensors come from the committed
// fixtures (tests/fixtures/{tl_safetensors,hf_gpt2}/model.safetensors, found through
// MEMLENS_FUZZ_ROOT, which tools/fuzz.sh sets) and from an empty source, so mutated configs
// reach every shape check. Invariants: no crash; no allocation sized by the config before its
// shapes are checked against the tensors (-malloc_limit_mb); errors name config.json; the
// shapes-only build `memlens info` uses (read_weights false) accepts every config the full
// build accepts, with the same config.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/io/json.h"
#include "core/model/load/load_model.h"
#include "core/io/safetensors.h"
#include "core/io/tensor_source.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::vector<std::unique_ptr<memlens::TensorSource>>* Sources() {
  static auto* sources = [] {
    auto* v = new std::vector<std::unique_ptr<memlens::TensorSource>>;
    v->push_back(std::make_unique<memlens::MapTensorSource>(
        "empty", std::map<std::string, memlens::Tensor>{}));
    const std::string root = memlens::fuzz::RepoRoot();
    if (!root.empty()) {
      for (const char* dir : {"tl_safetensors", "hf_gpt2"}) {
        auto s = memlens::SafetensorsSource::Open(root + "/tests/fixtures/" + dir +
                                                  "/model.safetensors");
        if (s.ok()) v->push_back(*std::move(s));
      }
    }
    return v;
  }();
  return sources;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memlens;
  json::ParseOptions options;
  options.source_name = "fuzz/config.json";
  options.max_depth = 64;  // as LoadModel
  absl::StatusOr<json::Value> config = json::Parse(fuzz::AsText(data, size), options);
  if (!config.ok()) return 0;
  for (const auto& source : *Sources()) {
    absl::StatusOr<ResolvedModel> model =
        BuildModelFromSource(*config, "fuzz/config.json", *source, "safetensors", "");
    ResolveOptions shapes_only;
    shapes_only.read_weights = false;
    absl::StatusOr<ResolvedModel> described = BuildModelFromSource(
        *config, "fuzz/config.json", *source, "safetensors", "", shapes_only);
    if (model.ok() &&
        (!described.ok() || described->model.config.d_model != model->model.config.d_model ||
         described->model.config.n_layers != model->model.config.n_layers ||
         described->family != model->family || described->quirks != model->quirks)) {
      std::abort();
    }
    if (!model.ok()) {
      const absl::string_view msg = model.status().message();
      if (msg.find("fuzz/config.json") == absl::string_view::npos &&
          msg.find(source->source_name()) == absl::string_view::npos) {
        std::abort();  // an error must name the config or the weights file
      }
      continue;
    }
    if (!model->model.config.Validate().ok()) std::abort();
  }
  return 0;
}
