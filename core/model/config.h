// The architecture of a model: one struct for both families the forward pass covers.
#ifndef MEMLENS_CORE_MODEL_CONFIG_H_
#define MEMLENS_CORE_MODEL_CONFIG_H_

#include <string>

#include "absl/status/status.h"

namespace memlens {

enum class NormKind { kLayerNorm, kRMSNorm };
// kGeluErf: exact GELU (TransformerLens "gelu"); kGeluTanh: "gelu_new"/"gelu_pytorch_tanh";
// kSwiGLU: W_out(silu(x W_gate) * (x W_in)) as in LLaMA (llama2.c's w1 = gate, w3 = in).
enum class ActKind { kGeluErf, kGeluTanh, kSwiGLU };
enum class PosKind { kLearned, kRotary };

struct ModelConfig {
  std::string name;        // for reports
  std::string format;      // which loader produced it: "llama2c", "tl-safetensors", ...
  NormKind norm = NormKind::kLayerNorm;
  ActKind act = ActKind::kGeluErf;
  PosKind pos = PosKind::kLearned;
  int n_layers = 0;
  int d_model = 0;
  int n_heads = 0;
  int n_kv_heads = 0;  // == n_heads unless grouped-query attention
  int d_head = 0;
  int d_mlp = 0;
  int d_vocab = 0;
  int n_ctx = 0;
  float eps = 1e-5f;
  float attn_scale = 0;  // scores are divided by this (TransformerLens: sqrt(d_head))
  float rope_theta = 10000.0f;
  bool has_bias = true;  // GPT-2 family: biases everywhere; LLaMA: none
  int bos_token_id = -1;  // -1: the tokenizer/format does not prepend BOS
  bool prepend_bos = false;

  int q_dim() const { return n_heads * d_head; }
  int kv_dim() const { return n_kv_heads * d_head; }
  // Checks that every size is positive and consistent; names the offending field.
  absl::Status Validate() const;
};

const char* NormKindName(NormKind k);
const char* ActKindName(ActKind k);
const char* PosKindName(PosKind k);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_CONFIG_H_
