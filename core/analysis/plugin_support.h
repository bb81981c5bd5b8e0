// Small helpers shared by the analysis plugins (dla, cleanup_dla, erasure, adversarial):
// position selection, node lists, seeds, and running statistics (mergeable). Plain C++ over the core headers, so plugins can compile it in.
#ifndef MEMLENS_CORE_ANALYSIS_PLUGIN_SUPPORT_H_
#define MEMLENS_CORE_ANALYSIS_PLUGIN_SUPPORT_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/analysis/nodes.h"

namespace memlens {

// Which positions of a prompt to analyse:
//   "all"          every position >= 1 (position 0, BOS, is analysed separately if at all)
//   "last"         the last position that has a target
//   "1,5,-1"       explicit positions; negative counts from the end (-1 = last position)
struct PositionSpec {
  enum class Kind { kAll, kLast, kList } kind = Kind::kAll;
  std::vector<int64_t> list;
};
// `flag` names the flag in errors.
absl::StatusOr<PositionSpec> ParsePositionSpec(absl::string_view spec, absl::string_view flag);
// The selected positions of a prompt of T tokens that have a target (targets[i] >= 0),
// ascending, without duplicates. Position 0 is included only when `include_bos`.
std::vector<int64_t> SelectPositions(const PositionSpec& spec, int64_t T,
                                     absl::Span<const int> targets, bool include_bos);

// "" or "auto": `fallback`; otherwise a comma-separated list of node names, each of which
// must exist (the error names the flag and the unknown node). Returns node indices.
absl::StatusOr<std::vector<int>> ParseNodeList(absl::string_view spec,
                                               const std::vector<Node>& nodes,
                                               absl::string_view flag,
                                               const std::vector<int>& fallback);
// All nodes except embed, pos_embed and the b_O constants (heads and MLPs).
std::vector<int> ComponentNodes(const std::vector<Node>& nodes);

uint64_t MixSeed(uint64_t seed, absl::string_view salt);

// Running mean / variance / extremes (Welford).
struct RunningStats {
  int64_t n = 0;
  double mean = 0, m2 = 0, sum_abs = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  void Add(double x) {
    if (std::isnan(x)) return;
    ++n;
    const double d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
    sum_abs += std::fabs(x);
    if (x < min) min = x;
    if (x > max) max = x;
  }
  // Adds another accumulator's samples (Chan et al.'s pairwise update); merging into an empty
  // accumulator copies exactly.
  void Merge(const RunningStats& o) {
    if (o.n == 0) return;
    if (n == 0) {
      *this = o;
      return;
    }
    const double na = static_cast<double>(n), nb = static_cast<double>(o.n), d = o.mean - mean;
    n += o.n;
    mean += d * nb / (na + nb);
    m2 += o.m2 + d * d * na * nb / (na + nb);
    sum_abs += o.sum_abs;
    if (o.min < min) min = o.min;
    if (o.max > max) max = o.max;
  }
  double stddev() const { return n > 1 ? std::sqrt(m2 / (n - 1)) : 0.0; }
  double mean_abs() const { return n ? sum_abs / n : std::nan(""); }
};

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_PLUGIN_SUPPORT_H_
