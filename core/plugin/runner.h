// Runs loaded plugins over a dataset and assembles the report.
//
// Each prompt is run through the model once, caching the union of the hooks every plugin
// asked for; each plugin then sees the prompt (PromptRun) and aggregates. Memory is bounded by
// one prompt's activations plus the plugins' aggregates. Plugin failures are isolated (see
// instance.h): the failing plugin's section says why, the others are complete.
#ifndef MEMLENS_CORE_PLUGIN_RUNNER_H_
#define MEMLENS_CORE_PLUGIN_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/model/forward.h"
#include "core/plugin/loader.h"
#include "core/plugin/plugin_api.h"
#include "core/report/report.h"

namespace memlens {

struct Prompt {
  std::vector<int> tokens;
  // Optional: each token's text; "[id]" placeholders when empty (no tokenizer at hand).
  std::vector<std::string> pieces;
  // Optional: the target token per position; when empty, the next token (-1 at the last).
  std::vector<int> targets;
  // Optional: the contrast token per position for logit differences; -1 everywhere when empty.
  std::vector<int> contrasts;
};

// The prompts of a run by index, produced on demand so that a dataset need not be held in
// memory (the host streams --dataset through one; see core/io/dataset_reader.h). RunPlugins
// reads them in order, twice: a validation pass before anything runs, then the run.
class PromptSource {
 public:
  virtual ~PromptSource() = default;
  virtual int64_t size() const = 0;
  // Prompt i in [0, size()); an error stops the run.
  virtual absl::StatusOr<Prompt> Get(int64_t i) = 0;
};

// The prompts of a vector (not copied: the vector must outlive the source).
class VectorPromptSource : public PromptSource {
 public:
  explicit VectorPromptSource(const std::vector<Prompt>& prompts) : prompts_(prompts) {}
  int64_t size() const override { return static_cast<int64_t>(prompts_.size()); }
  absl::StatusOr<Prompt> Get(int64_t i) override { return prompts_[static_cast<size_t>(i)]; }

 private:
  const std::vector<Prompt>& prompts_;
};

// Where a run's wall-clock time went (RunnerOptions::timings).
struct RunTimings {
  int64_t prompts = 0;           // prompts run
  double forward_seconds = 0;    // the clean cached forward passes
  // Per plugin, in run order: Begin + every AnalyzePrompt (its reruns included) + Finish.
  std::vector<std::pair<std::string, double>> plugin_seconds;
  double total_seconds = 0;
};

struct RunnerOptions {
  DatasetInfo dataset;  // num_prompts / num_tokens are filled in from the prompts
  AnalysisSettings settings;
  // Starting metadata (title, model path, ...). The runner fills what it knows and is still
  // empty: created, model name/format/summary, processing, dataset, seed, target, contrast.
  ReportMetadata metadata;
  // Records every command-line flag that differs from its default (plugin flags included) in
  // the metadata settings as "--name" = value, so the report says how it was made.
  bool record_modified_flags = true;
  // Refuse (before running anything) when one prompt's cached hooks would exceed this many
  // bytes; 0: no limit.
  size_t max_cache_bytes = 0;
  // Checked between prompts: when it returns true the run stops with a Cancelled error (e.g.
  // Ctrl-C), so no report, and no output file, is produced from partial data.
  std::function<bool()> cancelled;
  // Called after each prompt with (prompts done, total), e.g. for a progress line.
  std::function<void(int64_t, int64_t)> progress;
  // When set, filled with where the time went (never part of the report, which stays
  // reproducible).
  RunTimings* timings = nullptr;
};

// Errors (the whole run stops): an invalid prompt (empty, token id out of range, longer than
// n_ctx, or targets/contrasts/pieces of the wrong length; the error names the prompt) or a
// failing forward pass. Anything a plugin does wrong is reported in its section instead.
absl::StatusOr<Report> RunPlugins(const Transformer& transformer,
                                  const std::vector<LoadedPlugin>& plugins,
                                  PromptSource& prompts, const RunnerOptions& options = {});
// The same over a vector of prompts.
absl::StatusOr<Report> RunPlugins(const Transformer& transformer,
                                  const std::vector<LoadedPlugin>& plugins,
                                  const std::vector<Prompt>& prompts,
                                  const RunnerOptions& options = {});

// `plugins` in the order they declare for a report (AnalysisPlugin::ReportOrder, lower
// first; equal keys by name, then as given).
std::vector<LoadedPlugin> SortByReportOrder(std::vector<LoadedPlugin> plugins);

// Every plugin's flag values under --preset=`preset` (AnalysisPlugin::PresetFlags), as
// (flag name, value), in plugin order.
std::vector<std::pair<std::string, std::string>> CollectPresetFlags(
    const std::vector<LoadedPlugin>& plugins, const std::string& preset);

// "4 layers, d_model 512, 8 heads of 64, d_mlp 2048, vocab 48262, ctx 1024, LayerNorm,
// gelu (erf), learned positions" (for ReportMetadata::model_summary).
std::string ModelSummary(const ModelConfig& config);

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_RUNNER_H_
