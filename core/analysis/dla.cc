#include "core/analysis/dla.h"

#include "absl/strings/str_cat.h"

namespace memlens {

absl::StatusOr<DlaDirection> MakeDlaDirection(const Model& model, int target, int contrast) {
  const ModelConfig& c = model.config;
  const Weights& w = model.weights;
  if (target < 0 || target >= c.d_vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("DLA target token ", target, " is outside the vocabulary [0, ", c.d_vocab, ")"));
  }
  if (contrast >= c.d_vocab || contrast < -1) {
    return absl::InvalidArgumentError(absl::StrCat("DLA contrast token ", contrast,
                                                   " is outside the vocabulary [0, ", c.d_vocab,
                                                   ")"));
  }
  if (contrast == target) {
    return absl::InvalidArgumentError(
        absl::StrCat("DLA target and contrast are the same token ", target));
  }
  const int64_t D = c.d_model, V = c.d_vocab;
  DlaDirection dir;
  dir.target = target;
  dir.contrast = contrast;
  dir.center = c.norm == NormKind::kLayerNorm;
  dir.wu.resize(D);
  for (int64_t d = 0; d < D; ++d) {
    double u = w.W_U.data[d * V + target];
    if (contrast >= 0) u -= w.W_U.data[d * V + contrast];
    dir.wu[d] = static_cast<double>(w.ln_final_w.data[d]) * u;
    if (!w.ln_final_b.empty()) dir.ln_bias_term += static_cast<double>(w.ln_final_b.data[d]) * u;
  }
  if (!w.b_U.empty()) {
    dir.unembed_bias_term = w.b_U.data[target];
    if (contrast >= 0) dir.unembed_bias_term -= w.b_U.data[contrast];
  }
  return dir;
}

double Dla(const float* x, float scale, const DlaDirection& dir) {
  const size_t D = dir.wu.size();
  double mean = 0;
  if (dir.center) {
    for (size_t d = 0; d < D; ++d) mean += x[d];
    mean /= static_cast<double>(D);
  }
  double acc = 0;
  for (size_t d = 0; d < D; ++d) acc += (x[d] - mean) * dir.wu[d];
  return acc / scale;
}

absl::StatusOr<float> FinalScale(const ActivationStore& store, int64_t position) {
  absl::StatusOr<const Tensor*> s = store.Get("ln_final.hook_scale");
  if (!s.ok()) return s.status();
  if (position < 0 || position >= (*s)->dim(0)) {
    return absl::OutOfRangeError(absl::StrCat("position ", position,
                                              " is outside ln_final.hook_scale of shape ",
                                              ShapeString((*s)->shape)));
  }
  return (*s)->data[position];
}

double LogitOf(const Tensor& logits, int64_t position, const DlaDirection& dir) {
  const int64_t V = logits.dim(1);
  double v = logits.data[position * V + dir.target];
  if (dir.contrast >= 0) v -= logits.data[position * V + dir.contrast];
  return v;
}

}  // namespace memlens
