// Test plugin with a name that cannot be selected on a command line.
#include "core/plugin/plugin_api.h"

namespace {
class Empty : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override { return {}; }
  absl::Status AnalyzePrompt(const memlens::PromptRun&) override { return absl::OkStatus(); }
  absl::Status Finish(memlens::ReportBuilder&) override { return absl::OkStatus(); }
};
}  // namespace

MEMLENS_REGISTER_PLUGIN(Empty, "bad name,with comma", "0.1", "invalid name")
