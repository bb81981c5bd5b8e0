// Test plugin "flag_clash": defines --threads, a flag the host already has. Abseil aborts the
// process on a duplicate flag, so the host must refuse this file before dlopen.
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "core/plugin/plugin_api.h"

ABSL_FLAG(int, threads, 1, "flag_clash: collides with the host's --threads.");

namespace {

class FlagClash : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override {
    return {"hook_embed"};
  }
  absl::Status AnalyzePrompt(const memlens::PromptRun&) override {
    (void)absl::GetFlag(FLAGS_threads);
    return absl::OkStatus();
  }
  absl::Status Finish(memlens::ReportBuilder&) override { return absl::OkStatus(); }
};

}  // namespace

MEMLENS_REGISTER_PLUGIN(FlagClash, "flag_clash", "1.0", "defines --threads (test)")
