// The four analysis plugins, loaded as shared objects the way memlens loads them, run end to
// end on the planted writer/eraser model (tests/analysis/planted_model.h) and its control.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/analysis/dla.h"
#include "core/analysis/nodes.h"
#include "core/io/json.h"
#include "core/model/forward.h"
#include "core/plugin/loader.h"
#include "core/plugin/runner.h"
#include "core/report/render.h"
#include "core/util/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/analysis/planted_model.h"
#include "tests/plugin/plugin_test_util.h"

namespace memlens {
namespace {

const Table* FindTable(const Section& s, const std::string& name) {
  for (const SectionItem& item : s.items) {
    if (const Table* t = absl::get_if<Table>(&item); t != nullptr && t->name == name) return t;
  }
  return nullptr;
}

int Col(const Table& t, const std::string& name) {
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].name == name) return static_cast<int>(i);
  }
  ADD_FAILURE() << "no column " << name << " in " << t.name;
  return 0;
}

// The row whose first cell is `key` (or -1).
int Row(const Table& t, const std::string& key, int col = 0) {
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (t.rows[r][col].str() == key) return static_cast<int>(r);
  }
  return -1;
}

// The planted model with its eraser, without (control), and with parallel blocks (GPT-NeoX:
// attention and MLP both read resid_pre; the planted nodes read only earlier layers, so the
// story is the same, but there is no resid_mid and M{l} is not later than L{l}H*).
enum Variant { kEraser, kControl, kParallelEraser };

Model VariantModel(Variant v) {
  Model m = PlantedModel(v != kControl);
  m.config.parallel_residual = v == kParallelEraser;
  return m;
}

class PluginsTest : public ::testing::TestWithParam<Variant> {
 protected:
  PluginsTest() : model_(VariantModel(GetParam())), pool_(1), tf_(model_, pool_) {}
  void SetUp() override {
    std::vector<std::string> files;
    for (const char* p : {"dla", "cleanup_dla", "erasure", "adversarial"}) {
      files.push_back(ShippedPlugin(p));
    }
    auto loaded = LoadPluginsFrom(files, {});
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    plugins_ = *loaded;
    SetFlag("erasure_writer", "L0H1");
    SetFlag("adversarial_nodes", "L0H1");
    SetFlag("adversarial_min_dla", "0.05");
    SetFlag("adversarial_per_node", "3");  // the default; a test may lift the cap
    SetFlag("cleanup_ablation", "resample");
  }
  bool eraser() const { return GetParam() != kControl; }
  bool parallel() const { return GetParam() == kParallelEraser; }
  std::vector<Prompt> Prompts() const {
    std::vector<Prompt> prompts;
    for (const auto& t : PlantedPrompts(12, 12, 3)) {
      Prompt p;
      p.tokens = t;
      prompts.push_back(p);
    }
    return prompts;
  }
  const Section& Get(const Report& r, const std::string& name) {
    for (const Section& s : r.sections) {
      if (s.plugin == name) return s;
    }
    static Section none;
    ADD_FAILURE() << "no section " << name;
    return none;
  }
  Model model_;
  ThreadPool pool_;
  Transformer tf_;
  std::vector<LoadedPlugin> plugins_;
};

TEST_P(PluginsTest, EndToEnd) {
  RunnerOptions options;
  options.settings.seed = 11;
  auto report = RunPlugins(tf_, plugins_, Prompts(), options);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const Section& s : report->sections) ASSERT_TRUE(s.ok) << s.plugin << ": " << s.error;

  // dla: the mean DLA of L0H1 matches a computation by hand from the planted weights. The
  // writer's value reads r1 = W_V[:, 4] (head 1's first value dim) of the ln1-normalized
  // residual W_E[tok] + W_pos[j], attends uniformly, and writes along d = W_O[4, :]; so its
  // output at i is c_i d with c_i = mean_{j <= i} (x_j - mean x_j) . r1 / s_j, and its DLA is
  // c_i (d . W_U[:, target]) / s_final (d has zero mean) with s_final from the final residual.
  {
    const Section& s = Get(*report, "dla");
    const Table* t = FindTable(s, "dla");
    ASSERT_NE(t, nullptr);
    const ModelConfig& c = model_.config;
    const Weights& wt = model_.weights;
    const int64_t D = c.d_model, V = c.d_vocab, dh = c.d_head;
    auto normalized_dot = [&](const float* x, const float* v, int64_t stride) {
      double mean = 0, sq = 0, dot = 0;
      for (int64_t d = 0; d < D; ++d) mean += x[d] / static_cast<double>(D);
      for (int64_t d = 0; d < D; ++d) {
        sq += (x[d] - mean) * (x[d] - mean);
        dot += (x[d] - mean) * v[d * stride];
      }
      return dot / std::sqrt(sq / D + c.eps);
    };
    double sum = 0;
    int64_t n = 0;
    for (const Prompt& p : Prompts()) {
      RunOptions o;
      o.cache = HookFilter::All();
      RunResult r = *tf_.Run(p.tokens, o);
      const Tensor& final_resid = **r.store.Get("blocks.1.hook_resid_post");
      const int64_t T = p.tokens.size();
      double value_sum = 0;
      for (int64_t i = 0; i + 1 < T; ++i) {
        std::vector<float> x(D);
        for (int64_t d = 0; d < D; ++d) {
          x[d] = wt.W_E.data[p.tokens[i] * D + d] + wt.W_pos.data[i * D + d];
        }
        value_sum += normalized_dot(x.data(), wt.layers[0].W_V.data.data() + dh, 2 * dh);
        if (i == 0) continue;  // the dla plugin skips the first position
        std::vector<float> du(D);
        for (int64_t d = 0; d < D; ++d) {
          du[d] = wt.layers[0].W_O.data[dh * D + d] * wt.W_U.data[d * V + p.tokens[i + 1]];
        }
        double mean = 0, sq = 0, du_sum = 0;
        for (int64_t d = 0; d < D; ++d) mean += final_resid.data[i * D + d] / static_cast<double>(D);
        for (int64_t d = 0; d < D; ++d) {
          sq += std::pow(final_resid.data[i * D + d] - mean, 2);
          du_sum += du[d];
        }
        sum += value_sum / (i + 1) * du_sum / std::sqrt(sq / D + c.eps);
        ++n;
      }
    }
    const int row = Row(*t, "L0H1");
    ASSERT_GE(row, 0);
    EXPECT_NEAR(t->rows[row][Col(*t, "mean")].float_value(), sum / n, 1e-4 * std::fabs(sum / n));
    EXPECT_GT(std::fabs(sum / n), 1e-3);  // not trivially zero
    EXPECT_EQ(t->rows[row][Col(*t, "samples")].int_value(), n);
    const Table* totals = FindTable(s, "totals");
    ASSERT_NE(totals, nullptr);
    EXPECT_NEAR(totals->rows[0][1].float_value() + totals->rows[1][1].float_value(),
                totals->rows[2][1].float_value(), 1e-4);
  }

  // cleanup_dla: for the writer, path-corrected DLA and total effect ~0 while DLA is not.
  {
    const Section& s = Get(*report, "cleanup_dla");
    const Table* t = FindTable(s, "cleanup_dla");
    ASSERT_NE(t, nullptr);
    const int row = Row(*t, "L0H1");
    ASSERT_GE(row, 0);
    const auto& cells = t->rows[row];
    const double dla = cells[Col(*t, "dla")].float_value();
    const double path = cells[Col(*t, "path_dla")].float_value();
    const double effect = cells[Col(*t, "total_effect")].float_value();
    const double survival = cells[Col(*t, "survival_dla")].float_value();
    EXPECT_EQ(cells[Col(*t, "effect_samples")].int_value(), 12 * 10);  // positions 1..10; the first prompt deferred
    // Measured on the eraser model: each at most 0.5% of the DLA.
    EXPECT_GT(std::fabs(dla), 1e-3);
    if (eraser()) {
      EXPECT_LT(std::fabs(path), 0.02 * std::fabs(dla));
      EXPECT_LT(std::fabs(survival), 0.02 * std::fabs(dla));
      EXPECT_LT(std::fabs(effect), 0.02 * std::fabs(dla));
    } else {
      EXPECT_NEAR(path, dla, 1e-6);
      EXPECT_NEAR(survival, dla, 0.05 * std::fabs(dla) + 1e-3);
    }
  }

  // erasure: exactly the planted pair; causal removal of the writer kills it; static first.
  {
    const Section& s = Get(*report, "erasure");
    const Table* er = FindTable(s, "erasers");
    ASSERT_NE(er, nullptr);
    if (eraser()) {
      ASSERT_EQ(er->rows.size(), 1u);
      EXPECT_EQ(er->rows[0][0].str(), "L0H1");
      EXPECT_EQ(er->rows[0][1].str(), "L1H0");
      EXPECT_NEAR(er->rows[0][Col(*er, "median_pr")].float_value(), -1.0, 0.05);
      EXPECT_NEAR(er->rows[0][Col(*er, "causal_median_pr")].float_value(), 0.0, 0.05);
      EXPECT_NEAR(er->rows[0][Col(*er, "bos_median_pr")].float_value(), -1.0, 0.1);
    } else {
      EXPECT_TRUE(er->rows.empty());
    }
    const Table* st = FindTable(s, "static_heads");
    ASSERT_NE(st, nullptr);
    ASSERT_FALSE(st->rows.empty());
    if (eraser()) {
      EXPECT_EQ(st->rows[0][0].str(), "L0H1");
      EXPECT_EQ(st->rows[0][1].str(), "L1H0");
      EXPECT_NEAR(st->rows[0][Col(*st, "signed_composition")].float_value(), -1.0, 1e-6);
    } else {
      EXPECT_GT(st->rows[0][Col(*st, "signed_composition")].float_value(), -0.1);
    }
    const Table* wt = FindTable(s, "writer_L0H1");
    ASSERT_NE(wt, nullptr);
    const int row = Row(*wt, "L1H0");
    ASSERT_GE(row, 0);
    // Uniform attention: the BOS part of the writer is erased like the rest (measured -0.72
    // and -0.92); without the eraser nothing is (L1H0 writes nothing).
    const double pr_bos = wt->rows[row][Col(*wt, "pr_on_bos_part")].float_value();
    const double pr_rest = wt->rows[row][Col(*wt, "pr_on_rest")].float_value();
    if (eraser()) {
      EXPECT_GT(pr_bos, -1.05);
      EXPECT_LT(pr_bos, -0.6);
      EXPECT_GT(pr_rest, -1.05);
      EXPECT_LT(pr_rest, -0.8);
    } else {
      EXPECT_EQ(pr_bos, 0.0);
      EXPECT_EQ(pr_rest, 0.0);
    }
    // Survival of the writer: ~1 up to post0, ~0 after the eraser (clean), back to ~1 causal.
    const Series* surv = nullptr;
    for (const SectionItem& item : s.items) {
      if (const Series* x = absl::get_if<Series>(&item); x && x->name == "survival_resid") surv = x;
    }
    ASSERT_NE(surv, nullptr);
    ASSERT_GE(surv->lines.size(), 2u);
    EXPECT_EQ(surv->lines[0].name, "L0H1 clean");
    // Points mid0, post0, mid1, post1; parallel blocks have no mid.
    const int post0 = parallel() ? 0 : 1, post1 = parallel() ? 1 : 3;
    ASSERT_EQ(surv->lines[0].y.size(), parallel() ? 2u : 4u);
    EXPECT_NEAR(surv->lines[0].y[post0], 1.0, 1e-3);
    EXPECT_NEAR(surv->lines[0].y[post1], eraser() ? 0.0 : 1.0, 0.05);
    EXPECT_EQ(surv->lines[1].name, "L0H1 causal");
    EXPECT_NEAR(surv->lines[1].y[post1], 1.0, 0.05);
  }

  // adversarial: the writer's positions, DLA large and total effect small (eraser model).
  {
    const Section& s = Get(*report, "adversarial");
    const Table* t = FindTable(s, "adversarial");
    ASSERT_NE(t, nullptr);
    if (eraser()) {
      ASSERT_FALSE(t->rows.empty());
      ASSERT_FALSE(s.findings.empty());
      EXPECT_EQ(s.findings[0].kind, "adversarial");
      EXPECT_NE(s.findings[0].text.find("L0H1 has DLA"), std::string::npos) << s.findings[0].text;
    }
    for (const auto& row : t->rows) {
      EXPECT_EQ(row[Col(*t, "node")].str(), "L0H1");
      EXPECT_FALSE(row[Col(*t, "text")].str().empty());
      EXPECT_FALSE(row[Col(*t, "target")].str().empty());
    }
    // Every listed position of the eraser model: the total effect is erased (measured at most
    // 0.6% of the DLA).
    if (eraser()) {
      for (const auto& row : t->rows) {
        EXPECT_LT(std::fabs(row[Col(*t, "total_effect")].float_value()),
                  0.02 * std::fabs(row[Col(*t, "dla")].float_value()));
      }
    }
  }
}

const Finding* FindFinding(const Section& s, const std::string& kind) {
  for (const Finding& f : s.findings) {
    if (f.kind == kind) return &f;
  }
  return nullptr;
}

const Cell* Value(const Finding& f, const std::string& name) {
  for (const auto& [n, v] : f.values) {
    if (n == name) return &v;
  }
  return nullptr;
}

// The summary states the planted pair (eraser model) or that there is no clean-up (control),
// and its survival numbers are the figures' last points.
TEST_P(PluginsTest, SummaryStatesTheFinding) {
  auto report = RunPlugins(tf_, plugins_, Prompts());
  ASSERT_TRUE(report.ok()) << report.status();
  const Section& s = Get(*report, "erasure");
  ASSERT_TRUE(s.ok) << s.error;
  const Finding* eraser_finding = FindFinding(s, "eraser");
  if (eraser()) {
    EXPECT_EQ(FindFinding(s, "no_cleanup"), nullptr);
    ASSERT_NE(eraser_finding, nullptr);
    EXPECT_EQ(Value(*eraser_finding, "writer")->str(), "L0H1");
    EXPECT_EQ(Value(*eraser_finding, "node")->str(), "L1H0");
    EXPECT_NE(eraser_finding->text.find("L1H0 erases"), std::string::npos) << eraser_finding->text;
    EXPECT_NE(eraser_finding->text.find("L0H1"), std::string::npos);
    EXPECT_NEAR(Value(*eraser_finding, "median_pr")->float_value(), -1.0, 0.05);
    const Finding* causal = FindFinding(s, "causal");
    ASSERT_NE(causal, nullptr);
    EXPECT_EQ(Value(*causal, "confirmed")->int_value(), 1) << causal->text;
  } else {
    EXPECT_EQ(eraser_finding, nullptr) << eraser_finding->text;
    const Finding* none = FindFinding(s, "no_cleanup");
    ASSERT_NE(none, nullptr);
    EXPECT_NE(none->text.find("No strong clean-up found"), std::string::npos);
  }
  // Survival: the finding's own share is the survival_own figure's last point, ~0 after the
  // eraser (its write cleaned up), ~1 without it.
  const Finding* survival = FindFinding(s, "survival");
  ASSERT_NE(survival, nullptr);
  const Series* own = nullptr;
  for (const SectionItem& item : s.items) {
    if (const Series* x = absl::get_if<Series>(&item); x && x->name == "survival_own") own = x;
  }
  ASSERT_NE(own, nullptr);
  ASSERT_EQ(own->lines[0].name, "L0H1 clean");
  const double end = Value(*survival, "own_share_end")->float_value();
  EXPECT_EQ(end, own->lines[0].y.back());
  EXPECT_NEAR(own->lines[0].y[0], 1.0, 1e-6);  // mid0: nothing later has written yet
  EXPECT_NEAR(end, eraser() ? 0.0 : 1.0, 0.05);
  EXPECT_EQ(own->lines[1].name, "L0H1 causal");
  EXPECT_NEAR(own->lines[1].y.back(), 1.0, 0.05);  // without the writer in later value inputs
}

const Series* FindSeries(const Section& s, const std::string& name) {
  for (const SectionItem& item : s.items) {
    if (const Series* x = absl::get_if<Series>(&item); x != nullptr && x->name == name) return x;
  }
  return nullptr;
}

// The survival figures agree with the per-writer table, as the report holds them and as the
// json and html draw them. In the planted model only L1H0 writes along the writer's direction
// d (every other node writes orthogonally to it, or nothing; embeddings and positions live in
// other dims), so sample by sample PR(resid_p, L0H1) = 1 + PR(L1H0, L0H1) at the residual
// points that include L1H0's write (mid1 and post1; post1 alone with parallel blocks) and 1
// at the earlier ones; the writer's own share 1 + sum of later PR is the same. A median
// commutes with "+ 1" and the sketches are exact here (132 samples < k), so every point of
// both curves is 1, or 1 + the writer_L0H1 table's median_pr of L1H0 (clean) or its
// causal_median_pr (causal: the writer removed from later value inputs).
// A json object's string member ("" when absent: notes have no name).
std::string JsonString(const json::Value& v, const char* key) {
  const json::Value* m = v.Find(key);
  return m != nullptr ? m->string_value() : "";
}

TEST_P(PluginsTest, SurvivalFiguresAgreeWithTheWriterTable) {
  auto report = RunPlugins(tf_, plugins_, Prompts());
  ASSERT_TRUE(report.ok()) << report.status();
  const Section& s = Get(*report, "erasure");
  ASSERT_TRUE(s.ok) << s.error;
  const Table* t = FindTable(s, "writer_L0H1");
  ASSERT_NE(t, nullptr);
  const int row = Row(*t, "L1H0");
  ASSERT_GE(row, 0);
  const double clean = t->rows[row][Col(*t, "median_pr")].float_value();
  const double causal = t->rows[row][Col(*t, "causal_median_pr")].float_value();
  // The planted truth: L1H0 erases the writer (its write is gone causally); the control's
  // L1H0 writes nothing.
  EXPECT_NEAR(clean, eraser() ? -1.0 : 0.0, 0.05);
  EXPECT_NEAR(causal, 0.0, 0.05);
  // The point includes layer 1's attention: mid1 or post1.
  const auto after_eraser = [](const std::string& point) { return point.back() == '1'; };

  const std::string json_text = RenderJson(*report);
  absl::StatusOr<json::Value> json = json::Parse(json_text);
  ASSERT_TRUE(json.ok()) << json.status();
  const json::Value* json_section = nullptr;
  ASSERT_NE(json->Find("sections"), nullptr);
  for (const json::Value& sec : json->Find("sections")->array()) {
    if (JsonString(sec, "plugin") == "erasure") json_section = &sec;
  }
  ASSERT_NE(json_section, nullptr);
  const std::string html = RenderHtml(*report);

  for (const char* name : {"survival_resid", "survival_own"}) {
    SCOPED_TRACE(name);
    const Series* series = FindSeries(s, name);
    ASSERT_NE(series, nullptr);
    ASSERT_EQ(series->x_categories.size(), parallel() ? 2u : 4u);
    // The json's lines of this series.
    const json::Value* json_series = nullptr;
    for (const json::Value& item : json_section->Find("items")->array()) {
      if (JsonString(item, "name") == name) json_series = &item;
    }
    ASSERT_NE(json_series, nullptr);
    // The html figure of this series: from its <title> to the end of its svg.
    const size_t begin = html.find(absl::StrCat("<title>", name, "</title>"));
    ASSERT_NE(begin, std::string::npos);
    const std::string figure = html.substr(begin, html.find("</svg>", begin) - begin);

    for (const auto& [line_name, table_pr] :
         {std::pair<std::string, double>{"L0H1 clean", clean}, {"L0H1 causal", causal}}) {
      SCOPED_TRACE(line_name);
      const Line* line = nullptr;
      for (const Line& l : series->lines) {
        if (l.name == line_name) line = &l;
      }
      ASSERT_NE(line, nullptr);
      const json::Value* json_line = nullptr;
      for (const json::Value& l : json_series->Find("lines")->array()) {
        if (JsonString(l, "name") == line_name) json_line = &l;
      }
      ASSERT_NE(json_line, nullptr);
      const std::vector<json::Value>& json_y = json_line->Find("y")->array();
      ASSERT_EQ(line->y.size(), series->x_categories.size());
      ASSERT_EQ(json_y.size(), line->y.size());
      for (size_t i = 0; i < line->y.size(); ++i) {
        const std::string& point = series->x_categories[i];
        const double expected = after_eraser(point) ? 1.0 + table_pr : 1.0;
        EXPECT_NEAR(line->y[i], expected, 1e-5) << point;
        // json: the same double (shortest round-trip text).
        EXPECT_EQ(json_y[i].number(), line->y[i]) << point;
        // html: the point's hover text "LINE, POINT: VALUE", 4 significant digits.
        const std::string tip = absl::StrCat("<title>", line_name, ", ", point, ": ");
        const size_t at = figure.find(tip);
        ASSERT_NE(at, std::string::npos) << tip;
        const size_t from = at + tip.size();
        double drawn = 0;
        ASSERT_TRUE(absl::SimpleAtod(figure.substr(from, figure.find('<', from) - from), &drawn));
        EXPECT_NEAR(drawn, expected, 1e-3) << point;
      }
    }
  }
  // The summary's survival numbers are the curves' first and last points: PR(resid, writer)
  // from the first point to the last, the own share (clean and, in the causal finding, causal)
  // at the last.
  const Series* resid = FindSeries(s, "survival_resid");
  const Series* own = FindSeries(s, "survival_own");
  const Finding* survival = FindFinding(s, "survival");
  ASSERT_NE(survival, nullptr);
  EXPECT_EQ(Value(*survival, "resid_pr_start")->float_value(), resid->lines[0].y.front());
  EXPECT_EQ(Value(*survival, "resid_pr_end")->float_value(), resid->lines[0].y.back());
  EXPECT_EQ(Value(*survival, "own_share_end")->float_value(), own->lines[0].y.back());
  EXPECT_EQ(Value(*survival, "end")->str(), own->x_categories.back());
  if (eraser()) {  // the causal finding confirms the top eraser (none without one)
    const Finding* check = FindFinding(s, "causal");
    ASSERT_NE(check, nullptr);
    ASSERT_EQ(own->lines[1].name, "L0H1 causal");
    EXPECT_EQ(Value(*check, "own_share_end_causal")->float_value(), own->lines[1].y.back());
    EXPECT_EQ(Value(*check, "causal_median_pr")->float_value(), causal);
  }
}

// A whitespace token is shown, never a blank cell: with pieces " ", "\n" and words, the
// adversarial table's target column and its sentences quote the token with escapes, as
// `memlens run` does, and so do the text, markdown and html renderings.
TEST_P(PluginsTest, WhitespaceTargetsAreVisible) {
  // The piece of token id, and how it must be shown (written out here, not computed).
  const auto piece = [](int id) -> std::string {
    return id % 3 == 0 ? " " : id % 3 == 1 ? "\n" : absl::StrCat("w", id);
  };
  const auto shown = [](int id) -> std::string {
    return id % 3 == 0 ? "\" \"" : id % 3 == 1 ? "\"\\n\"" : absl::StrCat("\"w", id, "\"");
  };
  SetFlag("adversarial_per_node", "0");  // every listed position of the writer
  std::vector<Prompt> prompts = Prompts();
  for (Prompt& p : prompts) {
    for (int id : p.tokens) p.pieces.push_back(piece(id));
  }
  auto report = RunPlugins(tf_, plugins_, prompts);
  ASSERT_TRUE(report.ok()) << report.status();
  const Section& s = Get(*report, "adversarial");
  const Table* t = FindTable(s, "adversarial");
  ASSERT_NE(t, nullptr);
  if (eraser()) {
    ASSERT_FALSE(t->rows.empty());
  }
  std::set<std::string> targets;
  for (const auto& row : t->rows) {
    const Prompt& p = prompts[row[Col(*t, "prompt")].int_value()];
    const int next = p.tokens[row[Col(*t, "position")].int_value() + 1];
    EXPECT_EQ(row[Col(*t, "target")].str(), shown(next));
    targets.insert(shown(next));
  }
  if (!eraser()) return;  // the control model has no adversarial example to show
  EXPECT_TRUE(targets.count("\" \"") && targets.count("\"\\n\"")) << t->rows.size() << " rows";
  // The first finding's sentence: "... -> TARGET: NODE has DLA ...".
  const Finding& f = s.findings[0];
  const std::vector<Cell>& top = t->rows[0];
  const std::string target = top[Col(*t, "target")].str();
  EXPECT_NE(f.text.find(absl::StrCat("-> ", target, ": ")), std::string::npos) << f.text;
  // Each format shows it (html escapes the quotes).
  std::string html_target;
  for (char c : target) html_target += c == '"' ? std::string("&quot;") : std::string(1, c);
  EXPECT_NE(RenderHtml(*report).find(absl::StrCat("<td>", html_target, "</td>")),
            std::string::npos) << html_target;
  EXPECT_NE(RenderMarkdown(*report).find(absl::StrCat("-> ", target)), std::string::npos);
  EXPECT_NE(RenderText(*report).find(absl::StrCat("-> ", target)), std::string::npos);
}

// The host knows no plugin by name: the order of the sections and the presets' flags are what
// the plugins declare.
TEST_P(PluginsTest, PluginsDeclareTheirOrderAndPresets) {
  std::vector<LoadedPlugin> shuffled = {plugins_[3], plugins_[0], plugins_[2], plugins_[1]};
  std::vector<std::string> names;
  for (const LoadedPlugin& p : SortByReportOrder(shuffled)) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"dla", "erasure", "cleanup_dla", "adversarial"}));
  const auto paper = CollectPresetFlags(plugins_, "paper");
  using Flag = std::pair<std::string, std::string>;
  for (const Flag& f : {Flag{"erasure_writer", "L0H2"}, Flag{"adversarial_nodes", "L0H2"},
                        Flag{"cleanup_writer", "L0H2"}}) {
    EXPECT_NE(std::find(paper.begin(), paper.end(), f), paper.end()) << f.first;
    EXPECT_NE(absl::FindCommandLineFlag(f.first), nullptr) << f.first;  // a real flag
  }
  EXPECT_TRUE(CollectPresetFlags(plugins_, "nonsense").empty());
}

TEST_P(PluginsTest, BadFlagsFailOnlyThatSection) {
  SetFlag("cleanup_ablation", "bogus");
  SetFlag("erasure_writer", "L9H9");
  auto report = RunPlugins(tf_, plugins_, Prompts());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(Get(*report, "cleanup_dla").ok);
  EXPECT_NE(Get(*report, "cleanup_dla").error.find("cleanup_ablation"), std::string::npos);
  EXPECT_FALSE(Get(*report, "erasure").ok);
  EXPECT_NE(Get(*report, "erasure").error.find("L9H9"), std::string::npos);
  EXPECT_TRUE(Get(*report, "dla").ok);
  SetFlag("cleanup_ablation", "resample");
  SetFlag("erasure_writer", "L0H1");
}

TEST_P(PluginsTest, OtherAblationsAndAutoWriters) {
  for (const char* mode : {"zero", "mean"}) {
    SetFlag("cleanup_ablation", mode);
    SetFlag("adversarial_ablation", mode);
    SetFlag("erasure_writer", "auto");
    auto report = RunPlugins(tf_, plugins_, Prompts());
    ASSERT_TRUE(report.ok()) << report.status();
    for (const Section& s : report->sections) ASSERT_TRUE(s.ok) << s.plugin << ": " << s.error;
    const Table* t = FindTable(Get(*report, "cleanup_dla"), "cleanup_dla");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->rows[Row(*t, "L0H1")][Col(*t, "effect_samples")].int_value(), 12 * 10);
    // Without the eraser nothing reads the writer or L1H1: zero-ablating one removes what DLA
    // credits it with, up to the LayerNorm scales it also moves (measured 6% and 8%).
    if (!eraser() && std::string(mode) == "zero") {
      for (const char* node : {"L0H1", "L1H1"}) {
        const double dla = t->rows[Row(*t, node)][Col(*t, "dla")].float_value();
        const double effect = t->rows[Row(*t, node)][Col(*t, "total_effect")].float_value();
        EXPECT_NEAR(effect, dla, 0.15 * std::fabs(dla)) << node;
      }
    }
    // The activation detector does not depend on the selected writers.
    const Table* er = FindTable(Get(*report, "erasure"), "erasers");
    EXPECT_EQ(er->rows.size(), eraser() ? 1u : 0u);
    // Automatic writers: the planted writer has the most negative median PR.
    if (eraser()) {
      EXPECT_NE(FindTable(Get(*report, "erasure"), "writer_L0H1"), nullptr);
    }
  }
  SetFlag("cleanup_ablation", "resample");
  SetFlag("adversarial_ablation", "resample");
  SetFlag("erasure_writer", "L0H1");
}

std::string VariantName(Variant v) {
  return v == kEraser ? "Eraser" : v == kControl ? "Control" : "ParallelEraser";
}

// A terminal is read at 100 columns: the whole text report of the planted and control models
// (summary, metadata, every section) fits, counted in characters, not bytes.
TEST_P(PluginsTest, TextReportFitsOneHundredColumns) {
  auto report = RunPlugins(tf_, plugins_, Prompts());
  ASSERT_TRUE(report.ok()) << report.status();
  const std::string text = RenderText(*report);
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    size_t chars = 0;
    for (unsigned char c : line) chars += (c & 0xC0) != 0x80;  // UTF-8 lead bytes
    EXPECT_LE(chars, 100u) << line;
    ++lines;
  }
  EXPECT_GT(lines, 50) << text;  // the report itself, not an error line
}

INSTANTIATE_TEST_SUITE_P(Planted, PluginsTest,
                         ::testing::Values(kEraser, kControl, kParallelEraser),
                         [](const auto& info) { return VariantName(info.param); });

}  // namespace
}  // namespace memlens
