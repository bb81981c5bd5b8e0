#include "core/analysis/shared_ablation.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/analysis/dla.h"
#include "core/analysis/plugin_support.h"

namespace memlens {

uint64_t SharedResampleSeed(uint64_t run_seed) { return MixSeed(run_seed, "resample"); }

SharedAblator::SharedAblator(const AnalysisContext& context, const std::vector<Node>& nodes,
                             AblationMode mode, uint64_t seed)
    : context_(context), nodes_(nodes), mode_(mode), seed_(seed) {}

absl::Status SharedAblator::EnsureMeans() {
  if (!means_.empty()) return absl::OkStatus();
  if (!context_.prompt_tokens) {
    return absl::FailedPreconditionError("mean ablation: the host gives no access to the dataset");
  }
  const ModelConfig& c = context_.config();
  for (size_t n = 0; n < nodes_.size(); ++n) means_.emplace_back(c.n_ctx, c.d_model);
  const int64_t total = context_.dataset.num_prompts;
  const int64_t m = std::min<int64_t>(total, kMeanSamplePrompts);
  for (int64_t j = 0; j < m; ++j) {
    absl::StatusOr<std::vector<int>> tokens = context_.prompt_tokens(j * total / m);
    if (!tokens.ok()) return tokens.status();
    absl::StatusOr<ActivationStore> store = RunDonor(*context_.transformer, *tokens);
    if (!store.ok()) return store.status();
    for (size_t n = 0; n < nodes_.size(); ++n) {
      absl::StatusOr<Tensor> h = NodeOutputAll(*store, *context_.model, nodes_[n]);
      if (!h.ok()) return h.status();
      means_[n].Add(*h);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> SharedAblator::Effect(const PromptRun& run, int node,
                                                          absl::Span<const int64_t> positions) {
  const Model& model = *context_.model;
  const int64_t T = run.num_tokens();
  const std::string key = absl::StrCat("total_effect/", AblationModeName(mode_), "/",
                                       mode_ == AblationMode::kResample ? seed_ : 0, "/",
                                       nodes_[node].name);
  const std::vector<double>* all = nullptr;
  if (run.shared != nullptr) {
    auto it = run.shared->find(key);
    if (it != run.shared->end() && static_cast<int64_t>(it->second.size()) == T) all = &it->second;
  }
  std::vector<double> computed;
  if (all == nullptr) {
    // Every position with a target, so any plugin's selection can be served.
    std::vector<int64_t> every;
    std::vector<DlaDirection> dirs;
    for (int64_t i = 0; i < T; ++i) {
      if (run.targets[i] < 0) continue;
      absl::StatusOr<DlaDirection> d = MakeDlaDirection(model, run.targets[i], run.contrasts[i]);
      if (!d.ok()) return d.status();
      every.push_back(i);
      dirs.push_back(std::move(*d));
    }
    const NodeMean* mean = nullptr;
    if (mode_ == AblationMode::kMean) {
      if (absl::Status s = EnsureMeans(); !s.ok()) return s;
      mean = &means_[node];
    }
    if (mode_ == AblationMode::kResample && donor_prompt_ != run.index) {
      const int64_t n = context_.dataset.num_prompts;
      if (n < 2) {
        return absl::FailedPreconditionError(
            "resample ablation needs at least two prompts (use zero or mean ablation)");
      }
      if (!context_.prompt_tokens) {
        return absl::FailedPreconditionError("resample ablation: the host gives no access to the dataset");
      }
      absl::StatusOr<std::vector<int>> tokens =
          context_.prompt_tokens(static_cast<int64_t>(PickDonor(seed_, run.index, n)));
      if (!tokens.ok()) return tokens.status();
      absl::StatusOr<ActivationStore> store = RunDonor(*context_.transformer, *tokens);
      if (!store.ok()) return store.status();
      donor_ = std::move(*store);
      donor_prompt_ = run.index;
      ++donor_runs_;
    }
    absl::StatusOr<Tensor> replacement =
        AblationReplacement(mode_, mean, donor_, model, nodes_[node], T);
    if (!replacement.ok()) return replacement.status();
    absl::StatusOr<std::vector<double>> effect =
        TotalEffect(*context_.transformer, run.tokens, nodes_[node], *replacement, *run.store,
                    every, dirs, rerun_);
    if (!effect.ok()) return effect.status();
    computed.assign(T, std::nan(""));
    for (size_t k = 0; k < every.size(); ++k) computed[every[k]] = (*effect)[k];
    if (run.shared != nullptr) {
      all = &((*run.shared)[key] = std::move(computed));
    } else {
      all = &computed;
    }
  }
  std::vector<double> out;
  for (int64_t i : positions) {
    if (i < 0 || i >= T || std::isnan((*all)[i])) {
      return absl::InvalidArgumentError(absl::StrCat("total effect: position ", i, " has no target"));
    }
    out.push_back((*all)[i]);
  }
  return out;
}

}  // namespace memlens
