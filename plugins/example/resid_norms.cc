// resid_norms: the norm of the residual stream at every residual point, over the dataset.
//
// A complete, small plugin to copy from (docs/writing-plugins.md walks through it). It reads
// blocks.0.hook_resid_pre and every hook_resid_mid / hook_resid_post, keeps running sums only
// (memory does not grow with the dataset), and reports a table and a plot. Position 0 (BOS) is
// kept apart: its residual norm is typically far larger than any other position's, and
// mixing it in would hide what the other positions do.
//
// Its state merges (Mergeable, SaveState, MergeState), so it also runs sharded
// (`memlens report --shard=I/N --state_out=F`, then `memlens merge`): the running sums are
// written as raw numbers and added with the pairwise update. (The in-tree plugins use
// core/analysis/state_codec.h for the bytes; this file needs only the installed headers.)
#include <algorithm>
#include <cstring>
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
  // Adds another shard's samples (Chan et al.'s pairwise update of mean and m2).
  void Merge(const Stats& o) {
    if (o.n == 0) return;
    if (n == 0) {
      *this = o;
      return;
    }
    const double na = static_cast<double>(n), nb = static_cast<double>(o.n), d = o.mean - mean;
    n += o.n;
    mean += d * nb / (na + nb);
    m2 += o.m2 + d * d * na * nb / (na + nb);
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }
  // The state's bytes: n, then mean, m2, min, max (host byte order: shards and merge run the
  // same build).
  static constexpr size_t kBytes = sizeof(int64_t) + 4 * sizeof(double);
  void Save(std::string& out) const {
    out.append(reinterpret_cast<const char*>(&n), sizeof(n));
    for (double v : {mean, m2, min, max}) out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  // Reads kBytes from `in` (the caller checked the length); false on impossible values.
  bool Load(const char* in) {
    std::memcpy(&n, in, sizeof(n));
    double* fields[] = {&mean, &m2, &min, &max};
    for (int i = 0; i < 4; ++i) std::memcpy(fields[i], in + sizeof(n) + i * sizeof(double), sizeof(double));
    return n >= 0 && (n == 0 || (!std::isnan(mean) && !std::isnan(m2) && min <= max));
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

  // The state: a version, the number of residual points (a check that both sides ran the same
  // model), then the statistics. Its size depends on the model only, never on the prompts.
  bool Mergeable() const override { return true; }

  absl::StatusOr<std::string> SaveState() const override {
    std::string out;
    const uint64_t header[2] = {kStateVersion, points_.size()};
    out.append(reinterpret_cast<const char*>(header), sizeof(header));
    for (size_t p = 0; p < points_.size(); ++p) {
      rest_[p].Save(out);
      bos_[p].Save(out);
    }
    return out;
  }

  // Called on an instance that has run Begin() (with the same flags) and maybe other merges.
  // Check the size first (never read past the bytes), read everything, then add: a bad state
  // leaves this instance untouched.
  absl::Status MergeState(absl::string_view bytes) override {
    const size_t want = 2 * sizeof(uint64_t) + 2 * points_.size() * Stats::kBytes;
    if (bytes.size() != want) {
      return absl::DataLossError(absl::StrCat("resid_norms state: ", bytes.size(),
                                              " bytes, expected ", want));
    }
    uint64_t header[2];
    std::memcpy(header, bytes.data(), sizeof(header));
    if (header[0] != kStateVersion || header[1] != points_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "resid_norms state: version ", header[0], " with ", header[1],
          " residual points; expected version ", kStateVersion, " with ", points_.size()));
    }
    std::vector<Stats> rest(points_.size()), bos(points_.size());
    const char* in = bytes.data() + sizeof(header);
    for (size_t p = 0; p < points_.size(); ++p, in += 2 * Stats::kBytes) {
      if (!rest[p].Load(in) || !bos[p].Load(in + Stats::kBytes)) {
        return absl::DataLossError(absl::StrCat("resid_norms state: impossible statistics at ",
                                                points_[p].name));
      }
    }
    for (size_t p = 0; p < points_.size(); ++p) {
      rest_[p].Merge(rest[p]);
      bos_[p].Merge(bos[p]);
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
  static constexpr uint64_t kStateVersion = 1;

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
