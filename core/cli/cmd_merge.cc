// memlens merge FILE...: the report of a sharded run from its shards' state files.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/flags/flag.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/cli/session.h"
#include "core/io/atomic_file.h"
#include "core/plugin/runner.h"
#include "core/plugin/state_file.h"
#include "core/report/render.h"

namespace memlens {
namespace {

// Flags a merge may set itself (output, where to find things, threads): every other flag
// comes from the state files, so the report says how the shards were made. --model and
// --tokenizer are restored too unless given (the files may have moved; the weights hash
// checks that the model is the same).
const std::set<std::string>& MergeOwnFlags() {
  static const std::set<std::string> own = {"format", "out", "model", "tokenizer",
                                            "plugins", "plugin_dir", "threads", "timings"};
  return own;
}
bool RestoredUnlessGiven(const std::string& name) { return name == "model" || name == "tokenizer"; }

// Sets every flag recorded in the shards' settings ("--name" = value) except the merge's own.
absl::Status RestoreFlags(const ReportMetadata& m, const std::string& file) {
  for (const auto& [key, value] : m.settings) {
    if (!absl::StartsWith(key, "--")) continue;
    const std::string name = key.substr(2);
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (MergeOwnFlags().count(name) &&
        !(RestoredUnlessGiven(name) && flag != nullptr &&
          flag->CurrentValue() == flag->DefaultValue())) {
      continue;
    }
    if (flag == nullptr) {
      return absl::NotFoundError(absl::StrCat(file, ": the shards ran with --", name,
                                              ", which no loaded plugin defines"));
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": --", name, "=", value, ": ", error));
    }
  }
  return absl::OkStatus();
}

// A flag given to merge that is not the merge's own would change the report silently.
absl::Status CheckNoAnalysisFlags() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StartsWith(flag->Filename(), "absl/") || MergeOwnFlags().count(std::string(name))) continue;
    if (flag->CurrentValue() != flag->DefaultValue()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, ": a merge takes the analysis settings from the state files; give only ",
          "--format, --out, --model, --tokenizer, --plugins, --plugin_dir, --threads"));
    }
  }
  return absl::OkStatus();
}

std::string Setting(const ReportMetadata& m, const std::string& key) {
  for (const auto& [k, v] : m.settings) {
    if (k == key) return v;
  }
  return "";
}

}  // namespace

int RunMerge(const absl::StatusOr<std::vector<LoadedPlugin>>& loaded,
             const std::vector<std::string>& files) {
  if (files.empty()) {
    return Fail("merge", absl::InvalidArgumentError(
                             "give the state files: memlens merge FILE... [--format --out]"));
  }
  if (!loaded.ok()) return Fail("merge", loaded.status());
  auto format = ParseReportFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return Fail("merge", format.status());
  if (absl::Status s = CheckNoAnalysisFlags(); !s.ok()) return Fail("merge", s);
  // The output is checked before any work, as for report.
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty() && out != "-") {
    if (auto st = CheckOutputFile(out, "--out"); !st.ok()) return Fail("merge", st);
  }
  // Every header first (small), so a wrong file is refused before any state is read.
  std::vector<StateHeader> headers;
  for (const std::string& f : files) {
    absl::StatusOr<StateHeader> h = ReadStateHeader(f);
    if (!h.ok()) return Fail("merge", h.status());
    headers.push_back(std::move(*h));
  }
  absl::StatusOr<std::vector<size_t>> order = CheckShardsBelongTogether(files, headers);
  if (!order.ok()) return Fail("merge", order.status());
  const StateHeader& first = headers[0];
  std::vector<LoadedPlugin> plugins;
  for (const StateHeader::Plugin& p : first.plugins) {
    const LoadedPlugin* found = nullptr;
    for (const LoadedPlugin& l : *loaded) {
      if (l.name == p.name) found = &l;
    }
    if (found == nullptr) {
      return Fail("merge", absl::NotFoundError(absl::StrCat(
                               files[0], ": plugin '", p.name, "' is not installed here (see `memlens plugins`)")));
    }
    if (found->version != p.version) {
      return Fail("merge", absl::InvalidArgumentError(absl::StrCat(
                               files[0], ": plugin '", p.name, "' version ", p.version,
                               " wrote the state; the installed one (", found->path, ") is ",
                               found->version)));
    }
    plugins.push_back(*found);
  }
  if (absl::Status s = RestoreFlags(first.metadata, files[0]); !s.ok()) return Fail("merge", s);
  auto s = OpenSession(SessionPurpose::kAnalysis);
  if (!s.ok()) return Fail("merge", s.status());
  if (WeightsHash(s->model()) != first.model_hash) {
    return Fail("merge", absl::InvalidArgumentError(absl::StrCat(
                             s->model_path, ": not the model the shards ran (", files[0],
                             " was made with ", first.metadata.model_path,
                             "; the weights differ)")));
  }

  RunnerOptions options;
  options.dataset.name = first.metadata.dataset_name;
  options.dataset.path = first.metadata.dataset_path;
  options.dataset.num_prompts = first.metadata.num_prompts;
  options.dataset.num_tokens = first.metadata.num_tokens;
  options.settings.seed = first.metadata.seed;
  options.settings.target = Setting(first.metadata, "target");
  options.settings.contrast = Setting(first.metadata, "contrast");
  // --preset (restored above with the other flags): plugins state its published numbers.
  if (const absl::CommandLineFlag* preset = absl::FindCommandLineFlag("preset")) {
    options.settings.preset = preset->CurrentValue();
  }
  options.metadata.caveats = first.metadata.caveats;  // e.g. the paper preset's targets
  options.metadata.title = first.metadata.title;
  options.metadata.model_path = s->model_path;
  auto report = MergeShards(
      *s->transformer, plugins, order->size(),
      [&](size_t k) -> absl::StatusOr<std::vector<std::string>> {
        const size_t f = (*order)[k];
        auto file = ReadStateFile(files[f]);
        if (!file.ok()) return file.status();
        if (file->first.shard.index != static_cast<int64_t>(k)) {
          return absl::DataLossError(absl::StrCat(files[f], ": changed while merging"));
        }
        return std::move(file->second);
      },
      [&](size_t k) { return files[(*order)[k]]; }, options);
  if (!report.ok()) return Fail("merge", report.status());
  return OutputReport("merge", *report, *format);
}

}  // namespace memlens
