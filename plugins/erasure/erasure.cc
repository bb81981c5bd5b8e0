// erasure: the erasure (memory-management) detectors of method.md.
//
//   activation detector  PR(node output, writer output) for every (writer, later node) pair
//                        over all (prompt, position) samples, kept in mergeable quantile
//                        sketches (median, quartiles, share negative); a pair is an eraser when
//                        its median PR < --erasure_threshold and PR < 0 in most samples.
//                        Position 0 (BOS) is kept in separate sketches, never mixed in.
//   survival curves      PR(residual point, writer) at every mid/post point after the writer
//   causal detector      per selected writer: rerun with the writer's output subtracted from
//                        the value input (hook_v_input, every kv head) of every later layer,
//                        ln1 scale frozen (forward.h); recompute the PRs and survival. Erasure
//                        that collapses toward 0 depends causally on the writer.
//   BOS split            per selected head writer: PR onto the part of its output that comes
//                        from attending to BOS (pattern[h, i, 0] v[0] W_O[h]) and onto the rest
//   static detector      weights only: V-composition and signed composition of head pairs,
//                        anti-aligned MLP neurons (core/analysis/static_erasure.h)
// Selected writers: --erasure_writer (e.g. L0H2), or automatically from the dataset's first
// prompt (prompt 0, in every shard of a sharded run: a shard without it runs it to choose), the
// --erasure_num_writers heads/MLPs (with later readers) whose most negative median PR from a
// later node is lowest (ties: largest mean output norm).
// Memory: sketches only (bounded: k * log(n / k) floats each), independent of the dataset;
// they are the mergeable state.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/analysis/nodes.h"
#include "core/analysis/plugin_support.h"
#include "core/analysis/ablation.h"
#include "core/analysis/projection.h"
#include "core/analysis/sketch.h"
#include "core/analysis/state_codec.h"
#include "core/analysis/static_erasure.h"
#include "core/plugin/plugin_api.h"

ABSL_FLAG(double, erasure_threshold, -0.1,
          "erasure: a (writer, node) pair is an eraser when its median PR is below this, PR < 0 "
          "in most samples, and the writer's write matters (--erasure_min_share).");
ABSL_FLAG(double, erasure_min_share, 0.02,
          "erasure: a pair counts only when the writer's output norm is at least this share of "
          "the norm of the residual the later node reads (median over positions): a large ratio "
          "onto a negligible write (e.g. a small constant bias) is not erasure that matters.");
ABSL_FLAG(std::string, erasure_writer, "auto",
          "erasure: writers for survival curves, the causal detector and the BOS split, e.g. "
          "L0H2 or L0H2,L1H3; auto = the --erasure_num_writers heads/MLPs with the most negative "
          "median PR from a later node on the first prompt.");
ABSL_FLAG(int64_t, erasure_num_writers, 2,
          "erasure: how many writers to pick automatically (--erasure_writer=auto).");
ABSL_FLAG(bool, erasure_causal, true,
          "erasure: run the causal detector (one extra forward pass per writer and prompt).");
ABSL_FLAG(bool, erasure_bos_split, true,
          "erasure: split head writers' output into the part from BOS and the rest.");
ABSL_FLAG(int64_t, erasure_sketch_k, 256,
          "erasure: quantile sketch size (larger = more accurate medians, more memory).");
ABSL_FLAG(int64_t, erasure_static_top, 10,
          "erasure: head pairs and neurons listed by the static detector.");
ABSL_FLAG(double, erasure_neuron_threshold, -0.3,
          "erasure: MLP neurons with cos(W_in[:, n], W_out[n, :]) below this are anti-aligned.");

namespace memlens {
namespace {

class Erasure : public AnalysisPlugin {
 public:
  int ReportOrder() const override { return 20; }
  std::vector<std::pair<std::string, std::string>> PresetFlags(
      const std::string& preset) const override {
    if (preset == "paper") return {{"erasure_writer", "L0H2"}};
    return {};
  }

  std::vector<std::string> RequiredHooks(const ModelConfig& config) const override {
    std::vector<std::string> hooks = NodeHooks(config);
    if (!config.parallel_residual) hooks.push_back("blocks.*.hook_resid_mid");
    hooks.push_back("blocks.*.hook_resid_post");
    if (absl::GetFlag(FLAGS_erasure_bos_split)) {
      hooks.push_back("blocks.*.attn.hook_pattern");
      hooks.push_back("blocks.*.attn.hook_v");
    }
    return hooks;
  }

  absl::Status Begin(const AnalysisContext& context) override {
    context_ = &context;
    nodes_ = ListNodes(*context.model);
    threshold_ = absl::GetFlag(FLAGS_erasure_threshold);
    min_share_ = absl::GetFlag(FLAGS_erasure_min_share);
    preset_ = context.settings.preset;
    causal_ = absl::GetFlag(FLAGS_erasure_causal);
    bos_split_ = absl::GetFlag(FLAGS_erasure_bos_split);
    k_ = static_cast<int>(std::max<int64_t>(16, absl::GetFlag(FLAGS_erasure_sketch_k)));
    std::vector<int> all(nodes_.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    matrix_ = std::make_unique<PrMatrix>(nodes_, all, k_);
    absl::StatusOr<std::vector<int>> w =
        ParseNodeList(absl::GetFlag(FLAGS_erasure_writer), nodes_, "erasure_writer", {});
    if (!w.ok()) return w.status();
    if (!w->empty()) SetWriters(*w);
    num_auto_ = std::max<int64_t>(1, absl::GetFlag(FLAGS_erasure_num_writers));
    points_ = MidPostPoints(context.config());
    return absl::OkStatus();
  }

  absl::Status AnalyzePrompt(const PromptRun& run) override {
    const Model& model = *context_->model;
    const int64_t T = run.num_tokens();
    std::vector<Tensor> outs;  // per position [N, D]
    for (int64_t t = 0; t < T; ++t) {
      absl::StatusOr<Tensor> o = NodeOutputs(*run.store, model, nodes_, t);
      if (!o.ok()) return o.status();
      matrix_->AddPosition(*o, t);
      outs.push_back(std::move(*o));
    }
    if (writers_.empty()) {
      if (run.index == 0) {  // the dataset's first prompt: matrix_ holds it alone
        SetWriters(ChooseWriters(*matrix_, outs));
      } else {
        absl::Status s = ChooseWritersOnPromptZero();
        if (!s.ok()) return s;
      }
      auto_chosen_ = true;
    }
    for (size_t r = 0; r < writers_.size(); ++r) {
      absl::Status s = AnalyzeWriter(run, outs, r);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  bool Mergeable() const override { return true; }

  absl::StatusOr<std::string> SaveState() const override {
    StateWriter w;
    w.U64(kStateVersion);
    w.U64(auto_chosen_);
    w.U64(writers_.size());
    for (int wi : writers_) w.I64(wi);
    matrix_->Save(w);
    for (const WriterState& ws : state_) {
      for (const std::vector<QuantileSketch>* v : ws.sketches()) {
        w.U64(v->size());
        for (const QuantileSketch& q : *v) w.Sketch(q);
      }
      w.Stats(ws.bos_share);
    }
    return w.Take();
  }

  // A shard that saw no prompt has no automatic writers yet; every other shard must have chosen
  // the same ones (they are chosen on prompt 0 everywhere).
  absl::Status MergeState(absl::string_view bytes) override {
    StateReader r(bytes, "erasure");
    r.Expect(kStateVersion, "state version");
    uint64_t auto_chosen = 0, num_writers = 0;
    r.U64(&auto_chosen);
    r.U64(&num_writers);
    if (r.ok() && num_writers > nodes_.size()) r.Fail(absl::StrCat(num_writers, " writers"));
    std::vector<int> writers;
    for (uint64_t i = 0; r.ok() && i < num_writers; ++i) {
      int64_t wi = -1;
      r.I64(&wi);
      if (r.ok() && (wi < 0 || wi >= static_cast<int64_t>(nodes_.size()))) {
        r.Fail(absl::StrCat("writer index ", wi, " outside the model's nodes"));
      }
      writers.push_back(static_cast<int>(wi));
    }
    if (r.ok() && !writers.empty() && !writers_.empty() && writers != writers_) {
      r.Fail(absl::StrCat("its writers (", WriterNames(writers), ") differ from ",
                          WriterNames(writers_)));
    }
    if (!r.ok()) return r.Finish();
    Erasure other;
    other.context_ = context_;
    other.nodes_ = nodes_;
    other.threshold_ = threshold_;
    other.min_share_ = min_share_;
    other.k_ = k_;
    other.points_ = points_;
    std::vector<int> all(nodes_.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    other.matrix_ = std::make_unique<PrMatrix>(nodes_, all, k_);
    other.matrix_->Load(r);
    other.SetWriters(writers);
    for (WriterState& ws : other.state_) {
      for (std::vector<QuantileSketch>* v : ws.sketches()) {
        if (!r.Expect(v->size(), "writer sketches")) break;
        for (QuantileSketch& q : *v) r.Sketch(&q);
      }
      r.Stats(&ws.bos_share);
    }
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    matrix_->Merge(*other.matrix_);
    if (writers.empty()) return absl::OkStatus();
    if (writers_.empty()) {
      SetWriters(writers);
      auto_chosen_ = auto_chosen != 0;
    }
    for (size_t k = 0; k < state_.size(); ++k) {
      std::vector<std::vector<QuantileSketch>*> mine = state_[k].sketches();
      std::vector<std::vector<QuantileSketch>*> theirs = other.state_[k].sketches();
      for (size_t j = 0; j < mine.size(); ++j) {
        for (size_t e = 0; e < mine[j]->size(); ++e) (*mine[j])[e].Merge((*theirs[j])[e]);
      }
      state_[k].bos_share.Merge(other.state_[k].bos_share);
    }
    return absl::OkStatus();
  }

  absl::Status Finish(ReportBuilder& report) override {
    report.SetDescription(absl::StrCat(
        "Where components erase each other's output. PR(a, b) = a.b / |b|^2 of a later node's "
        "output a onto a writer's output b at the same position: median, quartiles and share "
        "of negative samples over (prompt, position) samples at positions >= 1 (BOS apart). "
        "writer_share = |b| / |the residual the node reads|; erased_share = -PR * writer_share, "
        "the part of the node's input it removes along b. Eraser: median PR < ", threshold_,
        ", PR < 0 in most samples, median writer_share >= ", min_share_,
        " (a ratio onto a negligible write is not erasure that matters), and a writer that is "
        "not a bias (L{l}.b_O is the same vector at every position); erasers are ranked by "
        "erased_share. The pr_median matrix keeps every pair's raw median PR."));
    AddFindings(report);
    // Activation detector.
    TableBuilder er = report.AddTable(
        "erasers",
        {{"writer", ColumnType::kString}, {"node", ColumnType::kString},
         {"median_pr", ColumnType::kFloat, 3}, {"q25", ColumnType::kFloat, 3},
         {"q75", ColumnType::kFloat, 3}, {"frac_negative", ColumnType::kFloat, 3},
         {"erased_share", ColumnType::kFloat, 3}, {"writer_share", ColumnType::kFloat, 3},
         {"causal_median_pr", ColumnType::kFloat, 3}, {"bos_median_pr", ColumnType::kFloat, 3},
         {"samples", ColumnType::kInt}},
        "activation detector: pairs that pass the eraser test, largest erased_share first "
        "(causal: the writer removed from later value inputs, selected writers only)");
    const Cell none;
    for (const PrMatrix::Eraser& e : matrix_->Erasers(threshold_, min_share_)) {
      const QuantileSketch* bos = nullptr;
      for (const auto& c : matrix_->cells()[e.writer]) {
        if (c.node == e.node) bos = &c.bos;
      }
      const QuantileSketch* causal = CausalSketch(e.writer, e.node);
      er.AddRow({nodes_[e.writer].name, nodes_[e.node].name, e.median, e.q25, e.q75,
                 e.frac_negative, e.erased_share, e.writer_share,
                 causal && causal->count() ? Cell(causal->Quantile(0.5)) : none,
                 bos && bos->count() ? Cell(bos->Quantile(0.5)) : none, e.samples},
                "eraser");
    }
    // The full median PR matrix.
    std::vector<std::string> labels;
    for (const Node& n : nodes_) labels.push_back(n.name);
    std::vector<double> values(nodes_.size() * nodes_.size(), std::nan(""));
    for (const auto& row : matrix_->cells()) {
      for (const auto& c : row) {
        if (c.rest.count()) values[c.writer * nodes_.size() + c.node] = c.rest.Quantile(0.5);
      }
    }
    report.AddMatrix("pr_median", labels, labels, values,
                     "median PR(node, writer) over positions >= 1, every pair (raw ratios)",
                     "writer", "node");
    // Per selected writer.
    std::vector<std::string> point_names;
    for (const ResidPoint& p : points_) point_names.push_back(p.name);
    SeriesBuilder survival = report.AddCategoricalSeries(
        "survival_resid", point_names, "residual point", "median PR(resid, writer)",
        "survival as PR(resid, writer): the residual stream's component along the writer's "
        "output (other nodes writing along it count too); causal: the writer removed from "
        "later value inputs; BOS: position 0");
    SeriesBuilder own = report.AddCategoricalSeries(
        "survival_own", point_names, "residual point",
        "median of 1 + sum of later PR(node, writer)",
        "survival as the writer's own share: 1 + the sum over the later nodes written by each "
        "point of PR(node, writer); it starts at 1, and what it loses is cleaned up");
    for (size_t r = 0; r < writers_.size(); ++r) {
      const WriterState& ws = state_[r];
      const std::string& wname = nodes_[writers_[r]].name;
      survival.AddLine(wname + " clean", Medians(ws.survival))
          .Style(LineStyle::kSolid, wname);
      if (causal_) {
        survival.AddLine(wname + " causal", Medians(ws.survival_causal))
            .Style(LineStyle::kDashed, wname);
      }
      survival.AddLine(wname + " BOS", Medians(ws.survival_bos)).Style(LineStyle::kDotted, wname);
      own.AddLine(wname + " clean", Medians(ws.own)).Style(LineStyle::kSolid, wname);
      if (causal_) {
        own.AddLine(wname + " causal", Medians(ws.own_causal)).Style(LineStyle::kDashed, wname);
      }

      // Every later node's median PR onto the writer, with its IQR: the study's bar chart.
      std::vector<std::string> later_names;
      std::vector<double> med, lo, hi;
      TableBuilder t = report.AddTable(
          absl::StrCat("writer_", wname),
          {{"node", ColumnType::kString}, {"median_pr", ColumnType::kFloat, 3},
           {"q25", ColumnType::kFloat, 3}, {"q75", ColumnType::kFloat, 3},
           {"frac_negative", ColumnType::kFloat, 3}, {"erased_share", ColumnType::kFloat, 3},
           {"causal_median_pr", ColumnType::kFloat, 3},
           {"causal_frac_negative", ColumnType::kFloat, 3},
           {"bos_median_pr", ColumnType::kFloat, 3},
           {"pr_on_bos_part", ColumnType::kFloat, 3}, {"pr_on_rest", ColumnType::kFloat, 3}},
          absl::StrCat("every node after ", wname, ": PR onto it (clean, causal, BOS position) "
                       "and onto the parts of its output from BOS and from the rest"));
      for (size_t e = 0; e < ws.later.size(); ++e) {
        const int node = ws.later[e];
        const PrMatrix::Cell* cell = FindCell(writers_[r], node);
        auto med_of = [&](const QuantileSketch& s) { return s.count() ? Cell(s.Quantile(0.5)) : none; };
        const PrMatrix::Eraser sum = cell ? PrMatrix::Summarize(*cell) : PrMatrix::Eraser();
        const bool has = sum.samples > 0;
        t.AddRow({nodes_[node].name, has ? Cell(sum.median) : none, has ? Cell(sum.q25) : none,
                  has ? Cell(sum.q75) : none, has ? Cell(sum.frac_negative) : none,
                  has ? Cell(sum.erased_share) : none, med_of(ws.causal[e]),
                  ws.causal[e].count() ? Cell(ws.causal[e].FractionBelowZero()) : none,
                  cell ? med_of(cell->bos) : none, med_of(ws.on_bos_part[e]),
                  med_of(ws.on_rest[e])},
                 has && IsEraser(sum) ? "eraser" : "");
        later_names.push_back(nodes_[node].name);
        med.push_back(has ? sum.median : std::nan(""));
        lo.push_back(has ? sum.q25 : std::nan(""));
        hi.push_back(has ? sum.q75 : std::nan(""));
      }
      report
          .AddCategoricalSeries(absl::StrCat("later_pr_", wname), later_names, "later node",
                                absl::StrCat("median PR(node, ", wname, ")"),
                                absl::StrCat("every later node's median PR onto ", wname,
                                             ", bars from the 25th to the 75th percentile"))
          .AddLine("median PR", med)
          .Style(LineStyle::kBars)
          .ErrorBars(lo, hi);
      if (ws.bos_share.n) {
        report.AddNote(absl::StrCat(wname, ": the part of its output from attending to BOS has "
                                           "mean PR ",
                                    ws.bos_share.mean, " onto its whole output (positions >= 1)."));
      }
    }
    // Static detector.
    const int64_t top = std::max<int64_t>(1, absl::GetFlag(FLAGS_erasure_static_top));
    const std::vector<HeadPairScore> pairs = StaticHeadPairs(*context_->model, context_->transformer->pool());
    TableBuilder st = report.AddTable(
        "static_heads",
        {{"writer", ColumnType::kString}, {"eraser", ColumnType::kString},
         {"signed_composition", ColumnType::kFloat, 3}, {"signed_cos", ColumnType::kFloat, 3},
         {"signed_gain", ColumnType::kFloat, 3}, {"composition", ColumnType::kFloat, 3}},
        "static detector (weights only): head pairs by signed composition "
        "<W_w W_e, W_w>_F / (|W_w|_F^2 |W_e|_F), most negative first");
    for (size_t i = 0; i < pairs.size() && static_cast<int64_t>(i) < top; ++i) {
      const HeadPairScore& s = pairs[i];
      st.AddRow({s.writer, s.eraser, s.signed_composition, s.signed_cos, s.signed_gain,
                 s.composition},
                s.signed_composition < threshold_ ? "writes back the negative" : "");
    }
    const double nt = absl::GetFlag(FLAGS_erasure_neuron_threshold);
    const std::vector<AntiAlignedNeuron> neurons = AntiAlignedNeurons(*context_->model, nt);
    TableBuilder nn = report.AddTable(
        "static_neurons",
        {{"layer", ColumnType::kInt}, {"neuron", ColumnType::kInt}, {"cos", ColumnType::kFloat, 3}},
        absl::StrCat("MLP neurons with cos(W_in[:, n], W_out[n, :]) < ", nt, " (", neurons.size(),
                     " in total; most negative first)"));
    for (size_t i = 0; i < neurons.size() && static_cast<int64_t>(i) < top; ++i) {
      nn.AddRow({neurons[i].layer, neurons[i].neuron, neurons[i].cos});
    }
    std::vector<std::string> wn;
    for (int w : writers_) wn.push_back(nodes_[w].name);
    report.AddNote(absl::StrCat(
        "Selected writers: ", absl::StrJoin(wn, ", "),
        auto_chosen_ ? " (automatic: the largest erased share, then the most negative median "
                       "PR from a later node, on the first prompt)"
                     : "",
        ". Sketch size k = ", k_, ". Causal detector: ", causal_ ? "on" : "off",
        "; the writer's clean output is subtracted from every kv head's value input of every "
        "later layer at once (ln1 scale frozen), so chains of erasers are removed together."));
    return absl::OkStatus();
  }

 private:
  static constexpr uint64_t kStateVersion = 1;

  struct WriterState {
    std::vector<int> later;  // nodes that read the writer
    std::vector<QuantileSketch> causal, on_bos_part, on_rest;       // per later node
    std::vector<QuantileSketch> survival, survival_causal, survival_bos;  // per point
    // The writer's own share at each point: 1 + sum over the later nodes written by then of
    // PR(node, writer) (positions >= 1), clean and causal.
    std::vector<QuantileSketch> own, own_causal;
    RunningStats bos_share;
    std::vector<std::vector<QuantileSketch>*> sketches() {
      return {&causal,          &on_bos_part,  &on_rest, &survival,
              &survival_causal, &survival_bos, &own,     &own_causal};
    }
    std::vector<const std::vector<QuantileSketch>*> sketches() const {
      return {&causal,          &on_bos_part,  &on_rest, &survival,
              &survival_causal, &survival_bos, &own,     &own_causal};
    }
  };

  std::string WriterNames(const std::vector<int>& writers) const {
    std::vector<std::string> names;
    for (int w : writers) names.push_back(nodes_[w].name);
    return absl::StrJoin(names, ",");
  }

  // Automatic writers from the first prompt's PR matrix `first` and node outputs `outs` (per
  // position [N, D]): the heads/MLPs with the strongest erasure evidence: first those with a
  // flagged eraser, by the largest erased share; then by the most negative median PR of any
  // later node onto them; ties by the largest mean output norm. Every shard chooses on the
  // dataset's prompt 0, so the choice does not depend on the split.
  std::vector<int> ChooseWriters(const PrMatrix& first, const std::vector<Tensor>& outs) const {
    const int64_t T = static_cast<int64_t>(outs.size()), D = context_->config().d_model;
    std::vector<std::tuple<double, double, double, int>> scores;
    for (int n : ComponentNodes(nodes_)) {
      double min_median = 0, best_erased = 0;
      bool has_reader = false;
      for (const auto& c : first.cells()[n]) {
        has_reader = true;
        if (!c.rest.count()) continue;
        const PrMatrix::Eraser e = PrMatrix::Summarize(c);
        min_median = std::min(min_median, e.median);
        if (IsEraser(e)) best_erased = std::max(best_erased, e.erased_share);
      }
      if (!has_reader) continue;
      double sum = 0;
      int64_t cnt = 0;
      for (int64_t t = T > 1 ? 1 : 0; t < T; ++t) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += static_cast<double>(outs[t].row(n)[d]) * outs[t].row(n)[d];
        sum += std::sqrt(s);
        ++cnt;
      }
      scores.emplace_back(-best_erased, min_median, -sum / std::max<int64_t>(1, cnt), n);
    }
    std::sort(scores.begin(), scores.end());
    std::vector<int> chosen;
    for (size_t i = 0; i < scores.size() && static_cast<int64_t>(i) < num_auto_; ++i) {
      chosen.push_back(std::get<3>(scores[i]));
    }
    return chosen;
  }

  // A shard that does not hold prompt 0 runs it to choose the same writers as every other.
  absl::Status ChooseWritersOnPromptZero() {
    if (!context_->prompt_tokens) {
      return absl::FailedPreconditionError("erasure: automatic writers need the dataset's prompt 0");
    }
    absl::StatusOr<std::vector<int>> tokens = context_->prompt_tokens(0);
    if (!tokens.ok()) return tokens.status();
    absl::StatusOr<ActivationStore> store = RunDonor(*context_->transformer, *tokens);
    if (!store.ok()) return store.status();
    std::vector<int> all(nodes_.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    PrMatrix first(nodes_, all, k_);
    std::vector<Tensor> outs;
    for (int64_t t = 0; t < static_cast<int64_t>(tokens->size()); ++t) {
      absl::StatusOr<Tensor> o = NodeOutputs(*store, *context_->model, nodes_, t);
      if (!o.ok()) return o.status();
      first.AddPosition(*o, t);
      outs.push_back(std::move(*o));
    }
    SetWriters(ChooseWriters(first, outs));
    return absl::OkStatus();
  }

  void SetWriters(const std::vector<int>& w) {
    writers_ = w;
    state_.clear();
    for (int wi : writers_) {
      WriterState s;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        if (nodes_[wi].IsReadBy(nodes_[n])) s.later.push_back(static_cast<int>(n));
      }
      s.causal.assign(s.later.size(), QuantileSketch(k_));
      s.on_bos_part.assign(s.later.size(), QuantileSketch(k_));
      s.on_rest.assign(s.later.size(), QuantileSketch(k_));
      const size_t P = MidPostPoints(context_->config()).size();
      s.survival.assign(P, QuantileSketch(k_));
      s.survival_causal.assign(P, QuantileSketch(k_));
      s.survival_bos.assign(P, QuantileSketch(k_));
      s.own.assign(P, QuantileSketch(k_));
      s.own_causal.assign(P, QuantileSketch(k_));
      state_.push_back(std::move(s));
    }
  }

  // Adds 1 + sum over ws.later written by each point of PR(node, writer) to own[point].
  template <typename RowFn>
  void AddOwnShare(const WriterState& ws, RowFn row, const float* writer_out, int64_t D,
                   std::vector<QuantileSketch>& own) const {
    std::vector<double> prs;
    for (int n : ws.later) prs.push_back(ProjectionRatio(row(n), writer_out, D));
    const int wstage = nodes_[writers_[&ws - state_.data()]].WriteStage();
    for (size_t p = 0; p < points_.size(); ++p) {
      if (points_[p].stage < wstage) continue;
      double sum = 1.0;
      for (size_t e = 0; e < ws.later.size(); ++e) {
        if (nodes_[ws.later[e]].WriteStage() <= points_[p].stage && !std::isnan(prs[e])) sum += prs[e];
      }
      own[p].Add(static_cast<float>(sum));
    }
  }


  bool IsEraser(const PrMatrix::Eraser& e) const {
    return e.samples > 0 && e.median < threshold_ && e.frac_negative > 0.5 &&
           e.writer_share >= min_share_ && nodes_[e.writer].kind != NodeKind::kAttnBias;
  }

  const PrMatrix::Cell* FindCell(int writer, int node) const {
    for (const auto& c : matrix_->cells()[writer]) {
      if (c.node == node) return &c;
    }
    return nullptr;
  }

  static std::vector<double> Medians(const std::vector<QuantileSketch>& sketches) {
    std::vector<double> out;
    for (const QuantileSketch& s : sketches) out.push_back(s.count() ? s.Quantile(0.5) : std::nan(""));
    return out;
  }

  static std::string Pct(double v) { return absl::StrFormat("%.0f%%", 100 * v); }
  static std::string Num(double v) { return absl::StrFormat("%.3g", v); }

  // The last residual point with a value in `medians` (NaN: none).
  size_t LastPoint(const std::vector<double>& medians) const {
    size_t last = medians.size();
    for (size_t p = 0; p < medians.size(); ++p) {
      if (!std::isnan(medians[p])) last = p;
    }
    return last;
  }

  // The summary: whether clean-up was found at all, then per selected writer its top erasers,
  // how much of its write survives (both definitions), and the causal check.
  void AddFindings(ReportBuilder& report) const {
    const std::vector<PrMatrix::Eraser> erasers = matrix_->Erasers(threshold_, min_share_);
    const std::string test = absl::StrCat("median PR < ", Num(threshold_),
                                          ", negative at most positions, writer not a bias and "
                                          ">= ", Pct(min_share_), " of the reader's input");
    if (erasers.empty()) {
      report.AddFinding(
          "no_cleanup",
          absl::StrCat("No strong clean-up found: no (writer, later node) pair passes the eraser "
                       "test (", test, ")."),
          {{"erasers", 0}, {"threshold", threshold_}, {"min_share", min_share_}});
    } else {
      const PrMatrix::Eraser& e = erasers[0];
      const std::string &w = nodes_[e.writer].name, &n = nodes_[e.node].name;
      report.AddFinding(
          "erasers",
          absl::StrCat(erasers.size(), " (writer, later node) pair",
                       erasers.size() == 1 ? " passes" : "s pass", " the eraser test (", test,
                       "); the strongest, by erased norm: ", n, " on ", w, "'s write (erases ",
                       Pct(-e.median), " of it, a part as large as ", Pct(e.erased_share), " of ",
                       n, "'s input)."),
          {{"erasers", static_cast<int64_t>(erasers.size())}, {"writer", w}, {"node", n},
           {"erased_share", e.erased_share}, {"median_pr", e.median}});
    }
    for (size_t r = 0; r < writers_.size(); ++r) {
      const WriterState& ws = state_[r];
      const std::string& wname = nodes_[writers_[r]].name;
      std::vector<PrMatrix::Eraser> mine;
      for (const PrMatrix::Eraser& e : erasers) {
        if (e.writer == writers_[r] && mine.size() < 3) mine.push_back(e);
      }
      if (mine.empty()) {
        report.AddFinding("writer", absl::StrCat("Selected writer ", wname, ": no later node "
                                                 "erases it by the eraser test."),
                          {{"writer", wname}});
      }
      for (const PrMatrix::Eraser& e : mine) {
        const std::string& n = nodes_[e.node].name;
        const std::string how =
            -e.median <= 1.1 ? absl::StrCat(n, " erases ", Pct(-e.median), " of ", wname, "'s write")
                           : absl::StrCat(n, " writes back ", Num(-e.median), " times the "
                                          "negative of ", wname, "'s write");
        report.AddFinding(
            "eraser",
            absl::StrCat(how, " (median PR ", Num(e.median), ", IQR ", Num(e.q25), " to ",
                         Num(e.q75), "; negative at ", Pct(e.frac_negative), " of positions; ",
                         wname, " is ", Pct(e.writer_share), " of ", n, "'s input)."),
            {{"writer", wname}, {"node", n}, {"median_pr", e.median}, {"q25", e.q25},
             {"q75", e.q75}, {"frac_negative", e.frac_negative},
             {"writer_share", e.writer_share}, {"erased_share", e.erased_share}});
      }
      // Survival to the end, both definitions.
      const std::vector<double> resid = Medians(ws.survival), own = Medians(ws.own),
                                own_c = Medians(ws.own_causal),
                                resid_c = Medians(ws.survival_causal);
      const size_t last = LastPoint(own);
      size_t first = 0;
      while (first < resid.size() && std::isnan(resid[first])) ++first;
      if (last < own.size() && first < resid.size()) {
        const std::string& end = points_[last].name;
        report.AddFinding(
            "survival",
            absl::StrCat(wname, "'s own share (1 + sum of later PR(node, ", wname, ")) is ",
                         Num(own[last]), " at ", end,
                         own[last] < 0.9   ? absl::StrCat(": ", Pct(1 - own[last]),
                                                          " of its write is cleaned up")
                         : own[last] > 1.1 ? ": later nodes add along its direction, not erase it"
                                           : ": its write survives",
                         "; PR(resid, ", wname, "), which also counts other nodes writing "
                         "along it, goes from ", Num(resid[first]), " at ", points_[first].name,
                         " to ", Num(resid[last]), " at ", end, "."),
            {{"writer", wname}, {"own_share_end", own[last]},
             {"resid_pr_start", resid[first]}, {"resid_pr_end", resid[last]}, {"end", end}});
      }
      // Causal confirmation: is the top eraser's erasure gone without the writer's value input?
      if (causal_ && !mine.empty()) {
        const PrMatrix::Eraser& e = mine[0];
        const QuantileSketch* c = CausalSketch(e.writer, e.node);
        if (c != nullptr && c->count()) {
          const double cm = c->Quantile(0.5);
          const bool confirmed = std::fabs(cm) < 0.5 * std::fabs(e.median);
          const std::string& n = nodes_[e.node].name;
          std::string text = absl::StrCat(
              "Causal check ", confirmed ? "confirms " : "does not confirm ", nodes_[e.node].name,
              " erasing ", wname, ": with ", wname,
              " removed from the value input of later layers, ", n, "'s median PR onto it goes "
              "from ", Num(e.median), " to ", Num(cm),
              confirmed ? " (the erasure reads " + wname + ")"
                        : " (the erasure does not run through " + wname + "'s value path)");
          std::vector<std::pair<std::string, Cell>> values = {
              {"writer", wname}, {"node", n}, {"median_pr", e.median},
              {"causal_median_pr", cm}, {"confirmed", confirmed ? 1 : 0}};
          if (last < own.size() && !std::isnan(own_c[last])) {
            absl::StrAppend(&text, "; ", wname, "'s own share at ", points_[last].name, " is ",
                            Num(own_c[last]), " instead of ", Num(own[last]));
            values.push_back({"own_share_end_causal", own_c[last]});
          }
          report.AddFinding("causal", text + ".", values);
        }
      }
      if (preset_ == "paper" && wname == "L0H2") AddPaperFindings(report, r, resid, resid_c);
    }
  }

  // The reference study's gelu-4l numbers (method.md) beside this run's, for --preset=paper.
  void AddPaperFindings(ReportBuilder& report, size_t r, const std::vector<double>& resid,
                        const std::vector<double>& resid_causal) const {
    static constexpr char kSource[] = "arXiv 2310.07325, gelu-4l, 300 prompts";
    static const std::pair<const char*, double> kErasers[] = {
        {"L2H2", -0.14}, {"L2H3", -0.03}, {"L2H4", -0.12},
        {"L2H5", -0.26}, {"L2H6", -0.17}, {"L2H7", -0.14}};
    std::vector<std::pair<std::string, Cell>> here, published;
    for (const auto& [node, pr] : kErasers) {
      published.push_back({node, pr});
      absl::StatusOr<int> n = FindNode(nodes_, node);
      const PrMatrix::Cell* c = n.ok() ? FindCell(writers_[r], *n) : nullptr;
      here.push_back({node, c && c->rest.count() ? Cell(c->rest.Quantile(0.5)) : Cell()});
    }
    report.AddFinding("paper_erasers",
                      "Reference: in gelu-4l, L2H2..L2H7 erase L0H2; their median PR onto "
                      "L0H2 here and there:",
                      here, published, kSource);
    static const std::pair<const char*, double> kSurvival[] = {
        {"mid0", 0.96}, {"post0", 1.04}, {"mid1", 1.01}, {"post1", 1.02},
        {"mid2", 0.10}, {"post2", 0.09}, {"post3", 0.05}};
    here.clear();
    published.clear();
    for (const auto& [point, pr] : kSurvival) {
      published.push_back({point, pr});
      Cell v;
      for (size_t p = 0; p < points_.size(); ++p) {
        if (points_[p].name == point && !std::isnan(resid[p])) v = Cell(resid[p]);
      }
      here.push_back({point, v});
    }
    published.push_back({"post3 causal", 0.48});
    for (size_t p = 0; p < points_.size(); ++p) {
      if (points_[p].name == "post3" && !std::isnan(resid_causal[p])) {
        here.push_back({"post3 causal", resid_causal[p]});
      }
    }
    report.AddFinding("paper_survival",
                      "Reference: in gelu-4l, PR(resid, L0H2) falls from about 1 to 0.10 at mid2 "
                      "(erased in layer 2) and rises back to 0.48 at post3 in the causal check:",
                      here, published, kSource);
  }

  const QuantileSketch* CausalSketch(int writer, int node) const {
    for (size_t r = 0; r < writers_.size(); ++r) {
      if (writers_[r] != writer) continue;
      for (size_t e = 0; e < state_[r].later.size(); ++e) {
        if (state_[r].later[e] == node) return &state_[r].causal[e];
      }
    }
    return nullptr;
  }

  absl::Status AnalyzeWriter(const PromptRun& run, const std::vector<Tensor>& outs, size_t r) {
    const Model& model = *context_->model;
    const ModelConfig& c = model.config;
    const int64_t T = run.num_tokens(), D = c.d_model, G = c.n_kv_heads;
    const Node& w = nodes_[writers_[r]];
    WriterState& ws = state_[r];
    // Survival (clean).
    for (size_t p = 0; p < points_.size(); ++p) {
      if (points_[p].stage < w.WriteStage()) continue;
      absl::StatusOr<const Tensor*> resid = run.store->Get(points_[p].hook);
      if (!resid.ok()) return resid.status();
      for (int64_t t = 0; t < T; ++t) {
        const double pr = ProjectionRatio((*resid)->row(t), outs[t].row(writers_[r]), D);
        (t == 0 ? ws.survival_bos : ws.survival)[p].Add(static_cast<float>(pr));
      }
    }
    // The writer's own share (positions >= 1).
    for (int64_t t = 1; t < T; ++t) {
      AddOwnShare(ws, [&](int node) { return outs[t].row(node); }, outs[t].row(writers_[r]), D,
                  ws.own);
    }
    // BOS split (heads only; at position 0 everything comes from BOS).
    if (bos_split_ && w.kind == NodeKind::kHead) {
      for (int64_t t = 1; t < T; ++t) {
        absl::StatusOr<BosSplit> split = SplitBos(*run.store, model, w.layer, w.head, t);
        if (!split.ok()) return split.status();
        ws.bos_share.Add(ProjectionRatio(split->from_bos.data(), outs[t].row(writers_[r]), D));
        for (size_t e = 0; e < ws.later.size(); ++e) {
          const float* a = outs[t].row(ws.later[e]);
          ws.on_bos_part[e].Add(static_cast<float>(ProjectionRatio(a, split->from_bos.data(), D)));
          ws.on_rest[e].Add(static_cast<float>(ProjectionRatio(a, split->rest.data(), D)));
        }
      }
    }
    if (!causal_) return absl::OkStatus();
    // Causal: remove the writer from every later layer's value input, rerun.
    Tensor h({T, D});
    for (int64_t t = 0; t < T; ++t) std::copy(outs[t].row(writers_[r]), outs[t].row(writers_[r]) + D, h.row(t));
    RunOptions o;
    o.logits = RunOptions::Logits::kNone;
    std::vector<std::string> hooks = NodeHooks(c);
    for (const ResidPoint& p : points_) hooks.push_back(p.hook);
    absl::StatusOr<HookFilter> f = HookFilter::Parse(absl::StrJoin(hooks, ","), AllHookNames(c));
    if (!f.ok()) return f.status();
    o.cache = *f;
    const Tensor* hp = &h;
    for (int l = 0; l < c.n_layers; ++l) {
      if (2 * l <= w.WriteStage()) continue;
      o.interventions[absl::StrCat("blocks.", l, ".hook_v_input")] = [hp, T, G, D](Tensor& v) {
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t g = 0; g < G; ++g) {
            float* row = v.ptr() + (t * G + g) * D;
            for (int64_t d = 0; d < D; ++d) row[d] -= hp->data[t * D + d];
          }
        }
      };
    }
    absl::StatusOr<RunResult> rerun = context_->transformer->Run(run.tokens, o);
    if (!rerun.ok()) return rerun.status();
    for (int64_t t = 1; t < T; ++t) {
      absl::StatusOr<Tensor> o2 = NodeOutputs(rerun->store, model, nodes_, t);
      if (!o2.ok()) return o2.status();
      for (size_t e = 0; e < ws.later.size(); ++e) {
        ws.causal[e].Add(static_cast<float>(ProjectionRatio(o2->row(ws.later[e]), h.row(t), D)));
      }
      AddOwnShare(ws, [&](int node) { return o2->row(node); }, h.row(t), D, ws.own_causal);
      for (size_t p = 0; p < points_.size(); ++p) {
        if (points_[p].stage < w.WriteStage()) continue;
        absl::StatusOr<const Tensor*> resid = rerun->store.Get(points_[p].hook);
        if (!resid.ok()) return resid.status();
        ws.survival_causal[p].Add(static_cast<float>(ProjectionRatio((*resid)->row(t), h.row(t), D)));
      }
    }
    return absl::OkStatus();
  }

  const AnalysisContext* context_ = nullptr;
  std::vector<Node> nodes_;
  std::vector<ResidPoint> points_;
  std::unique_ptr<PrMatrix> matrix_;
  std::vector<int> writers_;
  std::vector<WriterState> state_;
  double threshold_ = -0.1, min_share_ = 0.02;
  std::string preset_;
  bool causal_ = true, bos_split_ = true, auto_chosen_ = false;
  int k_ = 256;
  int64_t num_auto_ = 2;
};

}  // namespace
}  // namespace memlens

MEMLENS_REGISTER_PLUGIN(memlens::Erasure, "erasure", "1.0",
                        "Erasure detectors: activation (PR matrix), survival, causal, BOS, static")
