// Projection ratios (method.md): PR(a, b) = a . b / ||b||^2, survival curves, the PR matrix
// over (writer, later node) pairs aggregated with quantile sketches, and the BOS split.
#ifndef MEMLENS_CORE_ANALYSIS_PROJECTION_H_
#define MEMLENS_CORE_ANALYSIS_PROJECTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/analysis/nodes.h"
#include "core/analysis/sketch.h"
#include "core/analysis/state_codec.h"
#include "core/model/weights.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"

namespace memlens {

// a . b / ||b||^2 in double; NaN when ||b|| == 0 (no direction to project on).
double ProjectionRatio(const float* a, const float* b, int64_t d);

// PR(resid_point, writer) at every mid/post residual point that contains the writer's output
// (stage >= the writer's write stage), at `position`. Needs the points' hooks in the store.
struct SurvivalPoint {
  std::string point;  // "mid2"
  double pr = 0;
};
absl::StatusOr<std::vector<SurvivalPoint>> SurvivalCurve(const ActivationStore& store,
                                                         const Model& model, const Node& writer,
                                                         const float* writer_out,
                                                         int64_t position);
// The residual points SurvivalCurve reports for this writer.
std::vector<ResidPoint> SurvivalPoints(const ModelConfig& config, const Node& writer);

// Per (writer, later node) pair, the distribution of PR(node output, writer output) over
// (prompt, position) samples, kept in sketches. Position 0 (BOS) samples go to separate
// sketches and are never mixed with the rest.
class PrMatrix {
 public:
  // `writers` are indices into `nodes`; each writer's columns are the nodes that read it
  // (Node::IsReadBy), i.e. that write later in the stream.
  PrMatrix(std::vector<Node> nodes, std::vector<int> writers, int sketch_k = 256);

  // outputs: NodeOutputs at `position` ([num_nodes, D]).
  void AddPosition(const Tensor& outputs, int64_t position);
  // Adds PR(node_out, writer_out) for one pair (e.g. after a causal intervention).
  void AddSample(int writer_row, int node, double pr, bool bos);
  void Merge(const PrMatrix& other);
  // Mergeable plugin state: every cell's sketches. Load reads into this matrix (same nodes,
  // writers and sketch size; anything else is an error in `r`).
  void Save(StateWriter& w) const;
  bool Load(StateReader& r);

  struct Cell {
    int writer = -1, node = -1;  // indices into nodes()
    QuantileSketch rest, bos;    // PR(node, writer) at positions >= 1, and at position 0
    // Positions >= 1: share = |writer| / |node's input| (the residual the node reads), and
    // erased = -PR * share = -(node . writer) / (|writer| |node's input|), the part of the
    // node's input it removes along the writer's direction.
    QuantileSketch share, erased;
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int>& writers() const { return writers_; }
  // cells()[writer_row] lists the writer's later nodes in stream order.
  const std::vector<std::vector<Cell>>& cells() const { return cells_; }

  // One pair's summary (positions >= 1): PR median and quartiles, share of negative samples,
  // and the medians of `share` and `erased` (Cell).
  struct Eraser {
    int writer = -1, node = -1;
    double median = 0, q25 = 0, q75 = 0, frac_negative = 0;
    double writer_share = 0, erased_share = 0;
    int64_t samples = 0;
  };
  static Eraser Summarize(const Cell& cell);
  // The activation detector: pairs whose non-BOS median PR < threshold, with PR < 0 in more
  // than half the samples, whose writer's median share of the node's input is at least
  // `min_share` (a ratio onto a negligible write is not erasure that matters), and whose
  // writer is not a bias (L{l}.b_O writes the same vector at every position: it carries no
  // information for later layers to use and free); largest median erased share first (ties:
  // most negative median PR).
  std::vector<Eraser> Erasers(double threshold, double min_share = 0) const;

 private:
  std::vector<Node> nodes_;
  std::vector<int> writers_;
  std::vector<std::vector<Cell>> cells_;
};

// The BOS split of head L{layer}H{head}'s output at query position i:
//   from_bos = pattern[h, i, 0] * v[0, g(h)] @ W_O[h];   rest = result[i, h] - from_bos.
// Needs blocks.l.attn.hook_pattern, hook_v and hook_result in the store. At i == 0 all of the
// output comes from BOS.
struct BosSplit {
  std::vector<float> from_bos, rest;  // [D] each
};
absl::StatusOr<BosSplit> SplitBos(const ActivationStore& store, const Model& model, int layer,
                                  int head, int64_t position);

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_PROJECTION_H_
