// adversarial: the adversarial example finder of method.md. Scans the dataset for positions
// where a node's DLA is large but its total effect (ablation; resample by default) is near
// zero or of the other sign: the places where reading DLA as "this node causes that logit"
// is wrong. Prints the top --adversarial_top positions as prompt text with the target (and
// contrast) token.
//
// Score of a (prompt, position, node) sample with DLA a and total effect e:
//   gap = |a| - sign(a) * e     (large when e is ~0 or has the other sign; = |a| when e == 0)
// and only samples with |a| >= --adversarial_min_dla and gap >= |a| / 2 count (the total effect
// keeps less than half of the DLA). At most --adversarial_per_node rows per node, and nodes in
// --adversarial_exclude (default M0, the de facto embedding of GPT-2-style models) are skipped.
// Cost: one ablated rerun per analysed node with a candidate position (|DLA| >= the minimum)
// and prompt, plus one donor run when any node has one (restrict with --adversarial_nodes);
// none when cleanup_dla ran the same ablation before it (core/analysis/shared_ablation.h: same
// donors by default). Memory: a top-N list with each entry's text (mergeable state). Ties in
// gap are broken by (prompt, position, node), so the list does not depend on how the dataset
// was split.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/analysis/ablation.h"
#include "core/analysis/dla.h"
#include "core/analysis/nodes.h"
#include "core/analysis/plugin_support.h"
#include "core/analysis/shared_ablation.h"
#include "core/analysis/state_codec.h"
#include "core/plugin/plugin_api.h"
#include "core/report/token_text.h"

ABSL_FLAG(int64_t, adversarial_top, 20, "adversarial: how many positions to report.");
ABSL_FLAG(std::string, adversarial_nodes, "auto",
          "adversarial: comma-separated nodes to scan (e.g. L0H2); auto = every head and MLP.");
ABSL_FLAG(std::string, adversarial_exclude, "M0",
          "adversarial: nodes never scanned (comma-separated, or empty). Default M0: in "
          "GPT-2-style models (gelu-4l too) the first MLP acts as an extended embedding, so "
          "ablating it changes what token the model sees and tops every list without telling "
          "anything about DLA.");
ABSL_FLAG(int64_t, adversarial_per_node, 3,
          "adversarial: at most this many positions per node in the list (0: no cap), so one "
          "node cannot hide every other.");
ABSL_FLAG(double, adversarial_min_dla, 0.5,
          "adversarial: only positions where |DLA| of the node is at least this count.");
ABSL_FLAG(std::string, adversarial_ablation, "resample",
          "adversarial: ablation for the total effect: resample, zero or mean.");
ABSL_FLAG(int64_t, adversarial_seed, -1,
          "adversarial: seed for resample donors; -1 = derive from the run's --seed (the same "
          "donors as cleanup_dla, whose reruns are then reused).");
ABSL_FLAG(std::string, adversarial_positions, "all",
          "adversarial: positions to scan: all (>= 1 with a target), last, or a list like -1.");
ABSL_FLAG(int64_t, adversarial_context, 24,
          "adversarial: tokens of prompt text shown before each position.");

namespace memlens {
namespace {

class Adversarial : public AnalysisPlugin {
 public:
  int ReportOrder() const override { return 40; }
  std::vector<std::pair<std::string, std::string>> PresetFlags(
      const std::string& preset) const override {
    if (preset == "paper") return {{"adversarial_nodes", "L0H2"}};
    return {};
  }

  std::vector<std::string> RequiredHooks(const ModelConfig& config) const override {
    return TotalEffectHooks(config);  // the nodes' outputs and the final scale included
  }

  absl::Status Begin(const AnalysisContext& context) override {
    context_ = &context;
    nodes_ = ListNodes(*context.model);
    absl::StatusOr<std::vector<int>> sel = ParseNodeList(
        absl::GetFlag(FLAGS_adversarial_nodes), nodes_, "adversarial_nodes", ComponentNodes(nodes_));
    if (!sel.ok()) return sel.status();
    selected_.clear();
    const std::string exclude_flag = absl::GetFlag(FLAGS_adversarial_exclude);
    absl::StatusOr<std::vector<int>> exclude =
        exclude_flag.empty() ? std::vector<int>()
                             : ParseNodeList(exclude_flag, nodes_, "adversarial_exclude", {});
    if (!exclude.ok()) return exclude.status();
    for (int n : *sel) {
      if (std::find(exclude->begin(), exclude->end(), n) == exclude->end()) {
        selected_.push_back(n);
      } else {
        excluded_.push_back(nodes_[n].name);
      }
    }
    per_node_ = absl::GetFlag(FLAGS_adversarial_per_node);
    absl::StatusOr<PositionSpec> spec =
        ParsePositionSpec(absl::GetFlag(FLAGS_adversarial_positions), "adversarial_positions");
    if (!spec.ok()) return spec.status();
    spec_ = *spec;
    absl::StatusOr<AblationMode> mode =
        ParseAblationMode(absl::GetFlag(FLAGS_adversarial_ablation));
    if (!mode.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--adversarial_ablation: ", mode.status().message()));
    }
    mode_ = *mode;
    const int64_t seed = absl::GetFlag(FLAGS_adversarial_seed);
    seed_ = seed >= 0 ? static_cast<uint64_t>(seed) : SharedResampleSeed(context.settings.seed);
    ablator_ = std::make_unique<SharedAblator>(context, nodes_, mode_, seed_);
    top_ = std::max<int64_t>(1, absl::GetFlag(FLAGS_adversarial_top));
    min_dla_ = absl::GetFlag(FLAGS_adversarial_min_dla);
    context_tokens_ = std::max<int64_t>(1, absl::GetFlag(FLAGS_adversarial_context));
    return absl::OkStatus();
  }

  absl::Status AnalyzePrompt(const PromptRun& run) override {
    const Model& model = *context_->model;
    const int64_t T = run.num_tokens();
    const std::vector<int64_t> positions = SelectPositions(spec_, T, run.targets, false);
    if (!ablator_->available()) return absl::OkStatus();
    std::vector<DlaDirection> dirs;
    for (int64_t i : positions) {
      absl::StatusOr<DlaDirection> d = MakeDlaDirection(model, run.targets[i], run.contrasts[i]);
      if (!d.ok()) return d.status();
      dirs.push_back(*d);
    }
    absl::StatusOr<const Tensor*> fscale = run.store->Get("ln_final.hook_scale");
    if (!fscale.ok()) return fscale.status();
    // Every node's DLA first: only nodes with a candidate position (|DLA| >= the minimum) need
    // an ablation run (and the donor run is needed only if some node does).
    std::vector<std::vector<double>> dlas(selected_.size());
    std::vector<size_t> to_ablate;
    for (size_t k = 0; k < selected_.size(); ++k) {
      absl::StatusOr<Tensor> h = NodeOutputAll(*run.store, model, nodes_[selected_[k]]);
      if (!h.ok()) return h.status();
      bool any = false;
      for (size_t p = 0; p < positions.size(); ++p) {
        dlas[k].push_back(Dla(h->row(positions[p]), (*fscale)->data[positions[p]], dirs[p]));
        any |= std::fabs(dlas[k].back()) >= min_dla_;
      }
      if (any) to_ablate.push_back(k);
    }
    for (size_t k : to_ablate) {
      const Node& node = nodes_[selected_[k]];
      const std::vector<double>& dla = dlas[k];
      absl::StatusOr<std::vector<double>> effect = ablator_->Effect(run, selected_[k], positions);
      if (!effect.ok()) return effect.status();
      for (size_t p = 0; p < positions.size(); ++p) {
        if (std::fabs(dla[p]) < min_dla_) continue;
        ++candidates_;
        Found f;
        f.gap = std::fabs(dla[p]) - (dla[p] > 0 ? 1 : -1) * (*effect)[p];
        f.dla = dla[p];
        f.effect = (*effect)[p];
        f.node_index = selected_[k];
        f.node = node.name;
        f.prompt = run.index;
        f.position = positions[p];
        // Adversarial only when the total effect keeps less than half of the DLA.
        if (f.gap < 0.5 * std::fabs(f.dla)) continue;
        if (static_cast<int64_t>(found_.size()) >= top_ && !Before(f, found_.back())) continue;
        const int64_t i = positions[p];
        std::string text;
        for (int64_t j = std::max<int64_t>(0, i - context_tokens_ + 1); j <= i; ++j) {
          text += Piece(run, j);
        }
        f.text = text;
        f.target = TokenText(run, run.targets[i]);
        f.contrast = run.contrasts[i] >= 0 ? TokenText(run, run.contrasts[i]) : "";
        Keep(std::move(f));
      }
    }
    return absl::OkStatus();
  }

  bool Mergeable() const override { return true; }

  absl::StatusOr<std::string> SaveState() const override {
    StateWriter w;
    w.U64(kStateVersion);
    w.I64(candidates_);
    w.U64(found_.size());
    for (const Found& f : found_) {
      w.F64(f.gap);
      w.F64(f.dla);
      w.F64(f.effect);
      w.I64(f.node_index);
      w.I64(f.prompt);
      w.I64(f.position);
      w.Str(f.text);
      w.Str(f.target);
      w.Str(f.contrast);
    }
    return w.Take();
  }

  absl::Status MergeState(absl::string_view bytes) override {
    StateReader r(bytes, "adversarial");
    r.Expect(kStateVersion, "state version");
    int64_t candidates = 0;
    uint64_t n = 0;
    r.I64(&candidates);
    r.U64(&n);
    if (r.ok() && (candidates < 0 || n > static_cast<uint64_t>(top_))) {
      r.Fail(absl::StrCat(n, " positions for a top list of ", top_));
    }
    std::vector<Found> found;
    for (uint64_t i = 0; r.ok() && i < n; ++i) {
      Found f;
      r.F64(&f.gap);
      r.F64(&f.dla);
      r.F64(&f.effect);
      r.I64(&f.node_index);
      r.I64(&f.prompt);
      r.I64(&f.position);
      r.Str(&f.text);
      r.Str(&f.target);
      r.Str(&f.contrast);
      if (r.ok() && (f.node_index < 0 || f.node_index >= static_cast<int64_t>(nodes_.size()))) {
        r.Fail(absl::StrCat("node index ", f.node_index, " outside the model's ", nodes_.size(),
                            " nodes"));
      }
      if (r.ok()) f.node = nodes_[f.node_index].name;
      found.push_back(std::move(f));
    }
    if (absl::Status s = r.Finish(); !s.ok()) return s;
    candidates_ += candidates;
    for (Found& f : found) Keep(std::move(f));
    return absl::OkStatus();
  }

  absl::Status Finish(ReportBuilder& report) override {
    report.SetDescription(absl::StrCat(
        "Positions where a node's DLA is large (|DLA| >= ", min_dla_,
        ") but its total effect (", AblationModeName(mode_),
        " ablation) keeps less than half of it or has the other sign, ranked by gap = |DLA| - "
        "sign(DLA) * total effect. Text: the prompt up to and including the position; the model predicts "
        "the target (vs the contrast) next, shown quoted with escapes (\" \" is a space, \"\\n\" a "
        "newline)."));
    TableBuilder t = report.AddTable(
        "adversarial",
        {{"prompt", ColumnType::kInt}, {"position", ColumnType::kInt},
         {"node", ColumnType::kString}, {"dla", ColumnType::kFloat, 3},
         {"total_effect", ColumnType::kFloat, 3}, {"gap", ColumnType::kFloat, 3},
         {"text", ColumnType::kString}, {"target", ColumnType::kString},
         {"contrast", ColumnType::kString}});
    for (const Found& f : found_) {
      const bool opposite = (f.dla > 0) != (f.effect > 0) && f.effect != 0;
      t.AddRow({f.prompt, f.position, f.node, f.dla, f.effect, f.gap, f.text,
                QuotedToken(f.target), f.contrast.empty() ? "" : QuotedToken(f.contrast)},
               opposite ? "total effect has the other sign" : "");
    }
    // The summary: the best example of each of the first three nodes in the list.
    std::vector<std::string> stated;
    for (const Found& f : found_) {
      if (stated.size() == 3) break;
      if (std::find(stated.begin(), stated.end(), f.node) != stated.end()) continue;
      stated.push_back(f.node);
      std::string text = f.text;
      if (text.size() > 60) text = "..." + text.substr(text.size() - 57);
      report.AddFinding(
          "adversarial",
          absl::StrCat("\"", text, "\" -> ", QuotedToken(f.target),
                       f.contrast.empty() ? "" : absl::StrCat(" (vs ", QuotedToken(f.contrast), ")"),
                       ": ",
                       f.node, " has DLA ", absl::StrFormat("%.3g", f.dla), " but total effect ",
                       absl::StrFormat("%.3g", f.effect), " (prompt ", f.prompt, ", position ",
                       f.position, ")."),
          {{"node", f.node}, {"dla", f.dla}, {"total_effect", f.effect}, {"prompt", f.prompt},
           {"position", f.position}, {"text", f.text}, {"target", f.target},
           {"contrast", f.contrast}});
    }
    if (found_.empty()) {
      report.AddFinding("no_adversarial",
                        absl::StrCat("No adversarial example: no scanned node with |DLA| >= ",
                                     min_dla_, " had a total effect below half of it or of the "
                                     "other sign."),
                        {{"candidates", candidates_}});
    }
    report.AddNote(absl::StrCat(candidates_, " (prompt, position, node) samples had |DLA| >= ",
                                min_dla_, "; ", found_.size(), " shown",
                                per_node_ > 0 ? absl::StrCat(", at most ", per_node_, " per node")
                                              : "",
                                excluded_.empty() ? "" : absl::StrCat("; not scanned: ",
                                                                      absl::StrJoin(excluded_, ", ")),
                                "."));
    if (!ablator_->available()) report.AddNote(kNoDonorNote);
    return absl::OkStatus();
  }

 private:
  static constexpr uint64_t kStateVersion = 1;

  struct Found {
    double gap = 0, dla = 0, effect = 0;
    std::string node, text, target, contrast;
    int64_t node_index = 0, prompt = 0, position = 0;
  };
  // The list's order: larger gap first, ties by (prompt, position, node): a total order, so
  // the top list is the same however the prompts were split.
  static bool Before(const Found& a, const Found& b) {
    if (a.gap != b.gap) return a.gap > b.gap;
    if (a.prompt != b.prompt) return a.prompt < b.prompt;
    if (a.position != b.position) return a.position < b.position;
    return a.node_index < b.node_index;
  }
  // Inserts f in order (Before), then keeps each node's best per_node_ entries and the best
  // top_ overall. The same rule for each prompt and for each merged shard's list gives the
  // one-process list: an entry a shard dropped has per_node_ better entries of its node, or
  // top_ better entries, in that shard already.
  void Keep(Found f) {
    found_.insert(std::upper_bound(found_.begin(), found_.end(), f, Before), std::move(f));
    if (per_node_ > 0) {
      std::map<int64_t, int64_t> per_node;  // node index -> entries kept
      std::vector<Found> kept;
      for (Found& e : found_) {
        if (++per_node[e.node_index] <= per_node_) kept.push_back(std::move(e));
      }
      found_ = std::move(kept);
    }
    if (static_cast<int64_t>(found_.size()) > top_) found_.pop_back();
  }
  static std::string Piece(const PromptRun& run, int64_t j) {
    if (j < static_cast<int64_t>(run.pieces.size())) return run.pieces[j];
    return absl::StrCat("[", run.tokens[j], "]");
  }
  // The text of a token id: a piece of this prompt with that id, or "[id]".
  static std::string TokenText(const PromptRun& run, int id) {
    for (size_t j = 0; j < run.tokens.size() && j < run.pieces.size(); ++j) {
      if (run.tokens[j] == id) return run.pieces[j];
    }
    return absl::StrCat("[", id, "]");
  }

  const AnalysisContext* context_ = nullptr;
  std::vector<Node> nodes_;
  std::vector<int> selected_;
  PositionSpec spec_;
  AblationMode mode_ = AblationMode::kResample;
  uint64_t seed_ = 0;
  std::unique_ptr<SharedAblator> ablator_;
  int64_t top_ = 20, context_tokens_ = 24, candidates_ = 0, per_node_ = 3;
  std::vector<std::string> excluded_;  // --adversarial_exclude's nodes among the selection
  double min_dla_ = 0.5;
  std::vector<Found> found_;
};

}  // namespace
}  // namespace memlens

MEMLENS_REGISTER_PLUGIN(memlens::Adversarial, "adversarial", "1.0",
                        "Adversarial examples for DLA: large DLA, small or opposite total effect")
