// Test plugin "ctor_plugin": a valid plugin whose constructor creates the file named by
// $MEMLENS_TEST_MARKER, to see which commands load plugins at all (info and help must not).
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/plugin/plugin_api.h"

__attribute__((constructor)) static void Loaded() {
  const char* marker = getenv("MEMLENS_TEST_MARKER");
  if (marker != nullptr) close(open(marker, O_CREAT | O_WRONLY, 0644));
}

namespace {

class CtorPlugin : public memlens::AnalysisPlugin {
 public:
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override {
    return {"hook_embed"};
  }
  absl::Status AnalyzePrompt(const memlens::PromptRun&) override { return absl::OkStatus(); }
  absl::Status Finish(memlens::ReportBuilder&) override { return absl::OkStatus(); }
};

}  // namespace

MEMLENS_REGISTER_PLUGIN(CtorPlugin, "ctor_plugin", "1.0", "records that it was loaded (test)")
