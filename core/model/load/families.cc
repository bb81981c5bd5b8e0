// The registry of model families: adding one is a new file here and one line below.
#include "core/model/load/family.h"
#include "core/model/load/hf_gpt2.h"
#include "core/model/load/hf_gpt_neo.h"
#include "core/model/load/hf_gpt_neox.h"
#include "core/model/load/hf_llama.h"
#include "core/model/load/transformer_lens.h"

namespace memlens {

const std::vector<ModelFamily>& ModelFamilies() {
  static const auto* families = new std::vector<ModelFamily>{
      HfLlamaFamily(),    // LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM
      HfGptNeoXFamily(),  // GPTNeoXForCausalLM (Pythia)
      HfGptNeoFamily(),   // GPTNeoForCausalLM (TinyStories)
      HfGpt2Family(),     // GPT2LMHeadModel
      TransformerLensFamily(),
  };
  return *families;
}

const ModelFamily* FindModelFamily(const json::Value& config) {
  for (const ModelFamily& f : ModelFamilies()) {
    if (f.matches(config)) return &f;
  }
  return nullptr;
}

}  // namespace memlens
