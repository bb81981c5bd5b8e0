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
// tests/analysis/attribution_test.cc (PathCorrectedMatchesIntervention) therefore isolates exactly this path in a real rerun:
// every later layer's hook_v_input is set to its clean value minus h, its hook_pattern and
// ln1.hook_scale are frozen at clean values, every later MLP output (hook_mlp_out) is frozen,
// and ln_final.hook_scale is frozen; the logit change then equals -sum_e DLA(c_e).
#ifndef MEMLENS_CORE_ANALYSIS_PATH_CORRECTED_H_
#define MEMLENS_CORE_ANALYSIS_PATH_CORRECTED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/analysis/dla.h"
#include "core/analysis/nodes.h"
#include "core/model/weights.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"
#include "core/util/thread_pool.h"

namespace memlens {

struct PathCorrectedDla {
  std::vector<Node> later_heads;  // the heads e that read the writer, in stream order
  // Per requested position (same order as the request):
  std::vector<double> dla;                     // DLA(h_i)
  std::vector<std::vector<double>> via_heads;  // [position][later head] DLA(c_e(i))
  std::vector<double> corrected;               // dla + sum over via_heads
};

// The hooks the clean store must hold: ln_final.hook_scale, and ln1.hook_scale and
// attn.hook_pattern of every layer.
std::vector<std::string> PathCorrectedHooks(const ModelConfig& config);

// Path-corrected DLA of any number of writers on one prompt. Everything the writers share is
// computed once (Create): each head's read-out direction W_O[e] (u_i - mean(u_i)) / s_i at the
// requested positions (s_i the frozen final scale, u_i = w_lnf * the unembedding direction).
// Per writer and later layer l, Compute then costs one [T, D] x [D, kv_dim] product (the
// writer's normalized output through W_V), one attention mix with l's clean pattern, and a
// d_head dot product per (position, head); T = the last requested position + 1.
class PathCorrector {
 public:
  // Errors: positions and dirs differ in length, a position outside the prompt, a hook of
  // PathCorrectedHooks missing from `clean` or of the wrong shape.
  static absl::StatusOr<PathCorrector> Create(const Model& model, const ActivationStore& clean,
                                              std::vector<int64_t> positions,
                                              std::vector<DlaDirection> dirs, ThreadPool& pool);

  // writer_out: the writer's output at every position [>= T, D] (NodeOutputAll).
  absl::StatusOr<PathCorrectedDla> Compute(const Node& writer, const Tensor& writer_out) const;

 private:
  PathCorrector(const Model& model, const ActivationStore& clean, ThreadPool& pool)
      : model_(&model), clean_(&clean), pool_(&pool) {}

  const Model* model_;
  const ActivationStore* clean_;
  ThreadPool* pool_;
  std::vector<int64_t> positions_;
  std::vector<DlaDirection> dirs_;
  std::vector<float> final_scale_;  // per requested position
  int64_t T_ = 0;                   // last requested position + 1
  // readout_[l]: [positions, n_heads * d_head]; row p, head e: W_O[e] (u - mean u) / s.
  std::vector<Tensor> readout_;
};

// c_e(i) for one later head e = L{layer}H{head}, as a vector [D], computed directly in float64
// (what a plugin needs to project the value-path part; the tests' reference for PathCorrector).
absl::StatusOr<std::vector<float>> ValuePathContribution(const Model& model,
                                                         const ActivationStore& clean,
                                                         int layer, int head,
                                                         const Tensor& writer_out,
                                                         int64_t position);

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_PATH_CORRECTED_H_
