// Test plugin "exiter": calls exit(0) in AnalyzePrompt, which must not pass for success.
#include <cstdlib>
#include <string>
#include <vector>

#include "core/plugin/plugin_api.h"

namespace {

class Exiter : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override {
    return {"hook_embed"};
  }
  absl::Status AnalyzePrompt(const memlens::PromptRun&) override { std::exit(0); }
  absl::Status Finish(memlens::ReportBuilder&) override { return absl::OkStatus(); }
};

}  // namespace

MEMLENS_REGISTER_PLUGIN(Exiter, "exiter", "1.0", "calls exit(0) in AnalyzePrompt (test)")
