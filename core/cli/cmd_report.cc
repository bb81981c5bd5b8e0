// memlens plugins / memlens report: the attribution plugins and their comparative report.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/cli/session.h"
#include "core/io/json.h"
#include "core/plugin/plugin_flags.h"
#include "core/plugin/runner.h"
#include "core/report/render.h"
#include "core/util/interrupt.h"

ABSL_FLAG(std::string, dataset, "",
          "Prompts for `memlens report`: a text file (one prompt per line) or JSONL (one object "
          "per line with a \"text\" field). Default with the shipped model: its prompts.txt.");
ABSL_FLAG(int, max_prompts, 0, "Use at most this many prompts of --dataset (0: all).");
ABSL_FLAG(int, seq_len, 0,
          "Cut every dataset prompt to at most this many tokens (0: the model's context).");
ABSL_FLAG(std::string, target, "",
          "Attribute this token's logit at the last position (text of one token, or #ID). "
          "Default: at every position, the token that actually comes next.");
ABSL_FLAG(std::string, contrast, "",
          "With --target: attribute the logit difference target - contrast (text or #ID).");
ABSL_FLAG(std::string, title, "memlens report", "Title of the report.");
ABSL_FLAG(bool, timings, false,
          "report: print where the time went on stderr (the cached forward passes, each plugin "
          "with its reruns), e.g. to find the slow plugin. Not part of the report.");
ABSL_FLAG(std::string, preset, "",
          "paper: the reference study's analysis (arXiv 2310.07325), on gelu-4l or any model: "
          "TransformerLens weight processing, each plugin's own paper settings (e.g. writer "
          "L0H2; see `memlens plugins`), the published gelu-4l numbers beside the computed ones "
          "in the summary, and without --dataset the study's four adversarial prompts, each "
          "with its own target and contrast token at the last position (a target or contrast "
          "of several tokens is attributed by its first token, and the report says so). Flags "
          "given explicitly win.");

namespace memlens {
namespace {

// The id of one token given as text or #ID. With `first_of` non-null, a text of several tokens
// resolves to its first one and *first_of says so; otherwise it is an error.
absl::StatusOr<int> ResolveToken(const Session& s, const std::string& flag,
                                 const std::string& value, std::string* first_of = nullptr) {
  int id;
  if (absl::StartsWith(value, "#")) {
    if (!absl::SimpleAtoi(value.substr(1), &id) || id < 0 || id >= s.model().config.d_vocab) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value,
                                                     ": not a token id in [0, ",
                                                     s.model().config.d_vocab, ")"));
    }
    return id;
  }
  if (s.tokenizer == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value, ": no tokenizer; give the id as #ID"));
  }
  auto ids = s.tokenizer->Encode(value, false);
  if (!ids.ok()) return ids.status();
  if (ids->size() > 1 && first_of != nullptr) {
    std::vector<std::string> pieces;
    for (int t : *ids) pieces.push_back(QuotedPiece(s.tokenizer->Piece(t)));
    *first_of = absl::StrCat("\"", value, "\" is ", ids->size(), " tokens (",
                             absl::StrJoin(pieces, " "), "), its first is attributed");
    return (*ids)[0];
  }
  if (ids->size() != 1) {
    std::vector<std::string> pieces;
    for (int t : *ids) pieces.push_back(QuotedPiece(s.tokenizer->Piece(t)));
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=\"", value, "\" is ", ids->size(), " tokens (", absl::StrJoin(pieces, " "),
        "), not one; pick a single token or give its id as #ID"));
  }
  return (*ids)[0];
}

// The texts of --dataset (or --prompt), in order.
absl::StatusOr<std::vector<std::string>> ReadTexts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open dataset ", path));
  std::vector<std::string> texts;
  const bool jsonl = absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".json");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (!jsonl) {
      // Prompts are one per line; "\n" and "\t" escapes let a line hold code.
      std::string text;
      for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == 'n' || line[i + 1] == 't')) {
          text += line[++i] == 'n' ? '\n' : '\t';
        } else {
          text += line[i];
        }
      }
      texts.push_back(text);
      continue;
    }
    auto value = json::Parse(line);
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": ", value.status().message()));
    }
    const json::Value* text = value->is_object() ? value->Find("text") : nullptr;
    if (text == nullptr || !text->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": expected an object with a string \"text\" field"));
    }
    texts.push_back(text->string_value());
  }
  if (texts.empty()) return absl::InvalidArgumentError(absl::StrCat("dataset ", path, " has no prompts"));
  return texts;
}

// The reference study's adversarial prompts (method.md): text, correct and incorrect next token.
struct PaperPrompt {
  const char* text;
  const char* target;
  const char* contrast;
};
constexpr PaperPrompt kPaperPrompts[] = {
    {"It's in the cupboard, either on the top or on the", " bottom", " top"},
    {"I went to university at Michigan", " State", " University"},
    {"class MyClass:\n\tdef", " __", " get"},
    {"The church I go to is the Seventh-day Adventist", " Church", " church"},
};

// Sets a flag to the preset's value unless the user changed it from its default (this Abseil
// cannot tell whether a flag was given with its default value).
absl::Status PresetFlag(const char* name, const char* value) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) return absl::OkStatus();  // that plugin is not loaded
  if (flag->CurrentValue() != flag->DefaultValue()) return absl::OkStatus();
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    return absl::InternalError(absl::StrCat("--preset: cannot set --", name, ": ", error));
  }
  return absl::OkStatus();
}

void PrintTimings(const RunTimings& t) {
  const double n = std::max<int64_t>(1, t.prompts);
  std::vector<std::vector<std::string>> rows;
  auto row = [&](const std::string& what, double seconds) {
    rows.push_back({what, absl::StrFormat("%.3f", seconds), absl::StrFormat("%.3f", seconds / n),
                    absl::StrFormat("%.1f%%", t.total_seconds > 0 ? 100 * seconds / t.total_seconds : 0)});
  };
  row("forward (cached)", t.forward_seconds);
  for (const auto& [name, seconds] : t.plugin_seconds) row(name, seconds);
  row("total", t.total_seconds);
  std::fprintf(stderr, "memlens report: wall-clock time over %lld prompts\n%s",
               static_cast<long long>(t.prompts),
               TextTable({"part", "seconds", "per prompt", "share"}, rows, {false, true, true, true})
                   .c_str());
}

std::string DefaultDataset(const Session& s) {
  const std::string candidate = s.model_path + "/prompts.txt";
  return access(candidate.c_str(), R_OK) == 0 ? candidate : "";
}

}  // namespace

int RunPluginsList(const absl::StatusOr<std::vector<LoadedPlugin>>& plugins) {
  if (!plugins.ok()) return Fail("plugins", plugins.status());
  if (plugins->empty()) {
    std::printf("no plugins found (searched: %s)\n",
                absl::StrJoin(PluginSearchPath(absl::GetFlag(FLAGS_plugin_dir)), ", ").c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const LoadedPlugin& p : *plugins) rows.push_back({p.name, p.version, p.description, p.path});
  std::printf("%s", TextTable({"plugin", "version", "description", "file"}, rows,
                              {false, false, false, false})
                        .c_str());
  std::printf("\nEach plugin's flags: memlens --helpfull (plugin flags are prefixed by its name).\n");
  return 0;
}

int RunReport(const absl::StatusOr<std::vector<LoadedPlugin>>& plugins) {
  if (!plugins.ok()) return Fail("report", plugins.status());
  if (plugins->empty()) {
    return Fail("report", absl::NotFoundError("no plugins found; see `memlens plugins`"));
  }
  auto format = ParseReportFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return Fail("report", format.status());
  const std::string preset = absl::GetFlag(FLAGS_preset);
  if (!preset.empty() && preset != "paper") {
    return Fail("report", absl::InvalidArgumentError(
                              absl::StrCat("--preset must be 'paper' (or empty), not '", preset, "'")));
  }
  if (preset == "paper") {
    std::vector<std::pair<std::string, std::string>> flags = {{"process_weights", "yes"}};
    for (auto& f : CollectPresetFlags(*plugins, preset)) flags.push_back(std::move(f));
    for (const auto& [name, value] : flags) {
      if (auto st = PresetFlag(name.c_str(), value.c_str()); !st.ok()) return Fail("report", st);
    }
  }
  auto s = OpenSession(/*analysis=*/true);
  if (!s.ok()) return Fail("report", s.status());
  const ModelConfig& c = s->model().config;

  RunnerOptions options;
  std::vector<Prompt> prompts;
  std::string dataset = absl::GetFlag(FLAGS_dataset);
  const bool single = !absl::GetFlag(FLAGS_prompt).empty() || !absl::GetFlag(FLAGS_tokens).empty();
  if (single && !dataset.empty()) {
    return Fail("report", absl::InvalidArgumentError("give --prompt/--tokens or --dataset, not both"));
  }
  const bool paper_prompts = preset == "paper" && !single && dataset.empty();
  if (paper_prompts) {
    if (!absl::GetFlag(FLAGS_target).empty()) {
      return Fail("report", absl::InvalidArgumentError(
                                "--preset=paper brings its own targets; give --dataset to use --target"));
    }
    std::vector<std::string> several;  // targets and contrasts of several tokens
    for (const PaperPrompt& pp : kPaperPrompts) {
      auto ids = TokenizeText(*s, pp.text);
      if (!ids.ok()) return Fail("report", ids.status());
      std::string t_first, k_first;
      auto t = ResolveToken(*s, "target", pp.target, &t_first);
      auto k = ResolveToken(*s, "contrast", pp.contrast, &k_first);
      if (!t.ok()) return Fail("report", t.status());
      if (!k.ok()) return Fail("report", k.status());
      for (const std::string* first : {&t_first, &k_first}) {
        if (!first->empty()) several.push_back(*first);
      }
      Prompt p{*ids};
      p.targets.assign(ids->size(), -1);
      p.contrasts.assign(ids->size(), -1);
      p.targets.back() = *t;
      p.contrasts.back() = *k;
      prompts.push_back(std::move(p));
    }
    if (!several.empty()) {
      options.metadata.caveats.push_back(absl::StrCat(
          "--preset=paper with a tokenizer other than gelu-4l's: ", absl::StrJoin(several, "; "),
          "."));
    }
    options.dataset.name = "the reference study's four adversarial prompts";
    options.settings.target = "per prompt: the correct next token (paper preset)";
    options.settings.contrast = "per prompt: the incorrect next token (paper preset)";
  } else if (single) {
    auto ids = PromptTokens(*s);
    if (!ids.ok()) return Fail("report", ids.status());
    prompts.push_back({*ids});
    options.dataset.name = "--prompt";
  } else {
    // The shipped model's prompts are named as shipped, wherever the copy used lives.
    std::string dataset_label = dataset;
    if (dataset.empty()) {
      dataset = DefaultDataset(*s);
      if (s->model_label != s->model_path) dataset_label = s->model_label + "/prompts.txt";
      else dataset_label = dataset;
    }
    if (dataset.empty()) {
      return Fail("report", absl::InvalidArgumentError("give --prompt=TEXT or --dataset=FILE"));
    }
    auto texts = ReadTexts(dataset);
    if (!texts.ok()) return Fail("report", texts.status());
    const int max_prompts = absl::GetFlag(FLAGS_max_prompts);
    const int seq_len = absl::GetFlag(FLAGS_seq_len) > 0
                            ? std::min(absl::GetFlag(FLAGS_seq_len), c.n_ctx)
                            : c.n_ctx;
    for (size_t i = 0; i < texts->size(); ++i) {
      if (max_prompts > 0 && static_cast<int>(prompts.size()) >= max_prompts) break;
      auto ids = TokenizeText(*s, (*texts)[i]);
      if (!ids.ok()) {
        return Fail("report", absl::InvalidArgumentError(absl::StrCat(
                                  dataset, ": prompt ", i + 1, ": ", ids.status().message())));
      }
      if (static_cast<int>(ids->size()) > seq_len) ids->resize(seq_len);
      if (ids->size() < 2) continue;  // nothing to predict
      prompts.push_back({*ids});
    }
    options.dataset.name = dataset_label;
    options.dataset.path = dataset_label;
  }
  for (Prompt& p : prompts) {
    for (int id : p.tokens) p.pieces.push_back(PieceOf(*s, id));
  }

  const std::string target = absl::GetFlag(FLAGS_target), contrast = absl::GetFlag(FLAGS_contrast);
  if (!contrast.empty() && target.empty()) {
    return Fail("report", absl::InvalidArgumentError("--contrast needs --target"));
  }
  if (!target.empty()) {
    auto t = ResolveToken(*s, "target", target);
    if (!t.ok()) return Fail("report", t.status());
    int k = -1;
    if (!contrast.empty()) {
      auto ct = ResolveToken(*s, "contrast", contrast);
      if (!ct.ok()) return Fail("report", ct.status());
      k = *ct;
    }
    for (Prompt& p : prompts) {
      p.targets.assign(p.tokens.size(), -1);
      p.contrasts.assign(p.tokens.size(), -1);
      p.targets.back() = *t;
      p.contrasts.back() = k;
    }
    options.settings.target = absl::StrCat("token:", *t, " ", QuotedPiece(PieceOf(*s, *t)),
                                           " at the last position");
    if (k >= 0) options.settings.contrast = absl::StrCat("token:", k, " ", QuotedPiece(PieceOf(*s, k)));
  }
  options.settings.seed = absl::GetFlag(FLAGS_seed);
  options.settings.preset = preset;
  options.metadata.title = absl::GetFlag(FLAGS_title);
  options.metadata.model_path = s->model_label;
  const bool show_progress = prompts.size() > 1 && isatty(STDERR_FILENO);
  options.progress = [&](int64_t done, int64_t total) {
    if (show_progress) std::fprintf(stderr, "\rmemlens report: %lld/%lld prompts", (long long)done, (long long)total);
    if (show_progress && done == total) std::fprintf(stderr, "\n");
  };
  options.max_cache_bytes = MaxMemoryBytes();
  InstallInterruptHandler();
  options.cancelled = InterruptRequested;
  // Without --plugins: in the order the plugins declare (the story in reading order).
  const std::vector<LoadedPlugin> ordered =
      absl::GetFlag(FLAGS_plugins).empty() ? SortByReportOrder(*plugins) : *plugins;
  RunTimings timings;
  if (absl::GetFlag(FLAGS_timings)) options.timings = &timings;
  auto report = RunPlugins(*s->transformer, ordered, prompts, options);
  if (report.ok() && options.timings != nullptr) PrintTimings(timings);
  if (!report.ok()) {
    Fail("report", report.status());
    return report.status().code() == absl::StatusCode::kCancelled ? 130 : 1;
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    const std::string text = RenderReport(*report, *format);
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    if (auto st = WriteReport(*report, *format, out); !st.ok()) return Fail("report", st);
    std::fprintf(stderr, "memlens report: wrote %s (%s)\n", out.c_str(), ReportFormatName(*format));
  }
  for (const Section& section : report->sections) {
    if (!section.ok) return 3;  // the report says which plugin failed
  }
  return 0;
}

}  // namespace memlens
