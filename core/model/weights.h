// Weights in memlens's one internal layout, whatever file format they came from.
//
// Matrices are row-major [in, out] so that a projection is `x[T, in] @ W[in, out]`, and the
// heads of a projection are contiguous column blocks: W_Q is [d_model, n_heads * d_head] where
// TransformerLens stores [n_heads, d_model, d_head]; W_O is [n_heads * d_head, d_model], which
// is exactly TransformerLens's [n_heads, d_head, d_model] flattened. Loaders convert.
#ifndef MEMLENS_CORE_MODEL_WEIGHTS_H_
#define MEMLENS_CORE_MODEL_WEIGHTS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/model/config.h"
#include "core/tensor.h"

namespace memlens {

struct LayerWeights {
  Tensor ln1_w, ln1_b;      // [d_model]; ln*_b empty for RMSNorm
  Tensor W_Q, W_K, W_V;     // [d_model, q_dim], [d_model, kv_dim], [d_model, kv_dim]
  Tensor b_Q, b_K, b_V;     // [q_dim], [kv_dim], [kv_dim]; empty without biases
  Tensor W_O;               // [q_dim, d_model]
  Tensor b_O;               // [d_model]; empty without biases
  Tensor ln2_w, ln2_b;      // [d_model]
  Tensor W_in;              // [d_model, d_mlp]  (SwiGLU: the linear "up" branch, llama2.c w3)
  Tensor W_gate;            // [d_model, d_mlp]  SwiGLU only (the silu branch, llama2.c w1)
  Tensor b_in;              // [d_mlp]; empty without biases
  Tensor W_out;             // [d_mlp, d_model]
  Tensor b_out;             // [d_model]; empty without biases
};

struct Weights {
  Tensor W_E;               // [d_vocab, d_model]
  Tensor W_pos;             // [n_ctx, d_model]; empty for rotary models
  std::vector<LayerWeights> layers;
  Tensor ln_final_w, ln_final_b;  // [d_model]; ln_final_b empty for RMSNorm
  Tensor W_U;               // [d_model, d_vocab]
  Tensor b_U;               // [d_vocab]; empty without biases

  // Checks every tensor's shape against `config` and that every value is finite; the error
  // names the tensor (e.g. "blocks.2.attn.W_V has shape [64, 8] but the config needs ...").
  absl::Status Validate(const ModelConfig& config) const;
  size_t NumParameters() const;
};

struct Model {
  ModelConfig config;
  Weights weights;
  // How the weights were processed after loading (reports state it): e.g. "none",
  // "fold_ln+center_writing+center_unembed+fold_value_biases".
  std::string processing = "none";
};

// Visits every tensor the architecture has, in file order, with its TransformerLens name
// (e.g. "blocks.0.attn.W_Q"; shapes in memlens's layout). Absent optional tensors are skipped.
void ForEachWeight(const Model& model,
                   const std::function<void(const std::string& name, const Tensor& t)>& fn);
// The same names with the shapes `config` gives them, without any weights (`memlens info`).
void ForEachWeightShape(
    const ModelConfig& config,
    const std::function<void(const std::string& name, const std::vector<int64_t>& shape)>& fn);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_WEIGHTS_H_
