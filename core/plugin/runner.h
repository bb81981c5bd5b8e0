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

// Whether prompt `index` can run on a model of `config`: 1 to n_ctx tokens, each in the
// vocabulary; pieces, targets and contrasts empty or one per token; targets and contrasts in
// the vocabulary or -1. The error names the prompt by index.
absl::Status CheckPrompt(const ModelConfig& config, int64_t index, const Prompt& p);

// The prompts of a run by index, produced on demand so that a dataset need not be held in
// memory (the host streams --dataset through one; see core/io/dataset_reader.h). RunPlugins
// reads them in order, twice: a validation pass before anything runs (CheckPrompt, counting
// the tokens), then the run; a source that made that pass itself skips the first.
class PromptSource {
 public:
  virtual ~PromptSource() = default;
  virtual int64_t size() const = 0;
  // Prompt i in [0, size()); an error stops the run.
  virtual absl::StatusOr<Prompt> Get(int64_t i) = 0;
  // When the source has already checked every prompt (CheckPrompt, as Get gives it) and
  // counted them (a streamed --dataset does as it opens), so that the runner reads no prompt
  // before the run: sets *num_tokens (of all prompts) and *longest (the most tokens of one
  // prompt in [begin, end)) and returns true. False: the runner reads them all itself.
  virtual absl::StatusOr<bool> Described(int64_t begin, int64_t end, int64_t* num_tokens,
                                         size_t* longest) {
    return false;
  }
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

// A sharded run (`memlens report --shard=I/N`): shard `index` (0-based) of `count`.
struct ShardSpec {
  int64_t index = 0;
  int64_t count = 1;
};
// The deterministic split: shard i of n covers prompts [floor(i P / n), floor((i+1) P / n)) of
// P, so the shards are contiguous, disjoint and cover every prompt in order.
inline std::pair<int64_t, int64_t> ShardRange(int64_t num_prompts, ShardSpec shard) {
  auto edge = [&](int64_t i) {
    return static_cast<int64_t>(static_cast<__int128>(i) * num_prompts / shard.count);
  };
  return {edge(shard.index), edge(shard.index + 1)};
}

// What a shard produces: the report's metadata as the one-process run would have it (the
// model, the whole dataset, settings and flags) and each plugin's state, in run order.
struct ShardResult {
  ReportMetadata metadata;
  struct PluginState {
    std::string name, version, state;
  };
  std::vector<PluginState> plugins;
  int64_t prompt_begin = 0, prompt_end = 0;  // the prompts this shard covered
};

// Runs the prompts of `shard` only; the plugins see the whole dataset (DatasetInfo,
// prompt_tokens). Errors, besides RunPlugins's: a plugin that is not Mergeable (named; refused
// before any prompt runs), a plugin that fails (a shard with a failed plugin has no state).
absl::StatusOr<ShardResult> RunShard(const Transformer& transformer,
                                     const std::vector<LoadedPlugin>& plugins,
                                     PromptSource& prompts, ShardSpec shard,
                                     const RunnerOptions& options = {});
// The same over a vector of prompts.
absl::StatusOr<ShardResult> RunShard(const Transformer& transformer,
                                     const std::vector<LoadedPlugin>& plugins,
                                     const std::vector<Prompt>& prompts, ShardSpec shard,
                                     const RunnerOptions& options = {});

// Gives shard k's plugin states, in plugin order (so a merge holds one shard at a time).
using ShardStates = std::function<absl::StatusOr<std::vector<std::string>>(size_t shard)>;

// The merge: one instance per plugin, Begin() with options.dataset as recorded (num_prompts
// and num_tokens of the whole dataset), MergeState() of shards 0..num_shards-1 in order, and
// the report as RunPlugins would make it. A state a plugin refuses fails the merge (the error
// names the plugin; `describe(k)` names shard k, e.g. its file).
absl::StatusOr<Report> MergeShards(const Transformer& transformer,
                                   const std::vector<LoadedPlugin>& plugins, size_t num_shards,
                                   const ShardStates& states,
                                   const std::function<std::string(size_t)>& describe,
                                   const RunnerOptions& options);

// "4 layers, d_model 512, 8 heads of 64, d_mlp 2048, vocab 48262, ctx 1024, LayerNorm,
// gelu (erf), learned positions" (for ReportMetadata::model_summary).
std::string ModelSummary(const ModelConfig& config);

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_RUNNER_H_
