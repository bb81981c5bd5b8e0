// dla: Direct Logit Attribution of every node (method.md), aggregated over the dataset.
//
// For each selected position with a target (default: every position >= 1; the target is the
// next token unless the host's --target/--contrast settings say otherwise), each node's DLA
// with the final norm's scale frozen at its clean value:
//   LN:  ((x - mean x) / s) * w_lnf . u      RMS: (x / s) * w_lnf . u
// u = W_U[:, target] (- W_U[:, contrast]). The b_lnf . u and b_U terms are reported apart, and
// the invariant sum(DLA) + b_lnf term + b_U term == logit (difference) is checked on every
// sample (max |error| in the report). Position 0 (BOS) is aggregated separately.
// Memory: running sums per node (O(nodes)), independent of the dataset size.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "core/analysis/dla.h"
#include "core/analysis/nodes.h"
#include "core/analysis/plugin_support.h"
#include "core/analysis/state_codec.h"
#include "core/plugin/plugin_api.h"

ABSL_FLAG(std::string, dla_positions, "all",
          "dla: positions to attribute: all (every position >= 1 with a target), last, or a "
          "comma-separated list (negative = from the end, e.g. -1).");
ABSL_FLAG(bool, dla_bos, true,
          "dla: also attribute position 0 (BOS), reported in separate columns.");

namespace memlens {
namespace {

class DlaPlugin : public AnalysisPlugin {
 public:
  int ReportOrder() const override { return 10; }

  std::vector<std::string> RequiredHooks(const ModelConfig& config) const override {
    std::vector<std::string> hooks = NodeHooks(config);
    hooks.push_back("ln_final.hook_scale");
    return hooks;
  }

  absl::Status Begin(const AnalysisContext& context) override {
    context_ = &context;
    absl::StatusOr<PositionSpec> spec =
        ParsePositionSpec(absl::GetFlag(FLAGS_dla_positions), "dla_positions");
    if (!spec.ok()) return spec.status();
    spec_ = *spec;
    bos_enabled_ = absl::GetFlag(FLAGS_dla_bos);
    nodes_ = ListNodes(*context.model);
    rest_.assign(nodes_.size(), RunningStats());
    bos_.assign(nodes_.size(), RunningStats());
    return absl::OkStatus();
  }

  absl::Status AnalyzePrompt(const PromptRun& run) override {
    const Model& model = *context_->model;
    const int64_t T = run.num_tokens();
    std::vector<int64_t> positions = SelectPositions(spec_, T, run.targets, false);
    if (bos_enabled_ && T > 0 && run.targets[0] >= 0) positions.insert(positions.begin(), 0);
    for (int64_t i : positions) {
      absl::StatusOr<DlaDirection> dir =
          MakeDlaDirection(model, run.targets[i], run.contrasts[i]);
      if (!dir.ok()) return dir.status();
      absl::StatusOr<float> s = FinalScale(*run.store, i);
      if (!s.ok()) return s.status();
      absl::StatusOr<Tensor> outs = NodeOutputs(*run.store, model, nodes_, i);
      if (!outs.ok()) return outs.status();
      std::vector<RunningStats>& stats = i == 0 ? bos_ : rest_;
      double sum = dir->ln_bias_term + dir->unembed_bias_term;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        const double v = Dla(outs->row(n), *s, *dir);
        stats[n].Add(v);
        sum += v;
      }
      const double logit = dir->contrast >= 0
                               ? static_cast<double>(run.target_logits[i]) - run.contrast_logits[i]
                               : run.target_logits[i];
      max_error_ = std::max(max_error_, std::fabs(sum - logit));
      max_rel_error_ = std::max(max_rel_error_, std::fabs(sum - logit) / (1 + std::fabs(logit)));
      (i == 0 ? bos_logit_ : logit_).Add(logit);
      (i == 0 ? bos_bias_ : bias_).Add(dir->ln_bias_term + dir->unembed_bias_term);
    }
    return absl::OkStatus();
  }

  bool Mergeable() const override { return true; }

  absl::StatusOr<std::string> SaveState() const override {
    StateWriter w;
    w.U64(kStateVersion);
    w.U64(nodes_.size());
    for (size_t n = 0; n < nodes_.size(); ++n) {
      w.Stats(rest_[n]);
      w.Stats(bos_[n]);
    }
    for (const RunningStats* s : {&logit_, &bos_logit_, &bias_, &bos_bias_}) w.Stats(*s);
    w.F64(max_error_);
    w.F64(max_rel_error_);
    return w.Take();
  }

  absl::Status MergeState(absl::string_view bytes) override {
    StateReader r(bytes, "dla");
    r.Expect(kStateVersion, "state version");
    r.Expect(nodes_.size(), "number of nodes");
    std::vector<RunningStats> rest(nodes_.size()), bos(nodes_.size());
    for (size_t n = 0; n < nodes_.size(); ++n) {
      r.Stats(&rest[n]);
      r.Stats(&bos[n]);
    }
    RunningStats logit, bos_logit, bias, bos_bias;
    for (RunningStats* s : {&logit, &bos_logit, &bias, &bos_bias}) r.Stats(s);
    double max_error = 0, max_rel_error = 0;
    r.F64(&max_error);
    r.F64(&max_rel_error);
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      rest_[n].Merge(rest[n]);
      bos_[n].Merge(bos[n]);
    }
    logit_.Merge(logit);
    bos_logit_.Merge(bos_logit);
    bias_.Merge(bias);
    bos_bias_.Merge(bos_bias);
    max_error_ = std::max(max_error_, max_error);
    max_rel_error_ = std::max(max_rel_error_, max_rel_error);
    return absl::OkStatus();
  }

  absl::Status Finish(ReportBuilder& report) override {
    const bool diff = context_->settings.contrast != "none";
    report.SetDescription(absl::StrCat(
        "Direct logit attribution of every node to the ", diff ? "logit difference" : "logit",
        " of the target (", context_->settings.target,
        diff ? absl::StrCat(" vs ", context_->settings.contrast) : std::string(),
        ") with the final norm's scale frozen; mean over (prompt, position) samples at "
        "positions >= 1, position 0 (BOS) apart. Model processing: ",
        context_->model->processing, "."));
    TableBuilder t = report.AddTable(
        "dla",
        {{"node", ColumnType::kString}, {"mean", ColumnType::kFloat, 4},
         {"mean_abs", ColumnType::kFloat, 4}, {"std", ColumnType::kFloat, 4},
         {"min", ColumnType::kFloat, 4}, {"max", ColumnType::kFloat, 4},
         {"samples", ColumnType::kInt}, {"bos_mean", ColumnType::kFloat, 4}},
        "DLA per node (mean over samples; bos_mean: position 0)");
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const RunningStats& s = rest_[n];
      const Cell none;
      t.AddRow({nodes_[n].name, s.n ? Cell(s.mean) : none, s.n ? Cell(s.mean_abs()) : none,
                s.n ? Cell(s.stddev()) : none, s.n ? Cell(s.min) : none,
                s.n ? Cell(s.max) : none, s.n, bos_[n].n ? Cell(bos_[n].mean) : none});
    }
    TableBuilder totals = report.AddTable(
        "totals",
        {{"term", ColumnType::kString}, {"mean", ColumnType::kFloat, 4},
         {"bos_mean", ColumnType::kFloat, 4}},
        "the terms outside the nodes, and the logit they all sum to");
    const Cell none;
    double sum_nodes = 0, sum_nodes_bos = 0;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (rest_[n].n) sum_nodes += rest_[n].mean;
      if (bos_[n].n) sum_nodes_bos += bos_[n].mean;
    }
    totals.AddRow({"sum of node DLA", logit_.n ? Cell(sum_nodes) : none,
                   bos_logit_.n ? Cell(sum_nodes_bos) : none});
    totals.AddRow({"b_lnf . u + b_U term", bias_.n ? Cell(bias_.mean) : none,
                   bos_bias_.n ? Cell(bos_bias_.mean) : none});
    totals.AddRow({diff ? "logit difference" : "logit", logit_.n ? Cell(logit_.mean) : none,
                   bos_logit_.n ? Cell(bos_logit_.mean) : none});
    std::vector<std::string> names;
    std::vector<double> means;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      names.push_back(nodes_[n].name);
      means.push_back(rest_[n].n ? rest_[n].mean : std::nan(""));
    }
    report.AddCategoricalSeries("mean_dla", names, "node", "mean DLA").AddLine("mean DLA", means)
        .Style(LineStyle::kBars);
    report.AddNote(absl::StrCat(
        "Invariant check: sum over nodes of DLA + b_lnf term + b_U term vs the model's ",
        diff ? "logit difference" : "logit", ": max |sum - logit| = ", max_error_,
        " (max relative ", max_rel_error_, ") over ", logit_.n + bos_logit_.n, " samples."));
    return absl::OkStatus();
  }

 private:
  static constexpr uint64_t kStateVersion = 1;

  const AnalysisContext* context_ = nullptr;
  PositionSpec spec_;
  bool bos_enabled_ = true;
  std::vector<Node> nodes_;
  std::vector<RunningStats> rest_, bos_;
  RunningStats logit_, bos_logit_, bias_, bos_bias_;
  double max_error_ = 0, max_rel_error_ = 0;
};

}  // namespace
}  // namespace memlens

MEMLENS_REGISTER_PLUGIN(memlens::DlaPlugin, "dla", "1.0",
                        "Direct logit attribution of every node (frozen final-norm scale)")
