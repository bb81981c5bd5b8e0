// Path-corrected DLA (method.md "Clean-up-aware DLA" 2).
//
// For a writer node h with output h_j at each position j, and each later attention head e
// (a head in a layer whose resid_pre contains h), freeze e's attention pattern A_e and its ln1
// scale s1 at their clean values. Then e's output is linear in its value input, and the part
// of e's output at query position i that is due to h is
//   c_e(i) = sum_j A_e[i, j] * norm_e(h_j) @ W_V[g(e)] @ W_O[e],
//   norm_e(x) = (x - mean(x)) / s1[j] * ln1.w   (LayerNorm; RMSNorm: x / s1[j] * ln1.w),
// with no ln1.b and no b_V (biases are not part of h); g(e) is e's kv head (GQA).
// Path-corrected DLA(h, i) = DLA(h_i) + sum_e DLA(c_e(i)), with the final scale frozen.
//
// Scope: only the direct, one-step value path through later heads. What later heads write
// because of h through their queries/keys (pattern changes), what MLPs write because of h, and
// longer chains (h -> e1 -> e2, h -> MLP -> e) are NOT included. The exactness check in
// tests/analysis/path_corrected_test.cc therefore isolates exactly this path in a real rerun:
// every later layer's hook_v_input is set to its clean value minus h, its hook_pattern and
// ln1.hook_scale are frozen at clean values, every later MLP output (hook_mlp_out) is frozen,
// and ln_final.hook_scale is frozen; the logit change then equals -sum_e DLA(c_e).
#ifndef MEMLENS_CORE_ANALYSIS_PATH_CORRECTED_H_
#define MEMLENS_CORE_ANALYSIS_PATH_CORRECTED_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/analysis/nodes.h"
#include "core/model/weights.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"
#include "core/util/thread_pool.h"

namespace memlens {

// DLA of a vector x[D] at a position (the caller's target/contrast and frozen final scale).
using PositionDla = std::function<double(int64_t position, const float* x)>;

struct PathCorrectedDla {
  std::vector<Node> later_heads;  // the heads e that read the writer, in stream order
  // Per requested position (same order as the request):
  std::vector<double> dla;                     // DLA(h_i)
  std::vector<std::vector<double>> via_heads;  // [position][later head] DLA(c_e(i))
  std::vector<double> corrected;               // dla + sum over via_heads
};

// The hooks the clean store must hold: ln1.hook_scale and attn.hook_pattern of every layer
// after the writer.
std::vector<std::string> PathCorrectedHooks(const ModelConfig& config, const Node& writer);

// writer_out: the writer's output at every position [T, D] (NodeOutputAll).
absl::StatusOr<PathCorrectedDla> ComputePathCorrectedDla(
    const Model& model, const ActivationStore& clean, const Node& writer,
    const Tensor& writer_out, absl::Span<const int64_t> positions, const PositionDla& dla,
    ThreadPool& pool);

// c_e(i) for one later head e = L{layer}H{head}, as a vector [D] (for tests and for PR of the
// value-path part).
absl::StatusOr<std::vector<float>> ValuePathContribution(const Model& model,
                                                         const ActivationStore& clean,
                                                         int layer, int head,
                                                         const Tensor& writer_out,
                                                         int64_t position);

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_PATH_CORRECTED_H_
