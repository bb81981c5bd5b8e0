// Models stored under TransformerLens's state-dict names, with a TransformerLens-style
// config.json (the fields of HookedTransformerConfig, as `cfg.to_dict()` writes them).
//
// Stored shapes (H heads, KVH key/value heads, dh = d_head, D = d_model, F = d_mlp):
//   embed.W_E [V, D], pos_embed.W_pos [n_ctx, D] (standard positions only),
//   blocks.l.ln1.w|b, ln2.w|b [D] (absent for LNPre/RMSPre: ones/zeros; .b absent for RMS),
//   blocks.l.attn.W_Q [H, D, dh], W_K|W_V (or _W_K|_W_V with grouped-query attention)
//   [KVH, D, dh], b_Q [H, dh], b_K|b_V (or _b_K|_b_V) [KVH, dh], W_O [H, dh, D], b_O [D],
//   blocks.l.mlp.W_in [D, F], W_gate [D, F] (gated MLP), b_in [F], W_out [F, D], b_out [D],
//   ln_final.w|b [D], unembed.W_U [D, V], b_U [V].
// Buffers (blocks.l.attn.IGNORE, mask, rotary_sin, rotary_cos) are ignored; any other tensor
// is an error. Biases are all present (GPT-style, and TransformerLens's LLaMA conversions,
// which store zeros) or all absent.
// Rotary models: TransformerLens rotates "halves" (dim i with i + dh/2, RotaryStyle::kHalves)
// unless rotary_adjacent_pairs is set (kInterleaved); the weights are used as stored, so
// hook_q/hook_k/hook_rot_q/hook_rot_k are TransformerLens's own.
#ifndef MEMLENS_CORE_MODEL_LOAD_TRANSFORMER_LENS_H_
#define MEMLENS_CORE_MODEL_LOAD_TRANSFORMER_LENS_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/io/json.h"
#include "core/io/tensor_source.h"
#include "core/model/load/family.h"
#include "core/model/weights.h"

namespace memlens {

struct TransformerLensSpec {
  ModelConfig config;             // the biases are decided from the tensors by the builder
  bool ln_weights_stored = true;  // false for LNPre / RMSPre (weights folded away)
  bool default_prepend_bos = true;  // config.prepend_bos also needs a known bos_token_id
  std::string config_source;        // the config.json path, for errors
};

// Reads the HookedTransformerConfig fields: n_layers, d_model, d_head, n_heads, d_mlp,
// d_vocab, n_ctx, act_fn ("gelu", "gelu_new"/"gelu_pytorch_tanh"/"gelu_fast", "silu" with a
// gated MLP), normalization_type ("LN", "LNPre", "RMS", "RMSPre"), eps (or ln_eps),
// positional_embedding_type ("standard", "rotary"), use_attn_scale/attn_scale, rotary_base,
// rotary_dim (must equal d_head), rotary_adjacent_pairs, n_key_value_heads, gated_mlp,
// default_prepend_bos, bos_token_id, model_name. Features the forward pass does not implement
// (attn_only, parallel_attn_mlp, local attention, final_rms with LN, soft caps, QK norm, ...)
// are errors naming the field. Errors start with `source`.
absl::StatusOr<TransformerLensSpec> ParseTransformerLensConfig(const json::Value& config,
                                                               const std::string& source);

// Checks every tensor's shape against the spec, then converts to memlens's layout and runs
// Weights::Validate. Errors start with the source's or the config's name. With `read_weights`
// false only the shapes are checked (FamilyInput::read_weights).
absl::StatusOr<Model> BuildTransformerLensModel(TransformerLensSpec spec,
                                                const TensorSource& source,
                                                bool read_weights = true);

// config.json with TransformerLens fields ("d_model"): the two functions above, with the BOS
// from the tokenizer files when the config names none.
ModelFamily TransformerLensFamily();

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_TRANSFORMER_LENS_H_
