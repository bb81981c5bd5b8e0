#include "core/plugin/runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/plugin/instance.h"

namespace memlens {

absl::Status CheckPrompt(const ModelConfig& config, int64_t index, const Prompt& p) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("prompt ", index, ": ", what));
  };
  const size_t T = p.tokens.size();
  if (T == 0) return bad("no tokens");
  if (config.n_ctx > 0 && T > static_cast<size_t>(config.n_ctx)) {
    return bad(absl::StrCat(T, " tokens exceed the model's context of ", config.n_ctx));
  }
  auto check_ids = [&](const std::vector<int>& ids, const char* what,
                       bool allow_none) -> absl::Status {
    for (size_t i = 0; i < ids.size(); ++i) {
      if ((ids[i] == -1 && allow_none) || (ids[i] >= 0 && ids[i] < config.d_vocab)) continue;
      return bad(absl::StrCat(what, " id ", ids[i], " at position ", i,
                              " is outside the vocabulary [0, ", config.d_vocab, ")"));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check_ids(p.tokens, "token", false); !s.ok()) return s;
  auto check_len = [&](size_t n, const char* what) -> absl::Status {
    if (n == 0 || n == T) return absl::OkStatus();
    return bad(absl::StrCat("has ", T, " tokens but ", n, " ", what));
  };
  if (absl::Status s = check_len(p.pieces.size(), "pieces"); !s.ok()) return s;
  if (absl::Status s = check_len(p.targets.size(), "targets"); !s.ok()) return s;
  if (absl::Status s = check_len(p.contrasts.size(), "contrasts"); !s.ok()) return s;
  if (absl::Status s = check_ids(p.targets, "target", true); !s.ok()) return s;
  return check_ids(p.contrasts, "contrast", true);
}

namespace {

void FillMetadata(const Model& model, const DatasetInfo& dataset,
                  const AnalysisSettings& settings, ReportMetadata& m) {
  auto fill = [](std::string& field, const std::string& value) {
    if (field.empty()) field = value;
  };
  fill(m.created, absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()));
  fill(m.model_name, model.config.name);
  fill(m.model_format, model.config.format);
  fill(m.model_summary, ModelSummary(model.config));
  fill(m.processing, model.processing);
  fill(m.dataset_name, dataset.name);
  fill(m.dataset_path, dataset.path);
  m.num_prompts = dataset.num_prompts;
  m.num_tokens = dataset.num_tokens;
  m.seed = settings.seed;
  m.settings.insert(m.settings.begin(), {{"target", settings.target},
                                         {"contrast", settings.contrast}});
}

// Flags whose value differs from the default, Abseil's own excepted: enough to rerun.
void RecordModifiedFlags(ReportMetadata& m) {
  std::vector<std::pair<std::string, std::string>> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StartsWith(flag->Filename(), "absl/")) continue;
    const std::string value = flag->CurrentValue();
    if (value != flag->DefaultValue()) flags.emplace_back(absl::StrCat("--", name), value);
  }
  std::sort(flags.begin(), flags.end());
  for (auto& f : flags) m.settings.push_back(std::move(f));
}

}  // namespace

std::vector<LoadedPlugin> SortByReportOrder(std::vector<LoadedPlugin> plugins) {
  std::vector<std::pair<int, size_t>> keys;  // (order, index)
  for (size_t i = 0; i < plugins.size(); ++i) keys.emplace_back(PluginInstance(plugins[i]).ReportOrder(), i);
  std::stable_sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return plugins[a.second].name < plugins[b.second].name;
  });
  std::vector<LoadedPlugin> out;
  for (const auto& k : keys) out.push_back(plugins[k.second]);
  return out;
}

std::vector<std::pair<std::string, std::string>> CollectPresetFlags(
    const std::vector<LoadedPlugin>& plugins, const std::string& preset) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const LoadedPlugin& p : plugins) {
    for (auto& f : PluginInstance(p).PresetFlags(preset)) out.push_back(std::move(f));
  }
  return out;
}

std::string ModelSummary(const ModelConfig& c) {
  std::string s = absl::StrCat(c.n_layers, " layers, d_model ", c.d_model, ", ", c.n_heads,
                               " heads of ", c.d_head);
  if (c.n_kv_heads != c.n_heads) absl::StrAppend(&s, " (", c.n_kv_heads, " kv heads)");
  absl::StrAppend(&s, ", d_mlp ", c.d_mlp, ", vocab ", c.d_vocab, ", ctx ", c.n_ctx, ", ",
                  NormKindName(c.norm), ", ", ActKindName(c.act), ", ", PosKindName(c.pos),
                  " positions");
  return s;
}

namespace {

constexpr char kFinalNormalized[] = "ln_final.hook_normalized";

// out[i] = the clean run's logit of tokens[i] at position i (NaN where tokens[i] == -1): from
// the full logits, or as ln_final's output at i . W_U[:, token] + b_U[token].
absl::Status TokenLogits(const Model& model, const RunResult& result, bool full_logits,
                         const std::vector<int>& tokens, std::vector<float>& out) {
  const int64_t T = tokens.size(), D = model.config.d_model, V = model.config.d_vocab;
  out.assign(T, std::nanf(""));
  const Tensor* normalized = nullptr;
  if (!full_logits) {
    absl::StatusOr<const Tensor*> n = result.store.Get(kFinalNormalized);
    if (!n.ok()) return n.status();
    normalized = *n;
  }
  const Weights& w = model.weights;
  for (int64_t i = 0; i < T; ++i) {
    const int t = tokens[i];
    if (t < 0) continue;
    if (full_logits) {
      out[i] = result.logits.data[i * V + t];
      continue;
    }
    double acc = w.b_U.empty() ? 0.0 : w.b_U.data[t];
    const float* x = normalized->row(i);
    for (int64_t d = 0; d < D; ++d) acc += static_cast<double>(x[d]) * w.W_U.data[d * V + t];
    out[i] = static_cast<float>(acc);
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

// One analysis: the plugins' instances over a context, from Begin to the report or the states.
// RunPlugins, RunShard and MergeShards are its three uses.
class Analysis {
 public:
  Analysis(const Transformer& transformer, const std::vector<LoadedPlugin>& plugins,
           const RunnerOptions& options)
      : transformer_(transformer), plugins_(plugins), options_(options) {
    context_.model = &transformer.model();
    context_.transformer = &transformer;
    context_.dataset = options.dataset;
    context_.settings = options.settings;
    for (const LoadedPlugin& p : plugins) {
      instances_.push_back(std::make_unique<PluginInstance>(p));
    }
    plugin_time_.resize(instances_.size());
  }

  AnalysisContext& context() { return context_; }
  std::vector<std::unique_ptr<PluginInstance>>& instances() { return instances_; }

  // Each plugin's hook patterns are checked on their own, so one plugin's typo fails only it.
  absl::Status ChooseHooks() {
    const ModelConfig& config = context_.config();
    const std::vector<std::string> known = AllHookNames(config);
    // Without a plugin that reads the full logits, the target and contrast logits are read off
    // the final norm's output (ln_final.hook_normalized), and the unembedding is skipped.
    for (auto& inst : instances_) full_logits_ = inst->WantsFullLogits() || full_logits_;
    std::vector<std::string> wanted;
    if (!full_logits_) wanted.push_back(kFinalNormalized);
    for (auto& inst : instances_) {
      const std::vector<std::string> hooks = inst->RequiredHooks(config);
      if (!inst->ok()) continue;
      absl::StatusOr<HookFilter> f = HookFilter::Parse(absl::StrJoin(hooks, ","), known);
      if (!f.ok()) {
        inst->Fail("RequiredHooks", f.status());
        continue;
      }
      for (const std::string& h : f->patterns()) wanted.push_back(h);
    }
    absl::StatusOr<HookFilter> cache = HookFilter::Parse(absl::StrJoin(wanted, ","), known);
    if (!cache.ok()) return cache.status();  // cannot happen: every pattern was checked above
    cache_ = *cache;
    return absl::OkStatus();
  }

  void Begin() {
    for (size_t k = 0; k < instances_.size(); ++k) {
      Timed(k, [&](PluginInstance& inst) { inst.Begin(context_); });
    }
  }

  // Runs prompts [begin, end) of `prompts` through the model and every plugin; `longest`
  // is the most tokens of one of them (Describe).
  absl::Status RunPrompts(PromptSource& prompts, int64_t begin, int64_t end, size_t longest) {
    const Model& model = transformer_.model();
    if (options_.max_cache_bytes > 0) {
      if (absl::Status s =
              CheckCacheFits(model.config, cache_, longest, options_.max_cache_bytes);
          !s.ok()) {
        return s;
      }
    }
    RunOptions run_options;
    run_options.cache = cache_;
    run_options.logits = full_logits_ ? RunOptions::Logits::kAll : RunOptions::Logits::kNone;
    std::vector<float> target_logits, contrast_logits;
    std::map<std::string, std::vector<double>> shared;
    RunResult result;  // reused: prompts of equal length allocate nothing
    for (int64_t i = begin; i < end; ++i) {
      bool any = false;
      for (const auto& inst : instances_) any = any || inst->ok();
      if (!any) break;  // every plugin has failed: running the model would be wasted work
      if (options_.cancelled && options_.cancelled()) {
        return absl::CancelledError(absl::StrCat("interrupted after ", i - begin, " of ",
                                                 end - begin, " prompts; nothing was written"));
      }

      absl::StatusOr<Prompt> next = prompts.Get(i);
      if (!next.ok()) return next.status();
      const Prompt& prompt = *next;
      const size_t T = prompt.tokens.size();
      const absl::Time forward_start = absl::Now();
      if (absl::Status s = transformer_.RunInto(prompt.tokens, run_options, result); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("prompt ", i, ": ", s.message()));
      }
      forward_time_ += absl::Now() - forward_start;
      std::vector<std::string> pieces = prompt.pieces;
      if (pieces.empty()) {
        for (int t : prompt.tokens) pieces.push_back(absl::StrCat("[", t, "]"));
      }
      std::vector<int> targets = prompt.targets;
      if (targets.empty()) {
        targets.assign(T, -1);
        for (size_t t = 0; t + 1 < T; ++t) targets[t] = prompt.tokens[t + 1];
      }
      std::vector<int> contrasts = prompt.contrasts;
      if (contrasts.empty()) contrasts.assign(T, -1);
      if (absl::Status s = TokenLogits(model, result, full_logits_, targets, target_logits);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = TokenLogits(model, result, full_logits_, contrasts, contrast_logits);
          !s.ok()) {
        return s;
      }

      shared.clear();
      PromptRun run;
      run.index = i;
      run.tokens = prompt.tokens;
      run.pieces = pieces;
      run.targets = targets;
      run.contrasts = contrasts;
      run.store = &result.store;
      run.target_logits = target_logits;
      run.contrast_logits = contrast_logits;
      run.logits = full_logits_ ? &result.logits : nullptr;
      run.context = &context_;
      run.shared = &shared;
      for (size_t k = 0; k < instances_.size(); ++k) {
        Timed(k, [&](PluginInstance& inst) { inst.AnalyzePrompt(run); });
      }
      ++prompts_run_;
      if (options_.timings != nullptr) options_.timings->prompts = prompts_run_;
      if (options_.progress) options_.progress(i + 1 - begin, end - begin);
    }
    return absl::OkStatus();
  }

  // The report's metadata: what the caller gave, completed with what the run knows.
  ReportMetadata Metadata() const {
    ReportMetadata m = options_.metadata;
    FillMetadata(transformer_.model(), context_.dataset, context_.settings, m);
    if (options_.record_modified_flags) RecordModifiedFlags(m);
    return m;
  }

  Report Finish() {
    Report report;
    report.metadata = Metadata();
    for (size_t k = 0; k < instances_.size(); ++k) {
      Timed(k, [&](PluginInstance& inst) { report.sections.push_back(inst.Finish()); });
    }
    FillTimings();
    return report;
  }

  void FillTimings() {
    if (options_.timings == nullptr) return;
    RunTimings& t = *options_.timings;
    t.forward_seconds = absl::ToDoubleSeconds(forward_time_);
    t.plugin_seconds.clear();
    for (size_t k = 0; k < instances_.size(); ++k) {
      t.plugin_seconds.emplace_back(plugins_[k].name, absl::ToDoubleSeconds(plugin_time_[k]));
    }
    t.total_seconds = absl::ToDoubleSeconds(absl::Now() - start_);
  }

  // Runs fn(instance) and adds its wall-clock time to that plugin's.
  void Timed(size_t k, const std::function<void(PluginInstance&)>& fn) {
    const absl::Time start = absl::Now();
    fn(*instances_[k]);
    plugin_time_[k] += absl::Now() - start;
  }

 private:
  const Transformer& transformer_;
  const std::vector<LoadedPlugin>& plugins_;
  const RunnerOptions& options_;
  AnalysisContext context_;
  std::vector<std::unique_ptr<PluginInstance>> instances_;
  HookFilter cache_;
  bool full_logits_ = false;
  const absl::Time start_ = absl::Now();
  std::vector<absl::Duration> plugin_time_;
  absl::Duration forward_time_;
  int64_t prompts_run_ = 0;
};

// Validates every prompt first (better to refuse in a second than to fail after an hour;
// unless the source did, PromptSource::Described) and describes the whole dataset to the
// plugins: its size and random access to its prompts (read through `prompts`, e.g. the
// streamed --dataset). *longest: the most tokens of one prompt in [begin, end), the prompts
// this process runs.
absl::Status DescribeDataset(const ModelConfig& config, PromptSource& prompts, int64_t begin,
                             int64_t end, AnalysisContext& context, size_t* longest) {
  const int64_t num_prompts = prompts.size();
  int64_t num_tokens = 0;
  *longest = 0;
  absl::StatusOr<bool> described = prompts.Described(begin, end, &num_tokens, longest);
  if (!described.ok()) return described.status();
  if (!*described) {
    for (int64_t i = 0; i < num_prompts; ++i) {
      absl::StatusOr<Prompt> prompt = prompts.Get(i);
      if (!prompt.ok()) return prompt.status();
      if (absl::Status s = CheckPrompt(config, i, *prompt); !s.ok()) return s;
      num_tokens += static_cast<int64_t>(prompt->tokens.size());
      if (i >= begin && i < end) *longest = std::max(*longest, prompt->tokens.size());
    }
  }
  context.dataset.num_prompts = num_prompts;
  context.dataset.num_tokens = num_tokens;
  context.prompt_tokens = [&prompts](int64_t index) -> absl::StatusOr<std::vector<int>> {
    if (index < 0 || index >= prompts.size()) {
      return absl::OutOfRangeError(absl::StrCat("prompt ", index, " is outside the dataset of ",
                                                prompts.size(), " prompts"));
    }
    absl::StatusOr<Prompt> prompt = prompts.Get(index);
    if (!prompt.ok()) return prompt.status();
    return std::move(prompt->tokens);
  };
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Report> RunPlugins(const Transformer& transformer,
                                  const std::vector<LoadedPlugin>& plugins,
                                  const std::vector<Prompt>& prompts,
                                  const RunnerOptions& options) {
  VectorPromptSource source(prompts);
  return RunPlugins(transformer, plugins, source, options);
}

absl::StatusOr<Report> RunPlugins(const Transformer& transformer,
                                  const std::vector<LoadedPlugin>& plugins,
                                  PromptSource& prompts, const RunnerOptions& options) {
  Analysis analysis(transformer, plugins, options);
  size_t longest = 0;
  if (absl::Status s = DescribeDataset(transformer.model().config, prompts, 0, prompts.size(),
                                       analysis.context(), &longest);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = analysis.ChooseHooks(); !s.ok()) return s;
  analysis.Begin();
  if (absl::Status s = analysis.RunPrompts(prompts, 0, prompts.size(), longest); !s.ok()) {
    return s;
  }
  return analysis.Finish();
}

absl::StatusOr<ShardResult> RunShard(const Transformer& transformer,
                                     const std::vector<LoadedPlugin>& plugins,
                                     const std::vector<Prompt>& prompts, ShardSpec shard,
                                     const RunnerOptions& options) {
  VectorPromptSource source(prompts);
  return RunShard(transformer, plugins, source, shard, options);
}

absl::StatusOr<ShardResult> RunShard(const Transformer& transformer,
                                     const std::vector<LoadedPlugin>& plugins,
                                     PromptSource& prompts, ShardSpec shard,
                                     const RunnerOptions& options) {
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", shard.index, "/", shard.count, ": need 0 <= I < N"));
  }
  Analysis analysis(transformer, plugins, options);
  for (auto& inst : analysis.instances()) {
    if (inst->Mergeable()) continue;
    if (!inst->ok()) return inst->status();
    return absl::FailedPreconditionError(absl::StrCat(
        "plugin '", inst->plugin().name, "' (", inst->plugin().path,
        ") has no mergeable state, so it cannot run sharded; run it without --shard, or "
        "leave it out with --plugins"));
  }
  ShardResult result;
  std::tie(result.prompt_begin, result.prompt_end) = ShardRange(prompts.size(), shard);
  size_t longest = 0;
  if (absl::Status s = DescribeDataset(transformer.model().config, prompts, result.prompt_begin,
                                       result.prompt_end, analysis.context(), &longest);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = analysis.ChooseHooks(); !s.ok()) return s;
  analysis.Begin();
  if (absl::Status s =
          analysis.RunPrompts(prompts, result.prompt_begin, result.prompt_end, longest);
      !s.ok()) {
    return s;
  }
  for (auto& inst : analysis.instances()) {
    std::string state = inst->SaveState();
    if (!inst->ok()) return inst->status();
    result.plugins.push_back({inst->plugin().name, inst->plugin().version, std::move(state)});
  }
  result.metadata = analysis.Metadata();
  analysis.FillTimings();
  return result;
}

absl::StatusOr<Report> MergeShards(const Transformer& transformer,
                                   const std::vector<LoadedPlugin>& plugins, size_t num_shards,
                                   const ShardStates& states,
                                   const std::function<std::string(size_t)>& describe,
                                   const RunnerOptions& options) {
  Analysis analysis(transformer, plugins, options);
  for (auto& inst : analysis.instances()) {
    if (!inst->Mergeable() && inst->ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("plugin '", inst->plugin().name, "' has no mergeable state"));
    }
  }
  analysis.Begin();
  for (size_t k = 0; k < num_shards; ++k) {
    absl::StatusOr<std::vector<std::string>> shard = states(k);
    if (!shard.ok()) return shard.status();
    if (shard->size() != analysis.instances().size()) {
      return absl::InvalidArgumentError(absl::StrCat(describe(k), ": ", shard->size(),
                                                     " plugin states for ",
                                                     analysis.instances().size(), " plugins"));
    }
    for (size_t p = 0; p < shard->size(); ++p) {
      analysis.Timed(p, [&](PluginInstance& inst) { inst.MergeState((*shard)[p], describe(k)); });
    }
  }
  // A state refused is an error, not a section: the merged numbers would be missing a shard.
  for (auto& inst : analysis.instances()) {
    if (!inst->ok()) return inst->status();
  }
  return analysis.Finish();
}

}  // namespace memlens
