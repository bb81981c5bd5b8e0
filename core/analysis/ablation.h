// Total effect of a node by ablation (method.md "Clean-up-aware DLA" 3, the ground truth).
//
// The node's output is replaced at every position of the prompt (so the effect at position i
// is that of ablating the node at all positions <= i). As an intervention (AddAblation):
//   L{l}H{h}  blocks.l.attn.hook_result[:, h]     M{l}  blocks.l.hook_mlp_out
//   embed     hook_embed                          pos_embed  hook_pos_embed
//   L{l}.b_O  blocks.l.hook_attn_out (+ replacement - b_O)
// Replacements: resample (the node's output on another prompt of the dataset at the same
// positions; positions the donor does not have keep their clean value), zero, or mean (the
// node's mean output at that position over the dataset, NodeMean). The effect is the part of
// the logit (difference) the node is responsible for: clean - ablated, comparable with its DLA
// (equal, for zero ablation, when nothing downstream reads the node).
//
// TotalEffect does not rerun the whole model: the node's output enters the residual stream
// additively, so the residual at the first point after the node writes (resid_mid of a head's
// or b_O's layer, resid_pre of the layer after an MLP or after a parallel block's head,
// resid_pre of layer 0 for the embeddings) is the clean one plus (replacement - clean output),
// and the rerun starts there.
// This equals the intervention up to float rounding (tests/analysis/attribution_test.cc).
#ifndef MEMLENS_CORE_ANALYSIS_ABLATION_H_
#define MEMLENS_CORE_ANALYSIS_ABLATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/analysis/dla.h"
#include "core/analysis/nodes.h"
#include "core/model/forward.h"
#include "core/tensor.h"

namespace memlens {

enum class AblationMode { kResample, kZero, kMean };
// "resample" | "zero" | "mean"; the error names the value.
absl::StatusOr<AblationMode> ParseAblationMode(absl::string_view name);
const char* AblationModeName(AblationMode mode);

// The deterministic donor prompt for `prompt` among n prompts (!= prompt when n > 1).
size_t PickDonor(uint64_t seed, size_t prompt, size_t num_prompts);

// The intervention that replaces `node`'s output with replacement[t] for t < rows of
// replacement ([T', D]); added to `options`.
absl::Status AddAblation(const Model& model, const Node& node, const Tensor& replacement,
                         RunOptions& options);

// The hooks TotalEffect reads from the clean run: the nodes' outputs (NodeHooks), every
// layer's hook_resid_pre and hook_resid_mid (restart points; no resid_mid in parallel blocks),
// the last hook_resid_post and
// ln_final.hook_scale (the clean logit along the direction).
std::vector<std::string> TotalEffectHooks(const ModelConfig& config);

// Runs the ablated model and returns, per requested position, logit(clean) - logit(ablated)
// along dirs[k] at positions[k]. `clean` holds TotalEffectHooks. The logit (difference) is read
// off the final residual as Dla + the bias terms (dla.h), which equals the unembedding's
// entries without computing the [T, d_vocab] product; the bias terms cancel in the difference.
// `scratch` holds the rerun; keep one across calls so reruns reuse its memory (RunInto).
absl::StatusOr<std::vector<double>> TotalEffect(const Transformer& tf,
                                                absl::Span<const int> tokens, const Node& node,
                                                const Tensor& replacement,
                                                const ActivationStore& clean,
                                                absl::Span<const int64_t> positions,
                                                absl::Span<const DlaDirection> dirs,
                                                RunResult& scratch);

// Running per-position mean of a node's output over prompts (bounded: [n_ctx, D]).
class NodeMean {
 public:
  NodeMean(int64_t n_ctx, int64_t d_model);
  void Add(const Tensor& output);  // [T, D]
  // Mean at positions < T (positions never seen: zeros).
  Tensor Mean(int64_t T) const;

 private:
  int64_t D_;
  std::vector<double> sum_;
  std::vector<int64_t> count_;
};

// The donor prompt's run for resample ablation: every node's output (NodeHooks), no logits.
absl::StatusOr<ActivationStore> RunDonor(const Transformer& tf, absl::Span<const int> tokens);

// What replaces `node`'s output [T, D] under `mode`: zeros, the running mean over prompts seen
// so far (`mean`, used only in mean mode), or the node's output in the donor prompt's run (resample; `donor` holds its hooks).
absl::StatusOr<Tensor> AblationReplacement(AblationMode mode, const NodeMean* mean,
                                           const ActivationStore& donor, const Model& model,
                                           const Node& node, int64_t T);

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_ABLATION_H_
