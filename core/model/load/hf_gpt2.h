// HuggingFace GPT-2 checkpoints (GPT2Model / GPT2LMHeadModel state dicts) with HF's
// config.json (n_layer, n_embd, n_head, n_positions, vocab_size, n_inner, layer_norm_epsilon,
// activation_function, scale_attn_weights, bos_token_id).
//
// Stored names (optionally under "transformer."): wte.weight [V, D], wpe.weight [P, D],
// h.l.ln_1.weight|bias, h.l.attn.c_attn.weight [D, 3D] (Conv1D: [in, out], fused q|k|v, each
// D wide with head h in columns h*dh .. (h+1)*dh), c_attn.bias [3D], h.l.attn.c_proj.weight
// [D, D], c_proj.bias, h.l.ln_2.*, h.l.mlp.c_fc.weight [D, F], c_fc.bias, h.l.mlp.c_proj.weight
// [F, D], c_proj.bias, ln_f.weight|bias; lm_head.weight [V, D] when stored (else tied to wte).
// Conv1D already stores [in, out], memlens's layout, so only the fused qkv is split.
// Buffers h.l.attn.bias and h.l.attn.masked_bias (causal masks) are ignored; b_U is zero.
#ifndef MEMLENS_CORE_MODEL_LOAD_HF_GPT2_H_
#define MEMLENS_CORE_MODEL_LOAD_HF_GPT2_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/io/json.h"
#include "core/io/tensor_source.h"
#include "core/model/load/family.h"
#include "core/model/weights.h"

namespace memlens {

// True when `config` looks like HF's GPT-2 config (model_type "gpt2", or n_embd present).
bool IsHfGpt2Config(const json::Value& config);

// Errors start with `source` and name the field.
absl::StatusOr<ModelConfig> ParseHfGpt2Config(const json::Value& config, const std::string& source);

// `config_source` names the config in shape errors. With `read_weights` false only the shapes
// are checked (FamilyInput::read_weights).
absl::StatusOr<Model> BuildHfGpt2Model(const ModelConfig& config, const std::string& config_source,
                                       const TensorSource& source, bool read_weights = true);

// config.json with model_type "gpt2" (or n_embd): the functions above, the BOS from the
// tokenizer files when the config names none.
ModelFamily HfGpt2Family();

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_HF_GPT2_H_
