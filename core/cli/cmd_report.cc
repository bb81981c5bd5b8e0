// memlens plugins / memlens report: the attribution plugins and their comparative report.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/optional.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "core/cli/commands.h"
#include "core/cli/flags.h"
#include "core/cli/output.h"
#include "core/cli/session.h"
#include "core/io/atomic_file.h"
#include "core/io/dataset_reader.h"
#include "core/io/json.h"
#include "core/io/mapped_file.h"
#include "core/plugin/plugin_flags.h"
#include "core/plugin/runner.h"
#include "core/plugin/state_file.h"
#include "core/report/render.h"
#include "core/report/token_text.h"
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
ABSL_FLAG(std::string, shard, "",
          "report: I/N runs only shard I (0-based) of N of the dataset (a deterministic split "
          "into contiguous parts) and writes the plugins' state to --state_out instead of a "
          "report; `memlens merge` makes the report from all N files. See docs/scale.md.");
ABSL_FLAG(std::string, state_out, "",
          "report --shard: the state file to write (atomically: an interrupted shard leaves "
          "none).");
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
    for (int t : *ids) pieces.push_back(QuotedToken(s.tokenizer->Piece(t)));
    *first_of = absl::StrCat("\"", value, "\" is ", ids->size(), " tokens (",
                             absl::StrJoin(pieces, " "), "), its first is attributed");
    return (*ids)[0];
  }
  if (ids->size() != 1) {
    std::vector<std::string> pieces;
    for (int t : *ids) pieces.push_back(QuotedToken(s.tokenizer->Piece(t)));
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=\"", value, "\" is ", ids->size(), " tokens (", absl::StrJoin(pieces, " "),
        "), not one; pick a single token or give its id as #ID"));
  }
  return (*ids)[0];
}

// `p` attributes `target` (minus `contrast`, -1: none) at its last position only.
void TargetLastPosition(Prompt& p, int target, int contrast) {
  p.targets.assign(p.tokens.size(), -1);
  p.contrasts.assign(p.tokens.size(), -1);
  p.targets.back() = target;
  p.contrasts.back() = contrast;
}

// The prompts of --dataset, streamed (core/io/dataset_reader.h): tokenized on demand, with the
// same rules as --prompt (longer than the context: an error unless --truncate, which keeps the
// last n_ctx tokens; --seq_len cuts to the first tokens), prompts of fewer than 2 tokens skipped
// (nothing to predict), at most --max_prompts. Open() tokenizes every prompt once: to count them
// and their tokens, check the rules and CheckPrompt (so the runner need not read them all
// again, PromptSource::Described), and hash them when asked (a shard's state file). Memory
// is one prompt plus a text index and a longest length per kCheckpointEvery prompts.
class DatasetPrompts : public PromptSource {
 public:
  static constexpr int64_t kCheckpointEvery = DatasetReader::kCheckpointEvery;

  struct Options {
    int64_t max_prompts = 0;  // 0: all
    int seq_len = 0;          // 0: no cut
    // --target / --contrast at the last position of every prompt (-1: none), known before the
    // pass so that the hash covers them.
    int target = -1, contrast = -1;
    bool hash = false;  // compute hash() (PromptsHasher) in the pass
  };

  static absl::StatusOr<std::unique_ptr<DatasetPrompts>> Open(const Session& s,
                                                               const std::string& path,
                                                               const Options& options) {
    auto reader = DatasetReader::Open(path);
    if (!reader.ok()) return reader.status();
    std::unique_ptr<DatasetPrompts> d(new DatasetPrompts(s, *std::move(reader), options));
    d->next_text_ = 0;
    PromptsHasher hasher;
    while (options.max_prompts <= 0 || d->size_ < options.max_prompts) {
      const int64_t text = d->next_text_;
      auto ids = d->NextKept();
      if (!ids.ok()) return ids.status();
      if (ids->empty()) break;  // the end of the file
      const Prompt p = d->Targeted(*std::move(ids));
      if (absl::Status st = CheckPrompt(s.model().config, d->size_, p); !st.ok()) return st;
      if (d->size_ % kCheckpointEvery == 0) {
        d->checkpoints_.push_back(text);
        d->block_longest_.push_back(0);
      }
      d->block_longest_.back() = std::max(d->block_longest_.back(), p.tokens.size());
      d->num_tokens_ += static_cast<int64_t>(p.tokens.size());
      ++d->size_;
      if (options.hash) hasher.Add(p.tokens, p.targets, p.contrasts);
    }
    if (options.hash) d->hash_ = hasher.value();
    if (d->size_ == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset ", path, ": no prompt has 2 or more tokens"));
    }
    d->next_kept_ = -1;  // force a seek on the first Get
    return d;
  }

  int64_t size() const override { return size_; }
  // *longest from the longest of each kCheckpointEvery prompts, reading only the prompts of a
  // block that [begin, end) cuts.
  absl::StatusOr<bool> Described(int64_t begin, int64_t end, int64_t* num_tokens,
                                 size_t* longest) override {
    *num_tokens = num_tokens_;
    *longest = 0;
    for (int64_t i = begin; i < end;) {
      const int64_t block = i / kCheckpointEvery;
      const int64_t block_end = std::min(size_, (block + 1) * kCheckpointEvery);
      if (i == block * kCheckpointEvery && block_end <= end) {
        *longest = std::max(*longest, block_longest_[static_cast<size_t>(block)]);
        i = block_end;
        continue;
      }
      auto p = Get(i++);
      if (!p.ok()) return p.status();
      *longest = std::max(*longest, p->tokens.size());
    }
    return true;
  }
  // PromptsHasher's value over every prompt as Get() gives it; nullopt unless Options::hash.
  absl::optional<uint64_t> hash() const { return hash_; }

  absl::StatusOr<Prompt> Get(int64_t i) override {
    if (i != next_kept_) {
      next_text_ = checkpoints_[static_cast<size_t>(i / kCheckpointEvery)];
      next_kept_ = i / kCheckpointEvery * kCheckpointEvery;
    }
    std::vector<int> ids;
    while (next_kept_ <= i) {
      auto next = NextKept();
      if (!next.ok()) return next.status();
      if (next->empty()) return absl::DataLossError(absl::StrCat(reader_->path(), ": changed while read"));
      ids = *std::move(next);
      ++next_kept_;
    }
    Prompt p = Targeted(std::move(ids));
    for (int id : p.tokens) p.pieces.push_back(PieceOf(s_, id));
    return p;
  }

 private:
  DatasetPrompts(const Session& s, std::unique_ptr<DatasetReader> reader, const Options& options)
      : s_(s), reader_(std::move(reader)), options_(options) {}

  // A prompt of `ids` with the target and contrast (if any) at its last position.
  Prompt Targeted(std::vector<int> ids) const {
    Prompt p;
    p.tokens = std::move(ids);
    if (options_.target >= 0) TargetLastPosition(p, options_.target, options_.contrast);
    return p;
  }

  // The ids of the next prompt from next_text_ on that has 2 or more tokens; empty at the end.
  absl::StatusOr<std::vector<int>> NextKept() {
    const int64_t n_ctx = s_.model().config.n_ctx;
    for (; next_text_ < reader_->size(); ++next_text_) {
      int64_t line = 0;
      auto text = reader_->Text(next_text_, &line);
      if (!text.ok()) return text.status();
      auto ids = TokenizeText(s_, *text);
      auto where = [&] { return absl::StrCat(reader_->path(), ":", line, " (prompt ", next_text_ + 1, ")"); };
      if (!ids.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where(), ": ", ids.status().message()));
      }
      if (options_.seq_len > 0 && static_cast<int64_t>(ids->size()) > options_.seq_len) {
        ids->resize(options_.seq_len);  // --seq_len: the first tokens
      } else if (static_cast<int64_t>(ids->size()) > n_ctx) {
        if (!absl::GetFlag(FLAGS_truncate)) {
          return absl::InvalidArgumentError(absl::StrCat(
              where(), ": ", ids->size(), " tokens but the model's context is ", n_ctx,
              " (n_ctx); shorten it, pass --truncate to keep its last ", n_ctx,
              " tokens, or --seq_len=N to keep the first N of every prompt"));
        }
        ids->erase(ids->begin(), ids->end() - n_ctx);
      }
      if (ids->size() < 2) continue;  // nothing to predict
      ++next_text_;
      return ids;
    }
    return std::vector<int>();
  }

  const Session& s_;
  std::unique_ptr<DatasetReader> reader_;
  const Options options_;
  int64_t size_ = 0;
  int64_t num_tokens_ = 0;
  std::vector<int64_t> checkpoints_;  // text index of kept prompt k * kCheckpointEvery
  std::vector<size_t> block_longest_;  // the most tokens of kept prompts k * kCheckpointEvery..
  int64_t next_text_ = 0;             // the next text to read
  int64_t next_kept_ = 0;             // the kept index of the prompt at next_text_
  absl::optional<uint64_t> hash_;
};

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

absl::StatusOr<ShardSpec> ParseShard(const std::string& text) {
  ShardSpec spec;
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &spec.index) ||
      !absl::SimpleAtoi(parts[1], &spec.count) || spec.count < 1 || spec.index < 0 ||
      spec.index >= spec.count) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard=", text, ": expected I/N with 0 <= I < N, e.g. 0/4"));
  }
  return spec;
}

// Runs shard `spec` and writes its state file (the report's metadata without the shard's own
// flags, which differ between shards by design). `dataset_hash`: PromptsHasher's over every
// prompt of `prompts`, which tells shards of another dataset, tokenizer or targets apart.
int RunReportShard(const Session& s, const std::vector<LoadedPlugin>& plugins,
                   PromptSource& prompts, uint64_t dataset_hash, ShardSpec spec,
                   RunnerOptions& options) {
  const std::string path = absl::GetFlag(FLAGS_state_out);
  auto shard = RunShard(*s.transformer, plugins, prompts, spec, options);
  if (shard.ok() && InterruptRequested()) {  // a signal after the last prompt: still nothing
    shard = absl::CancelledError("interrupted after the last prompt; nothing was written");
  }
  if (!shard.ok()) {
    Fail("report", shard.status());
    return shard.status().code() == absl::StatusCode::kCancelled ? InterruptExitCode() : 1;
  }
  StateHeader header;
  header.plugin_abi = MEMLENS_PLUGIN_ABI_VERSION;
  header.shard = spec;
  header.prompt_begin = shard->prompt_begin;
  header.prompt_end = shard->prompt_end;
  header.model_hash = WeightsHash(s.model());
  header.dataset_hash = dataset_hash;
  header.metadata = shard->metadata;
  auto& settings = header.metadata.settings;
  settings.erase(std::remove_if(settings.begin(), settings.end(),
                                [](const std::pair<std::string, std::string>& kv) {
                                  return kv.first == "--shard" || kv.first == "--state_out";
                                }),
                 settings.end());
  std::vector<std::string> states;
  for (auto& p : shard->plugins) {
    header.plugins.push_back({p.name, p.version, p.state.size()});
    states.push_back(std::move(p.state));
  }
  if (absl::Status st = CheckMappedFilesUnchanged(); !st.ok()) return Fail("report", st);
  if (absl::Status st = WriteStateFile(path, header, states); !st.ok()) return Fail("report", st);
  std::fprintf(stderr, "memlens report: shard %lld/%lld (prompts %lld..%lld of %lld) wrote %s\n",
               static_cast<long long>(spec.index), static_cast<long long>(spec.count),
               static_cast<long long>(shard->prompt_begin),
               static_cast<long long>(shard->prompt_end), static_cast<long long>(prompts.size()),
               path.c_str());
  return 0;
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
  const int max_prompts = absl::GetFlag(FLAGS_max_prompts);
  const int seq_len_flag = absl::GetFlag(FLAGS_seq_len);
  if (max_prompts < 0 || seq_len_flag < 0) {
    return Fail("report", absl::InvalidArgumentError(absl::StrCat(
                              max_prompts < 0 ? "--max_prompts=" : "--seq_len=",
                              max_prompts < 0 ? max_prompts : seq_len_flag,
                              ": must be >= 0 (0: no limit)")));
  }
  InstallInterruptHandler();  // from the start: a signal while loading also writes nothing
  // The output is checked before any work: a run is not lost to a missing directory.
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty() && out != "-") {
    if (auto st = CheckOutputFile(out, "--out"); !st.ok()) return Fail("report", st);
  }
  absl::optional<ShardSpec> shard;
  if (!absl::GetFlag(FLAGS_shard).empty()) {
    auto spec = ParseShard(absl::GetFlag(FLAGS_shard));
    if (!spec.ok()) return Fail("report", spec.status());
    if (absl::GetFlag(FLAGS_state_out).empty()) {
      return Fail("report", absl::InvalidArgumentError("--shard needs --state_out=FILE"));
    }
    if (auto st = CheckOutputFile(absl::GetFlag(FLAGS_state_out), "--state_out"); !st.ok()) {
      return Fail("report", st);
    }
    shard = *spec;
  } else if (!absl::GetFlag(FLAGS_state_out).empty()) {
    return Fail("report", absl::InvalidArgumentError("--state_out needs --shard=I/N"));
  }
  auto s = OpenSession(SessionPurpose::kAnalysis);
  if (!s.ok()) return Fail("report", s.status());
  const ModelConfig& c = s->model().config;

  RunnerOptions options;
  std::vector<Prompt> prompts;                  // --prompt / --tokens / the paper's prompts
  std::unique_ptr<DatasetPrompts> dataset_prompts;  // --dataset, streamed
  std::string dataset = absl::GetFlag(FLAGS_dataset);
  const bool single = !absl::GetFlag(FLAGS_prompt).empty() || !absl::GetFlag(FLAGS_tokens).empty();
  if (single && !dataset.empty()) {
    return Fail("report", absl::InvalidArgumentError("give --prompt/--tokens or --dataset, not both"));
  }
  const bool paper_prompts = preset == "paper" && !single && dataset.empty();
  // --target / --contrast first: the dataset's one pass needs them (its hash covers them).
  const std::string target = absl::GetFlag(FLAGS_target), contrast = absl::GetFlag(FLAGS_contrast);
  if (paper_prompts && !target.empty()) {
    return Fail("report", absl::InvalidArgumentError("--preset=paper brings its own targets; "
                                                     "give --dataset to use --target"));
  }
  if (!contrast.empty() && target.empty()) {
    return Fail("report", absl::InvalidArgumentError("--contrast needs --target"));
  }
  int target_id = -1, contrast_id = -1;
  if (!target.empty()) {
    auto t = ResolveToken(*s, "target", target);
    if (!t.ok()) return Fail("report", t.status());
    target_id = *t;
    if (!contrast.empty()) {
      auto k = ResolveToken(*s, "contrast", contrast);
      if (!k.ok()) return Fail("report", k.status());
      contrast_id = *k;
    }
    options.settings.target = absl::StrCat(
        "token:", target_id, " ", QuotedToken(PieceOf(*s, target_id)), " at the last position");
    if (contrast_id >= 0) {
      options.settings.contrast =
          absl::StrCat("token:", contrast_id, " ", QuotedToken(PieceOf(*s, contrast_id)));
    }
  }
  if (paper_prompts) {
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
      TargetLastPosition(p, *t, *k);
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
    DatasetPrompts::Options dataset_options;
    dataset_options.max_prompts = max_prompts;
    dataset_options.seq_len = seq_len_flag > 0 ? std::min(seq_len_flag, c.n_ctx) : 0;
    dataset_options.target = target_id;
    dataset_options.contrast = contrast_id;
    dataset_options.hash = shard.has_value();  // only a shard's state file needs it
    auto opened = DatasetPrompts::Open(*s, dataset, dataset_options);
    if (!opened.ok()) return Fail("report", opened.status());
    dataset_prompts = *std::move(opened);
    options.dataset.name = dataset_label;
    options.dataset.path = dataset_label;
  }
  for (Prompt& p : prompts) {
    for (int id : p.tokens) p.pieces.push_back(PieceOf(*s, id));
    // --prompt / --tokens (the paper's prompts bring their own and refuse --target)
    if (target_id >= 0) TargetLastPosition(p, target_id, contrast_id);
  }
  VectorPromptSource listed(prompts);
  PromptSource& source = dataset_prompts != nullptr ? static_cast<PromptSource&>(*dataset_prompts)
                                                    : listed;
  options.settings.seed = absl::GetFlag(FLAGS_seed);
  options.settings.preset = preset;
  options.metadata.title = absl::GetFlag(FLAGS_title);
  options.metadata.model_path = s->model_label;
  const bool show_progress = source.size() > 1 && isatty(STDERR_FILENO);
  options.progress = [&](int64_t done, int64_t total) {
    if (show_progress) std::fprintf(stderr, "\rmemlens report: %lld/%lld prompts", (long long)done, (long long)total);
    if (show_progress && done == total) std::fprintf(stderr, "\n");
  };
  options.max_cache_bytes = MaxMemoryBytes();
  options.cancelled = InterruptRequested;
  // Without --plugins: in the order the plugins declare (the story in reading order).
  const std::vector<LoadedPlugin> ordered =
      absl::GetFlag(FLAGS_plugins).empty() ? SortByReportOrder(*plugins) : *plugins;
  RunTimings timings;
  if (absl::GetFlag(FLAGS_timings)) options.timings = &timings;
  if (shard.has_value()) {
    const uint64_t dataset_hash =
        dataset_prompts != nullptr ? *dataset_prompts->hash() : PromptsHash(prompts);
    const int code = RunReportShard(*s, ordered, source, dataset_hash, *shard, options);
    if (code == 0 && options.timings != nullptr) PrintTimings(timings);
    return code;
  }
  auto report = RunPlugins(*s->transformer, ordered, source, options);
  if (report.ok() && options.timings != nullptr) PrintTimings(timings);
  if (report.ok() && InterruptRequested()) {  // a signal after the last prompt: still nothing
    report = absl::CancelledError("interrupted after the last prompt; nothing was written");
  }
  if (!report.ok()) {
    Fail("report", report.status());
    return report.status().code() == absl::StatusCode::kCancelled ? InterruptExitCode() : 1;
  }
  return OutputReport("report", *report, *format);
}

int OutputReport(const char* command, const Report& report, ReportFormat format) {
  if (absl::Status st = CheckMappedFilesUnchanged(); !st.ok()) return Fail(command, st);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty() || out == "-") {
    const std::string text = RenderReport(report, format);
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    if (auto st = WriteReport(report, format, out); !st.ok()) return Fail(command, st);
    std::fprintf(stderr, "memlens %s: wrote %s (%s)\n", command, out.c_str(),
                 ReportFormatName(format));
  }
  for (const Section& section : report.sections) {
    if (!section.ok) return 3;  // the report says which plugin failed
  }
  return 0;
}

}  // namespace memlens
