// Test plugin calling a core function the host does not have (as if built against another
// core): RTLD_NOW makes dlopen fail with the symbol's name instead of crashing later.
#include "core/plugin/plugin_api.h"

namespace memlens {
int FunctionMissingFromTheHost(int);
}  // namespace memlens

namespace {
class Missing : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override { return {}; }
  absl::Status AnalyzePrompt(const memlens::PromptRun& run) override {
    return memlens::FunctionMissingFromTheHost(static_cast<int>(run.index)) == 0
               ? absl::OkStatus()
               : absl::InternalError("?");
  }
  absl::Status Finish(memlens::ReportBuilder&) override { return absl::OkStatus(); }
};
}  // namespace

MEMLENS_REGISTER_PLUGIN(Missing, "undefined_symbol", "0.1", "needs a symbol the host lacks")
