// Small helpers shared by the analysis plugins (dla, cleanup_dla, erasure, adversarial):
// position selection, node lists, a bounded pool of donor prompts for resample ablation, and
// running statistics. Plain C++ over the core headers, so plugins can compile it in.
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

// A bounded, deterministic pool of earlier prompts' tokens for resample ablation (the plugin
// API gives one prompt at a time, so donors are re-run from their tokens). Keeps up to
// `capacity` prompts; once full, prompt n replaces slot hash(seed, n) % capacity.
class DonorPool {
 public:
  DonorPool(size_t capacity, uint64_t seed) : capacity_(capacity), seed_(seed) {}
  // The donor for prompt `index` (never the prompt itself), or nullptr while the pool is empty.
  const std::vector<int>* Pick(int64_t index) const;
  void Add(int64_t index, absl::Span<const int> tokens);
  size_t size() const { return tokens_.size(); }

 private:
  size_t capacity_;
  uint64_t seed_;
  std::vector<std::vector<int>> tokens_;
  std::vector<int64_t> index_;
};

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
  double stddev() const { return n > 1 ? std::sqrt(m2 / (n - 1)) : 0.0; }
  double mean_abs() const { return n ? sum_abs / n : std::nan(""); }
};

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_PLUGIN_SUPPORT_H_
