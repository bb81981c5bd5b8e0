// HuggingFace LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM (SmolLM, TinyLlama,
// Qwen2-0.5B, ...): one family, three dialects of config.json.
//
// Names (prefix "model."), nn.Linear weights stored [out, in] and placed [in, out]:
//   embed_tokens.weight [V, D]; layers.l.input_layernorm.weight [D];
//   layers.l.self_attn.{q,k,v}_proj.weight [H*dh | KVH*dh, D] (+ .bias: Qwen2 always, LLaMA
//   with attention_bias), o_proj.weight [D, H*dh] (+ .bias with attention_bias);
//   layers.l.post_attention_layernorm.weight; layers.l.mlp.{gate,up}_proj.weight [F, D],
//   down_proj.weight [D, F]; norm.weight; lm_head.weight [V, D] (outside the prefix; absent or
//   ignored with tie_word_embeddings). Buffers layers.l.self_attn.rotary_emb.inv_freq are
//   ignored.
// Quirks: RMSNorm, SwiGLU (silu only), rotary over rotate-half pairs with rope_theta,
// grouped-query attention, explicit head_dim, rope_scaling none/linear, Mistral's
// sliding_window, Qwen2's use_sliding_window / max_window_layers.
#ifndef MEMLENS_CORE_MODEL_LOAD_HF_LLAMA_H_
#define MEMLENS_CORE_MODEL_LOAD_HF_LLAMA_H_

#include "core/model/load/family.h"

namespace memlens {

ModelFamily HfLlamaFamily();

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_HF_LLAMA_H_
