// Sharded runs give the one-process answer: the shipped plugins (loaded as shared objects) on
// the planted writer/eraser model, run once over the whole dataset (RunPlugins, the reference)
// and as N = 1, 2, 3, 7 shards (RunShard) merged (MergeShards). Counts, strings, flags and
// selections (automatic writers, flagged rows, the adversarial top list) must be identical;
// every number within 1e-6 relative (running means merge in a different order). The sketches
// are sized so nothing is compacted (erasure_sketch_k above the sample count), where merging
// is exact; compaction's error bound is sketch_test's business.
// Also: the states round-trip through bytes (SaveState of a merged instance is not needed: the
// merge reads each shard's bytes), and a corrupted state is refused, naming the plugin.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "core/model/forward.h"
#include "core/plugin/loader.h"
#include "core/plugin/runner.h"
#include "core/util/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/analysis/planted_model.h"
#include "tests/plugin/plugin_test_util.h"

namespace memlens {
namespace {

bool Close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::fabs(a - b) <= 1e-6 * std::max(std::fabs(a), std::fabs(b)) + 1e-12;
}

void ExpectNumbers(const std::vector<double>& a, const std::vector<double>& b,
                   const std::string& where) {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(Close(a[i], b[i])) << where << "[" << i << "]: " << a[i] << " vs " << b[i];
}

// Everything a reader sees, compared: numbers within 1e-6 relative, all else identical.
void ExpectSameReport(const Report& one, const Report& merged, const std::string& label) {
  EXPECT_EQ(one.metadata.num_prompts, merged.metadata.num_prompts) << label;
  EXPECT_EQ(one.metadata.num_tokens, merged.metadata.num_tokens) << label;
  EXPECT_EQ(one.metadata.settings, merged.metadata.settings) << label;
  EXPECT_EQ(one.metadata.caveats, merged.metadata.caveats) << label;
  ASSERT_EQ(one.sections.size(), merged.sections.size()) << label;
  for (size_t s = 0; s < one.sections.size(); ++s) {
    const Section& a = one.sections[s];
    const Section& b = merged.sections[s];
    const std::string where = absl::StrCat(label, " ", a.plugin);
    ASSERT_TRUE(a.ok) << where << ": " << a.error;
    ASSERT_TRUE(b.ok) << where << ": " << b.error;
    EXPECT_EQ(a.plugin, b.plugin);
    EXPECT_EQ(a.description, b.description) << where;
    EXPECT_EQ(a.settings, b.settings) << where;
    // The findings (the report's summary): kinds, sentences and their numbers.
    ASSERT_EQ(a.findings.size(), b.findings.size()) << where;
    for (size_t f = 0; f < a.findings.size(); ++f) {
      const Finding& fa = a.findings[f];
      const Finding& fb = b.findings[f];
      const std::string w = absl::StrCat(where, " finding ", f, " ", fa.kind);
      EXPECT_EQ(fa.kind, fb.kind) << w;
      EXPECT_EQ(fa.text, fb.text) << w;
      ASSERT_EQ(fa.values.size(), fb.values.size()) << w;
      for (size_t v = 0; v < fa.values.size(); ++v) {
        const Cell& x = fa.values[v].second;
        const Cell& y = fb.values[v].second;
        EXPECT_EQ(fa.values[v].first, fb.values[v].first) << w;
        ASSERT_EQ(x.kind(), y.kind()) << w << " " << fa.values[v].first;
        if (x.kind() == Cell::Kind::kFloat) {
          EXPECT_TRUE(Close(x.float_value(), y.float_value()))
              << w << " " << fa.values[v].first << ": " << x.float_value() << " vs "
              << y.float_value();
        } else if (x.kind() == Cell::Kind::kInt) {
          EXPECT_EQ(x.int_value(), y.int_value()) << w;
        } else {
          EXPECT_EQ(x.str(), y.str()) << w;
        }
      }
    }
    ASSERT_EQ(a.items.size(), b.items.size()) << where;
    for (size_t i = 0; i < a.items.size(); ++i) {
      ASSERT_EQ(a.items[i].index(), b.items[i].index()) << where;
      if (const Table* ta = absl::get_if<Table>(&a.items[i])) {
        const Table& tb = absl::get<Table>(b.items[i]);
        const std::string w = absl::StrCat(where, " table ", ta->name);
        EXPECT_EQ(ta->name, tb.name) << w;
        ASSERT_EQ(ta->rows.size(), tb.rows.size()) << w;
        EXPECT_EQ(ta->row_flags, tb.row_flags) << w;
        for (size_t r = 0; r < ta->rows.size(); ++r) {
          for (size_t c = 0; c < ta->rows[r].size(); ++c) {
            const Cell& x = ta->rows[r][c];
            const Cell& y = tb.rows[r][c];
            const std::string cell = absl::StrCat(w, " row ", r, " col ", ta->columns[c].name);
            ASSERT_EQ(x.kind(), y.kind()) << cell;
            if (x.kind() == Cell::Kind::kFloat) {
              EXPECT_TRUE(Close(x.float_value(), y.float_value()))
                  << cell << ": " << x.float_value() << " vs " << y.float_value();
            } else if (x.kind() == Cell::Kind::kInt) {
              EXPECT_EQ(x.int_value(), y.int_value()) << cell;
            } else {
              EXPECT_EQ(x.str(), y.str()) << cell;
            }
          }
        }
      } else if (const Series* sa = absl::get_if<Series>(&a.items[i])) {
        const Series& sb = absl::get<Series>(b.items[i]);
        ASSERT_EQ(sa->lines.size(), sb.lines.size()) << where << " " << sa->name;
        for (size_t l = 0; l < sa->lines.size(); ++l) {
          EXPECT_EQ(sa->lines[l].name, sb.lines[l].name) << where;
          ExpectNumbers(sa->lines[l].x, sb.lines[l].x, absl::StrCat(where, " ", sa->name, " ", sa->lines[l].name, " x"));
          ExpectNumbers(sa->lines[l].y, sb.lines[l].y, absl::StrCat(where, " ", sa->name, " ", sa->lines[l].name));
        }
      } else if (const Matrix* ma = absl::get_if<Matrix>(&a.items[i])) {
        const Matrix& mb = absl::get<Matrix>(b.items[i]);
        EXPECT_EQ(ma->row_labels, mb.row_labels) << where;
        ExpectNumbers(ma->values, mb.values, absl::StrCat(where, " ", ma->name));
      } else {
        EXPECT_EQ(absl::get<Note>(a.items[i]).text, absl::get<Note>(b.items[i]).text) << where;
      }
    }
  }
}

class ShardTest : public ::testing::Test {
 protected:
  ShardTest() : model_(PlantedModel(true)), pool_(1), tf_(model_, pool_) {}
  void SetUp() override {
    std::vector<std::string> files;
    for (const char* p : {"dla", "cleanup_dla", "erasure", "adversarial"}) {
      files.push_back(ShippedPlugin(p));
    }
    files.push_back(ExamplePlugin());
    auto loaded = LoadPluginsFrom(files, {});
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    plugins_ = *loaded;
    // Automatic choices everywhere: the writers (on prompt 0), every node scanned; a top list
    // shorter than the candidates, so the cut matters.
    SetFlag("erasure_writer", "auto");
    SetFlag("erasure_sketch_k", "4096");
    SetFlag("adversarial_nodes", "auto");
    SetFlag("adversarial_min_dla", "0.05");
    SetFlag("adversarial_top", "12");
    // Caps that fall inside a shard, so merging must concatenate in order and cut: the
    // write-back scatter's points and the adversarial rows per node.
    SetFlag("cleanup_plot_points", "30");
    SetFlag("adversarial_per_node", "2");
    SetFlag("adversarial_exclude", "M0");
    // Prompts of different lengths (mean ablation averages per position).
    const std::vector<std::vector<int>> tokens = PlantedPrompts(21, 12, 5);
    for (size_t i = 0; i < tokens.size(); ++i) {
      Prompt p;
      p.tokens.assign(tokens[i].begin(), tokens[i].end() - static_cast<long>(i % 4));
      prompts_.push_back(p);
    }
  }

  // Shards 0..n-1 run on their own, their states kept as bytes, then merged in order.
  absl::StatusOr<Report> Sharded(int64_t n, const RunnerOptions& options) {
    std::vector<ShardResult> shards;
    for (int64_t i = 0; i < n; ++i) {
      absl::StatusOr<ShardResult> r = RunShard(tf_, plugins_, prompts_, {i, n}, options);
      if (!r.ok()) return r.status();
      shards.push_back(std::move(*r));
    }
    int64_t covered = 0;
    for (const ShardResult& s : shards) {
      EXPECT_EQ(s.prompt_begin, covered);
      covered = s.prompt_end;
    }
    EXPECT_EQ(covered, static_cast<int64_t>(prompts_.size()));
    RunnerOptions merge = options;
    merge.dataset.num_prompts = shards[0].metadata.num_prompts;
    merge.dataset.num_tokens = shards[0].metadata.num_tokens;
    return MergeShards(
        tf_, plugins_, shards.size(),
        [&](size_t k) -> absl::StatusOr<std::vector<std::string>> {
          std::vector<std::string> states;
          for (const auto& p : shards[k].plugins) states.push_back(p.state);
          return states;
        },
        [](size_t k) { return absl::StrCat("shard ", k); }, merge);
  }

  Model model_;
  ThreadPool pool_;
  Transformer tf_;
  std::vector<LoadedPlugin> plugins_;
  std::vector<Prompt> prompts_;
};

TEST_F(ShardTest, SameReportHoweverSplit) {
  for (const char* mode : {"resample", "mean", "zero"}) {
    SetFlag("cleanup_ablation", mode);
    SetFlag("adversarial_ablation", mode);
    RunnerOptions options;
    options.record_modified_flags = false;
    absl::StatusOr<Report> one = RunPlugins(tf_, plugins_, prompts_, options);
    ASSERT_TRUE(one.ok()) << one.status();
    for (int64_t n : {1, 2, 3, 7}) {
      absl::StatusOr<Report> merged = Sharded(n, options);
      ASSERT_TRUE(merged.ok()) << merged.status();
      ExpectSameReport(*one, *merged, absl::StrCat(mode, " N=", n));
    }
  }
  SetFlag("cleanup_ablation", "resample");
  SetFlag("adversarial_ablation", "resample");
}

TEST_F(ShardTest, MoreShardsThanPrompts) {
  RunnerOptions options;
  options.record_modified_flags = false;
  prompts_.resize(3);
  absl::StatusOr<Report> one = RunPlugins(tf_, plugins_, prompts_, options);
  ASSERT_TRUE(one.ok()) << one.status();
  absl::StatusOr<Report> merged = Sharded(5, options);  // two shards hold no prompt
  ASSERT_TRUE(merged.ok()) << merged.status();
  ExpectSameReport(*one, *merged, "N=5 of 3 prompts");
}

// A state holds aggregates, not samples: 7 times the prompts, the same size (the sketches
// grow by levels, logarithmically, and only once full).
TEST_F(ShardTest, StateSizeDoesNotGrowWithPrompts) {
  SetFlag("erasure_sketch_k", "16");
  SetFlag("cleanup_plot_points", "5");  // reached by 3 prompts: cleanup_dla's state is full
  RunnerOptions options;
  options.record_modified_flags = false;
  std::vector<Prompt> few(prompts_.begin(), prompts_.begin() + 3);
  absl::StatusOr<ShardResult> a = RunShard(tf_, plugins_, few, {0, 1}, options);
  absl::StatusOr<ShardResult> b = RunShard(tf_, plugins_, prompts_, {0, 1}, options);
  SetFlag("erasure_sketch_k", "4096");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  for (size_t p = 0; p < a->plugins.size(); ++p) {
    const size_t x = a->plugins[p].state.size(), y = b->plugins[p].state.size();
    if (a->plugins[p].name == "erasure") {
      EXPECT_LT(y, 2 * x) << "erasure: " << x << " -> " << y;
    } else if (a->plugins[p].name != "adversarial") {  // its top list holds prompt text
      EXPECT_EQ(x, y) << a->plugins[p].name;
    }
  }
}

TEST_F(ShardTest, ShardRangesPartitionInOrder) {
  for (int64_t p : {0, 1, 5, 21, 1000}) {
    for (int64_t n : {1, 2, 3, 7, 64}) {
      int64_t next = 0;
      for (int64_t i = 0; i < n; ++i) {
        auto [b, e] = ShardRange(p, {i, n});
        EXPECT_EQ(b, next);
        EXPECT_LE(e - b, p / n + 1);
        EXPECT_GE(e - b, p / n);
        next = e;
      }
      EXPECT_EQ(next, p);
    }
  }
}

TEST_F(ShardTest, CorruptStateIsRefusedNamingPluginAndShard) {
  RunnerOptions options;
  options.record_modified_flags = false;
  absl::StatusOr<ShardResult> a = RunShard(tf_, plugins_, prompts_, {0, 2}, options);
  ASSERT_TRUE(a.ok()) << a.status();
  for (size_t p = 0; p < a->plugins.size(); ++p) {
    for (int cut : {0, 1, 9}) {
      std::vector<std::string> states;
      for (const auto& s : a->plugins) states.push_back(s.state);
      ASSERT_GT(states[p].size(), static_cast<size_t>(cut));
      states[p].resize(states[p].size() - cut - 1);  // truncated
      RunnerOptions merge = options;
      merge.dataset.num_prompts = a->metadata.num_prompts;
      absl::StatusOr<Report> r = MergeShards(
          tf_, plugins_, 1, [&](size_t) { return states; },
          [](size_t) { return std::string("shard-file-0"); }, merge);
      ASSERT_FALSE(r.ok()) << a->plugins[p].name;
      EXPECT_NE(r.status().message().find(a->plugins[p].name), std::string::npos) << r.status();
      EXPECT_NE(r.status().message().find("shard-file-0"), std::string::npos) << r.status();
    }
  }
}

}  // namespace
}  // namespace memlens
