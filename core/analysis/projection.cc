#include "core/analysis/projection.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace memlens {

double ProjectionRatio(const float* a, const float* b, int64_t d) {
  double ab = 0, bb = 0;
  for (int64_t i = 0; i < d; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (bb == 0) return std::numeric_limits<double>::quiet_NaN();
  return ab / bb;
}

std::vector<ResidPoint> SurvivalPoints(const ModelConfig& config, const Node& writer) {
  std::vector<ResidPoint> out;
  for (const ResidPoint& p : MidPostPoints(config)) {
    if (p.stage >= writer.WriteStage()) out.push_back(p);
  }
  return out;
}

absl::StatusOr<std::vector<SurvivalPoint>> SurvivalCurve(const ActivationStore& store,
                                                         const Model& model, const Node& writer,
                                                         const float* writer_out,
                                                         int64_t position) {
  const int64_t D = model.config.d_model;
  std::vector<SurvivalPoint> curve;
  for (const ResidPoint& p : SurvivalPoints(model.config, writer)) {
    absl::StatusOr<const Tensor*> t = store.Get(p.hook);
    if (!t.ok()) return t.status();
    if (position < 0 || position >= (*t)->dim(0)) {
      return absl::OutOfRangeError(absl::StrCat("position ", position, " is outside ", p.hook));
    }
    curve.push_back({p.name, ProjectionRatio((*t)->row(position), writer_out, D)});
  }
  return curve;
}

PrMatrix::PrMatrix(std::vector<Node> nodes, std::vector<int> writers, int sketch_k)
    : nodes_(std::move(nodes)), writers_(std::move(writers)) {
  for (int w : writers_) {
    std::vector<Cell> row;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (nodes_[w].IsReadBy(nodes_[n])) {
        Cell c{w, static_cast<int>(n), QuantileSketch(sketch_k), QuantileSketch(sketch_k),
               QuantileSketch(sketch_k), QuantileSketch(sketch_k)};
        row.push_back(std::move(c));
      }
    }
    cells_.push_back(std::move(row));
  }
}

void PrMatrix::AddPosition(const Tensor& outputs, int64_t position) {
  const int64_t D = outputs.dim(1);
  // |input| of a reader at each read stage: the norm of the sum of the nodes written before it
  // (the nodes sum to the residual stream exactly).
  int max_stage = 0;
  for (const Node& n : nodes_) max_stage = std::max(max_stage, n.ReadStage());
  std::vector<double> acc(D, 0.0), input_norm(max_stage + 1, 0.0);
  for (int s = 0; s <= max_stage; ++s) {
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (nodes_[n].WriteStage() != s - 1) continue;
      const float* row = outputs.row(static_cast<int64_t>(n));
      for (int64_t d = 0; d < D; ++d) acc[d] += row[d];
    }
    double ss = 0;
    for (double v : acc) ss += v * v;
    input_norm[s] = std::sqrt(ss);
  }
  for (size_t r = 0; r < writers_.size(); ++r) {
    const float* w = outputs.row(writers_[r]);
    double ww = 0;
    for (int64_t d = 0; d < D; ++d) ww += static_cast<double>(w[d]) * w[d];
    for (Cell& c : cells_[r]) {
      const double pr = ProjectionRatio(outputs.row(c.node), w, D);
      if (position == 0) {
        c.bos.Add(static_cast<float>(pr));
        continue;
      }
      c.rest.Add(static_cast<float>(pr));
      const double in = input_norm[nodes_[c.node].ReadStage()];
      const double share = in > 0 ? std::sqrt(ww) / in : 0.0;
      c.share.Add(static_cast<float>(share));
      if (!std::isnan(pr)) c.erased.Add(static_cast<float>(-pr * share));
    }
  }
}

void PrMatrix::AddSample(int writer_row, int node, double pr, bool bos) {
  for (Cell& c : cells_[writer_row]) {
    if (c.node == node) {
      (bos ? c.bos : c.rest).Add(static_cast<float>(pr));
      return;
    }
  }
}

void PrMatrix::Merge(const PrMatrix& other) {
  for (size_t r = 0; r < cells_.size() && r < other.cells_.size(); ++r) {
    for (size_t i = 0; i < cells_[r].size() && i < other.cells_[r].size(); ++i) {
      cells_[r][i].rest.Merge(other.cells_[r][i].rest);
      cells_[r][i].bos.Merge(other.cells_[r][i].bos);
      cells_[r][i].share.Merge(other.cells_[r][i].share);
      cells_[r][i].erased.Merge(other.cells_[r][i].erased);
    }
  }
}

PrMatrix::Eraser PrMatrix::Summarize(const Cell& c) {
  Eraser e;
  e.writer = c.writer;
  e.node = c.node;
  e.samples = c.rest.count();
  if (e.samples == 0) return e;
  e.median = c.rest.Quantile(0.5);
  e.q25 = c.rest.Quantile(0.25);
  e.q75 = c.rest.Quantile(0.75);
  e.frac_negative = c.rest.FractionBelowZero();
  e.writer_share = c.share.count() ? c.share.Quantile(0.5) : 0.0;
  e.erased_share = c.erased.count() ? c.erased.Quantile(0.5) : 0.0;
  return e;
}

void PrMatrix::Save(StateWriter& w) const {
  w.U64(cells_.size());
  for (const auto& row : cells_) {
    w.U64(row.size());
    for (const Cell& c : row) {
      w.Sketch(c.rest);
      w.Sketch(c.bos);
      w.Sketch(c.share);
      w.Sketch(c.erased);
    }
  }
}

bool PrMatrix::Load(StateReader& r) {
  if (!r.Expect(cells_.size(), "PR matrix writers")) return false;
  for (auto& row : cells_) {
    if (!r.Expect(row.size(), "PR matrix row length")) return false;
    for (Cell& c : row) {
      if (!r.Sketch(&c.rest) || !r.Sketch(&c.bos) || !r.Sketch(&c.share) ||
          !r.Sketch(&c.erased)) {
        return false;
      }
    }
  }
  return true;
}

std::vector<PrMatrix::Eraser> PrMatrix::Erasers(double threshold, double min_share) const {
  std::vector<Eraser> out;
  for (const auto& row : cells_) {
    for (const Cell& c : row) {
      if (c.rest.count() == 0 || nodes_[c.writer].kind == NodeKind::kAttnBias) continue;
      const Eraser e = Summarize(c);
      if (e.median < threshold && e.frac_negative > 0.5 && e.writer_share >= min_share) {
        out.push_back(e);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Eraser& a, const Eraser& b) {
    return a.erased_share != b.erased_share ? a.erased_share > b.erased_share : a.median < b.median;
  });
  return out;
}

absl::StatusOr<BosSplit> SplitBos(const ActivationStore& store, const Model& model, int layer,
                                  int head, int64_t position) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model, H = c.n_heads, G = c.n_kv_heads, dh = c.d_head;
  const std::string p = absl::StrCat("blocks.", layer, ".attn.");
  absl::StatusOr<const Tensor*> pattern = store.Get(p + "hook_pattern");
  if (!pattern.ok()) return pattern.status();
  absl::StatusOr<const Tensor*> v = store.Get(p + "hook_v");
  if (!v.ok()) return v.status();
  absl::StatusOr<const Tensor*> result = store.Get(p + "hook_result");
  if (!result.ok()) return result.status();
  const int64_t T = (*v)->dim(0);
  if (position < 0 || position >= T) {
    return absl::OutOfRangeError(absl::StrCat("position ", position, " is outside the prompt"));
  }
  const int64_t g = head / (H / G);
  const double a = (*pattern)->data[(head * T + position) * T + 0];
  const float* v0 = (*v)->ptr() + g * dh;  // position 0
  const float* W_O = model.weights.layers[layer].W_O.ptr() + head * dh * D;
  BosSplit split;
  split.from_bos.assign(D, 0.0f);
  split.rest.assign(D, 0.0f);
  const float* res = (*result)->ptr() + (position * H + head) * D;
  for (int64_t d = 0; d < D; ++d) {
    double acc = 0;
    for (int64_t e = 0; e < dh; ++e) acc += static_cast<double>(v0[e]) * W_O[e * D + d];
    split.from_bos[d] = static_cast<float>(a * acc);
    split.rest[d] = res[d] - split.from_bos[d];
  }
  return split;
}

}  // namespace memlens
