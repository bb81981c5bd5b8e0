// HuggingFace GPTNeoForCausalLM (the TinyStories models).
//
// Names (prefix "transformer."), nn.Linear weights stored [out, in] and placed [in, out]:
//   wte.weight [V, D], wpe.weight [P, D]; h.l.ln_1.weight|bias;
//   h.l.attn.attention.{q,k,v}_proj.weight [D, D] (no biases), out_proj.weight [D, D] + .bias;
//   h.l.ln_2.weight|bias; h.l.mlp.c_fc.weight [F, D] + .bias, c_proj.weight [D, F] + .bias;
//   ln_f.weight|bias; lm_head.weight (outside the prefix) absent or tied to wte.
//   Buffers h.l.attn.attention.bias|masked_bias are ignored.
// Quirks: attention scores are not scaled by 1/sqrt(d_head); layers alternate global and
// local attention (attention_types, window_size); gelu_new; learned positions; tied embeddings.
#ifndef MEMLENS_CORE_MODEL_LOAD_HF_GPT_NEO_H_
#define MEMLENS_CORE_MODEL_LOAD_HF_GPT_NEO_H_

#include "core/model/load/family.h"

namespace memlens {

ModelFamily HfGptNeoFamily();

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_HF_GPT_NEO_H_
