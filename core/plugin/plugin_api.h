// The one header a memlens plugin includes.
//
// A plugin is a shared object (built with memlens_plugin() from core/plugin/plugin.bzl) that
// analyses a dataset one prompt at a time and contributes one section to the report:
//
//   class ResidNorms : public memlens::AnalysisPlugin {
//     std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override {
//       return {"blocks.*.hook_resid_post"};
//     }
//     absl::Status AnalyzePrompt(const memlens::PromptRun& run) override { ... aggregate ... }
//     absl::Status Finish(memlens::ReportBuilder& report) override { ... add tables ... }
//   };
//   MEMLENS_REGISTER_PLUGIN(ResidNorms, "resid_norms", "1.0", "Residual stream norms");
//
// Lifecycle, run by the host (core/plugin/runner.h) for each analysis:
//   1. the factory creates a fresh instance;
//   2. RequiredHooks(config): hook-name patterns (TransformerLens names, '*' and '?' globs);
//      the host runs each prompt once, caching the union over all plugins, so a plugin sees at
//      least the hooks it asked for (maybe more) and nothing else is ever computed or stored;
//   3. Begin(context): model, weights, a Transformer for reruns with interventions, dataset
//      info and settings; the context outlives the instance;
//   4. AnalyzePrompt(run) once per prompt, in dataset order. The store, tokens and logits in
//      `run` are valid only during the call: memory stays bounded by one prompt, so a plugin
//      keeps running aggregates (sums, sketches, top-k), never the activations themselves;
//   5. Finish(report): write the section (tables, series, matrices, notes);
//   6. the instance is destroyed.
// Sharded runs (`memlens report --shard=I/N --state_out=F`, then `memlens merge F...`): each
// shard runs steps 1-4 on its prompts and then SaveState() instead of Finish(); the merge
// creates one instance, calls Begin() with the same context (the recorded flags restored),
// MergeState() once per shard in shard order, and Finish(). A plugin that does not override
// Mergeable() works in one process only and is refused, by name, in a sharded run.
// Everything a plugin decides from "the dataset" (resample donors, mean ablation, choices
// made on the first prompt) must come from the whole dataset, not from the prompts this
// instance saw: AnalysisContext::prompt_tokens reads any prompt, and DatasetInfo counts all.
// A plugin that returns an error or throws from any step is reported as failed (by name and
// file) in the report; the other plugins still produce their sections.
//
// Flags: a plugin defines its own ABSL_FLAG(...)s (prefix them with the plugin name: flag names
// are global, and Abseil exits on a duplicate). They land in the host's flag registry, show in
// `memlens --helpfull`, and are parsed with the rest of the command line.
//
// ABI: plugins are C++ compiled against these headers and the same Abseil, so the whole
// surface (this header, core/tensor.h, core/store/activation_store.h, core/model/*.h,
// core/ops/ops.h, core/report/report.h, core/util/thread_pool.h) is the ABI. The host checks
// MEMLENS_PLUGIN_ABI_VERSION exactly; bump it whenever any of those types change layout or
// any function they declare changes signature (tests/plugin/abi_layout_test.cc trips on size
// changes). Rebuild plugins with the host. History: 2 added RunOptions::start_at_mid, the
// exported kernels, PromptRun::target_logits/contrast_logits and WantsFullLogits(); 3 added
// the model families' ModelConfig fields (rotary style/fraction/scaling, parallel residual,
// attention windows, per-projection biases) and ops::Rope's RotaryParams / AttentionScores'
// window; findings (report.h: Finding, ReportBuilder::AddFinding, Line styles and error
// bars, ReportMetadata::caveats), AnalysisSettings::preset, ReportOrder() and PresetFlags();
// the mergeable state (Mergeable/SaveState/MergeState), AnalysisContext::prompt_tokens and
// PromptRun::shared; 4 made Tensor::data a TensorData (owned floats, or a view of a mapped
// model file: weights used in place).
#ifndef MEMLENS_CORE_PLUGIN_PLUGIN_API_H_
#define MEMLENS_CORE_PLUGIN_PLUGIN_API_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/model/config.h"
#include "core/model/forward.h"
#include "core/model/weights.h"
#include "core/report/report.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"

// The version of the plugin ABI this header describes (see above).
#define MEMLENS_PLUGIN_ABI_VERSION 4u

// The name of the entry point every plugin exports.
#define MEMLENS_PLUGIN_ENTRY_SYMBOL "memlens_plugin_descriptor"

namespace memlens {

class AnalysisPlugin;

// What the dataset is, for plugins that size their aggregates and for the report. In a sharded
// run these describe the whole dataset, not the shard.
struct DatasetInfo {
  std::string name;
  std::string path;
  int64_t num_prompts = 0;
  int64_t num_tokens = 0;  // over all prompts
};

// Run-wide settings chosen on the command line.
struct AnalysisSettings {
  // How the per-position targets were chosen, e.g. "next_token" or "token:1234" (for reports;
  // the ids themselves are in PromptRun::targets).
  std::string target = "next_token";
  // How contrast (incorrect) tokens were chosen, or "none" (plain logit, not a difference).
  std::string contrast = "none";
  // Seed for every random choice a plugin makes (resampling, sketches): derive a per-plugin
  // stream from it so that results are reproducible and independent of plugin order.
  uint64_t seed = 0;
  // The --preset the run was made with ("" for none), e.g. "paper": plugins that know the
  // preset's published numbers state them beside their own in their findings.
  std::string preset;
};

// Everything that is the same for every prompt. Valid from Begin() until the instance is
// destroyed. There is deliberately no access to other prompts' activations.
struct AnalysisContext {
  const Model* model = nullptr;  // config, weights, processing (LN folding, centering)
  // Runs the model again: interventions (ablations, patching), reruns from a residual point.
  const Transformer* transformer = nullptr;
  DatasetInfo dataset;
  AnalysisSettings settings;
  // The token ids of any prompt of the dataset, 0 <= index < dataset.num_prompts (e.g. a
  // resample donor, which may lie outside this shard). Null in a merge (no prompts are run).
  std::function<absl::StatusOr<std::vector<int>>(int64_t index)> prompt_tokens;

  const ModelConfig& config() const { return model->config; }
  const Weights& weights() const { return model->weights; }
};

// One prompt, valid only during AnalyzePrompt().
struct PromptRun {
  int64_t index = 0;                     // the prompt's position in the dataset
  absl::Span<const int> tokens;          // [T], BOS included when the model prepends it
  absl::Span<const std::string> pieces;  // [T], each token's text (for reports)
  // [T] per position: the token whose logit is explained (-1: none, e.g. the last position
  // when targets are next tokens), and the contrast token for a logit difference (-1: none).
  absl::Span<const int> targets;
  absl::Span<const int> contrasts;
  const ActivationStore* store = nullptr;  // at least the hooks RequiredHooks() named
  // The clean run's logit of targets[i] (of contrasts[i]) at each position; NaN where -1.
  absl::Span<const float> target_logits;
  absl::Span<const float> contrast_logits;
  // [T, d_vocab] of the clean run when this plugin's WantsFullLogits() is true, else null (for
  // a large vocabulary the full unembedding is the costliest product of a forward pass).
  const Tensor* logits = nullptr;
  const AnalysisContext* context = nullptr;
  // Results shared between the plugins for this prompt (cleared before each prompt; plugins
  // run in order, so a later plugin finds what an earlier one put here). Keys are agreed
  // between plugins, e.g. core/analysis/ablation.h's shared total effects.
  std::map<std::string, std::vector<double>>* shared = nullptr;

  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
};

// The interface a plugin implements. Methods are called from one thread, in the order
// described at the top of this file.
class AnalysisPlugin {
 public:
  virtual ~AnalysisPlugin() = default;

  // Hook-name patterns (exact names or globs) this plugin reads from PromptRun::store. Each
  // pattern must match at least one hook of the model (a typo is an error, not an empty cache).
  virtual std::vector<std::string> RequiredHooks(const ModelConfig& config) const = 0;
  // True to receive PromptRun::logits, the full [T, d_vocab] logits of the clean run.
  virtual bool WantsFullLogits() const { return false; }
  virtual absl::Status Begin(const AnalysisContext& /*context*/) { return absl::OkStatus(); }
  virtual absl::Status AnalyzePrompt(const PromptRun& run) = 0;
  // Title defaults to the plugin's description; state the findings (ReportBuilder::AddFinding,
  // shown in the report's summary) and add items in the order they should appear.
  virtual absl::Status Finish(ReportBuilder& report) = 0;

  // Declarations the host reads before any run (it knows no plugin by name), from a fresh
  // instance: Begin() has not been called.
  //
  // Where this plugin's section goes in a report without --plugins: lower first, equal keys
  // by name. Tell the story in reading order, e.g. what DLA claims (10), what survives
  // clean-up (20), who erases (30), where DLA misleads (40); others default to 100.
  virtual int ReportOrder() const { return 100; }
  // This plugin's flag values under `memlens report --preset=NAME`, as (flag name without
  // "--", value); flags the user set explicitly win. Empty: the preset changes nothing here.
  virtual std::vector<std::pair<std::string, std::string>> PresetFlags(
      const std::string& /*preset*/) const {
    return {};
  }

  // Mergeable state (see "Sharded runs" above). True when SaveState/MergeState are implemented.
  virtual bool Mergeable() const { return false; }
  // The aggregate state after the prompts seen, as bytes (core/analysis/state_codec.h helps).
  // Its size must not grow with the number of prompts.
  virtual absl::StatusOr<std::string> SaveState() const {
    return absl::UnimplementedError("this plugin has no mergeable state");
  }
  // Adds another instance's SaveState() (same plugin version, same flags) to this one's, as if
  // this instance had also seen that instance's prompts. Called after Begin(). Bad bytes are an
  // error, never a crash.
  virtual absl::Status MergeState(absl::string_view /*state*/) {
    return absl::UnimplementedError("this plugin has no mergeable state");
  }
};

}  // namespace memlens

extern "C" {

// What a plugin's entry point returns. The layout is frozen per ABI version: the host reads
// abi_version first and nothing else when it differs.
typedef struct MemlensPluginDescriptor {
  uint32_t abi_version;     // MEMLENS_PLUGIN_ABI_VERSION the plugin was built with
  const char* name;         // [A-Za-z0-9_.-]+, unique among loaded plugins; selects it
  const char* version;      // the plugin's own version, e.g. "1.0"
  const char* description;  // one line, shown by `memlens plugins` and as the section title
  // Returns a new instance (owned by the host, deleted through the virtual destructor).
  memlens::AnalysisPlugin* (*create)(void);
} MemlensPluginDescriptor;

typedef const MemlensPluginDescriptor* (*MemlensPluginEntryFn)(void);

}  // extern "C"

// Defines the plugin's entry point. Use once per shared object, at file scope (outside any
// namespace). ClassName must derive from memlens::AnalysisPlugin and be default-constructible;
// name, version and description are string literals.
#define MEMLENS_REGISTER_PLUGIN(ClassName, plugin_name, plugin_version, plugin_description)  \
  static_assert(std::is_base_of<::memlens::AnalysisPlugin, ClassName>::value,              \
                #ClassName " must derive from memlens::AnalysisPlugin");                   \
  extern "C" __attribute__((visibility("default"))) const MemlensPluginDescriptor*         \
  memlens_plugin_descriptor(void) {                                                        \
    static const MemlensPluginDescriptor kMemlensPluginDescriptor = {                      \
        MEMLENS_PLUGIN_ABI_VERSION, "" plugin_name, "" plugin_version,                     \
        "" plugin_description,                                                             \
        []() -> ::memlens::AnalysisPlugin* { return new ClassName(); }};                   \
    return &kMemlensPluginDescriptor;                                                      \
  }

#endif  // MEMLENS_CORE_PLUGIN_PLUGIN_API_H_
