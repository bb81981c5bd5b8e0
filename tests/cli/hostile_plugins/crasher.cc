// Test plugin "crasher": dereferences a null pointer in AnalyzePrompt on its second prompt, so
// the host must name it (plugin, stage, prompt) on stderr before the process dies.
#include <csignal>
#include <string>
#include <vector>

#include "core/plugin/plugin_api.h"

namespace {

class Crasher : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override {
    return {"hook_embed"};
  }
  // no_sanitize: under --config=ubsan the sanitizer would stop the null store itself (exit 1)
  // before the SIGSEGV the host must name; the crash has to be a real one in every suite.
  __attribute__((no_sanitize("undefined"))) absl::Status AnalyzePrompt(
      const memlens::PromptRun& run) override {
    if (run.index == 1) {
      volatile int* null = nullptr;
      *null = 1;
    }
    return absl::OkStatus();
  }
  absl::Status Finish(memlens::ReportBuilder&) override { return absl::OkStatus(); }
};

}  // namespace

MEMLENS_REGISTER_PLUGIN(Crasher, "crasher", "1.0", "crashes on the second prompt (test)")
