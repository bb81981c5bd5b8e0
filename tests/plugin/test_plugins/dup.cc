// Test plugin "dup", built twice (libdup_one.so, libdup_two.so): the loader must refuse to
// load both and name both files.
#include "core/plugin/plugin_api.h"

namespace {
class Dup : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override { return {}; }
  absl::Status AnalyzePrompt(const memlens::PromptRun&) override { return absl::OkStatus(); }
  absl::Status Finish(memlens::ReportBuilder& report) override {
    report.AddNote("dup");
    return absl::OkStatus();
  }
};
}  // namespace

MEMLENS_REGISTER_PLUGIN(Dup, "dup", "0.1", "Same name twice")
