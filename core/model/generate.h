// Continuing a prompt: greedy or sampled decoding on top of the forward pass.
#ifndef MEMLENS_CORE_MODEL_GENERATE_H_
#define MEMLENS_CORE_MODEL_GENERATE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/model/forward.h"

namespace memlens {

struct SamplingOptions {
  int max_new_tokens = 0;
  double temperature = 0;  // 0: greedy (argmax, ties to the lowest id as llama2.c)
  int top_k = 0;           // sample from the k most likely tokens only (0: all)
  uint64_t seed = 1234;
};

struct Generation {
  Tensor next_logits;        // [1, d_vocab]: the prompt's last-position logits
  std::vector<int> tokens;   // the new tokens (fewer than asked when the context fills up)
  bool context_full = false;
};

// Reruns the growing sequence each step (no KV cache: the models memlens analyses are small,
// and a cache would change the speed, not the numbers). Errors: those of Transformer::Run,
// bad options, and a non-finite logit (named as such rather than sampled from).
absl::StatusOr<Generation> Generate(const Transformer& transformer, absl::Span<const int> prompt,
                                    const SamplingOptions& options);

// Softmax of logits / temperature (temperature <= 0 treated as 1), in double.
std::vector<double> Probabilities(absl::Span<const float> logits, double temperature);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_GENERATE_H_
