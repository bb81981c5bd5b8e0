// A model family: how one naming scheme and config.json dialect binds to memlens's Model
// (core/model/weights.h). Each family lives in its own file of this directory, a short table
// of tensor names plus its quirks, and is listed once in families.cc. The resolver
// (load_model.h) finds the config and the weights; the family turns them into a Model.
#ifndef MEMLENS_CORE_MODEL_LOAD_FAMILY_H_
#define MEMLENS_CORE_MODEL_LOAD_FAMILY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/json.h"
#include "core/io/tensor_source.h"
#include "core/model/weights.h"

namespace memlens {

struct FamilyInput {
  const json::Value& config;       // config.json, an object
  const std::string& config_path;  // names it in errors
  const TensorSource& source;      // the weights
  int tokenizer_bos = -1;  // BOS declared by the tokenizer files beside the model, when the
                           // config has no bos_token_id; -1 otherwise
  // False: check the config and every tensor's name and shape, read no weight; the model
  // comes back with its config and empty tensors (ResolveOptions::read_weights).
  bool read_weights = true;
};

struct FamilyModel {
  Model model;
  // What this family does differently from a plain pre-norm transformer, in force for this
  // checkpoint ("parallel residual", "rotary on 25% of d_head", "tied embeddings", ...):
  // `memlens info` lists them.
  std::vector<std::string> quirks;
};

struct ModelFamily {
  const char* name;  // "hf-llama": ModelConfig::format becomes "<name>-<container>"
  const char* what;  // how to recognize its config, for the error when none matches
  bool (*matches)(const json::Value& config);
  absl::StatusOr<FamilyModel> (*build)(const FamilyInput& in);
};

// Every family, in the order their `matches` are tried (families.cc).
const std::vector<ModelFamily>& ModelFamilies();

// The family whose config this is, or nullptr.
const ModelFamily* FindModelFamily(const json::Value& config);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_FAMILY_H_
