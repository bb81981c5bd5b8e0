// A hand-built model with a planted writer/eraser pair, for end-to-end tests of the erasure
// detectors and clean-up-aware DLA.
//
// 2 layers, d_model 32, 2 heads of 4, LayerNorm (w = 1, b = 0), GELU, learned positions, all
// biases zero. Every node writes into its own zero-mean direction, so centering never mixes
// them and projection ratios between different nodes are exactly 0, except:
//   embed     token vectors of norm 10 in dims 0..7 (zero-sum there)
//   pos_embed p_i = 10 (cos(i pi/12) a + sin(i pi/12) b): constant norm, so the residual's
//             norm (and every LayerNorm scale) is nearly constant across positions
//   L0H1      the WRITER: uniform attention, reads a direction of the embeddings and writes
//             c_i * d (d = (e12 - e13)/sqrt 2), c_i varying with the tokens
//   L1H0      the ERASER (only with_eraser): attends to its own position (queries/keys read the
//             position circle with a large gain) and maps d to -s_ref * d, where s_ref is the
//             typical ln1 scale, so it writes ~ -c_i d: it erases the writer
//   L1H1      uniform attention, reads the embeddings, writes its own direction m
//   M1        one GELU neuron reading the embeddings, writing its own direction g
//   L0H0, M0  zero
// The control model (with_eraser = false) is identical except L1H0's W_O is zero.
#ifndef MEMLENS_TESTS_ANALYSIS_PLANTED_MODEL_H_
#define MEMLENS_TESTS_ANALYSIS_PLANTED_MODEL_H_

#include <cstdint>
#include <vector>

#include "core/model/weights.h"

namespace memlens {

Model PlantedModel(bool with_eraser);
// Deterministic random prompts of `length` tokens (length <= 12).
std::vector<std::vector<int>> PlantedPrompts(int count, int length, uint64_t seed);

}  // namespace memlens

#endif  // MEMLENS_TESTS_ANALYSIS_PLANTED_MODEL_H_
