// Direct Logit Attribution with the final norm's scale frozen (method.md, TransformerLens
// logit_attrs convention):
//   LayerNorm: DLA(x) = ((x - mean(x)) / s) * w_lnf . u
//   RMSNorm:   DLA(x) = (x / s) * w_lnf . u
// s = ln_final.hook_scale at the position, u = W_U[:, target] (- W_U[:, contrast]).
// The b_lnf . u and b_U[target] (- b_U[contrast]) terms are reported separately, so that
//   sum over all nodes of DLA + ln_bias_term + unembed_bias_term == logit (difference).
#ifndef MEMLENS_CORE_ANALYSIS_DLA_H_
#define MEMLENS_CORE_ANALYSIS_DLA_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/weights.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"

namespace memlens {

// Everything DLA needs for one (target, contrast), independent of the position.
struct DlaDirection {
  int target = -1;
  int contrast = -1;              // -1: plain logit of target
  bool center = true;             // LayerNorm: center x first
  std::vector<double> wu;         // w_lnf * u, [d_model]
  double ln_bias_term = 0;        // b_lnf . u (0 for RMSNorm)
  double unembed_bias_term = 0;   // b_U[target] - b_U[contrast] (0 without b_U)
};

// Errors: target or contrast outside the vocabulary, target == contrast.
absl::StatusOr<DlaDirection> MakeDlaDirection(const Model& model, int target, int contrast = -1);

// DLA of x[d_model] with the frozen final scale s.
double Dla(const float* x, float scale, const DlaDirection& dir);
// The frozen final scale at `position` (ln_final.hook_scale).
absl::StatusOr<float> FinalScale(const ActivationStore& store, int64_t position);
// The logit (difference) at `position` from full logits [T, d_vocab].
double LogitOf(const Tensor& logits, int64_t position, const DlaDirection& dir);

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_DLA_H_
