// One live instance of a loaded plugin, with every call into plugin code guarded.
//
// Plugin code is third-party code: it may return an error, throw, or misuse the ReportBuilder.
// Any of these puts the instance in a failed state whose message names the plugin, its file,
// the stage (and prompt) and the reason; later calls are skipped, and Finish() yields a
// failed Section, so the report says what went wrong and the other plugins are unaffected.
// A crash or an abort in plugin code cannot be contained in-process, but it is named on stderr
// (plugin, file, stage, prompt) before the process dies, and a plugin calling exit() fails the
// run (plugin_call.h).
#ifndef MEMLENS_CORE_PLUGIN_INSTANCE_H_
#define MEMLENS_CORE_PLUGIN_INSTANCE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/plugin/loader.h"
#include "core/plugin/plugin_api.h"
#include "core/report/report.h"

namespace memlens {

class PluginInstance {
 public:
  // Calls the plugin's factory (a null result or an exception fails the instance).
  explicit PluginInstance(const LoadedPlugin& plugin);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const LoadedPlugin& plugin() const { return plugin_; }
  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

  // The plugin's hook patterns; empty when failed.
  std::vector<std::string> RequiredHooks(const ModelConfig& config);
  // Whether the plugin reads PromptRun::logits; false when failed.
  bool WantsFullLogits();
  // The plugin's declarations (plugin_api.h); 100 and {} when failed.
  int ReportOrder();
  std::vector<std::pair<std::string, std::string>> PresetFlags(const std::string& preset);
  void Begin(const AnalysisContext& context);
  void AnalyzePrompt(const PromptRun& run);
  // The plugin's section: its items, or ok = false and the error. Call once.
  Section Finish();
  // Mergeable state (plugin_api.h): whether the plugin implements it; its state after the
  // prompts seen (empty and failed on error); merging another instance's state.
  bool Mergeable();
  std::string SaveState();
  void MergeState(absl::string_view state, absl::string_view from);

  // Fails the instance from outside (e.g. its hook patterns match nothing): `stage` says when.
  void Fail(absl::string_view stage, const absl::Status& status);

 private:
  // Runs fn (plugin code) and converts an error or exception into the failed state.
  template <typename Fn>
  void Guard(absl::string_view stage, Fn&& fn);
  // A value of the plugin's (fn() under Guard), or `fallback` when the instance has failed.
  template <typename T, typename Fn>
  T Ask(absl::string_view stage, T fallback, Fn&& fn);

  LoadedPlugin plugin_;
  std::unique_ptr<AnalysisPlugin> impl_;
  absl::Status status_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_PLUGIN_INSTANCE_H_
