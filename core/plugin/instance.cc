#include "core/plugin/instance.h"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <typeinfo>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "core/plugin/plugin_call.h"

namespace memlens {
namespace {

std::string Demangle(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : mangled;
  std::free(d);
  return out;
}

}  // namespace

template <typename Fn>
void PluginInstance::Guard(absl::string_view stage, Fn&& fn) {
  if (!status_.ok()) return;
  PluginCall call(plugin_.name, plugin_.path, stage);  // names the plugin if it crashes or exits
  try {
    absl::Status s = std::forward<Fn>(fn)();
    if (!s.ok()) Fail(stage, s);
  } catch (const std::exception& e) {
    status_ = absl::InternalError(absl::StrCat("plugin '", plugin_.name, "' (", plugin_.path,
                                               ") threw ", Demangle(typeid(e).name()), " in ",
                                               stage, ": ", e.what()));
  } catch (...) {
    status_ = absl::InternalError(absl::StrCat("plugin '", plugin_.name, "' (", plugin_.path,
                                               ") threw a non-standard exception in ", stage));
  }
}

template <typename T, typename Fn>
T PluginInstance::Ask(absl::string_view stage, T fallback, Fn&& fn) {
  T value = fallback;
  Guard(stage, [&]() -> absl::Status {
    value = std::forward<Fn>(fn)();
    return absl::OkStatus();
  });
  return ok() ? value : fallback;
}

PluginInstance::PluginInstance(const LoadedPlugin& plugin) : plugin_(plugin) {
  Guard("create", [&]() -> absl::Status {
    impl_.reset(plugin_.descriptor->create());
    if (impl_ == nullptr) return absl::InternalError("the factory returned null");
    return absl::OkStatus();
  });
}

PluginInstance::~PluginInstance() = default;

void PluginInstance::Fail(absl::string_view stage, const absl::Status& status) {
  if (!status_.ok()) return;  // keep the first failure: later ones are usually its echo
  status_ = absl::Status(status.code(), absl::StrCat("plugin '", plugin_.name, "' (",
                                                     plugin_.path, ") failed in ", stage, ": ",
                                                     status.message()));
}

std::vector<std::string> PluginInstance::RequiredHooks(const ModelConfig& config) {
  return Ask("RequiredHooks", std::vector<std::string>{},
             [&] { return impl_->RequiredHooks(config); });
}

bool PluginInstance::WantsFullLogits() {
  return Ask("WantsFullLogits", false, [&] { return impl_->WantsFullLogits(); });
}

int PluginInstance::ReportOrder() {
  return Ask("ReportOrder", 100, [&] { return impl_->ReportOrder(); });
}

std::vector<std::pair<std::string, std::string>> PluginInstance::PresetFlags(
    const std::string& preset) {
  return Ask("PresetFlags", std::vector<std::pair<std::string, std::string>>{},
             [&] { return impl_->PresetFlags(preset); });
}

void PluginInstance::Begin(const AnalysisContext& context) {
  Guard("Begin", [&]() { return impl_->Begin(context); });
}

void PluginInstance::AnalyzePrompt(const PromptRun& run) {
  Guard(absl::StrCat("AnalyzePrompt (prompt ", run.index, ")"),
        [&]() { return impl_->AnalyzePrompt(run); });
}

bool PluginInstance::Mergeable() {
  return Ask("Mergeable", false, [&] { return impl_->Mergeable(); });
}

std::string PluginInstance::SaveState() {
  std::string state;
  Guard("SaveState", [&]() -> absl::Status {
    absl::StatusOr<std::string> s = impl_->SaveState();
    if (!s.ok()) return s.status();
    state = std::move(*s);
    return absl::OkStatus();
  });
  return ok() ? state : std::string();
}

void PluginInstance::MergeState(absl::string_view state, absl::string_view from) {
  Guard(absl::StrCat("MergeState (", from, ")"), [&]() { return impl_->MergeState(state); });
}

Section PluginInstance::Finish() {
  Section section;
  section.plugin = plugin_.name;
  section.plugin_version = plugin_.version;
  section.source = plugin_.path;
  section.title = plugin_.description;
  for (const std::string& name : plugin_.flags) {
    if (const absl::CommandLineFlag* f = absl::FindCommandLineFlag(name); f != nullptr) {
      section.settings.emplace_back(absl::StrCat("--", name), f->CurrentValue());
    }
  }
  if (ok()) {
    ReportBuilder builder(&section);
    Guard("Finish", [&]() -> absl::Status {
      absl::Status s = impl_->Finish(builder);
      // A builder misuse is the plugin's bug even when Finish() itself returned OK.
      return s.ok() ? builder.status() : s;
    });
  }
  if (!ok()) {
    section.ok = false;
    section.error = std::string(status_.message());
    section.items.clear();
    section.findings.clear();
  }
  return section;
}

}  // namespace memlens
