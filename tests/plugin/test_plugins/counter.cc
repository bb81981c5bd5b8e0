// Test plugin "counter": counts prompts and tokens and checks the PromptRun invariants the
// runner promises (returning an error, which fails the test through the report, if not).
#include <cmath>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "core/plugin/plugin_api.h"

ABSL_FLAG(std::string, counter_label, "tokens", "counter: the name of the token-count column.");
ABSL_FLAG(bool, counter_full_logits, true,
          "counter: ask for the full logits (and check the target logits against them).");

namespace {

class Counter : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override {
    return {"hook_embed"};
  }
  bool WantsFullLogits() const override { return absl::GetFlag(FLAGS_counter_full_logits); }
  absl::Status Begin(const memlens::AnalysisContext& context) override {
    if (context.model == nullptr || context.transformer == nullptr) {
      return absl::InternalError("context without a model or transformer");
    }
    expected_prompts_ = context.dataset.num_prompts;
    return absl::OkStatus();
  }
  absl::Status AnalyzePrompt(const memlens::PromptRun& run) override {
    const size_t T = run.tokens.size();
    if (run.index != prompts_) return absl::InternalError("prompts out of order");
    if (run.pieces.size() != T || run.targets.size() != T || run.contrasts.size() != T) {
      return absl::InternalError("pieces/targets/contrasts do not match the tokens");
    }
    const bool full = absl::GetFlag(FLAGS_counter_full_logits);
    if (full && (run.logits == nullptr || run.logits->dim(0) != static_cast<int64_t>(T))) {
      return absl::InternalError("logits missing or of the wrong shape");
    }
    if (run.target_logits.size() != T || run.contrast_logits.size() != T) {
      return absl::InternalError("target/contrast logits missing");
    }
    for (size_t i = 0; i < T; ++i) {
      const int t = run.targets[i];
      if (t < 0) {
        if (!std::isnan(run.target_logits[i])) {
          return absl::InternalError("a position without a target has a target logit");
        }
        continue;
      }
      if (full && run.target_logits[i] != run.logits->data[i * run.logits->dim(1) + t]) {
        return absl::InternalError("target logits differ from the full logits");
      }
      target_logit_sum_ += run.target_logits[i];
    }
    absl::StatusOr<const memlens::Tensor*> embed = run.store->Get("hook_embed");
    if (!embed.ok()) return embed.status();
    if (run.context == nullptr) return absl::InternalError("no context");
    ++prompts_;
    tokens_ += static_cast<int64_t>(T);
    for (int t : run.targets) no_target_ += t == -1 ? 1 : 0;
    return absl::OkStatus();
  }
  absl::Status Finish(memlens::ReportBuilder& report) override {
    if (prompts_ != expected_prompts_) return absl::InternalError("not every prompt was seen");
    report.AddTable("counts", {{"prompts", memlens::ColumnType::kInt},
                               {absl::GetFlag(FLAGS_counter_label), memlens::ColumnType::kInt},
                               {"no_target", memlens::ColumnType::kInt},
                               {"target_logit_sum", memlens::ColumnType::kFloat, 6}})
        .AddRow({prompts_, tokens_, no_target_, target_logit_sum_});
    return absl::OkStatus();
  }

 private:
  int64_t expected_prompts_ = 0, prompts_ = 0, tokens_ = 0, no_target_ = 0;
  double target_logit_sum_ = 0;
};

}  // namespace

MEMLENS_REGISTER_PLUGIN(Counter, "counter", "0.1", "Counts prompts and tokens")
