// HuggingFace GPTNeoXForCausalLM (the Pythia suite).
//
// Names (prefix "gpt_neox."), nn.Linear weights stored [out, in] and placed [in, out]:
//   embed_in.weight [V, D]; layers.l.input_layernorm.weight|bias [D];
//   layers.l.attention.query_key_value.weight [3D, D] + .bias [3D], fused per head: rows
//   h*3*dh + {0: q, 1: k, 2: v}*dh + i; layers.l.attention.dense.weight [D, D] + .bias;
//   layers.l.post_attention_layernorm.weight|bias; layers.l.mlp.dense_h_to_4h.weight [F, D]
//   + .bias, dense_4h_to_h.weight [D, F] + .bias; final_layer_norm.weight|bias;
//   embed_out.weight [V, D] (outside the prefix; untied unless tie_word_embeddings).
//   Buffers attention.bias, attention.masked_bias, attention.rotary_emb.inv_freq are ignored.
// Quirks: parallel residual (use_parallel_residual), partial rotary (rotary_pct of d_head,
// rotate-half), rotary_emb_base / rope_theta, LayerNorm with biases.
#ifndef MEMLENS_CORE_MODEL_LOAD_HF_GPT_NEOX_H_
#define MEMLENS_CORE_MODEL_LOAD_HF_GPT_NEOX_H_

#include "core/model/load/family.h"

namespace memlens {

ModelFamily HfGptNeoXFamily();

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_HF_GPT_NEOX_H_
