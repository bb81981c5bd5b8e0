// resid_norms: the norm of the residual stream at every residual point, over the dataset.
//
// A complete, small plugin to copy from (docs/writing-plugins.md walks through it). It reads
// blocks.0.hook_resid_pre and every hook_resid_mid / hook_resid_post, keeps running sums only
// (memory does not grow with the dataset), and reports a table and a plot. Position 0 (BOS) is
// kept apart: its residual norm is typically far larger than any other position's, and
// mixing it in would hide what the other positions do.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "core/plugin/plugin_api.h"

// Plugin flags are ordinary Abseil flags; prefix them with the plugin's name (flag names are
// global to the process).
ABSL_FLAG(bool, resid_norms_rms, false,
          "resid_norms: report the RMS (norm / sqrt(d_model)) instead of the L2 norm, to compare "
          "models of different widths.");

namespace {

using memlens::Cell;
using memlens::Column;
using memlens::ColumnType;

// Running mean / variance / extremes (Welford): O(1) memory per residual point.
struct Stats {
  int64_t n = 0;
  double mean = 0, m2 = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void Add(double x) {
    ++n;
    const double d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
    min = std::min(min, x);
    max = std::max(max, x);
  }
  double stddev() const { return n > 1 ? std::sqrt(m2 / (n - 1)) : 0.0; }
};

class ResidNorms : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig& config) const override {
    if (config.parallel_residual) return {"blocks.0.hook_resid_pre", "blocks.*.hook_resid_post"};
    return {"blocks.0.hook_resid_pre", "blocks.*.hook_resid_mid", "blocks.*.hook_resid_post"};
  }

  absl::Status Begin(const memlens::AnalysisContext& context) override {
    const int L = context.config().n_layers;
    // The residual points in stream order: pre0, mid0, post0, mid1, post1, ... (parallel
    // blocks have no mid).
    points_.push_back({"pre0", 0, "blocks.0.hook_resid_pre"});
    for (int l = 0; l < L; ++l) {
      if (!context.config().parallel_residual) {
        points_.push_back({absl::StrCat("mid", l), l, absl::StrCat("blocks.", l, ".hook_resid_mid")});
      }
      points_.push_back({absl::StrCat("post", l), l, absl::StrCat("blocks.", l, ".hook_resid_post")});
    }
    rest_.assign(points_.size(), Stats());
    bos_.assign(points_.size(), Stats());
    rms_ = absl::GetFlag(FLAGS_resid_norms_rms);
    scale_ = rms_ ? 1.0 / std::sqrt(static_cast<double>(context.config().d_model)) : 1.0;
    return absl::OkStatus();
  }

  absl::Status AnalyzePrompt(const memlens::PromptRun& run) override {
    for (size_t p = 0; p < points_.size(); ++p) {
      // Get() fails with a message naming the hook if it was not cached.
      absl::StatusOr<const memlens::Tensor*> resid = run.store->Get(points_[p].hook);
      if (!resid.ok()) return resid.status();
      const memlens::Tensor& x = **resid;  // [T, d_model]
      for (int64_t t = 0; t < x.dim(0); ++t) {
        const float* row = x.row(t);
        double sum = 0;
        for (int64_t d = 0; d < x.dim(1); ++d) sum += static_cast<double>(row[d]) * row[d];
        (t == 0 ? bos_ : rest_)[p].Add(std::sqrt(sum) * scale_);
      }
    }
    return absl::OkStatus();
  }

  absl::Status Finish(memlens::ReportBuilder& report) override {
    const char* what = rms_ ? "RMS" : "L2 norm";
    report.SetDescription(absl::StrCat(
        what, " of the residual stream at each residual point, over every (prompt, position) "
        "sample; position 0 (BOS) is reported separately and not included in the mean."));
    memlens::TableBuilder table = report.AddTable(
        "norms",
        {{"point", ColumnType::kString}, {"layer", ColumnType::kInt},
         {"mean", ColumnType::kFloat, 3}, {"std", ColumnType::kFloat, 3},
         {"min", ColumnType::kFloat, 3}, {"max", ColumnType::kFloat, 3},
         {"bos", ColumnType::kFloat, 3}, {"samples", ColumnType::kInt}},
        absl::StrCat(what, " per residual point (bos: mean at position 0)"));
    std::vector<std::string> names;
    std::vector<double> means, bos;
    for (size_t p = 0; p < points_.size(); ++p) {
      const Stats& s = rest_[p];
      const Cell none;  // no non-BOS positions (every prompt had one token)
      // Flag points where the BOS norm dwarfs the rest: a hint that BOS acts as a sink.
      const bool sink = s.n > 0 && bos_[p].n > 0 && bos_[p].mean > 10 * s.mean;
      table.AddRow({points_[p].name, points_[p].layer, s.n ? Cell(s.mean) : none,
                    s.n ? Cell(s.stddev()) : none, s.n ? Cell(s.min) : none,
                    s.n ? Cell(s.max) : none, bos_[p].n ? Cell(bos_[p].mean) : none, s.n},
                   sink ? "BOS norm > 10x the mean" : "");
      names.push_back(points_[p].name);
      means.push_back(s.n ? s.mean : std::nan(""));
      bos.push_back(bos_[p].n ? bos_[p].mean : std::nan(""));
    }
    report.AddCategoricalSeries("norm_by_point", names, "residual point", what)
        .AddLine("mean (positions > 0)", means)
        .AddLine("BOS (position 0)", bos);
    report.AddNote(absl::StrCat("--resid_norms_rms=", rms_ ? "true" : "false"));
    return absl::OkStatus();
  }

 private:
  struct Point {
    std::string name;
    int layer;
    std::string hook;
  };
  std::vector<Point> points_;
  std::vector<Stats> rest_, bos_;
  bool rms_ = false;
  double scale_ = 1.0;
};

}  // namespace

MEMLENS_REGISTER_PLUGIN(ResidNorms, "resid_norms", "1.0",
                        "Residual stream norms at every residual point")
