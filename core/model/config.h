// The architecture of a model: one struct for every family the forward pass covers (GPT-2 /
// gelu-4l, llama2.c, HF LLaMA / Mistral / Qwen2, GPT-NeoX / Pythia, GPT-Neo); the fields below
// name each family's quirks and the one forward pass (core/model/forward.cc) branches on them.
#ifndef MEMLENS_CORE_MODEL_CONFIG_H_
#define MEMLENS_CORE_MODEL_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace memlens {

enum class NormKind { kLayerNorm, kRMSNorm };
// kGeluErf: exact GELU (TransformerLens "gelu"); kGeluTanh: "gelu_new"/"gelu_pytorch_tanh";
// kSwiGLU: W_out(silu(x W_gate) * (x W_in)) as in LLaMA (llama2.c's w1 = gate, w3 = in).
enum class ActKind { kGeluErf, kGeluTanh, kSwiGLU };
enum class PosKind { kLearned, kRotary };
// Which elements of a head rotary rotates together. kInterleaved: pairs (2i, 2i+1), as llama2.c
// and GPT-J (TransformerLens rotary_adjacent_pairs=True). kHalves: pairs (i, i + rotary_dim/2),
// HF's rotate_half (LLaMA, Mistral, Qwen2, GPT-NeoX; TransformerLens's default).
enum class RotaryStyle { kInterleaved, kHalves };

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
  float attn_scale = 0;  // scores are divided by this (TransformerLens: sqrt(d_head); GPT-Neo: 1)
  // Rotary (pos == kRotary): the first rotary_dim elements of each q/k head are rotated
  // (0 = all d_head; GPT-NeoX rotary_pct < 1 rotates a part), frequency i of the rotated part is
  // rope_theta^(-2i / rotary_dim), and position p turns by p / rope_scale (HF rope_scaling
  // type "linear" with its factor; 1 = none).
  RotaryStyle rotary_style = RotaryStyle::kInterleaved;
  int rotary_dim = 0;
  float rope_theta = 10000.0f;
  float rope_scale = 1.0f;
  // Attention and MLP both read hook_resid_pre; resid_post = resid_pre + attn_out + mlp_out
  // (GPT-NeoX use_parallel_residual, GPT-J). Such a block has no hook_resid_mid.
  bool parallel_residual = false;
  // Per layer, empty (all global) or n_layers entries: 0 = global causal attention, w > 0 =
  // query i sees keys j with i - w < j <= i, i.e. the last w tokens itself included (GPT-Neo
  // "local" layers with window_size; Mistral sliding_window on every layer; TransformerLens's
  // local attention mask).
  std::vector<int> attn_window;
  // Which projections carry a bias; an absent bias is an empty tensor (TransformerLens: zeros).
  // GPT-2 / GPT-NeoX: all; llama2.c / LLaMA: none (attention_bias: q/k/v and o);
  // Qwen2: q/k/v only; GPT-Neo: o and the MLP.
  bool bias_qkv = true;      // b_Q, b_K, b_V
  bool bias_o = true;        // b_O
  bool bias_mlp = true;      // b_in, b_out
  bool bias_unembed = true;  // b_U
  int bos_token_id = -1;  // -1: the tokenizer/format does not prepend BOS
  bool prepend_bos = false;

  void SetAllBiases(bool present) { bias_qkv = bias_o = bias_mlp = bias_unembed = present; }
  bool any_bias() const { return bias_qkv || bias_o || bias_mlp || bias_unembed; }
  int q_dim() const { return n_heads * d_head; }
  // The number of rotated elements per head (rotary models): rotary_dim, or d_head when 0.
  int rotary_elems() const { return rotary_dim > 0 ? rotary_dim : d_head; }
  // Layer l's attention window (0 = global).
  int window(int l) const { return attn_window.empty() ? 0 : attn_window[l]; }
  int kv_dim() const { return n_kv_heads * d_head; }
  // Checks that every size is positive and consistent; names the offending field.
  absl::Status Validate() const;
};

const char* NormKindName(NormKind k);
const char* ActKindName(ActKind k);
const char* PosKindName(PosKind k);
const char* RotaryStyleName(RotaryStyle s);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_CONFIG_H_
