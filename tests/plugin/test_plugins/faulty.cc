// Test plugin "faulty": fails on purpose, where and how its flags say.
//   --faulty_stage: create | RequiredHooks | Begin | AnalyzePrompt | Finish | builder | hooks | none
//   --faulty_mode:  throw (std::runtime_error) | error (absl::Status) | other (throws an int)
// "builder" misuses the ReportBuilder in Finish (a row with too few cells) and returns OK;
// "hooks" asks for a hook pattern that matches nothing.
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "core/plugin/plugin_api.h"

ABSL_FLAG(std::string, faulty_stage, "AnalyzePrompt", "faulty: the stage that fails.");
ABSL_FLAG(std::string, faulty_mode, "throw", "faulty: how it fails (throw, error, other).");

namespace {

absl::Status MaybeFail(const std::string& stage) {
  if (absl::GetFlag(FLAGS_faulty_stage) != stage) return absl::OkStatus();
  const std::string mode = absl::GetFlag(FLAGS_faulty_mode);
  if (mode == "throw") throw std::runtime_error("faulty plugin throws in " + stage);
  if (mode == "other") throw 42;
  return absl::InternalError("faulty plugin fails in " + stage);
}

class Faulty : public memlens::AnalysisPlugin {
 public:
  Faulty() {
    absl::Status s = MaybeFail("create");
    if (!s.ok()) throw std::runtime_error(std::string(s.message()));
  }
  std::vector<std::string> RequiredHooks(const memlens::ModelConfig&) const override {
    if (absl::GetFlag(FLAGS_faulty_stage) == "hooks") return {"blocks.*.hook_no_such_thing"};
    absl::Status s = MaybeFail("RequiredHooks");
    if (!s.ok()) throw std::runtime_error(std::string(s.message()));
    return {"blocks.0.hook_resid_pre"};
  }
  absl::Status Begin(const memlens::AnalysisContext&) override { return MaybeFail("Begin"); }
  absl::Status AnalyzePrompt(const memlens::PromptRun&) override {
    return MaybeFail("AnalyzePrompt");
  }
  absl::Status Finish(memlens::ReportBuilder& report) override {
    if (absl::GetFlag(FLAGS_faulty_stage) == "builder") {
      report.AddTable("t", {{"a"}, {"b"}}).AddRow({"only one cell"});
      return absl::OkStatus();
    }
    if (absl::Status s = MaybeFail("Finish"); !s.ok()) return s;
    report.AddNote("faulty did not fail");
    return absl::OkStatus();
  }
};

}  // namespace

MEMLENS_REGISTER_PLUGIN(Faulty, "faulty", "0.1", "Fails on purpose")
