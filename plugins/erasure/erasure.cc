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
// Selected writers: --erasure_writer (e.g. L0H2), or automatically, after the first prompt, the
// --erasure_num_writers heads/MLPs (with later readers) whose most negative median PR from a
// later node is lowest (ties: largest mean output norm).
// Memory: sketches only (bounded: k * log(n / k) floats each), independent of the dataset.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/analysis/nodes.h"
#include "core/analysis/plugin_support.h"
#include "core/analysis/projection.h"
#include "core/analysis/sketch.h"
#include "core/analysis/static_erasure.h"
#include "core/plugin/plugin_api.h"

ABSL_FLAG(double, erasure_threshold, -0.1,
          "erasure: a (writer, node) pair is an eraser when its median PR is below this and PR "
          "< 0 in most samples.");
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
    const int64_t T = run.num_tokens(), D = model.config.d_model;
    std::vector<Tensor> outs;  // per position [N, D]
    for (int64_t t = 0; t < T; ++t) {
      absl::StatusOr<Tensor> o = NodeOutputs(*run.store, model, nodes_, t);
      if (!o.ok()) return o.status();
      matrix_->AddPosition(*o, t);
      outs.push_back(std::move(*o));
    }
    if (writers_.empty()) {
      // Auto, after the first prompt: the heads/MLPs with the strongest erasure evidence so far
      // (the most negative median PR of any later node onto them); ties and prompts without
      // samples fall back to the largest mean output norm.
      std::vector<std::tuple<double, double, int>> scores;
      for (int n : ComponentNodes(nodes_)) {
        double min_median = 0;
        bool has_reader = false;
        for (const auto& c : matrix_->cells()[n]) {
          has_reader = true;
          if (c.rest.count()) min_median = std::min(min_median, c.rest.Quantile(0.5));
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
        scores.emplace_back(min_median, -sum / std::max<int64_t>(1, cnt), n);
      }
      std::sort(scores.begin(), scores.end());
      std::vector<int> chosen;
      for (size_t i = 0; i < scores.size() && static_cast<int64_t>(i) < num_auto_; ++i) {
        chosen.push_back(std::get<2>(scores[i]));
      }
      SetWriters(chosen);
      auto_chosen_ = true;
    }
    for (size_t r = 0; r < writers_.size(); ++r) {
      absl::Status s = AnalyzeWriter(run, outs, r);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Finish(ReportBuilder& report) override {
    report.SetDescription(absl::StrCat(
        "Where components erase each other's output. PR(a, b) = a.b / |b|^2 of a later node's "
        "output a onto a writer's output b at the same position: median, quartiles and share "
        "of negative samples over (prompt, position) samples at positions >= 1 (BOS apart). "
        "Eraser: median PR < ", threshold_, " and PR < 0 in most samples."));
    // Activation detector.
    TableBuilder er = report.AddTable(
        "erasers",
        {{"writer", ColumnType::kString}, {"node", ColumnType::kString},
         {"median_pr", ColumnType::kFloat, 3}, {"q25", ColumnType::kFloat, 3},
         {"q75", ColumnType::kFloat, 3}, {"frac_negative", ColumnType::kFloat, 3},
         {"samples", ColumnType::kInt}, {"bos_median_pr", ColumnType::kFloat, 3},
         {"causal_median_pr", ColumnType::kFloat, 3}},
        "activation detector: pairs below the threshold (causal: value input of the writer "
        "removed, for selected writers)");
    const Cell none;
    for (const PrMatrix::Eraser& e : matrix_->Erasers(threshold_)) {
      const QuantileSketch* bos = nullptr;
      for (const auto& c : matrix_->cells()[e.writer]) {
        if (c.node == e.node) bos = &c.bos;
      }
      const QuantileSketch* causal = CausalSketch(e.writer, e.node);
      er.AddRow({nodes_[e.writer].name, nodes_[e.node].name, e.median, e.q25, e.q75,
                 e.frac_negative, e.samples,
                 bos && bos->count() ? Cell(bos->Quantile(0.5)) : none,
                 causal && causal->count() ? Cell(causal->Quantile(0.5)) : none},
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
                     "median PR(node, writer) over positions >= 1", "writer", "node");
    // Per selected writer.
    std::vector<std::string> point_names;
    for (const ResidPoint& p : points_) point_names.push_back(p.name);
    SeriesBuilder survival = report.AddCategoricalSeries(
        "survival", point_names, "residual point", "median PR(resid, writer)",
        "survival curves (clean, causal: writer removed from later value inputs, BOS)");
    for (size_t r = 0; r < writers_.size(); ++r) {
      const WriterState& ws = state_[r];
      const std::string& wname = nodes_[writers_[r]].name;
      std::vector<double> clean, causal, bos;
      for (size_t p = 0; p < points_.size(); ++p) {
        clean.push_back(ws.survival[p].count() ? ws.survival[p].Quantile(0.5) : std::nan(""));
        causal.push_back(ws.survival_causal[p].count() ? ws.survival_causal[p].Quantile(0.5)
                                                       : std::nan(""));
        bos.push_back(ws.survival_bos[p].count() ? ws.survival_bos[p].Quantile(0.5)
                                                 : std::nan(""));
      }
      survival.AddLine(wname, clean);
      if (causal_) survival.AddLine(wname + " causal", causal);
      survival.AddLine(wname + " BOS", bos);

      TableBuilder t = report.AddTable(
          absl::StrCat("writer_", wname),
          {{"node", ColumnType::kString}, {"median_pr", ColumnType::kFloat, 3},
           {"q25", ColumnType::kFloat, 3}, {"q75", ColumnType::kFloat, 3},
           {"frac_negative", ColumnType::kFloat, 3}, {"bos_median_pr", ColumnType::kFloat, 3},
           {"causal_median_pr", ColumnType::kFloat, 3},
           {"causal_frac_negative", ColumnType::kFloat, 3},
           {"pr_on_bos_part", ColumnType::kFloat, 3}, {"pr_on_rest", ColumnType::kFloat, 3}},
          absl::StrCat("every node after ", wname, ": PR onto it (clean, BOS position, causal) "
                       "and onto the parts of its output from BOS and from the rest"));
      for (size_t e = 0; e < ws.later.size(); ++e) {
        const int node = ws.later[e];
        const PrMatrix::Cell* cell = nullptr;
        for (const auto& c : matrix_->cells()[writers_[r]]) {
          if (c.node == node) cell = &c;
        }
        auto med = [&](const QuantileSketch& s) { return s.count() ? Cell(s.Quantile(0.5)) : none; };
        const bool eraser = cell && cell->rest.count() && cell->rest.Quantile(0.5) < threshold_ &&
                            cell->rest.FractionBelowZero() > 0.5;
        t.AddRow({nodes_[node].name, cell ? med(cell->rest) : none,
                  cell && cell->rest.count() ? Cell(cell->rest.Quantile(0.25)) : none,
                  cell && cell->rest.count() ? Cell(cell->rest.Quantile(0.75)) : none,
                  cell && cell->rest.count() ? Cell(cell->rest.FractionBelowZero()) : none,
                  cell ? med(cell->bos) : none, med(ws.causal[e]),
                  ws.causal[e].count() ? Cell(ws.causal[e].FractionBelowZero()) : none,
                  med(ws.on_bos_part[e]), med(ws.on_rest[e])},
                 eraser ? "eraser" : "");
      }
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
        auto_chosen_ ? " (automatic: most negative median PR from a later node on the first prompt)" : "",
        ". Sketch size k = ", k_, ". Causal detector: ", causal_ ? "on" : "off",
        "; the writer's clean output is subtracted from every kv head's value input of every "
        "later layer at once (ln1 scale frozen), so chains of erasers are removed together."));
    return absl::OkStatus();
  }

 private:
  struct WriterState {
    std::vector<int> later;  // nodes that read the writer
    std::vector<QuantileSketch> causal, on_bos_part, on_rest;       // per later node
    std::vector<QuantileSketch> survival, survival_causal, survival_bos;  // per point
    RunningStats bos_share;
  };

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
      state_.push_back(std::move(s));
    }
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
  double threshold_ = -0.1;
  bool causal_ = true, bos_split_ = true, auto_chosen_ = false;
  int k_ = 256;
  int64_t num_auto_ = 2;
};

}  // namespace
}  // namespace memlens

MEMLENS_REGISTER_PLUGIN(memlens::Erasure, "erasure", "1.0",
                        "Erasure detectors: activation (PR matrix), survival, causal, BOS, static")
