// Small random-weight models for tests that need a Model without files.
#ifndef MEMLENS_TESTS_RANDOM_MODEL_H_
#define MEMLENS_TESTS_RANDOM_MODEL_H_

#include <cstdint>

#include "core/model/weights.h"

namespace memlens {

// A GPT-2 / gelu-4l family config (LayerNorm, erf GELU, learned positions, biases).
ModelConfig SmallGeluConfig();
// A LLaMA family config (RMSNorm, rotary, SwiGLU, grouped-query attention, no biases).
ModelConfig SmallLlamaConfig();
// Weights ~ N(0, scale) (norm weights ~ 1 + N(0, scale)), deterministic in `seed`.
Model RandomModel(const ModelConfig& config, uint64_t seed, float scale = 0.3f);

}  // namespace memlens

#endif  // MEMLENS_TESTS_RANDOM_MODEL_H_
