#include "core/plugin/runner.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "core/io/json.h"
#include "core/model/forward.h"
#include "core/plugin/instance.h"
#include "core/plugin/loader.h"
#include "core/report/render.h"
#include "core/util/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/plugin/plugin_test_util.h"
#include "tests/random_model.h"

namespace memlens {
namespace {

#define EXPECT_ERROR_MENTIONS(message, text) \
  EXPECT_NE(std::string(message).find(text), std::string::npos) << (message)

class RunnerTest : public ::testing::Test {
 protected:
  RunnerTest() : model_(RandomModel(SmallGeluConfig(), 7)), pool_(1), transformer_(model_, pool_) {
    model_.processing = "none (random test model)";
  }

  void SetUp() override {
    absl::StatusOr<std::vector<LoadedPlugin>> p = LoadPluginsFrom(
        {TestPlugin("counter"), ExamplePlugin(), TestPlugin("faulty")}, {});
    ASSERT_TRUE(p.ok()) << p.status();
    plugins_ = *p;
    SetFlag("faulty_stage", "none");
    SetFlag("faulty_mode", "throw");
    SetFlag("resid_norms_rms", "false");
  }

  std::vector<Prompt> Prompts() const {
    std::vector<Prompt> prompts(3);
    prompts[0].tokens = {1, 5, 9, 2, 30};
    prompts[1].tokens = {0, 36, 4, 4, 4, 7, 11};
    prompts[2].tokens = {3};
    return prompts;
  }

  const Section* Find(const Report& r, const std::string& plugin) {
    for (const Section& s : r.sections) {
      if (s.plugin == plugin) return &s;
    }
    return nullptr;
  }

  Model model_;
  ThreadPool pool_;
  Transformer transformer_;
  std::vector<LoadedPlugin> plugins_;
};

TEST_F(RunnerTest, EveryPluginProducesItsSection) {
  RunnerOptions options;
  options.dataset.name = "three prompts";
  options.settings.seed = 123;
  int64_t progress_calls = 0;
  options.progress = [&](int64_t done, int64_t total) {
    ++progress_calls;
    EXPECT_EQ(total, 3);
    EXPECT_EQ(done, progress_calls);
  };
  absl::StatusOr<Report> r = RunPlugins(transformer_, plugins_, Prompts(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(progress_calls, 3);
  ASSERT_EQ(r->sections.size(), 3u);
  EXPECT_EQ(r->sections[0].plugin, "counter");
  EXPECT_EQ(r->sections[1].plugin, "resid_norms");
  EXPECT_EQ(r->sections[2].plugin, "faulty");
  for (const Section& s : r->sections) EXPECT_TRUE(s.ok) << s.plugin << ": " << s.error;

  // counter checked the PromptRun invariants; its totals: 3 prompts, 13 tokens, and the last
  // position of each prompt has no next-token target.
  const Table& counts = absl::get<Table>(Find(*r, "counter")->items[0]);
  EXPECT_EQ(counts.rows[0][0].int_value(), 3);
  EXPECT_EQ(counts.rows[0][1].int_value(), 13);
  EXPECT_EQ(counts.rows[0][2].int_value(), 3);
  EXPECT_EQ(Find(*r, "counter")->title, "Counts prompts and tokens");
  EXPECT_EQ(Find(*r, "counter")->source, TestPlugin("counter"));
  // Each section carries its plugin's flags.
  EXPECT_EQ(Find(*r, "resid_norms")->settings,
            (std::vector<std::pair<std::string, std::string>>{{"--resid_norms_rms", "false"}}));

  // Metadata.
  const ReportMetadata& m = r->metadata;
  EXPECT_EQ(m.model_name, "random-gelu");
  EXPECT_EQ(m.processing, "none (random test model)");
  EXPECT_EQ(m.dataset_name, "three prompts");
  EXPECT_EQ(m.num_prompts, 3);
  EXPECT_EQ(m.num_tokens, 13);
  EXPECT_EQ(m.seed, 123u);
  EXPECT_EQ(m.memlens_version, kMemlensVersion);
  EXPECT_FALSE(m.created.empty());
  EXPECT_NE(m.model_summary.find("3 layers, d_model 24"), std::string::npos) << m.model_summary;
  ASSERT_GE(m.settings.size(), 2u);
  EXPECT_EQ(m.settings[0], (std::pair<std::string, std::string>("target", "next_token")));
  // faulty_stage was changed from its default by this test: recorded for reproducibility.
  bool recorded = false;
  for (const auto& kv : m.settings) recorded = recorded || kv.first == "--faulty_stage";
  EXPECT_TRUE(recorded);

  // The whole report renders to valid json.
  EXPECT_TRUE(json::Parse(RenderJson(*r)).ok());
}

// Without a plugin that wants the full logits the unembedding is skipped and the target
// logits come from ln_final's output; they equal the full logits' entries (counter checks
// that directly when it asks for the full logits).
TEST_F(RunnerTest, TargetLogitsWithoutTheFullLogits) {
  auto sum_of_target_logits = [&](bool full) {
    SetFlag("counter_full_logits", full ? "true" : "false");
    absl::StatusOr<Report> r = RunPlugins(transformer_, {plugins_[0]}, Prompts());
    EXPECT_TRUE(r.ok()) << r.status();
    const Section* s = Find(*r, "counter");
    EXPECT_TRUE(s->ok) << s->error;
    return absl::get<Table>(s->items[0]).rows[0][3].float_value();
  };
  const double full = sum_of_target_logits(true), read_off = sum_of_target_logits(false);
  SetFlag("counter_full_logits", "true");
  EXPECT_NE(full, 0);
  EXPECT_NEAR(read_off, full, 1e-4 * (1 + std::fabs(full)));
}

TEST_F(RunnerTest, TimingsCoverTheForwardAndEveryPlugin) {
  RunnerOptions options;
  RunTimings timings;
  options.timings = &timings;
  absl::StatusOr<Report> r = RunPlugins(transformer_, plugins_, Prompts(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(timings.prompts, 3);
  EXPECT_GT(timings.forward_seconds, 0);
  ASSERT_EQ(timings.plugin_seconds.size(), plugins_.size());
  double parts = timings.forward_seconds;
  for (size_t k = 0; k < plugins_.size(); ++k) {
    EXPECT_EQ(timings.plugin_seconds[k].first, plugins_[k].name);
    EXPECT_GE(timings.plugin_seconds[k].second, 0);
    parts += timings.plugin_seconds[k].second;
  }
  EXPECT_LE(parts, timings.total_seconds);
}

TEST_F(RunnerTest, ExamplePluginMatchesADirectComputation) {
  absl::StatusOr<Report> r = RunPlugins(transformer_, {plugins_[1]}, Prompts());
  ASSERT_TRUE(r.ok()) << r.status();
  const Section& s = r->sections[0];
  ASSERT_TRUE(s.ok) << s.error;
  const Table& norms = absl::get<Table>(s.items[0]);
  const int L = model_.config.n_layers;
  ASSERT_EQ(norms.rows.size(), static_cast<size_t>(1 + 2 * L));

  // Mean over positions > 0 of ||resid_post of the last layer||, computed here directly.
  const std::string hook = absl::StrCat("blocks.", L - 1, ".hook_resid_post");
  RunOptions ro;
  ro.cache = *HookFilter::Parse(hook, AllHookNames(model_.config));
  double sum = 0, bos_sum = 0;
  int64_t n = 0, n_bos = 0;
  for (const Prompt& p : Prompts()) {
    absl::StatusOr<RunResult> run = transformer_.Run(p.tokens, ro);
    ASSERT_TRUE(run.ok()) << run.status();
    const Tensor& x = **run->store.Get(hook);
    for (int64_t t = 0; t < x.dim(0); ++t) {
      double ss = 0;
      for (int64_t d = 0; d < x.dim(1); ++d) ss += double(x.row(t)[d]) * x.row(t)[d];
      (t == 0 ? bos_sum : sum) += std::sqrt(ss);
      ++(t == 0 ? n_bos : n);
    }
  }
  const std::vector<Cell>& last = norms.rows.back();
  EXPECT_EQ(last[0].str(), absl::StrCat("post", L - 1));
  EXPECT_NEAR(last[2].float_value(), sum / n, 1e-9 * sum / n);
  EXPECT_NEAR(last[6].float_value(), bos_sum / n_bos, 1e-9 * bos_sum / n_bos);
  EXPECT_EQ(last[7].int_value(), n);

  // Its flag changes the numbers by exactly 1/sqrt(d_model).
  SetFlag("resid_norms_rms", "true");
  absl::StatusOr<Report> rms = RunPlugins(transformer_, {plugins_[1]}, Prompts());
  ASSERT_TRUE(rms.ok());
  const Table& rms_norms = absl::get<Table>(rms->sections[0].items[0]);
  EXPECT_NEAR(rms_norms.rows.back()[2].float_value(),
              sum / n / std::sqrt(double(model_.config.d_model)), 1e-9 * sum / n);
}

// A failing plugin, at any stage and in any way, is reported by name and file; the others
// still produce complete sections.
TEST_F(RunnerTest, IsolatesAFailingPlugin) {
  struct Case {
    const char* stage;
    const char* mode;
    const char* expected;
  };
  const Case cases[] = {
      {"create", "throw", "threw std::runtime_error in create: faulty plugin throws in create"},
      {"create", "error", "threw std::runtime_error in create: faulty plugin fails in create"},
      {"RequiredHooks", "throw", "threw std::runtime_error in RequiredHooks"},
      {"Begin", "error", "failed in Begin: faulty plugin fails in Begin"},
      {"Begin", "throw", "threw std::runtime_error in Begin: faulty plugin throws in Begin"},
      {"AnalyzePrompt", "throw",
       "threw std::runtime_error in AnalyzePrompt (prompt 0): faulty plugin throws"},
      {"AnalyzePrompt", "error", "failed in AnalyzePrompt (prompt 0): faulty plugin fails"},
      {"AnalyzePrompt", "other", "threw a non-standard exception in AnalyzePrompt (prompt 0)"},
      {"Finish", "error", "failed in Finish: faulty plugin fails in Finish"},
      {"Finish", "throw", "threw std::runtime_error in Finish"},
      {"builder", "throw", "row 0 has 1 cells but the table has 2 columns"},
      {"hooks", "throw", "hook pattern 'blocks.*.hook_no_such_thing' matches no hook"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.stage, "/", c.mode));
    SetFlag("faulty_stage", c.stage);
    SetFlag("faulty_mode", c.mode);
    absl::StatusOr<Report> r = RunPlugins(transformer_, plugins_, Prompts());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->sections.size(), 3u);
    const Section& bad = r->sections[2];
    EXPECT_FALSE(bad.ok);
    EXPECT_TRUE(bad.items.empty());
    EXPECT_ERROR_MENTIONS(bad.error, "plugin 'faulty' (" + TestPlugin("faulty") + ")");
    EXPECT_ERROR_MENTIONS(bad.error, c.expected);
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(r->sections[i].ok) << r->sections[i].error;
      EXPECT_FALSE(r->sections[i].items.empty());
    }
    // The failure is in every rendering.
    EXPECT_ERROR_MENTIONS(RenderText(*r), "faulty 0.1: Fails on purpose [FAILED]");
  }
}

TEST_F(RunnerTest, InvalidPromptsStopTheRunAndNameThePrompt) {
  std::vector<Prompt> prompts = Prompts();
  prompts[1].tokens[2] = 37;  // d_vocab is 37
  absl::StatusOr<Report> r = RunPlugins(transformer_, plugins_, prompts);
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status().message(), "prompt 1: token id 37 at position 2");

  prompts = Prompts();
  prompts[2].tokens.clear();
  r = RunPlugins(transformer_, plugins_, prompts);
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status().message(), "prompt 2: no tokens");

  prompts = Prompts();
  prompts[0].targets = {1, 2};
  r = RunPlugins(transformer_, plugins_, prompts);
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status().message(), "prompt 0: has 5 tokens but 2 targets");

  prompts = Prompts();
  prompts[0].tokens.assign(17, 1);  // n_ctx is 16
  r = RunPlugins(transformer_, plugins_, prompts);
  ASSERT_FALSE(r.ok());
  EXPECT_ERROR_MENTIONS(r.status().message(), "prompt 0: 17 tokens exceed");
}

TEST_F(RunnerTest, ExplicitTargetsAndPiecesReachThePlugins) {
  std::vector<Prompt> prompts = Prompts();
  prompts[0].targets = {-1, -1, -1, -1, -1};
  prompts[0].contrasts = {2, 2, 2, 2, 2};
  prompts[0].pieces = {"a", "b", "c", "d", "e"};
  absl::StatusOr<Report> r = RunPlugins(transformer_, {plugins_[0]}, prompts);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->sections[0].ok) << r->sections[0].error;
  const Table& counts = absl::get<Table>(r->sections[0].items[0]);
  EXPECT_EQ(counts.rows[0][2].int_value(), 5 + 1 + 1);
}

TEST_F(RunnerTest, NoPluginsGivesAnEmptyReport) {
  absl::StatusOr<Report> r = RunPlugins(transformer_, {}, Prompts());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->sections.empty());
  EXPECT_EQ(r->metadata.num_tokens, 13);
}

}  // namespace
}  // namespace memlens
