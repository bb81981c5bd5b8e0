// Total effects by ablation for plugins, split-independent and shared between plugins.
//
// Split-independent (a sharded run gives the numbers of a one-process run):
//   resample  the donor of prompt i is PickDonor(seed, i, n) over the whole dataset (n prompts),
//             read through AnalysisContext::prompt_tokens and re-run, wherever it lies;
//   mean      the node's per-position mean output over the "mean sample": the prompts at
//             indices floor(j * n / m), j < m = min(n, kMeanSamplePrompts), i.e. the whole
//             dataset up to 32 prompts and an evenly spread sample of 32 beyond (run once, in
//             the first prompt that needs it);
//   zero      zeros.
// Shared: every effect is computed for every position of the prompt that has a target and put
// in PromptRun::shared under "total_effect/<mode>/<seed>/<node>", so a later plugin asking for
// the same (mode, seed, node) on the same prompt reuses the rerun (cleanup_dla and adversarial
// both derive their default seed as MixSeed(--seed, "resample")).
#ifndef MEMLENS_CORE_ANALYSIS_SHARED_ABLATION_H_
#define MEMLENS_CORE_ANALYSIS_SHARED_ABLATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/analysis/ablation.h"
#include "core/analysis/nodes.h"
#include "core/plugin/plugin_api.h"

namespace memlens {

constexpr int64_t kMeanSamplePrompts = 32;
constexpr char kNoDonorNote[] =
    "Resample ablation needs at least two prompts: no total effect for a single prompt (use zero "
    "or mean ablation).";

// The default seed of resample donors for plugins that share ablations.
uint64_t SharedResampleSeed(uint64_t run_seed);

class SharedAblator {
 public:
  // `nodes`: ListNodes(model); `context` outlives the ablator.
  SharedAblator(const AnalysisContext& context, const std::vector<Node>& nodes, AblationMode mode,
                uint64_t seed);

  // logit(clean) - logit(ablated) at each of `positions` (each must have a target) when
  // nodes[node] is ablated in `run` (whose store holds TotalEffectHooks).
  absl::StatusOr<std::vector<double>> Effect(const PromptRun& run, int node,
                                             absl::Span<const int64_t> positions);
  // False for resample ablation of a one-prompt dataset (no other prompt to take a donor
  // from): plugins then report no total effect and say why (kNoDonorNote).
  bool available() const {
    return mode_ != AblationMode::kResample || context_.dataset.num_prompts >= 2;
  }
  // How many donor prompts this ablator ran (a shared rerun costs the later plugin none).
  int64_t donor_runs() const { return donor_runs_; }

 private:
  absl::Status EnsureMeans();

  const AnalysisContext& context_;
  const std::vector<Node>& nodes_;
  AblationMode mode_;
  uint64_t seed_;
  std::vector<NodeMean> means_;  // mean mode, per node, filled on first use
  int64_t donor_prompt_ = -1;    // the prompt whose donor donor_ holds
  ActivationStore donor_;
  int64_t donor_runs_ = 0;
  RunResult rerun_;  // reused by every ablation rerun
};

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_SHARED_ABLATION_H_
